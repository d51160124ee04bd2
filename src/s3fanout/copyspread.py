"""Copy traffic spread over the key space: each copy batch is put on the copy queue with a delay,
up to the time the copiers will need for the copy work of the job that is queued or still to come.

Listing runs several times faster than copying, so the copy queue's backlog is in the order the
keys were listed: a lister walks its range in key order, and the listers of a job start on
neighbouring ranges (split-off parts are adjacent). A standard queue hands the backlog out roughly
in that order, so the copiers would write to one or two of the destination's prefix partitions at
a time, each capped at about 3,500 writes a second, however many copiers run (bench/scale: uniform
keys, 100M objects, 5 h 33 min instead of 35). A batch that joins a long backlog waits that long
anyway; delaying it by a share of that wait changes little for the job's end, but it shuffles the
backlog, so that each copier's next batch comes from anywhere in the key space.

The horizon is the copiers' best time (``copiers``, the stack's CopyMaxConcurrency, x
COPIER_BATCHES_PER_SECOND) for the batches waiting on the copy queue (visible or delayed) and,
once those make a second's work, for those still to be listed: a part's batches
(lister.BATCHES_PER_PART) for each list task waiting on the list queue, half as many for each
being listed.
Without that forecast the first batches of a large job, sent while little waits, would get short
delays and be copied first, and the last ones long delays: the copy order would still follow the
listing order, and a key set listed unevenly (hexadecimal keys, seed ranges of two characters
each) would be copied one partition after another. The threshold keeps a small job, whose
few seed ranges may all be empty, copying at once. The backlog is looked up (one
GetQueueAttributes a queue) at most every LOOK_EVERY_MS of a lister's time; local mode, whose few
workers cannot reach a partition's limit, never spreads.

The delays are not drawn independently: each lister walks a golden-ratio sequence over the horizon
(the next batch's share of it is the last one's plus 0.618..., modulo 1), so that its delays cover
the horizon evenly at every scale instead of in the clumps that independent draws make: the
copiers work close to the partitions' limit, and a partition that draws more than its share for a
while is throttled while others idle.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import NamedTuple

# SQS's longest DelaySeconds.
SQS_MAX_DELAY_SECONDS = 900
# A copier's best pace: a batch of 100 small objects, 16 copies in flight, ~30 ms a copy.
COPIER_BATCHES_PER_SECOND = 5
# The golden ratio's fractional part: adding it modulo 1 gives the most even sequence there is.
GOLDEN_STEP = 0.6180339887498949
# How often a lister asks the copy queue how many batches wait (a lister's time, from remaining_ms).
LOOK_EVERY_MS = 1_000


def spread_delays(count: int, horizon: int, phase: float) -> tuple[list[int], float]:
    """Delays in whole seconds (0 to ``horizon``) for ``count`` batches, going on along the
    golden-ratio sequence from ``phase`` (in [0, 1)); and the phase to go on from."""
    delays = []
    for _ in range(count):
        phase = (phase + GOLDEN_STEP) % 1.0
        delays.append(int(phase * (horizon + 1)))
    return delays, phase


class Backlog(NamedTuple):
    """What a lister reads of the job's queues: copy batches waiting (visible or delayed), and
    copy batches still to come (forecast from the list tasks still open)."""

    waiting: int
    coming: int = 0


def spread_horizon(backlog: Backlog, copiers: int) -> int:
    """Seconds over which new copy batches are spread: how long ``copiers`` copiers take at best
    for the batches waiting and, once those make a second's work, for those to come; at most SQS's
    longest delay (0 without copiers)."""
    if copiers <= 0:
        return 0
    pace = copiers * COPIER_BATCHES_PER_SECOND
    batches = backlog.waiting + (backlog.coming if backlog.waiting >= pace else 0)
    return min(SQS_MAX_DELAY_SECONDS, batches // pace)


class CopySpread:
    """The delays of one lister's copy batches. ``backlog()`` reads the job's queues;
    ``remaining_ms()`` is the invocation's clock. The horizon is looked up again when
    LOOK_EVERY_MS have passed since the last look."""

    def __init__(self, backlog: Callable[[], Backlog], copiers: int, remaining_ms: Callable[[], int], rng: random.Random | None = None) -> None:
        self._backlog, self._copiers, self._remaining_ms = backlog, copiers, remaining_ms
        # Where this lister's sequence starts: listers start apart.
        self._phase = (rng or random.Random()).random()
        self._looked_at: int | None = None
        self._horizon = 0
        self.looks = 0

    def horizon(self) -> int:
        now = self._remaining_ms()
        if self._looked_at is None or self._looked_at - now >= LOOK_EVERY_MS:
            self._looked_at = now
            self.looks += 1
            self._horizon = spread_horizon(self._backlog(), self._copiers)
        return self._horizon

    def delays(self, count: int) -> list[int]:
        """A delay in whole seconds for each of ``count`` batches about to be sent."""
        horizon = self.horizon()
        if not horizon:
            return [0] * count
        delays, self._phase = spread_delays(count, horizon, self._phase)
        return delays
