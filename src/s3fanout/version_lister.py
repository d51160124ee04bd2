"""Listing a key range's versions (ListObjectVersions) instead of its current objects: every
version in order (--all-versions) or the versions current at a time (--as-of). The planning is
versions.py's; this module makes the listings and sends what it decides, as lister.py does for
current objects (whose loop, hand-on and split it follows).

Both listings are over the task's key range (``after < key <= until``). A range is handed on, or
split, after any page; a version page may end inside a key, and the task for the rest of the range
then names that key and the last version listed (``ListTask.after_version``): the next lister
resumes there with KeyMarker and VersionIdMarker, reads that key's stack in the destination on
its own (ListObjectVersions with the key as the prefix), and lists the destination after the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from s3fanout.compare import DecisionGroup
from s3fanout.counts import Counts
from s3fanout.keyspace import KeyRange
from s3fanout.lister import DEFAULT_STOP_MARGIN_MS, SURVEY_EVERY_PAGES, CopySender, ListOutcome, split_policy
from s3fanout.messages import ListTask, parse_as_of
from s3fanout.outbox import Outbox
from s3fanout.s3errors import S3Failure
from s3fanout.s3ops import (
    ListedPage,
    key_exists_after,
    key_version_entries,
    list_pages,
    list_version_pages,
    object_listed_at,
    recorded_source_version,
)
from s3fanout.versions import DestStack, KeyTop, StackGroup, StackPlanner, as_of_groups, as_of_pages, entries_newer_than

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def as_of_task_groups(source_s3: S3Client, dest_s3: S3Client, task: ListTask, counts: Counts) -> Iterator[DecisionGroup]:
    """--as-of: the range's keys as they were at the task's time, merge-joined with the
    destination's current objects (lister.py acts on the groups as on a listing's)."""
    assert task.as_of is not None
    when = parse_as_of(task.as_of)

    def count_request() -> None:
        counts.list_requests += 1

    source = list_version_pages(source_s3, task.source_bucket, task.prefix, source_range(task), resume_at=resume_at(task), on_request=count_request)
    open_key = task.after if task.after_version is not None else None
    pages = as_of_pages(_counting_entries(source, counts), when, open_key=open_key)
    groups = as_of_groups(pages, _dest_objects(dest_s3, task, open_key, count_request) if task.compare else iter(()))
    return _ending_at_until(groups, task.until)


def source_range(task: ListTask) -> KeyRange:
    """The task's range as the source's version listing takes it: a task resumed inside a key
    (``after_version``) starts at ``resume_at``, and that key may be its ``until`` too."""
    return KeyRange(None, task.until) if task.after_version is not None else KeyRange(task.after, task.until)


def resume_at(task: ListTask) -> tuple[str, str] | None:
    return (task.after, task.after_version) if task.after is not None and task.after_version is not None else None


def dest_range(task: ListTask) -> KeyRange | None:
    """The keys after ``after`` the destination is listed over; None when there are none (a task
    resumed inside its range's last key)."""
    if task.after is not None and task.until is not None and task.after >= task.until:
        return None
    return KeyRange(task.after, task.until)


def _ending_at_until(groups: Iterator[DecisionGroup], until: str | None) -> Iterator[DecisionGroup]:
    """The groups, the one that settles the range's last key marked last (more versions of that
    key may follow on the next page, none of them needed)."""
    for group in groups:
        if not group.last and until is not None and group.checkpoint_version is None and group.checkpoint >= until:
            yield dataclasses.replace(group, last=True)
            return
        yield group


def _counting_entries(pages: Iterator[Any], counts: Counts) -> Iterator[Any]:
    for page in pages:
        counts.versions_listed += len(page)
        yield page


def _dest_objects(dest_s3: S3Client, task: ListTask, open_key: str | None, count_request: Callable[[], None]) -> Iterator[ListedPage]:
    """The destination's current objects of the range; a range resumed inside ``open_key`` needs
    that key's too (its listing starts after it)."""
    if open_key is not None:
        count_request()
        found = object_listed_at(dest_s3, task.dest_bucket, open_key)
        if found is not None:
            yield ListedPage([found], last=False)
    after = dest_range(task)
    if after is not None:
        yield from list_pages(dest_s3, task.dest_bucket, task.prefix, after, on_request=count_request)


def list_version_range(
    task: ListTask,
    *,
    s3: S3Client,
    outbox: Outbox,
    remaining_ms: Callable[[], int],
    stop_margin_ms: int = DEFAULT_STOP_MARGIN_MS,
    dest_s3: S3Client | None = None,
) -> ListOutcome:
    """--all-versions: plan every key's history of the task's range (versions.StackPlanner) and
    queue one copy item per key with entries to copy; hand the rest of the range on near the
    timeout, split it when it turns out large, as lister.list_range does for current objects."""
    source_s3, dest_s3 = s3, dest_s3 or s3
    counts = Counts()
    sender = CopySender(task, outbox, counts)
    current = task
    pages_to_survey = 1
    while True:
        planner, pages = _planner(source_s3, dest_s3, current, counts)
        restarted = ended = False
        for page in pages:
            group = planner.feed(page)
            _act(group, sender, counts)
            sender.send()
            if group.last:
                ended = True
                break
            if remaining_ms() < stop_margin_ms:
                sender.flush()
                rest = dataclasses.replace(
                    current, after=group.checkpoint, after_version=group.checkpoint_version, resumed=current.resumed + 1, hops=current.hops + 1
                )
                outbox.list_tasks([rest])
                counts.ranges_handed_on += 1
                return ListOutcome(counts, rest)
            pages_to_survey -= 1
            if pages_to_survey <= 0:
                pages_to_survey = SURVEY_EVERY_PAGES
                parts = _split_rest(source_s3, current, group, counts)
                if len(parts) > 1:
                    others = [dataclasses.replace(current, after=part.after, until=part.until, after_version=None, resumed=0, hops=current.hops + 1) for part in parts[1:]]
                    outbox.list_tasks(others)
                    counts.ranges_split_off += len(others)
                    # Go on with the first part only: list it afresh up to its new end.
                    current = dataclasses.replace(current, after=group.checkpoint, after_version=group.checkpoint_version, until=parts[0].until)
                    restarted = True
                    break
        if not restarted:
            if not ended:
                # The listing ended without a page marked last: its last key is complete.
                _act(planner.finish(), sender, counts)
            break
    sender.flush()
    return ListOutcome(counts, None)


def _planner(source_s3: S3Client, dest_s3: S3Client, task: ListTask, counts: Counts) -> tuple[StackPlanner, Iterator[Any]]:
    """The planner of a task's range and the source's version pages it is fed."""

    def count_request() -> None:
        counts.list_requests += 1

    def recorded(key: str, version_id: str) -> str | None:
        counts.head_requests += 1
        return recorded_source_version(dest_s3, task.dest_bucket, key, version_id)

    def newer_than(key: str, anchor: str | None) -> KeyTop:
        return entries_newer_than(key_version_entries(source_s3, task.source_bucket, key, on_request=count_request), anchor)

    open_key = task.after if task.after_version is not None else None
    source = list_version_pages(source_s3, task.source_bucket, task.prefix, source_range(task), resume_at=resume_at(task), on_request=count_request)
    if not task.compare:
        return StackPlanner(None, recorded=recorded, newer_than=newer_than, open_key=open_key), source
    after = dest_range(task)
    dest = list_version_pages(dest_s3, task.dest_bucket, task.prefix, after, on_request=count_request) if after is not None else iter(())
    open_dest = DestStack.of(key_version_entries(dest_s3, task.dest_bucket, open_key, on_request=count_request)) if open_key is not None else None
    return StackPlanner(dest, recorded=recorded, newer_than=newer_than, open_key=open_key, open_dest=open_dest), source


def _act(group: StackGroup, sender: CopySender, counts: Counts) -> None:
    """Count the group's decisions and queue the copy items of the keys with entries to copy."""
    counts.versions_listed += group.entries
    counts.orphans_found += len(group.orphans)
    for decision in group.decisions:
        counts.keys_listed += 1
        counts.bytes_listed += decision.listed_bytes
        counts.versions_skipped += decision.skipped
        item = decision.item()
        if item is None:
            counts.keys_skipped += 1
            counts.bytes_skipped += decision.skipped_bytes
        else:
            sender.add(item)


def _split_rest(s3: S3Client, task: ListTask, group: StackGroup, counts: Counts) -> list[KeyRange]:
    """lister.split_policy for the rest of the range after the group, probing the source's current
    keys (a key whose history ends in a delete marker is invisible to the probes: the estimate
    may be off, the cut is correct either way)."""
    listed = [decision.key for decision in group.decisions]
    if task.until is not None and group.checkpoint >= task.until:
        return []
    try:

        def exists_after(key: str) -> bool:
            counts.list_requests += 1
            return key_exists_after(s3, task.source_bucket, task.prefix, key, task.until)

        return split_policy(listed, KeyRange(group.checkpoint, task.until), exists_after)
    except S3Failure:
        return []
