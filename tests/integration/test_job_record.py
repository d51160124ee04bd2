"""Both handlers keeping the job record (in-process moto DynamoDB): counts added once per message,
however often SQS delivers it; messages counted open before they are sent; a cancelled job's
messages dropped unworked; a message given up on at its last delivery; the job ended by whoever
settles its last open message."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from copy_objects import app as copy_app
from list_objects import app as list_app
from s3fanout import clients
from s3fanout.counts import Counts
from s3fanout.jobrecord import CANCELLED, FAILED, JOBS_ENDED_BY_RUN_ENV, RUNNING, SUCCEEDED, JobTable, NewJob
from s3fanout.messages import CopyBatch, CopyItem, ListTask
from tests.integration.conftest import DEST, KEY, SOURCE, Aws, context
from tests.integration.test_copy_handler import inject_copy_failures

JOB = "job-1"


def new_job(table: JobTable, *, list_open: int = 0, copy_open: int = 0, delete_requested: bool = False) -> None:
    table.create(NewJob(JOB, SOURCE, DEST, "", "sync", list_open=0, delete_requested=delete_requested, options={"ranges": 1}))
    table.opened(JOB, "list", list_open)
    table.opened(JOB, "copy", copy_open)


def put_objects(aws: Aws, count: int, prefix: str = "k") -> list[CopyItem]:
    items = []
    for index in range(count):
        key = f"{prefix}{index:04d}"
        etag = aws.s3.put_object(Bucket=SOURCE, Key=key, Body=b"x" * (index + 1))["ETag"]
        items.append(CopyItem(key, index + 1, etag))
    return items


def copy_event(aws: Aws, items: list[CopyItem]) -> dict[str, Any]:
    return aws.event(aws.queues.copy_url, CopyBatch(JOB, SOURCE, DEST, tuple(items)).to_json())


def test_a_copy_batch_is_counted_and_ends_the_job(aws: Aws, job_table: JobTable) -> None:
    new_job(job_table, copy_open=1)
    items = put_objects(aws, 5)

    assert copy_app.lambda_handler(copy_event(aws, items), context()) == {"batchItemFailures": []}

    record = job_table.get(JOB)
    assert record is not None
    assert (record.counts.objects_copied, record.counts.bytes_copied) == (5, sum(item.size for item in items))
    assert (record.list_open, record.copy_open) == (0, 0)
    assert record.state == SUCCEEDED and record.finished is not None


def test_a_run_that_ends_its_jobs_itself_leaves_the_drained_record_running(aws: Aws, job_table: JobTable, monkeypatch: pytest.MonkeyPatch) -> None:
    # Local workers on a job's own queues: the run ends the job (runner.end_record), not they.
    monkeypatch.setenv(JOBS_ENDED_BY_RUN_ENV, "true")
    new_job(job_table, copy_open=1)

    assert copy_app.lambda_handler(copy_event(aws, put_objects(aws, 2)), context()) == {"batchItemFailures": []}

    record = job_table.get(JOB)
    assert record is not None and record.drained
    assert record.counts.objects_copied == 2
    assert record.state == RUNNING and record.finished is None
    assert job_table.finish(JOB) is not None


def test_a_batch_delivered_twice_counts_once_and_is_not_copied_again(aws: Aws, job_table: JobTable, monkeypatch: pytest.MonkeyPatch) -> None:
    new_job(job_table, copy_open=1)
    event = copy_event(aws, put_objects(aws, 3))
    copy_app.lambda_handler(event, context())
    copies: list[str] = []
    real = clients.s3()

    class Watching:
        def copy_object(self, **request: Any) -> Any:
            copies.append(request["Key"])
            return real.copy_object(**request)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(clients, "s3", lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: Watching())

    # The same message again, as after a crash between settling it and SQS deleting it.
    assert copy_app.lambda_handler(event, context()) == {"batchItemFailures": []}

    record = job_table.get(JOB)
    assert record is not None and record.counts.objects_copied == 3 and record.copy_open == 0
    assert copies == []


def test_a_second_delivery_that_raced_past_the_check_adds_nothing(aws: Aws, job_table: JobTable) -> None:
    new_job(job_table, copy_open=1)
    assert job_table.settle(JOB, "message-1", "copy", Counts(objects_copied=4))
    assert not job_table.settle(JOB, "message-1", "copy", Counts(objects_copied=4))
    record = job_table.get(JOB)
    assert record is not None and record.counts.objects_copied == 4 and record.copy_open == 0


def test_a_crash_before_settling_copies_again_and_still_counts_once(aws: Aws, job_table: JobTable, monkeypatch: pytest.MonkeyPatch) -> None:
    new_job(job_table, copy_open=1)
    event = copy_event(aws, put_objects(aws, 2))
    real_settle = JobTable.settle_jobs

    def crash(*args: Any, **kwargs: Any) -> bool:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "crash"}}, "TransactWriteItems")

    monkeypatch.setattr(JobTable, "settle_jobs", crash)
    first = copy_app.lambda_handler(event, context())
    assert len(first["batchItemFailures"]) == 1
    monkeypatch.setattr(JobTable, "settle_jobs", real_settle)

    copy_app.lambda_handler(event, context())

    record = job_table.get(JOB)
    assert record is not None and record.counts.objects_copied == 2 and record.state == SUCCEEDED


def test_the_lister_counts_its_copy_batches_open_before_sending_them(aws: Aws, job_table: JobTable) -> None:
    new_job(job_table, list_open=1)
    put_objects(aws, 250)
    task = ListTask(JOB, SOURCE, DEST)

    list_app.lambda_handler(aws.event(aws.queues.list_url, task.to_json()), context())

    record = job_table.get(JOB)
    assert record is not None
    sent = aws.drain(aws.queues.copy_url)
    assert record.counts.keys_listed == 250 and record.counts.list_requests == 2
    assert (record.list_open, record.copy_open) == (0, len(sent)) and len(sent) == 3
    assert record.state == RUNNING and not record.drained

    for body in sent:
        copy_app.lambda_handler(aws.event(aws.queues.copy_url, KEY.open(body)), context())
    record = job_table.get(JOB)
    assert record is not None and record.state == SUCCEEDED and record.counts.objects_copied == 250


def test_a_cancelled_jobs_messages_are_dropped_without_work(aws: Aws, job_table: JobTable) -> None:
    new_job(job_table, copy_open=1)
    items = put_objects(aws, 3)
    job_table.cancel(JOB)

    assert copy_app.lambda_handler(copy_event(aws, items), context()) == {"batchItemFailures": []}

    assert aws.s3.list_objects_v2(Bucket=DEST).get("KeyCount", 0) == 0
    record = job_table.get(JOB)
    assert record is not None
    assert record.state == CANCELLED and record.counts.messages_dropped == 1 and record.finished is not None


def test_the_last_delivery_of_a_failing_batch_goes_to_the_dlq_with_its_error(aws: Aws, job_table: JobTable, monkeypatch: pytest.MonkeyPatch) -> None:
    new_job(job_table, copy_open=1)
    items = put_objects(aws, 2)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the copier broke")

    monkeypatch.setattr(copy_app, "copy_keys", broken)
    event = copy_event(aws, items)
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"
    assert len(copy_app.lambda_handler(event, context())["batchItemFailures"]) == 1
    assert aws.dead_letters(aws.queues.copy_dlq_url) == []

    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "3"
    assert copy_app.lambda_handler(event, context()) == {"batchItemFailures": []}

    letters = aws.dead_letters(aws.queues.copy_dlq_url)
    assert sorted(letter.key or "" for letter in letters) == [item.key for item in items]
    assert {letter.code for letter in letters} == {"BatchFailed"}
    assert all("the copier broke" in letter.message for letter in letters)
    record = job_table.get(JOB)
    assert record is not None and record.counts.keys_failed == 2 and record.state == FAILED


def test_a_delete_pass_to_come_keeps_the_job_running(aws: Aws, job_table: JobTable) -> None:
    new_job(job_table, copy_open=1, delete_requested=True)
    copy_app.lambda_handler(copy_event(aws, put_objects(aws, 1)), context())
    record = job_table.get(JOB)
    assert record is not None and record.drained and record.state == RUNNING and record.finished is None


def test_messages_of_a_job_without_a_record_are_worked_and_recorded_nowhere(aws: Aws, job_table: JobTable) -> None:
    items = put_objects(aws, 2)
    assert copy_app.lambda_handler(copy_event(aws, items), context()) == {"batchItemFailures": []}
    assert aws.s3.list_objects_v2(Bucket=DEST)["KeyCount"] == 2
    assert job_table.get(JOB) is None


def test_the_function_that_ends_a_job_writes_its_completion_report(aws: Aws, job_table: JobTable, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.s3.create_bucket(Bucket="reports")
    monkeypatch.setenv("REPORT_BUCKET", "reports")
    monkeypatch.setenv("REPORT_PREFIX", "runs/")
    new_job(job_table, copy_open=1)
    items = put_objects(aws, 2) + [CopyItem("é denied+%", 1, '"x"')]
    aws.s3.put_object(Bucket=SOURCE, Key="é denied+%", Body=b"x")
    inject_copy_failures(monkeypatch, {"é denied+%": "AccessDenied"})

    copy_app.lambda_handler(copy_event(aws, items), context())

    summary = json.loads(aws.s3.get_object(Bucket="reports", Key=f"runs/{JOB}/summary.json")["Body"].read())
    assert (summary["job_id"], summary["state"], summary["copied"], summary["failed"]) == (JOB, FAILED, 2, 1)
    rows = list(csv.DictReader(io.StringIO(aws.s3.get_object(Bucket="reports", Key=f"runs/{JOB}/failed.csv")["Body"].read().decode())))
    assert [(row["bucket"], row["key"], row["error_code"], row["attempts"]) for row in rows] == [(SOURCE, "%C3%A9%20denied%2B%25", "AccessDenied", "1")]
    # Read, not consumed: the failure is still on the DLQ for 'dlq list' and redrive.
    assert [letter.key for letter in aws.dead_letters(aws.queues.copy_dlq_url)] == ["é denied+%"]
