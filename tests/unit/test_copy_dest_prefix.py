"""A copy batch that rewrites its keys (--dest-prefix) against the fake S3 and SQS: which key each
request names, what the copier sends on, and what its logs say."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from s3fanout.copying.batch import CopyOutcome, copy_batch, dispatch_failures
from s3fanout.copying.limit import ConcurrencyLimit
from s3fanout.copying.multipart import GiB, MiB, MultipartSettings
from s3fanout.messages import CopyBatch, CopyItem, KeyFailure, KeyRewrite, PartRange
from s3fanout.outbox import Outbox
from s3fanout.queues import SendFailed
from tests.unit.fake_aws import KEY, FakeSQS
from tests.unit.fake_multipart import FakeMultipartS3, SourceObject

NOW = "2026-05-01T12:00:00+00:00"
COPY_URL, DLQ_URL = "https://sqs.test/copy", "https://sqs.test/copy-dlq"
ETAG = '"source-etag"'
A_TO_B = KeyRewrite("a/", "b/")
# 10 parts of 64 MiB per row of a part task: a 100 GiB object is handed on in part tasks.
SPLIT = MultipartSettings(bytes_per_second=64 * MiB, task_seconds=10)


def failed(key: str, code: str) -> CopyItem:
    return CopyItem(key, 5, ETAG, KeyFailure(code, f"{code} happened", 1, NOW, NOW))


def split(s3: FakeMultipartS3, key: str, rekey: KeyRewrite | None = A_TO_B) -> tuple[CopyBatch, CopyOutcome]:
    batch = CopyBatch("job", "src", "dst", (CopyItem(key, 100 * GiB, ETAG),), rekey=rekey)
    return batch, copy_batch(batch, s3=s3, limit=ConcurrencyLimit(4), multipart=SPLIT, now=lambda: NOW)  # type: ignore[arg-type]


def test_a_split_upload_is_created_under_the_rewritten_key_from_the_source_key() -> None:
    s3 = FakeMultipartS3({"a/big +%#?": SourceObject(100 * GiB, ETAG, tags=[("t", "v")])})

    _, outcome = split(s3, "a/big +%#?")

    [create] = s3.requests("CreateMultipartUpload")
    assert create["Key"] == "b/big +%#?" and create["Tagging"] == "t=v"
    assert {request["Key"] for request in s3.requests("HeadObject") + s3.requests("GetObjectTagging")} == {"a/big +%#?"}
    [upload_id] = s3.uploads
    assert s3.uploads[upload_id].key == "b/big +%#?"
    # What an abort would name, should the part tasks not get onto the queue.
    assert outcome.new_uploads == (("b/big +%#?", upload_id),)
    assert {task.key for task in outcome.handed_on} == {"a/big +%#?"}


def test_part_tasks_copy_the_source_key_into_the_rewritten_upload() -> None:
    s3 = FakeMultipartS3({"a/k": SourceObject(100 * GiB, ETAG)})
    batch, outcome = split(s3, "a/k")
    task = CopyBatch("job", "src", "dst", outcome.handed_on[:1], rekey=batch.rekey)

    copy_batch(task, s3=s3, limit=ConcurrencyLimit(4), multipart=SPLIT, now=lambda: NOW)  # type: ignore[arg-type]

    copies = s3.requests("UploadPartCopy")
    assert copies and {(request["Key"], request["CopySource"]["Key"]) for request in copies} == {("b/k", "a/k")}


class RecordingAborts(FakeMultipartS3):
    """The fake S3, recording the key each AbortMultipartUpload names."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aborted: list[str] = []

    def abort_multipart_upload(self, *, Bucket: str, Key: str, UploadId: str) -> dict[str, Any]:
        self.aborted.append(Key)
        return super().abort_multipart_upload(Bucket=Bucket, Key=Key, UploadId=UploadId)


def test_an_upload_whose_part_tasks_cannot_be_queued_is_aborted_under_the_rewritten_key() -> None:
    s3 = RecordingAborts({"a/k": SourceObject(100 * GiB, ETAG)})
    batch, outcome = split(s3, "a/k")
    rejected = {KEY.seal(CopyBatch("job", "src", "dst", (outcome.handed_on[3],), hops=1, rekey=A_TO_B).to_json())}

    with pytest.raises(SendFailed):
        dispatch_failures(batch, outcome, outbox=Outbox(FakeSQS(sender_faults=rejected), KEY, None, COPY_URL), dead_letter_url=DLQ_URL, s3=s3)  # type: ignore[arg-type]

    assert s3.aborted == ["b/k"] and s3.uploads == {}


def test_everything_sent_on_keeps_the_rewrite() -> None:
    batch = CopyBatch("job", "src", "dst", (CopyItem("a/r", 5), CopyItem("a/d", 5), CopyItem("a/big", 6 * GiB)), hops=2, rekey=A_TO_B)
    task = CopyItem("a/big", 6 * GiB, ETAG, parts=PartRange("upload-1", 1, 10, 64 * MiB))
    outcome = CopyOutcome(copied=(), retry=(failed("a/r", "SlowDown"),), dead=(failed("a/d", "AccessDenied"),), handed_on=(task,), rekey=A_TO_B)
    sqs = FakeSQS()

    dispatch_failures(batch, outcome, outbox=Outbox(sqs, KEY, None, COPY_URL), dead_letter_url=DLQ_URL)  # type: ignore[arg-type]

    sent = [CopyBatch.from_json(KEY.open(body)) for body in sqs.bodies(COPY_URL)]
    # Part tasks first, then the retries.
    assert [(b.items, b.hops, b.rekey) for b in sent] == [((task,), 3, A_TO_B), (outcome.retry, 3, A_TO_B)]
    [dead] = [CopyBatch.from_json(body) for body in sqs.bodies(DLQ_URL)]
    assert (dead.items, dead.rekey) == (outcome.dead, A_TO_B)


def test_without_a_rewrite_nothing_sent_on_carries_one() -> None:
    batch = CopyBatch("job", "src", "dst", (CopyItem("a/r", 5), CopyItem("a/d", 5)))
    outcome = CopyOutcome(copied=(), retry=(failed("a/r", "SlowDown"),), dead=(failed("a/d", "AccessDenied"),))
    sqs = FakeSQS()

    dispatch_failures(batch, outcome, outbox=Outbox(sqs, KEY, None, COPY_URL), dead_letter_url=DLQ_URL)  # type: ignore[arg-type]

    bodies = [KEY.open(body) for body in sqs.bodies(COPY_URL)] + sqs.bodies(DLQ_URL)
    assert len(bodies) == 2 and all('"rekey"' not in body for body in bodies)


def test_logs_name_the_source_key_and_with_a_rewrite_the_destination_key() -> None:
    task = CopyItem("a/big", 6 * GiB, ETAG, parts=PartRange("upload-1", 1, 10, 64 * MiB))
    outcome = CopyOutcome(
        copied=(),
        retry=(failed("a/r", "SlowDown"),),
        dead=(failed("a/d", "AccessDenied"), failed("elsewhere", "InvalidDestinationKey")),
        handed_on=(task,),
        dropped=((task, "gone"),),
    )

    plain = [fields for _, _, fields in outcome.key_events()]
    rewritten = [fields for _, _, fields in replace(outcome, rekey=A_TO_B).key_events()]

    assert [(f["key"], f.get("dest_key")) for f in plain] == [("a/r", None), ("a/d", None), ("elsewhere", None), ("a/big", None), ("a/big", None)]
    # A key outside the rewritten prefix (the one that failed for it) is named as it is.
    assert [(f["key"], f.get("dest_key")) for f in rewritten] == [("a/r", "b/r"), ("a/d", "b/d"), ("elsewhere", None), ("a/big", "b/big"), ("a/big", "b/big")]
