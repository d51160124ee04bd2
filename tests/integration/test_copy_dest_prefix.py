"""Copy batches that write their keys under another destination prefix (--dest-prefix, a batch's
KeyRewrite), through the copier's handler and its core against in-process moto.

Every request is recorded with the bucket and key it names: the source is only ever asked about
the source's keys and the destination only about the rewritten ones, on each copy path (CopyObject,
a multipart copy in this invocation or in part tasks, a streamed copy), and whatever the copier
sends on (retries, part tasks, dead letters) keeps the rewrite and names the source's key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from copy_objects import app
from s3fanout import clients
from s3fanout.copying.batch import INVALID_DEST_KEY, UNSUPPORTED, VERSIONS_NOT_REWRITTEN, copy_batch
from s3fanout.copying.limit import forget_environment_limits
from s3fanout.copying.multipart import MultipartSettings
from s3fanout.copying.stream import StreamSettings
from s3fanout.messages import CopyBatch, CopyItem, KeyRewrite, VersionStack
from tests.integration.conftest import DEST, SOURCE, Aws, context
from tests.integration.test_copy_handler import inject_copy_failures
from tests.integration.test_multipart_copy import UnknownUploadIsNoSuchUpload, uploads_left
from tests.keys import AWKWARD_KEYS, HEADERS, TAGGING, TAGS, ZERO_BYTE_KEYS

MiB = 1024**2
A_TO_B = KeyRewrite("a/", "b/")
# Keys under the source prefix "a/" that S3 allows and tools get wrong (spaces, "+", "%",
# non-ASCII, "#", "?", control characters, slashes), short enough to take a longer prefix; and the
# prefix itself, a zero-byte "folder".
AWKWARD = ["a/", *(f"a/{key}" for key in AWKWARD_KEYS if len(key.encode()) <= 1000)]
SOURCE_KEYS = {"aws_access_key_id": "AKIASOURCEKEYS000002", "aws_secret_access_key": "secret-of-the-source"}


# ------------------------------------------------------------------------------- helpers --


@dataclass
class Requests:
    """The keys every S3 request named, by bucket: CopySource's key counts as the source's."""

    keys: dict[str, set[str]] = field(default_factory=lambda: {SOURCE: set(), DEST: set()})
    operations: set[tuple[str, str]] = field(default_factory=set)

    def record(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if name == "upload_fileobj":
            bucket, key = kwargs.get("Bucket", args[1] if len(args) > 1 else None), kwargs.get("Key", args[2] if len(args) > 2 else None)
        else:
            bucket, key = kwargs.get("Bucket"), kwargs.get("Key")
        if bucket is not None and key is not None:
            self.keys.setdefault(bucket, set()).add(key)
            self.operations.add((name, bucket))
        source = kwargs.get("CopySource")
        if isinstance(source, dict):
            self.keys.setdefault(source["Bucket"], set()).add(source["Key"])
            self.operations.add((f"{name} CopySource", source["Bucket"]))


class Recording:
    """An S3 client that records the bucket and key of every request it makes."""

    def __init__(self, real: Any, requests: Requests) -> None:
        self._real = real
        self._requests = requests

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)
        if name.startswith("_") or name in ("meta", "exceptions") or not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            self._requests.record(name, args, kwargs)
            return method(*args, **kwargs)

        return call


@pytest.fixture
def requests(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Requests:
    """Every S3 client the handler makes records its requests here."""
    recorded = Requests()
    real = clients.s3
    monkeypatch.setattr(
        clients,
        "s3",
        lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: Recording(real(region, role_arn, endpoint_url, profile, credentials_secret_arn), recorded),
    )
    return recorded


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Objects over 5 MiB are copied in parts of 5 MiB (S3's minimum)."""
    monkeypatch.setenv("MULTIPART_THRESHOLD_BYTES", str(5 * MiB + 1))
    monkeypatch.setenv("MULTIPART_PART_SIZE_BYTES", str(5 * MiB))
    monkeypatch.setenv("STREAM_CHUNK_BYTES", str(5 * MiB))
    forget_environment_limits()
    yield
    forget_environment_limits()


@pytest.fixture
def streaming(aws: Aws, small_parts: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The source is read with another key pair (SourceCredentialsSecretArn): no server-side copy
    reaches both sides, so the copier streams every object."""
    arn = clients.secretsmanager().create_secret(Name="source-keys", SecretString=json.dumps(SOURCE_KEYS))["ARN"]
    monkeypatch.setenv("SOURCE_CREDENTIALS_SECRET_ARN", arn)
    clients.reset()
    yield
    clients.reset()


def put(aws: Aws, key: str, body: bytes, **extra: Any) -> CopyItem:
    etag = aws.s3.put_object(Bucket=SOURCE, Key=key, Body=body, **extra)["ETag"]
    return CopyItem(key, len(body), etag)


def body_of(key: str) -> bytes:
    return b"" if key.endswith("/") or key.split("/")[-1] in ZERO_BYTE_KEYS else key.encode()


def batch(*items: CopyItem, rekey: KeyRewrite | None = A_TO_B) -> CopyBatch:
    return CopyBatch("job-dp", SOURCE, DEST, tuple(items), rekey=rekey)


def dest_keys(aws: Aws) -> set[str]:
    paginator = aws.s3.get_paginator("list_objects_v2")
    return {entry["Key"] for page in paginator.paginate(Bucket=DEST) for entry in page.get("Contents", [])}


def read(aws: Aws, key: str) -> bytes:
    return bytes(aws.s3.get_object(Bucket=DEST, Key=key)["Body"].read())


def headers_and_tags(aws: Aws, key: str) -> tuple[dict[str, Any], dict[str, str]]:
    head = aws.s3.head_object(Bucket=DEST, Key=key)
    tags = aws.s3.get_object_tagging(Bucket=DEST, Key=key)["TagSet"]
    return {name: head.get(name) for name in HEADERS}, {t["Key"]: t["Value"] for t in tags}


def handle(aws: Aws, *batches: CopyBatch) -> None:
    event = aws.event(aws.queues.copy_url, *(b.to_json() for b in batches))
    assert app.lambda_handler(event, context()) == {"batchItemFailures": []}


def assert_sides(requests: Requests, source_keys: set[str], written: set[str]) -> None:
    """The source was asked only about its keys, the destination only about the written ones."""
    assert requests.keys[SOURCE] <= source_keys, requests.keys[SOURCE] - source_keys
    assert requests.keys[DEST] <= written, requests.keys[DEST] - written


# -------------------------------------------------------------------------- CopyObject --


@pytest.mark.parametrize(
    "rekey",
    [A_TO_B, KeyRewrite("a/", "dést 1+1=2 %41 #?/"), KeyRewrite("a/", ""), KeyRewrite("", "b/")],
    ids=["a-to-b", "awkward-prefix", "to-the-root", "from-the-root"],
)
def test_each_key_is_written_under_the_destination_prefix(aws: Aws, requests: Requests, rekey: KeyRewrite) -> None:
    # The prefix itself would be an empty key at the root: that case has a test of its own.
    keys = [key for key in AWKWARD if rekey.dest_key(key)]
    items = [put(aws, key, body_of(key), Tagging=TAGGING, **HEADERS) for key in keys]

    handle(aws, batch(*items, rekey=rekey))

    written = {rekey.dest_key(key) for key in keys}
    assert dest_keys(aws) == written
    for key in keys:
        assert read(aws, rekey.dest_key(key)) == body_of(key), key
        assert headers_and_tags(aws, rekey.dest_key(key)) == (HEADERS, TAGS), key
    assert_sides(requests, set(keys), written)
    assert ("copy_object", DEST) in requests.operations
    assert aws.drain(aws.queues.copy_url) == [] and aws.drain(aws.queues.copy_dlq_url) == []


def test_a_to_b_leaves_nothing_under_a(aws: Aws) -> None:
    item = put(aws, "a/x", b"payload")

    handle(aws, batch(item))

    assert dest_keys(aws) == {"b/x"}
    assert read(aws, "b/x") == b"payload"


def test_without_a_rewrite_every_key_is_written_as_it_is(aws: Aws, requests: Requests) -> None:
    items = [put(aws, key, body_of(key)) for key in AWKWARD[:12]]
    unrewritten = batch(*items, rekey=None)
    assert "rekey" not in json.loads(unrewritten.to_json())

    handle(aws, unrewritten)

    assert dest_keys(aws) == set(AWKWARD[:12])
    assert requests.keys[DEST] == requests.keys[SOURCE] == set(AWKWARD[:12])


def test_a_listed_version_is_written_under_the_destination_prefix(aws: Aws) -> None:
    # --as-of: an item names the version that was current then.
    aws.s3.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
    first = aws.s3.put_object(Bucket=SOURCE, Key="a/x", Body=b"then")
    aws.s3.put_object(Bucket=SOURCE, Key="a/x", Body=b"now")

    outcome = copy_batch(batch(CopyItem("a/x", 4, first["ETag"], version_id=first["VersionId"])), s3=aws.s3)

    assert [item.key for item in outcome.copied] == ["a/x"]
    assert dest_keys(aws) == {"b/x"} and read(aws, "b/x") == b"then"


# --------------------------------------------------------------------- multipart copies --


def test_a_large_object_is_copied_in_parts_under_the_rewritten_key(aws: Aws, small_parts: None, requests: Requests) -> None:
    data = os.urandom(12 * MiB)
    large = put(aws, "a/big é+%#?.bin", data, Tagging=TAGGING, **HEADERS)
    little = put(aws, "a/little", b"x" * 100)

    handle(aws, batch(large, little))

    assert dest_keys(aws) == {"b/big é+%#?.bin", "b/little"}
    assert read(aws, "b/big é+%#?.bin") == data
    assert aws.s3.head_object(Bucket=DEST, Key="b/big é+%#?.bin")["ETag"].strip('"').endswith("-3"), "copied in three parts"
    assert headers_and_tags(aws, "b/big é+%#?.bin") == (HEADERS, TAGS)
    assert uploads_left(aws) == []
    assert_sides(requests, {large.key, little.key}, {"b/big é+%#?.bin", "b/little"})
    assert {"create_multipart_upload", "upload_part_copy", "complete_multipart_upload"} <= {name for name, bucket in requests.operations if bucket == DEST}


def test_part_tasks_keep_the_rewrite_and_complete_under_the_rewritten_key(aws: Aws, small_parts: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # One part per task: the estimate of a part (5 MiB at 20 MiB/s) exceeds a task's budget.
    monkeypatch.setattr("s3fanout.copying.multipart.PART_TASK_SECONDS", 0.01)
    monkeypatch.setenv("COPY_CONCURRENCY", "1")
    data = os.urandom(12 * MiB)
    large = put(aws, "a/huge/one", data)

    handle(aws, batch(large))

    tasks = [CopyBatch.from_json(body) for body in aws.drain(aws.queues.copy_url)]
    assert len(tasks) == 3
    assert {task.rekey for task in tasks} == {A_TO_B}
    assert {task.items[0].key for task in tasks} == {"a/huge/one"}
    [upload] = uploads_left(aws)
    assert upload["Key"] == "b/huge/one"

    for task in sorted(tasks, key=lambda t: -t.items[0].parts.first):  # type: ignore[union-attr]
        assert "Contents" not in aws.s3.list_objects_v2(Bucket=DEST)
        handle(aws, task)

    assert dest_keys(aws) == {"b/huge/one"} and read(aws, "b/huge/one") == data
    assert uploads_left(aws) == []
    assert aws.drain(aws.queues.copy_url) == [] and aws.drain(aws.queues.copy_dlq_url) == []
    # A task delivered once more finds its upload gone and the object in place under the
    # rewritten key: nothing to do, and nothing dropped.
    real = clients.s3()
    monkeypatch.setattr(clients, "s3", lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: UnknownUploadIsNoSuchUpload(real))
    counts = app.copy_keys(tasks[0], None)
    assert (counts.part_tasks_dropped, counts.keys_failed, counts.keys_retried) == (0, 0, 0)


# ---------------------------------------------------------------------- streamed copies --


def test_streamed_objects_land_under_the_rewritten_key(aws: Aws, streaming: None, requests: Requests) -> None:
    data = os.urandom(12 * MiB)
    large = put(aws, "a/big/é 日本+%.bin", data, Tagging=TAGGING, **HEADERS)
    little = put(aws, "a/little #?", b"little", Tagging=TAGGING, **HEADERS)
    empty = put(aws, "a/", b"")

    handle(aws, batch(large, little, empty))

    written = {"b/big/é 日本+%.bin", "b/little #?", "b/"}
    assert dest_keys(aws) == written
    assert read(aws, "b/big/é 日本+%.bin") == data and read(aws, "b/little #?") == b"little" and read(aws, "b/") == b""
    assert aws.s3.head_object(Bucket=DEST, Key="b/big/é 日本+%.bin")["ETag"].strip('"').endswith("-3"), "uploaded in three parts"
    assert headers_and_tags(aws, "b/big/é 日本+%.bin") == (HEADERS, TAGS)
    assert headers_and_tags(aws, "b/little #?") == (HEADERS, TAGS)
    assert uploads_left(aws) == []
    assert_sides(requests, {large.key, little.key, empty.key}, written)
    destination_calls = {name for name, bucket in requests.operations if bucket == DEST}
    assert {"upload_fileobj", "create_multipart_upload", "upload_part", "complete_multipart_upload"} <= destination_calls
    assert not {"copy_object", "upload_part_copy"} & destination_calls


def test_a_streamed_object_uploaded_by_s3transfer_in_parts_lands_under_the_rewritten_key(aws: Aws) -> None:
    # Above the stream threshold and below the multipart one: s3transfer's own multipart upload.
    data = os.urandom(11 * MiB)
    item = put(aws, "a/s3transfer parts+%.bin", data)
    settings = StreamSettings(threshold_bytes=5 * MiB, chunk_bytes=5 * MiB, concurrency=2)

    outcome = copy_batch(batch(item), s3=aws.s3, source_s3=aws.s3, stream=settings, multipart=MultipartSettings(threshold_bytes=64 * MiB))

    assert [copied.key for copied in outcome.copied] == [item.key] and outcome.streamed
    assert dest_keys(aws) == {"b/s3transfer parts+%.bin"} and read(aws, "b/s3transfer parts+%.bin") == data


def test_streamed_part_tasks_keep_the_rewrite(aws: Aws, streaming: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("s3fanout.copying.multipart.PART_TASK_SECONDS", 0.01)
    monkeypatch.setenv("COPY_CONCURRENCY", "1")
    data = os.urandom(12 * MiB)
    large = put(aws, "a/huge/streamed", data)

    handle(aws, batch(large))

    tasks = [CopyBatch.from_json(body) for body in aws.drain(aws.queues.copy_url)]
    assert len(tasks) == 3 and {task.rekey for task in tasks} == {A_TO_B}
    for task in tasks:
        handle(aws, task)

    assert dest_keys(aws) == {"b/huge/streamed"} and read(aws, "b/huge/streamed") == data
    assert uploads_left(aws) == []


# ------------------------------------------------------------ retries and dead letters --


def test_a_retried_key_keeps_the_rewrite(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [put(aws, f"a/key {i}+%", b"data") for i in range(3)]
    # CopyObject fails for the rewritten key: the request names the destination's key.
    inject_copy_failures(monkeypatch, {"b/key 1+%": "SlowDown"})

    handle(aws, batch(*items))

    assert dest_keys(aws) == {"b/key 0+%", "b/key 2+%"}
    [body] = aws.drain(aws.queues.copy_url)
    retry = CopyBatch.from_json(body)
    assert retry.rekey == A_TO_B and retry.hops == 1
    [item] = retry.items
    assert item.key == "a/key 1+%" and item.failure is not None and item.failure.code == "SlowDown"

    monkeypatch.setattr(clients, "s3", lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: aws.s3)
    handle(aws, retry)

    assert dest_keys(aws) == {"b/key 0+%", "b/key 1+%", "b/key 2+%"}
    assert aws.drain(aws.queues.copy_url) == [] and aws.drain(aws.queues.copy_dlq_url) == []


def test_a_dead_lettered_key_keeps_the_rewrite_and_names_its_source_key(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [put(aws, "a/denied #1", b"data"), put(aws, "a/fine", b"data")]
    inject_copy_failures(monkeypatch, {"b/denied #1": "AccessDenied"})

    handle(aws, batch(*items))

    assert dest_keys(aws) == {"b/fine"}
    assert aws.drain(aws.queues.copy_url) == []
    [body] = aws.drain(aws.queues.copy_dlq_url)
    dead = CopyBatch.from_json(body)
    assert dead.rekey == A_TO_B
    [item] = dead.items
    assert item.key == "a/denied #1" and item.failure is not None and item.failure.code == "AccessDenied"


# ----------------------------------------------------------- what a rewrite refuses --


def test_version_histories_are_not_rewritten(aws: Aws) -> None:
    plain = put(aws, "a/plain", b"data")
    stack = CopyItem("a/versioned", 4, version_id="v1", stack=VersionStack())
    marker = CopyItem("a/deleted", 0, version_id="m1", delete_marker=True, stack=VersionStack())

    handle(aws, batch(plain, stack, marker))

    assert dest_keys(aws) == {"b/plain"}
    assert aws.drain(aws.queues.copy_url) == []
    letters = {letter.key: letter for letter in aws.dead_letters(aws.queues.copy_dlq_url)}
    assert set(letters) == {"a/versioned", "a/deleted"}
    for letter in letters.values():
        assert (letter.code, letter.message, letter.attempts) == (UNSUPPORTED, VERSIONS_NOT_REWRITTEN, 1)


def test_a_delete_marker_item_alone_is_not_rewritten(aws: Aws) -> None:
    marker = CopyItem("a/deleted", 0, version_id="m1", delete_marker=True)

    outcome = copy_batch(batch(marker), s3=aws.s3)

    [dead] = outcome.dead
    assert dead.failure is not None and (dead.failure.code, dead.failure.message) == (UNSUPPORTED, VERSIONS_NOT_REWRITTEN)
    assert dest_keys(aws) == set()


def test_keys_the_rewrite_cannot_map_fail_for_good(aws: Aws) -> None:
    outside = put(aws, "elsewhere/x", b"data")
    prefix = put(aws, "a/", b"")
    inside = put(aws, "a/x", b"data")

    outcome = copy_batch(batch(outside, prefix, inside, rekey=KeyRewrite("a/", "")), s3=aws.s3)

    assert [item.key for item in outcome.copied] == ["a/x"] and not outcome.retry
    failures = {item.key: item.failure for item in outcome.dead}
    assert set(failures) == {"elsewhere/x", "a/"}
    assert all(failure is not None and failure.code == INVALID_DEST_KEY for failure in failures.values())
    assert "not under the rewritten prefix" in str(failures["elsewhere/x"])
    assert "empty key" in str(failures["a/"])
    assert dest_keys(aws) == {"x"}
