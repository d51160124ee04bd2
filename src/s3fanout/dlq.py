"""The operator's side of the dead-letter queues: reading them without consuming them, as named
keys with reasons; redrive and purge. (What the functions put there, and how: deadletter.py.)"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from s3fanout.deadletter import DEAD_LETTER_CODE, DEAD_LETTER_REASON, DEAD_LETTERED_BY, HOP_LIMIT_EXCEEDED, INVALID_MESSAGE, dead_letter_attributes
from s3fanout.jobqueues import QueueSet
from s3fanout.messages import CopyBatch, CopyItem, InvalidMessage, ListTask, pack_copy_batches, parse_message
from s3fanout.queues import send_messages
from s3fanout.signing import BadSeal, MessageKey

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import ChangeMessageVisibilityBatchRequestEntryTypeDef, MessageTypeDef

    from s3fanout.jobrecord import JobTable

# How long peeked messages stay hidden while the rest of the queue is read; they are made visible
# again right after, so this only bounds the damage if the reader dies half-way.
PEEK_HIDE_SECONDS = 60
# Long-poll seconds of the confirming receives that find a queue read to its end.
EMPTY_POLL_WAIT_SECONDS = 1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One failed key (copy DLQ) or failed key range (list DLQ) and why it failed."""

    queue: str
    job_id: str | None
    source_bucket: str | None
    dest_bucket: str | None
    key: str | None
    key_range: str | None
    code: str
    message: str
    attempts: int | None
    first_failed: str | None
    last_failed: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def subject(self) -> str:
        if self.key is not None:
            return f"s3://{self.source_bucket}/{self.key}"
        return f"s3://{self.source_bucket} {self.key_range}" if self.source_bucket else "(unreadable message)"


def peek(sqs: SQSClient, queue_url: str) -> list[MessageTypeDef]:
    """Every message on the queue, leaving them all on it (visible again when this returns)."""
    held = Held(sqs, queue_url)
    try:
        return held.receive_all(PEEK_HIDE_SECONDS)
    finally:
        held.release()


class Held:
    """Messages of one queue received and kept hidden until they are deleted or released."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._handles: list[str] = []
        self._latest: dict[str, str] = {}

    def receive_all(self, hide_seconds: int) -> list[MessageTypeDef]:
        seen: dict[str, MessageTypeDef] = {}
        empty_polls = 0
        # A short poll samples only some SQS servers; a long poll asks them all, so one long poll
        # that brings nothing new after a short one means every message has been seen.
        while empty_polls < 2:
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=hide_seconds,
                WaitTimeSeconds=0 if empty_polls == 0 else EMPTY_POLL_WAIT_SECONDS,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            new = [m for m in messages if m["MessageId"] not in seen]
            empty_polls = 0 if new else empty_polls + 1
            for message in messages:
                seen.setdefault(message["MessageId"], message)
                self._handles.append(message["ReceiptHandle"])
                self._latest[message["MessageId"]] = message["ReceiptHandle"]
        return list(seen.values())

    def delete(self, message: MessageTypeDef) -> None:
        handle = self._latest.pop(message["MessageId"])
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=handle)
        self._handles.remove(handle)

    def release(self) -> None:
        """Make every message not deleted visible again."""
        handles, self._handles = self._handles, []
        for start in range(0, len(handles), 10):
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(handles[start : start + 10])
            ]
            self._sqs.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=entries)


@dataclass
class RedriveResult:
    keys: int = 0
    ranges: int = 0
    left: int = 0


# Redriven messages stay hidden while the rest of the DLQ is worked through.
REDRIVE_HIDE_SECONDS = 300


def redrive(
    sqs: SQSClient, queues: QueueSet, key: MessageKey, *, reason: str | None = None, job_id: str | None = None, table: JobTable | None = None
) -> RedriveResult:
    """Put failed work back on the queue it came from: all of it, or only one reason or job.

    Keys the copier gave up on go back as fresh copy batches (their attempts start again); of such
    a message, the keys that do not match stay in the DLQ. Whole messages SQS moved there go back
    unchanged, and tasks stopped by the hop bound go back with their count reset. Unreadable
    messages, and messages ``key`` did not seal, stay: they would only be refused again, and
    sealing them anew would launder what someone else put on the DLQ. A message leaves the DLQ
    only after what replaces it has been sent, so an interrupted redrive loses nothing.

    With the job records' ``table``, what a handler dead-lettered (and settled as failed) is
    opened again in its job's record, and its keys or range no longer count as failed. A whole
    message SQS moved there was never settled: its record still counts it open, and the message
    sent back in its place closes it.
    """
    result = RedriveResult()

    def reopen(body: ListTask | CopyBatch, queue: str, messages: int, keys: int) -> None:
        if table is not None:
            table.reopen(body.job_id, queue, messages, keys_back=keys, ranges_back=0 if isinstance(body, CopyBatch) else 1)

    def wanted(letter: DeadLetter) -> bool:
        return letter.code != INVALID_MESSAGE and reason in (None, letter.code) and job_id in (None, letter.job_id)

    for name, dlq_url in queues.dead_letter_queues().items():
        target = queues.main_queues()[name]
        held = Held(sqs, dlq_url)
        try:
            for message in held.receive_all(REDRIVE_HIDE_SECONDS):
                letters = dead_letters(name, [message], key)
                chosen = [wanted(letter) for letter in letters]
                if not any(chosen):
                    result.left += len(letters)
                    continue
                body = parse_message(message["Body"])
                if isinstance(body, CopyBatch) and _attribute(message, DEAD_LETTERED_BY) in KEYS_GIVEN_UP_BY:
                    again = [replace(item, failure=None) for item, pick in zip(body.items, chosen) if pick]
                    stay = [item for item, pick in zip(body.items, chosen) if not pick]
                    batches = list(pack_copy_batches(body.job_id, body.source_bucket, body.dest_bucket, again, regions=body.regions, options=body.options))
                    reopen(body, name, len(batches), len(again))
                    send_messages(sqs, target, [key.seal(b.to_json()) for b in batches])
                    if stay:
                        stays = [key.seal(b.to_json()) for b in pack_copy_batches(body.job_id, body.source_bucket, body.dest_bucket, stay, hops=body.hops, regions=body.regions, options=body.options)]
                        send_messages(sqs, dlq_url, stays, attributes=dead_letter_attributes(str(_attribute(message, DEAD_LETTERED_BY))))
                    result.keys += len(again)
                    result.left += len(stay)
                elif letters[0].code == HOP_LIMIT_EXCEEDED:
                    reopen(body, name, 1, len(body.items) if isinstance(body, CopyBatch) else 0)
                    send_messages(sqs, target, [key.seal(replace(body, hops=0).to_json())])
                    if isinstance(body, CopyBatch):
                        result.keys += len(body.items)
                    else:
                        result.ranges += 1
                else:
                    if _attribute(message, DEAD_LETTERED_BY) is not None:
                        reopen(body, name, 1, len(body.items) if isinstance(body, CopyBatch) else 0)
                    send_messages(sqs, target, [message["Body"]])
                    if isinstance(body, CopyBatch):
                        result.keys += len(body.items)
                    else:
                        result.ranges += 1
                held.delete(message)
        finally:
            held.release()
    return result


def purge_job(sqs: SQSClient, queues: QueueSet, job_id: str) -> int:
    """Delete one job's failures from both DLQs; return how many failures went."""
    purged = 0
    for name, url in queues.dead_letter_queues().items():
        held = Held(sqs, url)
        try:
            for message in held.receive_all(REDRIVE_HIDE_SECONDS):
                letters = dead_letters(name, [message])
                if letters and all(letter.job_id == job_id for letter in letters):
                    held.delete(message)
                    purged += len(letters)
        finally:
            held.release()
    return purged


def dead_letters(queue: str, messages: Iterable[MessageTypeDef], key: MessageKey | None = None) -> list[DeadLetter]:
    """Explain each DLQ message: keys the copier gave up on carry their own error; messages the
    handlers refused carry the code and reason; whole messages that SQS moved there after too
    many failed deliveries are explained as such. With ``key``, a message it did not seal is
    reported as an InvalidMessage, whatever it claims to be."""
    letters: list[DeadLetter] = []
    for message in messages:
        attributes = message.get("Attributes", {})
        sent = _timestamp(attributes.get("SentTimestamp"))
        sender = _attribute(message, DEAD_LETTERED_BY)
        # A message a handler refused (even if it parses, e.g. a list task on the copy queue) is
        # reported with the handler's code and reason.
        rejected = _attribute(message, DEAD_LETTER_REASON)
        code = _attribute(message, DEAD_LETTER_CODE) or INVALID_MESSAGE
        try:
            if key is not None:
                key.open(message["Body"])
            body = parse_message(message["Body"])
        except (InvalidMessage, BadSeal) as error:
            rejected, code = rejected or str(error), INVALID_MESSAGE
        if rejected and code == INVALID_MESSAGE:
            letters.append(
                DeadLetter(queue, None, None, None, None, None, INVALID_MESSAGE, f"{rejected}: {message['Body'][:200]!r}", None, sent, sent)
            )
            continue
        if rejected:
            letters += _each(queue, body, code, _always(rejected), sent)
        elif isinstance(body, CopyBatch) and sender in KEYS_GIVEN_UP_BY:
            letters += [_given_up(queue, body, item, sent) for item in body.items]
        elif isinstance(body, CopyBatch):
            letters += _each(queue, body, "BatchFailed", lambda item: BATCH_FAILED + (f"; before that: {item.failure}" if item and item.failure else ""), sent)
        else:
            letters += _each(queue, body, "ListFailed", _always(LIST_FAILED), sent)
    return letters


# Who puts keys on the copy DLQ each with its own failure: a copier, and a lister reading a manifest
# (a key the manifest names that the source lacks).
KEYS_GIVEN_UP_BY = ("copier", "lister")
BATCH_FAILED = "its copy batch failed on every delivery (handler crash, timeout or unhandled error)"
LIST_FAILED = "listing this range failed on every delivery (see the lister's logs for the error)"


def _each(queue: str, body: ListTask | CopyBatch, code: str, reason: Callable[[CopyItem | None], str], sent: str | None) -> list[DeadLetter]:
    """A whole message in the DLQ as letters: one per key of a copy batch, one for a list task."""
    if isinstance(body, CopyBatch):
        return [DeadLetter(queue, body.job_id, body.source_bucket, body.dest_bucket, item.key, None, code, reason(item), None, sent, sent) for item in body.items]
    return [DeadLetter(queue, body.job_id, body.source_bucket, body.dest_bucket, None, describe_range(body), code, reason(None), None, sent, sent)]


def _always(reason: str) -> Callable[[CopyItem | None], str]:
    return lambda _: reason


def _given_up(queue: str, body: CopyBatch, item: CopyItem, sent: str | None) -> DeadLetter:
    """A key the copier gave up on, with its own failure."""
    failure = item.failure
    if failure is None:
        return _each(queue, replace(body, items=(item,)), "BatchFailed", _always(BATCH_FAILED), sent)[0]
    return DeadLetter(
        queue, body.job_id, body.source_bucket, body.dest_bucket, item.key, None, failure.code, failure.message, failure.attempts, failure.first_failed, failure.last_failed
    )


def _attribute(message: MessageTypeDef, name: str) -> str | None:
    attribute = message.get("MessageAttributes", {}).get(name)
    value = attribute.get("StringValue") if attribute else None
    return str(value) if value is not None else None


def describe_range(task: ListTask) -> str:
    after = "start" if task.after is None else repr(task.after)
    until = "end" if task.until is None else repr(task.until)
    return f"prefix {task.prefix!r}, keys after {after} up to {until}"


def _timestamp(millis: str | None) -> str | None:
    if not millis:
        return None
    return datetime.fromtimestamp(int(millis) / 1000, UTC).isoformat(timespec="seconds")
