"""The lister as a sync: it merge-joins source and destination and acts only on differences."""

import pytest

from s3fanout.lister import list_range
from s3fanout.messages import CopyBatch, ListTask
from s3fanout.outbox import Outbox
from s3fanout.s3errors import ListingError, S3Failure
from tests.unit.fake_aws import KEY, FakeS3, FakeSQS, client_error

LIST_URL, COPY_URL = "https://sqs.test/list", "https://sqs.test/copy"
PLENTY = lambda: 900_000  # noqa: E731
SHORT = lambda: 1_000  # noqa: E731


def run(s3, task, remaining_ms=PLENTY):
    sqs = FakeSQS()
    outcome = list_range(task, s3=s3, outbox=Outbox(sqs, KEY, LIST_URL, COPY_URL), remaining_ms=remaining_ms)
    sent = [item.key for body in sqs.bodies(COPY_URL) for batch in [CopyBatch.from_json(body)] for item in batch.items]
    return outcome, sent, [ListTask.from_json(body) for body in sqs.bodies(LIST_URL)]


def test_only_missing_and_changed_keys_are_queued():
    # FakeS3 gives every key the same ETag for the same length: "bb" differs from "b" in size.
    s3 = FakeS3(["a", "bb", "c", "d"], buckets={"dst": ["b", "c", "orphan", "zz"]})
    outcome, sent, _ = run(s3, ListTask("job", "src", "dst"))
    assert sent == ["a", "bb", "d"]
    assert (outcome.counts.keys_listed, outcome.counts.keys_skipped, outcome.counts.orphans_found, outcome.counts.objects_deleted) == (4, 1, 3, 0)
    # Orphans are only counted when copying: nothing deleted, nothing to confirm.
    assert s3.delete_requests == [] and s3.head_requests == []


def test_an_unchanged_range_queues_nothing():
    keys = [f"k{i:04d}" for i in range(2500)]
    s3 = FakeS3(keys, buckets={"dst": keys})
    outcome, sent, _ = run(s3, ListTask("job", "src", "dst"))
    assert sent == [] and outcome.counts.keys_skipped == 2500 and outcome.counts.copy_batches_sent == 0
    # Two listings of three pages each (and a few one-key probes of how far the open-ended range
    # goes, to decide whether to split it): no request per object.
    pages = [r for r in s3.list_requests if r["MaxKeys"] > 1]
    assert [r["Bucket"] for r in pages].count("src") == 3 and len(pages) == 6
    assert len(s3.list_requests) - len(pages) <= 20
    assert s3.copy_requests == [] and s3.delete_requests == []


def test_force_copies_everything_without_listing_the_destination():
    s3 = FakeS3(["a", "b"], buckets={"dst": ["a", "b"]})
    outcome, sent, _ = run(s3, ListTask("job", "src", "dst", compare=False))
    assert sent == ["a", "b"] and outcome.counts.keys_skipped == 0
    assert {r["Bucket"] for r in s3.list_requests} == {"src"}


def test_delete_mode_removes_exactly_the_orphans_and_copies_nothing():
    orphans = [f"gone/{i:04d}" for i in range(1500)]
    s3 = FakeS3(["keep/a", "new"], buckets={"dst": ["keep/a", *orphans]})
    outcome, sent, _ = run(s3, ListTask("job", "src", "dst", mode="delete"))
    assert sent == []
    assert outcome.counts.objects_deleted == 1500
    # The copy pass counted what the delete pass lists again.
    assert outcome.counts.orphans_found == outcome.counts.keys_listed == 0
    assert s3.buckets["dst"] == ["keep/a"]
    assert all(len(r["Keys"]) <= 1000 for r in s3.delete_requests)
    # Each orphan was first confirmed missing from the source, with one HeadObject.
    assert sorted(r["Key"] for r in s3.head_requests) == orphans
    assert {r["Bucket"] for r in s3.head_requests} == {"src"}


def test_delete_mode_respects_prefix_and_range():
    s3 = FakeS3([], buckets={"dst": ["a/1", "a/5", "a/9", "b/1"]})
    outcome, _, _ = run(s3, ListTask("job", "src", "dst", prefix="a/", after="a/1", until="a/5", mode="delete"))
    assert outcome.counts.objects_deleted == 1 and s3.buckets["dst"] == ["a/1", "a/9", "b/1"]


def test_hand_on_after_the_source_ends_continues_with_the_destinations_orphans():
    s3 = FakeS3(["a"], buckets={"dst": [f"z{i:04d}" for i in range(2500)]}, max_page=1000)
    outcome, _, handed = run(s3, ListTask("job", "src", "dst", mode="delete"), remaining_ms=SHORT)
    # The first group settles "a" (and no orphan before it); the rest goes on after it.
    assert outcome.counts.objects_deleted == 0 and handed == [ListTask("job", "src", "dst", after="a", resumed=1, mode="delete", hops=1)]
    done = 0
    task = handed[0]
    while True:
        outcome, _, handed = run(s3, task, remaining_ms=SHORT)
        done += outcome.counts.objects_deleted
        if not handed:
            break
        task = handed[0]
    assert done == 2500 and s3.buckets["dst"] == []


class GappySourceS3(FakeS3):
    """A store whose listings of the source leave out keys it holds, as LocalStack's once left
    out 484 of 1,928: each looks like an orphan to a merge-join against the destination."""

    def __init__(self, keys, *, unlisted, **kwargs):
        super().__init__([*keys, *unlisted], **kwargs)
        self.unlisted = set(unlisted)

    def list_objects_v2(self, **request):
        response = super().list_objects_v2(**request)
        if request["Bucket"] == "src":
            response["Contents"] = [entry for entry in response.get("Contents", []) if entry["Key"] not in self.unlisted]
        return response


def test_delete_mode_deletes_nothing_when_the_source_listing_left_out_a_key_the_source_has():
    s3 = GappySourceS3(["a", "c"], unlisted=["b"], buckets={"dst": ["a", "b", "b2", "c", "z"]})

    with pytest.raises(ListingError) as raised:
        run(s3, ListTask("job", "src", "dst", mode="delete"))

    assert raised.value.message == "key 'b' is missing from the listing of bucket 'src', but HeadObject finds it there: the listing is wrong"
    # Not "b", and not the real orphan "b2" of the same group either.
    assert s3.delete_requests == [] and s3.buckets["dst"] == ["a", "b", "b2", "c", "z"]


def test_delete_mode_still_deletes_the_real_orphans_of_a_correct_listing():
    s3 = GappySourceS3(["a", "c"], unlisted=[], buckets={"dst": ["a", "b", "b2", "c", "z"]})
    outcome, _, _ = run(s3, ListTask("job", "src", "dst", mode="delete"))
    assert outcome.counts.objects_deleted == 3 and s3.buckets["dst"] == ["a", "c"]
    assert sorted(r["Key"] for r in s3.head_requests) == ["b", "b2", "z"]


class SourceHeadFails(FakeS3):
    def __init__(self, *args, error, **kwargs):
        super().__init__(*args, **kwargs)
        self.error = error

    def head_object(self, *, Bucket, Key):
        self.head_requests.append({"Bucket": Bucket, "Key": Key})
        raise self.error


@pytest.mark.parametrize(
    "error, code",
    [
        (client_error("AccessDenied", "Access Denied", 403, "HeadObject"), "AccessDenied"),
        (client_error("InternalError", "try again", 500, "HeadObject"), "InternalError"),
        # An object encrypted with a customer-provided key exists, though HeadObject cannot read it.
        (client_error(None, "Bad Request", 400, "HeadObject"), "400"),
    ],
)
def test_delete_mode_deletes_nothing_an_answer_other_than_404_leaves_in_doubt(error, code):
    s3 = SourceHeadFails(["a"], buckets={"dst": ["a", "orphan"]}, error=error)
    with pytest.raises(S3Failure) as raised:
        run(s3, ListTask("job", "src", "dst", mode="delete"))
    assert raised.value.code == code and "'orphan'" in raised.value.message
    assert s3.delete_requests == [] and s3.buckets["dst"] == ["a", "orphan"]


def test_delete_mode_deletes_nothing_when_a_listing_breaks_its_order():
    class Unordered(FakeS3):
        def list_objects_v2(self, **request):
            response = super().list_objects_v2(**request)
            if request["Bucket"] == "src":
                response["Contents"].reverse()
            return response

    s3 = Unordered(["a", "c"], buckets={"dst": ["a", "b", "c"]})
    with pytest.raises(ListingError, match=r"listing of bucket 'src' \(prefix ''\), page 1: key 'a' after 'c'"):
        run(s3, ListTask("job", "src", "dst", mode="delete"))
    assert s3.delete_requests == [] and s3.head_requests == []


def test_each_bucket_is_listed_through_the_client_of_its_region():
    source, dest = FakeS3(["a", "b", "c"]), FakeS3(buckets={"dst": ["b", "z"]})
    task = ListTask("job", "src", "dst", source_region="us-west-1", dest_region="eu-west-1")
    sqs = FakeSQS()
    list_range(task, s3=source, dest_s3=dest, outbox=Outbox(sqs, KEY, LIST_URL, COPY_URL), remaining_ms=lambda: 900_000)
    assert {r["Bucket"] for r in source.list_requests} == {"src"}
    assert {r["Bucket"] for r in dest.list_requests} == {"dst"}
    [batch] = [CopyBatch.from_json(KEY.open(body)) for body in sqs.bodies(COPY_URL)]
    assert batch.regions == ("us-west-1", "eu-west-1")


def test_the_delete_pass_confirms_in_the_source_and_deletes_in_the_destination():
    source, dest = FakeS3(["keep"]), FakeS3(buckets={"dst": ["keep", "orphan"]})
    task = ListTask("job", "src", "dst", mode="delete")
    list_range(task, s3=source, dest_s3=dest, outbox=Outbox(FakeSQS(), KEY, LIST_URL, COPY_URL), remaining_ms=lambda: 900_000)
    assert [r["Key"] for r in source.head_requests] == ["orphan"] and dest.head_requests == []
    assert [key for r in dest.delete_requests for key in r["Keys"]] == ["orphan"] and source.delete_requests == []


def test_a_small_range_is_listed_in_small_pages_on_both_sides():
    keys = [f"k{i:04d}" for i in range(300)]
    s3 = FakeS3(keys, buckets={"dst": keys})
    outcome, sent, _ = run(s3, ListTask("job", "src", "dst", after="k0099", until="k0149", page_keys=60))
    assert sent == [] and outcome.counts.keys_skipped == 50
    # The source's page as the seeder sized it; the destination's as many as the source's, and a few.
    assert [(r["Bucket"], r["MaxKeys"]) for r in s3.list_requests] == [("src", 60), ("dst", 60)]


def test_a_destination_empty_at_seeding_is_listed_in_pages_of_a_few_keys():
    # Later ranges' copies have landed: a page sized to the source's would answer 600 of them.
    keys = [f"k{i:04d}" for i in range(1000)]
    s3 = FakeS3(keys, buckets={"dst": keys[700:]})
    outcome, sent, _ = run(s3, ListTask("job", "src", "dst", until="k0599", page_keys=610, dest_empty=True))
    assert sent == keys[:600] and outcome.counts.keys_skipped == 0
    assert [(r["Bucket"], r["MaxKeys"]) for r in s3.list_requests] == [("src", 610), ("dst", 10)]


def test_a_range_listed_again_after_its_copies_skips_them_in_full_pages():
    # The job's own copies of this range (its lister died after sending them): what a destination
    # empty at seeding holds of the range goes on in full pages once a small one comes back full.
    keys = [f"k{i:04d}" for i in range(1500)]
    s3 = FakeS3(keys, buckets={"dst": keys[:1200]})
    outcome, sent, _ = run(s3, ListTask("job", "src", "dst", dest_empty=True))
    assert sent == keys[1200:] and outcome.counts.keys_skipped == 1200
    assert [r["MaxKeys"] for r in s3.list_requests if r["Bucket"] == "dst"] == [10, 1000, 1000]


def test_a_destination_fuller_than_the_source_goes_on_in_full_pages():
    orphans = [f"b{i:03d}" for i in range(50)]
    s3 = FakeS3(["a"], buckets={"dst": ["a", *orphans]})
    outcome, _, _ = run(s3, ListTask("job", "src", "dst"))
    assert outcome.counts.orphans_found == 50
    assert [r["MaxKeys"] for r in s3.list_requests if r["Bucket"] == "dst"] == [11, 1000]


def test_a_split_or_handed_on_range_lists_full_pages_again():
    keys = [f"k{i:05d}" for i in range(3000)]
    s3 = FakeS3(keys, buckets={"dst": keys})
    _, _, handed_on = run(s3, ListTask("job", "src", "dst", until="k02999", page_keys=40), remaining_ms=SHORT)
    assert handed_on and all(task.page_keys is None for task in handed_on)
