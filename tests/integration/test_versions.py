"""--all-versions and --as-of through the lister's and the copier's handlers, against in-process moto
with versioned buckets: each key's history (versions with their content and metadata, delete
markers) reproduced in order, awkward keys, a range handed on in the middle of a key, a long
history carried by a chain of items, retries and redeliveries that copy nothing twice, re-runs
that copy nothing, and a bucket as it was at a time.

moto's ListObjectVersions differs from S3's (tests/moto_versions.py): it is made to answer as S3
does for these tests."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from copy_objects import app as copy_app
from list_objects import app as list_app
from s3fanout import handling, versions
from s3fanout.copying.batch import copy_batch
from s3fanout.copying.stream import StreamSettings
from s3fanout.job import JobError
from s3fanout.messages import CopyBatch, ListTask
from s3fanout.preflight import check_versioning
from s3fanout.s3ops import SOURCE_VERSION_METADATA, key_version_entries, list_version_pages
from s3fanout.versions import as_of_text
from tests import moto_versions
from tests.integration.conftest import DEST, KEY, SOURCE, Aws, context
from tests.keys import AWKWARD_KEYS, CONTENT_HEADERS, TAGGING, TAGS

# Keys whose histories get a delete marker on top (deleted in the source), or in the middle.
DELETED = set(AWKWARD_KEYS[::5])
REVIVED = set(AWKWARD_KEYS[2::5])


@pytest.fixture
def versioned(aws: Aws) -> Iterator[Aws]:
    moto_versions.patch()
    for bucket in (SOURCE, DEST):
        aws.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    yield aws
    moto_versions.unpatch()


def put(aws: Aws, key: str, generation: int, **extra: Any) -> None:
    aws.s3.put_object(Bucket=SOURCE, Key=key, Body=f"{generation}:{key}".encode(), Metadata={"generation": str(generation)}, **extra)


def delete(aws: Aws, key: str) -> None:
    aws.s3.delete_object(Bucket=SOURCE, Key=key)


def stack(aws: Aws, bucket: str, key: str) -> list[Any]:
    """A key's history, oldest first: "deleted" for a delete marker, else (content, user metadata
    without the recorded source version id, content type)."""
    found: list[Any] = []
    for entry in key_version_entries(aws.s3, bucket, key):
        if entry.delete_marker:
            found.append("deleted")
            continue
        got = aws.s3.get_object(Bucket=bucket, Key=key, VersionId=entry.version_id)
        metadata = {name: value for name, value in got["Metadata"].items() if name != SOURCE_VERSION_METADATA}
        found.append((got["Body"].read(), metadata, got.get("ContentType")))
    return list(reversed(found))


def listed_task(aws: Aws, task: ListTask, timeout: float = 300) -> None:
    assert list_app.lambda_handler(aws.event(aws.queues.list_url, task.to_json()), context(timeout)) == {"batchItemFailures": []}


def copy_all(aws: Aws) -> int:
    """Run the copier on the copy queue until it is empty (continuations and retries included);
    the number of copy messages worked."""
    worked = 0
    while bodies := aws.drain(aws.queues.copy_url):
        for body in bodies:
            worked += 1
            assert copy_app.lambda_handler(aws.event(aws.queues.copy_url, body, sealed=False), context()) == {"batchItemFailures": []}
    return worked


def every_version(**fields: Any) -> ListTask:
    return ListTask("job-1", SOURCE, DEST, all_versions=True, **fields)


def test_every_keys_history_is_reproduced_in_order(versioned: Aws) -> None:
    aws = versioned
    for key in AWKWARD_KEYS:
        put(aws, key, 1, **CONTENT_HEADERS)
        put(aws, key, 2, Tagging=TAGGING)
        if key in DELETED or key in REVIVED:
            delete(aws, key)
        if key in REVIVED:
            put(aws, key, 3)

    listed_task(aws, every_version())
    assert copy_all(aws) > 0

    for key in AWKWARD_KEYS:
        assert stack(aws, DEST, key) == stack(aws, SOURCE, key), key
    # A key deleted in the source is deleted in the destination; the others' tags came along.
    assert current_keys(aws, DEST) == current_keys(aws, SOURCE) == set(AWKWARD_KEYS) - DELETED
    kept = next(key for key in AWKWARD_KEYS if key not in DELETED and key not in REVIVED)
    tags = aws.s3.get_object_tagging(Bucket=DEST, Key=kept)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == TAGS
    assert aws.dead_letters(aws.queues.copy_dlq_url) == []

    # A re-run copies nothing: the lister queues no copy at all.
    listed_task(aws, every_version())
    assert aws.drain(aws.queues.copy_url) == []


def test_a_re_run_copies_only_the_new_versions(versioned: Aws) -> None:
    aws = versioned
    for key in ("a", "b", "c"):
        put(aws, key, 1)
    delete(aws, "b")
    listed_task(aws, every_version())
    copy_all(aws)

    put(aws, "a", 2)
    put(aws, "b", 2)
    delete(aws, "c")
    put(aws, "d", 1)
    listed_task(aws, every_version())
    # One item per key with something new: "a" and "b" a version each, "c" a marker, "d" all.
    items = {item.key: item for body in aws.drain(aws.queues.copy_url) for item in CopyBatch.from_json(KEY.open(body)).items}
    assert {key: (item.delete_marker, item.stack.then if item.stack else None) for key, item in items.items()} == {
        "a": (False, ()),
        "b": (False, ()),
        "c": (True, ()),
        "d": (False, ()),
    }
    listed_task(aws, every_version())
    copy_all(aws)
    for key in ("a", "b", "c", "d"):
        assert stack(aws, DEST, key) == stack(aws, SOURCE, key), key


@pytest.mark.parametrize("until", [None, "k"], ids=["open-range", "inside-the-ranges-last-key"])
def test_a_range_handed_on_inside_a_key_lists_it_on_from_there(versioned: Aws, monkeypatch: pytest.MonkeyPatch, until: str | None) -> None:
    aws = versioned
    put(aws, "j", 1)
    for generation in range(11):
        put(aws, "k", generation)
        if generation % 4 == 3:
            delete(aws, "k")
    put(aws, "l", 1)
    # Pages of 4 entries, and a lister with less time than its margin: one page per invocation.
    monkeypatch.setattr("s3fanout.version_lister.list_version_pages", functools.partial(list_version_pages, page_size=4))
    tasks, resumed_inside = [every_version(until=until).to_json()], 0
    while tasks:
        body = tasks.pop()
        assert list_app.lambda_handler(aws.event(aws.queues.list_url, body), context(10)) == {"batchItemFailures": []}
        for sealed in aws.drain(aws.queues.list_url):
            task = ListTask.from_json(KEY.open(sealed))
            resumed_inside += task.after_version is not None
            tasks.append(task.to_json())
    assert resumed_inside >= 2
    copy_all(aws)
    for key in ("j", "k"):
        assert stack(aws, DEST, key) == stack(aws, SOURCE, key), key
    assert stack(aws, DEST, "l") == ([] if until else stack(aws, SOURCE, "l"))


def test_a_long_history_is_copied_by_a_chain_of_items(versioned: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws = versioned
    monkeypatch.setattr(versions, "STACK_WINDOW", 3)
    for generation in range(8):
        put(aws, "long", generation)
    delete(aws, "long")
    listed_task(aws, every_version())
    # The first item carries 3 entries; each copier lists the next 3 when its own are copied.
    assert copy_all(aws) == 3
    assert stack(aws, DEST, "long") == stack(aws, SOURCE, "long")
    listed_task(aws, every_version())
    assert aws.drain(aws.queues.copy_url) == []


class FailingOnce:
    """The destination client, whose CopyObject of one source version fails once (the copy may or
    may not have happened: ``after_copy`` fails it after S3 made the copy)."""

    def __init__(self, real: Any, version_id: str, after_copy: bool) -> None:
        self._real, self._version, self._after = real, version_id, after_copy
        self.failed = False

    def copy_object(self, **request: Any) -> Any:
        if not self.failed and request["CopySource"].get("VersionId") == self._version:
            self.failed = True
            if self._after:
                self._real.copy_object(**request)
            raise ConnectionResetError("connection reset")
        return self._real.copy_object(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def planned_batch(aws: Aws) -> CopyBatch:
    listed_task(aws, every_version())
    [body] = aws.drain(aws.queues.copy_url)
    return CopyBatch.from_json(KEY.open(body))


@pytest.mark.parametrize("after_copy", [False, True], ids=["failed-before-the-copy", "failed-after-the-copy"])
def test_a_retried_stack_resumes_after_what_was_copied(versioned: Aws, after_copy: bool) -> None:
    aws = versioned
    for generation in range(4):
        put(aws, "k", generation)
        if generation == 1:
            delete(aws, "k")
    batch = planned_batch(aws)
    [item] = batch.items
    assert item.stack is not None
    # Oldest first: v0, v1, a delete marker, v2, v3. The copy of v2 fails.
    v2 = item.stack.then[2].version_id
    failing = FailingOnce(aws.s3, v2, after_copy)
    first = copy_batch(batch, s3=failing, now=lambda: "2026-12-01T00:00:00+00:00")
    [retry] = first.retry
    assert (first.versions_copied, first.delete_markers_written) == (2, 1)
    assert retry.version_id == v2 and retry.failure is not None and retry.failure.attempts == 1
    assert retry.stack is not None and len(retry.stack.then) == 1 and retry.stack.dest_dms == 1
    again = copy_batch(CopyBatch("job-1", SOURCE, DEST, (retry,)), s3=aws.s3)
    assert not again.retry and not again.dead
    # The retry asks the destination first: a copy that happened although it failed is not made again.
    assert again.versions_copied == (1 if after_copy else 2)
    assert stack(aws, DEST, "k") == stack(aws, SOURCE, "k")


def test_a_redelivered_stack_copies_nothing_twice(versioned: Aws) -> None:
    aws = versioned
    for generation in range(3):
        put(aws, "k", generation)
    delete(aws, "k")
    batch = planned_batch(aws)
    assert copy_batch(batch, s3=aws.s3).versions_copied == 3
    again = copy_batch(batch, s3=aws.s3, redelivered=True)
    assert (again.versions_copied, again.delete_markers_written) == (0, 0)
    assert stack(aws, DEST, "k") == stack(aws, SOURCE, "k")


def test_large_versions_are_copied_in_parts_in_order(versioned: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws = versioned
    monkeypatch.setenv("MULTIPART_THRESHOLD_BYTES", str(5 * 1024**2))
    monkeypatch.setenv("MULTIPART_PART_SIZE_BYTES", str(5 * 1024**2))
    for generation in range(2):
        aws.s3.put_object(Bucket=SOURCE, Key="big", Body=bytes([65 + generation]) * (6 * 1024**2), Metadata={"generation": str(generation)}, ContentType="text/x")
    put(aws, "big", 9)
    listed_task(aws, every_version())
    copy_all(aws)
    assert stack(aws, DEST, "big") == stack(aws, SOURCE, "big")
    heads = [aws.s3.head_object(Bucket=DEST, Key="big", VersionId=e.version_id) for e in key_version_entries(aws.s3, DEST, "big")]
    assert [head["Metadata"]["generation"] for head in reversed(heads)] == ["0", "1", "9"]
    assert all(SOURCE_VERSION_METADATA in head["Metadata"] for head in heads)


def test_a_streamed_stack_keeps_order_and_records_its_versions(versioned: Aws) -> None:
    aws = versioned
    put(aws, "s", 1, ContentType="text/plain")
    delete(aws, "s")
    put(aws, "s", 2)
    batch = planned_batch(aws)
    outcome = copy_batch(batch, s3=aws.s3, source_s3=aws.s3, stream=StreamSettings())
    assert (outcome.versions_copied, outcome.delete_markers_written, outcome.streamed) == (2, 1, True)
    assert stack(aws, DEST, "s") == stack(aws, SOURCE, "s")
    assert copy_batch(batch, s3=aws.s3, source_s3=aws.s3, stream=StreamSettings(), redelivered=True).versions_copied == 0


def test_the_pre_flight_wants_versioning_where_it_is_needed(versioned: Aws) -> None:
    aws = versioned
    aws.s3.create_bucket(Bucket="plain-dest")
    with pytest.raises(JobError, match="'plain-dest' is not versioned .versioning not enabled.: --all-versions"):
        check_versioning(aws.s3, "plain-dest", "destination")
    with pytest.raises(JobError, match="never had versioning enabled: --as-of"):
        check_versioning(aws.s3, "plain-dest", "source")
    aws.s3.put_bucket_versioning(Bucket="plain-dest", VersioningConfiguration={"Status": "Suspended"})
    with pytest.raises(JobError, match="versioning suspended"):
        check_versioning(aws.s3, "plain-dest", "destination")
    # A source whose versioning is suspended has the versions it kept: --as-of goes ahead.
    check_versioning(aws.s3, "plain-dest", "source")
    check_versioning(aws.s3, DEST, "destination")


# ---------------------------------------------------------------------------------- as of --


def test_as_of_copies_each_key_as_it_was_then(versioned: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws = versioned
    aws.s3.create_bucket(Bucket="plain")
    keys = AWKWARD_KEYS[:12]
    for key in keys:
        put(aws, key, 1, **CONTENT_HEADERS)
    delete(aws, keys[0])  # deleted before the time
    time.sleep(1.1)
    when = datetime.now(UTC)
    time.sleep(1.1)
    for key in keys[1:6]:
        put(aws, key, 2)  # overwritten after the time
    for key in keys[6:8]:
        delete(aws, key)  # deleted after the time
    put(aws, "created-after", 2)

    task = ListTask("job-1", SOURCE, "plain", as_of=as_of_text(when))
    # The handlers serve that destination.
    monkeypatch.setenv("DEST_BUCKET", "plain")
    handling.configuration.cache_clear()
    listed_task(aws, task)
    copy_all(aws)

    assert current_keys(aws, "plain") == set(keys[1:])
    for key in keys[1:]:
        got = aws.s3.get_object(Bucket="plain", Key=key)
        assert got["Body"].read() == f"1:{key}".encode() and got["Metadata"] == {"generation": "1"}, key
        assert got["ContentType"] == CONTENT_HEADERS["ContentType"]
    # A second run over the same time copies nothing: the copies are identical.
    listed_task(aws, task)
    assert aws.drain(aws.queues.copy_url) == []


def current_keys(aws: Aws, bucket: str) -> set[str]:
    return {o["Key"] for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page.get("Contents", [])}


def test_a_copier_short_of_time_hands_the_rest_of_the_history_on(versioned: Aws) -> None:
    aws = versioned
    for generation in range(3):
        put(aws, "k", generation)
    delete(aws, "k")
    batch = planned_batch(aws)
    # Less time than the margin: one entry, then the rest handed on, in order, as a new item.
    outcome = copy_batch(batch, s3=aws.s3, remaining_ms=lambda: 1000)
    [rest] = outcome.handed_on
    assert (outcome.versions_copied, rest.stack is not None and len(rest.stack.then)) == (1, 2)
    while outcome.handed_on:
        outcome = copy_batch(CopyBatch("job-1", SOURCE, DEST, outcome.handed_on), s3=aws.s3, remaining_ms=lambda: 1000)
    assert stack(aws, DEST, "k") == stack(aws, SOURCE, "k")


def test_a_range_ending_on_a_page_boundary_plans_its_last_key(versioned: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws = versioned
    for key in ("a", "b", "c"):
        put(aws, key, 1)
        put(aws, key, 2)
    # Range (None, "b"]: a page of 4 holds a's and b's entries; the next starts beyond the range.
    monkeypatch.setattr("s3fanout.version_lister.list_version_pages", functools.partial(list_version_pages, page_size=4))
    listed_task(aws, every_version(until="b"))
    copy_all(aws)
    assert [stack(aws, DEST, key) for key in ("a", "b", "c")] == [stack(aws, SOURCE, "a"), stack(aws, SOURCE, "b"), []]


def test_as_of_handed_on_inside_a_key_finds_its_version(versioned: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws = versioned
    put(aws, "j", 1)
    put(aws, "k", 1)
    put(aws, "k", 2)
    time.sleep(1.1)
    when = datetime.now(UTC)
    time.sleep(1.1)
    for generation in range(3, 11):
        put(aws, "k", generation)
    put(aws, "l", 1)
    monkeypatch.setattr("s3fanout.version_lister.list_version_pages", functools.partial(list_version_pages, page_size=3))
    tasks, resumed_inside = [ListTask("job-1", SOURCE, DEST, as_of=as_of_text(when)).to_json()], 0
    while tasks:
        body = tasks.pop()
        assert list_app.lambda_handler(aws.event(aws.queues.list_url, body), context(10)) == {"batchItemFailures": []}
        for sealed in aws.drain(aws.queues.list_url):
            task = ListTask.from_json(KEY.open(sealed))
            resumed_inside += task.after_version is not None
            tasks.append(task.to_json())
    assert resumed_inside >= 2
    copy_all(aws)
    assert current_keys(aws, DEST) == {"j", "k"}
    assert aws.s3.get_object(Bucket=DEST, Key="k")["Body"].read() == b"2:k"
