"""Redrive and purge against in-process moto SQS: what moves, what stays, nothing lost."""

from __future__ import annotations

from s3fanout.deadletter import HOP_LIMIT_EXCEEDED, dead_letter_attributes
from s3fanout.dlq import purge_job, redrive
from s3fanout.messages import CopyBatch, CopyItem, KeyFailure, ListTask
from s3fanout.signing import MessageKey
from tests.integration.conftest import DEST, KEY, SOURCE, Aws


def failure(code: str) -> KeyFailure:
    return KeyFailure(code, f"{code} happened", 5, "2026-01-01T00:00:00+00:00", "2026-01-01T00:05:00+00:00")


def put_dead(aws: Aws, queue_url: str, body: str, attributes: dict[str, str] | None = None) -> None:
    extra = {"MessageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}} if attributes else {}
    aws.sqs.send_message(QueueUrl=queue_url, MessageBody=body, **extra)


def fill_dlqs(aws: Aws) -> None:
    given_up = CopyBatch(
        "job-1",
        SOURCE,
        DEST,
        (CopyItem("denied/a", 1, '"e1"', failure("AccessDenied")), CopyItem("gone", 2, None, failure("NoSuchKey")), CopyItem("denied/é", 3, None, failure("AccessDenied"))),
    )
    put_dead(aws, aws.queues.copy_dlq_url, KEY.seal(given_up.to_json()), dead_letter_attributes("copier"))
    # Moved by SQS's redrive policy after crashing: no attributes.
    put_dead(aws, aws.queues.copy_dlq_url, KEY.seal(CopyBatch("job-2", SOURCE, DEST, (CopyItem("crashed/1", 1), CopyItem("crashed/2", 1))).to_json()))
    put_dead(aws, aws.queues.list_dlq_url, KEY.seal(ListTask("job-1", SOURCE, DEST, "", "a", "m").to_json()))
    put_dead(aws, aws.queues.copy_dlq_url, "not json", dead_letter_attributes("copier", "body is not JSON"))


def keys_on(aws: Aws, queue_url: str) -> list[tuple[str, str | None]]:
    """(key, failure code) of every copy item on the queue, consuming it."""
    return sorted(
        (item.key, item.failure.code if item.failure else None) for body in aws.drain(queue_url) for item in CopyBatch.from_json(body).items
    )


def test_redrive_moves_every_readable_failure_back_to_its_queue(aws: Aws) -> None:
    fill_dlqs(aws)

    result = redrive(aws.sqs, aws.queues, KEY)

    assert (result.keys, result.ranges, result.left) == (5, 1, 1)
    # Keys the copier gave up on start afresh; a batch SQS moved goes back as it was.
    assert keys_on(aws, aws.queues.copy_url) == [("crashed/1", None), ("crashed/2", None), ("denied/a", None), ("denied/é", None), ("gone", None)]
    [task] = aws.drain(aws.queues.list_url)
    assert ListTask.from_json(KEY.open(task)) == ListTask("job-1", SOURCE, DEST, "", "a", "m")
    [left] = aws.dead_letters(aws.queues.copy_dlq_url)
    assert left.code == "InvalidMessage"
    assert aws.dead_letters(aws.queues.list_dlq_url) == []


def test_redrive_by_reason_leaves_the_other_keys_of_a_message_in_the_dlq(aws: Aws) -> None:
    fill_dlqs(aws)

    result = redrive(aws.sqs, aws.queues, KEY, reason="AccessDenied")

    assert (result.keys, result.ranges, result.left) == (2, 0, 5)
    assert keys_on(aws, aws.queues.copy_url) == [("denied/a", None), ("denied/é", None)]
    assert aws.drain(aws.queues.list_url) == []
    remaining = sorted((letter.key or letter.key_range or "", letter.code) for letter in aws.dead_letters(aws.queues.copy_dlq_url))
    assert remaining == [("", "InvalidMessage"), ("crashed/1", "BatchFailed"), ("crashed/2", "BatchFailed"), ("gone", "NoSuchKey")]
    assert [letter.code for letter in aws.dead_letters(aws.queues.list_dlq_url)] == ["ListFailed"]


def test_redrive_of_another_job_moves_nothing(aws: Aws) -> None:
    fill_dlqs(aws)

    result = redrive(aws.sqs, aws.queues, KEY, job_id="job-9")

    assert (result.keys, result.ranges, result.left) == (0, 0, 7)
    assert aws.drain(aws.queues.copy_url) == [] and aws.drain(aws.queues.list_url) == []
    assert len(aws.dead_letters(aws.queues.copy_dlq_url)) == 6


def test_purge_of_one_job_keeps_the_others(aws: Aws) -> None:
    fill_dlqs(aws)

    assert purge_job(aws.sqs, aws.queues, "job-1") == 4

    left = sorted(letter.code for letter in aws.dead_letters(aws.queues.copy_dlq_url) + aws.dead_letters(aws.queues.list_dlq_url))
    assert left == ["BatchFailed", "BatchFailed", "InvalidMessage"]


def test_redrive_leaves_what_the_key_did_not_seal(aws: Aws) -> None:
    # Someone put work on the DLQ, hoping a redrive would seal it for them.
    forged = ListTask("job-1", SOURCE, "someone-elses-bucket", mode="delete").to_json()
    put_dead(aws, aws.queues.list_dlq_url, forged)
    put_dead(aws, aws.queues.list_dlq_url, MessageKey(b"another key").seal(forged))

    result = redrive(aws.sqs, aws.queues, KEY)

    assert (result.keys, result.ranges, result.left) == (0, 0, 2)
    assert aws.drain(aws.queues.list_url) == []
    assert [letter.code for letter in aws.dead_letters(aws.queues.list_dlq_url)] == ["ListFailed", "ListFailed"]


def test_redrive_restarts_the_hop_count_of_a_task_stopped_by_the_bound(aws: Aws) -> None:
    stopped = ListTask("job-1", SOURCE, DEST, "", "a", "m", hops=1001)
    put_dead(aws, aws.queues.list_dlq_url, KEY.seal(stopped.to_json()), dead_letter_attributes("lister", "re-queued 1001 times", HOP_LIMIT_EXCEEDED))
    [letter] = aws.dead_letters(aws.queues.list_dlq_url)
    assert (letter.job_id, letter.code, letter.message) == ("job-1", HOP_LIMIT_EXCEEDED, "re-queued 1001 times")

    result = redrive(aws.sqs, aws.queues, KEY, reason=HOP_LIMIT_EXCEEDED)

    assert (result.ranges, result.left) == (1, 0)
    [task] = aws.drain(aws.queues.list_url)
    assert ListTask.from_json(KEY.open(task)) == ListTask("job-1", SOURCE, DEST, "", "a", "m", hops=0)
