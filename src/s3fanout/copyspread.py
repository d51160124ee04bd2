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
once those make a second's work, for those still to be listed: for each list task waiting on the
list queue, as many batches as the lister expects its own task to send (``CopySpread.expect``: a
part's, lister.BATCHES_PER_PART, at least; a seed range's or a large part's estimate), half as many
for each being listed. A job's first tasks are its largest, and the listers of a large job list
its seed ranges and first parts while little waits: counted as parts, the work still to come
looked small, their batches got short delays and were copied first, in the order those few
listers reached the key space.
Without that forecast the first batches of a large job, sent while little waits, would get short
delays and be copied first, and the last ones long delays: the copy order would still follow the
listing order, and a key set listed unevenly (hexadecimal keys, seed ranges of two characters
each) would be copied one partition after another. The threshold keeps a small job, whose
few seed ranges may all be empty, copying at once. The backlog is looked up (one
GetQueueAttributes a queue) at most every LOOK_EVERY_MS of a lister's time; local mode, whose few
workers cannot reach a partition's limit, never spreads.

The copy queue hands out its backlog first in, first out, so the batches that become visible
last are copied last. A large job is listed in a minute or two, and a batch listed at time t can
only be visible from t to t + 900 s: without more, the batches visible after 900 s would all come
from the last few listers, and the job's last copies would reach only the prefixes those listed
(bench/scale: uniform keys, 100M objects, the last 100 s copying at a third of the pace). So the
listers of a job's first 900 s (``ListTask.seeded_at``) aim every batch at that one window
(``within_window``): a batch listed late in it is delayed at most to its end, and the backlog
visible at its end is as mixed as the rest.

The delays are not drawn independently: each lister walks a golden-ratio sequence over the horizon
(the next batch's share of it is the last one's plus 0.618..., modulo 1), so that its delays cover
the horizon evenly at every scale instead of in the clumps that independent draws make: the
copiers work close to the partitions' limit, and a partition that draws more than its share for a
while is throttled while others idle.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import NamedTuple

from s3fanout.messages import COPY_BATCH_MAX_KEYS

# SQS's longest DelaySeconds.
SQS_MAX_DELAY_SECONDS = 900
# A copier's best pace: a batch of 100 small objects, 16 copies in flight, ~30 ms a copy.
COPIER_BATCHES_PER_SECOND = 5
# The golden ratio's fractional part: adding it modulo 1 gives the most even sequence there is.
GOLDEN_STEP = 0.6180339887498949
# The most copy batches an open list task is forecast to send: a part of the largest split
# (lister.MAX_PARTS x KEYS_PER_PART keys). Estimates from a page's density can be far off; one
# must not stretch a small job's delays.
MOST_BATCHES_PER_TASK = 2_000
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
    the list tasks still open, those being listed counted as half a task (half their work is
    still to come, on average)."""

    waiting: int
    tasks: float = 0.0


def spread_horizon(backlog: Backlog, copiers: int, batches_per_task: int) -> int:
    """Seconds over which new copy batches are spread: how long ``copiers`` copiers take at best
    for the batches waiting and, once those make a second's work, for those to come
    (``batches_per_task`` for each open task); at most SQS's longest delay (0 without copiers)."""
    if copiers <= 0:
        return 0
    pace = copiers * COPIER_BATCHES_PER_SECOND
    batches = backlog.waiting + (int(backlog.tasks * batches_per_task) if backlog.waiting >= pace else 0)
    return min(SQS_MAX_DELAY_SECONDS, batches // pace)


def within_window(horizon: int, seconds_left: float | None) -> int:
    """``horizon`` shortened to the seconds left of the job's window (None, or none left: not
    shortened), never below one second: a batch sent with a delay stays spread."""
    if seconds_left is None or seconds_left <= 0 or not horizon:
        return horizon
    return max(1, min(horizon, int(seconds_left)))


def batches_per_task(keys: int | None, least: int) -> int:
    """The copy batches forecast for each open list task when the lister's own is expected to
    hold ``keys`` keys (None: unknown): as many as it would send, never fewer than ``least`` nor
    more than MOST_BATCHES_PER_TASK."""
    return max(least, min(MOST_BATCHES_PER_TASK, 0 if keys is None else -(-keys // COPY_BATCH_MAX_KEYS)))


class CopySpread:
    """The delays of one lister's copy batches. ``backlog()`` reads the job's queues;
    ``remaining_ms()`` is the invocation's clock; each open list task is forecast to send
    ``batches_per_task`` copy batches until the lister says otherwise (``expect``). The horizon
    is looked up again when LOOK_EVERY_MS have passed since the last look."""

    def __init__(
        self, backlog: Callable[[], Backlog], copiers: int, remaining_ms: Callable[[], int], batches_per_task: int, rng: random.Random | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._backlog, self._copiers, self._remaining_ms, self._clock = backlog, copiers, remaining_ms, clock
        self._least_per_task = self.batches_per_task = batches_per_task
        self.window_end: float | None = None
        # Where this lister's sequence starts: listers start apart.
        self._phase = (rng or random.Random()).random()
        self._looked_at: int | None = None
        self._last = Backlog(0)
        self.looks = 0

    def expect(self, keys: int | None) -> None:
        """The lister's task (or the part it goes on with) is expected to hold ``keys`` keys
        (None: unknown): the open tasks are forecast as like it (``batches_per_task``)."""
        self.batches_per_task = batches_per_task(keys, self._least_per_task)

    def aim(self, seeded_at: int | None) -> None:
        """The job was seeded at ``seeded_at`` (seconds since the epoch; None: unknown): while its
        window (SQS's longest delay from then) lasts, no batch is delayed past its end."""
        self.window_end = None if seeded_at is None else seeded_at + SQS_MAX_DELAY_SECONDS

    def horizon(self) -> int:
        now = self._remaining_ms()
        if self._looked_at is None or self._looked_at - now >= LOOK_EVERY_MS:
            self._looked_at = now
            self.looks += 1
            self._last = self._backlog()
        horizon = spread_horizon(self._last, self._copiers, self.batches_per_task)
        return within_window(horizon, None if self.window_end is None else self.window_end - self._clock())

    def delays(self, count: int) -> list[int]:
        """A delay in whole seconds for each of ``count`` batches about to be sent."""
        horizon = self.horizon()
        if not horizon:
            return [0] * count
        delays, self._phase = spread_delays(count, horizon, self._phase)
        return delays
