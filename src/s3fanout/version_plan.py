"""The dry run's plan of a versions job (--all-versions, --as-of) and what running it would cost:
the same listings and the same planning as the listers (versions.py), over the seeded ranges in a
thread pool, changing nothing (the destination's records are read with HeadObject where a lister
would read them)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from s3fanout.compare import Action
from s3fanout.estimate import PLANNING_THREADS, SAMPLE_SIZE, CostEstimate, CostLine, JobPlan, Prices, estimate_cost
from s3fanout.job import JobSpec
from s3fanout.keyspace import KeyRange, seed_ranges
from s3fanout.messages import parse_as_of
from s3fanout.s3ops import ListedPage, VersionPage, key_version_entries, list_pages, list_version_pages, recorded_source_version
from s3fanout.versions import KeyTop, StackGroup, StackPlanner, as_of_groups, as_of_pages, entries_newer_than

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass
class VersionPlan:
    """What a versions job would list and copy. For --all-versions, ``to_copy`` counts object
    versions and ``markers_to_write`` delete markers; for --as-of, ``to_copy`` counts keys (each
    the version current at the time) and ``orphans`` the destination's keys absent then."""

    ranges: int = 0
    source_pages: int = 0
    dest_pages: int = 0
    # HeadObject requests of destination versions (the source version each records).
    head_requests: int = 0
    keys: int = 0
    versions_listed: int = 0
    markers_listed: int = 0
    to_copy: int = 0
    bytes_to_copy: int = 0
    markers_to_write: int = 0
    keys_to_copy: int = 0
    to_skip: int = 0
    bytes_to_skip: int = 0
    orphans: int = 0
    bytes_orphaned: int = 0
    copy_sample: list[str] = field(default_factory=list)

    def add(self, other: VersionPlan) -> None:
        for item in fields(self):
            if item.name != "copy_sample":
                setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))
        self.copy_sample = sorted(self.copy_sample + other.copy_sample)[:SAMPLE_SIZE]

    def job_plan(self) -> JobPlan:
        """The plan as the estimate of current objects prices it: a COPY per version to copy."""
        return JobPlan(
            ranges=self.ranges,
            source_pages=self.source_pages,
            dest_pages=self.dest_pages,
            to_copy=self.to_copy,
            bytes_to_copy=self.bytes_to_copy,
            to_skip=self.to_skip,
            bytes_to_skip=self.bytes_to_skip,
            orphans=self.orphans,
            bytes_orphaned=self.bytes_orphaned,
            copy_sample=list(self.copy_sample),
        )


class _Counter:
    def __init__(self) -> None:
        self.source = self.dest = self.heads = 0


def plan_range(s3: S3Client, dest_s3: S3Client, spec: JobSpec, key_range: KeyRange) -> VersionPlan:
    """One range's plan; ``s3`` lists the source, ``dest_s3`` the destination."""
    plan, counter = VersionPlan(ranges=1), _Counter()

    def source_request() -> None:
        counter.source += 1

    def dest_request() -> None:
        counter.dest += 1

    source = list_version_pages(s3, spec.source_bucket, spec.prefix, key_range, on_request=source_request)
    if spec.as_of is not None:
        _plan_as_of(plan, source, dest_s3, spec, key_range, dest_request)
    else:

        def recorded(key: str, version_id: str) -> str | None:
            counter.heads += 1
            return recorded_source_version(dest_s3, spec.dest_bucket, key, version_id)

        def newer_than(key: str, anchor: str | None) -> KeyTop:
            return entries_newer_than(key_version_entries(s3, spec.source_bucket, key, on_request=source_request), anchor)

        dest = list_version_pages(dest_s3, spec.dest_bucket, spec.prefix, key_range, on_request=dest_request) if spec.compare else None
        planner = StackPlanner(dest, recorded=recorded, newer_than=newer_than)
        groups = (planner.feed(page) for page in _counting(source, plan))
        for group in itertools.chain(groups, _final(planner)):
            plan.orphans += len(group.orphans)
            for decision in group.decisions:
                plan.keys += 1
                plan.to_copy += decision.copy_versions
                plan.bytes_to_copy += decision.copy_bytes
                plan.markers_to_write += decision.copy_markers
                plan.to_skip += decision.skipped
                plan.bytes_to_skip += decision.skipped_bytes
                if decision.to_copy:
                    plan.keys_to_copy += 1
                    if len(plan.copy_sample) < SAMPLE_SIZE:
                        plan.copy_sample.append(decision.key)
    plan.source_pages, plan.dest_pages, plan.head_requests = counter.source, counter.dest, counter.heads
    return plan


def _plan_as_of(plan: VersionPlan, source: Iterator[VersionPage], dest_s3: S3Client, spec: JobSpec, key_range: KeyRange, dest_request: Callable[[], None]) -> None:
    assert spec.as_of is not None
    counted = _counting(source, plan)
    dest: Iterator[ListedPage] = list_pages(dest_s3, spec.dest_bucket, spec.prefix, key_range, on_request=dest_request) if spec.compare else iter(())
    for group in as_of_groups(as_of_pages(counted, parse_as_of(spec.as_of)), dest):
        for decision in group.decisions:
            if decision.action is Action.COPY and decision.source is not None:
                plan.keys += 1
                plan.keys_to_copy += 1
                plan.to_copy += 1
                plan.bytes_to_copy += decision.source.size
                if len(plan.copy_sample) < SAMPLE_SIZE:
                    plan.copy_sample.append(decision.key)
            elif decision.action is Action.SKIP and decision.source is not None:
                plan.keys += 1
                plan.to_skip += 1
                plan.bytes_to_skip += decision.source.size
            elif decision.action is Action.ORPHAN and decision.dest is not None:
                plan.orphans += 1
                plan.bytes_orphaned += decision.dest.size


def _final(planner: StackPlanner) -> Iterator[StackGroup]:
    """The planner's last key when the listing ended without a page marked last."""
    group = planner.finish()
    if group.decisions or group.orphans:
        yield group


def _counting(pages: Iterator[VersionPage], plan: VersionPlan) -> Iterator[VersionPage]:
    for page in pages:
        plan.versions_listed += sum(1 for entry in page if not entry.delete_marker)
        plan.markers_listed += sum(1 for entry in page if entry.delete_marker)
        yield page


def plan_versions_job(s3: S3Client, dest_s3: S3Client, spec: JobSpec) -> VersionPlan:
    """List and plan every seeded range (in parallel), changing nothing."""
    total = VersionPlan()
    with ThreadPoolExecutor(max_workers=PLANNING_THREADS) as pool:
        for plan in pool.map(lambda key_range: plan_range(s3, dest_s3, spec, key_range), seed_ranges(spec.prefix, spec.ranges)):
            total.add(plan)
    return total


def estimate_versions_cost(plan: VersionPlan, prices: Prices, *, all_versions: bool, cross_region: bool) -> CostEstimate:
    """What a deployed run of the plan would cost: the current objects' estimate for its listings
    and copies (a COPY per version), and, for --all-versions, a HeadObject per version copied (its
    metadata, which the copy carries with the source version id), the listers' HeadObject of
    destination versions, and a DeleteObject per delete marker."""
    estimate = estimate_cost(plan.job_plan(), prices, delete=False, cross_region=cross_region)
    if not all_versions:
        return estimate
    heads = plan.to_copy + plan.head_requests
    extra = [
        CostLine("S3 HEAD requests (versions' metadata)", heads, "requests", heads / 1000 * prices.s3_get_per_1000),
        CostLine("S3 DeleteObject requests (markers)", plan.markers_to_write, "requests", plan.markers_to_write / 1000 * prices.s3_delete_per_1000),
    ]
    return CostEstimate(estimate.lines + extra, prices)
