import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3fanout.manifest import ManifestPart, PartFormat
from s3fanout.messages import (
    MAX_MESSAGE_BYTES,
    CopyBatch,
    CopyBatchPacker,
    CopyItem,
    InvalidMessage,
    KeyFailure,
    ListTask,
    pack_copy_batches,
    parse_message,
)
from tests.keys import AWKWARD_KEYS

s3_keys = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=60)

# Characters SQS refuses in a message body, all legal in an S3 key.
SQS_FORBIDDEN = ["\x00", "\x01", "\x1f", "\ufffe", "\uffff"]


def sqs_safe(body: str) -> bool:
    allowed = lambda c: c in "\t\n\r" or "\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000"  # noqa: E731
    return all(allowed(c) for c in body)


@given(key=s3_keys, size=st.integers(min_value=0, max_value=5 * 1024**4), etag=st.none() | st.text(max_size=40))
def test_copy_batch_round_trips_any_key(key, size, etag):
    failure = KeyFailure("SlowDown", "Please reduce your request rate.", 2, "2026-01-01T00:00:00+00:00", "2026-01-01T00:01:00+00:00")
    batch = CopyBatch("job", "src-bucket", "dst-bucket", (CopyItem(key, size, etag), CopyItem(key + "x", 1, None, failure)))
    body = batch.to_json()
    assert sqs_safe(body)
    assert CopyBatch.from_json(body) == batch


@pytest.mark.parametrize("key", AWKWARD_KEYS + [f"{character}forbidden" for character in SQS_FORBIDDEN])
def test_every_awkward_key_survives_both_messages(key):
    batch = CopyBatch("job", "src-bucket", "dst-bucket", (CopyItem(key, 1, '"etag"'),))
    task = ListTask("job", "src-bucket", "dst-bucket", "", key, None)
    for message, kind in ((batch, CopyBatch), (task, ListTask)):
        body = message.to_json()
        assert sqs_safe(body)
        assert kind.from_json(body) == message


@given(after=st.none() | s3_keys, until=st.none() | s3_keys, prefix=st.text(max_size=10))
def test_list_task_round_trips(after, until, prefix):
    task = ListTask("job", "src-bucket", "dst-bucket", prefix, after, until, 3)
    assert ListTask.from_json(task.to_json()) == task


@pytest.mark.parametrize(
    "body, reason",
    [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        ('{"v": 99, "type": "copy"}', "version"),
        ('{"v": 1, "type": "rename"}', "unknown message type"),
        ('{"v": 1, "type": "copy", "job": "j", "src": "a", "dst": "b", "items": []}', "items"),
        ('{"v": 1, "type": "copy", "job": "j", "src": "a", "dst": "b", "items": [{"key": "k", "size": -1}]}', "size"),
        ('{"v": 1, "type": "list", "job": "j", "src": "", "dst": "b", "prefix": "", "resumed": 0}', "src"),
    ],
)
def test_invalid_messages_say_why(body, reason):
    with pytest.raises(InvalidMessage, match=reason):
        parse_message(body)


def test_from_json_refuses_the_other_kind():
    task = ListTask("job", "a", "b")
    with pytest.raises(InvalidMessage, match="expected a copy batch"):
        CopyBatch.from_json(task.to_json())


def test_packer_makes_batches_of_100_keys():
    items = [CopyItem(f"key-{i:05d}", i) for i in range(250)]
    batches = list(pack_copy_batches("job", "a", "b", items))
    assert [len(b.items) for b in batches] == [100, 100, 50]
    assert [i for b in batches for i in b.items] == items


@pytest.mark.parametrize("character", ["\x01", "日", "😀", "a"])
def test_packer_never_exceeds_the_message_size_with_1024_byte_keys(character):
    # 1,024 UTF-8 bytes of the character: escaping makes a control character six bytes long in JSON.
    unit = len(character.encode())
    items = [CopyItem(character * (1024 // unit - 1) + f"{i:0{1024 % unit + unit}d}"[-(1024 % unit + unit):], 1, '"etag"') for i in range(300)]
    assert all(len(item.key.encode()) == 1024 for item in items)
    batches = list(pack_copy_batches("job", "a", "b", items))
    assert [i for b in batches for i in b.items] == items
    for batch in batches:
        body = batch.to_json()
        assert len(body.encode()) <= MAX_MESSAGE_BYTES
        assert len(batch.items) <= 100
        assert sqs_safe(body)
    if character == "\x01":
        assert len(batches) > 3  # the size limit, not the count, cut these batches


@given(st.lists(s3_keys, max_size=300), st.integers(min_value=2000, max_value=20000))
def test_packer_keeps_every_key_within_limits(keys, max_bytes):
    packer = CopyBatchPacker("job", "a", "b", max_keys=100, max_bytes=max_bytes)
    batches = []
    for key in keys:
        batches += packer.add(CopyItem(key, 0))
    batches += packer.flush()
    assert [i.key for b in batches for i in b.items] == keys
    assert all(len(b.to_json().encode()) <= max_bytes for b in batches)


def test_body_is_compact_versioned_json():
    body = json.loads(CopyBatch("job-1", "a", "b", (CopyItem("k", 3, '"e"'),)).to_json())
    assert body == {"v": 1, "type": "copy", "job": "job-1", "src": "a", "dst": "b", "hops": 0, "items": [{"key": "k", "size": 3, "etag": '"e"'}]}


def test_regions_travel_with_both_messages_and_are_left_out_when_unknown():
    task = ListTask("job", "src", "dst", source_region="us-west-1", dest_region="eu-central-2")
    assert ListTask.from_json(task.to_json()).regions == ("us-west-1", "eu-central-2")
    batch = CopyBatch("job", "src", "dst", (CopyItem("k", 1),), source_region="us-gov-west-1", dest_region="cn-north-1")
    assert CopyBatch.from_json(batch.to_json()).regions == ("us-gov-west-1", "cn-north-1")
    # A body without regions is the body older versions sent, byte for byte.
    assert "region" not in ListTask("job", "src", "dst").to_json()
    assert ListTask.from_json(ListTask("job", "src", "dst").to_json()).regions == (None, None)


@pytest.mark.parametrize("region", ["", "US-EAST-1", "us-east", "http://evil.example", "us-east-1/../x"])
def test_a_region_that_is_no_region_name_is_refused(region):
    body = json.loads(ListTask("job", "src", "dst").to_json()) | {"src_region": region}
    with pytest.raises(InvalidMessage, match="src_region .* is not an AWS region name"):
        ListTask.from_json(json.dumps(body))


def test_packed_batches_carry_the_regions():
    [batch] = pack_copy_batches("job", "src", "dst", [CopyItem("k", 1)], regions=("us-west-1", "us-east-2"))
    assert batch.regions == ("us-west-1", "us-east-2")


def test_a_list_task_carries_its_manifest_part_and_the_rows_handled() -> None:
    part = ManifestPart("s3://inventories/src/data/f.parquet", PartFormat.PARQUET, index=3, size=1234, bucket="src", rows=500)
    task = ListTask("job", "src", "dst", manifest=part, skip_rows=5000)
    assert ListTask.from_json(task.to_json()) == task
    # A task without a manifest has no manifest keys at all.
    assert "manifest" not in ListTask("job", "src", "dst").to_json()
    bad = json.loads(task.to_json())
    bad["manifest"] = {"uri": "s3://x/y", "format": "parquet"}
    with pytest.raises(InvalidMessage, match="needs an index"):
        ListTask.from_json(json.dumps(bad))


# A split-off part's expected keys, a seed range's first page size: each optional, and a number.
@pytest.mark.parametrize(("field", "name"), [("expected_keys", "exp"), ("page_keys", "pk")])
def test_a_list_tasks_size_hints_survive_json_and_are_left_out_when_unknown(field: str, name: str) -> None:
    task = ListTask("job", "src", "dst", after="a", until="b", **{field: 9_876})
    assert ListTask.from_json(task.to_json()) == task
    assert f'"{name}"' not in ListTask("job", "src", "dst").to_json()
    for bad in ("-1", '"many"'):
        with pytest.raises(InvalidMessage):
            ListTask.from_json(task.to_json().replace("9876", bad))


def test_a_list_task_says_its_destination_was_empty_only_when_it_was() -> None:
    task = ListTask("job", "src", "dst", dest_empty=True)
    assert ListTask.from_json(task.to_json()) == task
    assert "dst_empty" not in ListTask("job", "src", "dst").to_json()
    with pytest.raises(InvalidMessage):
        ListTask.from_json(task.to_json().replace('"dst_empty":true', '"dst_empty":"yes"'))
