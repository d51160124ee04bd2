"""Copying one batch of keys, and deciding what happens to the keys that failed.

Each key's outcome is one of three: copied; failed but worth another try (it goes back on the copy
queue alone, with its attempt count, after a backoff); or failed for good, either permanently
(AccessDenied, NoSuchKey, ...) or too often, in which case it goes to the copy dead-letter queue
with its error code and message. Keys of the batch that were copied are never copied again.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable

from s3fanout.dlq import dead_letter_attributes
from s3fanout.messages import CopyBatch, CopyItem, KeyFailure, pack_copy_batches
from s3fanout.queues import send_messages
from s3fanout.s3ops import S3Failure, copy_object, describe_error

DEFAULT_CONCURRENCY = 16
DEFAULT_MAX_ATTEMPTS = 5
# SQS allows message delays of up to 15 minutes.
MAX_RETRY_DELAY_SECONDS = 900


@dataclass(frozen=True, slots=True)
class CopyOutcome:
    copied: tuple[CopyItem, ...]
    retry: tuple[CopyItem, ...]
    dead: tuple[CopyItem, ...]

    @property
    def copied_bytes(self) -> int:
        return sum(item.size for item in self.copied)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def copy_batch(
    batch: CopyBatch,
    *,
    s3: Any,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    now: Callable[[], str] = utc_now,
) -> CopyOutcome:
    """Copy the batch's keys concurrently and sort them into copied, retry and dead."""

    def attempt(item: CopyItem) -> S3Failure | None:
        try:
            copy_object(s3, batch.source_bucket, batch.dest_bucket, item)
        except Exception as error:  # noqa: BLE001 - every failure is recorded against its key
            return describe_error(error)
        return None

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(batch.items)))) as pool:
        failures = list(pool.map(attempt, batch.items))

    copied, retry, dead = [], [], []
    for item, failure in zip(batch.items, failures):
        if failure is None:
            copied.append(replace(item, failure=None))
            continue
        failed = replace(item, failure=_record_failure(item.failure, failure, now()))
        if failure.permanent or failed.attempts >= max_attempts:
            dead.append(failed)
        else:
            retry.append(failed)
    return CopyOutcome(tuple(copied), tuple(retry), tuple(dead))


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
    ceiling = min(MAX_RETRY_DELAY_SECONDS, 2 ** (attempts + 1))
    return max(1, round(random.uniform(ceiling / 2, ceiling)))


def dispatch_failures(batch: CopyBatch, outcome: CopyOutcome, *, sqs: Any, copy_queue_url: str, dead_letter_url: str) -> None:
    """Send retry keys back to the copy queue (delayed) and dead keys to the copy DLQ."""
    if outcome.retry:
        delay = retry_delay_seconds(max(item.attempts for item in outcome.retry))
        bodies = [b.to_json() for b in pack_copy_batches(batch.job_id, batch.source_bucket, batch.dest_bucket, outcome.retry)]
        send_messages(sqs, copy_queue_url, bodies, delay_seconds=delay)
    if outcome.dead:
        bodies = [b.to_json() for b in pack_copy_batches(batch.job_id, batch.source_bucket, batch.dest_bucket, outcome.dead)]
        send_messages(sqs, dead_letter_url, bodies, attributes=dead_letter_attributes("copier"))
