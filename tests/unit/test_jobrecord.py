"""The job record's counting (in-process moto DynamoDB): exact under redelivery, never drained
while a message is open whatever order messages finish in, and the reads status and jobs use."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from s3fanout import jobrecord
from s3fanout.counts import Counts
from s3fanout.jobrecord import CANCELLED, FAILED, RUNNING, SUCCEEDED, JobNotFound, JobNotRunning, JobTable, NewJob, Verdict, ensure_local_table, record_from_status
from s3fanout.messages import CopyBatch, CopyItem, Destination, ListTask
from s3fanout.outbox import Outbox
from s3fanout.queues import SendFailed
from tests.unit.fake_aws import KEY, FakeSQS


@pytest.fixture
def table() -> Iterator[JobTable]:
    with mock_aws():
        yield ensure_local_table(boto3.client("dynamodb", region_name="us-east-1"))


def new_job(table: JobTable, job_id: str = "job", **extra: Any) -> None:
    table.create(NewJob(job_id, "src", "dst", "", "sync", list_open=0, **extra))


def test_settling_a_message_twice_counts_it_once(table: JobTable) -> None:
    new_job(table)
    table.opened("job", "copy", 1)
    assert table.settle("job", "m1", "copy", Counts(objects_copied=100, bytes_copied=5))
    assert not table.settle("job", "m1", "copy", Counts(objects_copied=100, bytes_copied=5))
    record = table.get("job")
    assert record is not None
    assert (record.counts.objects_copied, record.counts.bytes_copied, record.copy_open) == (100, 5, 0)


def conflicting(table: JobTable, monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """Make the table's next ``times`` transactions fail as DynamoDB cancels one that met another
    on the same item; the calls made, counted."""
    real, calls = table.dynamodb.transact_write_items, [0]
    monkeypatch.setattr(jobrecord.time, "sleep", lambda _: None)

    def transact(**request: Any) -> Any:
        calls[0] += 1
        if calls[0] <= times:
            reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "conflict"}, "CancellationReasons": reasons}, "TransactWriteItems")
        return real(**request)

    monkeypatch.setattr(table.dynamodb, "transact_write_items", transact)
    return calls


def test_a_settle_that_meets_another_on_the_jobs_item_is_tried_again(table: JobTable, monkeypatch: pytest.MonkeyPatch) -> None:
    new_job(table)
    table.opened("job", "copy", 1)
    calls = conflicting(table, monkeypatch, times=jobrecord.SETTLE_ATTEMPTS - 1)
    assert table.settle("job", "m1", "copy", Counts(objects_copied=100))
    record = table.get("job")
    assert calls == [jobrecord.SETTLE_ATTEMPTS] and record is not None
    assert (record.counts.objects_copied, record.copy_open) == (100, 0)


def test_a_settle_that_keeps_conflicting_fails_and_changes_nothing(table: JobTable, monkeypatch: pytest.MonkeyPatch) -> None:
    new_job(table)
    table.opened("job", "copy", 1)
    conflicting(table, monkeypatch, times=jobrecord.SETTLE_ATTEMPTS)
    with pytest.raises(ClientError, match="TransactionCanceledException"):
        table.settle("job", "m1", "copy", Counts(objects_copied=100))
    record = table.get("job")
    assert record is not None and (record.counts.objects_copied, record.copy_open) == (0, 1)


def test_settling_a_message_of_a_job_without_a_record_creates_none(table: JobTable) -> None:
    assert not table.settle("ghost", "m1", "list", Counts(ranges_failed=1))
    assert table.get("ghost") is None


def test_verdicts(table: JobTable) -> None:
    assert table.verdict("job", "m1") is Verdict.UNTRACKED
    new_job(table)
    assert table.verdict("job", "m1") is Verdict.WORK
    table.opened("job", "copy", 2)
    table.settle("job", "m1", "copy", Counts())
    assert table.verdict("job", "m1") is Verdict.DUPLICATE
    table.cancel("job")
    assert table.verdict("job", "m2") is Verdict.CANCELLED


def test_the_end_of_a_job(table: JobTable) -> None:
    new_job(table)
    table.opened("job", "list", 1)
    assert table.finish_if_drained("job") is None
    table.settle("job", "m1", "list", Counts(keys_listed=3))
    ended = table.finish_if_drained("job")
    assert ended is not None and ended.state == SUCCEEDED and ended.finished
    # One caller ends it; the others find it ended.
    assert table.finish_if_drained("job") is None


def test_a_job_with_failures_ends_failed(table: JobTable) -> None:
    new_job(table)
    table.opened("job", "copy", 1)
    table.settle("job", "m1", "copy", Counts(keys_failed=1))
    ended = table.finish_if_drained("job")
    assert ended is not None and ended.state == FAILED


def test_cancelling(table: JobTable) -> None:
    with pytest.raises(JobNotFound):
        table.cancel("nope")
    new_job(table)
    table.opened("job", "copy", 1)
    cancelled = table.cancel("job")
    assert cancelled.state == CANCELLED and cancelled.finished is None
    table.settle("job", "m1", "copy", Counts(messages_dropped=1))
    ended = table.finish_if_drained("job")
    assert ended is not None and ended.state == CANCELLED and ended.finished
    # A finished job is not cancelled again: the record says how it ended.
    with pytest.raises(JobNotRunning) as refused:
        table.cancel("job")
    assert refused.value.record.finished == ended.finished


def test_redriving_reopens_the_job_and_takes_its_keys_off_failed(table: JobTable) -> None:
    new_job(table)
    table.opened("job", "copy", 1)
    table.settle("job", "m1", "copy", Counts(keys_failed=3))
    assert table.finish_if_drained("job") is not None
    assert table.reopen("job", "copy", 1, keys_back=3)
    record = table.get("job")
    assert record is not None
    assert (record.state, record.finished, record.counts.keys_failed, record.copy_open) == (RUNNING, None, 0, 1)
    assert not table.reopen("other", "copy", 1)


def test_recent_jobs_newest_first(table: JobTable) -> None:
    for job_id in ("a", "b", "c"):
        new_job(table, job_id)
    assert [record.job_id for record in table.recent(2)] == ["c", "b"]


def test_a_record_survives_its_status_object(table: JobTable) -> None:
    new_job(table, options={"ranges": 32, "workers": 4})
    table.opened("job", "list", 2)
    table.settle("job", "m1", "list", Counts(keys_listed=7, keys_skipped=2))
    record = table.get("job")
    assert record is not None
    again = record_from_status(record.to_status())
    assert (again.job_id, again.state, again.counts, again.list_open, again.options) == (record.job_id, record.state, record.counts, 1, {"ranges": 32, "workers": 4})


# A message tree: the seed opens the roots; each message, when worked, opens its children before
# sending them and is settled after. Messages finish in any order the queues allow.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(children=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=12), seed=st.integers(min_value=0, max_value=10_000))
def test_never_drained_while_a_message_is_open(table: JobTable, children: list[int], seed: int) -> None:
    job_id = f"job-{seed}-{len(children)}-{sum(children)}"
    if table.get(job_id) is not None:
        return
    new_job(table, job_id)
    order = random.Random(seed)
    table.opened(job_id, "list", 1)
    open_messages = [("m0", "list", 0)]
    budget = iter(children)
    counter = 1
    while open_messages:
        message_id, queue, depth = open_messages.pop(order.randrange(len(open_messages)))
        born = []
        for _ in range(next(budget, 0) if depth < 4 else 0):
            child_queue = order.choice(["list", "copy"])
            table.opened(job_id, child_queue, 1)
            born.append((f"m{counter}", child_queue, depth + 1))
            counter += 1
        open_messages += born
        # A delivery may be repeated at any point.
        table.settle(job_id, message_id, queue, Counts(keys_listed=1))
        if order.random() < 0.3:
            table.settle(job_id, message_id, queue, Counts(keys_listed=1))
        record = table.get(job_id)
        assert record is not None
        assert record.drained == (not open_messages)
        assert record.counts.keys_listed == counter - len(open_messages)


def test_the_outbox_counts_messages_open_before_it_sends_them(table: JobTable) -> None:
    new_job(table)
    sqs = FakeSQS()
    seen_open: list[int] = []
    real_send = sqs.send_message_batch

    def send(**request: Any) -> Any:
        record = table.get("job")
        assert record is not None
        seen_open.append(record.copy_open)
        return real_send(**request)

    sqs.send_message_batch = send  # type: ignore[method-assign]
    batches = [CopyBatch("job", "src", "dst", (CopyItem(f"k{i}", 1),)) for i in range(12)]
    Outbox(sqs, KEY, "list", "copy", table).copy_batches(batches)  # type: ignore[arg-type]
    assert seen_open == [12, 12]
    record = table.get("job")
    assert record is not None and record.copy_open == 12


def test_what_the_outbox_could_not_send_is_not_counted_open(table: JobTable) -> None:
    new_job(table)
    tasks = [ListTask("job", "src", "dst", after=f"k{i}") for i in range(3)]
    sqs = FakeSQS(sender_faults={KEY.seal(tasks[1].to_json())})
    with pytest.raises(SendFailed):
        Outbox(sqs, KEY, "list", "copy", table).list_tasks(tasks)  # type: ignore[arg-type]
    record = table.get("job")
    assert record is not None and record.list_open == 2


def test_a_list_task_of_several_destinations_is_open_and_settled_in_each_of_their_jobs(table: JobTable) -> None:
    for job_id in ("job", "job-d2"):
        new_job(table, job_id)
    task = ListTask("job", "src", "one", more_dests=(Destination("job-d2", "two"),))
    Outbox(FakeSQS(), KEY, "https://sqs.test/list", "https://sqs.test/copy", table).list_tasks([task])
    assert [table.get(job_id).open_messages for job_id in ("job", "job-d2")] == [1, 1]
    assert table.verdicts(["job", "job-d2"], "m1") == {"job": Verdict.WORK, "job-d2": Verdict.WORK}
    assert table.settle_jobs("m1", "list", {"job": Counts(keys_listed=3), "job-d2": Counts(keys_listed=3, keys_skipped=3)})
    # Settled together: a second delivery is a duplicate for both, and adds nothing to either.
    assert table.verdicts(["job", "job-d2"], "m1") == {"job": Verdict.DUPLICATE, "job-d2": Verdict.DUPLICATE}
    assert not table.settle_jobs("m1", "list", {"job": Counts(keys_listed=3), "job-d2": Counts(keys_listed=3)})
    first, second = table.get("job"), table.get("job-d2")
    assert (first.counts.keys_listed, second.counts.keys_skipped) == (3, 3) and first.drained and second.drained


def test_a_cancelled_destination_is_told_apart_from_the_others(table: JobTable) -> None:
    for job_id in ("job", "job-d2"):
        new_job(table, job_id)
    table.cancel("job")
    assert table.verdicts(["job", "job-d2"], "m1") == {"job": Verdict.CANCELLED, "job-d2": Verdict.WORK}


def test_the_local_table_is_made_once_and_then_used_as_it_is() -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        calls: list[str] = []
        dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
        ensure_local_table(dynamodb).create(NewJob("job", "src", "dst", "", "sync", list_open=0))
        assert dynamodb.describe_time_to_live(TableName=jobrecord.LOCAL_TABLE_NAME)["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
        calls.clear()
        again = ensure_local_table(dynamodb)
        assert calls == ["CreateTable"]  # no DescribeTable first: one round trip
        assert again.get("job") is not None


def test_a_local_table_the_caller_may_not_create_is_used_if_it_is_there() -> None:
    from botocore.stub import Stubber

    dynamodb = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    with Stubber(dynamodb) as stub:
        stub.add_client_error("create_table", "AccessDeniedException", http_status_code=400)
        stub.add_response("describe_table", {"Table": {"TableName": jobrecord.LOCAL_TABLE_NAME}}, {"TableName": jobrecord.LOCAL_TABLE_NAME})
        assert ensure_local_table(dynamodb).name == jobrecord.LOCAL_TABLE_NAME
        stub.add_client_error("create_table", "AccessDeniedException", http_status_code=400)
        stub.add_client_error("describe_table", "AccessDeniedException", http_status_code=400)
        with pytest.raises(ClientError, match="AccessDenied"):
            ensure_local_table(dynamodb)
