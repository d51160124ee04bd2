"""A copy job: what it copies (JobSpec), its id, its seeding onto the list queue, the failures
file it leaves, and, for local jobs, the record of its scope. (Its checks before it is queued:
preflight.py.)"""

from __future__ import annotations

import heapq
import json
import math
import os
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar, cast

from s3fanout.counts import Counts
from s3fanout.dlq import DeadLetter
from s3fanout.guard import Scope
from s3fanout.keyspace import FirstKeys, KeyRange, join_sparse, probe_unknown, seed_ranges
from s3fanout.lister import KEYS_PER_PART, decide_listed
from s3fanout.manifest import ManifestError, ManifestPart, open_manifest, read_part
from s3fanout.messages import DEFAULT_COPY_OPTIONS, CopyBatch, CopyOptions, Destination, ListTask
from s3fanout.outbox import Outbox
from s3fanout.s3errors import S3Failure
from s3fanout.s3ops import PAGE_KEYS, FirstPage, first_key_after, first_page
from s3fanout.signing import local_state_dir

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")

DEFAULT_RANGES = 32


class JobError(ValueError):
    """Input a job cannot start with; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class DestinationSpec:
    """One more destination of a job of several (--dest given again): its bucket, the prefix its
    keys are written under (--dest-prefix; None: the source's keys as they are) and its region."""

    bucket: str
    prefix: str | None = None
    region: str | None = None


# A job's list tasks settle every destination's record in one DynamoDB transaction.
MAX_DESTINATIONS = 20


@dataclass(frozen=True, slots=True)
class JobSpec:
    source_bucket: str
    dest_bucket: str
    prefix: str = ""
    ranges: int = DEFAULT_RANGES
    # False copies every key without comparing with the destination (--force).
    compare: bool = True
    # The buckets' regions, found by the pre-flight checks (None: the functions' own region).
    source_region: str | None = None
    dest_region: str | None = None
    # How the copies are written (--storage-class, --sse, ...); carried in every message.
    copy_options: CopyOptions = DEFAULT_COPY_OPTIONS
    # --manifest: where the manifest is, and (once it is opened) the parts to seed one task each
    # instead of key ranges.
    manifest: str | None = None
    manifest_parts: tuple[ManifestPart, ...] = ()
    # Versions (versions.py): every version of every key, in order (--all-versions), or each key
    # as it was at a time (--as-of, ISO 8601 in UTC); carried in every list task.
    all_versions: bool = False
    as_of: str | None = None
    # Where the destination's keys go (--dest-prefix; None: the source's keys as they are), and
    # the job's other destinations: the source is listed once for all, each destination is a job
    # of its own (dest_job_id) with its own record, failures and delete pass.
    dest_prefix: str | None = None
    more_dests: tuple[DestinationSpec, ...] = ()
    # Seed one range instead of ``ranges`` when one listing page holds everything the ranges would
    # list (``fitted_ranges``): the CLI's default, unless --ranges says how many.
    fit_ranges: bool = False
    # The seed ranges as ``fitted_ranges`` judged them from each side's first page; empty:
    # ``ranges`` seed_ranges, full pages, nothing expected.
    seeds: tuple[Seed, ...] = ()
    # Every destination held no key under its prefix when ``fitted_ranges`` listed it: what a
    # destination then holds in a range is what the job copied there, so its listers ask the
    # destinations for small pages (ListTask.dest_empty).
    dest_empty: bool = False
    # The first pages ``fitted_ranges`` read: the source's, then, when the job compares, each
    # destination's (keys named as the source's). A local run's seeding decides the keys they
    # cover itself instead of having a lister list them again (``seed_plan``).
    first_pages: tuple[FirstPage, ...] = ()

    @property
    def destinations(self) -> tuple[DestinationSpec, ...]:
        return (DestinationSpec(self.dest_bucket, self.dest_prefix, self.dest_region), *self.more_dests)

    def for_destination(self, index: int) -> JobSpec:
        """The job of one destination alone (its record, delete pass, checks)."""
        dest = self.destinations[index]
        return replace(self, dest_bucket=dest.bucket, dest_prefix=dest.prefix, dest_region=dest.region, more_dests=())

    def dest_uri(self) -> str:
        """Where the (first) destination's keys go, as a person reads it."""
        return f"s3://{self.dest_bucket}/{self.prefix if self.dest_prefix is None else self.dest_prefix}"


class Seed(NamedTuple):
    """A seed range as ``fitted_seeds`` judged it: the MaxKeys of its first source page (None: a
    full page) and the source keys it is expected to hold (None: unknown), which its lister
    surveys by (``lister.first_survey_page``) and forecasts the job's copy work from."""

    key_range: KeyRange
    page_keys: int | None = None
    expected_keys: int | None = None


def new_job_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def dest_job_id(job_id: str, index: int) -> str:
    """The job id of a job's destination ``index`` (0: the job itself; then JOB-d2, JOB-d3, ...)."""
    return job_id if index == 0 else f"{job_id}-d{index + 1}"


def first_job_id(job_id: str) -> str:
    """The job a destination's job belongs to (JOB for JOB-d2): the one whose queues it shares."""
    base, _, number = job_id.rpartition("-d")
    return base if base and number.isdigit() else job_id


def job_ids(job_id: str, spec: JobSpec) -> list[str]:
    """Every destination's job id, the first destination's first."""
    return [dest_job_id(job_id, index) for index in range(len(spec.destinations))]


def list_tasks(job_id: str, spec: JobSpec, mode: str = "copy") -> list[ListTask]:
    more_dests = tuple(Destination(dest_job_id(job_id, index), dest.bucket, dest.region, dest.prefix) for index, dest in enumerate(spec.more_dests, 1))
    if spec.manifest is not None:
        return [
            ListTask(
                job_id,
                spec.source_bucket,
                spec.dest_bucket,
                spec.prefix,
                compare=spec.compare,
                source_region=spec.source_region,
                dest_region=spec.dest_region,
                options=spec.copy_options,
                manifest=part,
            )
            for part in spec.manifest_parts
        ]
    seeds = spec.seeds or tuple(Seed(key_range) for key_range in seed_ranges(spec.prefix, spec.ranges))
    seeded_at = int(time.time())
    return [
        ListTask(
            job_id,
            spec.source_bucket,
            spec.dest_bucket,
            spec.prefix,
            seed.key_range.after,
            seed.key_range.until,
            mode=mode,
            compare=spec.compare,
            source_region=spec.source_region,
            dest_region=spec.dest_region,
            options=spec.copy_options,
            all_versions=spec.all_versions,
            as_of=spec.as_of,
            dest_prefix=spec.dest_prefix,
            more_dests=more_dests,
            page_keys=seed.page_keys,
            expected_keys=seed.expected_keys,
            seeded_at=seeded_at,
            dest_empty=spec.dest_empty and mode == "copy",
        )
        for seed in interleaved(seeds)
    ]


def interleaved(items: Sequence[T]) -> list[T]:
    """``items`` in bit-reversed order of their index (0, 16, 8, 24, 4, ... of 32): every run of
    the first few lies spread over all of them. Seed tasks go on the list queue in this order, so
    that the first listers the event source starts (five, then more each second) list across the
    key space, and the copy work they send first reaches many of the destination's prefix
    partitions, not the first few in key order."""
    bits = max(1, len(items) - 1).bit_length()
    order = (int(f"{index:0{bits}b}"[::-1], 2) for index in range(1 << bits))
    return [items[index] for index in order if index < len(items)]


def fitted_ranges(spec: JobSpec, source_s3: S3Client, dest_s3: Sequence[S3Client]) -> JobSpec:
    """The spec to seed: with one range when it asks for it (``fit_ranges``) and one
    ListObjectsV2 page holds every key its ranges would list: the source's under the prefix, and,
    when the job compares with its destinations (as its delete pass does), each destination's
    under the prefix its keys go to. The other ranges would each cost a listing of both sides,
    and job-record updates, only to find them empty. One range is correct for any job; it only
    gives up listing in parallel, which a job this small does not need.

    A larger job gets its ranges as ``fitted_seeds`` judges them from each side's first page:
    those expected to hold little joined, each with the size of its first page. Where every
    destination's first page is empty and the last, the spec says so (``dest_empty``).

    ``dest_s3`` are the destinations' clients, in order. A job of a manifest or of versions keeps
    its seeding, and so does a job whose listing fails here (the workers will say why)."""
    if not spec.fit_ranges or spec.ranges == 1 or spec.manifest is not None or spec.all_versions or spec.as_of is not None:
        return spec
    sides = [(source_s3, spec.source_bucket, spec.prefix)]
    if spec.compare:
        sides += [(s3, dest.bucket, spec.prefix if dest.prefix is None else dest.prefix) for s3, dest in zip(dest_s3, spec.destinations, strict=True)]

    def renamed(page: FirstPage, prefix: str) -> FirstPage:
        # A destination's keys named as the source's, to be judged on the same ranges.
        return FirstPage([replace(obj, key=spec.prefix + obj.key[len(prefix) :]) for obj in page.objects], page.complete)

    def probe(s3: S3Client, bucket: str, prefix: str) -> Callable[[str], str | None]:
        def next_key(key: str) -> str | None:
            found = first_key_after(s3, bucket, prefix, prefix + key[len(spec.prefix) :])
            return None if found is None else spec.prefix + found[len(prefix) :]

        return next_key

    try:
        # Every side's first page at once: on S3, or an endpoint that lists slowly, the job starts
        # one LIST's time sooner, or more with several destinations.
        with ThreadPoolExecutor(len(sides), thread_name_prefix="first-page") as pool:
            pages = list(pool.map(lambda side: renamed(first_page(*side), side[2]), sides))
        dest_empty = spec.compare and all(page.complete and not page.keys for page in pages[1:])
        if all(page.complete for page in pages):
            return replace(spec, ranges=1, dest_empty=dest_empty, first_pages=tuple(pages))
        seeds = fitted_seeds(spec.prefix, spec.ranges, pages, [probe(*side) for side in sides])
    except S3Failure:
        return spec
    return replace(spec, ranges=len(seeds), seeds=seeds, dest_empty=dest_empty, first_pages=tuple(pages))


# A seed range's first page asks for this much more than the keys expected in it, and this many more.
SEED_PAGE_MARGIN = 1.25
SEED_PAGE_SLACK = 10
# Seed ranges expected to hold no more than this together are one range: a page's worth.
SEED_JOIN_KEYS = PAGE_KEYS


def fitted_seeds(prefix: str, count: int, pages: Sequence[FirstPage], probes: Sequence[Callable[[str], str | None]]) -> tuple[Seed, ...]:
    """``count`` seed ranges under ``prefix`` fitted to the first pages of the source and of the
    destinations it is compared with (``pages``, the source's first, every key named as the
    source's): runs of ranges that each side is expected to hold a page's worth or less of joined
    (an empty range costs a listing of each side and a job-record update), each with its first
    source page's MaxKeys (``seed_page_size``). A listing page answers up to MaxKeys keys whether
    or not they lie in the range, and a server's work (moto's, a self-hosted store's) grows with
    each key it answers. Where a first page says nothing of a range, the side's probe
    (``probes``, in the same order: the first key after a key) finds whether it is empty, and
    bounds it by the key after it where it is not.

    Where that leaves fewer than ``count`` ranges, the largest are cut again on the source's first
    keys (``seed_pieces``, ``FirstKeys.cut``): keys that start with few characters (hashes, UUIDs,
    dates) then start as many listers as ``count`` asks for, spread over where they are, rather than
    a few that each split their range before the rest can start.

    The estimates are a guess from the first keys: a range that holds more than expected is split
    by its lister as any other."""
    ranges = seed_ranges(prefix, count)
    firsts = [FirstKeys(page.keys, page.complete, prefix) for page in pages]
    per_side = [probe_unknown(ranges, first, next_key) for first, next_key in zip(firsts, probes, strict=True)]
    fullest = [None if None in sides else max(cast("list[float]", sides)) for sides in zip(*per_side, strict=True)]
    joined = []  # (range, its source keys, its keys on the fuller side), None where unknown
    for first, last in join_sparse(fullest, SEED_JOIN_KEYS):
        in_source, on_fuller = per_side[0][first : last + 1], fullest[first : last + 1]
        joined.append((
            KeyRange(ranges[first].after, ranges[last].until),
            None if None in in_source else sum(cast("list[float]", in_source)),
            None if None in on_fuller else sum(cast("list[float]", on_fuller)),
        ))  # fmt: skip
    works = [(key_range, work) for key_range, _, work in joined]
    # A range of unknown size cut into pieces was judged as large as the typical range.
    typical = typical_keys([work for _, work in works])
    seeds = []
    for (key_range, estimate, _), pieces in zip(joined, seed_pieces(works, count), strict=True):
        cut = firsts[0].cut(key_range, pieces)
        each = None if estimate is None else estimate / len(cut)
        guess = each if each is not None or len(cut) == 1 else typical / len(cut)
        seeds += [Seed(part, seed_page_size(part, each), None if guess is None else round(guess)) for part in cut]
    return tuple(seeds)


def typical_keys(estimates: Sequence[float | None]) -> float:
    """The mean of the estimates known to hold keys (0 without any)."""
    known = [estimate for estimate in estimates if estimate]
    return sum(known) / len(known) if known else 0.0


def seed_pieces(ranges: Sequence[tuple[KeyRange, float | None]], count: int) -> list[int]:
    """Into how many seed ranges to cut each of ``ranges`` (each with its estimated keys, None
    where unknown) so that there are up to ``count``: one each, and the rest one at a time to the
    range whose pieces would then hold the most keys, while they would hold a lister's part
    (KEYS_PER_PART) or more. A range of unknown size counts as the mean of those known to hold
    keys, but one open above is left whole: nothing says its keys are many or where they lie."""
    typical = typical_keys([estimate for _, estimate in ranges])
    weights = [(typical if key_range.until is not None else 0.0) if estimate is None else estimate for key_range, estimate in ranges]
    pieces = [1] * len(ranges)
    # (minus the keys each piece would hold with one piece more, index): the most first.
    next_cut = [(-weight / 2, index) for index, weight in enumerate(weights)]
    heapq.heapify(next_cut)
    for _ in range(count - len(ranges)):
        if not next_cut or -next_cut[0][0] < KEYS_PER_PART:
            break
        _, index = heapq.heappop(next_cut)
        pieces[index] += 1
        heapq.heappush(next_cut, (-weights[index] / (pieces[index] + 1), index))
    return pieces


# The first page of a seed range that nothing is known of: a tenth of a full one, so that an empty
# or small range answers little past its end and a large one costs one LIST more.
SEED_UNKNOWN_PAGE_KEYS = PAGE_KEYS // 10


def seed_page_size(key_range: KeyRange, estimate: float | None) -> int | None:
    """The MaxKeys of a seed range's first page: the keys expected, with a margin (a range
    fuller than that goes on in full pages), or SEED_UNKNOWN_PAGE_KEYS; None (a full page) for a
    range open above, whose page answers nothing past it."""
    if key_range.until is None:
        return None
    if estimate is None:
        return SEED_UNKNOWN_PAGE_KEYS
    return min(PAGE_KEYS, math.ceil(estimate * SEED_PAGE_MARGIN) + SEED_PAGE_SLACK)


def with_manifest_parts(spec: JobSpec, s3: S3Client) -> JobSpec:
    """The spec with its manifest opened into parts (reading ``manifest.json`` or the CSV's first
    bytes, and the footers of columnar data files, with ``s3``): JobError when it cannot be read,
    names another bucket than the job's source, or names nothing."""
    if spec.manifest is None:
        return spec
    try:
        manifest = open_manifest(spec.manifest, s3, bucket=spec.source_bucket)
        # Its first row, read now: a manifest of another bucket is refused before any work starts
        # (a later row naming one fails its part, with the reason, in the list DLQ).
        first = next(iter(read_part(manifest.parts[0], s3)), None) if manifest.parts else None
    except ManifestError as error:
        raise JobError(f"--manifest {spec.manifest}: {error}") from None
    if first is None:
        raise JobError(f"--manifest {spec.manifest} names no objects")
    return replace(spec, manifest_parts=manifest.parts)


def manifest_location(spec: JobSpec) -> str | None:
    """Where a job's manifest files are (its manifest and every data file), as the scope's
    ``manifests`` names them: the longest common prefix ending in "/" (or a path separator)."""
    if spec.manifest is None:
        return None
    uris = [spec.manifest, *(part.uri for part in spec.manifest_parts)]
    if not spec.manifest.startswith("s3://"):
        uris = [os.path.normpath(os.path.abspath(uri)) for uri in uris]
    common = os.path.commonprefix(uris)
    cut = max(common.rfind("/"), common.rfind(os.sep))
    return common[: cut + 1]


def describe_tasks(spec: JobSpec, count: int) -> str:
    """What a job seeded, for a person: its key ranges, or its manifest's parts."""
    source = f"s3://{spec.source_bucket}/{spec.prefix}"
    if spec.manifest is not None:
        return f"{count:,} parts of manifest {spec.manifest} (keys of {source})"
    return f"{count:,} key {'range' if count == 1 else 'ranges'} of {source}"


@dataclass(frozen=True)
class SeedPlan:
    """What seeding a job's copy pass sends: copy batches of the keys its first pages decided
    already (``seed_plan``), and the list tasks of the rest of its key ranges; the counts of those
    keys, by job; and the key ranges the job was cut into (some of which may need no list task)."""

    tasks: list[ListTask]
    batches: list[CopyBatch]
    counts: dict[str, Counts]
    ranges: int

    def send(self, outbox: Outbox) -> None:
        """The copy batches (counted open as they go), then the list tasks, which the job's
        records counted open when they were made (``NewJob.list_open``): until every list task
        is sent, no record can look drained, however soon the copies are done."""
        outbox.copy_batches(self.batches)
        replace(outbox, ledger=None).list_tasks(self.tasks)


def seed_plan(job_id: str, spec: JobSpec, decide_first_pages: bool = False) -> SeedPlan:
    """The seeding of a job's copy pass: one list task per key range (or manifest part).

    With ``decide_first_pages``, the keys that the first pages ``fitted_ranges`` read cover on
    every side (up to the first key a truncated page ends at, or everything) are decided here,
    as their ranges' listers would decide them (``lister.decide_listed``), and queued as copy
    batches at once; a range they cover whole needs no list task, and the one they end in goes
    on after the last covered key. The copies start one listing sooner, and no lister lists
    those keys again: a small job needs no lister at all."""
    tasks = list_tasks(job_id, spec)
    pages = spec.first_pages
    if not decide_first_pages or not tasks or not pages or any(not page.complete and not page.objects for page in pages):
        return SeedPlan(tasks, [], {}, len(tasks))  # (S3 may answer a truncated page without a key: it covers nothing)
    ends = [page.objects[-1].key for page in pages if not page.complete]
    covered = min(ends) if ends else None  # the last key every side listed; None: every key
    left: list[ListTask] = []
    batches: list[CopyBatch] = []
    # The first pages were these keys' listing, as a lister counts its own: the source's LIST by
    # the first destination's job, each destination's by its own.
    dest_ids = [dest.job_id for dest in tasks[0].destinations]
    counts = {one_id: Counts(list_requests=int(spec.compare)) for one_id in dest_ids}
    counts[dest_ids[0]].list_requests += 1
    for task in tasks:
        if covered is not None and task.after is not None and task.after >= covered:
            left.append(task)
            continue
        span = KeyRange(task.after, covered if covered is not None and (task.until is None or covered < task.until) else task.until)
        source, *dests = ([obj for obj in page.objects if span.contains(obj.key)] for page in pages)
        for one_id, (job_batches, job_counts) in decide_listed(task, source, dests).items():
            batches += job_batches
            counts[one_id] += job_counts
        if span.until != task.until:
            rest = KeyRange(span.until, task.until)
            expected = None if task.expected_keys is None else max(0, task.expected_keys - len(source))
            left.append(replace(task, after=rest.after, expected_keys=expected, page_keys=seed_page_size(rest, expected)))
    return SeedPlan(left, batches, counts, len(tasks))


def seed_delete_pass(outbox: Outbox, job_id: str, spec: JobSpec) -> None:
    """Put one delete-pass ListTask per key range of the job on the list queue, sealed and
    counted open. A job runs this orphan pass only after its copies all succeeded: this seal is
    what lets a lister delete (signing.py). (The copy pass is seeded by ``seed_plan``.)"""
    outbox.list_tasks(list_tasks(job_id, spec, "delete"))


def write_failures(path: Path, letters: Iterable[DeadLetter]) -> int:
    """Write failed keys as JSON lines; return how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for letter in letters:
            out.write(json.dumps(letter.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def _scope_file(job_id: str) -> Path:
    return local_state_dir() / "jobs" / f"{job_id}.json"


def record_local_scope(job_id: str, scope: Scope) -> None:
    """Remember a local job's scope, so that a later `dlq redrive --local` runs its failures
    with the same buckets, prefix and delete permission and no others."""
    path = _scope_file(job_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps(scope.to_env()), encoding="utf-8")


def local_scope(job_id: str) -> Scope | None:
    """The scope recorded for a local job, or None when this machine has no record of it."""
    try:
        return Scope.from_env(json.loads(_scope_file(job_id).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
