"""Copy options against in-process moto: the destination objects, on both copy paths (the
multipart threshold lowered to 5 MiB so that a 12 MiB object is copied in three parts).

Where moto differs from S3, the request is checked with tests/unit/fake_multipart.py instead
(tests/unit/test_copy_options.py):
- moto (5.2) has no GetObjectRetention or GetObjectLegalHold (it answers 500), ignores the Object
  Lock arguments of CreateMultipartUpload, and refuses them on CopyObject unless the request has
  Content-MD5, a check S3 makes for PutObject: Object Lock on the copies is not checked here,
  only the pre-flight refusal of a destination without it.
- A canned ACL in one account: the owner's FULL_CONTROL grant is all moto (and S3) shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from s3fanout.copying.batch import copy_batch
from s3fanout.copying.limit import ConcurrencyLimit
from s3fanout.copying.multipart import MultipartSettings
from s3fanout.job import JobError, JobSpec
from s3fanout.messages import CopyBatch, CopyItem, CopyOptions
from s3fanout.preflight import check_buckets
from tests.integration.conftest import DEST, SOURCE, Aws

MiB = 1024**2
SMALL_PARTS = MultipartSettings(threshold_bytes=5 * MiB + 1, part_bytes=5 * MiB)
CONTENT = {"ContentType": "text/csv", "CacheControl": "max-age=60", "ContentDisposition": "inline", "ContentLanguage": "fr"}
SIZES = {"small": 1000, "multipart": 12 * MiB}


@pytest.fixture
def kms_key(aws: Aws) -> Iterator[str]:
    yield boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]


def put(aws: Aws, key: str, size: int, **extra: Any) -> CopyItem:
    etag = aws.s3.put_object(Bucket=SOURCE, Key=key, Body=os.urandom(size), Metadata={"old": "source"}, Tagging="t=1", **CONTENT, **extra)["ETag"]
    return CopyItem(key, size, etag)


def copy(aws: Aws, options: CopyOptions, *items: CopyItem) -> None:
    batch = CopyBatch("job-options", SOURCE, DEST, items, options=options)
    outcome = copy_batch(batch, s3=aws.s3, limit=ConcurrencyLimit(4), multipart=SMALL_PARTS, default_options=CopyOptions())
    assert [item.key for item in outcome.copied] == [item.key for item in items], outcome
    assert not (outcome.retry or outcome.dead or outcome.handed_on)


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_storage_class_encryption_and_checksum_on_the_copy(aws: Aws, kms_key: str, size: int) -> None:
    item = put(aws, "data/object.csv", size)
    options = CopyOptions(storage_class="STANDARD_IA", sse="aws:kms", sse_kms_key_id=kms_key, checksum_algorithm="SHA256")

    copy(aws, options, item)

    head = aws.s3.head_object(Bucket=DEST, Key=item.key, ChecksumMode="ENABLED")
    assert (head["StorageClass"], head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("STANDARD_IA", "aws:kms", kms_key)
    assert "ChecksumSHA256" in head and "ChecksumCRC32" not in head  # the source has boto3's CRC32
    # Metadata, content headers and tags are the source's: only what was asked for changed.
    assert head["Metadata"] == {"old": "source"} and {name: head.get(name) for name in CONTENT} == CONTENT
    assert aws.s3.get_object_tagging(Bucket=DEST, Key=item.key)["TagSet"] == [{"Key": "t", "Value": "1"}]
    assert head["ETag"].strip('"').endswith("-3") == (size > SMALL_PARTS.threshold_bytes)


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_sse_s3_on_the_copy(aws: Aws, size: int) -> None:
    item = put(aws, "plain", size)
    copy(aws, CopyOptions(sse="AES256", storage_class="GLACIER_IR"), item)
    head = aws.s3.head_object(Bucket=DEST, Key=item.key)
    assert (head["ServerSideEncryption"], head["StorageClass"]) == ("AES256", "GLACIER_IR")


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_replaced_metadata_keeps_the_content_headers(aws: Aws, size: int) -> None:
    item = put(aws, "rewritten", size)
    copy(aws, CopyOptions(replace_metadata=True, metadata=(("project", "atlas"), ("stage", "2"))), item)
    head = aws.s3.head_object(Bucket=DEST, Key=item.key)
    assert head["Metadata"] == {"project": "atlas", "stage": "2"}
    assert {name: head.get(name) for name in CONTENT} == CONTENT


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_bucket_owner_full_control(aws: Aws, size: int) -> None:
    item = put(aws, "granted", size)
    copy(aws, CopyOptions(acl="bucket-owner-full-control"), item)
    owner = aws.s3.get_bucket_acl(Bucket=DEST)["Owner"]["ID"]
    grants = aws.s3.get_object_acl(Bucket=DEST, Key=item.key)["Grants"]
    assert {"Grantee": {"ID": owner, "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"} in grants


def test_copy_object_lock_is_refused_for_a_destination_without_object_lock(aws: Aws) -> None:
    spec = JobSpec(SOURCE, DEST, copy_options=CopyOptions(object_lock=True))
    with pytest.raises(JobError, match=f"the destination bucket '{DEST}' has no Object Lock configuration"):
        check_buckets(aws.s3, spec)
    aws.s3.create_bucket(Bucket="locked-bucket", ObjectLockEnabledForBucket=True)
    check_buckets(aws.s3, JobSpec(SOURCE, "locked-bucket", copy_options=CopyOptions(object_lock=True)))
    check_buckets(aws.s3, JobSpec(SOURCE, DEST))  # no question asked without the option
