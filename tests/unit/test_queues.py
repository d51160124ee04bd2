from collections import Counter

import pytest

from s3fanout.queues import MAX_BATCH_BYTES, MAX_ENTRIES_PER_BATCH, SEND_ATTEMPTS, SendFailed, group_for_batches, send_messages
from tests.unit.fake_aws import FakeSQS

URL = "https://sqs.test/copy"
KIB = 1024


def no_sleep(seconds: float) -> None:
    pass


@pytest.mark.parametrize(
    "sizes, expected",
    [
        ([], []),
        ([1], [1]),
        ([1] * 10, [10]),
        ([1] * 11, [10, 1]),
        ([1] * 25, [10, 10, 5]),
        ([100 * KIB] * 3, [2, 1]),  # a third 100 KiB body would pass the 250 KiB request limit
        ([MAX_BATCH_BYTES, 1], [1, 1]),
        ([MAX_BATCH_BYTES - 1, 1], [2]),
    ],
)
def test_groups_respect_entry_count_and_total_bytes(sizes, expected):
    bodies = [str(i % 10) * size for i, size in enumerate(sizes)]
    groups = group_for_batches(bodies)
    assert [len(g) for g in groups] == expected
    assert [b for g in groups for b in g] == bodies
    assert all(len(g) <= MAX_ENTRIES_PER_BATCH and sum(len(b.encode()) for b in g) <= MAX_BATCH_BYTES for g in groups)


def test_groups_count_utf8_bytes_not_characters():
    body = "é" * (MAX_BATCH_BYTES // 2)  # exactly the limit in bytes
    assert group_for_batches([body, "x"]) == [[body], ["x"]]


def test_a_body_over_the_limit_raises_send_failed():
    with pytest.raises(SendFailed, match="exceeds"):
        group_for_batches(["ok", "x" * (MAX_BATCH_BYTES + 1)])


def test_every_body_is_sent_once_in_batches_of_ten():
    sqs = FakeSQS()
    bodies = [f"body-{i}" for i in range(23)]
    send_messages(sqs, URL, bodies, sleep=no_sleep)
    assert sqs.bodies(URL) == bodies
    assert [len(r["Entries"]) for r in sqs.batch_requests] == [10, 10, 3]


def test_failed_entries_are_resent_and_only_those():
    bodies = [f"body-{i}" for i in range(10)]
    sqs = FakeSQS(fail_times={"body-2": 1, "body-5": 3, "body-9": 2})
    sleeps = []
    send_messages(sqs, URL, bodies, sleep=sleeps.append)
    assert Counter(sqs.bodies(URL)) == Counter(bodies)
    sent_per_call = [{e["MessageBody"] for e in r["Entries"]} for r in sqs.batch_requests]
    assert sent_per_call == [set(bodies), {"body-2", "body-5", "body-9"}, {"body-5", "body-9"}, {"body-5"}]
    assert len(sleeps) == 3 and all(s > 0 for s in sleeps)


def test_resent_entries_keep_their_ids():
    sqs = FakeSQS(fail_times={"b": 1})
    send_messages(sqs, URL, ["a", "b", "c"], sleep=no_sleep)
    first, second = sqs.batch_requests
    assert [(e["Id"], e["MessageBody"]) for e in second["Entries"]] == [(e["Id"], e["MessageBody"]) for e in first["Entries"] if e["MessageBody"] == "b"]


def test_sender_fault_raises_at_once():
    sqs = FakeSQS(sender_faults={"bad"}, fail_times={"flaky": 1})
    with pytest.raises(SendFailed, match="rejected"):
        send_messages(sqs, URL, ["good", "bad", "flaky"], sleep=no_sleep)
    assert len(sqs.batch_requests) == 1


def test_entries_that_keep_failing_raise_after_send_attempts():
    sqs = FakeSQS(fail_times={"stuck": SEND_ATTEMPTS + 5})
    sleeps = []
    with pytest.raises(SendFailed, match=f"after {SEND_ATTEMPTS} attempts"):
        send_messages(sqs, URL, ["fine", "stuck"], sleep=sleeps.append)
    assert len(sqs.batch_requests) == SEND_ATTEMPTS
    assert len(sleeps) == SEND_ATTEMPTS - 1
    assert sqs.bodies(URL) == ["fine"]


def test_an_entry_accepted_on_the_last_attempt_does_not_raise():
    sqs = FakeSQS(fail_times={"late": SEND_ATTEMPTS - 1})
    send_messages(sqs, URL, ["late"], sleep=no_sleep)
    assert sqs.bodies(URL) == ["late"]


@pytest.mark.parametrize("delay", [0, 7, 900])
def test_delay_seconds_passes_through_to_every_entry_and_resend(delay):
    sqs = FakeSQS(fail_times={"b": 1})
    send_messages(sqs, URL, ["a", "b"], delay_seconds=delay, sleep=no_sleep)
    assert {e["DelaySeconds"] for r in sqs.batch_requests for e in r["Entries"]} == {delay}


def test_each_message_can_have_its_own_delay_and_keeps_it_when_resent():
    sqs = FakeSQS(fail_times={"b": 1})
    bodies = [f"m{i}" for i in range(12)] + ["b"]
    delays = list(range(12)) + [900]
    send_messages(sqs, URL, bodies, delay_seconds=delays, sleep=no_sleep)
    sent = {e["MessageBody"]: e["DelaySeconds"] for r in sqs.batch_requests for e in r["Entries"]}
    assert sent == dict(zip(bodies, delays, strict=True))
    assert [e["DelaySeconds"] for r in sqs.batch_requests for e in r["Entries"] if e["MessageBody"] == "b"] == [900, 900]


def test_a_delay_for_each_message_must_match_the_messages():
    with pytest.raises(ValueError, match="2 delays for 3 messages"):
        send_messages(FakeSQS(), URL, ["a", "b", "c"], delay_seconds=[1, 2], sleep=no_sleep)
