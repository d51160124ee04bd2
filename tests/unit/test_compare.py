from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3fanout.compare import Action, compare, copy_everything, merge_join
from s3fanout.s3ops import ListedObject, ListedPage

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def obj(key: str, size: int = 1, etag: str = '"e"', at: datetime | None = T0) -> ListedObject:
    return ListedObject(key, size, etag, at)


def pages(objects: list[ListedObject], size: int) -> list[ListedPage]:
    chunks = [objects[i : i + size] for i in range(0, len(objects), size)]
    return [ListedPage(chunk, last=i == len(chunks) - 1) for i, chunk in enumerate(chunks)]


@pytest.mark.parametrize(
    "source, dest, action",
    [
        (obj("k", 5), obj("k", 6), Action.COPY),
        (obj("k", 5, '"a"'), obj("k", 5, '"a"', T0 - timedelta(days=1)), Action.SKIP),
        # Uploaded in parts, copied in one piece: another ETag, same bytes, copy is newer.
        (obj("k", 5, '"abc-3"'), obj("k", 5, '"def"', T0 + timedelta(seconds=1)), Action.SKIP),
        (obj("k", 5, '"abc-3"'), obj("k", 5, '"def"', T0), Action.SKIP),
        # The source changed after it was copied.
        (obj("k", 5, '"new"', T0 + timedelta(hours=1)), obj("k", 5, '"old"', T0), Action.COPY),
        # Without times to compare, a different ETag means copy.
        (obj("k", 5, '"a"', None), obj("k", 5, '"b"', T0), Action.COPY),
    ],
)
def test_compare(source, dest, action):
    assert compare(source, dest).action is action


keys = st.lists(st.text(alphabet="ab/é\x00日", min_size=1, max_size=4), unique=True, max_size=40).map(sorted)


@given(source_keys=keys, dest_keys=keys, source_page=st.integers(1, 7), dest_page=st.integers(1, 7))
def test_merge_join_decides_every_key_once_in_order(source_keys, dest_keys, source_page, dest_page):
    groups = list(merge_join(pages([obj(k) for k in source_keys], source_page), pages([obj(k) for k in dest_keys], dest_page)))
    decisions = [d for g in groups for d in g.decisions]
    assert sorted(d.key for d in decisions) == sorted(set(source_keys) | set(dest_keys))
    for d in decisions:
        expected = Action.SKIP if d.key in source_keys and d.key in dest_keys else Action.COPY if d.key in source_keys else Action.ORPHAN
        assert d.action is expected
    # Each group settles every key up to its checkpoint: a lister may hand on after any of them.
    decided: set[str] = set()
    for group in groups:
        decided |= {d.key for d in group.decisions}
        assert {k for k in set(source_keys) | set(dest_keys) if k <= group.checkpoint} <= decided
        assert all(d.key <= group.checkpoint for d in group.decisions)
    assert [g.checkpoint for g in groups] == sorted(g.checkpoint for g in groups)
    if groups:
        assert groups[-1].last and not any(g.last for g in groups[:-1])


def test_resuming_after_any_checkpoint_decides_the_rest_exactly_once():
    source = [obj(f"s{i:02d}") for i in range(0, 30, 2)] + [obj("t")]
    dest = [obj(f"s{i:02d}") for i in range(0, 30, 3)] + [obj("u"), obj("v")]
    for cut in range(len(list(merge_join(pages(source, 4), pages(dest, 4))))):
        groups = list(merge_join(pages(source, 4), pages(dest, 4)))
        after = groups[cut].checkpoint
        first = [d.key for g in groups[: cut + 1] for d in g.decisions]
        rest = [d.key for g in merge_join(pages([o for o in source if o.key > after], 4), pages([o for o in dest if o.key > after], 4)) for d in g.decisions]
        assert sorted(first + rest) == sorted({o.key for o in source} | {o.key for o in dest})


def test_copy_everything_ignores_the_destination():
    groups = list(copy_everything(pages([obj("a"), obj("b"), obj("c")], 2)))
    assert [[d.action for d in g.decisions] for g in groups] == [[Action.COPY] * 2, [Action.COPY]]
    assert [g.last for g in groups] == [False, True]
