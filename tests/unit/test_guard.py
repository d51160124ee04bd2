"""What the functions accept: seals, buckets, prefixes, delete permission, the hop bound, owners."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from s3fanout import clients
from s3fanout.guard import HopLimitExceeded, Scope, admit
from s3fanout.manifest import ManifestPart, PartFormat
from s3fanout.messages import CopyBatch, CopyItem, InvalidMessage, ListTask
from s3fanout.signing import BadSeal, MessageKey

KEY = MessageKey(b"k" * 64)
SCOPE = Scope("src", "dst", prefix="data/", allow_delete=False, max_hops=10)


def test_a_sealed_body_opens_to_exactly_what_was_sealed() -> None:
    body = ListTask("job", "src", "dst", "data/", "a\x01é", None).to_json()
    sealed = KEY.seal(body)
    assert KEY.open(sealed) == body
    # A sealed body still reads as the message: the seal is one more member, last.
    assert ListTask.from_json(sealed) == ListTask.from_json(body)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda sealed: sealed.replace('"dst"', '"evil"'),
        lambda sealed: sealed.replace('"mode":"copy"', '"mode":"delete"'),
        lambda sealed: sealed[:-3] + ('0"}' if sealed[-3] != "0" else '1"}'),
        lambda sealed: MessageKey(b"another key").seal(ListTask("job", "src", "dst", "data/").to_json()),
        lambda sealed: ListTask("job", "src", "dst", "data/").to_json(),
        lambda sealed: sealed + " ",
    ],
    ids=["other-bucket", "other-mode", "other-signature", "other-key", "unsigned", "trailing-bytes"],
)
def test_anything_but_the_sealed_body_is_refused(tamper: Any) -> None:
    sealed = KEY.seal(ListTask("job", "src", "dst", "data/").to_json())
    with pytest.raises(BadSeal):
        KEY.open(tamper(sealed))


def sealed(message: ListTask | CopyBatch) -> str:
    return KEY.seal(message.to_json())


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (ListTask("job", "secret-bucket", "dst", "data/"), "source bucket 'secret-bucket'"),
        (ListTask("job", "src", "attacker", "data/"), "destination bucket 'attacker'"),
        (ListTask("job", "src", "dst", ""), "outside the allowed prefix"),
        (ListTask("job", "src", "dst", "dat"), "outside the allowed prefix"),
        (ListTask("job", "src", "dst", "data/", mode="delete"), "may not delete"),
        (CopyBatch("job", "src", "attacker", (CopyItem("data/a", 1),)), "destination bucket 'attacker'"),
        (CopyBatch("job", "src", "dst", (CopyItem("data/a", 1), CopyItem("private/b", 1))), "key 'private/b' is outside"),
    ],
)
def test_messages_outside_the_scope_are_refused(message: ListTask | CopyBatch, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        admit(sealed(message), KEY, SCOPE, type(message))


def test_messages_within_the_scope_are_admitted() -> None:
    task = ListTask("job", "src", "dst", "data/2026/", "a", "b", hops=10)
    assert admit(sealed(task), KEY, SCOPE, ListTask) == task
    batch = CopyBatch("job", "src", "dst", (CopyItem("data/x", 1),))
    assert admit(sealed(batch), KEY, SCOPE, CopyBatch) == batch


def test_a_wildcard_stack_takes_any_bucket_but_never_one_bucket_for_both() -> None:
    anywhere = Scope("*", "*")
    assert admit(sealed(ListTask("job", "a", "b")), KEY, anywhere, ListTask).source_bucket == "a"
    with pytest.raises(InvalidMessage, match="same bucket"):
        admit(sealed(ListTask("job", "a", "a")), KEY, anywhere, ListTask)


def test_a_delete_pass_is_admitted_only_where_deleting_is_allowed() -> None:
    task = ListTask("job", "src", "dst", "data/", mode="delete")
    deleting = Scope("src", "dst", prefix="data/", allow_delete=True)
    assert admit(sealed(task), KEY, deleting, ListTask) == task


def test_a_message_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(InvalidMessage, match="expected a copy batch"):
        admit(sealed(ListTask("job", "src", "dst", "data/")), KEY, SCOPE, CopyBatch)


def test_past_the_hop_bound_a_message_is_stopped() -> None:
    for message in (ListTask("job", "src", "dst", "data/", hops=11), CopyBatch("job", "src", "dst", (CopyItem("data/a", 1),), hops=11)):
        with pytest.raises(HopLimitExceeded, match="re-queued 11 times"):
            admit(sealed(message), KEY, SCOPE, type(message))


def test_scope_round_trips_through_the_environment() -> None:
    scope = Scope("src", "dst", "p/", allow_delete=True, max_hops=50, source_owner="111111111111", dest_owner=None)
    assert Scope.from_env(scope.to_env()) == scope
    with pytest.raises(ValueError, match="SOURCE_BUCKET"):
        Scope.from_env({"DEST_BUCKET": "dst"})


def test_requests_carry_the_expected_bucket_owners() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in ("src", "dst", "other"):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket="src", Key="k", Body=b"x")
        s3.put_object(Bucket="other", Key="k", Body=b"x")
        sent: list[tuple[str, str | None, str | None]] = []

        def record(request: Any, operation_name: str, **_: Any) -> None:
            headers = request.headers
            sent.append((operation_name, headers.get("x-amz-expected-bucket-owner"), headers.get("x-amz-source-expected-bucket-owner")))

        s3.meta.events.register("request-created.s3", record)
        clients.expect_bucket_owners(s3, Scope("src", "dst", source_owner="123456789012", dest_owner="123456789012").owners("src", "dst"))
        s3.list_objects_v2(Bucket="src")
        s3.copy_object(Bucket="dst", Key="k", CopySource={"Bucket": "src", "Key": "k"})
        s3.head_object(Bucket="other", Key="k")
        # Added to, not replaced: another job's buckets (a copier's other record, a lister's other
        # destination) leave the first job's checks in place.
        clients.expect_bucket_owners(s3, {"other": "210987654321"})
        clients.expect_bucket_owners(s3, {})
        s3.list_objects_v2(Bucket="src")
        s3.list_objects_v2(Bucket="other")
        # No bucket has two owners: the job naming it so fails, and nothing changes.
        with pytest.raises(clients.OwnerConflict, match="dst"):
            clients.expect_bucket_owners(s3, {"src": "123456789012", "dst": "999999999999"})
        s3.list_objects_v2(Bucket="dst")

    assert [(name, _text(owner), _text(source)) for name, owner, source in sent] == [
        ("ListObjectsV2", "123456789012", None),
        ("CopyObject", "123456789012", "123456789012"),
        ("HeadObject", None, None),
        ("ListObjectsV2", "123456789012", None),
        ("ListObjectsV2", "210987654321", None),
        ("ListObjectsV2", "123456789012", None),
    ]


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


MANIFEST_SCOPE = Scope("src", "dst", manifests="s3://inventories/daily/src/")


def manifest_task(uri: str, mode: str = "copy") -> ListTask:
    return ListTask("job", "src", "dst", mode=mode, manifest=ManifestPart(uri, PartFormat.CSV_GZ))


@pytest.mark.parametrize(
    ("scope", "task", "reason"),
    [
        (Scope("src", "dst"), manifest_task("s3://inventories/daily/src/data/a.csv.gz"), "reads no manifests"),
        (MANIFEST_SCOPE, manifest_task("s3://inventories/daily/other/data/a.csv.gz"), "outside the manifests"),
        (MANIFEST_SCOPE, manifest_task("s3://secrets/daily/src/a.csv.gz"), "outside the manifests"),
        (Scope("src", "dst", allow_delete=True, manifests="s3://inventories/"), manifest_task("s3://inventories/a.csv", mode="delete"), "delete pass"),
        (Scope("src", "dst", manifests="/home/me/manifests/"), manifest_task("/home/me/manifests/../.ssh/id_rsa"), "outside the manifests"),
    ],
)
def test_manifest_parts_outside_the_scope_are_refused(scope: Scope, task: ListTask, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        scope.check(task)


def test_manifest_parts_within_the_scope_are_admitted() -> None:
    MANIFEST_SCOPE.check(manifest_task("s3://inventories/daily/src/data/a.csv.gz"))
    Scope("src", "dst", manifests="/home/me/manifests/").check(manifest_task("/home/me/manifests/keys.csv"))
    assert Scope.from_env(MANIFEST_SCOPE.to_env()) == MANIFEST_SCOPE
