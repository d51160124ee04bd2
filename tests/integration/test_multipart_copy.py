"""Multipart copy through the copier's handler against in-process moto.

The threshold is lowered through MULTIPART_THRESHOLD_BYTES so that a 12 MiB object is copied in
three parts of 5 MiB (S3's minimum part size), never gigabytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from copy_objects import app
from list_objects import app as list_app
from s3fanout import clients
from s3fanout.copying.limit import forget_environment_limits
from s3fanout.messages import CopyBatch, CopyItem, ListTask
from tests.integration.conftest import DEST, SOURCE, Aws, context

MiB = 1024**2
HEADERS = {
    "Metadata": {"owner": "team-a", "note": "plain ascii"},
    "ContentType": "text/csv",
    "CacheControl": "max-age=60",
    "ContentDisposition": "inline",
    "ContentEncoding": "identity",
    "ContentLanguage": "fr",
}
TAGGING = "a=1&b=two%20words"


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MULTIPART_THRESHOLD_BYTES", str(5 * MiB + 1))
    monkeypatch.setenv("MULTIPART_PART_SIZE_BYTES", str(5 * MiB))
    # The handler keeps one concurrency limit per COPY_CONCURRENCY value for the process.
    forget_environment_limits()
    yield
    forget_environment_limits()


def put(aws: Aws, key: str, size: int, **extra: Any) -> tuple[CopyItem, bytes]:
    body = os.urandom(size)
    etag = aws.s3.put_object(Bucket=SOURCE, Key=key, Body=body, **extra)["ETag"]
    return CopyItem(key, size, etag), body


def batch(*items: CopyItem) -> str:
    return CopyBatch("job-mp", SOURCE, DEST, tuple(items)).to_json()


def uploads_left(aws: Aws) -> list[dict[str, Any]]:
    return aws.s3.list_multipart_uploads(Bucket=DEST).get("Uploads", [])


def assert_copied(aws: Aws, key: str, body: bytes) -> None:
    copy = aws.s3.get_object(Bucket=DEST, Key=key)
    assert copy["Body"].read() == body
    assert copy["ETag"].strip('"').endswith("-3"), "copied in three parts"
    head = aws.s3.head_object(Bucket=DEST, Key=key)
    assert {name: head.get(name) for name in HEADERS} == HEADERS
    tags = aws.s3.get_object_tagging(Bucket=DEST, Key=key)["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "two words")]


def test_a_large_object_is_copied_in_parts_with_its_metadata_and_tags(aws: Aws) -> None:
    large, body = put(aws, "big/é 日本+%.bin", 12 * MiB, Tagging=TAGGING, **HEADERS)
    little, _ = put(aws, "little", 100)

    assert app.lambda_handler(aws.event(aws.queues.copy_url, batch(large, little)), context()) == {"batchItemFailures": []}

    assert_copied(aws, large.key, body)
    assert aws.s3.head_object(Bucket=DEST, Key="little")["ContentLength"] == 100
    assert uploads_left(aws) == []
    assert aws.drain(aws.queues.copy_url) == [] and aws.drain(aws.queues.copy_dlq_url) == []


# moto (5.x) keeps an upload's ChecksumAlgorithm and computes the object's checksum itself at
# CompleteMultipartUpload, but returns no part checksum from UploadPartCopy or ListParts, ignores
# the ones CompleteMultipartUpload is given, and reports no ChecksumType from HeadObject. Here moto
# shows that the algorithm arrives; tests/unit/test_multipart_checksums.py plays S3's part checks.
@pytest.mark.parametrize("algorithm", ["SHA256", "CRC32C", None])
def test_a_large_object_keeps_its_checksum_algorithm(aws: Aws, algorithm: str | None) -> None:
    # Without one, boto3 sends a CRC32 of its own: every object uploaded with it has a checksum.
    large, body = put(aws, "big/checksummed", 12 * MiB, **({"ChecksumAlgorithm": algorithm} if algorithm else {}))
    source = aws.s3.head_object(Bucket=SOURCE, Key=large.key, ChecksumMode="ENABLED")
    [field] = [name for name in source if name.startswith("Checksum") and name != "ChecksumType"]
    assert field == f"Checksum{algorithm or 'CRC32'}"

    assert app.lambda_handler(aws.event(aws.queues.copy_url, batch(large)), context()) == {"batchItemFailures": []}

    copy = aws.s3.head_object(Bucket=DEST, Key=large.key, ChecksumMode="ENABLED")
    assert copy["ETag"].strip('"').endswith("-3"), "copied in three parts"
    # Without ChecksumAlgorithm, moto (as S3) would have given the copy a CRC64NVME.
    assert [name for name in copy if name.startswith("Checksum") and name != "ChecksumType"] == [field]
    assert aws.s3.get_object(Bucket=DEST, Key=large.key)["Body"].read() == body


class FailingParts:
    """An S3 client whose UploadPartCopy fails for one part number with a chosen error code."""

    def __init__(self, real: Any, part: int, code: str) -> None:
        self._real = real
        self._part = part
        self._code = code

    def upload_part_copy(self, **request: Any) -> Any:
        if request["PartNumber"] == self._part:
            raise ClientError({"Error": {"Code": self._code, "Message": f"{self._code} injected"}}, "UploadPartCopy")
        return self._real.upload_part_copy(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.mark.parametrize("code, queue", [("AccessDenied", "copy_dlq_url"), ("InternalError", "copy_url")])
def test_a_failure_mid_way_leaves_no_multipart_upload(aws: Aws, monkeypatch: pytest.MonkeyPatch, code: str, queue: str) -> None:
    large, _ = put(aws, "big", 12 * MiB)
    real = clients.s3()
    monkeypatch.setattr(clients, "s3", lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: FailingParts(real, 2, code))

    assert app.lambda_handler(aws.event(aws.queues.copy_url, batch(large)), context()) == {"batchItemFailures": []}

    assert uploads_left(aws) == []
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=DEST)
    [body] = aws.drain(getattr(aws.queues, queue))
    [item] = CopyBatch.from_json(body).items
    assert (item.key, item.parts) == ("big", None)
    assert item.failure is not None and (item.failure.code, item.failure.attempts) == (code, 1)


def test_a_source_changed_since_listing_is_dead_lettered_before_any_upload(aws: Aws) -> None:
    large, _ = put(aws, "big", 12 * MiB)
    put(aws, "big", 12 * MiB)  # overwritten: the listed ETag no longer matches

    assert app.lambda_handler(aws.event(aws.queues.copy_url, batch(large)), context()) == {"batchItemFailures": []}

    [letter] = aws.dead_letters(aws.queues.copy_dlq_url)
    assert (letter.key, letter.code) == ("big", "412")
    assert uploads_left(aws) == []


def test_an_object_split_into_part_tasks_is_completed_by_the_last_of_them(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    # One part per task: the estimate of a part (5 MiB at 20 MiB/s) exceeds a task's budget.
    monkeypatch.setattr("s3fanout.copying.multipart.PART_TASK_SECONDS", 0.01)
    monkeypatch.setenv("COPY_CONCURRENCY", "1")
    large, body = put(aws, "huge/one", 12 * MiB, Tagging=TAGGING, **HEADERS)

    assert app.lambda_handler(aws.event(aws.queues.copy_url, batch(large)), context()) == {"batchItemFailures": []}

    tasks = [CopyBatch.from_json(b) for b in aws.drain(aws.queues.copy_url)]
    assert sorted((t.items[0].parts.first, t.items[0].parts.last) for t in tasks) == [(1, 1), (2, 2), (3, 3)]  # type: ignore[union-attr]
    [upload] = uploads_left(aws)
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=DEST)

    # Last part first: the object is complete only once every part is in.
    for task in sorted(tasks, key=lambda t: -t.items[0].parts.first):  # type: ignore[union-attr]
        assert "Contents" not in aws.s3.list_objects_v2(Bucket=DEST)
        assert app.lambda_handler(aws.event(aws.queues.copy_url, task.to_json()), context()) == {"batchItemFailures": []}

    assert_copied(aws, large.key, body)
    assert uploads_left(aws) == []
    assert aws.drain(aws.queues.copy_url) == [] and aws.drain(aws.queues.copy_dlq_url) == []
    # A part task delivered once more after completion finds its upload gone but the object in
    # place: nothing to do, and no failure.
    real = clients.s3()
    monkeypatch.setattr(clients, "s3", lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: UnknownUploadIsNoSuchUpload(real))
    assert app.lambda_handler(aws.event(aws.queues.copy_url, tasks[0].to_json()), context()) == {"batchItemFailures": []}
    assert aws.drain(aws.queues.copy_url) == [] and aws.drain(aws.queues.copy_dlq_url) == []


class UnknownUploadIsNoSuchUpload:
    """In-process moto raises KeyError for an upload id it does not know, where S3 answers
    NoSuchUpload: translate, so the copier sees what S3 would say."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)
        if name not in ("upload_part_copy", "list_parts", "complete_multipart_upload"):
            return method

        def call(**request: Any) -> Any:
            try:
                return method(**request)
            except KeyError:
                raise ClientError({"Error": {"Code": "NoSuchUpload", "Message": "The specified upload does not exist."}}, name) from None

        return call


def test_the_lister_sends_a_large_object_in_a_batch_of_its_own(aws: Aws) -> None:
    for key in ("a", "b", "d"):
        aws.s3.put_object(Bucket=SOURCE, Key=key, Body=b"x")
    aws.s3.put_object(Bucket=SOURCE, Key="c-large", Body=b"x" * (6 * MiB))

    event = aws.event(aws.queues.list_url, ListTask("job-mp", SOURCE, DEST).to_json())
    assert list_app.lambda_handler(event, context()) == {"batchItemFailures": []}

    batches = [CopyBatch.from_json(body) for body in aws.drain(aws.queues.copy_url)]
    assert sorted([item.key for item in b.items] for b in batches) == [["a", "b", "d"], ["c-large"]]
