"""The queues a job uses: read from a deployed stack's outputs, or created for local mode."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

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


def queues_from_stack(cloudformation: Any, stack_name: str) -> QueueSet:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            raise StackError(f"stack '{stack_name}' does not exist (deploy it with 'sam deploy' or pass --stack-name)") from None
        raise StackError(f"cannot read stack '{stack_name}': {error}") from None
    except BotoCoreError as error:
        raise StackError(f"cannot read stack '{stack_name}': {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [name for name in STACK_OUTPUTS.values() if name not in outputs]
    if missing:
        raise StackError(f"stack '{stack_name}' lacks the outputs {', '.join(missing)}: is it an s3-fanout stack?")
    return QueueSet(
        **{field: outputs[name] for field, name in STACK_OUTPUTS.items()},
        source_bucket=outputs.get("SourceBucket"),
        dest_bucket=outputs.get("DestinationBucket"),
        delete_allowed=outputs.get("DeleteAllowed") == "true",
    )


def find_local_queues(sqs: Any, name_prefix: str = LOCAL_QUEUE_PREFIX) -> QueueSet:
    """The queues of local mode on the configured SQS endpoint, which must exist already."""
    names = [f"{name_prefix}-{suffix}" for suffix in ("list", "copy", "list-dlq", "copy-dlq")]
    urls = [_queue_url(sqs, name) for name in names]
    missing = [name for name, url in zip(names, urls) if url is None]
    if missing:
        raise StackError(f"no local-mode queues {', '.join(missing)} on this SQS endpoint: has a local job run against it?")
    return QueueSet(*urls)  # type: ignore[arg-type]


def _queue_url(sqs: Any, name: str) -> str | None:
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return None
        raise


def ensure_local_queues(
    sqs: Any,
    *,
    name_prefix: str = LOCAL_QUEUE_PREFIX,
    max_receive_count: int,
    list_visibility_seconds: int,
    copy_visibility_seconds: int,
) -> QueueSet:
    """Find or create the four queues of local mode, wired like the template wires them."""

    def queue(name: str, attributes: dict[str, str]) -> str:
        url = _queue_url(sqs, name)
        if url is None:
            return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
        # Local mode owns these queues: keep their timeouts and redrive in step with its options.
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        return url

    def with_dead_letter_queue(name: str, visibility: int) -> tuple[str, str]:
        dlq_url = queue(f"{name}-dlq", {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS), "SqsManagedSseEnabled": "true"})
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
        url = queue(name, {"VisibilityTimeout": str(visibility), "RedrivePolicy": redrive, "SqsManagedSseEnabled": "true"})
        return url, dlq_url

    list_url, list_dlq_url = with_dead_letter_queue(f"{name_prefix}-list", list_visibility_seconds)
    copy_url, copy_dlq_url = with_dead_letter_queue(f"{name_prefix}-copy", copy_visibility_seconds)
    return QueueSet(list_url, copy_url, list_dlq_url, copy_dlq_url)


def queue_depths(sqs: Any, queue_url: str) -> tuple[int, int, int]:
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
