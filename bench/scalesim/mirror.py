"""One lister invocation on the model: list_range's loop, mirrored, timed in simulated ms.

list_range itself cannot run over 100M keys in Python, so its loop is re-written here on ranks
instead of keys: page, send, hand on near the timeout, survey every SURVEY_EVERY_PAGES pages, go
on with the first part after a split. What it does not re-write is the decision to split: that is
the project's ``lister.split_policy``, given the page's real keys and probes answered by the
model. ``bench/scale --verify`` (verify.py) checks the mirror against the real list_range.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

from s3fanout.copyspread import LOOK_EVERY_MS, Backlog, batches_per_task, spread_horizon
from s3fanout.keyspace import KeyRange
from s3fanout.lister import BATCHES_PER_PART, SURVEY_EVERY_PAGES, first_survey_page, split_plan

from .assumptions import Assumptions
from .model import PAGE_KEYS, KeySet


@dataclass(frozen=True, slots=True)
class Task:
    after: str | None
    until: str | None
    lo: int  # rank of the first key of the range
    hi: int  # rank after its last key
    resumed: int = 0
    split: bool = True  # this project's design (False: the 95-range design, no splitting)
    expected: int | None = None  # the keys its splitter or seeder expected it to hold (ListTask.expected_keys)
    hops: int = 0  # ListTask.hops: 0 for a seed range


@dataclass
class Counters:
    list_pages: int = 0  # source pages, including the empty page that ends a range cut at a page
    dest_lists: int = 0  # destination LISTs (empty destination: one per listing started)
    probes: int = 0  # survey probes (ListObjectsV2 MaxKeys=1)
    surveys: int = 0
    splits: int = 0
    split_off: int = 0  # tasks split off to other listers
    hand_ons: int = 0
    invocations: int = 0
    keys: int = 0
    records: int = 0  # copy batches (SQS messages)
    copy_sends: int = 0  # SendMessageBatch requests to the copy queue
    list_sends: int = 0  # SendMessageBatch requests to the list queue (splits, hand-ons)
    lister_ms: int = 0  # billed lister time
    empty_split_off: int = 0  # split-off tasks whose range held no key
    looks: int = 0  # GetQueueAttributes on the copy queue (copyspread.CopySpread)
    largest_task_keys: int = 0  # most keys any one list task started with
    probes_per_survey: dict[int, int] = field(default_factory=dict)


@dataclass
class Invocation:
    end_ms: int
    # (elapsed ms, first rank, end rank, flush after, seconds over which its batches are spread)
    emits: list[tuple[int, int, int, bool, int]]
    new_tasks: list[tuple[int, Task]]  # (elapsed ms at which it is visible on the list queue, task)


# An invocation as it runs: it yields the elapsed ms at which it looks at the copy queue (as
# copyspread.CopySpread does), is sent the job's Backlog then, and returns the
# whole Invocation at its end. What it
# has sent before each look is already in the lister's ``emits`` and ``new_tasks``.
Running = Generator[int, Backlog, Invocation]
NOTHING_QUEUED = Backlog(0)


def start_invocation(task: Task, ks: KeySet, a: Assumptions, c: Counters) -> tuple[Running, Invocation]:
    """One lister invocation with ``task``, as list_range runs it, timed in ms: the generator, and
    the Invocation it fills as it goes."""
    lister = _Lister(task, ks, a, c)
    return lister.run(), lister.sent


def run_invocation(task: Task, ks: KeySet, a: Assumptions, c: Counters, backlog: Backlog = NOTHING_QUEUED) -> Invocation:
    """A whole invocation, the job's queues holding ``backlog`` whenever it looks."""
    running, _ = start_invocation(task, ks, a, c)
    try:
        next(running)
        while True:
            running.send(backlog)
    except StopIteration as stop:
        return stop.value


def split_decision(ks: KeySet, task: Task, page: list[str]) -> tuple[list[KeyRange], int, int]:
    """lister.split_plan on a page of real keys, its probes answered by the model: the parts it
    cuts the rest of the task's range into, the keys it expects in each, and the probes it made."""
    probes = 0

    def exists_after(key: str) -> bool:
        nonlocal probes
        probes += 1
        return ks.exists_after(key, task.until)

    parts, part_keys = split_plan(page, KeyRange(page[-1], task.until), exists_after)
    return parts, part_keys, probes


class _Lister:
    """One invocation's clock (``t``, ms since it started), what it sends and the tasks it queues."""

    def __init__(self, task: Task, ks: KeySet, a: Assumptions, c: Counters) -> None:
        self.task, self.ks, self.a, self.c = task, ks, a, c
        self.t = 0
        self.sent = Invocation(0, [], [])
        self.emits = self.sent.emits
        self.new_tasks = self.sent.new_tasks
        self.timeout = a.lister_timeout_s * 1000
        self.page_ms = a.list_page_ms + a.sqs_send_ms
        self.compare = a.compare and task.split  # the original design copies without comparing
        self.current = task
        self.pages_to_survey = first_survey_page(task.expected)
        self.spread = task.split and a.copy_spread  # the original design sent batches undelayed
        self.looked_at: int | None = None
        self.backlog = NOTHING_QUEUED  # what the last look found
        self.per_task = batches_per_task(task.expected if task.hops else None, BATCHES_PER_PART)  # CopySpread.expect

    def run(self) -> Running:
        self.c.invocations += 1
        self.c.largest_task_keys = max(self.c.largest_task_keys, self.task.hi - self.task.lo)
        while (yield from self._list_current()):  # one pass per listing started (the task's, then the first part after each split)
            pass
        return self._finish()

    def _list_current(self) -> Generator[int, Backlog, bool]:
        """List the current range until it ends, time runs short or it is split; True after a split."""
        current, a, c = self.current, self.a, self.c
        lo, hi = current.lo, current.hi
        if hi <= lo:  # an empty range: one LIST finds nothing, and merge_join lists the destination
            self.t += a.list_page_ms
            c.list_pages += 1
            if self.compare:
                self.t += a.list_page_ms
                c.dest_lists += 1
            return False
        if self.compare:  # merge_join lists the destination at the first source key
            self.t += a.list_page_ms
            c.dest_lists += 1
        pos = lo
        while True:
            k, page_start, end = yield from self._list_pages(pos, hi)
            pos = end
            if pos >= hi and self._range_ended(page_start, end, hi):
                return False
            if self.timeout - self.t < a.stop_margin_ms:
                self._hand_on(pos)
                return False
            if self.task.split:
                self.pages_to_survey -= k
                if self.pages_to_survey <= 0:
                    self.pages_to_survey = SURVEY_EVERY_PAGES
                    parts, part_keys = self._survey(page_start, pos)
                    if len(parts) > 1:
                        self.current = self._split(pos, parts, part_keys)
                        self.pages_to_survey = first_survey_page(part_keys)
                        return True
            if pos >= hi:  # the LIST past the range's end
                self.t += a.list_page_ms
                c.list_pages += 1
                return False

    def _list_pages(self, pos: int, hi: int) -> Generator[int, Backlog, tuple[int, int, int]]:
        """The pages from rank ``pos`` up to the next point where list_range looks up from its
        listing (a survey, the hand-on check firing, or the range's end), each page's keys sent as
        it is listed. Returns how many pages, the rank of the last one's first key and the rank
        after its last key."""
        pages_left = -(-(hi - pos) // PAGE_KEYS)
        # Pages until the hand-on check (remaining < margin, after each page) first fires.
        until_deadline = max(1, (self.timeout - self.a.stop_margin_ms - self.t) // self.page_ms + 1)
        k = min(self.pages_to_survey if self.task.split else pages_left, pages_left, until_deadline)
        page_start = pos + (k - 1) * PAGE_KEYS  # every page but a range's last is full
        end = min(hi, pos + k * PAGE_KEYS)
        for first in range(pos, end, PAGE_KEYS):  # each page's batches are sent as it is listed
            self.t += self.page_ms
            if self.spread and (self.looked_at is None or self.t - self.looked_at >= LOOK_EVERY_MS):
                self.looked_at = self.t
                self.c.looks += 1
                self.backlog = yield self.t
            horizon = spread_horizon(self.backlog, self.a.copy_max_concurrency, self.per_task) if self.spread else 0
            self.emits.append((self.t, first, min(end, first + PAGE_KEYS), False, horizon))
        self.c.list_pages += k
        return k, page_start, end

    def _range_ended(self, page_start: int, end: int, hi: int) -> bool:
        """Whether S3 marks the range's last page last: it does unless the range ends on a full
        page with keys after it (and ``until`` itself is not a key); then the group is not last,
        and one more LIST finds only keys past the range."""
        full = end - page_start == PAGE_KEYS
        return not (self.task.split and full and hi < self.ks.n and self.current.until is not None and self.ks.key(hi - 1) != self.current.until)

    def _survey(self, first: int, end: int) -> tuple[list[KeyRange], int]:
        parts, part_keys, probes = split_decision(self.ks, self.current, self.ks.keys(first, end - first))
        c = self.c
        c.probes += probes
        if probes:
            c.surveys += 1
            c.probes_per_survey[probes] = c.probes_per_survey.get(probes, 0) + 1
        self.t += probes * self.a.probe_ms
        return parts, part_keys

    def _split(self, pos: int, parts: list[KeyRange], part_keys: int) -> Task:
        """Parts 2.. go to other listers; this lister goes on with part 1, listing it afresh."""
        ks, c = self.ks, self.c
        c.splits += 1
        c.split_off += len(parts) - 1
        c.list_sends += 1
        for part in parts[1:]:
            new = Task(part.after, part.until, ks.rank(part.after), ks.upper(part.until), 0, True, part_keys, self.current.hops + 1)
            c.empty_split_off += new.hi <= new.lo
            self.new_tasks.append((self.t, new))
        self.per_task = batches_per_task(part_keys if parts[-1].until is not None else None, BATCHES_PER_PART)
        first = parts[0]
        return Task(ks.key(pos - 1), first.until, pos, ks.upper(first.until), self.current.resumed, True)

    def _hand_on(self, pos: int) -> None:
        current = self.current
        self.c.hand_ons += 1
        self.c.list_sends += 1
        self.new_tasks.append((self.t, Task(self.ks.key(pos - 1), current.until, pos, current.hi, current.resumed + 1, self.task.split)))

    def _finish(self) -> Invocation:
        if self.emits:
            self.emits[-1] = (*self.emits[-1][:3], True, self.emits[-1][4])  # the packer's partial batch is flushed
        self.c.lister_ms += self.t
        self.sent.end_ms = self.t
        return self.sent
