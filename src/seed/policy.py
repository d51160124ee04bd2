"""python -m seed policy: what another account must grant the stack's roles, ready to paste. Reads
the roles' ARNs, scope and bucket owners from the stack's outputs (or takes --role-arn for local
mode), the buckets' default encryption and the destinations' Object Ownership where this
account may read them, and the copy options (the main command's flags, else the stack's
parameters), and prints the bucket and key policy statements s3fanout/policy.py writes: one
bucket policy per destination bucket (--dest given again, each with its --dest-prefix, by
default a stack's DestinationPrefix)."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from s3fanout import clients
from s3fanout.guard import Scope
from s3fanout.job import DestinationSpec, JobSpec
from s3fanout.jobqueues import StackError, default_stack_name, describe_stack, more_destinations
from s3fanout.messages import ACL_ENV, CHECKSUM_ENV, OBJECT_LOCK_ENV, SSE_ENV, SSE_KMS_KEY_ENV, STORAGE_CLASS_ENV, CopyOptions
from s3fanout.policy import SID_PREFIX, DestinationFindings, Findings, GrantAnswer, Grants, PolicyInputError, Principals, grant_answer, is_aws_managed_key, kms_key_name, kms_keys
from s3fanout.preflight import check_names
from s3fanout.s3errors import describe_error
from seed.arguments import (
    DestinationAction,
    DestinationPrefixAction,
    account_id,
    add_copy_options,
    bucket_argument,
    copy_options,
    destinations_argument,
    prefix_argument,
    role_arn_argument,
)
from seed.console import PROG, ExitStatus, OneLineParser, UsageError
from seed.runner import check_stack_allows

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client

# The stack outputs naming the functions' roles (template.yaml).
ROLE_OUTPUTS = {"lister": "ListObjectsFunctionRoleArn", "copier": "CopyObjectsFunctionRoleArn"}
# The stack's copy options: template.yaml passes these parameters to the copier as the variables
# CopyOptions.from_env reads (a test holds the two together).
STACK_COPY_PARAMETERS = {
    "StorageClass": STORAGE_CLASS_ENV,
    "ServerSideEncryption": SSE_ENV,
    "SseKmsKeyId": SSE_KMS_KEY_ENV,
    "ChecksumAlgorithm": CHECKSUM_ENV,
    "CopyAcl": ACL_ENV,
    "CopyObjectLock": OBJECT_LOCK_ENV,
}
# A KMS key's ARN, as template.yaml's SourceKmsKeyArn and DestinationKmsKeyArn accept it.
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


def kms_key_argument(text: str) -> str:
    if not _KMS_KEY_ARN.match(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; not an alias)")
    return text


def policy_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=f"{PROG} policy",
        description=(
            "Print what another account must grant the stack's roles, ready to paste: the source bucket's policy statements, "
            "the destination's when it belongs to another account, and the KMS key policy statements for customer-managed keys. "
            "The actions are exactly those the template grants the lister and the copier; the copy options add theirs "
            "(--acl: s3:PutObjectAcl; --copy-object-lock: Object Lock reads and writes; --sse-kms-key-id of another account: its key policy statement)."
        ),
        epilog=(
            "The roles are the stack's (outputs ListObjectsFunctionRoleArn and CopyObjectsFunctionRoleArn), or with --role-arn "
            "the roles a local run uses, each then granted both the lister's and the copier's statements. "
            "The copy options are the flags given, as the main command takes them, else the stack's parameters (StorageClass, "
            "ServerSideEncryption, SseKmsKeyId, ChecksumAlgorithm, CopyAcl, CopyObjectLock), as for a job seeded without them. "
            "--json prints {source_bucket_policy (null when the stack reads the source with a secret's keys), "
            "dest_bucket_policy (the first --dest's; null when the destinations are in the roles' account), "
            "more_destinations [{bucket, key_prefixes, bucket_policy, ...}] (every other --dest bucket), "
            "kms_key_policy_statements, principals {lister, copier}, advice, copy_options, ...}. exit status: 0 printed, 2 bad input"
        ),
    )
    parser.add_argument("--bucket", required=True, metavar="SRC", help="source bucket (name or s3://name)")
    parser.add_argument(
        "--dest", required=True, action=DestinationAction, metavar="DST", help="destination bucket (name or s3://name); give it again for each destination of a job of several: one bucket policy each"
    )
    parser.add_argument(
        "--dest-prefix",
        type=prefix_argument,
        action=DestinationPrefixAction,
        metavar="P",
        help="the --dest before it takes its keys under P (as the job's --dest-prefix; default: the stack's DestinationPrefix, else --prefix)",
    )
    parser.add_argument("--prefix", type=prefix_argument, default=None, help="grant only keys under this prefix (default: the stack's AllowedPrefix, else every key)")
    roles = parser.add_mutually_exclusive_group()
    roles.add_argument("--stack-name", metavar="NAME", help="deployed stack whose roles to grant (default: samconfig.toml's stack_name, else s3-fanout)")
    roles.add_argument(
        "--role-arn", action="append", type=role_arn_argument, metavar="ARN", help="local mode: an IAM role the run uses (repeatable); it gets both the lister's and the copier's statements"
    )
    parser.add_argument("--source-owner", type=account_id, metavar="ACCOUNT", help="account owning the source bucket (default: the stack's SourceBucketOwner; locally not known)")
    parser.add_argument("--dest-owner", type=account_id, metavar="ACCOUNT", help="account owning the destination bucket (default: the stack's DestinationBucketOwner)")
    parser.add_argument("--delete", action="store_true", help="local mode: also grant what a --delete run does (a stack's own AllowDelete decides for it)")
    parser.add_argument("--versions", action="store_true", help="local mode: also grant what --all-versions and --as-of do (a stack's own CopyVersions decides for it)")
    parser.add_argument("--source-kms-key-arn", type=kms_key_argument, metavar="ARN", help="KMS key of the source objects, when the source's default encryption cannot be read from here")
    parser.add_argument("--dest-kms-key-arn", type=kms_key_argument, metavar="ARN", help="KMS key the destination encrypts with, when its default encryption cannot be read from here")
    add_copy_options(parser.add_argument_group("copy options (as the main command takes them, for the grants they add; default: the stack's parameters, else a plain copy)"))
    parser.add_argument("--region", help="AWS region (default: the usual AWS configuration)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parser


# ------------------------------------------------------------------------------------- stack


@dataclass(frozen=True, slots=True)
class StackFacts:
    name: str
    outputs: dict[str, str]
    parameters: dict[str, str]


def read_stack(cloudformation: CloudFormationClient, stack_name: str) -> StackFacts:
    """A stack's outputs and parameters (one DescribeStacks)."""
    outputs, parameters = describe_stack(cloudformation, stack_name, if_missing="pass --stack-name, or --role-arn for local mode")
    return StackFacts(stack_name, outputs, parameters)


def stack_principals(stack: StackFacts) -> Principals:
    missing = [name for name in ROLE_OUTPUTS.values() if not stack.outputs.get(name)]
    if missing:
        raise StackError(f"stack '{stack.name}' has no {' or '.join(missing)} output: redeploy it with this version of the template (or pass --role-arn with its roles' ARNs)")
    try:
        return Principals.of(stack.outputs[ROLE_OUTPUTS["lister"]], stack.outputs[ROLE_OUTPUTS["copier"]])
    except PolicyInputError as error:
        raise StackError(f"stack '{stack.name}': {error}") from None


def stack_copy_options(stack: StackFacts) -> CopyOptions:
    """The copy options the stack applies to jobs without their own, and grants its copier."""
    try:
        return CopyOptions.from_env({variable: stack.parameters.get(parameter, "") for parameter, variable in STACK_COPY_PARAMETERS.items()})
    except ValueError as error:
        raise StackError(f"stack '{stack.name}': {error}") from None


def stack_owner(stack: StackFacts, output: str, given: str | None, role: str, flag: str) -> str | None:
    """The account the stack's grants require to own a bucket; a --*-owner that names another is
    refused (the stack's roles could not use that bucket whatever its policy said)."""
    owner = stack.outputs.get(output) or None
    if given and owner and given != owner:
        raise UsageError(f"stack '{stack.name}' serves {role} buckets of account {owner} ({output}), not {given}: redeploy it with {output}={given}, or leave out {flag}")
    return given or owner


# ----------------------------------------------------------------------------------- buckets


@dataclass(frozen=True, slots=True)
class Encryption:
    """A bucket's default encryption, as far as this account could read it."""

    kms_key: str | None = None
    managed_key: bool = False
    unread: str | None = None


def bucket_encryption(s3: S3Client, bucket: str, role: str, owner: str | None) -> Encryption:
    expected: dict[str, Any] = {"ExpectedBucketOwner": owner} if owner else {}
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket, **expected)["ServerSideEncryptionConfiguration"]["Rules"]
    except NoCredentialsError:
        return Encryption(unread="no AWS credentials")
    except (ClientError, BotoCoreError) as error:
        failure = describe_error(error)
        if failure.code == "ServerSideEncryptionConfigurationNotFoundError":
            return Encryption()
        if failure.code == "NoSuchBucket":
            raise UsageError(f"{role} bucket '{bucket}' does not exist") from None
        return Encryption(unread=failure.code)
    default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
    if not str(default.get("SSEAlgorithm", "")).startswith("aws:kms"):
        return Encryption()
    key = str(default.get("KMSMasterKeyID") or "")
    if not key or is_aws_managed_key(key):
        return Encryption(managed_key=True)
    return Encryption(kms_key=key)


def object_ownership(s3: S3Client, bucket: str, owner: str | None) -> str | None:
    """The bucket's Object Ownership setting; None when it cannot be read from here."""
    expected: dict[str, Any] = {"ExpectedBucketOwner": owner} if owner else {}
    try:
        rules = s3.get_bucket_ownership_controls(Bucket=bucket, **expected)["OwnershipControls"]["Rules"]
    except (ClientError, BotoCoreError):
        return None
    return str(rules[0]["ObjectOwnership"]) if rules else None


# ------------------------------------------------------------------------------------ command


def policy_main(argv: list[str]) -> int:
    args = policy_parser().parse_args(argv)
    clients.use_region(args.region)
    source = bucket_argument(args.bucket)
    (dest, dest_prefix), *more = destinations_argument(args)
    # A job's own copy flags replace the stack's options as a whole; without any, it gets the stack's.
    options = copy_options(args)
    options_from = "none" if options.is_default else "flags"
    stack_name = None
    role_source_key = role_dest_key = None
    role_options = None
    source_keys_secret = source_endpoint = None
    if args.role_arn:
        principals = _principals(args.role_arn)
        prefix, delete = args.prefix or "", args.delete
        source_owner, dest_owner = args.source_owner, args.dest_owner
        spec = JobSpec(source, dest, prefix, dest_prefix=dest_prefix, more_dests=tuple(DestinationSpec(bucket, keys) for bucket, keys in more))
        check_names(spec)
    else:
        stack_name = args.stack_name or default_stack_name()
        stack = read_stack(clients.cloudformation(), stack_name)
        principals = stack_principals(stack)
        allowed_prefix = stack.outputs.get("AllowedPrefix", "")
        prefix = allowed_prefix if args.prefix is None else args.prefix
        delete = stack.outputs.get("DeleteAllowed") == "true"
        # Every destination of the stack takes its keys under its DestinationPrefix, if it has one.
        stack_dest_prefix = stack.outputs.get("DestinationPrefix") or None
        spec = JobSpec(
            source,
            dest,
            prefix,
            dest_prefix=stack_dest_prefix if dest_prefix is None else dest_prefix,
            more_dests=tuple(DestinationSpec(bucket, stack_dest_prefix if keys is None else keys) for bucket, keys in more),
        )
        check_names(spec)
        scope = Scope(
            stack.outputs.get("SourceBucket", "*"),
            stack.outputs.get("DestinationBucket", "*"),
            allowed_prefix,
            delete,
            dest_prefix=stack_dest_prefix,
            more_dests=tuple((bucket, stack_dest_prefix) for bucket in more_destinations(stack.outputs)),
            keys_as_they_are=stack_dest_prefix is None,
        )
        check_stack_allows(spec, scope, stack_name, args.delete)
        source_owner = stack_owner(stack, "SourceBucketOwner", args.source_owner, "source", "--source-owner")
        dest_owner = stack_owner(stack, "DestinationBucketOwner", args.dest_owner, "destination", "--dest-owner")
        role_source_key = stack.parameters.get("SourceKmsKeyArn") or None
        role_dest_key = stack.parameters.get("DestinationKmsKeyArn") or None
        role_options = stack_copy_options(stack)
        source_keys_secret = stack.outputs.get("SourceCredentialsSecretArn") or None
        source_endpoint = stack.outputs.get("SourceEndpointUrl") or None
        if options.is_default:
            options, options_from = role_options, "stack"

    s3 = clients.probe_s3()
    # A source the stack reads with a secret's keys is not the roles' to decrypt: nothing to read.
    source_encryption = Encryption() if source_keys_secret else bucket_encryption(s3, source, "source", source_owner)
    dest_encryption = bucket_encryption(s3, dest, "destination", dest_owner)
    others = list(dict.fromkeys(other.bucket for other in spec.more_dests if other.bucket != dest))
    more_encryption = {bucket: bucket_encryption(s3, bucket, "destination", dest_owner) for bucket in others}
    try:
        grants = Grants(
            source,
            dest,
            principals,
            prefix=prefix,
            source_owner=source_owner,
            dest_owner=dest_owner,
            delete_allowed=delete,
            versions=args.versions if stack_name is None else stack.outputs.get("VersionsAllowed") == "true",
            source_kms_keys=_keys(args.source_kms_key_arn, source_encryption.kms_key),
            dest_kms_keys=_keys(args.dest_kms_key_arn, dest_encryption.kms_key, *(encryption.kms_key for encryption in more_encryption.values())),
            copy_options=options,
            source_keys_secret=source_keys_secret,
            source_endpoint=source_endpoint,
            dest_prefix=spec.dest_prefix,
            more_dests=tuple((other.bucket, other.prefix) for other in spec.more_dests),
        )
    except PolicyInputError as error:
        raise UsageError(str(error)) from None
    findings = Findings(
        source_encryption_unread=source_encryption.unread,
        dest_encryption_unread=dest_encryption.unread,
        source_managed_key=source_encryption.managed_key,
        dest_managed_key=dest_encryption.managed_key,
        dest_object_ownership=object_ownership(s3, dest, dest_owner) if grants.dest_elsewhere is not False else None,
        role_source_kms_key=role_source_key,
        role_dest_kms_key=role_dest_key,
        stack_name=stack_name,
        role_copy_options=role_options,
        copy_options_from=options_from,
        more_dests=tuple(
            DestinationFindings(
                bucket,
                encryption.unread,
                encryption.managed_key,
                object_ownership(s3, bucket, dest_owner) if grants.dest_elsewhere is not False else None,
            )
            for bucket, encryption in more_encryption.items()
        ),
    )
    answer = grant_answer(grants, findings)
    print(json.dumps(answer.to_json(), ensure_ascii=False, indent=2) if args.json else policy_text(answer, stack_name))
    return ExitStatus.SUCCESS


def _principals(role_arns: list[str]) -> Principals:
    unique = list(dict.fromkeys(role_arns))
    try:
        return Principals.of(unique, unique)
    except PolicyInputError as error:
        raise UsageError(str(error)) from None


def _keys(*keys: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(key for key in keys if key))


# ---------------------------------------------------------------------------------- rendering


def policy_text(answer: GrantAnswer, stack_name: str | None) -> str:
    """Each document after one line saying where it goes; then the roles and the advice."""
    grants = answer.grants
    if answer.source_bucket_policy is not None:
        blocks = [_bucket_line("Source", grants.source_bucket, grants.source_owner, grants.source_elsewhere) + "\n" + _json(answer.source_bucket_policy)]
    else:
        blocks = [f"Source bucket s3://{grants.source_bucket} is read with the keys in {grants.source_keys_secret}, not by the roles: nothing to grant them there."]
    destinations = [(grants.dest_bucket, answer.dest_bucket_policy), *((more.bucket, more.policy) for more in answer.more_dest_bucket_policies)]
    for bucket, policy in destinations:
        if policy is not None:
            blocks.append(_bucket_line("Destination", bucket, grants.dest_owner, grants.dest_elsewhere) + "\n" + _json(policy))
        else:
            blocks.append(f"Destination bucket s3://{bucket} is in the roles' account ({grants.dest_owner}): nothing to grant there.")
    for statement in answer.kms_key_policy_statements:
        keys = " and of ".join(_kms_key_line(key) for key in kms_keys(grants)[statement["Sid"]])
        what = _KMS_STATEMENT_FOR[statement["Sid"].removeprefix(SID_PREFIX)]
        blocks.append(f"Key policy of {keys} ({what}): add this statement to the key policy's Statement list.\n" + _json(statement))
    if not grants.copy_options.is_default:
        given = f"the parameters of stack '{stack_name}'" if answer.copy_options_from == "stack" else "flags"
        blocks.append(f"Copy options ({given}): {' '.join(copy_flags(grants.copy_options))}")
    roles = answer.grants.principals.to_json()
    whose = f"stack '{stack_name}'" if stack_name else "--role-arn"
    blocks.append(f"Principals ({whose}): lister {_names(roles['lister'])}; copier {_names(roles['copier'])}")
    blocks.append("Advice:\n" + "\n".join(f"  - {line}" for line in answer.advice))
    return "\n\n".join(blocks)


# What each KMS statement is for, by Sid (without SID_PREFIX).
_KMS_STATEMENT_FOR = {
    "DecryptSourceObjects": "source objects",
    "EncryptDestinationObjects": "destination objects",
    "EncryptCopiesWithSseKmsKeyId": "copies, --sse-kms-key-id",
}


def _kms_key_line(key: str) -> str:
    name = kms_key_name(key)
    return f"KMS key {key}" if name == key else name.replace("the key", "the KMS key", 1)


def copy_flags(options: CopyOptions) -> list[str]:
    """The options as the main command's flags (metadata values left out)."""
    flags = [
        f"--{flag} {value}"
        for flag, value in (
            ("storage-class", options.storage_class),
            ("sse", options.sse),
            ("sse-kms-key-id", options.sse_kms_key_id),
            ("checksum-algorithm", options.checksum_algorithm),
            ("acl", options.acl),
        )
        if value is not None
    ]
    if options.replace_metadata:
        flags.append("--metadata-directive REPLACE")
    if options.object_lock:
        flags.append("--copy-object-lock")
    return flags


def _bucket_line(role: str, bucket: str, owner: str | None, elsewhere: bool | None) -> str:
    account = {None: "account not known", True: f"account {owner}, another account than the roles'", False: f"account {owner}, the roles' own"}[elsewhere]
    return f"{role} bucket s3://{bucket} ({account}): use as its bucket policy, or add the Statement entries to the policy it has (S3 console: the bucket > Permissions > Bucket policy)."


def _json(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)


def _names(arns: str | list[str]) -> str:
    return arns if isinstance(arns, str) else ", ".join(arns)
