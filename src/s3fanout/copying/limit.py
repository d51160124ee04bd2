"""How many copies a copier has in flight: an AIMD limit that S3's throttling lowers."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from s3fanout.s3errors import THROTTLING_CODES

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class ConcurrencyLimit:
    """How many copies may be in flight: halved whenever S3 throttles a copy, grown back by one
    after as many successes in a row as the limit allows (additive increase, multiplicative
    decrease, as TCP does). One lives per execution environment, so a throttled invocation leaves
    the next one slowed down too instead of burning retries."""

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        # Throttled attempts seen so far, including those botocore retried by itself.
        self.throttled_attempts = 0
        self._in_flight = 0
        self._successes = 0
        self._changed = threading.Condition()

    def watch(self, s3: S3Client) -> None:
        """Count every throttled attempt of the client, not only those botocore gives up on: its
        own retries (standard mode, several attempts) would otherwise hide the throttling, and the
        copier would keep its full concurrency while every request waits out backoffs."""

        def needs_retry(response: Any = None, **_: Any) -> None:
            if response is None:
                return
            http, parsed = response
            code = (parsed or {}).get("Error", {}).get("Code")
            if getattr(http, "status_code", None) == 503 or code in THROTTLING_CODES:
                with self._changed:
                    self.throttled_attempts += 1
                self.record(throttled=True)

        # One registration per client and limit, however often an invocation calls this.
        s3.meta.events.register("needs-retry.s3", needs_retry, unique_id=f"s3fanout-throttling-{id(self)}")

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


@functools.cache
def environment_limit(maximum: int) -> ConcurrencyLimit:
    """One limit per execution environment (a Lambda's, a local worker's): throttling seen by one
    invocation slows the next."""
    return ConcurrencyLimit(maximum)
