"""Part tasks in messages, and large objects travelling alone in their copy batch."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3fanout.messages import CopyBatch, CopyBatchPacker, CopyItem, InvalidMessage, PartRange, pack_copy_batches

GiB = 1024**3
MiB = 1024**2


def small(n: int) -> CopyItem:
    return CopyItem(f"small-{n:03}", 10, '"e"')


def test_a_large_item_gets_a_batch_of_its_own_and_the_small_ones_go_on_filling():
    packer = CopyBatchPacker("job", "src", "dst", max_keys=3)
    large = CopyItem("large", 1 * GiB + 1, '"big"')

    assert packer.add(small(1)) == []
    assert packer.add(large) == [CopyBatch("job", "src", "dst", (large,))]
    assert packer.pending() == 1
    assert packer.add(small(2)) == []
    [full] = packer.add(small(3))
    assert full.items == (small(1), small(2), small(3))
    assert packer.flush() == []


def test_an_item_at_the_threshold_is_packed_with_the_others():
    batches = list(pack_copy_batches("job", "src", "dst", [small(1), CopyItem("edge", 1 * GiB), small(2)]))
    assert [len(b.items) for b in batches] == [3]


def test_the_threshold_comes_from_the_environment_or_the_caller(monkeypatch):
    items = [small(1), CopyItem("medium", 20 * MiB), small(2)]
    monkeypatch.setenv("MULTIPART_THRESHOLD_BYTES", str(10 * MiB))
    assert [len(b.items) for b in pack_copy_batches("job", "src", "dst", items)] == [1, 2]
    assert [len(b.items) for b in pack_copy_batches("job", "src", "dst", items, alone_above=100 * MiB)] == [3]


def test_part_tasks_always_travel_alone():
    task = CopyItem("k", 2 * MiB, '"e"', parts=PartRange("u", 1, 1, 5 * MiB))
    batches = list(pack_copy_batches("job", "src", "dst", [small(1), task, small(2)], alone_above=100 * GiB))
    assert [b.items for b in batches] == [(task,), (small(1), small(2))]


@given(sizes=st.lists(st.sampled_from([1, 5, 2 * GiB, 6 * GiB]), max_size=250))
def test_every_item_is_packed_once_and_large_ones_alone(sizes):
    items = [CopyItem(f"k{i:04}", size) for i, size in enumerate(sizes)]
    batches = list(pack_copy_batches("job", "src", "dst", items))
    assert sorted(item.key for b in batches for item in b.items) == [item.key for item in items]
    for batch in batches:
        assert len(batch.items) <= 100
        assert len(batch.items) == 1 or all(item.size <= GiB for item in batch.items)


@given(
    upload=st.text(min_size=1, max_size=200),
    first=st.integers(min_value=1, max_value=10_000),
    span=st.integers(min_value=0, max_value=10_000),
    part_size=st.integers(min_value=5 * MiB, max_value=5 * GiB),
)
def test_part_tasks_round_trip(upload, first, span, part_size):
    last = min(10_000, first + span)
    item = CopyItem("k", last * part_size, '"e"', parts=PartRange(upload, first, last, part_size))
    batch = CopyBatch("job", "src", "dst", (item,))
    assert CopyBatch.from_json(batch.to_json()) == batch


def test_items_without_parts_serialise_as_before():
    body = json.loads(CopyBatch("j", "a", "b", (CopyItem("k", 3, '"e"'),)).to_json())
    assert body["items"] == [{"key": "k", "size": 3, "etag": '"e"'}]
    old = '{"v":1,"type":"copy","job":"j","src":"a","dst":"b","items":[{"key":"k","size":3}]}'
    assert CopyBatch.from_json(old).items == (CopyItem("k", 3),)


def test_a_part_task_body():
    item = CopyItem("k", 12 * MiB, '"e"', parts=PartRange("upload-id", 2, 3, 5 * MiB))
    assert json.loads(CopyBatch("j", "a", "b", (item,)).to_json())["items"] == [
        {"key": "k", "size": 12 * MiB, "etag": '"e"', "parts": {"upload": "upload-id", "first": 2, "last": 3, "psize": 5 * MiB}}
    ]


@pytest.mark.parametrize(
    "parts, reason",
    [
        ("[]", "parts must be an object"),
        ('{"upload": "", "first": 1, "last": 1, "psize": 5}', "upload must not be empty"),
        ('{"upload": "u", "first": 0, "last": 1, "psize": 5}', "1 <= first <= last"),
        ('{"upload": "u", "first": 3, "last": 2, "psize": 5}', "1 <= first <= last"),
        ('{"upload": "u", "first": 1, "last": 10001, "psize": 5}', "last <= 10000"),
        ('{"upload": "u", "first": 1, "last": 1, "psize": 0}', "psize must be positive"),
        ('{"upload": "u", "first": 1, "last": 4, "psize": 5}', "beyond the 3 parts of a 12-byte object"),
    ],
)
def test_invalid_part_ranges_say_why(parts, reason):
    body = '{"v":1,"type":"copy","job":"j","src":"a","dst":"b","items":[{"key":"k","size":12,"parts":' + parts + "}]}"
    with pytest.raises(InvalidMessage, match=reason.replace("(", r"\(")):
        CopyBatch.from_json(body)
