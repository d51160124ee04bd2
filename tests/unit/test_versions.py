"""versions.py: the state of each key at a time (--as-of), and the plan of each key's history in
order, with what a re-run skips (--all-versions). Pure: listings are built here, the
destination's records are a dict.

The model every property checks against: a key's history is a list of operations (put a version,
delete), applied in order; S3 lists it newest first. A copy run appends to the destination, in
order, copies of the source entries it did not have yet, each recording its source version id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3fanout.compare import Action
from s3fanout.messages import CopyItem, VersionRef
from s3fanout.s3ops import ListedObject, ListedPage, ListedVersion, VersionPage
from s3fanout.versions import (
    DestStack,
    KeyTop,
    StackPlanner,
    as_of_groups,
    as_of_pages,
    as_of_text,
    copied_already,
    entries_newer_than,
    markers_already_there,
    state_at,
    strong_match,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def version(key: str, vid: str, seconds: float, size: int = 1, etag: str | None = None) -> ListedVersion:
    return ListedVersion(key, vid, size, etag or f'"{vid}"', at(seconds))


def marker(key: str, vid: str, seconds: float) -> ListedVersion:
    return ListedVersion(key, vid, last_modified=at(seconds), delete_marker=True)


def pages_of(entries: list[ListedVersion], cuts: Sequence[int] = ()) -> list[VersionPage]:
    """The entries as pages, cut before each index in ``cuts``."""
    bounds = sorted({c for c in cuts if 0 < c < len(entries)})
    starts, ends = [0, *bounds], [*bounds, len(entries)]
    return [VersionPage(entries[a:b], last=b == len(entries)) for a, b in zip(starts, ends)]


# ------------------------------------------------------------------------------------ as of --


def test_state_at_takes_the_newest_entry_not_after_the_time() -> None:
    stack = [version("k", "v3", 30), marker("k", "d2", 20), version("k", "v1", 10)]
    assert state_at(stack, at(5)) is None  # not created yet
    assert state_at(stack, at(10)) == stack[2]  # LastModified equal to the time counts
    assert state_at(stack, at(15)) == stack[2]
    assert state_at(stack, at(25)) is None  # deleted then
    assert state_at(stack, at(99)) == stack[0]


def test_state_at_keeps_the_listing_order_within_one_second() -> None:
    # A put and a delete in the same second: S3's order (the marker is newer) decides.
    assert state_at([marker("k", "d2", 10), version("k", "v1", 10)], at(10)) is None
    assert state_at([version("k", "v2", 10), marker("k", "d1", 10)], at(10)) is not None


def test_as_of_pages_settle_keys_and_resume_inside_an_open_key() -> None:
    entries = [version("a", "a2", 50), version("a", "a1", 10), version("b", "b3", 60), version("b", "b2", 55), version("b", "b1", 5)]
    first, second = pages_of(entries, [3])
    pages = list(as_of_pages([first, second], at(20)))
    # "a" is settled on the first page; "b" is still open (b3 is after the time).
    assert [(o.key, o.version_id) for o in pages[0].objects] == [("a", "a1")]
    assert (pages[0].checkpoint, pages[0].checkpoint_version) == ("b", "b3")
    assert [(o.key, o.version_id) for o in pages[1].objects] == [("b", "b1")]
    assert (pages[1].checkpoint, pages[1].checkpoint_version, pages[1].last) == ("b", None, True)
    # Resumed inside "b" after b3 (as a hand-on there would be): the same answer.
    resumed = list(as_of_pages([second], at(20), open_key="b"))
    assert [(o.key, o.version_id) for o in resumed[0].objects] == [("b", "b1")]


def test_as_of_groups_compare_with_the_destinations_current_objects() -> None:
    source = [version("a", "a1", 10, size=3, etag='"x"'), version("c", "c1", 10), version("d", "d1", 10)]
    dest = [ListedObject("a", 3, '"x"', at(11)), ListedObject("b", 1, '"y"', at(11)), ListedObject("d", 2, '"z"', at(11)), ListedObject("e", 1, '"e"', at(1))]
    groups = list(as_of_groups(as_of_pages(pages_of(source), at(20)), [ListedPage(dest, last=True)]))
    decisions = [(d.action, d.key) for g in groups for d in g.decisions]
    assert decisions == [(Action.SKIP, "a"), (Action.ORPHAN, "b"), (Action.COPY, "c"), (Action.COPY, "d"), (Action.ORPHAN, "e")]
    copy = next(d for g in groups for d in g.decisions if d.key == "c")
    assert copy.source is not None and copy.source.version_id == "c1"
    assert groups[-1].last


def test_as_of_text_is_utc_iso() -> None:
    assert as_of_text(datetime(2026, 11, 30, 19, 0, tzinfo=UTC) + timedelta(hours=0)) == "2026-11-30T19:00:00+00:00"


# --------------------------------------------------------------------------- the model --


@dataclass
class Op:
    delete: bool
    size: int = 1


@dataclass
class World:
    """Source histories (per key, oldest first), and a destination made by earlier copy runs."""

    source: dict[str, list[ListedVersion]] = field(default_factory=dict)
    dest: dict[str, list[ListedVersion]] = field(default_factory=dict)
    records: dict[tuple[str, str], str] = field(default_factory=dict)
    clock: int = 0
    kms: bool = False

    def apply(self, key: str, ops: list[Op]) -> None:
        stack = self.source.setdefault(key, [])
        for op in ops:
            self.clock += 1
            vid = f"{key}-s{len(stack)}"
            stack.append(marker(key, vid, self.clock) if op.delete else version(key, vid, self.clock, op.size, f'"{op.size}"'))

    def copy(self, key: str, entries: list[ListedVersion]) -> None:
        """What the copier does: each entry on top of the destination's stack, in order."""
        stack = self.dest.setdefault(key, [])
        for entry in entries:
            self.clock += 1
            vid = f"{key}-d{len(stack)}"
            if entry.delete_marker:
                stack.append(marker(key, vid, self.clock))
            else:
                # With SSE-KMS a copy gets another ETag than its source.
                stack.append(version(key, vid, self.clock, entry.size, '"kms"' if self.kms else entry.etag))
                self.records[(key, vid)] = entry.version_id

    def newest_first(self, side: dict[str, list[ListedVersion]]) -> list[ListedVersion]:
        return [entry for key in sorted(side) for entry in reversed(side[key])]


@dataclass
class Plan:
    items: dict[str, list[ListedVersion]] = field(default_factory=dict)
    records_read: int = 0
    tops_read: int = 0


def plan(world: World, cuts: list[int], window: int, hand_on_at: int | None = None) -> Plan:
    """Run the planner over the source listing cut into pages (and, with ``hand_on_at``, hand the
    range on after that page, resuming inside its last key as a lister would); follow each item's
    ``more`` as the copier does. Returns every key's entries to copy, oldest first."""
    result = Plan()
    planned_keys: set[str] = set()
    source_pages = pages_of(world.newest_first(world.source), cuts)
    dest_entries = world.newest_first(world.dest)

    def recorded(key: str, version_id: str) -> str | None:
        result.records_read += 1
        return world.records.get((key, version_id))

    def newer_than(key: str, anchor: str | None) -> KeyTop:
        result.tops_read += 1
        return entries_newer_than(reversed(world.source[key]), anchor, window)

    def collect(planner: StackPlanner, pages: list[VersionPage]) -> tuple[str, str | None]:
        checkpoint: tuple[str, str | None] = ("", None)
        for page in pages:
            group = planner.feed(page)
            for decision in group.decisions:
                item = decision.item()
                assert (item is None) == (not decision.to_copy)
                assert decision.key not in planned_keys, "a key is planned twice"
                planned_keys.add(decision.key)
                if decision.to_copy:
                    result.items[decision.key] = follow(world, decision.key, list(decision.to_copy), decision.more, window)
                else:
                    assert not decision.more
            checkpoint = (group.checkpoint, group.checkpoint_version)
        return checkpoint

    if hand_on_at is None or hand_on_at >= len(source_pages) - 1:
        collect(StackPlanner(pages_of(dest_entries), recorded=recorded, newer_than=newer_than, window=window), source_pages)
        return result
    after, after_version = collect(StackPlanner(pages_of(dest_entries), recorded=recorded, newer_than=newer_than, window=window), source_pages[: hand_on_at + 1])
    assert after_version is not None
    # The resumed task: the source from the marker on, the open key's destination stack on its own,
    # the destination's listing after the open key.
    rest = [entry for page in source_pages[hand_on_at + 1 :] for entry in page]
    open_dest = DestStack.of([entry for entry in dest_entries if entry.key == after], window)
    dest_after = [entry for entry in dest_entries if entry.key > after]
    planner = StackPlanner(pages_of(dest_after), recorded=recorded, newer_than=newer_than, window=window, open_key=after, open_dest=open_dest)
    collect(planner, pages_of(rest, [c - sum(len(p) for p in source_pages[: hand_on_at + 1]) for c in cuts]) if rest else [])
    if not rest:
        # The marker was the range's last entry: the resumed lister sees no page at all, and the
        # open key is planned when the listing ends.
        raise AssertionError("hand-ons happen after a page that is not the last")
    return result


def follow(world: World, key: str, entries: list[ListedVersion], more: bool, window: int) -> list[ListedVersion]:
    """The chain of items the copier follows for ``more``: the key's entries newer than the last
    one copied, from the top of its history."""
    chain = list(entries)
    while more:
        top = entries_newer_than(reversed(world.source[key]), chain[-1].version_id, window)
        assert top.found
        chain += list(reversed(top.newer))
        more = top.dropped > 0
    return chain


histories = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d", "é", "日本"]),
    st.lists(st.builds(Op, st.booleans(), st.integers(0, 3)), min_size=1, max_size=9),
    min_size=1,
    max_size=4,
)


def run(world: World, keys: dict[str, list[Op]]) -> None:
    for key, ops in keys.items():
        world.apply(key, ops)


@settings(max_examples=150, deadline=None)
@given(histories, st.lists(st.integers(1, 40), max_size=5), st.integers(1, 6))
def test_a_first_run_copies_every_entry_oldest_first(keys: dict[str, list[Op]], cuts: list[int], window: int) -> None:
    world = World()
    run(world, keys)
    planned = plan(world, cuts, window)
    assert planned.items == {key: stack for key, stack in world.source.items()}
    assert planned.records_read == 0


@settings(max_examples=150, deadline=None)
@given(histories, st.data(), st.lists(st.integers(1, 40), max_size=5), st.integers(1, 6), st.booleans())
def test_a_re_run_copies_exactly_what_the_destination_lacks(keys: dict[str, list[Op]], data: st.DataObject, cuts: list[int], window: int, kms: bool) -> None:
    """An earlier run copied a prefix of each key's history (all of it, or stopped part way);
    then the source grew. The plan is the rest, in order, whatever the page cuts and the window."""
    world = World(kms=kms)
    run(world, keys)
    for key, stack in world.source.items():
        world.copy(key, stack[: data.draw(st.integers(0, len(stack)), label=f"copied of {key}")])
    done = {key: len(stack) for key, stack in world.dest.items()}
    run(world, data.draw(st.dictionaries(st.sampled_from(sorted(keys)), st.lists(st.builds(Op, st.booleans()), max_size=4)), label="later"))
    planned = plan(world, cuts, window)
    expected = {key: stack[done.get(key, 0) :] for key, stack in world.source.items() if stack[done.get(key, 0) :]}
    assert planned.items == expected


@settings(max_examples=150, deadline=None)
@given(histories, st.lists(st.integers(1, 40), min_size=1, max_size=5), st.integers(1, 6), st.integers(0, 4))
def test_a_hand_on_inside_a_key_plans_the_same(keys: dict[str, list[Op]], cuts: list[int], window: int, hand_on_at: int) -> None:
    world = World()
    run(world, keys)
    pages = pages_of(world.newest_first(world.source), cuts)
    if hand_on_at >= len(pages) - 1:
        return
    assert plan(world, cuts, window, hand_on_at).items == plan(world, cuts, window).items


@settings(max_examples=150, deadline=None)
@given(histories, st.data(), st.lists(st.integers(1, 40), min_size=1, max_size=5), st.integers(1, 6), st.integers(0, 4))
def test_a_hand_on_inside_a_key_of_a_re_run_plans_the_same(keys: dict[str, list[Op]], data: st.DataObject, cuts: list[int], window: int, hand_on_at: int) -> None:
    world = World()
    run(world, keys)
    for key, stack in world.source.items():
        world.copy(key, stack[: data.draw(st.integers(0, len(stack)), label=f"copied of {key}")])
    pages = pages_of(world.newest_first(world.source), cuts)
    if hand_on_at >= len(pages) - 1:
        return
    assert plan(world, cuts, window, hand_on_at).items == plan(world, cuts, window).items


def test_an_unchanged_re_run_reads_no_record_when_the_etags_match() -> None:
    world = World()
    run(world, {"a": [Op(False), Op(True), Op(False, 2)], "b": [Op(False)]})
    for key, stack in world.source.items():
        world.copy(key, stack)
    planned = plan(world, [], window=10)
    assert planned.items == {} and planned.records_read == 0 and planned.tops_read == 0


def test_an_unchanged_re_run_reads_one_record_per_key_when_etags_change() -> None:
    world = World(kms=True)
    run(world, {"a": [Op(False), Op(True), Op(False, 2)], "b": [Op(False)], "c": [Op(True)]})
    for key, stack in world.source.items():
        world.copy(key, stack)
    planned = plan(world, [], window=10)
    # "c" is a delete marker only: the listings match without a record.
    assert planned.items == {} and planned.records_read == 2


def test_a_destination_of_delete_markers_only_matches_the_oldest_source_markers() -> None:
    world = World()
    run(world, {"a": [Op(True), Op(True)]})
    world.copy("a", world.source["a"][:1])
    run(world, {"a": [Op(False)]})
    assert plan(world, [], window=10).items == {"a": world.source["a"][1:]}


def test_a_destination_without_a_record_gets_the_whole_history_on_top() -> None:
    world = World()
    run(world, {"a": [Op(False), Op(False, 2)]})
    world.dest["a"] = [version("a", "other", 0, 5)]
    assert plan(world, [], window=10).items == {"a": world.source["a"]}


def test_stack_items_carry_the_entries_oldest_first() -> None:
    world = World()
    run(world, {"k": [Op(False, 1), Op(True), Op(False, 2)]})
    planner = StackPlanner(None, recorded=lambda key, vid: None, newer_than=lambda key, anchor: KeyTop([], 0, True))
    [decision] = planner.feed(pages_of(world.newest_first(world.source))[0]).decisions
    item = decision.item()
    assert item == CopyItem("k", 1, version_id="k-s0", stack=item.stack if item else None)
    assert item is not None and item.stack is not None
    assert item.stack.then == (VersionRef("k-s1", 0, delete_marker=True), VersionRef("k-s2", 2))
    assert not item.stack.more and item.stack.after is None


def test_a_long_history_is_carried_by_a_chain_of_items() -> None:
    world = World()
    run(world, {"k": [Op(False, size) for size in range(7)]})
    planner = StackPlanner(None, recorded=lambda key, vid: None, newer_than=lambda key, anchor: KeyTop([], 0, True), window=3)
    [decision] = planner.feed(pages_of(world.newest_first(world.source))[0]).decisions
    assert [e.version_id for e in decision.to_copy] == ["k-s0", "k-s1", "k-s2"] and decision.more
    assert decision.copy_versions == 7
    assert follow(world, "k", list(decision.to_copy), decision.more, 3) == world.source["k"]


# ------------------------------------------------------------------------ smaller rules --


def test_strong_match() -> None:
    source = version("k", "s", 10, 3, '"e"')
    assert strong_match(source, version("k", "d", 11, 3, '"e"'))
    assert not strong_match(source, version("k", "d", 11, 3, '"other"'))
    assert not strong_match(source, version("k", "d", 11, 4, '"e"'))
    assert not strong_match(source, version("k", "d", 9, 3, '"e"'))  # older than its source: not a copy of it
    assert strong_match(marker("k", "m", 1), marker("k", "n", 2))
    assert not strong_match(marker("k", "m", 1), source)


def test_markers_already_there_counts_the_markers_right_above_the_copy() -> None:
    newer = [version("k", "v9", 9), marker("k", "m8", 8), marker("k", "m7", 7)]
    assert markers_already_there(newer, 0) == 0
    assert markers_already_there(newer, 1) == 1
    assert markers_already_there(newer, 5) == 2
    assert markers_already_there([version("k", "v", 1)], 3) == 0


def test_dest_stack_summary() -> None:
    entries = [marker("k", "m2", 3), marker("k", "m1", 2), version("k", "v1", 1)]
    assert DestStack.of(entries) == DestStack(3, 2, "v1", tuple(entries))
    assert DestStack.of(entries, window=2).entries is None


V, M = VersionRef, lambda vid: VersionRef(vid, delete_marker=True)


@pytest.mark.parametrize(
    ("entries", "recorded_top", "top_markers", "after", "dest_dms", "done"),
    [
        # Nothing happened since planning.
        ([V("a"), V("b")], "z", 0, "z", 0, 0),
        ([V("a"), V("b")], None, 0, None, 0, 0),
        # An earlier attempt copied "a", or both.
        ([V("a"), V("b")], "a", 0, "z", 0, 1),
        ([V("a"), V("b")], "b", 0, "z", 0, 2),
        # It copied "a" and the marker after it.
        ([V("a"), M("m"), V("b")], "a", 1, "z", 0, 2),
        # Markers first: those added on top since planning are the item's.
        ([M("m1"), M("m2"), V("b")], "z", 1, "z", 0, 1),
        ([M("m1"), M("m2"), V("b")], "z", 3, "z", 1, 2),
        ([M("m1"), V("b")], None, 1, None, 0, 1),
        # The destination changed otherwise: nothing counts as copied.
        ([V("a"), V("b")], "elsewhere", 0, "z", 0, 0),
    ],
)
def test_copied_already(entries: list[VersionRef], recorded_top: str | None, top_markers: int, after: str | None, dest_dms: int, done: int) -> None:
    assert copied_already(entries, recorded_top, top_markers, after, dest_dms) == done


def test_entries_newer_than() -> None:
    stack = [version("k", f"v{i}", i) for i in range(9, -1, -1)]
    top = entries_newer_than(iter(stack), "v4", window=3)
    assert top.found and [e.version_id for e in top.newer] == ["v7", "v6", "v5"] and top.dropped == 2
    assert top.versions == 5
    missing = entries_newer_than(iter(stack), "gone", window=3)
    assert not missing.found
    whole = entries_newer_than(iter(stack), None, window=20)
    assert whole.found and len(whole.newer) == 10


@settings(max_examples=100, deadline=None)
@given(histories, st.lists(st.integers(1, 40), max_size=5), st.integers(1, 6))
def test_a_listing_that_just_ends_plans_its_last_key_too(keys: dict[str, list[Op]], cuts: list[int], window: int) -> None:
    """A range whose end falls on a page boundary: its last page is not marked last (the next page
    lies beyond the range and yields nothing); the caller's ``finish`` plans what is open."""
    world = World()
    run(world, keys)
    pages = pages_of(world.newest_first(world.source), cuts)
    pages[-1] = VersionPage(pages[-1].entries, last=False)
    planner = StackPlanner(pages_of(world.newest_first(world.dest)), recorded=lambda key, vid: None, newer_than=lambda key, anchor: KeyTop([], 0, True), window=window)
    decisions = [d for page in pages for d in planner.feed(page).decisions] + planner.finish().decisions
    assert {d.key: follow(world, d.key, list(d.to_copy), d.more, window) for d in decisions} == world.source
    as_of = list(as_of_pages(pages, at(1000)))
    assert as_of[-1].last and {o.key for page in as_of for o in page.objects} == {key for key, stack in world.source.items() if not stack[-1].delete_marker}
