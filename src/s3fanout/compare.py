"""What to do with each key of a range: a merge-join of the source and destination listings.

Both listings come in UTF-8 binary order, so one pass decides every key: only in the source ->
copy; in both -> copy or skip by the rule below; only in the destination -> an orphan, deleted
only when the job asks for it. No HeadObject or GetObject is needed for any of it.

The rule for "identical" (a destination object is skipped when):
1. it has the source's size and ETag; or
2. it has the source's size and was written no earlier than the source's current version
   (its LastModified is not older). This covers objects whose ETag changes in the copy although
   their bytes do not: a source uploaded in parts has a multipart ETag ("...-N") that a copy in
   one piece does not reproduce, and SSE-KMS objects get a new ETag with every copy. It is
   `aws s3 sync`'s own rule; a source that changed after the copy is newer than it and is copied
   again, whatever its size or ETag.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum

from s3fanout.s3ops import ListedObject, ListedPage


class Action(Enum):
    COPY = "copy"
    SKIP = "skip"
    ORPHAN = "orphan"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    key: str
    source: ListedObject | None
    dest: ListedObject | None
    reason: str


def compare(source: ListedObject, dest: ListedObject) -> Decision:
    """Copy or skip a key present on both sides (the module's rule)."""
    if source.size != dest.size:
        return Decision(Action.COPY, source.key, source, dest, "size differs")
    if source.etag and source.etag == dest.etag:
        return Decision(Action.SKIP, source.key, source, dest, "same size and ETag")
    if source.last_modified and dest.last_modified and dest.last_modified >= source.last_modified:
        return Decision(Action.SKIP, source.key, source, dest, "same size, copied after the source last changed")
    return Decision(Action.COPY, source.key, source, dest, "changed since it was copied")


@dataclass(frozen=True, slots=True)
class DecisionGroup:
    """Decisions for every key up to ``checkpoint`` on both sides; ``last`` ends the range.
    With ``checkpoint_version`` (version listings only) the key ``checkpoint`` itself is not
    settled: its entries were listed up to that version id, and a listing resumes there."""

    decisions: list[Decision]
    checkpoint: str
    last: bool
    checkpoint_version: str | None = None


def copy_everything(source_pages: Iterable[ListedPage]) -> Iterator[DecisionGroup]:
    """Without a comparison (--force): every source key is copied."""
    for page in source_pages:
        decisions = [Decision(Action.COPY, obj.key, obj, None, "copy forced") for obj in page]
        yield DecisionGroup(decisions, page.objects[-1].key, page.last)


class DestinationCursor:
    """The destination's listing of a range, one object at a time: its next page is read only when
    the objects in hand run out. Merge-joins walk it against the source's decisions."""

    def __init__(self, pages: Iterable[ListedPage]) -> None:
        self._pages = iter(pages)
        self._pending: deque[ListedObject] = deque()
        self.done = False  # the last page has been read

    def peek(self) -> ListedObject | None:
        while not self._pending and not self.done:
            page = next(self._pages, None)
            if page is None:
                self.done = True
                break
            self._pending.extend(page)
            self.done = page.last
        return self._pending[0] if self._pending else None

    def take(self) -> ListedObject:
        return self._pending.popleft()

    @property
    def exhausted(self) -> bool:
        return self.done and not self._pending

    def orphans_before(self, key: str, reason: str, inclusive: bool = False) -> list[Decision]:
        """The destination's objects before ``key`` (and at it, ``inclusive``) as orphans."""
        orphans = []
        while (dest := self.peek()) is not None and (dest.key < key or (inclusive and dest.key == key)):
            orphans.append(Decision(Action.ORPHAN, dest.key, None, self.take(), reason))
        return orphans

    def last_in_hand(self) -> str:
        """The last key of the page in hand (call after ``peek`` found one)."""
        return self._pending[-1].key

    def orphans_in_hand(self, reason: str) -> list[Decision]:
        """Every object read and not yet taken, as orphans (the rest of a page, once the source ended)."""
        self.peek()
        orphans = [Decision(Action.ORPHAN, dest.key, None, dest, reason) for dest in self._pending]
        self._pending.clear()
        return orphans


@dataclass(frozen=True, slots=True)
class JointGroup:
    """A DecisionGroup for each of several destinations listed over the same range against one
    listing of the source: ``per_dest[i]`` decides every key up to ``checkpoint`` for destination i."""

    per_dest: tuple[list[Decision], ...]
    checkpoint: str
    last: bool
    checkpoint_version: str | None = None


def merge_join(source_pages: Iterable[ListedPage], dest_pages: Iterable[ListedPage]) -> Iterator[DecisionGroup]:
    """Merge the two listings of one range into decisions, one group per source page, then one
    per remaining destination page. Each group settles every key up to its checkpoint on both
    sides, so a lister may hand the rest of its range on after any group."""
    for joint in merge_join_each(source_pages, [dest_pages]):
        yield DecisionGroup(joint.per_dest[0], joint.checkpoint, joint.last)


def merge_join_each(source_pages: Iterable[ListedPage], dest_listings: Sequence[Iterable[ListedPage]]) -> Iterator[JointGroup]:
    """merge_join of one source listing with each of several destinations' listings: the source
    is read once, each destination is walked on its own. After the source's last page, the
    destinations' remaining keys (orphans) come in groups up to the lowest last key in hand, so
    that every group's checkpoint is settled for every destination."""
    dests = [DestinationCursor(pages) for pages in dest_listings]
    for page in source_pages:
        per_dest = tuple(_page_decisions(page, dest) for dest in dests)
        # Destination keys up to this page's last key were settled above; later ones wait.
        yield JointGroup(per_dest, page.objects[-1].key, page.last and all(dest.exhausted for dest in dests))
    while ends := [dest.last_in_hand() for dest in dests if dest.peek() is not None]:
        checkpoint = min(ends)
        per_dest = tuple(dest.orphans_before(checkpoint, "not in the source", inclusive=True) for dest in dests)
        yield JointGroup(per_dest, checkpoint, all(dest.exhausted for dest in dests))


def _page_decisions(page: ListedPage, dest: DestinationCursor) -> list[Decision]:
    decisions = []
    for obj in page:
        decisions += dest.orphans_before(obj.key, "not in the source")
        match = dest.peek()
        if match is not None and match.key == obj.key:
            decisions.append(compare(obj, dest.take()))
        else:
            decisions.append(Decision(Action.COPY, obj.key, obj, None, "not in the destination"))
    return decisions
