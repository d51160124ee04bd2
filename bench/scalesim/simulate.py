"""The deployed run, played as a discrete-event simulation on a modelled bucket.

SQS event sources start listers and copiers as Lambda invocations, scaling by +300 executions a
minute up to the template's MaximumConcurrency. A lister invocation is computed whole by the
mirrored list_range (mirror.py), and its copy batches and list tasks arrive on the queues at the
times it sent them. A copier copies the records (copy batches) of an invocation at once, their
keys sharing its COPY_CONCURRENCY copies in flight (``--copier-records sequential``: one record
after another, each with all of them, as copiers did before December 2026), and S3's write limit
per prefix partition is shared by the copies in flight on that partition (processor sharing).

The pieces: ``Events`` (the clock and what happens next), ``PartitionWrites`` (S3's side of
copying), ``CopierFleet`` and ``ListerFleet`` (the two functions behind their event sources),
``SqsTally`` (requests and billed units), ``DeployedRun`` (wires them and plays a run) and
``run_cost`` (prices it).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from s3fanout.copyspread import SQS_MAX_DELAY_SECONDS, Backlog, spread_delays, within_window
from s3fanout.estimate import JobPlan, Prices, estimate_cost
from s3fanout.job import JobSpec, fitted_ranges, list_tasks
from s3fanout.messages import COPY_BATCH_MAX_KEYS, CopyBatchPacker, CopyItem
from s3fanout.queues import MAX_ENTRIES_PER_BATCH

from .assumptions import Assumptions, object_size_mean
from .mirror import Counters, Invocation, Running, Task, start_invocation
from .model import ETAG, PAGE_KEYS, PRINTABLE_ASCII, KeySet, ModelS3, make_keyset

SQS_BILLING_CHUNK = 64 * 1024  # SQS bills every 64 KiB of a request as one request
DESIGNS = {"project": "this project (seed_ranges + splitting)", "ascii95": "95 printable-ASCII ranges, no splitting"}


def sqs_units(nbytes: int) -> int:
    """Billed SQS requests for one request of ``nbytes``."""
    return max(1, -(-nbytes // SQS_BILLING_CHUNK))


@dataclass
class Batching:
    """Copy batches as the project packs them, measured on a sample of the key set's keys."""

    keys_per_batch: int
    bytes_per_batch: int

    @classmethod
    def measure(cls, ks: KeySet, object_size: int) -> Batching:
        sample = [k for s in ks.segments for k in s.keys(0, 300)]
        packer = CopyBatchPacker("20260101-000000-abcdef", "source-bucket-name", "destination-bucket-name")
        batches = [b for k in sample for b in packer.add(CopyItem(k, object_size, ETAG))]
        full = batches or packer.flush()
        return cls(min(len(b.items) for b in full), max(len(b.to_json().encode()) for b in full))


class CopyQueue:
    """The copy queue's backlog as (partition, records, keys per record) runs. SQS standard queues
    deliver in roughly the order sent ("fifo"); "random" instead fills each receive from a
    partition drawn in proportion to its backlog, as a queue that shuffled its backlog would."""

    def __init__(self, order: str, partitions: int) -> None:
        if order not in ("fifo", "random"):
            raise ValueError(f"copy_queue_order must be fifo or random, not {order!r}")
        self.order = order
        self.records = 0
        self.fifo: deque[list[int]] = deque()
        self.by_partition: list[deque[list[int]]] = [deque() for _ in range(partitions)]
        self.backlog = [0] * partitions
        self.random = random.Random(1)

    def __bool__(self) -> bool:
        return self.records > 0

    def put(self, partition: int, records: int, keys: int) -> None:
        self.records += records
        if self.order == "fifo":
            self.fifo.append([partition, records, keys])
        else:
            self.by_partition[partition].append([partition, records, keys])
            self.backlog[partition] += records

    def take(self, n: int) -> list[tuple[int, int, int]]:
        out: list[tuple[int, int, int]] = []
        while self.records and n:
            if self.order == "fifo":
                runs = self.fifo
            else:
                pick = self.random.randrange(self.records)
                for partition, count in enumerate(self.backlog):  # noqa: B007 - the partition found is used after the loop
                    if pick < count:
                        break
                    pick -= count
                runs = self.by_partition[partition]
            while runs and n:
                run = runs[0]
                k = min(run[1], n)
                out.append((run[0], k, run[2]))
                run[1] -= k
                n -= k
                self.records -= k
                if self.order == "random":
                    self.backlog[run[0]] -= k
                if run[1] == 0:
                    runs.popleft()
        return out


class EventSource:
    """Lambda's SQS event source: starts with a few executions, adds esm_scale_per_minute a minute
    while messages wait, never more than MaximumConcurrency."""

    def __init__(self, maximum: int, a: Assumptions) -> None:
        self.maximum = maximum
        self.initial = min(maximum, a.esm_initial_concurrency)
        self.per_minute = a.esm_scale_per_minute
        self.since: float | None = None
        self.active = 0
        self.peak = 0
        self.tick_pending = False

    def allowed(self, now: float) -> int:
        if self.since is None:
            return self.initial
        return min(self.maximum, self.initial + int(self.per_minute * (now - self.since) / 60_000))

    def next_step(self) -> float:
        assert self.since is not None
        return self.since + math.ceil((self.allowed_count_after() - self.initial) * 60_000 / self.per_minute)

    def allowed_count_after(self) -> int:
        return self.active + 1


@dataclass
class Partition:
    label: str
    v: float = 0.0  # virtual time: unthrottled copy-ms each item on it has received
    last: float = 0.0
    demand: float = 0.0  # keys/ms the items on it would copy unthrottled
    share: float = 1.0  # fraction of that demand S3 allows
    version: int = 0
    items: list[tuple[float, int, int, float]] = field(default_factory=list)  # (v at finish, seq, copier, rate)
    copies: int = 0
    throttled_item_ms: float = 0.0


@dataclass
class RunResult:
    design: str
    listing_done_s: float
    copying_done_s: float
    peak_listers: int
    peak_copiers: int
    keys_listed: int
    keys_copied: int
    keys_never_listed: int
    list_tasks: int
    lister_invocations: int
    splits: int
    split_off: int
    hand_ons: int
    empty_split_off: int
    largest_task_keys: int
    surveys: int
    probes_per_survey: dict[int, int]
    list_pages: int
    dest_lists: int
    probes: int
    copy_requests: int
    copy_batches: int
    copier_invocations: int
    sqs_requests: int
    sqs_billed: int
    lister_gb_s: float
    copier_gb_s: float
    throttled_share: float  # of copier time, the share spent on a partition at its write limit
    busy_partitions: float  # partitions with copies in flight, on average while copying
    copier_overruns: int  # copier invocations that ran longer than the copier timeout
    longest_copier_s: float
    hottest_partition: str
    hottest_partition_copies: int
    # The least copying can take: the busiest partition at its write limit, or every copier busy.
    copying_floor_s: float
    # The same with the copiers the event source allows as it scales up from a few.
    scaled_floor_s: float
    cost: dict[str, float]
    cost_usd: float
    dry_run_estimate_usd: float | None
    sim_seconds: float


class Events:
    """The simulated clock and the events still to happen, in time order (ties: first pushed first)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = itertools.count(1)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def at(self, when: float, handler: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), handler, args))

    def play(self) -> None:
        """Run every event, each at its time, including the events they add."""
        while self._heap:
            self.now, _, handler, args = heapq.heappop(self._heap)
            handler(*args)


class PartitionWrites:
    """S3's side of copying: each partition's write limit, shared by the copies in flight on it.

    An item (the keys of one record, copied by one copier) progresses in a partition's virtual
    time at its share of the partition's limit; once it has had its unthrottled copy time it is
    done, and ``on_done`` is told the partition and the copiers whose items on it are done."""

    def __init__(self, labels: list[str], writes_per_s: float, events: Events, on_done: Callable[[int, list[int]], None]) -> None:
        self.parts = [Partition(label) for label in labels]
        self.cap = writes_per_s / 1000 if writes_per_s > 0 else math.inf  # keys/ms
        self.events = events
        self.on_done = on_done
        self._seq = itertools.count(1)
        self.busy = 0  # partitions with copies in flight
        self.busy_ms = 0.0  # their integral over time
        self._busy_since = 0.0

    def start(self, index: int, keys: int, ms: float, copier: int) -> None:
        """``copier`` starts copying ``keys`` keys on partition ``index``, ``ms`` unthrottled."""
        p = self.parts[index]
        self._advance(p)
        if not p.items:
            self._account()
            self.busy += 1
        rate = keys / ms
        p.demand += rate
        p.copies += keys
        heapq.heappush(p.items, (p.v + ms, next(self._seq), copier, rate))
        self._reschedule(p, index)

    def _items_done(self, index: int, version: int) -> None:
        """The first item of a partition is due (unless the partition changed since)."""
        p = self.parts[index]
        if version != p.version:
            return
        self._advance(p)
        finished = []
        while p.items and p.items[0][0] <= p.v + 1e-6:
            _, _, copier, rate = heapq.heappop(p.items)
            p.demand -= rate
            finished.append(copier)
        if not p.items:
            p.demand = 0.0
            self._account()
            self.busy -= 1
        self._reschedule(p, index)
        self.on_done(index, finished)

    def speed_up(self, copier: int, indexes: set[int], rate: float) -> None:
        """``copier``'s items on the partitions ``indexes`` share ``rate`` (keys/ms unthrottled)
        from now on, each in proportion to its rate so far: the slots a finished record freed
        go to the records still copying. Their keys left are unchanged."""
        mine = []
        for index in indexes:
            p = self.parts[index]
            self._advance(p)
            mine += [(index, item) for item in p.items if item[2] == copier]
        total = sum(item[3] for _, item in mine)
        if not mine or rate <= total * (1 + 1e-9):
            return
        factor = rate / total
        for index in indexes:
            p = self.parts[index]
            items = []
            for finish, seq, owner, item_rate in p.items:
                if owner == copier:
                    p.demand += item_rate * (factor - 1)
                    finish, item_rate = p.v + (finish - p.v) / factor, item_rate * factor
                items.append((finish, seq, owner, item_rate))
            heapq.heapify(items)
            p.items = items
            self._reschedule(p, index)

    def _advance(self, p: Partition) -> None:
        now = self.events.now
        if p.items:
            dt = now - p.last
            p.v += p.share * dt
            if p.share < 1.0:
                p.throttled_item_ms += dt * len(p.items)
        p.last = now

    def _reschedule(self, p: Partition, index: int) -> None:
        p.share = 1.0 if p.demand <= self.cap else self.cap / p.demand
        p.version += 1
        if p.items:
            self.events.at(self.events.now + max(0.0, p.items[0][0] - p.v) / p.share, self._items_done, index, p.version)

    def _account(self) -> None:
        now = self.events.now
        self.busy_ms += self.busy * (now - self._busy_since)
        self._busy_since = now


@dataclass
class SqsTally:
    requests: int = 0  # seeding, receives and deletes (listers and copiers)
    billed: int = 0
    copy_sends: int = 0  # SendMessageBatch to the copy queue
    copy_billed: int = 0


class CopierFleet:
    """The copy function behind its event source: invocations take up to copy_batch_size records
    and copy them at once (or one after another), each record's keys on its partition.

    At once, every record progresses at the pace the invocation's whole set of keys allows
    (ceil(keys / copy_concurrency) rounds of copies), so that unthrottled all end together; a
    record on a throttled partition keeps the invocation going until it is done, and gets the
    slots the others freed as they end (``PartitionWrites.speed_up``), as the copier's one
    ConcurrencyLimit hands each freed slot to the copy that has waited longest."""

    def __init__(self, a: Assumptions, events: Events, queue: CopyQueue, ks: KeySet, sqs: SqsTally, bytes_per_batch: int) -> None:
        self.a = a
        self.events = events
        self.queue = queue
        self.sqs = sqs
        self.bytes_per_batch = bytes_per_batch
        self.copy_ms = a.copy_ms()
        self.source = EventSource(a.copy_max_concurrency, a)
        self.writes = PartitionWrites(ks.partition_labels, a.partition_writes_per_s, events, self._items_done)
        self.work: dict[int, deque[tuple[int, int, float]]] = {}  # copier -> (partition, keys, ms) still to start
        self.outstanding: dict[int, int] = {}  # copier -> its records in flight
        self.partitions_of: dict[int, list[int]] = {}  # copier -> the partition of each record in flight (at once)
        self.started: dict[int, float] = {}
        self.last_id = 0
        self.invocations = 0
        self.busy_ms = 0.0  # billed copier time
        self.longest_ms = 0.0
        self.overruns = 0  # invocations longer than the copier timeout
        self.done_ms = 0.0  # when the last invocation ended
        self.first_copy_ms = math.inf

    def records_queued(self) -> None:
        """Records arrived on the copy queue: the event source starts scaling at the first."""
        if self.source.since is None:
            self.source.since = self.events.now
            self.first_copy_ms = self.events.now

    def start(self) -> None:
        """Start invocations while records wait and the event source allows them."""
        a, now = self.a, self.events.now
        while self.queue and self.source.active < self.source.allowed(now):
            records: list[tuple[int, int, float]] = []  # (partition, keys, unthrottled ms), runs of one partition merged
            taken = 0
            for partition, take, per_record in self.queue.take(a.copy_batch_size):
                keys, ms = take * per_record, take * math.ceil(per_record / a.copy_concurrency) * self.copy_ms
                if records and records[-1][0] == partition:
                    records[-1] = (partition, records[-1][1] + keys, records[-1][2] + ms)
                else:
                    records.append((partition, keys, ms))
                taken += take
            self.sqs.requests += 2  # ReceiveMessage, DeleteMessageBatch
            self.sqs.billed += sqs_units(taken * self.bytes_per_batch) + 1
            self.invocations += 1
            self.last_id += 1
            self.started[self.last_id] = now
            self.source.active += 1
            self.source.peak = max(self.source.peak, self.source.active)
            if a.copier_records == "sequential":
                # One record after another, each with copy_concurrency copies in flight.
                self.work[self.last_id] = deque(records)
                self.outstanding[self.last_id] = 1
                self._next_item(self.last_id)
            else:
                # All records at once, the copy_concurrency copies in flight shared by them: each
                # record's keys take the invocation's whole unthrottled time.
                ms = math.ceil(sum(keys for _, keys, _ in records) / a.copy_concurrency) * self.copy_ms
                self.work[self.last_id] = deque()
                self.outstanding[self.last_id] = len(records)
                self.partitions_of[self.last_id] = [partition for partition, _, _ in records]
                for partition, keys, _ in records:
                    self.writes.start(partition, keys, ms, self.last_id)
        if self.queue and self.source.active < self.source.maximum and not self.source.tick_pending:
            self.source.tick_pending = True
            self.events.at(self.source.next_step(), self._tick)

    def _tick(self) -> None:
        self.source.tick_pending = False
        self.start()

    def _next_item(self, copier: int) -> None:
        partition, keys, ms = self.work[copier].popleft()
        self.writes.start(partition, keys, ms, copier)

    def _items_done(self, index: int, copiers: list[int]) -> None:
        """Each copier whose last record in flight is done goes on with its next record (one
        after another), or its invocation ends; then the freed slots take more records. A
        copier working its records at once gives the slots of a finished one to the others."""
        for copier in copiers:
            self.outstanding[copier] -= 1
            if self.outstanding[copier]:
                if copier in self.partitions_of:
                    left = self.partitions_of[copier]
                    left.remove(index)
                    self.writes.speed_up(copier, set(left), self.a.copy_concurrency / self.copy_ms)
                continue
            if self.work[copier]:
                self.outstanding[copier] = 1
                self._next_item(copier)
            else:
                self._end(copier)
        self.start()

    def _end(self, copier: int) -> None:
        now = self.events.now
        del self.work[copier], self.outstanding[copier]
        self.partitions_of.pop(copier, None)

        took = now - self.started.pop(copier)
        self.busy_ms += took
        self.longest_ms = max(self.longest_ms, took)
        self.overruns += took > self.a.copier_timeout_s * 1000
        self.source.active -= 1
        self.done_ms = max(self.done_ms, now)


@dataclass
class _ListerState:
    running: Running
    invocation: Invocation  # what it has sent so far, complete once it ends
    started: float  # simulated ms
    scheduled_emits: int = 0
    scheduled_tasks: int = 0
    pending: int = 0  # keys in the packer, not yet in a full record
    partition: int = 0  # the partition of the last key packed
    spread_phase: float = 0.0  # where its copy batches' delays are in copyspread's sequence


class ListerFleet:
    """The list function behind its event source: an invocation runs (start_invocation) up to
    each look at the copy queue, which happens at its simulated time; its copy batches and new
    list tasks arrive at the times it sent them."""

    def __init__(self, ks: KeySet, a: Assumptions, c: Counters, events: Events, tasks: list[Task], copiers: CopierFleet, sqs: SqsTally, keys_per_batch: int) -> None:
        self.ks, self.a, self.c = ks, a, c
        self.events = events
        self.queue: deque[Task] = deque(tasks)
        self.copiers = copiers
        self.sqs = sqs
        self.keys_per_batch = keys_per_batch
        self.source = EventSource(a.list_max_concurrency, a)
        self.source.since = 0.0
        self.running: dict[int, _ListerState] = {}
        self.last_id = 0
        self.done_ms = 0.0  # when the last invocation ended
        self.rng = random.Random(3)  # the copy batches' delays
        self.delayed = 0  # copy batches sent with a delay, not visible yet

    def start(self) -> None:
        """Start invocations while tasks wait and the event source allows them."""
        now = self.events.now
        while self.queue and self.source.active < self.source.allowed(now):
            task = self.queue.popleft()
            running, invocation = start_invocation(task, self.ks, self.a, self.c)
            self.sqs.requests += 2
            self.sqs.billed += 2
            self.last_id += 1
            self.running[self.last_id] = _ListerState(running, invocation, now, spread_phase=self.rng.random())
            self.source.active += 1
            self.source.peak = max(self.source.peak, self.source.active)
            self._run(self.last_id, None)
        if self.queue and self.source.active < self.source.maximum and not self.source.tick_pending:
            self.source.tick_pending = True
            self.events.at(self.source.next_step(), self._tick)

    def _run(self, lister: int, backlog: Backlog | None) -> None:
        """Run an invocation on to its next look at the copy queue (or its end), and schedule
        what it sent on the way."""
        state, events = self.running[lister], self.events
        try:
            look = next(state.running) if backlog is None else state.running.send(backlog)
        except StopIteration:
            look = None
        sent = state.invocation
        for i in range(state.scheduled_emits, len(sent.emits)):
            events.at(state.started + sent.emits[i][0], self._send_copies, lister, i)
        for when, new in sent.new_tasks[state.scheduled_tasks :]:
            events.at(state.started + when, self._task_queued, new)
        state.scheduled_emits, state.scheduled_tasks = len(sent.emits), len(sent.new_tasks)
        if look is None:
            events.at(state.started + sent.end_ms, self._end, lister)
        else:
            events.at(state.started + look, self._look, lister)

    def _look(self, lister: int) -> None:
        self.sqs.requests += 1
        self.sqs.billed += 1
        # Copy batches waiting (visible or delayed), and the list tasks open: those being listed
        # count half (as handling.copy_spread counts them).
        self._run(lister, Backlog(self.copiers.queue.records + self.delayed, len(self.queue) + len(self.running) / 2))

    def _tick(self) -> None:
        self.source.tick_pending = False
        self.start()

    def _task_queued(self, task: Task) -> None:
        self.queue.append(task)
        self.start()

    def _end(self, lister: int) -> None:
        del self.running[lister]
        self.source.active -= 1
        self.done_ms = max(self.done_ms, self.events.now)
        self.start()

    def _send_copies(self, lister: int, index: int) -> None:
        """A page's keys into the packer; full records (and the last, partial one) onto the copy
        queue, by partition; one SendMessageBatch per MAX_ENTRIES_PER_BATCH records."""
        ks, kpb, bpb = self.ks, self.keys_per_batch, self.copiers.bytes_per_batch
        state = self.running[lister]
        _, r0, r1, flush, horizon = state.invocation.emits[index]
        pending, partition = state.pending, state.partition
        full_records = 0
        while r0 < r1:
            partition = ks.partition(r0)
            boundary = ks.partition_starts[partition + 1] if partition + 1 < len(ks.partition_starts) else ks.n
            end = min(r1, boundary)
            pending += end - r0
            full, pending = divmod(pending, kpb)
            if full:
                self._put(state, partition, full, kpb, horizon)
                full_records += full
            r0 = end
        sends = -(-full_records // MAX_ENTRIES_PER_BATCH)
        full_sends, last_send = divmod(full_records, MAX_ENTRIES_PER_BATCH)
        billed = full_sends * sqs_units(MAX_ENTRIES_PER_BATCH * bpb) + (sqs_units(last_send * bpb) if last_send else 0)
        if flush and pending:
            self._put(state, partition, 1, pending, horizon)
            full_records += 1
            sends += 1
            billed += 1
            pending = 0
        state.pending, state.partition = pending, partition
        self.sqs.copy_sends += sends
        self.sqs.copy_billed += billed
        self.c.records += full_records

    def _put(self, state: _ListerState, partition: int, records: int, keys: int, horizon: int) -> None:
        """Records onto the copy queue: at once, or each after its own delay of 0 to ``horizon``
        whole seconds (DelaySeconds, as copyspread.CopySpread gives them: within the job's first
        window, the job seeded at 0)."""
        horizon = within_window(horizon, SQS_MAX_DELAY_SECONDS - self.events.now / 1000)
        if not horizon:
            self._visible(partition, keys, records, delayed=False)
            return
        self.delayed += records
        delays, state.spread_phase = spread_delays(records, horizon, state.spread_phase)
        for delay in delays:
            self.events.at(self.events.now + delay * 1000, self._visible, partition, keys, 1)

    def _visible(self, partition: int, keys: int, records: int, delayed: bool = True) -> None:
        self.delayed -= records if delayed else 0
        self.copiers.queue.put(partition, records, keys)
        self.copiers.records_queued()
        self.copiers.start()


def seed_tasks(ks: KeySet, a: Assumptions, design: str, c: Counters) -> list[Task]:
    """The list tasks a job starts with: the project's as the CLI seeds them (job.fitted_ranges on
    the model's first pages and probes, counted in ``c``; in job.list_tasks' order, each with the
    keys it is expected to hold), one per printable ASCII character (not split, not compared) for
    the design it grew from."""
    if design == "project":
        s3 = ModelS3(ks, a, 0)
        spec = fitted_ranges(JobSpec("src", "dst", ranges=a.seed_ranges, compare=a.compare, fit_ranges=True), s3, [s3])
        c.list_pages, c.dest_lists, c.probes = c.list_pages + s3.pages, c.dest_lists + s3.dest_lists, c.probes + s3.probes
        return [Task(t.after, t.until, ks.rank(t.after), ks.upper(t.until), expected=t.expected_keys) for t in list_tasks("bench", spec)]
    return [Task(ch, ch, ks.rank_lt(ch), ks.rank_lt(chr(ord(ch) + 1)), 0, False) for ch in PRINTABLE_ASCII]


class DeployedRun:
    """One job on one key set with one design: the queues, the two fleets, S3's partitions."""

    def __init__(self, ks: KeySet, a: Assumptions, design: str) -> None:
        self.ks, self.a, self.design = ks, a, design
        self.mean_size = object_size_mean(a.object_size)
        batching = Batching.measure(ks, int(self.mean_size))
        self.c = Counters()
        tasks = seed_tasks(ks, a, design, self.c)
        self.seeded = len(tasks)
        seeding = -(-len(tasks) // MAX_ENTRIES_PER_BATCH)
        self.sqs = SqsTally(requests=seeding, billed=seeding)
        self.events = Events()
        self.copy_queue = CopyQueue(a.copy_queue_order, len(ks.partition_labels))
        self.copiers = CopierFleet(a, self.events, self.copy_queue, ks, self.sqs, batching.bytes_per_batch)
        self.listers = ListerFleet(ks, a, self.c, self.events, tasks, self.copiers, self.sqs, batching.keys_per_batch)

    def play(self) -> None:
        self.listers.start()
        self.events.play()
        assert not self.copy_queue and not self.listers.queue, "simulation ended with work queued"

    def copier_pace(self) -> float:
        """Objects a second one busy copier copies: each batch of keys in rounds of copy_concurrency."""
        a = self.a
        keys = COPY_BATCH_MAX_KEYS * (1 if a.copier_records == "sequential" else a.copy_batch_size)
        return keys / (math.ceil(keys / a.copy_concurrency) * a.copy_ms() / 1000)

    def copying_floor_s(self, hottest_copies: int, copies: int) -> float:
        """The busiest partition's copies at its write limit, or all copies with every copier
        busy, whichever is longer."""
        a = self.a
        copiers = copies / (a.copy_max_concurrency * self.copier_pace())
        partition = hottest_copies / a.partition_writes_per_s if a.partition_writes_per_s else 0.0
        return max(copiers, partition)

    def scaled_floor_s(self, hottest_copies: int, copies: int) -> float:
        """copying_floor_s with the copiers the event source allows: it starts with a few and adds
        esm_scale_per_minute a minute (EventSource.allowed), as if copy batches waited from the
        job's first moment. What copying could take where copiers are the limit, not partitions."""
        a = self.a
        copiers = min(a.copy_max_concurrency, a.esm_initial_concurrency)
        maximum = a.copy_max_concurrency if a.esm_scale_per_minute > 0 else copiers
        step_s = 60 / max(1, a.esm_scale_per_minute)  # one copier more after each step
        pace, done, t = self.copier_pace(), 0.0, 0.0
        while copiers < maximum and done + copiers * pace * step_s < copies:
            done += copiers * pace * step_s
            t += step_s
            copiers += 1
        return max(t + (copies - done) / (copiers * pace), self.copying_floor_s(hottest_copies, copies))

    def result(self, prices: Prices, wall: float) -> RunResult:
        ks, a, c, design = self.ks, self.a, self.c, self.design
        copiers, listers, writes, sqs = self.copiers, self.listers, self.copiers.writes, self.sqs
        parts = writes.parts
        keys_copied = sum(p.copies for p in parts)
        listed = keys_copied
        never = ks.n - listed
        if design == "project" and never:
            raise AssertionError(f"{never} keys were never listed by the project's design")
        c.keys = listed
        lister_gb_s = c.lister_ms / 1000 * prices.lister_memory_gb
        copier_gb_s = copiers.busy_ms / 1000 * prices.copier_memory_gb
        sqs_requests = sqs.requests + sqs.copy_sends + c.list_sends
        sqs_billed = sqs.billed + sqs.copy_billed + c.list_sends
        cost = run_cost(prices, c.list_pages + c.dest_lists + c.probes, keys_copied, sqs_billed, c.invocations + copiers.invocations, lister_gb_s + copier_gb_s)
        dry_run = None
        if design == "project":
            plan = JobPlan(ranges=a.seed_ranges, source_pages=-(-ks.n // PAGE_KEYS), dest_pages=a.seed_ranges, to_copy=ks.n, bytes_to_copy=int(ks.n * self.mean_size))
            dry_run = estimate_cost(plan, prices, delete=False, cross_region=False).total
        hottest = max(parts, key=lambda p: p.copies)
        throttled = sum(p.throttled_item_ms for p in parts)
        copying_done, first_copy = copiers.done_ms, copiers.first_copy_ms
        return RunResult(
            design=design,
            listing_done_s=listers.done_ms / 1000,
            copying_done_s=max(copying_done, listers.done_ms) / 1000,
            peak_listers=listers.source.peak,
            peak_copiers=copiers.source.peak,
            keys_listed=listed,
            keys_copied=keys_copied,
            keys_never_listed=never,
            list_tasks=self.seeded + c.split_off + c.hand_ons,
            lister_invocations=c.invocations,
            splits=c.splits,
            split_off=c.split_off,
            hand_ons=c.hand_ons,
            empty_split_off=c.empty_split_off,
            largest_task_keys=c.largest_task_keys,
            surveys=c.surveys,
            probes_per_survey=dict(sorted(c.probes_per_survey.items())),
            list_pages=c.list_pages,
            dest_lists=c.dest_lists,
            probes=c.probes,
            copy_requests=keys_copied,
            copy_batches=c.records,
            copier_invocations=copiers.invocations,
            sqs_requests=sqs_requests,
            sqs_billed=sqs_billed,
            lister_gb_s=lister_gb_s,
            copier_gb_s=copier_gb_s,
            throttled_share=throttled / copiers.busy_ms if copiers.busy_ms else 0.0,
            copier_overruns=copiers.overruns,
            longest_copier_s=copiers.longest_ms / 1000,
            busy_partitions=writes.busy_ms / (copying_done - first_copy) if copying_done > first_copy else 0.0,
            hottest_partition=hottest.label,
            hottest_partition_copies=hottest.copies,
            copying_floor_s=self.copying_floor_s(hottest.copies, keys_copied),
            scaled_floor_s=self.scaled_floor_s(hottest.copies, keys_copied),
            cost={k: round(v, 4) for k, v in cost.items()},
            cost_usd=sum(cost.values()),
            dry_run_estimate_usd=dry_run,
            sim_seconds=time.perf_counter() - wall,
        )


def run_cost(prices: Prices, list_requests: int, copies: int, sqs_billed: int, invocations: int, gb_s: float) -> dict[str, float]:
    """The run's bill, by line."""
    return {
        "S3 LIST": list_requests / 1000 * prices.s3_list_per_1000,
        "S3 COPY": copies / 1000 * prices.s3_copy_per_1000,
        "SQS": sqs_billed / 1e6 * prices.sqs_per_million,
        "Lambda requests": invocations / 1e6 * prices.lambda_per_million,
        "Lambda GB-s": gb_s * prices.lambda_gb_second,
    }


def simulate(ks: KeySet, a: Assumptions, prices: Prices, design: str) -> RunResult:
    wall = time.perf_counter()
    run = DeployedRun(ks, a, design)
    run.play()
    return run.result(prices, wall)


def run_scenario(job: tuple[str, int, str, dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """One simulation, from picklable arguments (it runs in a worker process)."""
    distribution, n, design, assumptions, prices = job
    ks = make_keyset(distribution, n)
    result = simulate(ks, Assumptions(**assumptions), Prices(**prices), design)
    return {
        "distribution": distribution,
        "keys": n,
        "description": ks.description,
        "partitions": len(ks.partition_labels),
        "unlisted_by_ascii95": ks.unlisted_by_ascii_design(),
        "result": asdict(result),
    }
