"""The command line's argument types: each turns text into a valid value or says, in one line,
why it cannot."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from s3fanout import clients
from s3fanout.clients import OWN_ACCESS, Access
from s3fanout.completion import parse_report_uri
from s3fanout.keyspace import COMMON_FIRST_CHARACTERS
from s3fanout.messages import COPY_ACLS, COPY_CHECKSUM_ALGORITHMS, SSE_ALGORITHMS, STORAGE_CLASSES, CopyOptions, InvalidMessage
from s3fanout.policy import PolicyInputError, parse_role_arn
from s3fanout.versions import as_of_text
from seed.console import UsageError

# Each worker is a process with its own clients and thread pool: more than this only thrashes.
MAX_WORKERS = 64
# A local function timeout is also its queue's visibility timeout (plus as much again, up to 30 s):
# with 1 s, messages reappeared while still being worked on and every object was copied two or
# three times. 30 s is the handlers' own stop margin; Lambda allows at most 900 s.
MIN_FUNCTION_TIMEOUT_SECONDS = 30
MAX_FUNCTION_TIMEOUT_SECONDS = 900
MAX_PREFIX_BYTES = 1024
MAX_SEED_RANGES = len(COMMON_FIRST_CHARACTERS)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def bounded_int(text: str, low: int, high: int) -> int:
    value = positive_int(text)
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be {low} to {high}, got {value}")
    return value


def worker_count(text: str) -> int:
    return bounded_int(text, 1, MAX_WORKERS)


def function_timeout(text: str) -> int:
    return bounded_int(text, MIN_FUNCTION_TIMEOUT_SECONDS, MAX_FUNCTION_TIMEOUT_SECONDS)


def account_id(text: str) -> str:
    if not (len(text) == 12 and text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"'{text}' is not a 12-digit AWS account id")
    return text


def prefix_argument(text: str) -> str:
    """A key prefix: valid UTF-8 (argv bytes that are not arrive as surrogates), at most S3's
    1,024-byte key length, and not an s3:// URL (the bucket goes in --bucket)."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("is not valid UTF-8 (S3 keys are UTF-8)") from None
    if size > MAX_PREFIX_BYTES:
        raise argparse.ArgumentTypeError(f"is {size} bytes long; S3 keys are at most {MAX_PREFIX_BYTES} bytes")
    if text.lower().startswith("s3://"):
        raise argparse.ArgumentTypeError(f"'{text}' is a URL: give the bucket with --bucket and the key prefix alone")
    return text


def range_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_SEED_RANGES:
        raise argparse.ArgumentTypeError(f"at most {MAX_SEED_RANGES} ranges can be seeded, got {value}")
    return value


class DestinationAction(argparse.Action):
    """--dest, given once per destination; each may be followed by its own --dest-prefix."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        dests = list(getattr(namespace, self.dest, None) or [])
        dests.append([values, None])
        setattr(namespace, self.dest, dests)


class DestinationPrefixAction(argparse.Action):
    """--dest-prefix P: the keys of the --dest just before it are written under P."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        dests = getattr(namespace, "dest", None)
        if not dests:
            parser.error("--dest-prefix applies to the --dest before it: give --dest first")
        if dests[-1][1] is not None:
            parser.error(f"--dest {dests[-1][0]} has two --dest-prefix values")
        dests[-1][1] = values


def add_destination_arguments(parser: Any) -> None:
    """--dest (repeatable) and --dest-prefix (per destination), for a job and for verify."""
    parser.add_argument(
        "--dest",
        required=True,
        action=DestinationAction,
        metavar="DST",
        help="destination bucket (name or s3://name); give it again for more destinations: the source is listed once for all, each gets what it lacks",
    )
    parser.add_argument(
        "--dest-prefix",
        type=prefix_argument,
        action=DestinationPrefixAction,
        metavar="P",
        help="write the keys of the --dest before it under P instead (a key --prefix+REST becomes P+REST), like 'aws s3 sync s3://SRC/A/ s3://DST/B/'",
    )


def destinations_argument(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """The --dest buckets with their --dest-prefix (None: keys as they are), each once."""
    dests = [(bucket_argument(bucket), prefix) for bucket, prefix in args.dest]
    seen = set()
    for bucket, prefix in dests:
        written = args.prefix if prefix is None else prefix
        if (bucket, written) in seen:
            raise UsageError(f"--dest {bucket} is given twice for the same keys")
        seen.add((bucket, written))
    return dests


def bucket_argument(text: str) -> str:
    name = text.removeprefix("s3://").rstrip("/")
    if "/" in name:
        raise UsageError(f"'{text}' names a path; give the bucket alone and the path with --prefix")
    return name


def report_argument(value: str) -> str:
    """--report s3://BUCKET/PREFIX."""
    try:
        parse_report_uri(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


# ------------------------------------------------------------------------------- copy options


def _one_of(text: str, choices: tuple[str, ...], what: str) -> str:
    """``text`` if it is one of ``choices`` (case-insensitively, spelt as S3 spells it)."""
    found = next((choice for choice in choices if choice.lower() == text.lower()), None)
    if found is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not {what}: one of {', '.join(choices)}")
    return found


def storage_class_argument(text: str) -> str:
    return _one_of(text, STORAGE_CLASSES, "an S3 storage class")


def sse_argument(text: str) -> str:
    return _one_of(text, SSE_ALGORITHMS, "a server-side encryption S3 copies with")


def checksum_argument(text: str) -> str:
    return _one_of(text, COPY_CHECKSUM_ALGORITHMS, "a checksum algorithm S3 copies with")


def acl_argument(text: str) -> str:
    return _one_of(text, COPY_ACLS, "an accepted canned ACL (the only one is for a destination of another account)")


def metadata_directive_argument(text: str) -> str:
    return _one_of(text, ("COPY", "REPLACE"), "a metadata directive")


def kms_key_argument(text: str) -> str:
    """A KMS key id, key ARN, alias/NAME or alias ARN."""
    try:
        CopyOptions(sse="aws:kms", sse_kms_key_id=text)
    except InvalidMessage as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def metadata_argument(text: str) -> tuple[str, str]:
    """--metadata NAME=VALUE."""
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=VALUE")
    try:
        CopyOptions(replace_metadata=True, metadata=((name, value),))
    except InvalidMessage as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return name, value


def add_copy_options(group: Any) -> None:
    """How the copies are written: carried in the job's messages, on both copy paths. The main
    command and `seed policy` (the grants they need) take the same flags; copy_options reads them."""
    group.add_argument("--storage-class", type=storage_class_argument, metavar="CLASS", help="storage class of the copies, e.g. STANDARD_IA, GLACIER_IR, DEEP_ARCHIVE (default: STANDARD)")
    group.add_argument("--sse", type=sse_argument, metavar="aws:kms|AES256", help="server-side encryption of the copies (default: the destination bucket's)")
    group.add_argument("--sse-kms-key-id", type=kms_key_argument, metavar="KEY", help="with --sse aws:kms: the KMS key (key ARN, key id, alias/NAME or alias ARN; default: aws/s3)")
    group.add_argument("--checksum-algorithm", type=checksum_argument, metavar="ALG", help="checksum of the copies: CRC32, CRC32C, CRC64NVME, SHA1 or SHA256 (default: the source's)")
    group.add_argument("--acl", type=acl_argument, metavar="bucket-owner-full-control", help="canned ACL of the copies, for a destination of another account without BucketOwnerEnforced")
    group.add_argument("--metadata-directive", type=metadata_directive_argument, default="COPY", metavar="DIRECTIVE", help="REPLACE: user metadata becomes --metadata's, content headers stay")
    group.add_argument("--metadata", type=metadata_argument, action="append", metavar="NAME=VALUE", help="user metadata of the copies, with --metadata-directive REPLACE (repeatable)")
    group.add_argument("--copy-object-lock", action="store_true", help="give each copy its source's Object Lock retention and legal hold (the destination must have Object Lock)")


def copy_options(args: argparse.Namespace) -> CopyOptions:
    """The job's CopyOptions from the copy-option flags, or a UsageError saying what is wrong."""
    if args.sse_kms_key_id and args.sse != "aws:kms":
        raise UsageError("--sse-kms-key-id needs --sse aws:kms")
    replace = args.metadata_directive == "REPLACE"
    if args.metadata and not replace:
        raise UsageError("--metadata needs --metadata-directive REPLACE (without it, copies keep the source's metadata)")
    try:
        return CopyOptions(
            storage_class=args.storage_class,
            sse=args.sse,
            sse_kms_key_id=args.sse_kms_key_id,
            checksum_algorithm=args.checksum_algorithm,
            acl=args.acl,
            replace_metadata=replace,
            metadata=tuple(args.metadata or ()),
            object_lock=args.copy_object_lock,
        )
    except InvalidMessage as error:
        raise UsageError(str(error)) from None


def endpoint_url_argument(text: str) -> str:
    """--source-endpoint-url / --dest-endpoint-url: http(s)://host[:port][/path], nothing else."""
    try:
        url = urlsplit(text)
        port_ok = url.port is None or url.port > 0
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an endpoint URL (http(s)://host[:port][/path])") from None
    if url.scheme not in ("http", "https") or not url.hostname or not port_ok or url.username or url.password or url.query or url.fragment or text != text.strip():
        raise argparse.ArgumentTypeError(f"'{text}' is not an endpoint URL (http(s)://host[:port][/path])")
    return text.rstrip("/")


def profile_argument(text: str) -> str:
    """--source-profile / --dest-profile: a profile the AWS config or credentials files name."""
    if not clients.profile_exists(text):
        raise argparse.ArgumentTypeError(f"no profile '{text}' in the AWS config or credentials files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)")
    return text


def manifest_argument(text: str) -> str:
    """--manifest: s3://BUCKET/KEY, or a file on this machine (made absolute, so that the local
    workers find it whatever their working directory)."""
    if text.startswith("s3://"):
        bucket, _, key = text.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise argparse.ArgumentTypeError(f"'{text}' is not an S3 object URI (s3://BUCKET/KEY)")
        return text
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"no file '{text}' (a manifest is a local file or s3://BUCKET/KEY)")
    return os.path.abspath(text)


def as_of_argument(text: str) -> str:
    """--as-of TIME: ISO 8601 (2026-11-30, 2026-11-30T18:00, 2026-11-30T18:00:00+01:00, ...Z); a
    time without a UTC offset is taken as UTC. Returned as messages carry it (in UTC)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO 8601 time, e.g. 2026-11-30T18:00:00Z (a time without an offset is UTC)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return as_of_text(when)


def role_arn_argument(text: str) -> str:
    try:
        return parse_role_arn(text).arn
    except PolicyInputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_access_arguments(group: Any) -> None:
    """How each side is reached: a role, an endpoint and a profile for the source and for the
    destination. One set of flags for the commands that take them (a job, its dry run, verify);
    ``side_access`` reads them back."""
    group.add_argument("--source-role-arn", type=role_arn_argument, metavar="ARN", help="act as this IAM role (STS AssumeRole, renewed before it expires) to list and read the source")
    group.add_argument(
        "--dest-role-arn",
        type=role_arn_argument,
        metavar="ARN",
        help="act as this IAM role to list and write the destination; it copies, so it must also be allowed to read the source",
    )
    endpoint = "S3-compatible endpoint of the {} (MinIO, R2, GCS, ...; http(s)://host[:port][/path]); objects are then streamed through this machine"
    group.add_argument("--source-endpoint-url", type=endpoint_url_argument, metavar="URL", help=endpoint.format("source"))
    group.add_argument("--source-profile", type=profile_argument, metavar="NAME", help="read the source with this profile's credentials (AWS config/credentials files); streams when the sides differ")
    group.add_argument("--dest-endpoint-url", type=endpoint_url_argument, metavar="URL", help=endpoint.format("destination"))
    group.add_argument("--dest-profile", type=profile_argument, metavar="NAME", help="write the destination with this profile's credentials")


def side_access(args: argparse.Namespace, *, this_machine: bool = False) -> tuple[Access, Access]:
    """How the source and the destination are reached, from the role, endpoint and profile flags.
    A job takes them only in local mode's own runs (a UsageError otherwise); a command that does
    all its work on this machine (``this_machine``: the dry run, verify) takes them always."""
    source = Access(args.source_role_arn, args.source_endpoint_url, args.source_profile)
    dest = Access(args.dest_role_arn, args.dest_endpoint_url, args.dest_profile)
    if not this_machine and (source != OWN_ACCESS or dest != OWN_ACCESS) and (not args.local or args.stack_name):
        flags = [f"--{name.replace('_', '-')}" for name in ACCESS_FLAGS if getattr(args, name)]
        raise UsageError(f"{' '.join(flags)}: the role, endpoint and profile flags are for local mode's own runs (--local without --stack-name): a stack's functions act as their own roles")
    return source, dest


ACCESS_FLAGS = ("source_role_arn", "dest_role_arn", "source_endpoint_url", "source_profile", "dest_endpoint_url", "dest_profile")
