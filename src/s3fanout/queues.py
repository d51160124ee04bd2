"""Sending to SQS without ever dropping a message silently.

SendMessageBatch can succeed as a request while failing some of its entries; those entries are sent
again with backoff, and if they still fail the caller gets an exception (so its own message is
retried) rather than a batch that quietly vanished.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from s3fanout.backoff import backoff_seconds
from s3fanout.messages import MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, SendMessageBatchRequestEntryTypeDef

MAX_ENTRIES_PER_BATCH = 10
# SendMessageBatch limits the sum of all bodies in one request like a single message.
MAX_BATCH_BYTES = MAX_MESSAGE_BYTES
SEND_ATTEMPTS = 6


class SendFailed(RuntimeError):
    """Some messages could not be put on a queue: ``unsent`` of them (the others were sent)."""

    def __init__(self, text: str, unsent: int = 0) -> None:
        super().__init__(text)
        self.unsent = unsent


def group_for_batches(bodies: Sequence[str]) -> list[list[str]]:
    """Group bodies into SendMessageBatch requests within the entry-count and total-size limits."""
    groups: list[list[str]] = []
    current: list[str] = []
    current_bytes = 0
    for body in bodies:
        size = len(body.encode("utf-8"))
        if size > MAX_BATCH_BYTES:
            raise SendFailed(f"a message of {size} bytes exceeds the {MAX_BATCH_BYTES}-byte limit")
        if current and (len(current) == MAX_ENTRIES_PER_BATCH or current_bytes + size > MAX_BATCH_BYTES):
            groups.append(current)
            current, current_bytes = [], 0
        current.append(body)
        current_bytes += size
    if current:
        groups.append(current)
    return groups


def send_messages(
    sqs: SQSClient,
    queue_url: str,
    bodies: Sequence[str],
    delay_seconds: int | Sequence[int] = 0,
    attributes: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Put every body on the queue, resending failed entries; raise SendFailed, saying how many
    were not sent, if any never made it.

    ``delay_seconds`` delays every message, or (a sequence) each body by its own.
    ``attributes`` become string message attributes of every message.
    """
    message_attributes: dict[str, MessageAttributeValueTypeDef] = {
        name: {"DataType": "String", "StringValue": value} for name, value in (attributes or {}).items()
    }
    delays = [delay_seconds] * len(bodies) if isinstance(delay_seconds, int) else list(delay_seconds)
    if len(delays) != len(bodies):
        raise ValueError(f"{len(delays)} delays for {len(bodies)} messages")
    unsent = len(bodies)
    for group in group_for_batches(bodies):
        sent = len(bodies) - unsent
        try:
            _send_group(sqs, queue_url, list(zip(group, delays[sent : sent + len(group)], strict=True)), message_attributes, sleep)
        except SendFailed as failure:
            raise SendFailed(str(failure), unsent - len(group) + failure.unsent) from failure.__cause__
        unsent -= len(group)


def _send_group(
    sqs: SQSClient,
    queue_url: str,
    group: list[tuple[str, int]],
    message_attributes: dict[str, MessageAttributeValueTypeDef],
    sleep: Callable[[float], None],
) -> None:
    """One SendMessageBatch request's bodies (each with its delay), resending failed entries;
    SendFailed says how many of them never made it."""
    entries = {str(index): message for index, message in enumerate(group)}
    for attempt in range(SEND_ATTEMPTS):
        request: list[SendMessageBatchRequestEntryTypeDef] = []
        for entry_id, (body, delay_seconds) in entries.items():
            entry: SendMessageBatchRequestEntryTypeDef = {"Id": entry_id, "MessageBody": body, "DelaySeconds": delay_seconds}
            if message_attributes:
                entry["MessageAttributes"] = message_attributes
            request.append(entry)
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=request)
        except (ClientError, BotoCoreError) as error:
            raise SendFailed(f"{len(entries)} message(s) not sent to {queue_url}: {error}", len(entries)) from error
        failed = response.get("Failed") or []
        if not failed:
            return
        reasons = "; ".join(f"{f.get('Code')}: {f.get('Message', '')}" for f in failed)
        if any(f.get("SenderFault") for f in failed):
            # The request itself is wrong (size, characters): sending it again cannot help.
            raise SendFailed(f"{len(failed)} message(s) rejected by {queue_url}: {reasons}", len(failed))
        entries = {f["Id"]: entries[f["Id"]] for f in failed}
        if attempt + 1 < SEND_ATTEMPTS:
            sleep(backoff_seconds(attempt, base=0.1, cap=10.0))
    raise SendFailed(f"{len(entries)} message(s) not accepted by {queue_url} after {SEND_ATTEMPTS} attempts: {reasons}", len(entries))
