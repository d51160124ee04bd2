"""Listing one key range into copy batches (or orphan deletions), handing the rest on when time
runs short."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from s3fanout.compare import Action, Decision, DecisionGroup, JointGroup, copy_everything, merge_join_each
from s3fanout.copyspread import CopySpread
from s3fanout.counts import Counts
from s3fanout.keyspace import KeyRange, split_range, survey
from s3fanout.messages import COPY_BATCH_MAX_KEYS, CopyBatch, CopyBatchPacker, CopyItem, Destination, ListTask, dest_key
from s3fanout.outbox import Outbox
from s3fanout.s3errors import S3Failure
from s3fanout.s3ops import PAGE_KEYS, ListedObject, ListedPage, confirm_absent, delete_objects, key_exists_after, list_pages, list_pages_as

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Stop listing when less than this is left of the invocation: enough to send what is packed and the
# task for the rest, even if SQS is slow to answer.
DEFAULT_STOP_MARGIN_MS = 30_000


# When a range looks large, a lister hands parts of the rest to other listers (new list tasks), so
# that a bucket whose keys share one prefix is listed by many Lambdas at once. A part is worth its
# own lister only if it holds many pages of keys; ranges are not split below that. Parts of about
# 25 pages keep 100 listers busy on 100M keys under one prefix (listed in 97 s in bench/scale)
# while a re-run over 1M unchanged keys costs about 2,140 LISTs, not 2,430 with parts of 10 pages.
SPLIT_MIN_KEYS = 50_000
KEYS_PER_PART = 25_000
MAX_PARTS = 8
# An open list task's copy work as a lister's copy spread counts it ahead, at least: one part's batches.
BATCHES_PER_PART = KEYS_PER_PART // COPY_BATCH_MAX_KEYS
# Look at the range again after this many pages (surveying an open-ended range costs ~15 LISTs).
SURVEY_EVERY_PAGES = 10
# A page this full says the listing goes on densely; a thinner one says the range is nearly done.
SURVEY_MIN_PAGE_KEYS = 500


class CopySender:
    """A list task's copies to one of its destinations (the first by default): packed into copy
    batches (CopyBatchPacker, with the task's regions and options and the destination's key
    rewrite), and the full ones sent through the outbox together, ten to a SendMessageBatch, when
    the lister has settled a page or a chunk (``send``); counted in ``counts``. With ``spread``
    each batch is delayed by its own share of the copy queue's backlog (copyspread.py)."""

    def __init__(self, task: ListTask, outbox: Outbox, counts: Counts, dest: Destination | None = None, spread: CopySpread | None = None) -> None:
        self._packer = _packer(task, dest or task.destinations[0])
        self._outbox, self._counts, self._spread = outbox, counts, spread
        self._ready: list[CopyBatch] = []

    def add(self, item: CopyItem) -> None:
        self._ready += self._packer.add(item)

    def send(self) -> None:
        """Send the full batches."""
        if self._ready:
            self._outbox.copy_batches(self._ready, self._spread.delays(len(self._ready)) if self._spread else 0)
            self._counts.copy_batches_sent += len(self._ready)
            self._ready = []

    def flush(self) -> None:
        """Send the partial batch too: before a hand-on, and at the end of the task."""
        self._ready += self._packer.flush()
        self.send()


def _packer(task: ListTask, dest: Destination) -> CopyBatchPacker:
    """The copy batches of a list task's copies to one of its destinations."""
    return CopyBatchPacker(dest.job_id, task.source_bucket, dest.bucket, regions=(task.source_region, dest.region), options=task.options, rekey=dest.rekey(task.prefix))


@dataclass(frozen=True, slots=True)
class ListOutcome:
    # The counts of the task's job (its first destination's).
    counts: Counts
    # The task for the rest of the range, when time ran short; None when the range was finished.
    handed_on: ListTask | None
    # The counts of the jobs of the task's other destinations (a job of several destinations).
    others: Mapping[str, Counts] = field(default_factory=dict)

    def by_job(self, task: ListTask) -> dict[str, Counts]:
        return {task.job_id: self.counts, **self.others}


@dataclass(slots=True)
class _Side:
    """One destination of a list task as the lister walks it: its client, counts and copies."""

    dest: Destination
    s3: S3Client
    counts: Counts
    sender: CopySender


def list_range(
    task: ListTask,
    *,
    s3: S3Client,
    outbox: Outbox,
    remaining_ms: Callable[[], int],
    stop_margin_ms: int = DEFAULT_STOP_MARGIN_MS,
    dest_s3: S3Client | None = None,
    more_dest_s3: Sequence[S3Client] = (),
    spread: CopySpread | None = None,
) -> ListOutcome:
    """Decide every key of the task's range and act on it: queue copies, or delete orphans.

    The source and destination listings are merge-joined (see compare.py), so an object that is
    already identical costs no request of its own. A task with several destinations lists the
    source once and each destination on its own (compare.merge_join_each); each destination gets
    copy batches of its own job for what it lacks. Copy batches are sent as soon as they fill, so
    copies start while listing goes on. A range that turns out large is split: the rest of it is
    cut into parts and all but the first go to other listers. After each group of decisions, if
    the invocation is close to its timeout, the partial batches are sent and a task for the rest of
    the range (after the last key settled on every side) goes back on the list queue. A
    redelivered task starts again from its own ``after``: keys may be copied twice, never skipped.
    In "delete" mode the orphans of each group are deleted once both listings have covered them.
    Every message goes through ``outbox`` (sealed, counted open); a task handed on or split off
    counts one more hop. ``s3`` is the source's client, ``dest_s3`` the first destination's and
    ``more_dest_s3`` the others' (each of its bucket's region; the source's client when absent).
    ``spread`` delays each copy batch by a share of the job's copy work still queued or to come,
    so that the copiers' work is not in key order (copyspread.py); the lister tells it how many
    keys its task, and each part it goes on with, are expected to hold.
    """
    if task.all_versions:
        from s3fanout.version_lister import list_version_range

        return list_version_range(task, s3=s3, outbox=outbox, remaining_ms=remaining_ms, stop_margin_ms=stop_margin_ms, dest_s3=dest_s3)
    source_s3 = s3
    dest_clients = [dest_s3 or s3, *(more_dest_s3 or [dest_s3 or s3] * len(task.more_dests))]
    sides = []
    for dest, client in zip(task.destinations, dest_clients, strict=True):
        counts = Counts()
        sides.append(_Side(dest, client, counts, CopySender(task, outbox, counts, dest, spread)))
    first = sides[0]
    current = task
    pages_to_survey = first_survey_page(task.expected_keys)
    if spread is not None:
        # A seed range's estimate comes from the bucket's first keys: too rough to forecast by.
        spread.expect(task.expected_keys if task.hops else None)
        spread.aim(task.seeded_at)

    def outcome(handed_on: ListTask | None) -> ListOutcome:
        return ListOutcome(first.counts, handed_on, {side.dest.job_id: side.counts for side in sides[1:]})

    def send(flush: bool = False) -> None:
        for side in sides:
            side.sender.flush() if flush else side.sender.send()

    while True:
        for group in _groups(source_s3, current, sides):
            for side, decisions in zip(sides, group.per_dest, strict=True):
                _act(current, side, decisions, source_s3)
            send()
            if group.last:
                break
            if remaining_ms() < stop_margin_ms:
                send(flush=True)
                rest = dataclasses.replace(
                    current, after=group.checkpoint, after_version=group.checkpoint_version, resumed=current.resumed + 1, hops=current.hops + 1, expected_keys=None, page_keys=None
                )
                outbox.list_tasks([rest])
                for side in sides:
                    side.counts.ranges_handed_on += 1
                return outcome(rest)
            pages_to_survey -= 1
            if pages_to_survey <= 0:
                pages_to_survey = SURVEY_EVERY_PAGES
                first_group = DecisionGroup(group.per_dest[0], group.checkpoint, group.last, group.checkpoint_version)
                parts, part_keys = _split_rest(source_s3, first.s3, current, first_group, first.counts)
                if len(parts) > 1:
                    others = [
                        dataclasses.replace(
                            current, after=part.after, until=part.until, after_version=None, resumed=0, hops=current.hops + 1, expected_keys=part_keys, page_keys=None
                        )
                        for part in parts[1:]
                    ]
                    outbox.list_tasks(others)
                    for side in sides:
                        side.counts.ranges_split_off += len(others)
                    # Go on with the first part only: list it afresh up to its new end.
                    current = dataclasses.replace(current, after=group.checkpoint, after_version=group.checkpoint_version, until=parts[0].until, page_keys=None)
                    pages_to_survey = first_survey_page(part_keys)
                    if spread is not None:
                        # A range open above is estimated up to its key line's end: no forecast.
                        spread.expect(part_keys if parts[-1].until is not None else None)
                    break
        else:
            break
        if group.last:
            break
    send(flush=True)
    return outcome(None)


def _groups(source_s3: S3Client, task: ListTask, sides: list[_Side]) -> Iterator[JointGroup]:
    if task.as_of is not None:
        from s3fanout.version_lister import as_of_task_groups

        for group in as_of_task_groups(source_s3, sides[0].s3, task, sides[0].counts):
            yield JointGroup((group.decisions,), group.checkpoint, group.last, group.checkpoint_version)
        return
    key_range = KeyRange(task.after, task.until)
    source_pages = list_pages(source_s3, task.source_bucket, task.prefix, key_range, task.page_keys or PAGE_KEYS, sides[0].counts.count_list_request)
    if task.compare or task.mode == "delete":
        sizing = DestPageKeys(sparse=task.dest_empty and task.mode == "copy")
        dest_listings = [list_pages_as(side.s3, side.dest.bucket, task.prefix, side.dest.prefix, key_range, side.counts.count_list_request, sizing) for side in sides]
        yield from merge_join_each(sizing.follow(source_pages), dest_listings)
    else:
        for group in copy_everything(source_pages):
            yield JointGroup((group.decisions,) * len(sides), group.checkpoint, group.last)


# Keys a destination's page asks for beyond the source's: a few orphans or keys added since.
DEST_PAGE_SLACK = 10


class DestPageKeys:
    """The MaxKeys of a destination's pages, compared with the source's: the keys of the source
    page being compared, and DEST_PAGE_SLACK more. A destination mostly holds what the source does
    (on a re-run, exactly that), so the page ends where the source's does instead of answering up
    to 1,000 keys past a small range; a destination with more keys than that in the range goes on
    in full pages (list_pages). Between source pages, and after the last, it is the slack alone.

    ``sparse``: the destination was empty when the job was seeded (ListTask.dest_empty), so it
    holds little of the range, and the keys it answers lie past it, copied there by the listers of
    later ranges: every page is the slack alone, until one comes back full of the range's keys."""

    def __init__(self, sparse: bool = False) -> None:
        self._source_keys = 0
        self._sparse = sparse

    def follow(self, source_pages: Iterator[ListedPage]) -> Iterator[ListedPage]:
        """The source's pages, passed through as they are compared."""
        for page in source_pages:
            self._source_keys = len(page)
            yield page
            self._source_keys = 0

    def __call__(self) -> int:
        return DEST_PAGE_SLACK if self._sparse else self._source_keys + DEST_PAGE_SLACK


def _act(task: ListTask, side: _Side, decisions: list[Decision], source_s3: S3Client) -> None:
    """Count one destination's decisions of a group, queue its copies, delete its orphans in
    delete mode.

    An orphan is deleted only once a HeadObject has confirmed the source lacks it: a gap in the
    source's listing looks exactly like an orphan. A source that still has one raises
    ListingError, and none of the group's orphans is deleted."""
    copies, gone = _tally(task, side.counts, decisions)
    for item in copies:
        side.sender.add(item)
    if task.mode == "delete" and gone:
        confirm_absent(source_s3, task.source_bucket, gone)
        rekey = side.dest.rekey(task.prefix)
        side.counts.objects_deleted += delete_objects(side.s3, side.dest.bucket, [dest_key(key, rekey) for key in gone])


def _tally(task: ListTask, counts: Counts, decisions: list[Decision]) -> tuple[list[CopyItem], list[str]]:
    """Count one destination's decisions of a group: its copies, and the keys of its orphans."""
    copies: list[CopyItem] = []
    gone: list[str] = []
    # The delete pass lists what the copy pass listed and counted already: it counts its deletions.
    counting = task.mode == "copy"
    for decision in decisions:
        if decision.source is not None and counting:
            counts.keys_listed += 1
            counts.bytes_listed += decision.source.size
        if decision.action is Action.SKIP and decision.source is not None:
            if counting:
                counts.keys_skipped += 1
                counts.bytes_skipped += decision.source.size
        elif decision.action is Action.ORPHAN:
            counts.orphans_found += counting
            gone.append(decision.key)
        elif decision.action is Action.COPY and decision.source is not None and counting:
            listed = decision.source
            copies.append(CopyItem(listed.key, listed.size, listed.etag, version_id=listed.version_id))
    return copies, gone


def decide_listed(task: ListTask, source: Sequence[ListedObject], dests: Sequence[Sequence[ListedObject]]) -> dict[str, tuple[list[CopyBatch], Counts]]:
    """The copy batches and counts, by job, of a copy pass's task whose whole range was listed
    already on every side (by the seeding CLI: ``job.seed_plan``): ``source`` the source's objects
    in the range, ``dests`` each destination's (keys named as the source's; none without a
    comparison). Decided and counted as list_range decides and counts a page."""
    if task.mode != "copy":
        raise ValueError(f"only a copy pass's keys are decided from listings in hand, not a {task.mode} pass's")
    source_pages = [ListedPage(list(source), last=True)] if source else []
    groups: list[JointGroup]
    if task.compare:
        groups = list(merge_join_each(source_pages, [[ListedPage(list(objects), last=True)] if objects else [] for objects in dests]))
    else:
        groups = [JointGroup((group.decisions,) * len(task.destinations), group.checkpoint, group.last) for group in copy_everything(source_pages)]
    decided = {}
    for index, dest in enumerate(task.destinations):
        counts, packer, batches = Counts(), _packer(task, dest), []
        for group in groups:
            for item in _tally(task, counts, group.per_dest[index])[0]:
                batches += packer.add(item)
        batches += packer.flush()
        counts.copy_batches_sent = len(batches)
        decided[dest.job_id] = (batches, counts)
    return decided


def first_survey_page(expected_keys: int | None) -> int:
    """The page after which a lister first surveys its range: the first, unless the range is a
    part that its splitter expected to hold too few keys to split again; such a part is surveyed
    only once it has shown more pages than expected (the estimate was wrong), which spares the
    probes of a survey at the first page of every small part."""
    if expected_keys is None or expected_keys >= SPLIT_MIN_KEYS:
        return 1
    return expected_keys // PAGE_KEYS + SURVEY_EVERY_PAGES


def split_policy(listed: list[str], rest: KeyRange, exists_after: Callable[[str], bool]) -> list[KeyRange]:
    """split_plan's parts alone."""
    return split_plan(listed, rest, exists_after)[0]


def split_plan(listed: list[str], rest: KeyRange, exists_after: Callable[[str], bool]) -> tuple[list[KeyRange], int]:
    """Where to cut the rest of a range being listed: its parts, each worth a lister of its own,
    or fewer than two parts to go on listing it whole; and the keys each part is expected to hold.

    ``listed`` are the keys of the page just listed, in order, and ``rest`` the range after the
    last of them. ``exists_after(key)`` says whether ``rest`` holds a key after ``key`` (in a
    lister, a one-key LIST probe); apart from its answers the decision depends on nothing but the
    arguments. Only a dense page (SURVEY_MIN_PAGE_KEYS) starts a survey, and only a survey that
    estimates SPLIT_MIN_KEYS or more keys left splits: into one part per KEYS_PER_PART keys, at
    most MAX_PARTS. list_range calls it through _split_rest; bench/scale calls it on its model.
    """
    if len(listed) < SURVEY_MIN_PAGE_KEYS:
        return [], 0
    remaining = survey(rest, listed, exists_after)
    if remaining.estimate < SPLIT_MIN_KEYS:
        return [], 0
    parts = split_range(rest, remaining, min(MAX_PARTS, math.ceil(remaining.estimate / KEYS_PER_PART)))
    return parts, int(remaining.estimate / len(parts))


def _split_rest(source_s3: S3Client, dest_s3: S3Client, task: ListTask, group: DecisionGroup, counts: Counts) -> tuple[list[KeyRange], int]:
    """split_plan for the rest of the task's range after the group (its first destination's
    decisions), probing the bucket listed: the source when copying, the destination when
    deleting, each through the client of its region."""
    # The keys that drive the work: the source's when copying, the destination's when deleting.
    deleting = task.mode == "delete"
    listed = [d.key for d in group.decisions if (d.dest if deleting else d.source) is not None]
    if task.until is not None and group.checkpoint >= task.until:
        return [], 0  # a version listing's group inside the range's last key: nothing left to cut
    rekey = task.destinations[0].rekey(task.prefix) if deleting else None
    s3, bucket = (dest_s3, task.dest_bucket) if deleting else (source_s3, task.source_bucket)
    prefix = task.prefix if rekey is None else rekey.dest_prefix
    until = None if task.until is None else dest_key(task.until, rekey)
    try:

        def exists_after(key: str) -> bool:
            counts.list_requests += 1
            return key_exists_after(s3, bucket, prefix, dest_key(key, rekey), until)

        return split_plan(listed, KeyRange(group.checkpoint, task.until), exists_after)
    except S3Failure:
        # Splitting only speeds the listing up; a probe that fails must not fail the range.
        return [], 0
