"""A job of several destinations, and keys written under another prefix (--dest-prefix): the
source listed once per range, each destination merge-joined on its own, copy batches per
destination's job; the messages, scope checks and job records that carry it."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3fanout.compare import Action, merge_join, merge_join_each
from s3fanout.guard import Scope
from s3fanout.keyspace import KeyRange
from s3fanout.lister import list_range
from s3fanout.messages import CopyBatch, CopyItem, Destination, InvalidMessage, KeyRewrite, ListTask
from s3fanout.outbox import Outbox
from s3fanout.s3ops import ListedObject, ListedPage, list_pages_as
from tests.unit.fake_aws import KEY, FakeS3, FakeSQS

LIST_URL, COPY_URL = "https://sqs.test/list", "https://sqs.test/copy"


def pages(keys, size=2):
    objects = [ListedObject(key, len(key), "etag") for key in keys]
    chunks = [objects[i : i + size] for i in range(0, len(objects), size)]
    return [ListedPage(chunk, i == len(chunks) - 1) for i, chunk in enumerate(chunks)]


def two_destination_task(**fields):
    return ListTask("job", "src", "one", more_dests=(Destination("job-d2", "two"),), **fields)


def run(s3, task):
    sqs = FakeSQS()
    outcome = list_range(task, s3=s3, outbox=Outbox(sqs, KEY, LIST_URL, COPY_URL), remaining_ms=lambda: 900_000)
    return outcome, [CopyBatch.from_json(body) for body in sqs.bodies(COPY_URL)]


# ------------------------------------------------------------------------- the merge-join


def test_each_destination_gets_its_own_decisions_from_one_source_listing():
    source = pages(["a", "b", "c", "d"])
    groups = list(merge_join_each(source, [pages(["a", "c", "x"]), pages(["b", "d", "e", "f", "g"])]))
    one = [d for g in groups for d in g.per_dest[0]]
    two = [d for g in groups for d in g.per_dest[1]]
    assert [(d.key, d.action) for d in one] == [("a", Action.SKIP), ("b", Action.COPY), ("c", Action.SKIP), ("d", Action.COPY), ("x", Action.ORPHAN)]
    assert [(d.key, d.action) for d in two] == [("a", Action.COPY), ("b", Action.SKIP), ("c", Action.COPY), ("d", Action.SKIP), ("e", Action.ORPHAN), ("f", Action.ORPHAN), ("g", Action.ORPHAN)]
    assert groups[-1].last


@given(
    st.lists(st.text("abcdef", min_size=1, max_size=3), unique=True),
    st.lists(st.lists(st.text("abcdef", min_size=1, max_size=3), unique=True), min_size=1, max_size=3),
)
def test_every_group_settles_each_destination_up_to_its_checkpoint_and_each_join_matches_a_single_one(source_keys, dest_keys):
    source = sorted(source_keys)
    dests = [sorted(keys) for keys in dest_keys]
    groups = list(merge_join_each(pages(source), [pages(keys) for keys in dests]))
    for index, keys in enumerate(dests):
        alone = [(d.key, d.action) for g in merge_join(pages(source), pages(keys)) for d in g.decisions]
        assert [(d.key, d.action) for g in groups for d in g.per_dest[index]] == alone
    for group in groups:
        # A hand-on after any group resumes after its checkpoint: nothing decided lies beyond it.
        assert all(d.key <= group.checkpoint for decisions in group.per_dest for d in decisions)


# --------------------------------------------------------------------------- the lister


def test_the_source_is_listed_once_for_two_destinations_and_each_gets_what_it_lacks():
    keys = [f"k{i:04d}" for i in range(2500)]
    s3 = FakeS3(keys, buckets={"one": keys[:1000], "two": keys[1000:]})
    outcome, batches = run(s3, two_destination_task())
    pages_listed = [r["Bucket"] for r in s3.list_requests if r["MaxKeys"] > 1]
    assert (pages_listed.count("src"), pages_listed.count("one"), pages_listed.count("two")) == (3, 1, 2)
    copied = {job: sorted(item.key for batch in batches if batch.job_id == job for item in batch.items) for job in ("job", "job-d2")}
    assert copied == {"job": keys[1000:], "job-d2": keys[:1000]}
    assert {batch.dest_bucket for batch in batches if batch.job_id == "job-d2"} == {"two"}
    counts = outcome.by_job(two_destination_task())
    assert (counts["job"].keys_listed, counts["job"].keys_skipped) == (2500, 1000)
    assert (counts["job-d2"].keys_listed, counts["job-d2"].keys_skipped) == (2500, 1500)
    # The source's pages count once, in the first job's record.
    assert counts["job-d2"].list_requests == 2


def test_keys_are_compared_and_written_under_the_destination_prefix():
    # FakeS3 gives keys of one length the same size and ETag: "b/1" is identical to "a/1".
    s3 = FakeS3(["a/1", "a/2", "a/3", "c/x"], buckets={"one": ["a/2", "b/1", "b/orphan"], "two": ["a/3"]})
    task = ListTask("job", "src", "one", prefix="a/", dest_prefix="b/", more_dests=(Destination("job-d2", "two"),))
    outcome, batches = run(s3, task)
    by_job = {batch.job_id: batch for batch in batches}
    assert [item.key for item in by_job["job"].items] == ["a/2", "a/3"]
    assert by_job["job"].rekey == KeyRewrite("a/", "b/") and by_job["job"].dest_key("a/2") == "b/2"
    assert [item.key for item in by_job["job-d2"].items] == ["a/1", "a/2"] and by_job["job-d2"].rekey is None
    assert outcome.counts.orphans_found == 1 and outcome.counts.keys_skipped == 1
    assert {r["Prefix"] for r in s3.list_requests if r["Bucket"] == "one"} == {"b/"}


def test_the_delete_pass_deletes_a_rewritten_destinations_orphans_under_its_prefix():
    s3 = FakeS3(["a/1"], buckets={"one": ["new/1", "new/gone"]})
    outcome, _ = run(s3, ListTask("job", "src", "one", prefix="a/", dest_prefix="new/", mode="delete"))
    assert outcome.counts.objects_deleted == 1
    assert [key for request in s3.delete_requests for key in request["Keys"]] == ["new/gone"]
    # The source was asked whether it has the orphan, by the source's name for it.
    assert [request["Key"] for request in s3.head_requests] == ["a/gone"]


def test_a_rewritten_listing_names_keys_as_the_source_does():
    s3 = FakeS3(buckets={"one": ["new/x", "new/y", "new/z", "other"]})
    listed = [obj.key for page in list_pages_as(s3, "one", "a/", "new/", KeyRange("a/x", "a/y")) for obj in page]
    assert listed == ["a/y"]


# ---------------------------------------------------------------------------- messages


def test_a_task_of_several_destinations_round_trips_and_old_bodies_are_unchanged():
    task = ListTask("job", "src", "one", "p/", dest_prefix="q/", more_dests=(Destination("job-d2", "two", "eu-west-1", None), Destination("job-d3", "three", None, "r/")))
    assert ListTask.from_json(task.to_json()) == task
    assert task.job_ids == ("job", "job-d2", "job-d3")
    assert task.for_jobs(["job-d3"]).destinations == (Destination("job-d3", "three", None, "r/"),)
    assert "more" not in ListTask("job", "src", "one").to_json() and "rekey" not in CopyBatch("job", "src", "one", (CopyItem("k", 1),)).to_json()


@pytest.mark.parametrize(
    "fields",
    [
        {"all_versions": True},
        {"as_of": "2026-01-01T00:00:00+00:00"},
        {"mode": "delete"},
    ],
)
def test_several_destinations_are_refused_where_they_do_not_apply(fields):
    with pytest.raises(InvalidMessage):
        two_destination_task(**fields)


def test_a_rewrite_of_a_key_outside_its_prefix_is_refused():
    with pytest.raises(InvalidMessage):
        CopyBatch("job", "src", "one", (CopyItem("b/x", 1),), rekey=KeyRewrite("a/", "new/")).dest_key("b/x")


# ------------------------------------------------------------------------------- scope


def scope(**fields):
    return Scope("src", "one", "a/", **fields)


def test_the_scope_admits_only_its_destinations_and_their_prefixes():
    allowed = scope(dest_prefix="new/", more_dests=(("two", None),))
    allowed.check(ListTask("job", "src", "one", "a/", dest_prefix="new/", more_dests=(Destination("job-d2", "two"),)))
    allowed.check(CopyBatch("job", "src", "one", (CopyItem("a/k", 1),), rekey=KeyRewrite("a/", "new/")))
    refusals = [
        ListTask("job", "src", "one", "a/", dest_prefix="new/", more_dests=(Destination("job-d2", "three"),)),
        ListTask("job", "src", "one", "a/", dest_prefix="elsewhere/"),
        ListTask("job", "src", "two", "a/", dest_prefix="new/"),
        ListTask("job", "src", "one", "a/", "b/", dest_prefix="new/"),
        CopyBatch("job", "src", "one", (CopyItem("a/k", 1),), rekey=KeyRewrite("a/", "other/")),
        CopyBatch("job", "src", "one", (CopyItem("a/k", 1),)),
    ]
    for message in refusals:
        with pytest.raises(InvalidMessage):
            allowed.check(message)


def test_the_same_bucket_is_a_destination_only_under_a_prefix_apart_from_the_source():
    Scope("src", "src", "a/", dest_prefix="b/").check(ListTask("job", "src", "src", "a/", dest_prefix="b/"))
    with pytest.raises(InvalidMessage):
        Scope("src", "src", "a/", dest_prefix="a/b/").check(ListTask("job", "src", "src", "a/", dest_prefix="a/b/"))


def test_a_scope_of_several_destinations_survives_the_workers_environment():
    configured = scope(dest_prefix="new/", more_dests=(("two", None), ("three", "x/")))
    assert Scope.from_env(configured.to_env()) == configured
