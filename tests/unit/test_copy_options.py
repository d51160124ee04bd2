"""Copy options: CopyOptions in the messages (round trip, refusals, bodies without options byte
for byte as before), carried from list task to copy batches, retries and part tasks, and the
requests both copy paths make with them (tests/unit/fake_multipart.py records every request and
plays S3's Object Lock answers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from s3fanout.copying.batch import CopyOutcome, copy_batch, dispatch_failures
from s3fanout.copying.limit import ConcurrencyLimit
from s3fanout.copying.multipart import GiB, MiB, MultipartSettings
from s3fanout.job import JobError, JobSpec, list_tasks
from s3fanout.lister import list_range
from s3fanout.messages import (
    CopyBatch,
    CopyItem,
    CopyOptions,
    InvalidMessage,
    KeyFailure,
    ListTask,
    PartRange,
    pack_copy_batches,
    parse_message,
)
from s3fanout.outbox import Outbox
from s3fanout.preflight import check_object_lock
from seed.arguments import copy_options
from seed.cli import main, seed_parser
from tests.unit.fake_aws import KEY, FakeS3, FakeSQS, client_error
from tests.unit.fake_multipart import FakeMultipartS3, SourceObject

ETAG = '"source-etag"'
NOW = "2026-05-01T12:00:00+00:00"
LIST_URL, COPY_URL = "https://sqs/list", "https://sqs/copy"
KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EVERYTHING = CopyOptions(
    storage_class="GLACIER_IR",
    sse="aws:kms",
    sse_kms_key_id=KMS_KEY,
    checksum_algorithm="SHA256",
    acl="bucket-owner-full-control",
    replace_metadata=True,
    metadata=(("project", "atlas"), ("Owner", "ops team")),
    object_lock=True,
)
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------- the messages --


@pytest.mark.parametrize(
    "options",
    [
        EVERYTHING,
        CopyOptions(storage_class="DEEP_ARCHIVE"),
        CopyOptions(sse="AES256"),
        CopyOptions(sse="aws:kms", sse_kms_key_id="alias/copies"),
        CopyOptions(checksum_algorithm="CRC64NVME"),
        CopyOptions(replace_metadata=True),  # REPLACE with no metadata: the copies have none
        CopyOptions(object_lock=True),
    ],
)
def test_options_round_trip_through_both_messages(options):
    task = ListTask("job", "src", "dst", options=options)
    assert ListTask.from_json(task.to_json()) == task
    batch = CopyBatch("job", "src", "dst", (CopyItem("k", 1),), options=options)
    assert CopyBatch.from_json(batch.to_json()) == batch
    assert json.loads(batch.to_json())["opts"]["v"] == 1


def test_default_options_leave_the_bodies_byte_for_byte_as_before():
    assert ListTask("job", "src", "dst").to_json() == (
        '{"v":1,"type":"list","job":"job","src":"src","dst":"dst","prefix":"","after":null,"until":null,"resumed":0,"mode":"copy","compare":true,"hops":0}'
    )
    assert CopyBatch("job", "src", "dst", (CopyItem("k", 1),)).to_json() == (
        '{"v":1,"type":"copy","job":"job","src":"src","dst":"dst","hops":0,"items":[{"key":"k","size":1}]}'
    )
    assert parse_message(ListTask("job", "src", "dst").to_json()).options == CopyOptions()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"storage_class": "COLD"}, "storage class 'COLD' is not one of STANDARD"),
        ({"sse": "aws:kms:dsse"}, "server-side encryption"),
        ({"sse_kms_key_id": KMS_KEY}, "only for server-side encryption aws:kms"),
        ({"sse": "AES256", "sse_kms_key_id": KMS_KEY}, "only for server-side encryption aws:kms"),
        ({"sse": "aws:kms", "sse_kms_key_id": "arn:aws:kms:eu-west-1:123:key/x"}, "is not a KMS key id"),
        ({"sse": "aws:kms", "sse_kms_key_id": "my-key"}, "is not a KMS key id"),
        ({"checksum_algorithm": "MD5"}, "checksum algorithm 'MD5'"),
        ({"acl": "public-read"}, "only bucket-owner-full-control"),
        ({"metadata": (("a", "b"),)}, "only given with metadata directive REPLACE"),
        ({"replace_metadata": True, "metadata": (("a b", "c"),)}, "not an HTTP header name"),
        ({"replace_metadata": True, "metadata": (("a", "caf\u00e9"),)}, "printable ASCII"),
        ({"replace_metadata": True, "metadata": (("A", "1"), ("a", "2"))}, "given twice"),
        ({"replace_metadata": True, "metadata": (("a", "x" * 2048),)}, "S3 allows 2048"),
    ],
)
def test_options_that_s3_would_refuse_are_refused_with_a_reason(fields, reason):
    with pytest.raises(InvalidMessage, match=reason):
        CopyOptions(**fields)


@pytest.mark.parametrize(
    "opts",
    [
        {"v": 2, "storage_class": "STANDARD"},
        {"storage_class": "STANDARD"},
        {"v": 1, "storage": "STANDARD"},
        {"v": 1, "metadata": ["a"]},
        {"v": 1, "object_lock": "yes"},
        {"v": 1, "acl": "private"},
        "STANDARD",
    ],
)
def test_a_body_with_options_this_code_does_not_understand_is_invalid(opts):
    body = json.loads(CopyBatch("job", "src", "dst", (CopyItem("k", 1),)).to_json()) | {"opts": opts}
    with pytest.raises(InvalidMessage):
        parse_message(json.dumps(body))


def test_the_stacks_options_from_the_environment():
    env = {
        "COPY_STORAGE_CLASS": "STANDARD_IA",
        "COPY_SSE": "aws:kms",
        "COPY_SSE_KMS_KEY_ID": KMS_KEY,
        "COPY_CHECKSUM_ALGORITHM": "",
        "COPY_ACL": "bucket-owner-full-control",
        "COPY_OBJECT_LOCK": "true",
    }
    assert CopyOptions.from_env(env) == CopyOptions(
        storage_class="STANDARD_IA", sse="aws:kms", sse_kms_key_id=KMS_KEY, acl="bucket-owner-full-control", object_lock=True
    )
    assert CopyOptions.from_env({}) == CopyOptions() == CopyOptions.from_env({"COPY_OBJECT_LOCK": "false", "COPY_SSE": ""})
    with pytest.raises(ValueError, match="copy options from the environment: storage class 'COLD'"):
        CopyOptions.from_env({"COPY_STORAGE_CLASS": "COLD"})


# ------------------------------------------------------------------ carried along the chain --


def test_the_options_go_from_the_job_to_its_list_tasks_and_their_copy_batches():
    options = CopyOptions(storage_class="STANDARD_IA", sse="AES256")
    [task] = list_tasks("job", JobSpec("src", "dst", ranges=1, copy_options=options))
    assert task.options == options
    sqs = FakeSQS()
    list_range(task, s3=FakeS3(["a", "b"]), outbox=Outbox(sqs, KEY, LIST_URL, COPY_URL), remaining_ms=lambda: 900_000)
    [batch] = [CopyBatch.from_json(KEY.open(body)) for body in sqs.bodies(COPY_URL)]
    assert batch.options == options and [item.key for item in batch.items] == ["a", "b"]


def test_retries_part_tasks_and_dead_letters_keep_the_options():
    options = CopyOptions(checksum_algorithm="CRC32C")
    batch = CopyBatch("job", "src", "dst", (CopyItem("a", 1), CopyItem("b", 1), CopyItem("c", 8 * GiB)), options=options)
    failure = KeyFailure("InternalError", "x", 1, NOW, NOW)
    part_task = CopyItem("c", 8 * GiB, ETAG, parts=PartRange("upload-1", 1, 10, 64 * MiB))
    outcome = CopyOutcome(
        (), (CopyItem("a", 1, failure=failure),), (CopyItem("b", 1, failure=failure),), 0, (part_task,), (("c", "upload-1"),), ()
    )
    sqs = FakeSQS()
    dispatch_failures(batch, outcome, outbox=Outbox(sqs, KEY, LIST_URL, COPY_URL), dead_letter_url="https://sqs/copy-dlq")
    sent = [CopyBatch.from_json(KEY.open(body)) for url in (COPY_URL, "https://sqs/copy-dlq") for body in sqs.bodies(url)]
    assert sorted(item.key for b in sent for item in b.items) == ["a", "b", "c"]
    assert all(b.options == options for b in sent)
    # A redrive packs its batches the same way.
    assert all(b.options == options for b in pack_copy_batches("job", "src", "dst", [CopyItem("a", 1)], options=options))


# ------------------------------------------------------------------- the CopyObject requests --


def run(s3, items, options=None, default_options=None, settings=None):
    batch = CopyBatch("job", "src", "dst", tuple(items), options=options or CopyOptions())
    return copy_batch(
        batch, s3=s3, limit=ConcurrencyLimit(4), multipart=settings or MultipartSettings(), now=lambda: NOW, default_options=default_options
    )


def test_copy_object_with_every_option():
    headers = {"ContentType": "text/csv", "CacheControl": "max-age=60", "ContentDisposition": "inline"}
    source = SourceObject(10, ETAG, headers=headers, metadata={"old": "gone"}, retention={"Mode": "COMPLIANCE", "RetainUntilDate": FUTURE}, legal_hold="ON")
    s3 = FakeMultipartS3({"k": source})

    outcome = run(s3, [CopyItem("k", 10, ETAG)], EVERYTHING)

    assert [item.key for item in outcome.copied] == ["k"]
    [copy] = s3.requests("CopyObject")
    assert copy == {
        "Bucket": "dst",
        "Key": "k",
        "CopySource": {"Bucket": "src", "Key": "k"},
        "CopySourceIfMatch": ETAG,
        "MetadataDirective": "REPLACE",
        "TaggingDirective": "COPY",
        "Metadata": {"project": "atlas", "Owner": "ops team"},
        # REPLACE would drop the content headers: they are the source's, read pinned to its ETag.
        **headers,
        "StorageClass": "GLACIER_IR",
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": KMS_KEY,
        "ChecksumAlgorithm": "SHA256",
        "ACL": "bucket-owner-full-control",
        "ObjectLockMode": "COMPLIANCE",
        "ObjectLockRetainUntilDate": FUTURE,
        "ObjectLockLegalHoldStatus": "ON",
    }
    [head] = s3.requests("HeadObject")
    assert head["IfMatch"] == ETAG


def test_copy_object_without_options_is_the_plain_copy():
    s3 = FakeMultipartS3({"k": SourceObject(10, ETAG)})
    run(s3, [CopyItem("k", 10, ETAG)], default_options=CopyOptions())
    [copy] = s3.requests("CopyObject")
    assert copy == {
        "Bucket": "dst",
        "Key": "k",
        "CopySource": {"Bucket": "src", "Key": "k"},
        "CopySourceIfMatch": ETAG,
        "MetadataDirective": "COPY",
        "TaggingDirective": "COPY",
    }
    assert [name for name, _ in s3.calls] == ["CopyObject"]  # no read before the copy


def test_object_lock_carries_only_what_the_source_has():
    expired = datetime.now(UTC) - timedelta(days=1)
    s3 = FakeMultipartS3(
        {
            "none": SourceObject(1, ETAG),
            "hold": SourceObject(1, ETAG, legal_hold="OFF"),
            "expired": SourceObject(1, ETAG, retention={"Mode": "GOVERNANCE", "RetainUntilDate": expired}),
        }
    )
    run(s3, [CopyItem(key, 1, ETAG) for key in ("none", "hold", "expired")], CopyOptions(object_lock=True))
    lock = {r["Key"]: {k: v for k, v in r.items() if k.startswith("ObjectLock")} for r in s3.requests("CopyObject")}
    assert lock == {"none": {}, "hold": {"ObjectLockLegalHoldStatus": "OFF"}, "expired": {}}


def test_a_batch_without_options_gets_the_stacks_and_one_with_options_keeps_its_own():
    s3 = FakeMultipartS3({"k": SourceObject(1, ETAG)})
    stack = CopyOptions(storage_class="STANDARD_IA", acl="bucket-owner-full-control")
    run(s3, [CopyItem("k", 1, ETAG)], default_options=stack)
    run(s3, [CopyItem("k", 1, ETAG)], CopyOptions(storage_class="GLACIER"), default_options=stack)
    first, second = s3.requests("CopyObject")
    assert (first["StorageClass"], first["ACL"]) == ("STANDARD_IA", "bucket-owner-full-control")
    assert second["StorageClass"] == "GLACIER" and "ACL" not in second


def test_the_copier_reads_the_stacks_options_from_its_environment(monkeypatch):
    monkeypatch.setenv("COPY_STORAGE_CLASS", "ONEZONE_IA")
    s3 = FakeMultipartS3({"k": SourceObject(1, ETAG)})
    run(s3, [CopyItem("k", 1, ETAG)])
    [copy] = s3.requests("CopyObject")
    assert copy["StorageClass"] == "ONEZONE_IA"


# -------------------------------------------------------------------- the multipart requests --


def test_create_multipart_upload_with_every_option():
    headers = {"ContentType": "video/mp4", "ContentLanguage": "en"}
    source = SourceObject(
        6 * GiB,
        ETAG,
        headers=headers,
        metadata={"old": "gone"},
        tags=[("team", "a b")],
        checksums={"CRC32": "AAAAAA=="},
        checksum_type="FULL_OBJECT",
        retention={"Mode": "GOVERNANCE", "RetainUntilDate": FUTURE},
        legal_hold="ON",
    )
    s3 = FakeMultipartS3({"k": source})

    outcome = run(s3, [CopyItem("k", 6 * GiB, ETAG)], EVERYTHING)

    assert [item.key for item in outcome.copied] == ["k"] and not (outcome.retry or outcome.dead)
    [create] = s3.requests("CreateMultipartUpload")
    assert create == {
        "Bucket": "dst",
        "Key": "k",
        **headers,
        "Metadata": {"project": "atlas", "Owner": "ops team"},
        "Tagging": "team=a%20b",
        # The asked-for algorithm, not the source's CRC32; SHA-256 can only be COMPOSITE.
        "ChecksumAlgorithm": "SHA256",
        "StorageClass": "GLACIER_IR",
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": KMS_KEY,
        "ACL": "bucket-owner-full-control",
        "ObjectLockMode": "GOVERNANCE",
        "ObjectLockRetainUntilDate": FUTURE,
        "ObjectLockLegalHoldStatus": "ON",
    }
    parts = s3.requests("CompleteMultipartUpload")[0]["MultipartUpload"]["Parts"]
    assert all("ChecksumSHA256" in part for part in parts)


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_an_asked_for_crc_is_a_whole_object_checksum_as_copy_object_makes_it(algorithm):
    s3 = FakeMultipartS3({"k": SourceObject(6 * GiB, ETAG, checksums={"SHA1": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="})})
    run(s3, [CopyItem("k", 6 * GiB, ETAG)], CopyOptions(checksum_algorithm=algorithm))
    [create] = s3.requests("CreateMultipartUpload")
    assert (create["ChecksumAlgorithm"], create["ChecksumType"]) == (algorithm, "FULL_OBJECT")


def test_part_tasks_carry_the_options_and_add_nothing_to_their_parts():
    s3 = FakeMultipartS3({"k": SourceObject(6 * GiB, ETAG)})
    split = MultipartSettings(bytes_per_second=64 * MiB, task_seconds=10)
    outcome = run(s3, [CopyItem("k", 6 * GiB, ETAG)], CopyOptions(storage_class="GLACIER"), settings=split)
    assert outcome.handed_on and not s3.requests("UploadPartCopy")
    [create] = s3.requests("CreateMultipartUpload")
    assert create["StorageClass"] == "GLACIER"
    # The upload has the options; a part task's UploadPartCopy names none.
    run(s3, outcome.handed_on[:1], CopyOptions(storage_class="GLACIER"), settings=split)
    assert all("StorageClass" not in r for r in s3.requests("UploadPartCopy"))


# ------------------------------------------------------------------------------------- CLI --


def test_flags_make_the_jobs_options():
    args = seed_parser().parse_args(
        [
            "--bucket", "a", "--dest", "b",
            "--storage-class", "glacier_ir",
            "--sse", "aws:kms", "--sse-kms-key-id", KMS_KEY,
            "--checksum-algorithm", "crc32c",
            "--acl", "bucket-owner-full-control",
            "--metadata-directive", "REPLACE", "--metadata", "a=1", "--metadata", "b=x=y",
            "--copy-object-lock",
        ]
    )  # fmt: skip
    assert copy_options(args) == CopyOptions(
        storage_class="GLACIER_IR",
        sse="aws:kms",
        sse_kms_key_id=KMS_KEY,
        checksum_algorithm="CRC32C",
        acl="bucket-owner-full-control",
        replace_metadata=True,
        metadata=(("a", "1"), ("b", "x=y")),
        object_lock=True,
    )
    assert copy_options(seed_parser().parse_args(["--bucket", "a", "--dest", "b"])) == CopyOptions()


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--storage-class", "COLD"], "'COLD' is not an S3 storage class"),
        (["--sse", "aws:kms:dsse"], "is not a server-side encryption"),
        (["--sse-kms-key-id", KMS_KEY], "--sse-kms-key-id needs --sse aws:kms"),
        (["--sse", "AES256", "--sse-kms-key-id", KMS_KEY], "--sse-kms-key-id needs --sse aws:kms"),
        (["--sse", "aws:kms", "--sse-kms-key-id", "arn:aws:kms:x"], "is not a KMS key id"),
        (["--checksum-algorithm", "MD5"], "'MD5' is not a checksum algorithm"),
        (["--acl", "public-read"], "'public-read' is not an accepted canned ACL"),
        (["--metadata", "a=1"], "--metadata needs --metadata-directive REPLACE"),
        (["--metadata-directive", "REPLACE", "--metadata", "novalue"], "'novalue' is not NAME=VALUE"),
        (["--metadata-directive", "MERGE"], "'MERGE' is not a metadata directive"),
    ],
)
def test_bad_copy_flags_exit_2_with_one_line(capsys, flags, says):
    try:
        status = main(["--bucket", "a", "--dest", "b", "--local", *flags])
    except SystemExit as exit:  # argparse's own refusal
        status = exit.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err


# ------------------------------------------------------------------------------- pre-flight --


class LockConfiguration:
    def __init__(self, answer=None, error=None):
        self.answer, self.error = answer, error

    def get_object_lock_configuration(self, *, Bucket):
        if self.error is not None:
            raise self.error
        return self.answer


def test_copy_object_lock_needs_a_destination_with_object_lock():
    check_object_lock(LockConfiguration({"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}}), "dst")
    missing = client_error("ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket", 404, "GetObjectLockConfiguration")
    with pytest.raises(JobError, match="^the destination bucket 'dst' has no Object Lock configuration: --copy-object-lock needs"):
        check_object_lock(LockConfiguration(error=missing), "dst")
    denied = client_error("AccessDenied", "Access Denied", 403, "GetObjectLockConfiguration")
    with pytest.raises(JobError, match="cannot read the Object Lock configuration of the destination bucket 'dst'"):
        check_object_lock(LockConfiguration(error=denied), "dst")
