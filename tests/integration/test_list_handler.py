"""The lister's Lambda handler against in-process moto: batching, size limits, hand-on, send failures."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from list_objects import app
from s3fanout import clients, handling
from s3fanout.keyspace import seed_ranges
from s3fanout.messages import MAX_MESSAGE_BYTES, CopyBatch, ListTask
from tests.integration.conftest import DEST, SOURCE, Aws, context


def fill(aws: Aws, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: aws.s3.put_object(Bucket=SOURCE, Key=key, Body=b"x"), keys))


def task(**fields: Any) -> str:
    return ListTask("job-1", SOURCE, DEST, **fields).to_json()


def copied_keys(aws: Aws) -> list[str]:
    return [item.key for body in aws.drain(aws.queues.copy_url) for item in CopyBatch.from_json(body).items]


def test_range_becomes_batches_of_100_keys(aws: Aws) -> None:
    keys = [f"k{i:04d}" for i in range(250)]
    fill(aws, keys)

    response = app.lambda_handler(aws.event(aws.queues.list_url, task()), context())

    assert response == {"batchItemFailures": []}
    batches = [CopyBatch.from_json(body) for body in aws.drain(aws.queues.copy_url)]
    assert sorted(len(b.items) for b in batches) == [50, 100, 100]
    items = sorted((i for b in batches for i in b.items), key=lambda i: i.key)
    assert [i.key for i in items] == keys
    assert all(i.size == 1 and i.etag for i in items)


def test_seeded_ranges_together_list_every_key_once(aws: Aws) -> None:
    keys = ["\x01ctl", " space", "0", "9z", "A", "Zz", "a", "zz", "{brace", "~", "é", "日本", "😀", "data/x", "/lead"]
    fill(aws, keys)
    bodies = [ListTask("job-1", SOURCE, DEST, "", r.after, r.until).to_json() for r in seed_ranges("", 16)]

    for body in bodies:
        assert app.lambda_handler(aws.event(aws.queues.list_url, body), context()) == {"batchItemFailures": []}

    assert sorted(copied_keys(aws)) == sorted(keys)


def test_prefix_and_range_bounds_are_respected(aws: Aws) -> None:
    fill(aws, ["data/a", "data/b", "data/c", "data/d", "other/a", "dat"])

    app.lambda_handler(aws.event(aws.queues.list_url, task(prefix="data/", after="data/a", until="data/c")), context())

    assert sorted(copied_keys(aws)) == ["data/b", "data/c"]


def test_hands_the_rest_of_its_range_on_near_the_timeout(aws: Aws) -> None:
    keys = [f"key-{i:05d}" for i in range(1150)]
    fill(aws, keys)

    # 10 s left is inside the lister's safety margin: it lists one page and hands the rest on.
    response = app.lambda_handler(aws.event(aws.queues.list_url, task()), context(timeout_seconds=10))

    assert response == {"batchItemFailures": []}
    first = copied_keys(aws)
    assert first == keys[:1000]
    [rest_body] = aws.drain(aws.queues.list_url)
    rest = ListTask.from_json(rest_body)
    assert (rest.after, rest.until, rest.resumed) == (keys[999], None, 1)

    # The resumed task, with time to spare, lists exactly the remaining keys.
    app.lambda_handler(aws.event(aws.queues.list_url, rest_body), context())
    assert copied_keys(aws) == keys[1000:]
    assert aws.drain(aws.queues.list_url) == []


def test_1024_byte_keys_are_split_by_message_size(aws: Aws) -> None:
    # A control character is six bytes in the JSON body: 100 such keys would be ~600 KB.
    keys = [f"\x01{i:03d}" + "\x02" * 1020 for i in range(150)]
    assert all(len(k.encode()) == 1024 for k in keys)
    fill(aws, keys)

    assert app.lambda_handler(aws.event(aws.queues.list_url, task()), context()) == {"batchItemFailures": []}

    bodies = aws.drain(aws.queues.copy_url)
    assert max(len(body.encode()) for body in bodies) <= MAX_MESSAGE_BYTES
    assert len(bodies) > 2
    assert sorted(item.key for body in bodies for item in CopyBatch.from_json(body).items) == keys


class FlakySends:
    """An SQS client whose SendMessageBatch fails the first entry of the first ``failures`` calls."""

    def __init__(self, real: Any, failures: int, sender_fault: bool = False) -> None:
        self._real = real
        self.failures = failures
        self._sender_fault = sender_fault
        self.calls = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        if self.failures:
            self.failures -= 1
            failed, sent = Entries[:1], Entries[1:]
            response = self._real.send_message_batch(QueueUrl=QueueUrl, Entries=sent) if sent else {"Successful": []}
            fault = {"Id": failed[0]["Id"], "SenderFault": self._sender_fault, "Code": "InternalError", "Message": "injected"}
            return {"Successful": response.get("Successful", []), "Failed": [fault]}
        return self._real.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_failed_batch_entries_are_sent_again(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [f"k{i:04d}" for i in range(1000)]
    fill(aws, keys)
    flaky = FlakySends(clients.sqs(), failures=2)
    monkeypatch.setattr(clients, "sqs", lambda: flaky)

    assert app.lambda_handler(aws.event(aws.queues.list_url, task()), context()) == {"batchItemFailures": []}

    assert flaky.failures == 0 and flaky.calls == 3
    assert sorted(copied_keys(aws)) == keys


def test_batches_that_cannot_be_sent_fail_the_record(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(aws, ["a", "b"])
    flaky = FlakySends(clients.sqs(), failures=1, sender_fault=True)
    monkeypatch.setattr(clients, "sqs", lambda: flaky)
    event = aws.event(aws.queues.list_url, task())

    response = app.lambda_handler(event, context())

    # Reported, so SQS delivers the task again, rather than a batch silently dropped.
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_unreadable_task_goes_to_the_dlq_with_its_reason(aws: Aws) -> None:
    fill(aws, ["a"])
    event = aws.event(aws.queues.list_url, task(), '{"v": 2, "type": "list"}')

    assert app.lambda_handler(event, context()) == {"batchItemFailures": []}

    assert copied_keys(aws) == ["a"]
    [letter] = aws.dead_letters(aws.queues.list_dlq_url)
    assert letter.code == "InvalidMessage" and "unsupported message version 2" in letter.message


def test_a_task_past_the_hop_bound_goes_to_the_dlq_and_lists_nothing(aws: Aws, monkeypatch: Any) -> None:
    monkeypatch.setenv("MAX_HOPS", "20")
    handling.configuration.cache_clear()
    fill(aws, ["k1", "k2"])

    assert app.lambda_handler(aws.event(aws.queues.list_url, task(hops=21)), context()) == {"batchItemFailures": []}

    assert aws.drain(aws.queues.copy_url) == []
    [letter] = aws.dead_letters(aws.queues.list_dlq_url)
    assert (letter.job_id, letter.code) == ("job-1", "HopLimitExceeded")
    assert "re-queued 21 times" in letter.message and "limit of 20" in letter.message


@pytest.mark.parametrize(
    ("body", "sealed", "reason"),
    [
        (ListTask("job-1", SOURCE, "someone-elses-bucket", mode="delete").to_json(), True, "destination bucket 'someone-elses-bucket'"),
        (ListTask("job-1", SOURCE, DEST, mode="delete").to_json(), False, "not signed"),
    ],
    ids=["foreign-bucket", "unsigned-delete"],
)
def test_a_task_the_stack_did_not_send_touches_nothing(aws: Aws, body: str, sealed: bool, reason: str) -> None:
    aws.s3.create_bucket(Bucket="someone-elses-bucket")
    for bucket in (DEST, "someone-elses-bucket"):
        aws.s3.put_object(Bucket=bucket, Key="precious", Body=b"keep me")

    assert app.lambda_handler(aws.event(aws.queues.list_url, body, sealed=sealed), context()) == {"batchItemFailures": []}

    for bucket in (DEST, "someone-elses-bucket"):
        assert [o["Key"] for o in aws.s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["precious"]
    [letter] = aws.dead_letters(aws.queues.list_dlq_url)
    assert letter.code == "InvalidMessage" and reason in letter.message


def sent_delays(aws: Aws, run: Any) -> list[int]:
    """The DelaySeconds of every copy batch the lister sends while ``run()`` runs."""
    delays: list[int] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        if params["QueueUrl"] == aws.queues.copy_url:
            delays.extend(entry["DelaySeconds"] for entry in params["Entries"])

    clients.sqs().meta.events.register("provide-client-params.sqs.SendMessageBatch", capture)
    run()
    return delays


@pytest.mark.parametrize("copiers, spread", [("1", True), (None, False)])
def test_a_deployed_lister_spreads_its_batches_over_the_copy_backlog_and_local_mode_does_not(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, copiers: str | None, spread: bool
) -> None:
    fill(aws, [f"k{i:04d}" for i in range(2_000)])
    waiting = [{"Id": str(i), "MessageBody": "older batch"} for i in range(10)]
    for _ in range(30):  # 300 batches wait, and about 125 to come (half this task's): one copier takes 85 s
        aws.sqs.send_message_batch(QueueUrl=aws.queues.copy_url, Entries=waiting)
    if copiers:
        monkeypatch.setenv("COPY_MAX_CONCURRENCY", copiers)

    delays = sent_delays(aws, lambda: app.lambda_handler(aws.event(aws.queues.list_url, task()), context()))

    assert len(delays) == 20
    if spread:
        assert all(0 <= d <= (300 + 125) // 5 for d in delays) and len(set(delays)) > 5
        depths = aws.sqs.get_queue_attributes(QueueUrl=aws.queues.copy_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
        assert int(depths["Attributes"]["ApproximateNumberOfMessagesDelayed"]) > 0
    else:
        assert set(delays) == {0}


def test_open_list_tasks_count_as_copy_work_to_come_once_batches_wait(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(aws, [f"k{i:04d}" for i in range(2_000)])
    aws.sqs.send_message_batch(QueueUrl=aws.queues.copy_url, Entries=[{"Id": str(i), "MessageBody": "older batch"} for i in range(10)])
    event = aws.event(aws.queues.list_url, task())
    # Four more list tasks wait: 4 x 250 batches to come, and half of this one's 250, which one
    # copier takes ~230 s over.
    aws.sqs.send_message_batch(QueueUrl=aws.queues.list_url, Entries=[{"Id": str(i), "MessageBody": "other task"} for i in range(4)])
    monkeypatch.setenv("COPY_MAX_CONCURRENCY", "1")

    delays = sent_delays(aws, lambda: app.lambda_handler(event, context()))

    assert len(delays) == 20 and max(delays) <= (10 + 4 * 250 + 125) // 5
    # Ten waiting batches alone would spread over 2 s at most.
    assert max(delays) > 100


def test_a_copy_backlog_that_cannot_be_read_sends_batches_at_once(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(aws, [f"k{i:04d}" for i in range(300)])
    monkeypatch.setenv("COPY_MAX_CONCURRENCY", "1")

    def refused(**_: Any) -> None:
        raise handling.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetQueueAttributes")

    monkeypatch.setattr(clients.sqs(), "get_queue_attributes", refused)
    delays = sent_delays(aws, lambda: app.lambda_handler(aws.event(aws.queues.list_url, task()), context()))

    assert delays == [0, 0, 0]
    assert sorted(copied_keys(aws)) == [f"k{i:04d}" for i in range(300)]
