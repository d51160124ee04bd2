"""A copy job: its input checks, its seeding onto the list queue, and its final report."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from s3fanout.dlq import DeadLetter
from s3fanout.guard import Scope
from s3fanout.keyspace import seed_ranges
from s3fanout.messages import ListTask
from s3fanout.queues import send_messages
from s3fanout.signing import MessageKey, local_state_dir
from s3fanout.stack import QueueSet

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

DEFAULT_RANGES = 32
# S3's rules for bucket names (general purpose buckets): 3-63 characters of lowercase letters,
# digits, dots and hyphens, starting and ending with a letter or digit, and not an IP address.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


class JobError(ValueError):
    """Input a job cannot start with; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    source_bucket: str
    dest_bucket: str
    prefix: str = ""
    ranges: int = DEFAULT_RANGES
    # False copies every key without comparing with the destination (--force).
    compare: bool = True


def new_job_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def check_bucket_name(name: str) -> str:
    if not _BUCKET_NAME.match(name) or ".." in name or _IP_ADDRESS.match(name):
        raise JobError(f"'{name}' is not a valid S3 bucket name")
    return name


def check_names(spec: JobSpec) -> None:
    """Refuse invalid bucket names and a destination that is the source."""
    check_bucket_name(spec.source_bucket)
    check_bucket_name(spec.dest_bucket)
    if spec.source_bucket == spec.dest_bucket:
        raise JobError(f"source and destination are the same bucket '{spec.source_bucket}': every key would be copied onto itself")


def check_buckets(s3: S3Client, spec: JobSpec) -> None:
    """Refuse a job whose buckets are invalid, the same, missing or unreachable, before anything is queued."""
    check_names(spec)
    for role, bucket in (("source", spec.source_bucket), ("destination", spec.dest_bucket)):
        try:
            s3.head_bucket(Bucket=bucket)
        except NoCredentialsError:
            raise JobError("no AWS credentials found: configure them (aws configure, AWS_PROFILE, ...) or use 'demo'") from None
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = error.response.get("Error", {}).get("Code")
            if status == 404 or code in ("404", "NoSuchBucket", "NotFound"):
                raise JobError(f"{role} bucket '{bucket}' does not exist") from None
            if status == 403 or code in ("403", "AccessDenied", "Forbidden"):
                raise JobError(f"no permission to access the {role} bucket '{bucket}'") from None
            raise JobError(f"cannot access the {role} bucket '{bucket}': {error}") from None
        except BotoCoreError as error:
            raise JobError(f"cannot reach S3 to check the {role} bucket '{bucket}': {error}") from None


# A key the write probe names; the probe's If-Match can never match, so nothing is ever written.
WRITE_PROBE_KEY = ".s3fanout-write-probe"
_IMPOSSIBLE_ETAG = '"00000000000000000000000000000000"'


def check_access(s3: S3Client, spec: JobSpec) -> None:
    """Probe, with one cheap request each, that the caller may list and read the source and write
    the destination, so that a job does not fail key by key on a permission it never had."""
    sample = _probe(lambda: s3.list_objects_v2(Bucket=spec.source_bucket, Prefix=spec.prefix, MaxKeys=1), f"list the source bucket '{spec.source_bucket}' (s3:ListBucket)")
    contents = sample.get("Contents", []) if sample else []
    if contents:
        _probe(lambda: s3.head_object(Bucket=spec.source_bucket, Key=contents[0]["Key"]), f"read objects of the source bucket '{spec.source_bucket}' (s3:GetObject)")
    # A conditional PutObject is authorised before its condition is checked: 403 means no write
    # permission, while 404 (no such key) or 412 (ETag mismatch) mean the write would be allowed.
    written = _probe(
        lambda: s3.put_object(Bucket=spec.dest_bucket, Key=WRITE_PROBE_KEY, Body=b"", IfMatch=_IMPOSSIBLE_ETAG),
        f"write to the destination bucket '{spec.dest_bucket}' (s3:PutObject)",
    )
    if written:
        # An S3-compatible store that ignores If-Match wrote the probe: take it away again.
        s3.delete_object(Bucket=spec.dest_bucket, Key=WRITE_PROBE_KEY)


def _probe(call: Callable[[], Any], permission: str) -> Any:
    try:
        return call()
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.response.get("Error", {}).get("Code")
        if status == 403 or code in ("AccessDenied", "AllAccessDisabled", "403"):
            raise JobError(f"no permission to {permission} with these credentials") from None
        if status in (404, 412) or code in ("NoSuchKey", "PreconditionFailed", "404", "412"):
            return None
        raise JobError(f"cannot check permission to {permission}: {error}") from None
    except BotoCoreError as error:
        raise JobError(f"cannot check permission to {permission}: {error}") from None


def list_tasks(job_id: str, spec: JobSpec, mode: str = "copy") -> list[ListTask]:
    return [
        ListTask(job_id, spec.source_bucket, spec.dest_bucket, spec.prefix, key_range.after, key_range.until, mode=mode, compare=spec.compare)
        for key_range in seed_ranges(spec.prefix, spec.ranges)
    ]


def seed(sqs: SQSClient, queues: QueueSet, key: MessageKey, job_id: str, spec: JobSpec, mode: str = "copy") -> int:
    """Put one ListTask per key range of the job on the list queue, sealed; return how many.

    ``mode`` "delete" seeds the orphan pass, which a job runs only after its copies all succeeded:
    this seal is what lets a lister delete (signing.py).
    """
    tasks = list_tasks(job_id, spec, mode)
    send_messages(sqs, queues.list_url, [key.seal(task.to_json()) for task in tasks])
    return len(tasks)


def write_failures(path: Path, letters: Iterable[DeadLetter]) -> int:
    """Write failed keys as JSON lines; return how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for letter in letters:
            out.write(json.dumps(letter.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def _scope_file(job_id: str) -> Path:
    return local_state_dir() / "jobs" / f"{job_id}.json"


def record_local_scope(job_id: str, scope: Scope) -> None:
    """Remember a local job's scope, so that a later `dlq redrive --local` runs its failures
    with the same buckets, prefix and delete permission and no others."""
    path = _scope_file(job_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps(scope.to_env()), encoding="utf-8")


def local_scope(job_id: str) -> Scope | None:
    """The scope recorded for a local job, or None when this machine has no record of it."""
    try:
        return Scope.from_env(json.loads(_scope_file(job_id).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
