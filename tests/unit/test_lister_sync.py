"""The lister as a sync: it merge-joins source and destination and acts only on differences."""

from s3fanout.lister import list_range
from s3fanout.messages import CopyBatch, ListTask
from tests.unit.fake_aws import FakeS3, FakeSQS

LIST_URL, COPY_URL = "https://sqs.test/list", "https://sqs.test/copy"
PLENTY = lambda: 900_000  # noqa: E731
SHORT = lambda: 1_000  # noqa: E731


def run(s3, task, remaining_ms=PLENTY):
    sqs = FakeSQS()
    outcome = list_range(task, s3=s3, sqs=sqs, list_queue_url=LIST_URL, copy_queue_url=COPY_URL, remaining_ms=remaining_ms)
    sent = [item.key for body in sqs.bodies(COPY_URL) for batch in [CopyBatch.from_json(body)] for item in batch.items]
    return outcome, sent, [ListTask.from_json(body) for body in sqs.bodies(LIST_URL)]


def test_only_missing_and_changed_keys_are_queued():
    # FakeS3 gives every key the same ETag for the same length: "bb" differs from "b" in size.
    s3 = FakeS3(["a", "bb", "c", "d"], buckets={"dst": ["b", "c", "orphan", "zz"]})
    outcome, sent, _ = run(s3, ListTask("job", "src", "dst"))
    assert sent == ["a", "bb", "d"]
    assert (outcome.keys, outcome.skipped, outcome.orphans, outcome.deleted) == (4, 1, 3, 0)
    assert s3.delete_requests == []


def test_an_unchanged_range_queues_nothing():
    keys = [f"k{i:04d}" for i in range(2500)]
    s3 = FakeS3(keys, buckets={"dst": keys})
    outcome, sent, _ = run(s3, ListTask("job", "src", "dst"))
    assert sent == [] and outcome.skipped == 2500 and outcome.batches == 0
    # Two listings of three pages each (and a few one-key probes of how far the open-ended range
    # goes, to decide whether to split it): no request per object.
    pages = [r for r in s3.list_requests if r["MaxKeys"] > 1]
    assert [r["Bucket"] for r in pages].count("src") == 3 and len(pages) == 6
    assert len(s3.list_requests) - len(pages) <= 20
    assert s3.copy_requests == [] and s3.delete_requests == []


def test_force_copies_everything_without_listing_the_destination():
    s3 = FakeS3(["a", "b"], buckets={"dst": ["a", "b"]})
    outcome, sent, _ = run(s3, ListTask("job", "src", "dst", compare=False))
    assert sent == ["a", "b"] and outcome.skipped == 0
    assert {r["Bucket"] for r in s3.list_requests} == {"src"}


def test_delete_mode_removes_exactly_the_orphans_and_copies_nothing():
    orphans = [f"gone/{i:04d}" for i in range(1500)]
    s3 = FakeS3(["keep/a", "new"], buckets={"dst": ["keep/a", *orphans]})
    outcome, sent, _ = run(s3, ListTask("job", "src", "dst", mode="delete"))
    assert sent == []
    assert outcome.deleted == outcome.orphans == 1500
    assert s3.buckets["dst"] == ["keep/a"]
    assert all(len(r["Keys"]) <= 1000 for r in s3.delete_requests)


def test_delete_mode_respects_prefix_and_range():
    s3 = FakeS3([], buckets={"dst": ["a/1", "a/5", "a/9", "b/1"]})
    outcome, _, _ = run(s3, ListTask("job", "src", "dst", prefix="a/", after="a/1", until="a/5", mode="delete"))
    assert outcome.deleted == 1 and s3.buckets["dst"] == ["a/1", "a/9", "b/1"]


def test_hand_on_after_the_source_ends_continues_with_the_destinations_orphans():
    s3 = FakeS3(["a"], buckets={"dst": [f"z{i:04d}" for i in range(2500)]}, max_page=1000)
    outcome, _, handed = run(s3, ListTask("job", "src", "dst", mode="delete"), remaining_ms=SHORT)
    # The first group settles "a" (and no orphan before it); the rest goes on after it.
    assert outcome.deleted == 0 and handed == [ListTask("job", "src", "dst", after="a", resumed=1, mode="delete")]
    done = 0
    task = handed[0]
    while True:
        outcome, _, handed = run(s3, task, remaining_ms=SHORT)
        done += outcome.deleted
        if not handed:
            break
        task = handed[0]
    assert done == 2500 and s3.buckets["dst"] == []
