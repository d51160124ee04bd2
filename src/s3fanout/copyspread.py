"""Copy traffic spread over the key space: each copy batch is put on the copy queue with a random
delay, up to the time the copiers need for the batches already queued ahead of it.

Listing runs several times faster than copying, so the copy queue's backlog is in the order the
keys were listed: a lister walks its range in key order, and the listers of a job start on
neighbouring ranges (split-off parts are adjacent). A standard queue hands the backlog out roughly
in that order, so the copiers would write to one or two of the destination's prefix partitions at
a time, each capped at about 3,500 writes a second, however many copiers run (bench/scale: uniform
keys, 100M objects, 5 h 33 min instead of 35). A batch that joins a long backlog waits that long
anyway; delaying it by a random share of that wait changes little for the job's end, but it
shuffles the backlog, so that each copier's next batch comes from anywhere in the key space.

The wait is the backlog (batches visible or delayed) over the copiers' best pace: ``copiers``
(the stack's CopyMaxConcurrency) x COPIER_BATCHES_PER_SECOND. That pace is rarely reached, so
the horizon errs short, and copiers are not left idle waiting for delayed batches. The backlog is
looked up (one GetQueueAttributes) at most every LOOK_EVERY_MS of a lister's time. With little
waiting the horizon is 0, so a small job copies at once; local mode, whose few workers cannot
reach a partition's limit, never spreads.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# SQS's longest DelaySeconds.
SQS_MAX_DELAY_SECONDS = 900
# A copier's best pace: a batch of 100 small objects, 16 copies in flight, ~30 ms a copy.
COPIER_BATCHES_PER_SECOND = 5
# How often a lister asks the copy queue how many batches wait (a lister's time, from remaining_ms).
LOOK_EVERY_MS = 1_000

def spread_horizon(waiting: int, copiers: int) -> int:
    """Seconds over which new copy batches are spread: how long ``copiers`` copiers take at best
    for the ``waiting`` batches, at most SQS's longest delay (0 without copiers)."""
    if copiers <= 0:
        return 0
    return min(SQS_MAX_DELAY_SECONDS, waiting // (copiers * COPIER_BATCHES_PER_SECOND))


class CopySpread:
    """The delays of one lister's copy batches. ``waiting()`` counts the batches on the copy
    queue (visible or delayed); ``remaining_ms()`` is the invocation's clock. The horizon is
    looked up again when LOOK_EVERY_MS have passed since the last look."""

    def __init__(self, waiting: Callable[[], int], copiers: int, remaining_ms: Callable[[], int], rng: random.Random | None = None) -> None:
        self._waiting, self._copiers, self._remaining_ms = waiting, copiers, remaining_ms
        self._rng = rng or random.Random()
        self._looked_at: int | None = None
        self._horizon = 0
        self.looks = 0

    def horizon(self) -> int:
        now = self._remaining_ms()
        if self._looked_at is None or self._looked_at - now >= LOOK_EVERY_MS:
            self._looked_at = now
            self.looks += 1
            self._horizon = spread_horizon(self._waiting(), self._copiers)
        return self._horizon

    def delays(self, count: int) -> list[int]:
        """A delay in whole seconds for each of ``count`` batches about to be sent."""
        horizon = self.horizon()
        return [self._rng.randint(0, horizon) if horizon else 0 for _ in range(count)]
