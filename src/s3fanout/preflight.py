"""The checks before a job is queued: valid, distinct bucket names; buckets that exist and can be
reached; and, with one cheap request each and changing nothing, permission to list and read the
source and write the destination. Each problem is a JobError in one line."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from s3fanout.job import JobError, JobSpec

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3's rules for bucket names (general purpose buckets): 3-63 characters of lowercase letters,
# digits, dots and hyphens, starting and ending with a letter or digit, and not an IP address.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def check_bucket_name(name: str) -> str:
    if not _BUCKET_NAME.match(name) or ".." in name or _IP_ADDRESS.match(name):
        raise JobError(f"'{name}' is not a valid S3 bucket name")
    return name


def check_names(spec: JobSpec) -> None:
    """Refuse invalid bucket names and a destination that is the source (the same bucket is
    allowed only with a --dest-prefix apart from --prefix: neither inside the other)."""
    check_bucket_name(spec.source_bucket)
    for dest in spec.destinations:
        check_bucket_name(dest.bucket)
        if dest.bucket != spec.source_bucket:
            continue
        if dest.prefix is None:
            raise JobError(f"source and destination are the same bucket '{spec.source_bucket}': every key would be copied onto itself")
        if dest.prefix.startswith(spec.prefix) or spec.prefix.startswith(dest.prefix):
            raise JobError(f"--dest-prefix '{dest.prefix}' and --prefix '{spec.prefix}' overlap in the same bucket '{spec.source_bucket}': copies would be listed as sources")


def check_buckets(s3: S3Client, spec: JobSpec, dest_s3: S3Client | None = None) -> tuple[str | None, str | None]:
    """Refuse a job whose buckets are invalid, the same, missing or unreachable, before anything is
    queued; return their regions (source, destination), None where the store does not say.
    ``dest_s3`` checks the destination when it is reached as another identity (--dest-role-arn)."""
    check_names(spec)
    regions: list[str | None] = []
    for role, bucket, client in (("source", spec.source_bucket, s3), ("destination", spec.dest_bucket, dest_s3 or s3)):
        try:
            regions.append(bucket_region(client.head_bucket(Bucket=bucket)))
        except NoCredentialsError:
            raise JobError("no AWS credentials found: configure them (aws configure, AWS_PROFILE, ...) or use 'demo'") from None
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = error.response.get("Error", {}).get("Code")
            if status == 404 or code in ("404", "NoSuchBucket", "NotFound"):
                raise JobError(f"{role} bucket '{bucket}' does not exist") from None
            if status == 403 or code in ("403", "AccessDenied", "Forbidden"):
                raise JobError(f"no permission to access the {role} bucket '{bucket}'{policy_hint(spec)}") from None
            raise JobError(f"cannot access the {role} bucket '{bucket}': {error}") from None
        except BotoCoreError as error:
            raise JobError(f"cannot reach S3 to check the {role} bucket '{bucket}': {error}") from None
    if spec.copy_options.object_lock:
        check_object_lock(dest_s3 or s3, spec.dest_bucket)
    if spec.all_versions:
        check_versioning(dest_s3 or s3, spec.dest_bucket, "destination")
    if spec.as_of is not None:
        check_versioning(s3, spec.source_bucket, "source")
    return regions[0], regions[1]


def check_versioning(s3: S3Client, bucket: str, role: str) -> None:
    """--all-versions: refuse a destination whose versioning is not enabled (each copy would
    replace the one before it, and a delete marker would delete the object). --as-of: refuse a
    source that was never versioned (it has no older versions to go back to)."""
    try:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError as error:
        raise JobError(f"cannot read the versioning of the {role} bucket '{bucket}' (s3:GetBucketVersioning): {error}") from None
    except BotoCoreError as error:
        raise JobError(f"cannot reach S3 to check the {role} bucket '{bucket}': {error}") from None
    if role == "destination" and status != "Enabled":
        state = "suspended" if status == "Suspended" else "not enabled"
        raise JobError(f"the destination bucket '{bucket}' is not versioned (versioning {state}): --all-versions copies every version into a bucket with versioning enabled")
    if role == "source" and status is None:
        raise JobError(f"the source bucket '{bucket}' has never had versioning enabled: --as-of needs its older versions, and it has current objects only")


def check_object_lock(s3: S3Client, bucket: str) -> None:
    """--copy-object-lock: refuse a destination without Object Lock, which would refuse every copy
    carrying a retention or legal hold."""
    try:
        configuration = s3.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration", {})
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
            configuration = {}
        else:
            raise JobError(f"cannot read the Object Lock configuration of the destination bucket '{bucket}': {error}") from None
    except BotoCoreError as error:
        raise JobError(f"cannot reach S3 to check the destination bucket '{bucket}': {error}") from None
    if configuration.get("ObjectLockEnabled") != "Enabled":
        raise JobError(f"the destination bucket '{bucket}' has no Object Lock configuration: --copy-object-lock needs a bucket created with Object Lock")


def bucket_region(head: Any) -> str | None:
    """A bucket's region from its HeadBucket answer (botocore follows the region redirect and
    says where the bucket is); None from a store that does not say."""
    region = head.get("BucketRegion") or head.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
    return str(region) if region else None


# A key the write probe names; the probe's If-Match can never match, so nothing is ever written.
WRITE_PROBE_KEY = ".s3fanout-write-probe"
_IMPOSSIBLE_ETAG = '"00000000000000000000000000000000"'


def check_access(s3: S3Client, spec: JobSpec, dest_s3: S3Client | None = None) -> None:
    """Probe, with one cheap request each, that the caller may list and read the source and write
    the destination (as ``dest_s3`` when given), so that a job does not fail key by key on a
    permission it never had."""
    writer = dest_s3 or s3
    hint = policy_hint(spec)
    sample = _probe(lambda: s3.list_objects_v2(Bucket=spec.source_bucket, Prefix=spec.prefix, MaxKeys=1), f"list the source bucket '{spec.source_bucket}' (s3:ListBucket)", hint)
    contents = sample.get("Contents", []) if sample else []
    if contents:
        _probe(lambda: s3.head_object(Bucket=spec.source_bucket, Key=contents[0]["Key"]), f"read objects of the source bucket '{spec.source_bucket}' (s3:GetObject)", hint)
    # A conditional PutObject is authorised before its condition is checked: 403 means no write
    # permission, while 404 (no such key) or 412 (ETag mismatch) mean the write would be allowed.
    written = _probe(
        lambda: writer.put_object(Bucket=spec.dest_bucket, Key=WRITE_PROBE_KEY, Body=b"", IfMatch=_IMPOSSIBLE_ETAG),
        f"write to the destination bucket '{spec.dest_bucket}' (s3:PutObject)",
        hint,
    )
    if written:
        # An S3-compatible store that ignores If-Match wrote the probe: take it away again.
        writer.delete_object(Bucket=spec.dest_bucket, Key=WRITE_PROBE_KEY)


def policy_hint(spec: JobSpec) -> str:
    """What to add to an AccessDenied: a bucket of another account grants nothing until its
    policy does, and `seed policy` prints that policy."""
    prefix = f" --prefix {shlex.quote(spec.prefix)}" if spec.prefix else ""
    dest_prefix = "" if spec.dest_prefix is None else f" --dest-prefix {shlex.quote(spec.dest_prefix)}"
    command = f"python -m seed policy --bucket {spec.source_bucket} --dest {spec.dest_bucket}{dest_prefix}{prefix}"
    return f"; if the bucket belongs to another account, '{command}' prints what it must grant"


def _probe(call: Callable[[], Any], permission: str, hint: str = "") -> Any:
    try:
        return call()
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.response.get("Error", {}).get("Code")
        if status == 403 or code in ("AccessDenied", "AllAccessDisabled", "403"):
            raise JobError(f"no permission to {permission} with these credentials{hint}") from None
        if status in (404, 412) or code in ("NoSuchKey", "PreconditionFailed", "404", "412"):
            return None
        raise JobError(f"cannot check permission to {permission}: {error}") from None
    except BotoCoreError as error:
        raise JobError(f"cannot check permission to {permission}: {error}") from None
