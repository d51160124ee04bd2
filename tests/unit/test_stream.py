"""Streamed copies (copying/stream.py) on in-process moto: two buckets, every key read from one
client and uploaded with another, with its metadata, content headers and tags; in parts above the
threshold (never as a server-side multipart copy); pinned to the listed ETag; failing a key whose
read does not give its listed size."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from moto import mock_aws

from s3fanout import clients
from s3fanout.copying.batch import copy_batch
from s3fanout.copying.multipart import MultipartSettings
from s3fanout.copying.stream import SIZE_MISMATCH, StreamSettings, stream_object
from s3fanout.messages import CopyBatch, CopyItem, CopyOptions
from s3fanout.s3errors import S3Failure
from tests.keys import AWKWARD_KEYS, HEADERS, TAGGING, TAGS, ZERO_BYTE_KEYS

SRC = "stream-source"
DST = "stream-dest"
MiB = 1024 * 1024
# moto, as S3, refuses parts under 5 MiB but the last.
SMALL_PARTS = StreamSettings(threshold_bytes=5 * MiB, chunk_bytes=5 * MiB, concurrency=2)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        clients.reset()
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=SRC)
        client.create_bucket(Bucket=DST)
        yield client
    clients.reset()


def put(s3: Any, key: str, body: bytes, **extra: Any) -> CopyItem:
    answer = s3.put_object(Bucket=SRC, Key=key, Body=body, **extra)
    return CopyItem(key, len(body), answer["ETag"])


def batch(*items: CopyItem) -> CopyBatch:
    return CopyBatch("job-1", SRC, DST, items)


def headers_and_tags(s3: Any, key: str) -> tuple[dict[str, Any], dict[str, str]]:
    head = s3.head_object(Bucket=DST, Key=key)
    tags = s3.get_object_tagging(Bucket=DST, Key=key)["TagSet"]
    return {name: head.get(name) for name in HEADERS}, {t["Key"]: t["Value"] for t in tags}


def body(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=DST, Key=key)["Body"].read())


def test_awkward_and_zero_byte_keys_are_streamed_with_metadata_headers_and_tags(s3: Any) -> None:
    keys = AWKWARD_KEYS[:20] + ZERO_BYTE_KEYS
    items = [put(s3, key, b"" if key in ZERO_BYTE_KEYS else key.encode(), Tagging=TAGGING, **HEADERS) for key in keys]

    outcome = copy_batch(batch(*items), s3=s3, source_s3=s3, stream=StreamSettings())

    assert [item.key for item in outcome.copied] == keys and not outcome.retry and not outcome.dead
    counts = outcome.counts()
    assert counts.bytes_streamed == counts.bytes_copied == sum(item.size for item in items)
    for item in items:
        assert body(s3, item.key) == (b"" if item.key in ZERO_BYTE_KEYS else item.key.encode()), item.key
        assert headers_and_tags(s3, item.key) == (HEADERS, TAGS), item.key
        # A single-part upload keeps the MD5 ETag: a re-run skips the key by ETag.
        assert s3.head_object(Bucket=DST, Key=item.key)["ETag"] == item.etag


def test_a_multipart_sized_object_is_uploaded_in_parts_never_copied_server_side(s3: Any) -> None:
    data = bytes(range(256)) * (11 * MiB // 256)
    item = put(s3, "big/object.bin", data, Tagging=TAGGING, **HEADERS)

    class NoServerSideCopy:
        def __init__(self, real: Any) -> None:
            self._real = real

        def __getattr__(self, name: str) -> Any:
            assert name not in ("copy_object", "upload_part_copy"), name
            return getattr(self._real, name)

    # The server-side multipart threshold is lower still: streaming mode must not use it.
    outcome = copy_batch(batch(item), s3=NoServerSideCopy(s3), source_s3=s3, stream=SMALL_PARTS, multipart=MultipartSettings(threshold_bytes=MiB))

    assert outcome.copied and outcome.counts().bytes_streamed == len(data)
    assert body(s3, item.key) == data
    assert s3.head_object(Bucket=DST, Key=item.key)["ETag"].strip('"').endswith("-3")
    assert headers_and_tags(s3, item.key) == (HEADERS, TAGS)


def test_copy_options_apply_to_a_streamed_object(s3: Any) -> None:
    item = put(s3, "k", b"data", Metadata={"old": "1"}, ContentType="text/plain")
    options = CopyOptions(storage_class="STANDARD_IA", replace_metadata=True, metadata=(("project", "atlas"),))

    stream_object(s3, s3, SRC, DST, item, item.key, options)

    head = s3.head_object(Bucket=DST, Key="k")
    assert (head["StorageClass"], head["Metadata"], head["ContentType"]) == ("STANDARD_IA", {"project": "atlas"}, "text/plain")


def test_a_source_changed_since_listed_fails_precondition(s3: Any) -> None:
    item = put(s3, "k", b"listed")
    s3.put_object(Bucket=SRC, Key="k", Body=b"changed since")

    with pytest.raises(S3Failure) as raised:
        stream_object(s3, s3, SRC, DST, item, item.key)

    assert raised.value.code == "PreconditionFailed"
    assert "Contents" not in s3.list_objects_v2(Bucket=DST)


class ShortReads:
    """The source's client, whose GetObject bodies lose their last byte (and say so in their
    length, so botocore's own check passes): a store answering with less than it listed."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def get_object(self, **request: Any) -> Any:
        answer = self._real.get_object(**request)
        data = answer["Body"].read()[:-1]
        return answer | {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentLength": len(data)}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.mark.parametrize("size", [10, 11 * MiB])
def test_a_short_read_fails_the_key_and_writes_nothing(s3: Any, size: int) -> None:
    item = put(s3, "short", b"x" * size)

    outcome = copy_batch(batch(item), s3=s3, source_s3=ShortReads(s3), stream=SMALL_PARTS)

    [retry] = outcome.retry
    assert retry.failure is not None and retry.failure.code == SIZE_MISMATCH and not outcome.copied
    assert f"listed with {size} bytes" in retry.failure.message
    assert "Contents" not in s3.list_objects_v2(Bucket=DST)
    assert not s3.list_multipart_uploads(Bucket=DST).get("Uploads")


def test_a_store_without_tagging_is_carried_without_tags(s3: Any) -> None:
    item = put(s3, "k", b"data", Metadata={"m": "1"})

    class NoTagging(ShortReads):
        def get_object(self, **request: Any) -> Any:
            return self._real.get_object(**request)

        def get_object_tagging(self, **request: Any) -> Any:
            raise ClientError({"Error": {"Code": "NotImplemented", "Message": "not here"}}, "GetObjectTagging")

    stream_object(NoTagging(s3), s3, SRC, DST, item, item.key)

    assert body(s3, "k") == b"data" and s3.head_object(Bucket=DST, Key="k")["Metadata"] == {"m": "1"}


def test_the_part_size_grows_to_stay_within_ten_thousand_parts() -> None:
    settings = StreamSettings(chunk_bytes=8 * MiB)
    assert settings.chunk_for(10 * MiB) == 8 * MiB
    assert settings.chunk_for(200_000 * MiB) == 20 * MiB
