"""The dry run says what the copier's role needs for the buckets' encryption (in-process moto)."""

from __future__ import annotations

import boto3
from moto import mock_aws

from s3fanout.estimate import AWS_MANAGED_KEY, EncryptionNeeds, encryption_needs


def test_kms_keys_of_the_source_objects_and_the_destination_default_are_named() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        kms = boto3.client("kms", region_name="us-east-1")
        source_key = kms.create_key()["KeyMetadata"]["Arn"]
        dest_key = kms.create_key()["KeyMetadata"]["Arn"]
        s3.create_bucket(Bucket="src")
        s3.create_bucket(Bucket="dst")
        s3.put_bucket_encryption(
            Bucket="dst",
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": dest_key}}]},
        )
        s3.put_object(Bucket="src", Key="a", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=source_key)
        s3.put_object(Bucket="src", Key="b", Body=b"x", ServerSideEncryption="aws:kms")
        s3.put_object(Bucket="src", Key="c", Body=b"x")

        needs = encryption_needs(s3, "src", "dst", ["a", "b", "c"])

    assert needs.dest_kms_key == dest_key
    # moto answers SSE-KMS without a key id with its own default key; S3 names aws/s3's ARN.
    assert source_key in needs.source_kms_keys and needs.unknown == [] and needs.sse_c_sample == []
    advice = "\n".join(needs.advice())
    assert "SourceKmsKeyArn" in advice and "DestinationKmsKeyArn" in advice and dest_key in advice


def test_plain_buckets_need_nothing_and_say_nothing() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="src")
        s3.create_bucket(Bucket="dst")
        s3.put_object(Bucket="src", Key="a", Body=b"x")

        needs = encryption_needs(s3, "src", "dst", ["a"])

    assert needs == EncryptionNeeds() and needs.advice() == []


def test_what_cannot_be_read_is_said_not_guessed() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="src")
        s3.create_bucket(Bucket="dst")

        needs = encryption_needs(s3, "src", "dst", ["vanished"])

    assert needs.source_kms_keys == [] and len(needs.unknown) == 1 and "'vanished'" in needs.unknown[0]
    assert AWS_MANAGED_KEY not in "\n".join(needs.advice())
