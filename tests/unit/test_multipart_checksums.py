"""A multipart copy keeps the source's checksum algorithm, as a single CopyObject does.

moto returns no part checksums (from UploadPartCopy or ListParts) and ignores those given to
CompleteMultipartUpload, so S3's side of this is played by tests/unit/fake_multipart.py.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from s3fanout.copying.batch import copy_batch
from s3fanout.copying.limit import ConcurrencyLimit
from s3fanout.copying.multipart import GiB, MiB, MultipartSettings
from s3fanout.messages import CopyBatch, CopyItem
from tests.unit.fake_multipart import FakeMultipartS3, SourceObject

ETAG = '"source-etag"'
NOW = "2026-05-01T12:00:00+00:00"
SPLIT = MultipartSettings(bytes_per_second=64 * MiB, task_seconds=10)  # 10 parts of 64 MiB per row


def run(s3, item, settings=None, concurrency=4):
    batch = CopyBatch("job", "src", "dst", (item,))
    return copy_batch(batch, s3=s3, limit=ConcurrencyLimit(concurrency), multipart=settings or MultipartSettings(), now=lambda: NOW)


def assert_completed_with_part_checksums(s3, field):
    """CompleteMultipartUpload listed every part with its checksum next to its ETag (the fake
    refuses a part whose checksum is missing or is not the one S3 answered for it)."""
    [complete] = s3.requests("CompleteMultipartUpload")
    parts = complete["MultipartUpload"]["Parts"]
    assert [p["PartNumber"] for p in parts] == sorted({r["PartNumber"] for r in s3.requests("UploadPartCopy")})
    assert all(set(p) == {"PartNumber", "ETag", field} for p in parts)


@pytest.mark.parametrize(
    "checksums, checksum_type, asked",
    [
        # S3's default since 2024 for objects uploaded without a checksum.
        ({"CRC64NVME": "AAAAAAAAAAA="}, "FULL_OBJECT", {"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "FULL_OBJECT"}),
        # A whole-object CRC stays one (the default for CRC32 and CRC32C would be COMPOSITE).
        ({"CRC32": "AAAAAA=="}, "FULL_OBJECT", {"ChecksumAlgorithm": "CRC32", "ChecksumType": "FULL_OBJECT"}),
        ({"CRC32C": "AAAAAA==-16"}, "COMPOSITE", {"ChecksumAlgorithm": "CRC32C"}),
        # SHA-1 and SHA-256 can only be COMPOSITE in a multipart upload.
        ({"SHA1": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "FULL_OBJECT", {"ChecksumAlgorithm": "SHA1"}),
        ({"SHA256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, None, {"ChecksumAlgorithm": "SHA256"}),
    ],
)
def test_the_source_checksum_algorithm_is_asked_for_and_every_part_checksum_given_back(checksums, checksum_type, asked):
    s3 = FakeMultipartS3({"k": SourceObject(6 * GiB, ETAG, checksums=checksums, checksum_type=checksum_type)})

    outcome = run(s3, CopyItem("k", 6 * GiB, ETAG))

    assert [item.key for item in outcome.copied] == ["k"] and not (outcome.retry or outcome.dead)
    [head] = s3.requests("HeadObject")
    assert head["ChecksumMode"] == "ENABLED"
    [create] = s3.requests("CreateMultipartUpload")
    assert create == {"Bucket": "dst", "Key": "k", **asked}
    assert_completed_with_part_checksums(s3, f"Checksum{asked['ChecksumAlgorithm']}")


@pytest.mark.parametrize(
    "checksums",
    [
        {},
        # Algorithms S3 added later and documents for no multipart upload: left to S3's default.
        {"SHA512": "AAAA"},
    ],
)
def test_without_a_checksum_s3_picks_its_default(checksums):
    s3 = FakeMultipartS3({"k": SourceObject(6 * GiB, ETAG, checksums=checksums, checksum_type="FULL_OBJECT")})

    outcome = run(s3, CopyItem("k", 6 * GiB, ETAG))

    assert [item.key for item in outcome.copied] == ["k"]
    [create] = s3.requests("CreateMultipartUpload")
    assert create == {"Bucket": "dst", "Key": "k"}
    [complete] = s3.requests("CompleteMultipartUpload")
    assert all(set(p) == {"PartNumber", "ETag"} for p in complete["MultipartUpload"]["Parts"])


def test_part_tasks_complete_with_the_checksums_listparts_returns():
    s3 = FakeMultipartS3({"k": SourceObject(100 * GiB, ETAG, checksums={"CRC32C": "AAAAAA=="}, checksum_type="FULL_OBJECT")})
    tasks = run(s3, CopyItem("k", 100 * GiB, ETAG), settings=SPLIT).handed_on
    assert len(tasks) == 40

    # Each task copies its parts; the last one lists them all (with their checksums) and completes.
    outcomes = [run(s3, task, settings=SPLIT) for task in tasks]

    assert [len(o.copied) for o in outcomes] == [0] * 39 + [1]
    assert s3.requests("ListParts")
    assert_completed_with_part_checksums(s3, "ChecksumCRC32C")
    assert s3.completed["k"]["args"] == {"ChecksumAlgorithm": "CRC32C", "ChecksumType": "FULL_OBJECT"}


def test_s3_refuses_to_complete_a_checksummed_upload_without_the_part_checksums():
    # What the copier did before it carried part checksums: S3 (here the fake) refuses.
    s3 = FakeMultipartS3({"k": SourceObject(12 * MiB, ETAG)})
    upload_id = s3.create_multipart_upload(Bucket="dst", Key="k", ChecksumAlgorithm="CRC32")["UploadId"]
    result = s3.upload_part_copy(
        Bucket="dst", Key="k", UploadId=upload_id, PartNumber=1, CopySource={"Bucket": "src", "Key": "k"}, CopySourceRange=f"bytes=0-{12 * MiB - 1}"
    )["CopyPartResult"]
    assert set(result) == {"ETag", "ChecksumCRC32"}

    with pytest.raises(ClientError, match="must include the checksum for each part"):
        s3.complete_multipart_upload(Bucket="dst", Key="k", UploadId=upload_id, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": result["ETag"]}]})
