"""The messages' version fields: a copy item's version id, delete marker and version stack; a list
task's --all-versions, --as-of and the version a range resumes after."""

from __future__ import annotations

import json

import pytest

from s3fanout.messages import (
    MAX_MESSAGE_BYTES,
    CopyBatch,
    CopyBatchPacker,
    CopyItem,
    InvalidMessage,
    ListTask,
    VersionRef,
    VersionStack,
    parse_as_of,
)
from s3fanout.versions import STACK_WINDOW

VID = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nrjfkd"


def batch(*items: CopyItem) -> CopyBatch:
    return CopyBatch("job", "src", "dst", items)


def item_json(item: CopyItem) -> dict[str, object]:
    return json.loads(batch(item).to_json())["items"][0]  # type: ignore[no-any-return]


def test_a_plain_item_body_is_unchanged() -> None:
    assert item_json(CopyItem("k", 3, '"e"')) == {"key": "k", "size": 3, "etag": '"e"'}


def test_a_version_of_a_key_round_trips() -> None:
    item = CopyItem("k", 3, '"e"', version_id=VID)
    assert item_json(item) == {"key": "k", "size": 3, "etag": '"e"', "vid": VID}
    assert CopyBatch.from_json(batch(item).to_json()).items == (item,)


def test_a_version_stack_round_trips_compactly() -> None:
    stack = VersionStack((VersionRef("v2", 5), VersionRef("m3", delete_marker=True), VersionRef("null", 0)), more=True, after="v0", dest_dms=2)
    item = CopyItem("日本/é", 1, version_id="v1", stack=stack)
    assert item_json(item)["stack"] == {"then": [["v2", 5], ["m3"], ["null", 0]], "more": True, "after": "v0", "dms": 2}
    assert CopyBatch.from_json(batch(item).to_json()).items == (item,)
    marker = CopyItem("k", 0, version_id="m1", delete_marker=True, stack=VersionStack())
    assert item_json(marker) == {"key": "k", "size": 0, "vid": "m1", "dm": True, "stack": {}}
    assert CopyBatch.from_json(batch(marker).to_json()).items == (marker,)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"vid": ""}, "vid must be an S3 version id"),
        ({"vid": "has space"}, "vid must be an S3 version id"),
        ({"vid": "é"}, "vid must be an S3 version id"),
        ({"vid": 7}, "vid must be an S3 version id"),
        ({"dm": True}, "a delete marker needs its version id"),
        ({"vid": "v", "dm": True, "size": 3}, "a delete marker needs its version id, size 0"),
        ({"stack": {}}, "a version stack starts with a version id"),
        ({"vid": "v", "stack": {"then": [["v2"], ["v3", -1]]}}, "a stack entry's size must be a non-negative integer"),
        ({"vid": "v", "stack": {"then": [[]]}}, "a stack entry must be"),
        ({"vid": "v", "stack": {"then": "v2"}}, "stack.then must be a list"),
        ({"vid": "v", "stack": {"after": ""}}, "stack.after must be an S3 version id"),
        ({"vid": "v", "stack": {"more": "yes"}}, "more must be true or false"),
    ],
)
def test_bad_version_fields_are_refused(fields: dict[str, object], reason: str) -> None:
    body = json.loads(batch(CopyItem("k", 0)).to_json())
    body["items"][0] |= fields
    with pytest.raises(InvalidMessage, match=reason):
        CopyBatch.from_json(json.dumps(body))


def test_a_full_stack_of_the_longest_key_fits_a_message() -> None:
    # STACK_WINDOW entries with S3-sized version ids, on a 1,024-byte key of control characters.
    key = "\x01" * 1024
    then = tuple(VersionRef(VID[:32], 5 * 1024**3) for _ in range(STACK_WINDOW - 1))
    item = CopyItem(key, 1, version_id=VID[:32], stack=VersionStack(then, more=True, after=VID[:32], dest_dms=3))
    packer = CopyBatchPacker("job", "src", "dst")
    [full] = packer.add(item) + packer.flush()
    assert full.items == (item,) and len(full.to_json()) < MAX_MESSAGE_BYTES


def test_list_task_version_fields_round_trip_and_stay_out_of_plain_bodies() -> None:
    plain = ListTask("job", "src", "dst")
    assert not {"versions", "as_of", "after_vid"} & set(json.loads(plain.to_json()))
    every = ListTask("job", "src", "dst", after="k", all_versions=True, after_version="v7")
    assert json.loads(every.to_json())["versions"] == "all" and json.loads(every.to_json())["after_vid"] == "v7"
    assert ListTask.from_json(every.to_json()) == every
    as_of = ListTask("job", "src", "dst", as_of="2026-11-30T18:00:00+00:00")
    assert ListTask.from_json(as_of.to_json()) == as_of


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"versions": "some"}, 'versions must be "all"'),
        ({"as_of": "yesterday"}, "is not an ISO 8601 time"),
        ({"as_of": "2026-11-30T18:00:00"}, "has no UTC offset"),
        ({"versions": "all", "as_of": "2026-11-30T18:00:00Z"}, "not both"),
        ({"versions": "all", "after_vid": "v1"}, "after_vid resumes a version listing inside the key 'after'"),
        ({"after": "k", "after_vid": "v1"}, "after_vid resumes a version listing"),
        ({"versions": "all", "after": "k", "after_vid": " "}, "after_vid must be an S3 version id"),
    ],
)
def test_bad_list_task_version_fields_are_refused(fields: dict[str, object], reason: str) -> None:
    body = json.loads(ListTask("job", "src", "dst").to_json()) | fields
    with pytest.raises(InvalidMessage, match=reason):
        ListTask.from_json(json.dumps(body))


def test_parse_as_of() -> None:
    assert parse_as_of("2026-11-30T18:00:00Z").isoformat() == "2026-11-30T18:00:00+00:00"
    assert parse_as_of("2026-11-30T19:00:00+01:00").utcoffset() is not None
