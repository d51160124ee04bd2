"""The queues a job uses: read from a deployed stack's outputs, or created for local mode.

Local mode gives every job four queues of its own (``s3fanout-<job>-list``, ``-copy``,
``-list-dlq``, ``-copy-dlq``), so that a job never runs what another job left on an endpoint
(interrupted, or running at the same time), and its workers can be told exactly which buckets
they serve."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

DEFAULT_STACK_NAME = "s3-fanout"
LOCAL_QUEUE_PREFIX = "s3fanout"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


class StackError(RuntimeError):
    """The stack or its queues cannot be used; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class QueueSet:
    list_url: str
    copy_url: str
    list_dlq_url: str
    copy_dlq_url: str
    # The buckets a deployed stack's IAM policy allows ("*" for any); None when not known.
    source_bucket: str | None = None
    dest_bucket: str | None = None
    # Whether the stack may delete orphans; None when not known (local mode's queues).
    delete_allowed: bool | None = None
    # A deployed stack's: the secret holding its message key, the prefix it serves and the
    # accounts that must own its buckets (None when the stack does not say).
    key_secret_arn: str | None = None
    allowed_prefix: str | None = None
    source_owner: str | None = None
    dest_owner: str | None = None
    # Local mode's queues belong to one job.
    job_id: str | None = None
    # A deployed stack's job table (None for a stack deployed before it had one), and where its
    # functions write completion reports (s3://bucket/prefix; None without a ReportBucket).
    job_table: str | None = None
    reports: str | None = None
    # A deployed stack's source outside its roles' reach: the store's endpoint (None: AWS S3) and
    # the secret holding the key pair its functions read it with (None: their roles read it).
    source_endpoint_url: str | None = None
    source_credentials_secret_arn: str | None = None
    # Where a deployed stack's listers may read manifests (s3://bucket/prefix); None: nowhere.
    manifest_location: str | None = None
    # Whether a deployed stack's roles may read and list versions (CopyVersions=true): --all-versions, --as-of.
    versions_allowed: bool | None = None
    # A deployed stack's other destinations (MoreDestinationBuckets, as far as its grants name
    # them), and the prefix every destination's keys are written under (DestinationPrefix; None:
    # as they are).
    more_dest_buckets: tuple[str, ...] = ()
    dest_prefix: str | None = None

    def main_queues(self) -> dict[str, str]:
        return {"list": self.list_url, "copy": self.copy_url}

    def dead_letter_queues(self) -> dict[str, str]:
        return {"list": self.list_dlq_url, "copy": self.copy_dlq_url}


STACK_OUTPUTS = {
    "list_url": "ListQueueUrl",
    "copy_url": "CopyQueueUrl",
    "list_dlq_url": "ListDeadLetterQueueUrl",
    "copy_dlq_url": "CopyDeadLetterQueueUrl",
}


def default_stack_name(samconfig: Path = Path("samconfig.toml")) -> str:
    """The stack name samconfig.toml deploys to, so `sam deploy` and the CLI agree without flags."""
    try:
        config = tomllib.loads(samconfig.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return DEFAULT_STACK_NAME
    name = config.get("default", {}).get("global", {}).get("parameters", {}).get("stack_name")
    if not name:
        name = config.get("default", {}).get("deploy", {}).get("parameters", {}).get("stack_name")
    return str(name) if name else DEFAULT_STACK_NAME


def describe_stack(cloudformation: CloudFormationClient, stack_name: str, if_missing: str = "deploy it with 'sam deploy' or pass --stack-name") -> tuple[dict[str, str], dict[str, str]]:
    """A stack's outputs and parameters (one DescribeStacks); StackError in one line otherwise,
    with ``if_missing`` saying what to do when it does not exist."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            raise StackError(f"stack '{stack_name}' does not exist ({if_missing})") from None
        raise StackError(f"cannot read stack '{stack_name}': {error}") from None
    except BotoCoreError as error:
        raise StackError(f"cannot read stack '{stack_name}': {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stacks[0].get("Parameters", [])}
    return outputs, parameters


def more_destinations(outputs: Mapping[str, str]) -> tuple[str, ...]:
    """A stack's MoreDestinations output as the buckets it serves besides its DestinationBucket:
    the template names four slots of its MoreDestinationBuckets parameter, padded with
    DestinationBucket, so a 5th bucket of the parameter is not among them, and the padding is
    left out here."""
    dest = outputs.get("DestinationBucket")
    names = (name.strip() for name in outputs.get("MoreDestinations", "").split(","))
    return tuple(dict.fromkeys(name for name in names if name and name != dest))


def queues_from_stack(cloudformation: CloudFormationClient, stack_name: str) -> QueueSet:
    outputs, _ = describe_stack(cloudformation, stack_name)
    missing = [name for name in STACK_OUTPUTS.values() if name not in outputs]
    if missing:
        raise StackError(f"stack '{stack_name}' lacks the outputs {', '.join(missing)}: is it an s3-fanout stack?")
    return QueueSet(
        **{field: outputs[name] for field, name in STACK_OUTPUTS.items()},
        source_bucket=outputs.get("SourceBucket"),
        dest_bucket=outputs.get("DestinationBucket"),
        delete_allowed=outputs.get("DeleteAllowed") == "true",
        key_secret_arn=outputs.get("MessageKeySecretArn"),
        allowed_prefix=outputs.get("AllowedPrefix"),
        source_owner=outputs.get("SourceBucketOwner") or None,
        dest_owner=outputs.get("DestinationBucketOwner") or None,
        job_table=outputs.get("JobTableName") or None,
        reports=f"s3://{outputs['ReportBucket']}/{outputs.get('ReportPrefix', '')}" if outputs.get("ReportBucket") else None,
        source_endpoint_url=outputs.get("SourceEndpointUrl") or None,
        source_credentials_secret_arn=outputs.get("SourceCredentialsSecretArn") or None,
        manifest_location=outputs.get("ManifestLocation") or None,
        versions_allowed=outputs.get("VersionsAllowed") == "true",
        more_dest_buckets=more_destinations(outputs),
        dest_prefix=outputs.get("DestinationPrefix") or None,
    )


def local_queue_name(job_id: str, suffix: str) -> str:
    return f"{LOCAL_QUEUE_PREFIX}-{job_id}-{suffix}"


def find_local_queues(sqs: SQSClient) -> list[QueueSet]:
    """Every job's local-mode queues on the configured SQS endpoint (a job whose main queues were
    deleted after its run still has its DLQs, and its main-queue URLs are where they would be)."""
    urls: list[str] = []
    for page in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=f"{LOCAL_QUEUE_PREFIX}-"):
        urls += page.get("QueueUrls", [])
    by_name = {url.rsplit("/", 1)[-1]: url for url in urls}
    sets = []
    for name, url in sorted(by_name.items()):
        if not name.endswith("-list-dlq"):
            continue
        job_id = name.removeprefix(f"{LOCAL_QUEUE_PREFIX}-").removesuffix("-list-dlq")
        base = url.removesuffix(name)

        def url_of(suffix: str, job_id: str = job_id, base: str = base) -> str:
            return by_name.get(local_queue_name(job_id, suffix), base + local_queue_name(job_id, suffix))

        sets.append(QueueSet(url_of("list"), url_of("copy"), url_of("list-dlq"), url_of("copy-dlq"), job_id=job_id))
    return sets


# CreateQueue's answer for a queue that exists with other attributes: its JSON and query codes.
_QUEUE_EXISTS_CODES = ("QueueAlreadyExists", "QueueNameExists", "AWS.SimpleQueueService.QueueNameExists")


def ensure_local_queues(
    sqs: SQSClient,
    job_id: str,
    *,
    max_receive_count: int,
    list_visibility_seconds: int,
    copy_visibility_seconds: int,
) -> QueueSet:
    """Find or create a job's four local-mode queues, wired like the template wires them."""

    def queue(name: str, attributes: Mapping[QueueAttributeNameType, str]) -> str:
        # CreateQueue answers an existing queue's URL when the attributes match (a new job's
        # queues never exist: one request each), and refuses when they differ.
        try:
            return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in _QUEUE_EXISTS_CODES:
                raise
        url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        # Local mode owns these queues: keep their timeouts and redrive in step with its options.
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        return url

    def with_dead_letter_queue(name: str, visibility: int) -> tuple[str, str]:
        dlq_url = queue(f"{name}-dlq", {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS), "SqsManagedSseEnabled": "true"})
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
        url = queue(name, {"VisibilityTimeout": str(visibility), "RedrivePolicy": redrive, "SqsManagedSseEnabled": "true"})
        return url, dlq_url

    list_url, list_dlq_url = with_dead_letter_queue(local_queue_name(job_id, "list"), list_visibility_seconds)
    copy_url, copy_dlq_url = with_dead_letter_queue(local_queue_name(job_id, "copy"), copy_visibility_seconds)
    return QueueSet(list_url, copy_url, list_dlq_url, copy_dlq_url, job_id=job_id)


def delete_local_queues(sqs: SQSClient, queues: QueueSet, *, keep_dead_letters: bool) -> None:
    """Remove a finished local job's queues: its main queues, and its DLQs unless told to keep
    them (they hold failures that `dlq list/redrive --local` still need)."""
    urls = list(queues.main_queues().values()) + ([] if keep_dead_letters else list(queues.dead_letter_queues().values()))
    for url in urls:
        try:
            sqs.delete_queue(QueueUrl=url)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise


def pending_messages(sqs: SQSClient, queues: QueueSet) -> int:
    """Messages on the main queues (visible, in flight or delayed); 0 for queues that are gone."""
    total = 0
    for url in queues.main_queues().values():
        try:
            total += sum(queue_depths(sqs, url))
        except ClientError:
            continue
    return total


def queue_depths(sqs: SQSClient, queue_url: str) -> tuple[int, int, int]:
    """(visible, in flight, delayed) messages of a queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return (
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )
