import pytest

from s3fanout.dlq import PEEK_HIDE_SECONDS, DeadLetter, dead_letters, peek
from s3fanout.messages import CopyBatch, CopyItem, KeyFailure, ListTask
from tests.unit.fake_aws import ScriptedReceiveSQS

QUEUE = "copy-dlq"
SENT_MS = "1767225600000"  # 2026-01-01T00:00:00Z
SENT = "2026-01-01T00:00:00+00:00"
DENIED = KeyFailure("AccessDenied", "Access Denied", 1, "t1", "t1")
SLOW = KeyFailure("SlowDown", "Please reduce your request rate.", 5, "t0", "t4")


def message(body: str, dead_lettered_by_copier: bool = False) -> dict:
    found = {"MessageId": "m", "ReceiptHandle": "rh", "Body": body, "Attributes": {"SentTimestamp": SENT_MS}}
    if dead_lettered_by_copier:
        found["MessageAttributes"] = {"DeadLetteredBy": {"DataType": "String", "StringValue": "copier"}}
    return found


def test_items_with_failures_become_one_letter_per_key_with_their_error():
    batch = CopyBatch("job", "src", "dst", (CopyItem("a/1", 1, None, DENIED), CopyItem("a/2", 2, '"e"', SLOW)))
    letters = dead_letters(QUEUE, [message(batch.to_json(), dead_lettered_by_copier=True)])
    assert letters == [
        DeadLetter(QUEUE, "job", "src", "dst", "a/1", None, "AccessDenied", "Access Denied", 1, "t1", "t1"),
        DeadLetter(QUEUE, "job", "src", "dst", "a/2", None, "SlowDown", "Please reduce your request rate.", 5, "t0", "t4"),
    ]
    assert letters[0].subject == "s3://src/a/1"


def test_a_batch_moved_by_redrive_becomes_batch_failed_per_key():
    batch = CopyBatch("job", "src", "dst", (CopyItem("k1", 1), CopyItem("k2", 2)))
    letters = dead_letters(QUEUE, [message(batch.to_json())])
    assert [(lt.key, lt.code, lt.attempts, lt.first_failed, lt.last_failed) for lt in letters] == [
        ("k1", "BatchFailed", None, SENT, SENT),
        ("k2", "BatchFailed", None, SENT, SENT),
    ]
    assert all("every delivery" in lt.message for lt in letters)


def test_a_retried_batch_moved_by_redrive_is_batch_failed_not_its_earlier_error():
    batch = CopyBatch("job", "src", "dst", (CopyItem("k1", 1, None, SLOW),))
    [letter] = dead_letters(QUEUE, [message(batch.to_json())])
    assert letter.code == "BatchFailed"
    assert "every delivery" in letter.message and "before that: SlowDown" in letter.message


@pytest.mark.parametrize(
    "after, until, prefix, described",
    [
        (None, None, "", "prefix '', keys after start up to end"),
        ("data/a", "data/m", "data/", "prefix 'data/', keys after 'data/a' up to 'data/m'"),
        (None, "日本", "", "prefix '', keys after start up to '日本'"),
    ],
)
def test_a_list_task_becomes_one_list_failed_letter_with_a_readable_range(after, until, prefix, described):
    task = ListTask("job", "src", "dst", prefix, after, until, 2)
    [letter] = dead_letters("list-dlq", [message(task.to_json())])
    assert (letter.code, letter.key, letter.key_range, letter.job_id) == ("ListFailed", None, described, "job")
    assert (letter.first_failed, letter.last_failed) == (SENT, SENT)
    assert letter.subject == f"s3://src {described}"


@pytest.mark.parametrize("body", ["not json", "{}", '{"v": 2, "type": "copy"}', '{"v": 1, "type": "copy", "items": []}'])
def test_an_unparseable_body_becomes_invalid_message(body):
    [letter] = dead_letters(QUEUE, [message(body)])
    assert (letter.code, letter.key, letter.job_id, letter.source_bucket) == ("InvalidMessage", None, None, None)
    assert repr(body) in letter.message
    assert letter.subject == "(unreadable message)"


def test_a_message_without_attributes_has_no_timestamps():
    batch = CopyBatch("job", "src", "dst", (CopyItem("k", 1),))
    [letter] = dead_letters(QUEUE, [{"Body": batch.to_json()}])
    assert (letter.first_failed, letter.last_failed) == (None, None)


def scripted(count: int, script: list[list[str]]) -> ScriptedReceiveSQS:
    return ScriptedReceiveSQS({f"id{i}": f"body{i}" for i in range(count)}, script)


@pytest.mark.parametrize(
    "count, script",
    [
        (0, []),
        (3, [["id0", "id1", "id2"]]),
        (3, [["id0", "id1"], ["id1", "id0"], ["id2", "id1"]]),  # redeliveries mixed in
        (25, [[f"id{i}" for i in range(j, min(j + 10, 25))] for j in range(0, 25, 10)]),
        (12, [[f"id{i}" for i in range(10)], [], ["id3", "id10"], ["id11"]]),  # an empty short poll in between
    ],
)
def test_peek_returns_every_message_once_and_makes_all_visible_again(count, script):
    sqs = scripted(count, script)
    messages = peek(sqs, "dlq-url")
    assert sorted(m["MessageId"] for m in messages) == sorted(f"id{i}" for i in range(count))
    assert [m["Body"] for m in messages] == [sqs.bodies[m["MessageId"]] for m in messages]

    chunks = [r["Entries"] for r in sqs.visibility_requests]
    handles = len(sqs.handles_given)
    assert [len(c) for c in chunks] == [10] * (handles // 10) + ([handles % 10] if handles % 10 else [])
    assert all(len({e["Id"] for e in c}) == len(c) for c in chunks)
    assert [e["ReceiptHandle"] for c in chunks for e in c] == sqs.handles_given
    assert {e["VisibilityTimeout"] for c in chunks for e in c} <= {0}
    assert {r["QueueUrl"] for r in sqs.visibility_requests} <= {"dlq-url"}


def test_peek_hides_while_reading_and_stops_after_a_long_poll_without_new_messages():
    sqs = scripted(2, [["id0"], ["id0"], ["id1"]])
    peek(sqs, "dlq-url")
    # A poll without news is followed by a long poll, which asks every SQS server: a second
    # answer without news ends the read.
    assert len(sqs.receive_requests) == 3 + 2
    assert [r["WaitTimeSeconds"] > 0 for r in sqs.receive_requests] == [False, False, True, False, True]
    assert {r["VisibilityTimeout"] for r in sqs.receive_requests} == {PEEK_HIDE_SECONDS}
    assert {r["MaxNumberOfMessages"] for r in sqs.receive_requests} == {10}


def test_peek_makes_received_messages_visible_even_when_receive_fails():
    sqs = scripted(2, [["id0", "id1"]])
    calls = {"n": 0}
    receive = sqs.receive_message

    def flaky_receive(**request):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("network down")
        return receive(**request)

    sqs.receive_message = flaky_receive
    with pytest.raises(ConnectionError):
        peek(sqs, "dlq-url")
    assert [e["ReceiptHandle"] for r in sqs.visibility_requests for e in r["Entries"]] == sqs.handles_given
