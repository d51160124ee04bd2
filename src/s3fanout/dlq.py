"""Reading the dead-letter queues without consuming them, as named keys with reasons."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any, Iterable

from s3fanout.messages import CopyBatch, InvalidMessage, ListTask, pack_copy_batches, parse_message
from s3fanout.queues import send_messages
from s3fanout.stack import QueueSet

# Message attributes on what the tool puts on a DLQ itself, as opposed to whole messages SQS moved
# there after too many failed deliveries: who sent it ("lister" or "copier") and, for a whole
# message, why.
DEAD_LETTERED_BY = "DeadLetteredBy"
DEAD_LETTER_REASON = "DeadLetterReason"

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


def peek(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue, leaving them all on it (visible again when this returns)."""
    held = Held(sqs, queue_url)
    try:
        return held.receive_all(PEEK_HIDE_SECONDS)
    finally:
        held.release()


class Held:
    """Messages of one queue received and kept hidden until they are deleted or released."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._handles: list[str] = []
        self._latest: dict[str, str] = {}

    def receive_all(self, hide_seconds: int) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
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

    def delete(self, message: dict[str, Any]) -> None:
        handle = self._latest.pop(message["MessageId"])
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=handle)
        self._handles.remove(handle)

    def release(self) -> None:
        """Make every message not deleted visible again."""
        handles, self._handles = self._handles, []
        for start in range(0, len(handles), 10):
            entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(handles[start : start + 10])]
            self._sqs.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=entries)


@dataclass
class RedriveResult:
    keys: int = 0
    ranges: int = 0
    left: int = 0


# Redriven messages stay hidden while the rest of the DLQ is worked through.
REDRIVE_HIDE_SECONDS = 300


def redrive(sqs: Any, queues: QueueSet, *, reason: str | None = None, job_id: str | None = None) -> RedriveResult:
    """Put failed work back on the queue it came from: all of it, or only one reason or job.

    Keys the copier gave up on go back as fresh copy batches (their attempts start again); of such
    a message, the keys that do not match stay in the DLQ. Whole messages SQS moved there go back
    unchanged. Unreadable messages stay: they would only fail again. A message leaves the DLQ only
    after what replaces it has been sent, so an interrupted redrive loses nothing.
    """
    result = RedriveResult()

    def wanted(letter: DeadLetter) -> bool:
        return letter.code != "InvalidMessage" and reason in (None, letter.code) and job_id in (None, letter.job_id)

    for name, dlq_url in queues.dead_letter_queues().items():
        target = queues.main_queues()[name]
        held = Held(sqs, dlq_url)
        try:
            for message in held.receive_all(REDRIVE_HIDE_SECONDS):
                letters = dead_letters(name, [message])
                chosen = [wanted(letter) for letter in letters]
                if not any(chosen):
                    result.left += len(letters)
                    continue
                body = parse_message(message["Body"])
                if isinstance(body, CopyBatch) and _attribute(message, DEAD_LETTERED_BY) == "copier":
                    again = [replace(item, failure=None) for item, pick in zip(body.items, chosen) if pick]
                    stay = [item for item, pick in zip(body.items, chosen) if not pick]
                    send_messages(sqs, target, [b.to_json() for b in pack_copy_batches(body.job_id, body.source_bucket, body.dest_bucket, again)])
                    if stay:
                        stays = [b.to_json() for b in pack_copy_batches(body.job_id, body.source_bucket, body.dest_bucket, stay)]
                        send_messages(sqs, dlq_url, stays, attributes=dead_letter_attributes("copier"))
                    result.keys += len(again)
                    result.left += len(stay)
                else:
                    send_messages(sqs, target, [message["Body"]])
                    if isinstance(body, CopyBatch):
                        result.keys += len(body.items)
                    else:
                        result.ranges += 1
                held.delete(message)
        finally:
            held.release()
    return result


def purge_job(sqs: Any, queues: QueueSet, job_id: str) -> int:
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


def dead_letter_attributes(by: str, reason: str | None = None) -> dict[str, str]:
    return {DEAD_LETTERED_BY: by} | ({DEAD_LETTER_REASON: reason[:1000]} if reason else {})


def reject_invalid(sqs: Any, dead_letter_url: str, body: str, error: InvalidMessage, by: str) -> None:
    """Put a message no handler can read on the DLQ, with the reason, instead of letting it loop."""
    send_messages(sqs, dead_letter_url, [body], attributes=dead_letter_attributes(by, str(error)))


def dead_letters(queue: str, messages: Iterable[dict[str, Any]]) -> list[DeadLetter]:
    """Explain each DLQ message: keys the copier gave up on carry their own error; unreadable
    messages the handlers rejected carry the reason; whole messages that SQS moved there after too
    many failed deliveries are explained as such."""
    letters: list[DeadLetter] = []
    for message in messages:
        attributes = message.get("Attributes", {})
        sent = _timestamp(attributes.get("SentTimestamp"))
        sender = _attribute(message, DEAD_LETTERED_BY)
        # A message a handler rejected as unreadable (even if it parses, e.g. a list task on the
        # copy queue) is reported with the handler's reason.
        rejected = _attribute(message, DEAD_LETTER_REASON)
        try:
            body = parse_message(message["Body"])
        except InvalidMessage as error:
            rejected = rejected or str(error)
        if rejected:
            letters.append(
                DeadLetter(queue, None, None, None, None, None, "InvalidMessage", f"{rejected}: {message['Body'][:200]!r}", None, sent, sent)
            )
            continue
        if isinstance(body, CopyBatch):
            given_up = sender == "copier"
            for item in body.items:
                failure = item.failure if given_up else None
                earlier = f"; before that: {item.failure}" if item.failure and not given_up else ""
                letters.append(
                    DeadLetter(
                        queue,
                        body.job_id,
                        body.source_bucket,
                        body.dest_bucket,
                        item.key,
                        None,
                        failure.code if failure else "BatchFailed",
                        failure.message if failure else f"its copy batch failed on every delivery (handler crash, timeout or unhandled error){earlier}",
                        failure.attempts if failure else None,
                        failure.first_failed if failure else sent,
                        failure.last_failed if failure else sent,
                    )
                )
        elif isinstance(body, ListTask):
            letters.append(
                DeadLetter(
                    queue,
                    body.job_id,
                    body.source_bucket,
                    body.dest_bucket,
                    None,
                    describe_range(body),
                    "ListFailed",
                    "listing this range failed on every delivery (see the lister's logs for the error)",
                    None,
                    sent,
                    sent,
                )
            )
    return letters


def _attribute(message: dict[str, Any], name: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name, {}).get("StringValue")
    return str(value) if value is not None else None


def describe_range(task: ListTask) -> str:
    after = "start" if task.after is None else repr(task.after)
    until = "end" if task.until is None else repr(task.until)
    return f"prefix {task.prefix!r}, keys after {after} up to {until}"


def _timestamp(millis: str | None) -> str | None:
    if not millis:
        return None
    return datetime.fromtimestamp(int(millis) / 1000, timezone.utc).isoformat(timespec="seconds")
