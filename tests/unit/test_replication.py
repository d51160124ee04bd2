"""Continuous replication's pure core: S3 and EventBridge events parsed, and the ordering rule that
keeps a destination from going back in time, against a stand-in S3 that pins copies by ETag as S3
does (moto ignores CopySourceIfMatch: tests/integration/test_notifications_moto.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3fanout.replication import (
    Applied,
    InvalidEvent,
    Kind,
    ObjectEvent,
    Outcome,
    StillChanging,
    apply,
    apply_batch,
    compare_sequencers,
    dest_key,
    parse_eventbridge,
    parse_message,
    parse_record,
)
from s3fanout.s3errors import S3Failure
from s3fanout.s3ops import MAX_SINGLE_COPY_BYTES
from tests.keys import AWKWARD_KEYS
from tests.unit.fake_aws import client_error

SRC, DST = "src", "dst"

# The User Guide's example of a message S3 sends for an s3:ObjectCreated:Put event.
S3_PUT_EXAMPLE = {
    "Records": [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-west-2",
            "eventTime": "1970-01-01T00:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AIDAJDPLRKLG7UEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "testConfigRule",
                "bucket": {"name": "mybucket", "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": "arn:aws:s3:::mybucket"},
                "object": {
                    "key": "HappyFace.jpg",
                    "size": 1024,
                    "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                    "versionId": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
                    "sequencer": "0055AED6DCD90281E5",
                },
            },
        }
    ]
}
# The User Guide's EventBridge examples ("EventBridge event message structure").
EB_CREATED = {
    "version": "0",
    "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "111122223333",
    "time": "2021-11-12T00:00:00Z",
    "region": "ca-central-1",
    "resources": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET1"],
    "detail": {
        "version": "0",
        "bucket": {"name": "DOC-EXAMPLE-BUCKET1"},
        "object": {"key": "example-key", "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184", "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e", "sequencer": "617f08299329d189"},
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "source-ip-address": "1.2.3.4",
        "reason": "PutObject",
    },
}
EB_DELETED = EB_CREATED | {
    "detail-type": "Object Deleted",
    "detail": {
        "version": "0",
        "bucket": {"name": "DOC-EXAMPLE-BUCKET1"},
        "object": {"key": "example-key", "etag": "d41d8cd98f00b204e9800998ecf8427e", "version-id": "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF", "sequencer": "617f0837b476e463"},
        "reason": "DeleteObject",
        "deletion-type": "Delete Marker Created",
    },
}
EB_RESTORED = EB_CREATED | {"detail-type": "Object Restore Completed"}


def s3_record(key: str, name: str = "ObjectCreated:Put", *, bucket: str = SRC, etag: str | None = "e1", size: int | None = 3, sequencer: str | None = None, safe: str = "/") -> dict[str, Any]:
    obj: dict[str, Any] = {"key": quote_plus(key, safe=safe)}
    if etag is not None:
        obj["eTag"] = etag
    if size is not None:
        obj["size"] = size
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return {"eventSource": "aws:s3", "eventTime": "2026-12-01T10:00:00.000Z", "eventName": name, "s3": {"bucket": {"name": bucket}, "object": obj}}


# Parsing ---------------------------------------------------------------------------------------


def test_the_user_guides_put_example() -> None:
    (event,) = parse_message(json.dumps(S3_PUT_EXAMPLE))
    assert event == ObjectEvent(
        bucket="mybucket",
        key="HappyFace.jpg",
        kind=Kind.CREATED,
        etag="d41d8cd98f00b204e9800998ecf8427e",
        size=1024,
        version_id="096fKKXTRTtl3on89fVO.nfljtsv6qko",
        sequencer="0055AED6DCD90281E5",
        time=datetime(1970, 1, 1, tzinfo=UTC),
        name="ObjectCreated:Put",
    )


def test_the_test_event_holds_no_events() -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2014-10-13T15:57:02.089Z", "Bucket": "bucketname", "RequestId": "5582815E1AEA5ADF", "HostId": "8cLe"}
    assert parse_message(json.dumps(test_event)) == []


@pytest.mark.parametrize("key", AWKWARD_KEYS)
@pytest.mark.parametrize("safe", ["/", ""], ids=["slash-kept-as-s3", "slash-encoded-as-moto"])
def test_keys_are_decoded(key: str, safe: str) -> None:
    (event,) = parse_message({"Records": [s3_record(key, safe=safe)]})
    assert event.key == key


def test_plus_is_a_space_and_an_encoded_plus_is_a_plus() -> None:
    records = [s3_record("x")] * 3
    for record, encoded in zip(records := [json.loads(json.dumps(r)) for r in records], ["red+flower.jpg", "c%2B%2B.tar", "100%25+sure%3F"]):
        record["s3"]["object"]["key"] = encoded
    assert [e.key for e in parse_message({"Records": records})] == ["red flower.jpg", "c++.tar", "100% sure?"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ObjectCreated:Put", Kind.CREATED),
        ("ObjectCreated:Copy", Kind.CREATED),
        ("ObjectCreated:CompleteMultipartUpload", Kind.CREATED),
        ("s3:ObjectCreated:Post", Kind.CREATED),  # how MinIO names it
        ("ObjectRemoved:Delete", Kind.DELETED),
        ("ObjectRemoved:DeleteMarkerCreated", Kind.DELETED),
        ("LifecycleExpiration:Delete", Kind.DELETED),
        ("ObjectRestore:Completed", None),
        ("ObjectTagging:Put", None),
        ("ObjectAcl:Put", None),
        ("LifecycleTransition", None),
        ("Replication:OperationFailedReplication", None),
    ],
)
def test_only_creations_and_deletions_are_object_events(name: str, kind: Kind | None) -> None:
    event = parse_record(s3_record("k", name))
    assert (event.kind if event else None) is kind


def test_a_delete_record_has_no_etag_or_size() -> None:
    (event,) = parse_message({"Records": [s3_record("gone", "ObjectRemoved:Delete", etag=None, size=None, sequencer="0055AED6DCD90281E6")]})
    assert (event.kind, event.etag, event.size, event.sequencer) == (Kind.DELETED, None, None, "0055AED6DCD90281E6")


def test_several_records_and_sns_wrapping() -> None:
    body = {"Records": [s3_record("a"), s3_record("b", "ObjectTagging:Put"), s3_record("c", "ObjectRemoved:Delete")]}
    sns = {"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": json.dumps(body)}
    assert [(e.key, e.kind) for e in parse_message(json.dumps(sns))] == [("a", Kind.CREATED), ("c", Kind.DELETED)]


def test_the_user_guides_eventbridge_examples() -> None:
    (created,) = parse_message(json.dumps(EB_CREATED))
    assert created == ObjectEvent(
        bucket="DOC-EXAMPLE-BUCKET1",
        key="example-key",
        kind=Kind.CREATED,
        etag="b1946ac92492d2347c6235b4d2611184",
        size=5,
        version_id="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
        sequencer="617f08299329d189",
        time=datetime(2021, 11, 12, tzinfo=UTC),
        name="Object Created:PutObject",
    )
    (deleted,) = parse_message(EB_DELETED)
    assert (deleted.kind, deleted.size, deleted.sequencer) == (Kind.DELETED, None, "617f0837b476e463")
    assert parse_message(EB_RESTORED) == []


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_eventbridge_keys(key: str) -> None:
    encoded = EB_CREATED | {"detail": EB_CREATED["detail"] | {"object": EB_CREATED["detail"]["object"] | {"key": quote_plus(key, safe="/")}}}  # type: ignore[operator]
    raw = EB_CREATED | {"detail": EB_CREATED["detail"] | {"object": EB_CREATED["detail"]["object"] | {"key": key}}}  # type: ignore[operator]
    assert parse_message(encoded)[0].key == key
    assert parse_message(raw, eventbridge_keys_encoded=False)[0].key == key
    assert parse_eventbridge(raw, keys_encoded=False).key == key  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        '{"Records": {}}',
        '{"Records": [{"eventName": "ObjectCreated:Put"}]}',
        json.dumps({"Records": [s3_record("x") | {"s3": {"bucket": {"name": "b"}, "object": {"key": "%FF%FE"}}}]}),
        json.dumps({"Records": [s3_record("x") | {"s3": {"bucket": {"name": "b"}, "object": {"key": "k", "size": "big"}}}]}),
        json.dumps(EB_CREATED | {"source": "aws.ec2"}),
        json.dumps(EB_CREATED | {"detail": {}}),
        '{"hello": "world"}',
    ],
)
def test_what_is_not_an_object_event_is_refused(body: str) -> None:
    with pytest.raises(InvalidEvent):
        parse_message(body)


def test_a_sequencer_that_is_not_hexadecimal_is_left_out() -> None:
    (event,) = parse_message({"Records": [s3_record("k", sequencer="not-hex")]})
    assert event.sequencer is None


@pytest.mark.parametrize(
    ("a", "b", "order"),
    [
        ("0055AED6DCD90281E5", "0055AED6DCD90281E6", -1),
        ("0055AED6DCD90281E5", "0055aed6dcd90281e5", 0),
        ("617f0837b476e463", "617f08299329d189", 1),
        # Right-padded with zeros before comparing (User Guide): "ABC" is "ABC0", less than "ABC1".
        ("ABC", "ABC0", 0),
        ("ABC", "ABC1", -1),
        ("ABD", "ABC1", 1),
        ("1", "0F", 1),
    ],
)
def test_sequencers_compare_as_the_user_guide_says(a: str, b: str, order: int) -> None:
    assert compare_sequencers(a, b) == order
    assert compare_sequencers(b, a) == -order


@given(st.integers(0, 2**64), st.integers(0, 2**64))
def test_sequencers_of_one_length_compare_as_numbers(a: int, b: int) -> None:
    left, right = f"{a:020X}", f"{b:020x}"
    assert compare_sequencers(left, right) == (a > b) - (a < b)


# Applying --------------------------------------------------------------------------------------


def etag_of(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


class World:
    """Buckets in one stand-in client with S3's answers to HeadObject, CopyObject (with
    CopySourceIfMatch) and DeleteObject; ``hook`` runs before every request (another writer, or
    another invocation applying an event)."""

    def __init__(self) -> None:
        self.buckets: dict[str, dict[str, bytes]] = {SRC: {}, DST: {}}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.hook: Callable[[], None] | None = None
        self.errors: dict[str, Exception] = {}

    def _request(self, operation: str, request: dict[str, Any]) -> None:
        self.requests.append((operation, request))
        if self.hook is not None:
            self.hook()
        if operation in self.errors:
            raise self.errors[operation]

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self._request("HeadObject", {"Bucket": Bucket, "Key": Key})
        body = self.buckets[Bucket].get(Key)
        if body is None:
            raise client_error("404", "Not Found", 404, "HeadObject")
        return {"ETag": f'"{etag_of(body)}"', "ContentLength": len(body)}

    def copy_object(self, **request: Any) -> dict[str, Any]:
        self._request("CopyObject", request)
        assert (request["MetadataDirective"], request["TaggingDirective"]) == ("COPY", "COPY")
        assert "VersionId" not in request["CopySource"], "an event's version is never copied"
        body = self.buckets[request["CopySource"]["Bucket"]].get(request["CopySource"]["Key"])
        if body is None:
            raise client_error("NoSuchKey", "The specified key does not exist.", 404)
        if "CopySourceIfMatch" in request and request["CopySourceIfMatch"].strip('"') != etag_of(body):
            raise client_error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412)
        self.buckets[request["Bucket"]][request["Key"]] = body
        return {"CopyObjectResult": {"ETag": f'"{etag_of(body)}"'}}

    def delete_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self._request("DeleteObject", {"Bucket": Bucket, "Key": Key})
        self.buckets[Bucket].pop(Key, None)
        return {}

    def operations(self) -> list[str]:
        return [operation for operation, _ in self.requests]


def created(key: str, body: bytes, *, sequencer: str | None = None, bucket: str = SRC, size: int | None = None) -> ObjectEvent:
    return ObjectEvent(bucket, key, Kind.CREATED, etag_of(body), len(body) if size is None else size, sequencer=sequencer)


def deleted(key: str, *, sequencer: str | None = None) -> ObjectEvent:
    return ObjectEvent(SRC, key, Kind.DELETED, sequencer=sequencer)


def run(world: World, event: ObjectEvent, *, allow_delete: bool = True, **arguments: Any) -> Applied:
    return apply(event, source_s3=world, dest_s3=world, source_bucket=SRC, dest_bucket=DST, allow_delete=allow_delete, **arguments)  # type: ignore[arg-type]


def test_a_created_event_copies_the_current_object_pinned_to_its_etag() -> None:
    world = World()
    world.buckets[SRC]["logs/a b+c"] = b"one"
    applied = run(world, created("logs/a b+c", b"one"), prefix="logs/", dest_prefix="replica/", copy_arguments={"StorageClass": "STANDARD_IA"})
    assert (applied.outcome, applied.dest_key, applied.etag) == (Outcome.COPIED, "replica/logs/a b+c", etag_of(b"one"))
    assert applied.changed
    assert world.buckets[DST] == {"replica/logs/a b+c": b"one"}
    operation, request = world.requests[0]
    assert operation == "CopyObject"
    assert request == {
        "Bucket": DST,
        "Key": "replica/logs/a b+c",
        "CopySource": {"Bucket": SRC, "Key": "logs/a b+c"},
        "CopySourceIfMatch": f'"{etag_of(b"one")}"',
        "MetadataDirective": "COPY",
        "TaggingDirective": "COPY",
        "StorageClass": "STANDARD_IA",
    }
    assert world.operations() == ["CopyObject", "HeadObject"]


def test_an_old_created_event_does_not_overwrite_a_newer_object() -> None:
    world = World()
    world.buckets[SRC]["k"] = b"two"
    world.buckets[DST]["k"] = b"two"
    applied = run(world, created("k", b"one"))
    assert applied.outcome is Outcome.SKIPPED_STALE and "newer write follows" in applied.reason
    assert world.buckets[DST] == {"k": b"two"}


def test_an_old_created_event_does_not_resurrect_a_deleted_object() -> None:
    world = World()
    applied = run(world, created("k", b"one"))
    assert applied.outcome is Outcome.SKIPPED_MISSING
    assert world.buckets[DST] == {}


def test_objects_above_5_gib_are_left_to_the_multipart_copy_path() -> None:
    world = World()
    world.buckets[SRC]["big"] = b"x"
    applied = run(world, created("big", b"x", size=MAX_SINGLE_COPY_BYTES + 1))
    assert applied.outcome is Outcome.NEEDS_MULTIPART and applied.etag == etag_of(b"x")
    assert world.requests == []
    # Without a size in the event, CopyObject's own refusal says the same.
    world.errors["CopyObject"] = client_error("InvalidRequest", "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
    assert run(world, ObjectEvent(SRC, "big", Kind.CREATED, etag_of(b"x"))).outcome is Outcome.NEEDS_MULTIPART


def test_a_created_event_without_an_etag_pins_what_the_source_has() -> None:
    world = World()
    world.buckets[SRC]["k"] = b"now"
    applied = run(world, ObjectEvent(SRC, "k", Kind.CREATED))
    assert applied.outcome is Outcome.COPIED and world.buckets[DST] == {"k": b"now"}
    assert world.operations()[:2] == ["HeadObject", "CopyObject"]
    assert run(World(), ObjectEvent(SRC, "k", Kind.CREATED)).outcome is Outcome.SKIPPED_MISSING


def test_a_deleted_event_deletes_only_what_the_source_no_longer_has() -> None:
    world = World()
    world.buckets[DST]["k"] = b"old"
    applied = run(world, deleted("k"))
    assert applied.outcome is Outcome.DELETED and world.buckets[DST] == {}
    assert world.operations() == ["HeadObject", "DeleteObject", "HeadObject"]
    # The source has the key again: its created event copies it.
    world.buckets[SRC]["k"] = b"new"
    world.buckets[DST]["k"] = b"old"
    assert run(world, deleted("k")).outcome is Outcome.SKIPPED_SOURCE_EXISTS
    assert world.buckets[DST] == {"k": b"old"}


def test_deletes_only_when_the_job_deletes() -> None:
    world = World()
    world.buckets[DST]["k"] = b"old"
    applied = run(world, deleted("k"), allow_delete=False)
    assert applied.outcome is Outcome.SKIPPED_NO_DELETE and world.requests == []
    assert world.buckets[DST] == {"k": b"old"}


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (created("k", b"x", bucket="another"), "an event of bucket 'another'"),
        (created("elsewhere/k", b"x"), "outside the prefix 'logs/'"),
        (deleted("elsewhere/k"), "outside the prefix 'logs/'"),
    ],
)
def test_events_outside_the_job_are_refused(event: ObjectEvent, why: str) -> None:
    world = World()
    applied = run(world, event, prefix="logs/")
    assert applied.outcome is Outcome.REFUSED_OUT_OF_SCOPE and why in applied.reason
    assert world.requests == []


def test_a_copy_into_the_sources_own_scope_is_refused() -> None:
    world = World()
    world.buckets[SRC]["k"] = b"x"
    applied = apply(created("k", b"x"), source_s3=world, dest_s3=world, source_bucket=SRC, dest_bucket=SRC, dest_prefix="copy/", allow_delete=False)  # type: ignore[arg-type]
    assert applied.outcome is Outcome.REFUSED_OUT_OF_SCOPE and world.requests == []
    # Under another prefix of the same bucket, out of the job's prefix, it is a copy like any other.
    applied = apply(created("in/k", b"x"), source_s3=world, dest_s3=world, source_bucket=SRC, dest_bucket=SRC, prefix="in/", dest_prefix="out/", allow_delete=False)  # type: ignore[arg-type]
    assert applied.outcome is Outcome.SKIPPED_MISSING  # (no in/k in the source)


@pytest.mark.parametrize(
    ("error", "permanent"),
    [(client_error("AccessDenied", "Access Denied", 403), True), (client_error("SlowDown", "Please reduce your request rate.", 503), False)],
)
def test_other_errors_are_raised_for_the_caller_to_retry_or_dead_letter(error: Exception, permanent: bool) -> None:
    world = World()
    world.buckets[SRC]["k"] = b"x"
    world.errors["CopyObject"] = error
    with pytest.raises(S3Failure) as raised:
        run(world, created("k", b"x"))
    assert raised.value.permanent is permanent
    world.errors = {"HeadObject": error}
    with pytest.raises(S3Failure):
        run(world, deleted("k"))


def test_a_write_between_the_head_and_the_delete_is_copied_back() -> None:
    """The race the second HeadObject closes: the deleted event sees no key; before its delete, the
    source is written again and that write's event is applied (by another invocation)."""
    world = World()
    world.buckets[DST]["k"] = b"old"

    def meanwhile() -> None:
        if world.operations() == ["HeadObject", "DeleteObject"]:
            world.hook = None
            world.buckets[SRC]["k"] = b"new"
            assert run(world, created("k", b"new")).outcome is Outcome.COPIED

    world.hook = meanwhile
    applied = run(world, deleted("k"))
    assert applied.outcome is Outcome.COPIED and "the source changed meanwhile" in applied.reason
    assert world.buckets[DST] == {"k": b"new"}


def test_a_delete_while_copying_is_applied_again_after_the_copy() -> None:
    world = World()
    world.buckets[SRC]["k"] = b"one"

    def meanwhile() -> None:
        if world.operations() == ["CopyObject", "HeadObject"]:
            world.hook = None
            del world.buckets[SRC]["k"]

    world.hook = meanwhile
    applied = run(world, created("k", b"one"))
    assert applied.outcome is Outcome.DELETED and "deleted the key meanwhile" in applied.reason
    assert world.buckets[DST] == {}
    # A job that does not delete keeps what it copied.
    world.buckets[SRC]["k"] = b"one"
    world.requests.clear()
    world.hook = meanwhile
    assert run(world, created("k", b"one"), allow_delete=False).outcome is Outcome.COPIED
    assert world.buckets[DST] == {"k": b"one"}


def test_a_newer_write_while_copying_is_copied_after_the_copy() -> None:
    world = World()
    world.buckets[SRC]["k"] = b"one"

    def meanwhile() -> None:
        if world.operations() == ["CopyObject", "HeadObject"]:
            world.hook = None
            world.buckets[SRC]["k"] = b"two"

    world.hook = meanwhile
    applied = run(world, created("k", b"one"))
    assert (applied.outcome, applied.etag) == (Outcome.COPIED, etag_of(b"two"))
    assert world.buckets[DST] == {"k": b"two"}


def test_a_batch_applies_only_the_newest_event_of_each_key() -> None:
    world = World()
    world.buckets[SRC] = {"a": b"a2", "c": b"c1"}
    events = [
        created("a", b"a1", sequencer="0001"),
        deleted("b", sequencer="0007"),
        created("a", b"a2", sequencer="0002"),
        created("b", b"b1", sequencer="0005"),
        created("a", b"a2", sequencer="0002"),  # delivered twice
        created("c", b"c1"),  # no sequencer: applied
        created("c", b"c1"),
    ]
    results = apply_batch(events, source_s3=world, dest_s3=world, source_bucket=SRC, dest_bucket=DST, allow_delete=True)
    assert [r.outcome for r in results] == [
        Outcome.SKIPPED_STALE,
        Outcome.DELETED,
        Outcome.COPIED,
        Outcome.SKIPPED_STALE,
        Outcome.SKIPPED_STALE,
        Outcome.COPIED,
        Outcome.COPIED,
    ]
    assert "superseded in this batch" in results[0].reason and "duplicate" in results[4].reason
    assert [r.event for r in results] == events
    assert world.buckets[DST] == {"a": b"a2", "c": b"c1"}
    assert [request["Key"] for operation, request in world.requests if operation == "CopyObject"] == ["a", "c", "c"]


def test_a_delivery_after_one_that_failed_half_way_reconciles() -> None:
    """The first delivery of a deleted event deletes after a write whose event was applied
    meanwhile, then fails before its check (throttled): the event's own rule would now see the
    key and skip; delivered again, it brings the destination to the source instead."""
    world = World()
    world.buckets[DST]["k"] = b"old"

    def meanwhile() -> None:
        if world.operations() == ["HeadObject", "DeleteObject"]:
            world.hook = None
            world.buckets[SRC]["k"] = b"new"
            run(world, created("k", b"new"))
            world.hook = meanwhile
        elif world.operations()[-1] == "HeadObject" and "DeleteObject" in world.operations():
            world.hook = None
            raise client_error("SlowDown", "Please reduce your request rate.", 503, "HeadObject")

    world.hook = meanwhile
    with pytest.raises(S3Failure):
        run(world, deleted("k"))
    assert world.buckets[DST] == {}  # the write's copy, undone by the delete
    assert run(world, deleted("k")).outcome is Outcome.SKIPPED_SOURCE_EXISTS  # (its own rule: no repair)
    applied = run(world, deleted("k"), reconcile=True)
    assert (applied.outcome, applied.etag) == (Outcome.COPIED, etag_of(b"new")) and "delivered again" in applied.reason
    assert world.buckets[DST] == {"k": b"new"}


def test_reconciling_follows_the_source_whatever_the_event() -> None:
    world = World()
    world.buckets[DST]["k"] = b"old"
    assert run(world, created("k", b"old"), reconcile=True, allow_delete=False).outcome is Outcome.SKIPPED_NO_DELETE
    assert run(world, created("k", b"old"), reconcile=True).outcome is Outcome.DELETED
    assert world.buckets[DST] == {}
    world.buckets[SRC]["k"] = b"now"
    assert run(world, deleted("k"), reconcile=True).outcome is Outcome.COPIED
    assert world.buckets[DST] == {"k": b"now"}


def test_a_key_that_keeps_changing_fails_the_event_to_be_delivered_again() -> None:
    world = World()
    world.buckets[SRC]["k"] = b"0"
    bodies = iter([b"1", b"2", b"3", b"4", b"5"])

    def meanwhile() -> None:
        if world.requests[-1][0] == "HeadObject":
            world.buckets[SRC]["k"] = next(bodies)

    world.hook = meanwhile
    with pytest.raises(StillChanging) as raised:
        run(world, created("k", b"0"))
    assert not raised.value.permanent and raised.value.code == "SourceStillChanging"


def test_dest_key() -> None:
    assert dest_key("a/b") == "a/b"
    assert dest_key("a/b", dest_prefix="new/") == "new/a/b"


# The ordering rule as a property ----------------------------------------------------------------

# One key's history: writes of small bodies (equal bodies have equal ETags, as in S3) and deletes.
histories = st.lists(st.one_of(st.sampled_from([b"a", b"b", b"c"]), st.none()), min_size=1, max_size=6)
KEY = "dir/with space+plus%é"


class Source:
    """A writer of one key of the source, and the events S3 sends for it."""

    def __init__(self, world: World, history: list[bytes | None]) -> None:
        self.world = world
        self.pending = list(history)
        self.events: list[ObjectEvent] = []

    def step(self) -> None:
        body = self.pending.pop(0)
        sequencer = f"{len(self.events) + 1:016X}"
        if body is None:
            self.world.buckets[SRC].pop(KEY, None)
            self.events.append(deleted(KEY, sequencer=sequencer))
        else:
            self.world.buckets[SRC][KEY] = body
            self.events.append(created(KEY, body, sequencer=sequencer))


@settings(max_examples=300)
@given(histories, st.data())
def test_any_order_and_duplication_leaves_the_destination_as_the_source(history: list[bytes | None], data: st.DataObject) -> None:
    """Every event applied at least once after the writes, in any order, some more than once, some
    in batches: the destination ends as the source is."""
    world = World()
    world.buckets[DST][KEY] = b"stale"  # whatever an earlier sync left
    source = Source(world, history)
    while source.pending:
        source.step()
    order = data.draw(st.permutations(source.events))
    extra = data.draw(st.lists(st.sampled_from(source.events), max_size=6))
    sequence = list(order) + extra
    while sequence:
        size = data.draw(st.integers(1, len(sequence)))
        batch, sequence = sequence[:size], sequence[size:]
        apply_batch(batch, source_s3=world, dest_s3=world, source_bucket=SRC, dest_bucket=DST, allow_delete=True)
    assert world.buckets[DST].get(KEY) == world.buckets[SRC].get(KEY)


# 1,000 examples: the race the second HeadObject closes needs a few precise choices in a row
# (200 examples found it only now and then with that check removed; 1,000 found it every time).
@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(histories, st.data())
def test_writes_and_other_invocations_between_any_two_requests(history: list[bytes | None], data: st.DataObject) -> None:
    """Events applied while the key is still being written, and between any two requests of one
    event's application, the source written again, other events applied by another invocation
    (each applied whole), or the request throttled (the event fails and is delivered again); at
    the end every event not yet applied is applied. The destination ends as the source is."""
    world = World()
    source = Source(world, history)
    applied_once: set[int] = set()
    delivered: set[int] = set()

    def apply_one(index: int) -> None:
        try:
            # A delivery after the first reconciles (the caller passes ApproximateReceiveCount > 1).
            run(world, source.events[index], reconcile=index in delivered)
        except S3Failure as failure:
            assert not failure.permanent
            applied_once.discard(index)  # failed: SQS delivers it again
        else:
            applied_once.add(index)
        delivered.add(index)

    def meanwhile() -> None:
        world.hook = None  # what happens meanwhile runs without interruptions of its own
        action = data.draw(st.sampled_from(["nothing", "write", "write and apply its event", "apply an event", "throttle this request"]))
        if action.startswith("write") and source.pending:
            source.step()
            if action.endswith("its event"):
                apply_one(len(source.events) - 1)
        elif action == "apply an event" and source.events:
            apply_one(data.draw(st.integers(0, len(source.events) - 1)))
        world.hook = meanwhile
        if action == "throttle this request":
            raise client_error("SlowDown", "Please reduce your request rate.", 503)

    world.hook = meanwhile
    while source.pending:
        for _ in range(data.draw(st.integers(0, 2)) if source.events else 0):
            apply_one(data.draw(st.integers(0, len(source.events) - 1)))
        world.hook = None
        if source.pending:  # (unless the last writes happened meanwhile)
            source.step()
        world.hook = meanwhile
    while len(applied_once) < len(source.events):
        not_yet = [i for i in range(len(source.events)) if i not in applied_once]
        apply_one(data.draw(st.sampled_from(not_yet)))
    world.hook = None
    assert world.buckets[DST].get(KEY) == world.buckets[SRC].get(KEY)
