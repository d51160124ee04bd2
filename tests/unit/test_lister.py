from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3fanout.keyspace import KeyRange
from s3fanout.lister import list_range
from s3fanout.messages import CopyBatch, CopyItem, ListTask
from s3fanout.outbox import Outbox
from tests.unit.fake_aws import KEY, FakeS3, FakeSQS

LIST_URL, COPY_URL = "https://sqs.test/list", "https://sqs.test/copy"
PLENTY = lambda: 900_000  # noqa: E731 - milliseconds left: never short of time
SHORT = lambda: 1_000  # noqa: E731 - below the stop margin after every page


def task(after=None, until=None, resumed=0, prefix="", hops=0):
    return ListTask("job", "src", "dst", prefix, after, until, resumed, hops=hops)


def run(s3, t, remaining_ms=PLENTY, sqs=None):
    sqs = sqs or FakeSQS()
    outcome = list_range(t, s3=s3, outbox=Outbox(sqs, KEY, LIST_URL, COPY_URL), remaining_ms=remaining_ms)
    return outcome, sqs


def copy_batches(sqs):
    return [CopyBatch.from_json(body) for body in sqs.bodies(COPY_URL)]


def sent_keys(sqs):
    return [item.key for batch in copy_batches(sqs) for item in batch.items]


def handed_on(sqs):
    return [ListTask.from_json(KEY.open(body)) for body in sqs.bodies(LIST_URL)]


KEYS = [f"obj/{i:05d}" for i in range(1234)]


def test_keys_go_to_the_copy_queue_in_batches_of_100_in_order():
    s3 = FakeS3(KEYS, max_page=300)
    outcome, sqs = run(s3, task())
    batches = copy_batches(sqs)
    assert [len(b.items) for b in batches] == [100] * 12 + [34]
    assert sent_keys(sqs) == KEYS
    assert (outcome.counts.keys_listed, outcome.counts.copy_batches_sent, outcome.handed_on) == (1234, 13, None)
    assert len(s3.source_list_requests()) == 5
    assert outcome.counts.bytes_listed == sum(FakeS3.size_of(k) for k in KEYS)
    assert handed_on(sqs) == []


def test_batches_carry_the_job_buckets_size_and_etag():
    s3 = FakeS3(["a", "b"])
    _, sqs = run(s3, task())
    [batch] = copy_batches(sqs)
    assert (batch.job_id, batch.source_bucket, batch.dest_bucket) == ("job", "src", "dst")
    assert batch.items == tuple(CopyItem(k, FakeS3.size_of(k), FakeS3.etag_of(k)) for k in ["a", "b"])


def test_only_the_tasks_range_and_prefix_are_listed():
    s3 = FakeS3(KEYS + ["other/1", "obj0"], max_page=300)
    _, sqs = run(s3, task("obj/00099", "obj/00200", prefix="obj/"))
    assert sent_keys(sqs) == KEYS[100:201]


def test_short_of_time_the_lister_sends_the_partial_batch_and_hands_on_the_rest():
    s3 = FakeS3(KEYS, max_page=250)
    outcome, sqs = run(s3, task(resumed=2), remaining_ms=SHORT)
    assert len(s3.source_list_requests()) == 1
    assert [len(b.items) for b in copy_batches(sqs)] == [100, 100, 50]
    assert sent_keys(sqs) == KEYS[:250]
    rest = task(after=KEYS[249], resumed=3, hops=1)
    assert outcome.handed_on == rest
    assert handed_on(sqs) == [rest]


def test_the_handed_on_task_lists_exactly_the_remaining_keys():
    s3 = FakeS3(KEYS, max_page=250)
    first, _ = run(s3, task(), remaining_ms=SHORT)
    outcome, sqs = run(s3, first.handed_on)
    assert sent_keys(sqs) == KEYS[250:]
    assert outcome.handed_on is None


def run_until_done(s3, start):
    """Run the lister short of time after every page, following hand-ons like the list queue would."""
    sqs, current, runs = FakeSQS(), start, 0
    while current is not None:
        outcome, _ = run(s3, current, remaining_ms=SHORT, sqs=sqs)
        current, runs = outcome.handed_on, runs + 1
        assert runs < 1000
    return sqs, runs


@pytest.mark.parametrize("after, until", [(None, None), (None, "obj/00500"), ("obj/00042", None), ("obj/00042", "obj/00999z")])
def test_a_run_of_hand_ons_sends_every_key_of_the_range_once(after, until):
    s3 = FakeS3(KEYS, max_page=97)
    sqs, runs = run_until_done(s3, task(after, until))
    expected = [k for k in KEYS if KeyRange(after, until).contains(k)]
    assert sent_keys(sqs) == expected
    assert [t.resumed for t in handed_on(sqs)] == list(range(1, runs))


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.text(alphabet="ab/é\x01日", min_size=1, max_size=5), max_size=60, unique=True),
    bounds=st.lists(st.none() | st.text(alphabet="ab/é\x01日", min_size=1, max_size=5), min_size=2, max_size=2),
    max_page=st.integers(min_value=1, max_value=9),
)
def test_hand_ons_never_lose_or_repeat_a_key(keys, bounds, max_page):
    after, until = bounds
    if after is not None and until is not None and after >= until:
        after, until = (until, after) if until < after else (None, until)
    s3 = FakeS3(keys, max_page=max_page)
    sqs, _ = run_until_done(s3, task(after, until))
    expected = Counter(k for k in keys if KeyRange(after, until).contains(k))
    assert Counter(sent_keys(sqs)) == expected


def test_a_range_whose_last_key_is_until_does_not_hand_on_an_empty_rest():
    s3 = FakeS3(KEYS, max_page=50)
    outcome, sqs = run(s3, task("obj/00049", "obj/00099"), remaining_ms=SHORT)
    assert sent_keys(sqs) == KEYS[50:100]
    assert outcome.handed_on is None and handed_on(sqs) == []


@pytest.mark.parametrize("until", ["obj/00099z", None])
def test_a_range_listed_to_its_end_does_not_hand_on_an_empty_rest(until):
    keys = KEYS[:100] if until is None else KEYS
    s3 = FakeS3(keys, max_page=1000)
    outcome, sqs = run(s3, task("obj/00049", until), remaining_ms=SHORT)
    assert sent_keys(sqs) == KEYS[50:100]
    assert outcome.handed_on is None and handed_on(sqs) == []


def test_an_empty_range_sends_nothing():
    s3 = FakeS3(KEYS)
    outcome, sqs = run(s3, task("zzz", None), remaining_ms=SHORT)
    assert (outcome.counts.keys_listed, outcome.counts.copy_batches_sent, outcome.handed_on) == (0, 0, None)
    assert sqs.batch_requests == []
