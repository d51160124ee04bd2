"""Copying one batch of keys, and deciding what happens to the keys that failed.

Each key's outcome is one of three: copied; failed but worth another try (it goes back on the copy
queue alone, with its attempt count, after a backoff); or failed for good, either permanently
(AccessDenied, NoSuchKey, ...) or too often, in which case it goes to the copy dead-letter queue
with its error code and message. Keys of the batch that were copied are never copied again.

Objects above the multipart threshold are copied in parts (multipart.py), with the same three
outcomes, and a fourth: an object too large for the time left is handed on as part tasks, which
go back on the copy queue, each in a message of its own.

When no server-side copy can reach both sides (another endpoint, profile or key pair), every object
is streamed instead (stream.py): read and uploaded through this process. Above the multipart
threshold its parts are read and uploaded in the multipart copy's shapes (in this invocation, or
as part tasks), so that no streamed object needs more than an invocation's time.

A batch with a KeyRewrite (--dest-prefix) writes each key under another prefix: every request of
the destination names ``batch.dest_key(key)``, every read of the source the key itself, and the
key itself is what the logs, failures and the batches sent on (retries, part tasks, dead letters,
each carrying the rewrite) name. A version history (--all-versions) is not rewritten: its items
fail at once, permanently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from s3fanout.backoff import DEFAULT_MAX_ATTEMPTS, backoff_seconds
from s3fanout.copying.limit import DEFAULT_CONCURRENCY, ConcurrencyLimit
from s3fanout.copying.multipart import CopyResult, MultipartSettings, abort_upload, copy_large
from s3fanout.copying.single import copy_object
from s3fanout.copying.stream import StreamSettings, stream_object
from s3fanout.copying.versioned import StackCopy, copy_stack
from s3fanout.counts import Counts
from s3fanout.deadletter import dead_letter_attributes
from s3fanout.messages import CopyBatch, CopyItem, CopyOptions, InvalidMessage, KeyFailure, KeyRewrite, pack_copy_batches
from s3fanout.outbox import Outbox
from s3fanout.queues import send_messages
from s3fanout.s3errors import THROTTLING_CODES, S3Failure, describe_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# SQS allows message delays of up to 15 minutes.
MAX_RETRY_DELAY_SECONDS = 900

# Without a Lambda context (tests, scripts) there is no deadline.
NO_DEADLINE_MS = 10**12

# The failure of a version history (--all-versions) in a batch whose keys are rewritten: its
# entries would land on another key's stack, which --dest-prefix does not handle.
UNSUPPORTED = "Unsupported"
VERSIONS_NOT_REWRITTEN = "--dest-prefix does not apply to --all-versions"
# The failure of a key that a batch's rewrite cannot map: not under its source prefix, or the
# prefix itself rewritten to an empty key.
INVALID_DEST_KEY = "InvalidDestinationKey"


@dataclass(frozen=True, slots=True)
class CopyOutcome:
    """The batch's keys sorted by fate. A part task that copied its parts while other parts remain
    is in none of these: an object counts as copied once, by the copier that completes it."""

    copied: tuple[CopyItem, ...]
    retry: tuple[CopyItem, ...]
    dead: tuple[CopyItem, ...]
    throttled: int = 0
    # Part tasks for other copiers (the parts of objects too large for the time left).
    handed_on: tuple[CopyItem, ...] = ()
    # (destination key, upload id) of uploads created here and handed on: aborted if the tasks
    # cannot be queued.
    new_uploads: tuple[tuple[str, str], ...] = ()
    # Part tasks that found nothing left to do (their upload gone), with the reason.
    dropped: tuple[tuple[CopyItem, str], ...] = ()
    # Whether the copies were streamed through this process (their bytes count as streamed too).
    streamed: bool = False
    # What the batch's version stacks (--all-versions) copied: object versions (counted as objects
    # copied too, not in ``copied``), their bytes, and the delete markers written.
    versions_copied: int = 0
    version_bytes: int = 0
    delete_markers_written: int = 0
    # The batch's rewrite of its keys (--dest-prefix), which the logs name the destination keys by.
    rekey: KeyRewrite | None = None

    @property
    def copied_bytes(self) -> int:
        return sum(item.size for item in self.copied) + self.version_bytes

    def key_events(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(log level, message, fields) for every key that did not simply get copied, naming it
        (the source's key, as the DLQ and a redrive do; with a rewrite, the destination's key
        too) and what became of it: what a handler logs."""
        for level, text, items in (("warning", "copy failed, will retry", self.retry), ("error", "copy failed, key sent to the dead-letter queue", self.dead)):
            for item in items:
                failure = item.failure
                assert failure is not None
                yield level, text, self._keys(item.key) | {"error_code": failure.code, "error_message": failure.message, "attempts": failure.attempts}
        for task in self.handed_on:
            if task.parts is None and task.stack is not None:
                entries = {"key": task.key, "version_id": task.version_id, "entries": 1 + len(task.stack.then), "more": task.stack.more}
                yield "info", "version history handed on: the next entries of the key go on in order", entries
                continue
            assert task.parts is not None
            parts = {"upload_id": task.parts.upload_id, "first_part": task.parts.first, "last_part": task.parts.last, "part_size": task.parts.part_size}
            yield "info", "multipart copy handed on as a part task", self._keys(task.key) | {"size": task.size} | parts
        for item, reason in self.dropped:
            yield "warning", "part task dropped: nothing left to do", self._keys(item.key) | {"size": item.size, "reason": reason}

    def _keys(self, key: str) -> dict[str, str]:
        """A log line's key fields: the source's key, and where the batch rewrites it, the destination's."""
        if self.rekey is None or not key.startswith(self.rekey.source_prefix):
            return {"key": key}
        return {"key": key, "dest_key": self.rekey.dest_key(key)}

    def counts(self, throttled_attempts: int = 0) -> Counts:
        return Counts(
            objects_copied=len(self.copied) + self.versions_copied,
            versions_copied=self.versions_copied,
            delete_markers_written=self.delete_markers_written,
            bytes_copied=self.copied_bytes,
            bytes_streamed=self.copied_bytes if self.streamed else 0,
            keys_retried=len(self.retry),
            keys_failed=len(self.dead),
            keys_throttled=self.throttled,
            throttled_attempts=throttled_attempts,
            part_tasks_queued=len(self.handed_on),
            part_tasks_dropped=len(self.dropped),
        )


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def copy_batch(
    batch: CopyBatch,
    *,
    s3: S3Client,
    concurrency: int = DEFAULT_CONCURRENCY,
    limit: ConcurrencyLimit | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    now: Callable[[], str] = utc_now,
    multipart: MultipartSettings | None = None,
    remaining_ms: Callable[[], int] | None = None,
    source_s3: S3Client | None = None,
    default_options: CopyOptions | None = None,
    stream: StreamSettings | None = None,
    redelivered: bool = False,
) -> CopyOutcome:
    """Copy the batch's keys concurrently (at most ``limit.limit`` at once, or ``concurrency``)
    and sort them into copied, retry and dead (and handed on, for large objects).

    ``s3`` is the destination region's client (S3 serves a copy in the destination's region);
    ``source_s3`` the source region's, for the reads of a multipart copy (``s3`` when None).

    Objects above ``multipart.threshold_bytes`` and part tasks are copied in parts, each part
    taking a slot of the same limit; ``remaining_ms`` (the Lambda context's) decides whether a
    large object can be copied in this invocation or is handed on in part tasks.

    The batch's own copy options apply; a batch without any gets ``default_options``, by default
    the stack's from the copier's environment (``CopyOptions.from_env``; none for local workers).

    With ``stream``, every key is streamed (read with ``source_s3``, uploaded with ``s3``): the
    sides are not one store. Up to the multipart threshold in one slot of the limit per object (one
    PutObject, or s3transfer's parts above the stream threshold); above it in parts that are read
    and uploaded as a multipart copy's are copied, in this invocation or in part tasks.

    An item with a version stack (--all-versions) copies its key's entries in order
    (copying/versioned.py); ``redelivered`` (SQS delivered the batch before) makes each such item
    first ask the destination how far an earlier attempt got, as a retried item does.

    With ``batch.rekey`` (--dest-prefix) each key is read from the source as it is and written to
    the destination as ``batch.dest_key(key)``; a version stack or a delete marker fails at once,
    permanently (UNSUPPORTED), rather than be written to the wrong key's history, as does a key
    the rewrite cannot map (INVALID_DEST_KEY).
    """
    options = batch.options
    if options.is_default:
        options = CopyOptions.from_env() if default_options is None else default_options
    limit = limit or ConcurrencyLimit(concurrency)
    multipart = multipart or MultipartSettings()
    remaining = remaining_ms or (lambda: NO_DEADLINE_MS)

    def attempt(item: CopyItem) -> CopyResult:
        refused = _not_rewritable(batch, item)
        if refused is not None:
            return CopyResult(failure=refused)
        dest_key = batch.dest_key(item.key)
        if item.stack is not None:
            stack = StackCopy(s3, source_s3 or s3, batch.source_bucket, batch.dest_bucket, limit, multipart, options, remaining, stream)
            return copy_stack(item, stack, final_attempt=item.attempts + 1 >= max_attempts, check_destination=redelivered or item.failure is not None)
        if stream is not None and not multipart.wants_multipart(item):
            settings = stream
            return in_one_slot(lambda: stream_object(source_s3 or s3, s3, batch.source_bucket, batch.dest_bucket, item, dest_key, options, settings))
        if multipart.wants_multipart(item):
            # No slot for the object itself: its parts take theirs.
            final = item.attempts + 1 >= max_attempts
            return copy_large(
                s3,
                batch.source_bucket,
                batch.dest_bucket,
                item,
                dest_key=dest_key,
                limit=limit,
                settings=multipart,
                remaining_ms=remaining,
                final_attempt=final,
                source_s3=source_s3,
                options=options,
                stream=stream,
            )
        return in_one_slot(lambda: copy_object(s3, batch.source_bucket, batch.dest_bucket, item, dest_key, options, source_s3))

    def in_one_slot(copy: Callable[[], object]) -> CopyResult:
        """One object's copy in one slot of the limit, its failure recorded against its key."""
        with limit.slot():
            try:
                copy()
            except Exception as error:  # noqa: BLE001 - every failure is recorded against its key
                failure = describe_error(error)
                limit.record(throttled=failure.code in THROTTLING_CODES)
                return CopyResult(failure=failure)
            limit.record(throttled=False)
            return CopyResult(copied=True)

    with ThreadPoolExecutor(max_workers=max(1, min(limit.maximum, len(batch.items)))) as pool:
        results = list(pool.map(attempt, batch.items))

    copied: list[CopyItem] = []
    retry: list[CopyItem] = []
    dead: list[CopyItem] = []
    handed_on: list[CopyItem] = []
    new_uploads: list[tuple[str, str]] = []
    dropped: list[tuple[CopyItem, str]] = []
    for item, result in zip(batch.items, results):
        failure = result.failure
        if failure is None:
            if result.copied and item.stack is None:
                copied.append(replace(item, failure=None, parts=None))
            handed_on += result.handed_on
            if result.created_upload is not None:
                new_uploads.append((batch.dest_key(item.key), result.created_upload))
            if result.dropped is not None:
                dropped.append((item, result.dropped))
            continue
        # A version stack fails on with the entries it has not copied; one that copied some
        # starts its attempts afresh.
        failed = replace(result.rest or item, failure=_record_failure(None if result.progress else item.failure, failure, now()))
        if failure.permanent or failed.attempts >= max_attempts:
            # A key given up on is a whole object again (its upload was aborted), so that a
            # redrive copies it afresh.
            dead.append(replace(failed, parts=None))
        else:
            retry.append(replace(failed, parts=result.retry_parts or item.parts) if item.parts else failed)
    throttled = sum(1 for result in results if result.failure is not None and result.failure.code in THROTTLING_CODES)
    return CopyOutcome(
        tuple(copied),
        tuple(retry),
        tuple(dead),
        throttled,
        tuple(handed_on),
        tuple(new_uploads),
        tuple(dropped),
        streamed=stream is not None,
        versions_copied=sum(result.versions_copied for result in results),
        version_bytes=sum(result.version_bytes for result in results),
        delete_markers_written=sum(result.delete_markers_written for result in results),
        rekey=batch.rekey,
    )


def _not_rewritable(batch: CopyBatch, item: CopyItem) -> S3Failure | None:
    """Why an item of a batch that rewrites its keys (--dest-prefix) cannot be copied, if it
    cannot: a version history (a stack, a delete marker), a key outside the rewritten prefix, or
    the prefix itself rewritten to an empty key. Permanent: the item fails the same way every time."""
    if batch.rekey is None:
        return None
    if item.stack is not None or item.delete_marker:
        return S3Failure(UNSUPPORTED, VERSIONS_NOT_REWRITTEN, permanent=True)
    try:
        dest_key = batch.dest_key(item.key)
    except InvalidMessage as error:
        return S3Failure(INVALID_DEST_KEY, str(error), permanent=True)
    if not dest_key:
        message = f"key {item.key!r} is the rewritten prefix itself, which the destination prefix '' would write as an empty key"
        return S3Failure(INVALID_DEST_KEY, message, permanent=True)
    return None


def _record_failure(previous: KeyFailure | None, failure: S3Failure, when: str) -> KeyFailure:
    return KeyFailure(
        code=failure.code,
        message=failure.message,
        attempts=(previous.attempts if previous else 0) + 1,
        first_failed=previous.first_failed if previous else when,
        last_failed=when,
    )


def retry_delay_seconds(attempts: int) -> int:
    """Exponential backoff with full jitter: 2, 4, 8, ... seconds on average, capped by SQS."""
    return max(1, round(backoff_seconds(attempts + 1, base=1, cap=MAX_RETRY_DELAY_SECONDS)))


def dispatch_failures(batch: CopyBatch, outcome: CopyOutcome, *, outbox: Outbox, dead_letter_url: str, s3: S3Client | None = None) -> None:
    """Send part tasks to the copy queue (each alone, at once), retry keys back to the copy queue
    (delayed) through ``outbox``, and dead keys to the copy DLQ, sealed with the outbox's key;
    what goes back on the copy queue counts one more hop. Every batch sent keeps ``batch``'s
    regions, options and key rewrite (--dest-prefix).

    Part tasks go first: if they cannot all be queued, the uploads created for them here are
    aborted (with ``s3``) before the error propagates and the record is delivered again, which
    starts those copies afresh. Once they are queued, a later failure only repeats work.
    """
    if outcome.handed_on:
        try:
            outbox.copy_batches([replace(batch, items=(task,), hops=batch.hops + 1) for task in outcome.handed_on])
        except Exception:
            if s3 is not None:
                for object_key, upload_id in outcome.new_uploads:
                    abort_upload(s3, batch.dest_bucket, object_key, upload_id)
            raise
    if outcome.retry:
        delay = retry_delay_seconds(max(item.attempts for item in outcome.retry))
        retries = pack_copy_batches(
            batch.job_id,
            batch.source_bucket,
            batch.dest_bucket,
            outcome.retry,
            hops=batch.hops + 1,
            regions=batch.regions,
            options=batch.options,
            rekey=batch.rekey,
        )
        outbox.copy_batches(list(retries), delay_seconds=delay)
    if outcome.dead:
        dead = pack_copy_batches(batch.job_id, batch.source_bucket, batch.dest_bucket, outcome.dead, hops=batch.hops, regions=batch.regions, options=batch.options, rekey=batch.rekey)
        bodies = [outbox.key.seal(b.to_json()) for b in dead]
        send_messages(outbox.sqs, dead_letter_url, bodies, attributes=dead_letter_attributes("copier"))
