"""How many copies a copier has in flight: an AIMD limit that S3's throttling lowers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from s3fanout.s3errors import THROTTLING_CODES

# Copies in flight per copier (COPY_CONCURRENCY, --concurrency).
DEFAULT_CONCURRENCY = 16

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

        # One registration per client and limit, however often (and from however many of a
        # copier's record threads at once) this is called.
        with _WATCHING:
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
                # One slot is free: the copy that has waited longest takes it (the copies of a
                # copier's records take turns), and no other waiter wakes for nothing.
                self._changed.notify()

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
                    # One more slot: one more waiter may take it. (Waking every waiter on every
                    # copy cost a copier working ten records at once more CPU than its copies.)
                    self._changed.notify()


# Held while a limit is made or hooked to a client: a copier's record threads may do either at once.
_WATCHING = threading.Lock()
_ENVIRONMENT_LIMITS: dict[int, ConcurrencyLimit] = {}


def environment_limit(maximum: int) -> ConcurrencyLimit:
    """One limit per execution environment (a Lambda's, a local worker's), shared by the records a
    copier works at once: throttling seen by one invocation slows the next."""
    with _WATCHING:
        if maximum not in _ENVIRONMENT_LIMITS:
            _ENVIRONMENT_LIMITS[maximum] = ConcurrencyLimit(maximum)
        return _ENVIRONMENT_LIMITS[maximum]


def forget_environment_limits() -> None:
    """A new execution environment's limits from now on (for tests)."""
    with _WATCHING:
        _ENVIRONMENT_LIMITS.clear()
