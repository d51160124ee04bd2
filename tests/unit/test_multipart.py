"""Multipart copy against a fake S3: part sizes, headers and tags, aborts, part tasks."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3fanout.copying.batch import CopyOutcome, copy_batch, dispatch_failures
from s3fanout.copying.limit import ConcurrencyLimit
from s3fanout.copying.multipart import GiB, MiB, MultipartSettings, PartPlan, plan_parts
from s3fanout.messages import CopyBatch, CopyItem, KeyFailure, PartRange
from s3fanout.outbox import Outbox
from s3fanout.queues import SendFailed
from tests.unit.fake_aws import KEY, FakeSQS, client_error
from tests.unit.fake_multipart import FakeMultipartS3, SourceObject

TiB = 1024**4
NOW = "2026-05-01T12:00:00+00:00"
COPY_URL, DLQ_URL = "https://sqs.test/copy", "https://sqs.test/copy-dlq"
ETAG = '"source-etag"'


# ------------------------------------------------------------------------------ part sizes --


@pytest.mark.parametrize(
    "size, configured, part_size, count",
    [
        (1 * GiB, 64 * MiB, 64 * MiB, 16),
        (1 * GiB + 1, 64 * MiB, 64 * MiB, 17),
        # The configured size is raised to S3's 5 MiB minimum...
        (100 * MiB, 1 * MiB, 5 * MiB, 20),
        # ...rounded up to whole MiB...
        (100 * MiB, 10_000_000, 10 * MiB, 10),
        # ...and lowered to S3's 5 GiB maximum.
        (20 * GiB, 6 * GiB, 5 * GiB, 4),
        # Up to 625 GiB, 64 MiB parts make at most 10,000; beyond, parts grow.
        (625 * GiB, 64 * MiB, 64 * MiB, 10_000),
        (625 * GiB + 1, 64 * MiB, 65 * MiB, 9_847),
        # The largest object S3 holds: 5 TiB / 10,000 rounded up to a MiB.
        (5 * TiB, 64 * MiB, 525 * MiB, 9_987),
        # One short part.
        (3, 64 * MiB, 64 * MiB, 1),
    ],
)
def test_part_size_selection(size, configured, part_size, count):
    plan = plan_parts(size, configured)
    assert (plan.part_size, plan.count) == (part_size, count)


@given(size=st.integers(min_value=1, max_value=5 * TiB), configured=st.integers(min_value=1, max_value=6 * GiB))
def test_parts_are_within_s3_limits_and_cover_the_object(size, configured):
    plan = plan_parts(size, configured)
    assert plan.part_size % MiB == 0
    assert 5 * MiB <= plan.part_size <= 5 * GiB
    assert plan.part_size >= min(configured, 5 * GiB)
    assert 1 <= plan.count <= 10_000
    first, last = plan.byte_range(1), plan.byte_range(plan.count)
    assert first[0] == 0 and last[1] == size - 1
    assert 1 <= last[1] - last[0] + 1 <= plan.part_size
    if plan.count > 1:
        assert plan.byte_range(2)[0] == first[1] + 1 == plan.part_size


def test_byte_ranges_are_contiguous():
    plan = PartPlan(12 * MiB, 5 * MiB)
    assert [plan.byte_range(n) for n in range(1, plan.count + 1)] == [(0, 5 * MiB - 1), (5 * MiB, 10 * MiB - 1), (10 * MiB, 12 * MiB - 1)]


def test_settings_come_from_the_environment(monkeypatch):
    assert MultipartSettings.from_env().threshold_bytes == 1 * GiB
    monkeypatch.setenv("MULTIPART_THRESHOLD_BYTES", str(6 * 1024**2))
    monkeypatch.setenv("MULTIPART_PART_SIZE_BYTES", str(8 * 1024**2))
    settings = MultipartSettings.from_env()
    assert (settings.threshold_bytes, settings.part_bytes) == (6 * MiB, 8 * MiB)
    # CopyObject cannot copy more than 5 GiB: a higher threshold is capped.
    monkeypatch.setenv("MULTIPART_THRESHOLD_BYTES", str(50 * GiB))
    assert MultipartSettings.from_env().threshold_bytes == 5 * GiB


def test_a_part_task_covers_about_task_seconds_of_copying():
    settings = MultipartSettings(bytes_per_second=20 * MiB, task_seconds=120)
    # 120 s at 20 MiB/s is 37 parts of 64 MiB in a row, 16 rows at once.
    assert settings.parts_per_task(64 * MiB, 16) == 16 * 37
    assert settings.parts_per_task(5 * GiB, 1) == 1


# ------------------------------------------------------------------- copying large objects --

HEADERS = {
    "ContentType": "text/csv",
    "CacheControl": "max-age=60",
    "ContentDisposition": "attachment; filename=\"big.csv\"",
    "ContentEncoding": "gzip",
    "ContentLanguage": "fr",
    "Expires": dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
}


def big(size=6 * GiB, **extra):
    return SourceObject(size, ETAG, **extra)


def run(s3, *items, max_attempts=5, settings=None, remaining_ms=None, concurrency=16) -> CopyOutcome:
    batch = CopyBatch("job", "src", "dst", tuple(items))
    return copy_batch(
        batch,
        s3=s3,
        limit=ConcurrencyLimit(concurrency),
        max_attempts=max_attempts,
        now=lambda: NOW,
        multipart=settings or MultipartSettings(),
        remaining_ms=remaining_ms,
    )


def test_an_object_above_the_threshold_is_copied_in_parts_with_its_headers_and_tags():
    source = big(headers=HEADERS, metadata={"owner": "team-a"}, tags=[("a", "1"), ("b", "two words&more=yes"), ("c/d", "é")])
    s3 = FakeMultipartS3({"big/key +?#": source})

    outcome = run(s3, CopyItem("big/key +?#", source.size, ETAG))

    assert [item.key for item in outcome.copied] == ["big/key +?#"] and outcome.copied_bytes == 6 * GiB
    assert not (outcome.retry or outcome.dead or outcome.handed_on)
    assert s3.requests("CopyObject") == []
    assert s3.requests("HeadObject") == [{"Bucket": "src", "Key": "big/key +?#", "IfMatch": ETAG, "ChecksumMode": "ENABLED"}]
    [create] = s3.requests("CreateMultipartUpload")
    assert create == {
        "Bucket": "dst",
        "Key": "big/key +?#",
        **HEADERS,
        "Metadata": {"owner": "team-a"},
        "Tagging": "a=1&b=two%20words%26more%3Dyes&c%2Fd=%C3%A9",
    }
    parts = s3.requests("UploadPartCopy")
    assert sorted(p["PartNumber"] for p in parts) == list(range(1, 97))  # 6 GiB in 64 MiB parts
    assert {p["CopySourceIfMatch"] for p in parts} == {ETAG}
    assert {p["CopySource"]["Key"] for p in parts} == {"big/key +?#"}
    assert s3.completed["big/key +?#"]["ContentLength"] == 6 * GiB
    assert s3.uploads == {}


def test_objects_up_to_the_threshold_are_copied_with_copy_object():
    s3 = FakeMultipartS3({"small": big(1 * GiB), "large": big(1 * GiB + 1)})

    outcome = run(s3, CopyItem("small", 1 * GiB, ETAG), CopyItem("large", 1 * GiB + 1, ETAG))

    assert sorted(item.key for item in outcome.copied) == ["large", "small"]
    assert [r["Key"] for r in s3.requests("CopyObject")] == ["small"]
    assert [r["Key"] for r in s3.requests("CreateMultipartUpload")] == ["large"]


def test_without_tags_or_metadata_none_are_sent():
    s3 = FakeMultipartS3({"k": big()})
    run(s3, CopyItem("k", 6 * GiB, ETAG))
    [create] = s3.requests("CreateMultipartUpload")
    assert create == {"Bucket": "dst", "Key": "k"}


def test_without_a_listed_etag_the_heads_etag_pins_the_parts():
    s3 = FakeMultipartS3({"k": big()})
    run(s3, CopyItem("k", 6 * GiB, None))
    assert s3.requests("HeadObject")[0]["IfMatch"] is None
    assert {p["CopySourceIfMatch"] for p in s3.requests("UploadPartCopy")} == {ETAG}


def test_a_source_changed_since_listing_fails_before_any_upload():
    s3 = FakeMultipartS3({"k": big()})
    outcome = run(s3, CopyItem("k", 6 * GiB, '"listed-etag"'))
    [dead] = outcome.dead
    assert dead.failure.code == "412" and dead.failure.attempts == 1
    assert s3.requests("CreateMultipartUpload") == []


@pytest.mark.parametrize(
    "operation, part, error, verdict",
    [
        ("UploadPartCopy", 7, client_error("AccessDenied", "Access Denied", 403, "UploadPartCopy"), "dead"),
        ("UploadPartCopy", 50, client_error("PreconditionFailed", "changed", 412, "UploadPartCopy"), "dead"),
        ("UploadPartCopy", 3, client_error("InternalError", "try again", 500, "UploadPartCopy"), "retry"),
        ("UploadPartCopy", 1, RuntimeError("unexpected"), "retry"),
        ("CompleteMultipartUpload", None, client_error("InternalError", "try again", 500), "retry"),
    ],
)
def test_any_failure_aborts_the_upload_and_reports_the_key(operation, part, error, verdict):
    s3 = FakeMultipartS3({"k": big()})
    s3.fail_on(operation, error, part)

    outcome = run(s3, CopyItem("k", 6 * GiB, ETAG))

    [failed] = getattr(outcome, verdict)
    assert (failed.key, failed.parts, failed.failure.attempts) == ("k", None, 1)
    assert failed.failure.code == describe_code(error)
    assert not outcome.copied and s3.uploads == {} and "k" not in s3.completed
    assert len(s3.requests("AbortMultipartUpload")) == 1


def describe_code(error):
    return error.response["Error"]["Code"] if hasattr(error, "response") else type(error).__name__


def test_a_failed_abort_is_named_in_the_failure():
    s3 = FakeMultipartS3({"k": big()})
    s3.fail_on("UploadPartCopy", client_error("AccessDenied", "Access Denied", 403), 2)
    s3.fail_on("AbortMultipartUpload", client_error("InternalError", "busy", 500))

    [dead] = run(s3, CopyItem("k", 6 * GiB, ETAG)).dead

    assert dead.failure.code == "AccessDenied"
    assert "aborting multipart upload upload-1 failed: InternalError: busy" in dead.failure.message


def test_after_a_failed_part_no_new_part_starts():
    s3 = FakeMultipartS3({"k": big(100 * GiB)})
    s3.fail_on("UploadPartCopy", client_error("AccessDenied", "Access Denied", 403), 1)
    run(s3, CopyItem("k", 100 * GiB, ETAG), concurrency=2, settings=MultipartSettings(task_seconds=10**6))
    # 1,600 parts; only those already in flight when part 1 failed were sent.
    assert len(s3.requests("UploadPartCopy")) < 10


def test_parts_count_against_the_copiers_concurrency_limit():
    s3 = FakeMultipartS3({"k": big()})
    limit = ConcurrencyLimit(4)
    s3.fail_on("UploadPartCopy", client_error("SlowDown", "Please reduce your request rate.", 503), 5, times=1)
    copy_batch(CopyBatch("job", "src", "dst", (CopyItem("k", 6 * GiB, ETAG),)), s3=s3, limit=limit, now=lambda: NOW)
    # A throttled part halves the limit, as a throttled CopyObject does.
    assert limit.limit < 4


# --------------------------------------------------------------------------- splitting --

SPLIT = MultipartSettings(bytes_per_second=64 * MiB, task_seconds=10)  # 10 parts of 64 MiB per row


def test_an_object_too_large_for_one_invocation_is_handed_on_as_part_tasks():
    s3 = FakeMultipartS3({"k": big(100 * GiB)})  # 1,600 parts

    outcome = run(s3, CopyItem("k", 100 * GiB, ETAG, KeyFailure("SlowDown", "x", 2, NOW, NOW)), settings=SPLIT, concurrency=4)

    assert not (outcome.copied or outcome.retry or outcome.dead)
    assert s3.requests("UploadPartCopy") == []
    [upload_id] = s3.uploads
    assert outcome.new_uploads == (("k", upload_id),)
    tasks = outcome.handed_on
    assert [(t.parts.first, t.parts.last) for t in tasks] == [(s, min(1600, s + 39)) for s in range(1, 1601, 40)]
    for task in tasks:
        assert (task.key, task.size, task.etag, task.failure) == ("k", 100 * GiB, ETAG, None)
        assert task.parts.upload_id == upload_id and task.parts.part_size == 64 * MiB


def test_an_object_is_handed_on_when_the_invocation_has_too_little_time_left():
    s3 = FakeMultipartS3({"k": big(6 * GiB)})
    outcome = run(s3, CopyItem("k", 6 * GiB, ETAG), remaining_ms=lambda: 31_000)
    assert [(t.parts.first, t.parts.last) for t in outcome.handed_on] == [(1, 96)]
    assert s3.requests("UploadPartCopy") == []


def test_running_out_of_time_mid_copy_hands_the_rest_on():
    s3 = FakeMultipartS3({"k": big(6 * GiB)})
    calls = itertools.count()
    # Plenty of time for the decision and 20 more part starts (after the first, which always
    # starts), then none.
    outcome = run(s3, CopyItem("k", 6 * GiB, ETAG), remaining_ms=lambda: 300_000 if next(calls) <= 20 else 0, concurrency=4)

    [task] = outcome.handed_on
    copied = {p["PartNumber"] for p in s3.requests("UploadPartCopy")}
    assert len(copied) == 21 and task.parts.last == 96
    assert task.parts.first == min(set(range(1, 97)) - copied)
    assert s3.requests("AbortMultipartUpload") == [] and len(s3.uploads) == 1


def run_tasks(s3, tasks, **kwargs):
    """Run part tasks one message at a time; return every outcome."""
    return [run(s3, task, **kwargs) for task in tasks]


def test_part_tasks_copy_their_ranges_and_the_last_completes_the_upload():
    s3 = FakeMultipartS3({"k": big(100 * GiB, tags=[("t", "v")])})
    tasks = run(s3, CopyItem("k", 100 * GiB, ETAG), settings=SPLIT, concurrency=4).handed_on

    outcomes = run_tasks(s3, tasks, settings=SPLIT, concurrency=4)

    assert [len(o.copied) for o in outcomes] == [0] * 39 + [1]
    assert outcomes[-1].copied[0] == CopyItem("k", 100 * GiB, ETAG) and outcomes[-1].copied_bytes == 100 * GiB
    assert all(not (o.retry or o.dead or o.handed_on or o.dropped) for o in outcomes)
    assert s3.uploads == {} and s3.completed["k"]["ContentLength"] == 100 * GiB
    assert s3.completed["k"]["args"] == {"Tagging": "t=v"}
    assert len(s3.requests("UploadPartCopy")) == 1600 and {p["CopySourceIfMatch"] for p in s3.requests("UploadPartCopy")} == {ETAG}
    # Every task lists the parts to see whether it was the last: one page of up to 1,000 parts
    # for the first 25 tasks (40 parts each), two for the other 15.
    assert len(s3.requests("ListParts")) == 25 + 2 * 15


def test_listing_parts_stops_at_the_first_gap():
    s3 = FakeMultipartS3({"k": big(100 * GiB)})
    tasks = run(s3, CopyItem("k", 100 * GiB, ETAG), settings=SPLIT, concurrency=4).handed_on
    run_tasks(s3, tasks[::-1], settings=SPLIT, concurrency=4)
    # Run last to first: every task but the last finds parts 1-40 missing on the first page.
    assert len(s3.requests("ListParts")) == 39 + 2
    assert s3.completed["k"]["ContentLength"] == 100 * GiB


def test_completion_is_found_whatever_order_the_tasks_run_in():
    s3 = FakeMultipartS3({"k": big(100 * GiB)})
    tasks = run(s3, CopyItem("k", 100 * GiB, ETAG), settings=SPLIT, concurrency=4).handed_on
    outcomes = run_tasks(s3, [tasks[5], *tasks[:5], *tasks[6:][::-1]], settings=SPLIT, concurrency=4)
    assert [len(o.copied) for o in outcomes] == [0] * 39 + [1]


def test_a_redelivered_part_task_after_completion_is_not_a_failure():
    s3 = FakeMultipartS3({"k": big(100 * GiB)})
    tasks = run(s3, CopyItem("k", 100 * GiB, ETAG), settings=SPLIT, concurrency=4).handed_on
    run_tasks(s3, tasks, settings=SPLIT, concurrency=4)

    again = run(s3, tasks[3], settings=SPLIT, concurrency=4)

    assert again == CopyOutcome((), (), ())


def test_a_concurrent_completion_is_success():
    # Two tasks saw every part present; the other completed first, so this CompleteMultipartUpload
    # finds no upload, but the destination holds the object, of the right size, in as many parts.
    s3 = FakeMultipartS3({"k": big(6 * GiB)})
    upload_id = s3.create_multipart_upload(Bucket="dst", Key="k")["UploadId"]
    task = CopyItem("k", 6 * GiB, ETAG, parts=PartRange(upload_id, 1, 96, 64 * MiB))
    real_complete = s3.complete_multipart_upload

    def completed_by_another(**request):
        real_complete(**request)
        raise client_error("NoSuchUpload", "The specified upload does not exist.", 404, "CompleteMultipartUpload")

    s3.complete_multipart_upload = completed_by_another

    outcome = run(s3, task)

    assert outcome == CopyOutcome((), (), ())
    assert s3.requests("AbortMultipartUpload") == []


def test_a_part_task_whose_upload_was_aborted_is_dropped_with_the_reason():
    s3 = FakeMultipartS3({"k": big(6 * GiB)})
    task = CopyItem("k", 6 * GiB, ETAG, parts=PartRange("aborted-upload", 1, 10, 64 * MiB))

    outcome = run(s3, task)

    assert not (outcome.copied or outcome.retry or outcome.dead or outcome.handed_on)
    [(item, reason)] = outcome.dropped
    assert item == task and "no longer exists" in reason


def split_upload(s3, size=100 * GiB):
    return run(s3, CopyItem("k", size, ETAG), settings=SPLIT, concurrency=4).handed_on


def test_a_part_task_failing_transiently_is_retried_for_the_parts_it_did_not_copy():
    s3 = FakeMultipartS3({"k": big(100 * GiB)})
    task = split_upload(s3)[1]  # parts 41-80
    s3.fail_on("UploadPartCopy", client_error("InternalError", "try again", 500), 61, times=1)

    outcome = run(s3, task, settings=SPLIT, concurrency=1)

    [retry] = outcome.retry
    assert retry.parts == PartRange(task.parts.upload_id, 61, 80, 64 * MiB)
    assert retry.failure.code == "InternalError" and retry.failure.attempts == 1
    assert s3.requests("AbortMultipartUpload") == [] and len(s3.uploads) == 1
    # The retry copies the rest.
    assert run(s3, retry, settings=SPLIT, concurrency=4) == CopyOutcome((), (), ())
    assert set(s3.uploads[task.parts.upload_id].parts) == set(range(41, 81))


@pytest.mark.parametrize(
    "error, attempts_before",
    [(client_error("PreconditionFailed", "changed", 412), 0), (client_error("InternalError", "try again", 500), 4)],
)
def test_a_part_task_failing_for_good_aborts_the_upload_and_dead_letters_the_whole_key(error, attempts_before):
    s3 = FakeMultipartS3({"k": big(100 * GiB)})
    task = split_upload(s3)[2]
    task = CopyItem(task.key, task.size, task.etag, KeyFailure("InternalError", "x", attempts_before, NOW, NOW) if attempts_before else None, task.parts)
    s3.fail_on("UploadPartCopy", error, 85)

    outcome = run(s3, task, settings=SPLIT, concurrency=4, max_attempts=5)

    [dead] = outcome.dead
    assert (dead.key, dead.size, dead.parts, dead.failure.attempts) == ("k", 100 * GiB, None, attempts_before + 1)
    assert dead.failure.code == error.response["Error"]["Code"]
    assert s3.uploads == {}


def test_a_failed_completion_retries_only_the_last_part():
    s3 = FakeMultipartS3({"k": big(6 * GiB)})
    [task] = run(s3, CopyItem("k", 6 * GiB, ETAG), remaining_ms=lambda: 31_000).handed_on
    s3.fail_on("CompleteMultipartUpload", client_error("InternalError", "try again", 500), times=1)

    [retry] = run(s3, task).retry

    assert (retry.parts.first, retry.parts.last) == (96, 96)
    assert [item.key for item in run(s3, retry).copied] == ["k"]
    assert s3.completed["k"]["ContentLength"] == 6 * GiB


def test_a_part_task_short_of_time_hands_the_rest_of_its_range_on():
    s3 = FakeMultipartS3({"k": big(100 * GiB)})
    task = split_upload(s3)[0]
    calls = itertools.count()

    # The first part always starts; time for 10 more.
    outcome = run(s3, task, remaining_ms=lambda: 300_000 if next(calls) < 10 else 0, concurrency=1)

    [rest] = outcome.handed_on
    assert rest.parts == PartRange(task.parts.upload_id, 12, 40, 64 * MiB) and rest.failure is None
    assert outcome.new_uploads == ()


def test_a_part_task_with_no_time_left_still_copies_one_part():
    # However short the invocation, each delivery of a task makes progress.
    s3 = FakeMultipartS3({"k": big(100 * GiB)})
    task = split_upload(s3)[0]

    outcome = run(s3, task, remaining_ms=lambda: 0)

    assert [p["PartNumber"] for p in s3.requests("UploadPartCopy")] == [1]
    assert [t.parts.first for t in outcome.handed_on] == [2]


# --------------------------------------------------------------------------- dispatching --


def test_part_tasks_are_queued_each_alone_and_at_once():
    s3 = FakeMultipartS3({"k": big(100 * GiB)})
    batch = CopyBatch("job", "src", "dst", (CopyItem("k", 100 * GiB, ETAG),))
    outcome = copy_batch(batch, s3=s3, limit=ConcurrencyLimit(4), multipart=SPLIT, now=lambda: NOW)
    sqs = FakeSQS()

    dispatch_failures(batch, outcome, outbox=Outbox(sqs, KEY, None, COPY_URL), dead_letter_url=DLQ_URL, s3=s3)

    sent = [CopyBatch.from_json(body) for body in sqs.bodies(COPY_URL)]
    assert [b.items for b in sent] == [(task,) for task in outcome.handed_on]
    assert set(sqs.delays(COPY_URL)) == {0}


def test_an_upload_whose_part_tasks_cannot_be_queued_is_aborted():
    s3 = FakeMultipartS3({"k": big(100 * GiB)})
    batch = CopyBatch("job", "src", "dst", (CopyItem("k", 100 * GiB, ETAG),))
    outcome = copy_batch(batch, s3=s3, limit=ConcurrencyLimit(4), multipart=SPLIT, now=lambda: NOW)
    rejected = {KEY.seal(CopyBatch("job", "src", "dst", (outcome.handed_on[12],), hops=1).to_json())}

    with pytest.raises(SendFailed):
        dispatch_failures(batch, outcome, outbox=Outbox(FakeSQS(sender_faults=rejected), KEY, None, COPY_URL), dead_letter_url=DLQ_URL, s3=s3)

    # The record fails and is delivered again; it starts a new upload, and this one is gone.
    assert s3.uploads == {}


def test_a_part_task_handing_on_never_aborts_the_shared_upload():
    s3 = FakeMultipartS3({"k": big(100 * GiB)})
    task = split_upload(s3)[0]
    calls = itertools.count()
    batch = CopyBatch("job", "src", "dst", (task,))
    outcome = copy_batch(batch, s3=s3, limit=ConcurrencyLimit(1), remaining_ms=lambda: 300_000 if next(calls) < 3 else 0, now=lambda: NOW)
    rejected = {KEY.seal(CopyBatch("job", "src", "dst", outcome.handed_on, hops=1).to_json())}

    with pytest.raises(SendFailed):
        dispatch_failures(batch, outcome, outbox=Outbox(FakeSQS(sender_faults=rejected), KEY, None, COPY_URL), dead_letter_url=DLQ_URL, s3=s3)

    assert len(s3.uploads) == 1
