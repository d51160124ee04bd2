"""bench/scale: a deployed run at AWS scale, simulated, driving this project's own splitting code.

    bench/scale [--sizes 1M,100M] [--distributions uniform,single,skewed] [--assumptions FILE]
                [--prices FILE] [--FLAG VALUE ...] [--jobs 2] [--json] [--verify]

No AWS and no moto: the buckets are models. A key set is a few segments, each an increasing
sequence of UUID-shaped keys under a prefix (``data/2024/0a1b2c3d-...``): key ``i`` of a segment
is a pure function of ``i`` (evenly spaced 128-bit values with a deterministic jitter inside each
slot), so that rank(key), key(rank), "the n keys after X" and "is there a key after X" are answered
by arithmetic and bisection, for 100M keys as for 1M, and the splitting code gets real page keys
and a real probe callback.

What runs is the project's code, imported: ``seed_ranges`` and ``DEFAULT_RANGES`` seed the job;
``lister._split_rest`` (the split policy: SURVEY_MIN_PAGE_KEYS, SPLIT_MIN_KEYS, KEYS_PER_PART,
MAX_PARTS around ``survey`` and ``split_range``) decides every split, with its probes answered by
the model; ``SURVEY_EVERY_PAGES`` and ``DEFAULT_STOP_MARGIN_MS`` pace a lister as ``list_range``
does; ``CopyBatchPacker`` and ``CopyBatch.to_json`` size the copy batches and their SQS bytes;
``estimate.Prices`` prices the run. What is mirrored rather than imported is ``list_range``'s
loop (page, send, hand on near the timeout, survey every SURVEY_EVERY_PAGES pages, go on with
the first part after a split): it cannot run on 100M keys in Python, so ``--verify`` runs the real
``list_range`` with model-backed S3/SQS clients and a simulated clock over smaller key sets and
checks that both agree request for request.

A discrete-event loop then plays the deployed stack: listers and copiers as Lambda invocations
started by SQS event sources that scale by +300 executions a minute up to the template's
MaximumConcurrency; list pages and probes of fixed latency; copiers copying the records (copy
batches) of an invocation one after another, each with COPY_CONCURRENCY copies in flight; and S3's
write limit per prefix partition shared among the copies in flight on that partition
(processor sharing). Every assumption is a field of ``Assumptions`` (flags, or a JSON file), and
is printed with the results.

Each scenario is run twice: with this project's design (seed_ranges + adaptive splitting) and with
the design it grew from (one range per printable ASCII character, 95 ranges, no splitting; given
this project's hand-on so that a large range finishes at all), which never lists a key whose
first character is not printable ASCII.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import heapq
import json
import math
import os
import platform
import random
import re
import sys
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from s3fanout import lister as lister_module  # noqa: E402
from s3fanout.copier import DEFAULT_CONCURRENCY  # noqa: E402
from s3fanout.estimate import JobPlan, Prices, estimate_cost  # noqa: E402
from s3fanout.job import DEFAULT_RANGES  # noqa: E402
from s3fanout.keyspace import KeyRange, seed_ranges  # noqa: E402
from s3fanout.lister import DEFAULT_STOP_MARGIN_MS, KEYS_PER_PART, MAX_PARTS, SPLIT_MIN_KEYS, SURVEY_EVERY_PAGES, SURVEY_MIN_PAGE_KEYS  # noqa: E402
from s3fanout.messages import COPY_BATCH_MAX_KEYS, CopyBatchPacker, CopyItem, ListTask  # noqa: E402
from s3fanout.plan import Action, Decision, DecisionGroup  # noqa: E402
from s3fanout.queues import MAX_ENTRIES_PER_BATCH  # noqa: E402
from s3fanout.s3ops import ListedObject  # noqa: E402
from s3fanout.signing import MessageKey  # noqa: E402

PAGE_KEYS = 1000  # ListObjectsV2's page (list_pages asks for 1,000)
SQS_BILLING_CHUNK = 64 * 1024  # SQS bills every 64 KiB of a request as one request
PRINTABLE_ASCII = [chr(c) for c in range(0x20, 0x7F)]  # the original design's 95 ranges
ETAG = '"' + "0123456789abcdef" * 2 + '"'

# ------------------------------------------------------------------------------------------------
# Key sets, modelled
# ------------------------------------------------------------------------------------------------

_SPACE = 1 << 128
_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _uuid(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Segment:
    """``count`` keys ``prefix + uuid(v_i)``, v_i strictly increasing over the 128-bit space: slot
    i is [i*step, (i+1)*step) and v_i sits in it at a pseudo-random offset (a hash of i), so keys
    look random but key(i) is arithmetic and rank is a bisection over i."""

    def __init__(self, prefix: str, count: int, salt: int = 0) -> None:
        if count < 1:
            raise ValueError("a segment needs at least one key")
        self.prefix = prefix
        self.count = count
        self.salt = salt
        self.step = _SPACE // count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> str:
        if not 0 <= i < self.count:
            raise IndexError(i)
        jitter = ((((i + self.salt) * _GOLDEN) & _MASK64) * self.step) >> 64
        return self.prefix + _uuid(i * self.step + jitter)

    def keys(self, start: int, n: int) -> list[str]:
        step, salt, prefix, out = self.step, self.salt, self.prefix, []
        for i in range(start, min(self.count, start + n)):
            h = f"{i * step + (((((i + salt) * _GOLDEN) & _MASK64) * step) >> 64):032x}"
            out.append(f"{prefix}{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        return out

    def rank(self, key: str) -> int:
        """Keys of the segment <= key."""
        return bisect.bisect_right(self, key, 0, self.count)

    def rank_lt(self, key: str) -> int:
        return bisect.bisect_left(self, key, 0, self.count)


def partition_label(key: str) -> str:
    """The S3 partition model: a key's partition is its text up to and including the first '/',
    or its first character when it has no '/'."""
    slash = key.find("/")
    return key[: slash + 1] if slash >= 0 else key[:1]


class KeySet:
    """Sorted, disjoint segments; ranks are 0-based positions in the bucket's listing order."""

    def __init__(self, name: str, segments: list[Segment], description: str) -> None:
        self.name = name
        self.description = description
        self.segments = sorted(segments, key=lambda s: s[0])
        for a, b in zip(self.segments, self.segments[1:]):
            if not a[a.count - 1] < b[0]:
                raise ValueError(f"segments {a.prefix!r} and {b.prefix!r} overlap")
        self.firsts = [s[0] for s in self.segments]
        self.starts = [0]
        for s in self.segments:
            self.starts.append(self.starts[-1] + s.count)
        self.n = self.starts[-1]
        self._partitions()

    def rank(self, key: str | None) -> int:
        """Keys <= key (None: no key, 0)."""
        if key is None:
            return 0
        j = bisect.bisect_right(self.firsts, key) - 1
        return 0 if j < 0 else self.starts[j] + self.segments[j].rank(key)

    def rank_lt(self, key: str) -> int:
        j = bisect.bisect_left(self.firsts, key) - 1
        return 0 if j < 0 else self.starts[j] + self.segments[j].rank_lt(key)

    def upper(self, until: str | None) -> int:
        """Rank bound of a range's end: keys <= until, or all of them for an open end."""
        return self.n if until is None else self.rank(until)

    def key(self, r: int) -> str:
        j = bisect.bisect_right(self.starts, r) - 1
        return self.segments[j][r - self.starts[j]]

    def keys(self, r: int, n: int) -> list[str]:
        out: list[str] = []
        j = bisect.bisect_right(self.starts, r) - 1
        while len(out) < n and j < len(self.segments):
            out += self.segments[j].keys(r - self.starts[j], n - len(out))
            j += 1
            if j < len(self.segments):
                r = self.starts[j]
        return out

    def first_after(self, key: str) -> str | None:
        r = self.rank(key)
        return self.key(r) if r < self.n else None

    def _partitions(self) -> None:
        """Contiguous rank runs of one partition label each."""
        runs: list[tuple[int, str]] = []
        for s, start in zip(self.segments, self.starts):
            if "/" in s.prefix or s.prefix:
                cuts = [(start, partition_label(s[0]))]
            else:  # keys at the root: one partition per first character
                cuts = []
                for c in "0123456789abcdef":
                    r = start + s.rank_lt(c)
                    if r < start + s.count and (not cuts or r > cuts[-1][0]) and s[r - start][0] == c:
                        cuts.append((r, c))
            for r, label in cuts:
                if runs and runs[-1][1] == label:
                    continue
                runs.append((r, label))
        self.partition_starts = [r for r, _ in runs]
        self.partition_labels = [label for _, label in runs]

    def partition(self, r: int) -> int:
        return bisect.bisect_right(self.partition_starts, r) - 1

    def unlisted_by_ascii_design(self) -> int:
        """Keys whose first character is not printable ASCII."""
        return self.n - sum(self.rank_lt(chr(ord(c) + 1)) - self.rank_lt(c) for c in PRINTABLE_ASCII)


def _spread(total: int, weights: list[float]) -> list[int]:
    counts = [int(total * w) for w in weights]
    counts[0] += total - sum(counts)
    return counts


def make_keyset(distribution: str, n: int) -> KeySet:
    if distribution == "uniform":
        counts = _spread(n, [0.97, 0.02, 0.01])
        segments = [Segment("", counts[0], 1), Segment("é/", counts[1], 2), Segment("日本/", counts[2], 3)]
        text = "97% UUIDs at the root (16 first characters 0-9a-f), 2% under 'é/', 1% under '日本/'"
    elif distribution == "single":
        segments = [Segment("data/2024/", n, 4)]
        text = "100% under one prefix: data/2024/<uuid>"
    elif distribution == "skewed":
        small = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        counts = _spread(n, [0.90] + [0.07 / len(small)] * len(small) + [0.02, 0.01])
        segments = [Segment("logs/2024/", counts[0], 5)]
        segments += [Segment(c + "/", count, 10 + i) for i, (c, count) in enumerate(zip(small, counts[1:]))]
        segments += [Segment("é/", counts[-2], 6), Segment("日本/", counts[-1], 7)]
        text = "90% under logs/2024/, 7% over 62 prefixes 0/ .. z/, 2% under 'é/', 1% under '日本/'"
    else:
        raise ValueError(f"unknown distribution {distribution!r}")
    return KeySet(distribution, segments, text)


DISTRIBUTIONS = ("uniform", "single", "skewed")

# ------------------------------------------------------------------------------------------------
# Assumptions
# ------------------------------------------------------------------------------------------------


def _template_defaults() -> dict[str, int]:
    """Parameter defaults and function timeouts from template.yaml (CloudFormation tags ignored)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    params = {name: p.get("Default") for name, p in template["Parameters"].items()}
    resources = template["Resources"]
    return {
        "list_max_concurrency": int(params["ListMaxConcurrency"]),
        "copy_max_concurrency": int(params["CopyMaxConcurrency"]),
        "copy_batch_size": int(params["CopyBatchSize"]),
        "copy_concurrency": int(params.get("CopyConcurrency") or DEFAULT_CONCURRENCY),
        "lister_timeout_s": int(resources["ListObjectsFunction"]["Properties"]["Timeout"]),
        "copier_timeout_s": int(resources["CopyObjectsFunction"]["Properties"]["Timeout"]),
    }


_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (e.g. 100KiB, 4MB)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()])


def object_size_mean(spec: str) -> float:
    """Mean object size of a distribution: SIZE (all objects the same) or lognormal:MEDIAN:SIGMA."""
    if spec.startswith("lognormal:"):
        _, median, sigma = spec.split(":")
        return parse_bytes(median) * math.exp(float(sigma) ** 2 / 2)
    return float(parse_bytes(spec))


@dataclass
class Assumptions:
    """What the simulation assumes. Each is a flag (--list-page-ms 80) or a key of --assumptions FILE."""

    seed_ranges: int = DEFAULT_RANGES  # python -m seed --ranges default
    list_page_ms: int = 80  # one ListObjectsV2 page of 1,000 keys
    probe_ms: int = 80  # one ListObjectsV2 with MaxKeys=1 (a survey probe)
    sqs_send_ms: int = 0  # SendMessageBatch latency added to a lister per page (0: left out)
    compare: bool = True  # list the destination too (empty: one LIST per listing started)
    copy_base_ms: float = 30.0  # one CopyObject: base latency ...
    copy_mb_per_s: float = 100.0  # ... plus size / this rate (MB = 10^6 bytes)
    object_size: str = "100KiB"  # SIZE, or lognormal:MEDIAN:SIGMA (its mean is used)
    copy_concurrency: int = DEFAULT_CONCURRENCY  # copies in flight per copier (per record)
    copy_batch_size: int = 10  # CopyBatchSize: records per copier invocation
    list_max_concurrency: int = 50  # ListMaxConcurrency
    copy_max_concurrency: int = 100  # CopyMaxConcurrency
    esm_initial_concurrency: int = 5  # executions an SQS event source starts with
    esm_scale_per_minute: int = 300  # executions it adds per minute while messages wait
    lister_timeout_s: int = 900
    copier_timeout_s: int = 300
    stop_margin_ms: int = DEFAULT_STOP_MARGIN_MS
    partition_writes_per_s: float = 3500.0  # PUT/COPY per second per partition (0: no limit)
    copy_queue_order: str = "fifo"  # fifo (SQS's best-effort order) or random

    @classmethod
    def defaults(cls) -> Assumptions:
        return cls(**_template_defaults())

    def copy_ms(self) -> float:
        return self.copy_base_ms + object_size_mean(self.object_size) / (self.copy_mb_per_s * 1e6) * 1000


# ------------------------------------------------------------------------------------------------
# One lister invocation (list_range's loop, mirrored; splits decided by lister._split_rest)
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Task:
    after: str | None
    until: str | None
    lo: int  # rank of the first key of the range
    hi: int  # rank after its last key
    resumed: int = 0
    split: bool = True  # this project's design (False: the 95-range design, no splitting)


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
    largest_task_keys: int = 0  # most keys any one list task started with
    probes_per_survey: dict[int, int] = field(default_factory=dict)


@dataclass
class Invocation:
    end_ms: int
    emits: list[tuple[int, int, int, bool]]  # (elapsed ms, first rank, end rank, flush after)
    new_tasks: list[tuple[int, Task]]  # (elapsed ms, task)


class _ProbeS3:
    """What _split_rest's probes (key_exists_after) call: ListObjectsV2 with MaxKeys=1."""

    def __init__(self, keyset: KeySet) -> None:
        self.keyset = keyset
        self.calls = 0

    def list_objects_v2(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        key = self.keyset.first_after(request["StartAfter"])
        prefix = request.get("Prefix", "")
        if key is None or not key.startswith(prefix):
            return {"KeyCount": 0}
        return {"Contents": [{"Key": key, "Size": 0, "ETag": ETAG}], "KeyCount": 1}


def split_with_project_policy(keyset: KeySet, task: Task, page: list[str], probe: _ProbeS3) -> list[KeyRange]:
    """lister._split_rest on a page of real keys: the policy, survey and split_range as deployed."""
    group = DecisionGroup([Decision(Action.COPY, k, ListedObject(k, 0, ETAG), None, "") for k in page], page[-1], False)
    list_task = ListTask("sim", "src", "dst", "", task.after, task.until)
    return lister_module._split_rest(probe, list_task, group)


def run_invocation(task: Task, ks: KeySet, a: Assumptions, c: Counters) -> Invocation:
    """What one lister invocation does with ``task``, as list_range does it, timed in ms."""
    t = 0
    emits: list[tuple[int, int, int, bool]] = []
    new_tasks: list[tuple[int, Task]] = []
    timeout = a.lister_timeout_s * 1000
    page_ms = a.list_page_ms + a.sqs_send_ms
    compare = a.compare and task.split  # the original design copies without comparing
    probe = _ProbeS3(ks)
    current = task
    pages_to_survey = 1
    c.invocations += 1
    c.largest_task_keys = max(c.largest_task_keys, task.hi - task.lo)

    def hand_on(pos: int) -> Invocation:
        c.hand_ons += 1
        c.list_sends += 1
        new_tasks.append((t, Task(ks.key(pos - 1), current.until, pos, current.hi, current.resumed + 1, task.split)))
        return finish()

    def finish() -> Invocation:
        if emits:
            emits[-1] = (*emits[-1][:3], True)  # the packer's partial batch is flushed
        c.lister_ms += t
        return Invocation(t, emits, new_tasks)

    while True:  # one pass per listing started (the task's, then the first part after each split)
        lo, hi = current.lo, current.hi
        if hi <= lo:  # an empty range: one LIST finds nothing, and merge_join lists the destination
            t += a.list_page_ms
            c.list_pages += 1
            if compare:
                t += a.list_page_ms
                c.dest_lists += 1
            return finish()
        if compare:  # merge_join lists the destination at the first source key
            t += a.list_page_ms
            c.dest_lists += 1
        pos = lo
        split = False
        while not split:
            pages_left = -(-(hi - pos) // PAGE_KEYS)
            # Pages until the hand-on check (remaining < margin, after each page) first fires.
            until_deadline = max(1, (timeout - a.stop_margin_ms - t) // page_ms + 1)
            k = min(pages_to_survey if task.split else pages_left, pages_left, until_deadline)
            page_start = pos + (k - 1) * PAGE_KEYS  # every page but a range's last is full
            end = min(hi, pos + k * PAGE_KEYS)
            for first in range(pos, end, PAGE_KEYS):  # each page's batches are sent as it is listed
                t += page_ms
                emits.append((t, first, min(end, first + PAGE_KEYS), False))
            c.list_pages += k
            pos = end
            if pos >= hi:
                # S3 marks the page last unless the range ends on a full page with keys after it
                # (and `until` itself is not a key): then the group is not last, and one more
                # LIST finds only keys past the range.
                full = end - page_start == PAGE_KEYS
                if not (task.split and full and hi < ks.n and current.until is not None and ks.key(hi - 1) != current.until):
                    return finish()
            if timeout - t < a.stop_margin_ms:
                return hand_on(pos)
            if task.split:
                pages_to_survey -= k
                if pages_to_survey <= 0:
                    pages_to_survey = SURVEY_EVERY_PAGES
                    parts, probe_ms = _survey(ks, current, page_start, pos, probe, a, c)
                    t += probe_ms
                    if len(parts) > 1:
                        current = _apply_split(ks, current, pos, parts, t, new_tasks, c)
                        split = True
                        continue
            if pos >= hi:  # the LIST past the range's end
                t += a.list_page_ms
                c.list_pages += 1
                return finish()


def _survey(ks: KeySet, current: Task, first: int, end: int, probe: _ProbeS3, a: Assumptions, c: Counters) -> tuple[list[KeyRange], int]:
    before = probe.calls
    page = ks.keys(first, end - first)
    parts = split_with_project_policy(ks, current, page, probe)
    probes = probe.calls - before
    c.probes += probes
    if probes:
        c.surveys += 1
        c.probes_per_survey[probes] = c.probes_per_survey.get(probes, 0) + 1
    return parts, probes * a.probe_ms


def _apply_split(ks: KeySet, current: Task, pos: int, parts: list[KeyRange], t: int, new_tasks: list[tuple[int, Task]], c: Counters) -> Task:
    """Parts 2.. go to other listers; this lister goes on with part 1, listing it afresh."""
    c.splits += 1
    c.split_off += len(parts) - 1
    c.list_sends += 1
    for part in parts[1:]:
        new = Task(part.after, part.until, ks.rank(part.after), ks.upper(part.until), 0, True)
        c.empty_split_off += new.hi <= new.lo
        new_tasks.append((t, new))
    first = parts[0]
    return Task(ks.key(pos - 1), first.until, pos, ks.upper(first.until), current.resumed, True)


# ------------------------------------------------------------------------------------------------
# The deployed run: a discrete-event loop
# ------------------------------------------------------------------------------------------------


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
    cost: dict[str, float]
    cost_usd: float
    dry_run_estimate_usd: float | None
    sim_seconds: float


def simulate(ks: KeySet, a: Assumptions, prices: Prices, design: str) -> RunResult:
    wall = time.perf_counter()
    copy_ms = a.copy_ms()
    mean_size = object_size_mean(a.object_size)
    batching = Batching.measure(ks, int(mean_size))
    bpb, kpb = batching.bytes_per_batch, batching.keys_per_batch
    c = Counters()
    if design == "project":
        tasks = [Task(r.after, r.until, ks.rank(r.after), ks.upper(r.until)) for r in seed_ranges("", a.seed_ranges)]
    else:
        tasks = [Task(ch, ch, ks.rank_lt(ch), ks.rank_lt(chr(ord(ch) + 1)), 0, False) for ch in PRINTABLE_ASCII]
    list_tasks = len(tasks)
    sqs_requests = sqs_billed = -(-len(tasks) // MAX_ENTRIES_PER_BATCH)  # seeding
    list_queue: deque[Task] = deque(tasks)
    copy_queue = CopyQueue(a.copy_queue_order, len(ks.partition_labels))
    listers = EventSource(a.list_max_concurrency, a)
    listers.since = 0.0
    copiers = EventSource(a.copy_max_concurrency, a)
    parts = [Partition(label) for label in ks.partition_labels]
    cap = a.partition_writes_per_s / 1000 if a.partition_writes_per_s > 0 else math.inf  # keys/ms
    events: list[tuple[float, int, str, Any]] = []
    seq = 0
    now = 0.0
    listing_done = 0.0
    copying_done = 0.0
    keys_copied = 0
    copy_sends = copy_billed = 0
    copier_invocations = 0
    copier_ms = 0.0
    copier_work: dict[int, deque[tuple[int, int, float]]] = {}
    copier_start: dict[int, float] = {}
    next_copier = 0
    lister_state: dict[int, list[Any]] = {}  # id -> [invocation, pending keys, last partition]
    next_lister = 0

    def push(when: float, kind: str, payload: Any) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (when, seq, kind, payload))

    def units(nbytes: int) -> int:
        return max(1, -(-nbytes // SQS_BILLING_CHUNK))

    def update(p: Partition) -> None:
        if p.items:
            dt = now - p.last
            p.v += p.share * dt
            if p.share < 1.0:
                p.throttled_item_ms += dt * len(p.items)
        p.last = now

    def reschedule(p: Partition, index: int) -> None:
        p.share = 1.0 if p.demand <= cap else cap / p.demand
        p.version += 1
        if p.items:
            push(now + max(0.0, p.items[0][0] - p.v) / p.share, "part", (index, p.version))

    busy = [0, 0.0, 0.0]  # partitions with copies in flight; integral over time; since

    def account() -> None:
        busy[1] += busy[0] * (now - busy[2])
        busy[2] = now

    def start_item(copier: int) -> None:
        nonlocal seq
        work = copier_work[copier]
        index, keys, ms = work.popleft()
        p = parts[index]
        update(p)
        if not p.items:
            account()
            busy[0] += 1
        rate = keys / ms
        p.demand += rate
        p.copies += keys
        seq += 1
        heapq.heappush(p.items, (p.v + ms, seq, copier, rate))
        reschedule(p, index)

    def start_copiers() -> None:
        nonlocal next_copier, copier_invocations, sqs_requests, sqs_billed
        while copy_queue and copiers.active < copiers.allowed(now):
            # Records are copied one after another, each with copy_concurrency copies in flight.
            records: list[tuple[int, int, float]] = []
            taken = 0
            for partition, take, per_record in copy_queue.take(a.copy_batch_size):
                keys, ms = take * per_record, take * math.ceil(per_record / a.copy_concurrency) * copy_ms
                if records and records[-1][0] == partition:
                    records[-1] = (partition, records[-1][1] + keys, records[-1][2] + ms)
                else:
                    records.append((partition, keys, ms))
                taken += take
            sqs_requests += 2  # ReceiveMessage, DeleteMessageBatch
            sqs_billed += units(taken * bpb) + 1
            copier_invocations += 1
            next_copier += 1
            copier_work[next_copier] = deque(records)
            copier_start[next_copier] = now
            copiers.active += 1
            copiers.peak = max(copiers.peak, copiers.active)
            start_item(next_copier)
        if copy_queue and copiers.active < copiers.maximum and not copiers.tick_pending:
            copiers.tick_pending = True
            push(copiers.next_step(), "tick", "copy")

    def start_listers() -> None:
        nonlocal next_lister, sqs_requests, sqs_billed
        while list_queue and listers.active < listers.allowed(now):
            task = list_queue.popleft()
            invocation = run_invocation(task, ks, a, c)
            sqs_requests += 2
            sqs_billed += 2
            next_lister += 1
            lister_state[next_lister] = [invocation, 0, 0]
            listers.active += 1
            listers.peak = max(listers.peak, listers.active)
            for i, emit in enumerate(invocation.emits):
                push(now + emit[0], "emit", (next_lister, i))
            for when, new in invocation.new_tasks:
                push(now + when, "task", new)
            push(now + invocation.end_ms, "lend", next_lister)
        if list_queue and listers.active < listers.maximum and not listers.tick_pending:
            listers.tick_pending = True
            push(listers.next_step(), "tick", "list")

    def emit(lister: int, index: int) -> None:
        nonlocal copy_sends, copy_billed, first_copy
        state = lister_state[lister]
        when, r0, r1, flush = state[0].emits[index]
        pending, partition = state[1], state[2]
        full_records = 0
        while r0 < r1:
            partition = ks.partition(r0)
            boundary = ks.partition_starts[partition + 1] if partition + 1 < len(ks.partition_starts) else ks.n
            end = min(r1, boundary)
            pending += end - r0
            full, pending = divmod(pending, kpb)
            if full:
                copy_queue.put(partition, full, kpb)
                full_records += full
            r0 = end
        sends = -(-full_records // MAX_ENTRIES_PER_BATCH)
        billed = (full_records // MAX_ENTRIES_PER_BATCH) * units(MAX_ENTRIES_PER_BATCH * bpb) + (units((full_records % MAX_ENTRIES_PER_BATCH) * bpb) if full_records % MAX_ENTRIES_PER_BATCH else 0)
        if flush and pending:
            copy_queue.put(partition, 1, pending)
            full_records += 1
            sends += 1
            billed += 1
            pending = 0
        state[1], state[2] = pending, partition
        copy_sends += sends
        copy_billed += billed
        c.records += full_records
        if full_records and copiers.since is None:
            copiers.since = now
            first_copy = now
        start_copiers()

    first_copy = math.inf
    longest_copier = 0.0
    overruns = 0
    start_listers()
    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "emit":
            emit(*payload)
        elif kind == "task":
            list_queue.append(payload)
            start_listers()
        elif kind == "lend":
            del lister_state[payload]
            listers.active -= 1
            listing_done = max(listing_done, now)
            start_listers()
        elif kind == "tick":
            source = listers if payload == "list" else copiers
            source.tick_pending = False
            (start_listers if payload == "list" else start_copiers)()
        elif kind == "part":
            index, version = payload
            p = parts[index]
            if version != p.version:
                continue
            update(p)
            finished = []
            while p.items and p.items[0][0] <= p.v + 1e-6:
                _, _, copier, rate = heapq.heappop(p.items)
                p.demand -= rate
                finished.append(copier)
            if not p.items:
                p.demand = 0.0
                account()
                busy[0] -= 1
            reschedule(p, index)
            for copier in finished:
                if copier_work[copier]:
                    start_item(copier)
                    continue
                del copier_work[copier]
                took = now - copier_start.pop(copier)
                copier_ms += took
                longest_copier = max(longest_copier, took)
                overruns += took > a.copier_timeout_s * 1000
                copiers.active -= 1
                copying_done = max(copying_done, now)
            start_copiers()
    keys_copied = sum(p.copies for p in parts)
    assert not copy_queue and not list_queue, "simulation ended with work queued"
    listed = keys_copied
    never = ks.n - listed
    if design == "project" and never:
        raise AssertionError(f"{never} keys were never listed by the project's design")
    c.keys = listed
    lister_gb_s = c.lister_ms / 1000 * prices.lister_memory_gb
    copier_gb_s = copier_ms / 1000 * prices.copier_memory_gb
    sqs_requests += copy_sends + c.list_sends
    sqs_billed += copy_billed + c.list_sends
    list_requests = c.list_pages + c.dest_lists + c.probes
    invocations = c.invocations + copier_invocations
    cost = {
        "S3 LIST": list_requests / 1000 * prices.s3_list_per_1000,
        "S3 COPY": keys_copied / 1000 * prices.s3_copy_per_1000,
        "SQS": sqs_billed / 1e6 * prices.sqs_per_million,
        "Lambda requests": invocations / 1e6 * prices.lambda_per_million,
        "Lambda GB-s": (lister_gb_s + copier_gb_s) * prices.lambda_gb_second,
    }
    dry_run = None
    if design == "project":
        plan = JobPlan(ranges=a.seed_ranges, source_pages=-(-ks.n // PAGE_KEYS), dest_pages=a.seed_ranges, to_copy=ks.n, bytes_to_copy=int(ks.n * mean_size))
        dry_run = estimate_cost(plan, prices, delete=False, cross_region=False).total
    hottest = max(parts, key=lambda p: p.copies)
    throttled = sum(p.throttled_item_ms for p in parts)
    return RunResult(
        design=design,
        listing_done_s=listing_done / 1000,
        copying_done_s=max(copying_done, listing_done) / 1000,
        peak_listers=listers.peak,
        peak_copiers=copiers.peak,
        keys_listed=listed,
        keys_copied=keys_copied,
        keys_never_listed=never,
        list_tasks=list_tasks + c.split_off + c.hand_ons,
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
        copier_invocations=copier_invocations,
        sqs_requests=sqs_requests,
        sqs_billed=sqs_billed,
        lister_gb_s=lister_gb_s,
        copier_gb_s=copier_gb_s,
        throttled_share=throttled / copier_ms if copier_ms else 0.0,
        copier_overruns=overruns,
        longest_copier_s=longest_copier / 1000,
        busy_partitions=busy[1] / (copying_done - first_copy) if copying_done > first_copy else 0.0,
        hottest_partition=hottest.label,
        hottest_partition_copies=hottest.copies,
        cost={k: round(v, 4) for k, v in cost.items()},
        cost_usd=sum(cost.values()),
        dry_run_estimate_usd=dry_run,
        sim_seconds=time.perf_counter() - wall,
    )


# ------------------------------------------------------------------------------------------------
# --verify: the real list_range against the mirrored loop, on model-backed clients
# ------------------------------------------------------------------------------------------------


class _ModelS3:
    """ListObjectsV2 over a modelled source bucket and an empty destination, on a simulated clock."""

    def __init__(self, ks: KeySet, a: Assumptions, size: int) -> None:
        self.ks, self.a, self.size = ks, a, size
        self.clock = 0
        self.pages = self.dest_lists = self.probes = 0

    def list_objects_v2(self, **request: Any) -> dict[str, Any]:
        if request.get("MaxKeys") == 1:
            self.clock += self.a.probe_ms
            self.probes += 1
        elif request["Bucket"] == "dst":
            self.clock += self.a.list_page_ms
            self.dest_lists += 1
        else:
            self.clock += self.a.list_page_ms
            self.pages += 1
        if request["Bucket"] == "dst":
            return {"KeyCount": 0, "IsTruncated": False}
        start = request.get("ContinuationToken") or request.get("StartAfter")
        first = self.ks.rank(start) if start else 0
        keys = self.ks.keys(first, request.get("MaxKeys", PAGE_KEYS))
        truncated = first + len(keys) < self.ks.n
        response: dict[str, Any] = {"Contents": [{"Key": k, "Size": self.size, "ETag": ETAG} for k in keys], "KeyCount": len(keys), "IsTruncated": truncated}
        if truncated:
            response["NextContinuationToken"] = keys[-1]
        return response


# list_range seals what it sends; the verification opens it again.
BENCH_KEY = MessageKey(b"bench-scale")


class _ModelSQS:
    def __init__(self) -> None:
        self.bodies: dict[str, list[str]] = {}
        self.requests = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's names
        self.requests += 1
        self.bodies.setdefault(QueueUrl, []).extend(e["MessageBody"] for e in Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def verify(distributions: list[str], n: int, a: Assumptions) -> list[dict[str, Any]]:
    """Run the real list_range over every task of a job (one lister, FIFO) and the mirrored loop
    over the same tasks; both must count the same requests, splits, hand-ons and batches."""
    from s3fanout.messages import CopyBatch

    rows = []
    for distribution in distributions:
        ks = make_keyset(distribution, n)
        size = int(object_size_mean(a.object_size))
        s3, totals = _ModelS3(ks, a, size), Counters()
        queue = deque(ListTask("verify", "src", "dst", "", r.after, r.until) for r in seed_ranges("", a.seed_ranges))
        batches = keys = lister_ms = 0
        while queue:
            task = queue.popleft()
            sqs = _ModelSQS()
            s3.clock = 0
            outcome = lister_module.list_range(
                task,
                s3=s3,
                sqs=sqs,
                key=BENCH_KEY,
                list_queue_url="list",
                copy_queue_url="copy",
                remaining_ms=lambda s3=s3: a.lister_timeout_s * 1000 - s3.clock,
                stop_margin_ms=a.stop_margin_ms,
            )
            totals.invocations += 1
            totals.split_off += outcome.split_off
            totals.hand_ons += outcome.handed_on is not None
            lister_ms += s3.clock
            queue.extend(ListTask.from_json(BENCH_KEY.open(body)) for body in sqs.bodies.get("list", []))
            copies = [CopyBatch.from_json(BENCH_KEY.open(body)) for body in sqs.bodies.get("copy", [])]
            batches += len(copies)
            keys += sum(len(b.items) for b in copies)
        real = {
            "invocations": totals.invocations, "split_off": totals.split_off, "hand_ons": totals.hand_ons,
            "list_pages": s3.pages, "dest_lists": s3.dest_lists, "probes": s3.probes,
            "copy_batches": batches, "keys": keys, "lister_ms": lister_ms,
        }  # fmt: skip
        c = Counters()
        tasks = deque(Task(r.after, r.until, ks.rank(r.after), ks.upper(r.until)) for r in seed_ranges("", a.seed_ranges))
        sim_keys = 0
        while tasks:
            invocation = run_invocation(tasks.popleft(), ks, a, c)
            tasks.extend(task for _, task in invocation.new_tasks)
            sim_keys += sum(r1 - r0 for _, r0, r1, _ in invocation.emits)
            pending = 0
            for _, r0, r1, flush in invocation.emits:
                pending += r1 - r0
                full, pending = divmod(pending, COPY_BATCH_MAX_KEYS)
                c.records += full
                if flush and pending:
                    c.records, pending = c.records + 1, 0
        sim = {
            "invocations": c.invocations, "split_off": c.split_off, "hand_ons": c.hand_ons,
            "list_pages": c.list_pages, "dest_lists": c.dest_lists, "probes": c.probes,
            "copy_batches": c.records, "keys": sim_keys, "lister_ms": c.lister_ms,
        }  # fmt: skip
        rows.append({"distribution": distribution, "keys": n, "real": real, "simulated": sim, "agree": real == sim})
    return rows


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------

DESIGNS = {"project": "this project (seed_ranges + splitting)", "ascii95": "95 printable-ASCII ranges, no splitting"}


def parse_count(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kKmMgG]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a key count: {text!r} (e.g. 1M, 250k, 100M)")
    return int(float(m.group(1)) * {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[m.group(2).lower()])


def count_label(n: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g}{unit}"
    return str(n)


def duration(seconds: float) -> str:
    if seconds < 100:
        return f"{seconds:.1f} s"
    if seconds < 6000:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"


def _run(job: tuple[str, int, str, dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/scale",
        description="Simulate a deployed run at AWS scale with the project's own seeding and splitting code.",
        epilog="Every Assumptions field is also a flag: " + ", ".join("--" + f.name.replace("_", "-") for f in fields(Assumptions)),
    )
    parser.add_argument("--sizes", default="1M,100M", help="key counts, comma-separated (default: 1M,100M)")
    parser.add_argument("--distributions", default=",".join(DISTRIBUTIONS), help=f"of {', '.join(DISTRIBUTIONS)} (default: all)")
    parser.add_argument("--designs", default=",".join(DESIGNS), help="project, ascii95 (default: both)")
    parser.add_argument("--assumptions", type=Path, metavar="FILE", help="JSON object overriding Assumptions fields")
    parser.add_argument("--prices", type=Path, metavar="FILE", help="JSON object overriding s3fanout.estimate.Prices fields")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="simulations run at once (default: CPUs)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--verify", action="store_true", help="only check the simulated lister against the real list_range")
    parser.add_argument("--verify-keys", type=parse_count, default=200_000, metavar="N", help="keys per distribution for --verify (default: 200k)")
    defaults = Assumptions.defaults()
    for f in fields(Assumptions):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, type=lambda v: v.lower() in ("1", "true", "yes", "on"), default=None, metavar="BOOL", help=argparse.SUPPRESS)
        else:
            parser.add_argument(flag, type=type(default), default=None, help=argparse.SUPPRESS)
    return parser


def assumptions_from(args: argparse.Namespace) -> Assumptions:
    a = Assumptions.defaults()
    if args.assumptions:
        data = json.loads(args.assumptions.read_text())
        unknown = set(data) - {f.name for f in fields(Assumptions)}
        if unknown:
            raise ValueError(f"unknown assumptions in {args.assumptions}: {', '.join(sorted(unknown))}")
        a = dataclasses.replace(a, **data)
    overrides = {f.name: getattr(args, f.name) for f in fields(Assumptions) if getattr(args, f.name) is not None}
    a = dataclasses.replace(a, **overrides)
    object_size_mean(a.object_size)  # fails early on a bad size
    CopyQueue(a.copy_queue_order, 1)
    return a


def policy() -> dict[str, int]:
    return {
        "SEED_RANGES (DEFAULT_RANGES)": DEFAULT_RANGES,
        "SPLIT_MIN_KEYS": SPLIT_MIN_KEYS,
        "KEYS_PER_PART": KEYS_PER_PART,
        "MAX_PARTS": MAX_PARTS,
        "SURVEY_EVERY_PAGES": SURVEY_EVERY_PAGES,
        "SURVEY_MIN_PAGE_KEYS": SURVEY_MIN_PAGE_KEYS,
        "DEFAULT_STOP_MARGIN_MS": DEFAULT_STOP_MARGIN_MS,
        "COPY_BATCH_MAX_KEYS": COPY_BATCH_MAX_KEYS,
    }


ROWS: list[tuple[str, str]] = [
    ("listing done", "listing_done_s"),
    ("copying done", "copying_done_s"),
    ("peak listers", "peak_listers"),
    ("peak copiers", "peak_copiers"),
    ("keys never listed", "keys_never_listed"),
    ("list tasks (seeded + split off + handed on)", "list_tasks"),
    ("  split off / of them empty", "split_off"),
    ("  handed on near the timeout", "hand_ons"),
    ("  most keys in one task", "largest_task_keys"),
    ("LIST pages (source + empty destination)", "list_pages"),
    ("LIST probes (surveys x probes)", "probes"),
    ("COPY requests", "copy_requests"),
    ("copy batches / copier invocations", "copy_batches"),
    ("SQS requests (billed 64 KiB units)", "sqs_requests"),
    ("Lambda GB-s (listers + copiers)", "lister_gb_s"),
    ("copier time at a partition's limit", "throttled_share"),
    ("partitions copied to at once (mean)", "busy_partitions"),
    ("longest copier invocation (over timeout)", "longest_copier_s"),
    ("cost (USD)", "cost_usd"),
    ("  the dry run's estimate (estimate_cost)", "dry_run_estimate_usd"),
]


def cell(r: dict[str, Any], key: str) -> str:
    v = r[key]
    if key in ("listing_done_s", "copying_done_s"):
        return duration(v)
    if key == "split_off":
        return f"{v:,} / {r['empty_split_off']:,}"
    if key == "list_pages":
        return f"{v:,} + {r['dest_lists']:,}"
    if key == "probes":
        return f"{r['surveys']:,} x {v / r['surveys']:.1f} = {v:,}" if r["surveys"] else "0"
    if key == "copy_batches":
        return f"{v:,} / {r['copier_invocations']:,}"
    if key == "sqs_requests":
        return f"{v:,} ({r['sqs_billed']:,})"
    if key == "lister_gb_s":
        return f"{v:,.0f} + {r['copier_gb_s']:,.0f}"
    if key == "throttled_share":
        return f"{v:.0%}"
    if key == "longest_copier_s":
        return f"{duration(v)} ({r['copier_overruns']:,})"
    if key == "busy_partitions":
        return f"{v:.1f}"
    if key in ("cost_usd", "dry_run_estimate_usd"):
        return "-" if v is None else f"{v:,.2f}"
    return f"{v:,}"


def print_text(report: dict[str, Any]) -> None:
    print(f"bench/scale: {len(report['scenarios'])} scenario(s), simulated in {report['elapsed_s']:.0f} s on {report['machine']}")
    print("\nassumptions (flags --name-with-dashes, or --assumptions FILE):")
    for name, value in report["assumptions"].items():
        print(f"  {name:26} {value}")
    print(f"  {'copy latency (derived)':26} {report['copy_ms']:.1f} ms per object, mean object size {report['mean_object_bytes']:,.0f} B")
    print("project code driving the listers:", ", ".join(f"{k} {v:,}" for k, v in report["policy"].items()))
    print("prices: s3fanout.estimate.Prices " + ", ".join(f"{k}={v}" for k, v in report["prices"].items() if k.endswith(("1000", "million", "second", "_gb"))))
    for scenario in report["scenarios"]:
        runs = scenario["designs"]
        print(f"\n== {scenario['distribution']}, {count_label(scenario['keys'])} keys: {scenario['description']}")
        print(f"   {scenario['partitions']} S3 partitions in the model; keys not printable-ASCII first: {scenario['unlisted_by_ascii95']:,}")
        names = list(runs)
        width = max(len(cell(runs[d], key)) for d in names for _, key in ROWS)
        print(f"   {'':44}" + "".join(f"{d:>{max(width, 12) + 2}}" for d in names))
        for label, key in ROWS:
            print(f"   {label:44}" + "".join(f"{cell(runs[d], key):>{max(width, 12) + 2}}" for d in names))
    print("\ndesigns: " + "; ".join(f"{k} = {v}" for k, v in DESIGNS.items()))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        a = assumptions_from(args)
        prices = Prices.from_file(args.prices) if args.prices else Prices()
        sizes = [parse_count(s) for s in args.sizes.split(",") if s]
        distributions = [d for d in args.distributions.split(",") if d]
        designs = [d for d in args.designs.split(",") if d]
        for d in distributions:
            if d not in DISTRIBUTIONS:
                raise ValueError(f"unknown distribution {d!r} (known: {', '.join(DISTRIBUTIONS)})")
        for d in designs:
            if d not in DESIGNS:
                raise ValueError(f"unknown design {d!r} (known: {', '.join(DESIGNS)})")
    except (ValueError, OSError, argparse.ArgumentTypeError) as error:
        print(f"bench/scale: error: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    if args.verify:
        # A short lister timeout, so that hand-ons happen on small key sets too.
        va = dataclasses.replace(a, lister_timeout_s=min(a.lister_timeout_s, a.stop_margin_ms // 1000 + 3))
        rows = verify(distributions, args.verify_keys, va)
        if args.json:
            print(json.dumps({"verify": rows, "lister_timeout_s": va.lister_timeout_s}, indent=2))
        else:
            print(f"real list_range vs the simulated lister, {count_label(args.verify_keys)} keys each, lister timeout {va.lister_timeout_s} s:")
            for row in rows:
                print(f"  {row['distribution']:8} {'agree' if row['agree'] else 'DIFFER'}  real {row['real']}")
                if not row["agree"]:
                    print(f"  {'':8}         sim  {row['simulated']}")
        return 0 if all(row["agree"] for row in rows) else 1
    jobs = [(d, n, design, asdict(a), asdict(prices)) for n in sizes for d in distributions for design in designs]
    jobs.sort(key=lambda j: (-j[1], j[2] != "project"))  # the long ones first
    if args.jobs > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            outputs = list(pool.map(_run, jobs))
    else:
        outputs = [_run(job) for job in jobs]
    scenarios: dict[tuple[int, str], dict[str, Any]] = {}
    for out in outputs:
        key = (out["keys"], out["distribution"])
        scenario = scenarios.setdefault(key, {k: out[k] for k in ("distribution", "keys", "description", "partitions", "unlisted_by_ascii95")} | {"designs": {}})
        scenario["designs"][out["result"]["design"]] = out["result"]
    ordered = [scenarios[(n, d)] for n in sizes for d in distributions]
    for scenario in ordered:
        scenario["designs"] = {d: scenario["designs"][d] for d in designs}
    report = {
        "command": "bench/scale " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "elapsed_s": round(time.perf_counter() - started, 1),
        "assumptions": asdict(a),
        "copy_ms": a.copy_ms(),
        "mean_object_bytes": object_size_mean(a.object_size),
        "policy": policy(),
        "prices": asdict(prices),
        "scenarios": ordered,
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
