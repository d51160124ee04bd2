"""Planning copies of versions: each key as it was at a time (--as-of), and each key's whole
history in order (--all-versions). Pure: the listings come in, decisions go out; the S3 calls are
the caller's (lister.py's version branch, the dry run, the copier's continuation).

A version listing (ListObjectVersions, s3ops.list_version_pages) gives each key's entries, object
versions and delete markers, newest first.

**As of a time.** A key's state at time T is its newest entry with LastModified <= T: an object
version (copied, as a plain object), or a delete marker, or nothing (the key did not exist yet):
either way the key is absent at T. The entries are taken in listing order, not sorted by time, so
that two entries of the same second (LastModified has one-second resolution) keep S3's order.

**Every version, in order.** Each key's entries are copied oldest first into a versioned
destination, where every copy becomes the newest version and every delete marker is reproduced
with a DeleteObject; the destination's stack of the key then matches the source's in order (with
S3's own new version ids). Order per key holds although copies run concurrently because one copy
item carries one key's entries in order and one copier copies them one after the other (see
copying/versioned.py); a key with more entries than an item carries (``STACK_WINDOW``) is carried
by a chain of items, each copier listing the next part of the key when its part is done.

**What a re-run skips.** Each copy records its source version id in its user metadata
(``s3ops.SOURCE_VERSION_METADATA``). The destination's stack of a key says how far its history has
been copied:

1. when both stacks have the same length (at most ``STACK_WINDOW``) and match entry for entry
   (delete marker for delete marker; object versions of the same size and ETag, the copy no
   older than its source), everything is copied: no request at all;
2. otherwise one HeadObject of the destination's newest object version reads the source version
   id it records; the source entries newer than that version are copied, less the delete
   markers right above it that the destination already shows above its copy. A destination whose
   newest object records nothing, or a version the source no longer has, gets the whole history
   copied again on top.

So an unchanged re-run costs its listings (and, where ETags change in a copy, as with SSE-KMS,
one HeadObject per key), never a request per version.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from s3fanout.compare import Action, Decision, DecisionGroup, DestinationCursor, compare
from s3fanout.messages import CopyItem, VersionRef, VersionStack
from s3fanout.s3ops import ListedObject, ListedPage, ListedVersion, VersionPage

# Entries of one key an --all-versions copy item carries (its own and ``then``): about 50 bytes
# each in the message, so a full item is some 25 KB and a copier copies it within an invocation
# or hands the rest on.
STACK_WINDOW = 500


def as_of_text(when: datetime) -> str:
    """An --as-of time as messages carry it: ISO 8601 in UTC, to the microsecond if it has any."""
    return when.astimezone(UTC).isoformat()


# ------------------------------------------------------------------------------------ as of --


def state_at(entries: Iterable[ListedVersion], when: datetime) -> ListedVersion | None:
    """The entry of one key (listed newest first) current at ``when``: its first entry with
    LastModified <= ``when``; None when that is a delete marker or there is none."""
    for entry in entries:
        if entry.last_modified is not None and entry.last_modified <= when:
            return None if entry.delete_marker else entry
    return None


def listed_object(entry: ListedVersion) -> ListedObject:
    """A version as the comparison and the copy batches take an object: with its version id."""
    return ListedObject(entry.key, entry.size, entry.etag, entry.last_modified, version_id=entry.version_id)


@dataclass(frozen=True, slots=True)
class AsOfPage:
    """The objects (as of the time) that one version page settled, and where a listing may
    resume: after the key ``checkpoint`` (``checkpoint_version`` None), or inside it, after that
    version, its state not yet found. ``entries`` counts the versions and delete markers read."""

    objects: list[ListedObject]
    checkpoint: str
    checkpoint_version: str | None
    last: bool
    entries: int


def as_of_pages(pages: Iterable[VersionPage], when: datetime, open_key: str | None = None) -> Iterator[AsOfPage]:
    """Each key's state at ``when``, page by page. ``open_key`` is the key a resumed listing
    starts inside (its entries before the marker were older than nothing found: none was <= the
    time, or the resumed task would not exist)."""
    key, found = open_key, False
    ended = True
    for page in pages:
        ended = page.last
        objects: list[ListedObject] = []
        for entry in page:
            if entry.key != key:
                key, found = entry.key, False
            if found or entry.last_modified is None or entry.last_modified > when:
                continue
            found = True
            if not entry.delete_marker:
                objects.append(listed_object(entry))
        last_entry = page.entries[-1]
        if page.last or found:
            yield AsOfPage(objects, last_entry.key, None, page.last, len(page))
        else:
            yield AsOfPage(objects, last_entry.key, last_entry.version_id, False, len(page))
    if not ended and key is not None:
        # The listing just ended (its range's end fell on a page boundary): every key is settled.
        yield AsOfPage([], key, None, True, 0)


def as_of_groups(pages: Iterable[AsOfPage], dest_pages: Iterable[ListedPage]) -> Iterator[DecisionGroup]:
    """The merge-join of compare.py for objects as of a time against the destination's current
    objects: one group per version page (possibly without a decision), each settling every key up
    to its checkpoint on both sides (inside a key still open: the keys before it)."""
    dest = DestinationCursor(dest_pages)
    gone = "not in the source at that time"
    for page in pages:
        decisions: list[Decision] = []
        for obj in page.objects:
            decisions += dest.orphans_before(obj.key, gone)
            match = dest.peek()
            if match is not None and match.key == obj.key:
                decisions.append(compare(obj, dest.take()))
            else:
                decisions.append(Decision(Action.COPY, obj.key, obj, None, "not in the destination"))
        if page.last:
            while dest.peek() is not None:
                decisions += dest.orphans_in_hand(gone)
        else:
            decisions += dest.orphans_before(page.checkpoint, gone, inclusive=page.checkpoint_version is None)
        yield DecisionGroup(decisions, page.checkpoint, page.last, page.checkpoint_version)


# ------------------------------------------------------------------------------ all versions --


def strong_match(source: ListedVersion, dest: ListedVersion) -> bool:
    """Whether ``dest`` is a copy of ``source`` as far as two listings can tell: both delete
    markers, or versions of the same size and ETag, the copy no older than its source."""
    if source.delete_marker or dest.delete_marker:
        return source.delete_marker and dest.delete_marker
    if source.size != dest.size or not source.etag or source.etag != dest.etag:
        return False
    return source.last_modified is None or dest.last_modified is None or dest.last_modified >= source.last_modified


def stacks_match(source: list[ListedVersion], dest: list[ListedVersion]) -> bool:
    """Rule 1 of the module: two stacks (newest first) of one key that match entry for entry."""
    return len(source) == len(dest) and all(strong_match(s, d) for s, d in zip(source, dest))


def markers_already_there(newer: list[ListedVersion], dest_dms: int) -> int:
    """How many of ``newer`` (the source entries newer than the version the destination's newest
    object copies, newest first) the destination already shows: the delete markers right above
    that version, as many as the destination has above its copy."""
    run = 0
    for entry in reversed(newer):
        if not entry.delete_marker:
            break
        run += 1
    return min(run, dest_dms)


@dataclass
class _Window:
    """Entries to copy of one key, seen newest first: the oldest ``size`` are kept (the first to
    copy), the number of newer ones dropped is counted, and so are the totals."""

    size: int
    kept: deque[ListedVersion] = field(default_factory=deque)
    dropped: int = 0
    versions: int = 0
    markers: int = 0
    bytes: int = 0

    def add(self, entry: ListedVersion) -> None:
        if len(self.kept) == self.size:
            self.kept.popleft()
            self.dropped += 1
        self.kept.append(entry)
        if entry.delete_marker:
            self.markers += 1
        else:
            self.versions += 1
            self.bytes += entry.size

    def drop_oldest(self, count: int) -> list[ListedVersion]:
        """Take the ``count`` oldest entries out (found already there); they are returned oldest
        first."""
        removed = []
        for _ in range(count):
            entry = self.kept.pop()
            removed.append(entry)
            if entry.delete_marker:
                self.markers -= 1
            else:
                self.versions -= 1
                self.bytes -= entry.size
        return removed


@dataclass(frozen=True, slots=True)
class KeyTop:
    """A key's entries newer than an anchor version (all of them for no anchor), read from the top
    of its listing: the oldest ``STACK_WINDOW`` of them (newest first), how many newer ones did not
    fit, whether the anchor was found, and the totals."""

    newer: list[ListedVersion]
    dropped: int
    found: bool
    versions: int = 0
    markers: int = 0
    bytes: int = 0


def entries_newer_than(entries: Iterable[ListedVersion], anchor: str | None, window: int | None = None) -> KeyTop:
    """The entries of one key (newest first) listed before the version ``anchor``; ``window``:
    STACK_WINDOW (read when called) when None."""
    kept = _Window(STACK_WINDOW if window is None else window)
    for entry in entries:
        if anchor is not None and entry.version_id == anchor:
            return KeyTop(list(kept.kept), kept.dropped, True, kept.versions, kept.markers, kept.bytes)
        kept.add(entry)
    return KeyTop(list(kept.kept), kept.dropped, anchor is None, kept.versions, kept.markers, kept.bytes)


@dataclass(frozen=True, slots=True)
class DestStack:
    """What a re-run needs of a key's stack in the destination: its length, the delete markers on
    top, the version id of its newest object version, and its entries while there are few."""

    count: int = 0
    leading_markers: int = 0
    newest_object: str | None = None
    entries: tuple[ListedVersion, ...] | None = ()

    @classmethod
    def of(cls, entries: Iterable[ListedVersion], window: int | None = None) -> DestStack:
        window = STACK_WINDOW if window is None else window
        count = leading = 0
        newest: str | None = None
        kept: list[ListedVersion] | None = []
        for entry in entries:
            count += 1
            if newest is None:
                if entry.delete_marker:
                    leading += 1
                else:
                    newest = entry.version_id
            if kept is not None:
                kept.append(entry)
                if len(kept) > window:
                    kept = None
        return cls(count, leading, newest, tuple(kept) if kept is not None else None)


@dataclass(frozen=True, slots=True)
class StackDecision:
    """What to do with one key's history: copy ``to_copy`` (oldest first; ``more`` when newer
    entries follow them), or nothing; with the destination's state at planning (``after``,
    ``dest_dms``, for VersionStack) and the counts."""

    key: str
    to_copy: tuple[ListedVersion, ...]
    more: bool
    after: str | None
    dest_dms: int
    reason: str
    listed: int = 0
    listed_bytes: int = 0
    copy_versions: int = 0
    copy_markers: int = 0
    copy_bytes: int = 0
    skipped: int = 0
    skipped_bytes: int = 0

    def item(self) -> CopyItem | None:
        """The copy item of the decision (None: nothing to copy)."""
        if not self.to_copy:
            return None
        return stack_item(self.key, list(self.to_copy), self.more, self.after, self.dest_dms)


def stack_item(key: str, oldest_first: list[ListedVersion], more: bool, after: str | None, dest_dms: int) -> CopyItem:
    first, then = oldest_first[0], oldest_first[1:]
    return CopyItem(
        key,
        first.size,
        version_id=first.version_id,
        delete_marker=first.delete_marker,
        stack=VersionStack(tuple(VersionRef(e.version_id, e.size, e.delete_marker) for e in then), more, after, dest_dms),
    )


@dataclass(frozen=True, slots=True)
class StackGroup:
    """The decisions of the keys one source page finished, the destination keys it passed that
    the source lacks, and where a listing may resume: after ``checkpoint`` (every key up to it
    settled), or inside it after ``checkpoint_version`` (its history not yet planned)."""

    decisions: list[StackDecision]
    orphans: list[str]
    checkpoint: str
    checkpoint_version: str | None
    last: bool
    entries: int


# Reads the source version id recorded on a version of a destination key: (key, version id).
Recorded = Callable[[str, str], str | None]
# Reads a key's source entries newer than an anchor version from the top: (key, anchor).
NewerThan = Callable[[str, str | None], KeyTop]


class StackPlanner:
    """Decides, key by key, which of each key's source entries to copy, merging a range's source
    version listing with the destination's (``dest_pages``; None copies everything, --force).

    ``recorded`` reads the source version id a destination version records (HeadObject), only
    where the listings do not settle it; ``newer_than`` reads the top of a key's source history,
    only for a key this listing starts inside (``open_key``, with ``open_dest``: that key's stack
    in the destination).
    """

    def __init__(
        self,
        dest_pages: Iterable[VersionPage] | None,
        *,
        recorded: Recorded,
        newer_than: NewerThan,
        window: int | None = None,
        open_key: str | None = None,
        open_dest: DestStack | None = None,
    ) -> None:
        self._dest_iter: Iterator[VersionPage] | None = iter(dest_pages) if dest_pages is not None else None
        self._pending: deque[ListedVersion] = deque()
        self._dest_done = dest_pages is None
        self._recorded = recorded
        self._newer_than = newer_than
        self._window = STACK_WINDOW if window is None else window
        self._key: _KeyPlan | None = None
        if open_key is not None:
            self._key = self._start(open_key, mid_key=True, dest=open_dest or DestStack())

    # -- the destination's entries, pulled as the source's keys come

    def _next_dest(self) -> ListedVersion | None:
        while not self._pending and not self._dest_done:
            assert self._dest_iter is not None
            page = next(self._dest_iter, None)
            if page is None:
                self._dest_done = True
                break
            self._pending.extend(page)
            self._dest_done = page.last
        return self._pending[0] if self._pending else None

    def _dest_until(self, key: str, orphans: list[str]) -> DestStack:
        """Consume the destination's entries up to ``key``: keys before it are orphans (names
        collected once), ``key``'s own entries make its DestStack."""
        last_orphan = None
        while (dest := self._next_dest()) is not None and dest.key < key:
            self._pending.popleft()
            if dest.key != last_orphan:
                orphans.append(dest.key)
                last_orphan = dest.key

        def own() -> Iterator[ListedVersion]:
            while (dest := self._next_dest()) is not None and dest.key == key:
                yield self._pending.popleft()

        return DestStack.of(own(), self._window)

    # -- keys

    def _start(self, key: str, mid_key: bool, dest: DestStack) -> _KeyPlan:
        plan = _KeyPlan(key, mid_key, dest, self._window)
        if self._dest_iter is None or dest.count == 0:
            plan.copy_from(None)
        elif mid_key:
            plan.copy_from(self._recorded_on_top(plan))
        return plan

    def _recorded_on_top(self, plan: _KeyPlan) -> str | None:
        newest = plan.dest.newest_object
        return None if newest is None else self._recorded(plan.key, newest)

    def feed(self, page: VersionPage) -> StackGroup:
        """Plan the keys of one source page; the last page finishes its last key too."""
        decisions: list[StackDecision] = []
        orphans: list[str] = []
        for entry in page:
            if self._key is None or entry.key != self._key.key:
                if self._key is not None:
                    decisions.append(self._finish(self._key))
                self._key = self._start(entry.key, mid_key=False, dest=self._dest_until(entry.key, orphans))
            plan = self._key
            if plan.add(entry):
                plan.copy_from(self._recorded_on_top(plan))
        last_entry = page.entries[-1]
        if page.last:
            final = self.finish()
            return StackGroup(decisions + final.decisions, orphans + final.orphans, last_entry.key, None, True, len(page))
        return StackGroup(decisions, orphans, last_entry.key, last_entry.version_id, False, len(page))

    def finish(self) -> StackGroup:
        """The source listing ended: plan its last key, and pass the destination's keys after it.
        ``feed`` does this on a page marked last; a listing may also just end (its range's end
        fell on a page boundary, and the next page lay beyond it), and then the caller does."""
        key = self._key.key if self._key is not None else ""
        decisions = [self._finish(self._key)] if self._key is not None else []
        self._key = None
        orphans: list[str] = []
        while (dest := self._next_dest()) is not None:
            self._pending.popleft()
            if not orphans or orphans[-1] != dest.key:
                orphans.append(dest.key)
        return StackGroup(decisions, orphans, key, None, True, 0)

    def _finish(self, plan: _KeyPlan) -> StackDecision:
        if plan.undecided:
            if not plan.mid_key and plan.dest.entries is not None and stacks_match(plan.buffer, list(plan.dest.entries)):
                return plan.all_there()
            plan.copy_from(self._recorded_on_top(plan))
        return plan.finish(self._newer_than)


class _KeyPlan:
    """One key's planning state while its source entries stream by (see StackPlanner)."""

    def __init__(self, key: str, mid_key: bool, dest: DestStack, window: int) -> None:
        self.key, self.mid_key, self.dest, self.window = key, mid_key, dest, window
        self.undecided = True
        self.buffer: list[ListedVersion] = []
        self.copying = _Window(window)
        self.stop_at: str | None = None
        self.found = False
        # Entries listed here, and those of them found copied already (the anchor and older).
        self.listed = self.listed_bytes = self.skipped = self.skipped_bytes = 0

    def add(self, entry: ListedVersion) -> bool:
        """Take one source entry; True when the key's stack turned out too long to decide from
        the listings alone (the caller then reads the destination's record: ``copy_from``)."""
        self.listed += 1
        self.listed_bytes += entry.size
        if self.undecided:
            self.buffer.append(entry)
            return len(self.buffer) > self.window
        self._take(entry)
        return False

    def copy_from(self, recorded: str | None) -> None:
        """Decided: copy the entries newer than the source version ``recorded`` (the one the
        destination's newest object copies), or every entry for None."""
        self.undecided = False
        self.stop_at = recorded
        buffered, self.buffer = self.buffer, []
        for entry in buffered:
            self._take(entry)

    def _take(self, entry: ListedVersion) -> None:
        if self.found or (self.stop_at is not None and entry.version_id == self.stop_at):
            self.found = True
            self.skipped += 1
            self.skipped_bytes += entry.size
        else:
            self.copying.add(entry)

    def decision(self, copy: _Window | KeyTop | None, *, more: bool, reason: str, skipped: int, skipped_bytes: int) -> StackDecision:
        if copy is None:
            oldest_first: tuple[ListedVersion, ...] = ()
            versions = markers = size = 0
        else:
            newest_first = copy.kept if isinstance(copy, _Window) else copy.newer
            oldest_first = tuple(reversed(newest_first))
            versions, markers, size = copy.versions, copy.markers, copy.bytes
        return StackDecision(
            self.key,
            oldest_first,
            more,
            self.stop_at,
            self.dest.leading_markers,
            reason,
            listed=self.listed,
            listed_bytes=self.listed_bytes,
            copy_versions=versions,
            copy_markers=markers,
            copy_bytes=size,
            skipped=skipped,
            skipped_bytes=skipped_bytes,
        )

    def all_there(self) -> StackDecision:
        return self.decision(None, more=False, reason="every version already in the destination", skipped=self.listed, skipped_bytes=self.listed_bytes)

    def finish(self, newer_than: NewerThan) -> StackDecision:
        window, markers = self.copying, self.dest.leading_markers
        newer = "newer than the destination's copy"
        if self.stop_at is not None and not self.found and self.mid_key:
            # Inside a key, without the version the destination's copy is of: it may be above.
            top = newer_than(self.key, self.stop_at)
            if top.found:
                # All listed here is older than that version: there already.
                return self._from_top(newer_than, self.stop_at, markers, newer, self.listed, self.listed_bytes, first=top)
        found = self.stop_at is not None and self.found
        # A destination stack of delete markers only: they are copies of the source's oldest ones.
        markers_only = self.dest.count > 0 and self.dest.newest_object is None
        reason = newer if found else "not in the destination" if self.dest.count == 0 else "the destination's history does not record this source"
        removed = window.drop_oldest(markers_already_there(list(window.kept), markers)) if found or markers_only else []
        skipped = self.skipped + len(removed) if found else len(removed)
        skipped_bytes = self.skipped_bytes if found else 0
        if window.kept or (window.dropped == 0 and not self.mid_key):
            return self.decision(window, more=window.dropped > 0 or self.mid_key, reason=reason, skipped=skipped, skipped_bytes=skipped_bytes)
        # Nothing left to copy of the entries kept, yet newer ones exist (beyond the window, or
        # above where a resumed listing started): read them from the top of the key, down to the
        # last entry accounted for.
        anchor = removed[-1].version_id if removed else self.stop_at if found else None
        left = markers - len(removed) if found or markers_only else 0
        return self._from_top(newer_than, anchor, left, reason, skipped, skipped_bytes)

    def _from_top(
        self, newer_than: NewerThan, anchor: str | None, markers: int, reason: str, skipped: int, skipped_bytes: int, first: KeyTop | None = None
    ) -> StackDecision:
        """A decision from the key's entries above ``anchor``, less the delete markers right above
        it that the destination already shows (``markers`` of them at most)."""
        top = first or newer_than(self.key, anchor)
        while True:
            newer = list(top.newer)
            there = markers_already_there(newer, markers)
            kept, skipped, markers = newer[: len(newer) - there], skipped + there, markers - there
            if kept or top.dropped == 0 or not there:
                trimmed = KeyTop(kept, top.dropped, top.found, top.versions, top.markers - there, top.bytes)
                return self.decision(trimmed, more=top.dropped > 0, reason=reason, skipped=skipped, skipped_bytes=skipped_bytes)
            # The window held matched markers only: read on above the newest of them.
            top = newer_than(self.key, newer[len(newer) - there].version_id)


def copied_already(entries: list[VersionRef], recorded_top: str | None, top_markers: int, after: str | None, dest_dms: int) -> int:
    """How many of a stack item's ``entries`` (oldest first) an earlier attempt copied, from what
    the destination shows now: the source version id its newest object version records
    (``recorded_top``) and the delete markers above it (``top_markers``), against what it showed
    when the item was planned (``after``, ``dest_dms``: VersionStack's).

    The newest object copies entry j: j and the entries before it are there, and so are the delete
    markers right after it, as many as are on top. The newest object is still the one planned
    against: the delete markers added on top since are the item's first ones. Anything else (the
    destination changed in another way) counts nothing as copied."""
    for index, entry in enumerate(entries):
        if not entry.delete_marker and entry.version_id == recorded_top:
            run = 0
            for later in entries[index + 1 :]:
                if not later.delete_marker:
                    break
                run += 1
            return index + 1 + min(run, top_markers)
    if recorded_top == after:
        run = 0
        for entry in entries:
            if not entry.delete_marker:
                break
            run += 1
        return max(0, min(top_markers - dest_dms, run))
    return 0
