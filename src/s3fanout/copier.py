"""Copying one batch of keys, and deciding what happens to the keys that failed.

Each key's outcome is one of three: copied; failed but worth another try (it goes back on the copy
queue alone, with its attempt count, after a backoff); or failed for good, either permanently
(AccessDenied, NoSuchKey, ...) or too often, in which case it goes to the copy dead-letter queue
with its error code and message. Keys of the batch that were copied are never copied again.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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


# Answers that mean "too fast": S3's SlowDown, and what other S3-compatible stores say instead.
THROTTLING_CODES = frozenset({"SlowDown", "503", "ServiceUnavailable", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "TooManyRequestsException"})


class ConcurrencyLimit:
    """How many copies may be in flight: halved whenever S3 throttles a copy, grown back by one
    after as many successes in a row as the limit allows (additive increase, multiplicative
    decrease, as TCP does). One lives per execution environment, so a throttled invocation leaves
    the next one slowed down too instead of burning retries."""

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self._in_flight = 0
        self._successes = 0
        self._changed = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def record(self, throttled: bool) -> None:
        with self._changed:
            if throttled:
                self.limit = max(1, self.limit // 2)
                self._successes = 0
            else:
                self._successes += 1
                if self._successes >= self.limit and self.limit < self.maximum:
                    self.limit += 1
                    self._successes = 0
            self._changed.notify_all()


@dataclass(frozen=True, slots=True)
class CopyOutcome:
    copied: tuple[CopyItem, ...]
    retry: tuple[CopyItem, ...]
    dead: tuple[CopyItem, ...]
    throttled: int = 0

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
    limit: ConcurrencyLimit | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    now: Callable[[], str] = utc_now,
) -> CopyOutcome:
    """Copy the batch's keys concurrently (at most ``limit.limit`` at once, or ``concurrency``)
    and sort them into copied, retry and dead."""
    limit = limit or ConcurrencyLimit(concurrency)

    def attempt(item: CopyItem) -> S3Failure | None:
        with limit.slot():
            try:
                copy_object(s3, batch.source_bucket, batch.dest_bucket, item)
            except Exception as error:  # noqa: BLE001 - every failure is recorded against its key
                failure = describe_error(error)
                limit.record(throttled=failure.code in THROTTLING_CODES)
                return failure
            limit.record(throttled=False)
            return None

    with ThreadPoolExecutor(max_workers=max(1, min(limit.maximum, len(batch.items)))) as pool:
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
    throttled = sum(1 for failure in failures if failure is not None and failure.code in THROTTLING_CODES)
    return CopyOutcome(tuple(copied), tuple(retry), tuple(dead), throttled)


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
