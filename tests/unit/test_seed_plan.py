"""A local run's seeding decides the keys its first pages cover (job.seed_plan): what it queues
itself and what its list tasks leave to the listers add up to exactly what the listers alone
would have done, key for key and count for count."""

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3fanout.counts import Counts
from s3fanout.job import DestinationSpec, JobSpec, SeedPlan, fitted_ranges, list_tasks, seed_page_size, seed_plan
from s3fanout.keyspace import KeyRange
from s3fanout.lister import decide_listed, list_range
from s3fanout.messages import CopyBatch, ListTask
from s3fanout.outbox import Outbox
from s3fanout.s3ops import FirstPage, ListedObject
from tests.unit.fake_aws import KEY, FakeS3, FakeSQS

LIST_URL, COPY_URL = "https://sqs.test/list", "https://sqs.test/copy"


class ChangedS3(FakeS3):
    """FakeS3 whose destination buckets answer another ETag for the keys in ``changed``, and the
    size and ETag of the source's key for a key written under the destination prefix "x/"."""

    def __init__(self, *args: Any, changed: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.changed = changed

    def list_objects_v2(self, **request: Any) -> dict[str, Any]:
        response = super().list_objects_v2(**request)
        if request["Bucket"] != "src":
            for entry in response.get("Contents", []):
                source_key = entry["Key"].removeprefix("x/")
                entry["Size"], entry["ETag"] = self.size_of(source_key), self.etag_of(source_key)
                if entry["Key"] in self.changed:
                    entry["ETag"] = '"changed"'
        return response


def fitted(s3: FakeS3, **fields: Any) -> JobSpec:
    return fitted_ranges(JobSpec("src", "dst", **({"fit_ranges": True} | fields)), s3, [s3] * (1 + len(fields.get("more_dests", ()))))


def listed_by_listers(s3: FakeS3, tasks: list[ListTask]) -> tuple[Counter[tuple[str, str]], dict[str, Counts]]:
    """Every task listed to its end by list_range: the (job, key) copies queued, and the counts by job."""
    sqs, counts = FakeSQS(), {}
    for task in tasks:
        outcome = list_range(task, s3=s3, outbox=Outbox(sqs, KEY, LIST_URL, COPY_URL), remaining_ms=lambda: 900_000)
        for job_id, job_counts in outcome.by_job(task).items():
            counts[job_id] = counts.get(job_id, Counts()) + job_counts
    return copies(CopyBatch.from_json(body) for body in sqs.bodies(COPY_URL)), counts


def copies(batches: Any) -> Counter[tuple[str, str]]:
    return Counter((batch.job_id, item.key) for batch in batches for item in batch.items)


def together(plan: SeedPlan, s3: FakeS3) -> tuple[Counter[tuple[str, str]], dict[str, Counts]]:
    """What the plan queued itself and what its list tasks' listers queue, with both's counts."""
    queued, counts = listed_by_listers(s3, plan.tasks)
    for job_id, job_counts in plan.counts.items():
        counts[job_id] = counts.get(job_id, Counts()) + job_counts
    return queued + copies(plan.batches), counts


KEY_TEXT = st.text(alphabet="ab/é ", min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(
    source=st.sets(KEY_TEXT, max_size=40),
    dest=st.sets(KEY_TEXT, max_size=40),
    changed=st.sets(KEY_TEXT, max_size=10),
    page=st.integers(1, 12),
    ranges=st.integers(2, 6),
    compare=st.booleans(),
    dest_prefix=st.sampled_from([None, "x/"]),
)
def test_seeding_and_listers_together_queue_every_key_once_and_count_as_listers_alone(
    source: set[str], dest: set[str], changed: set[str], page: int, ranges: int, compare: bool, dest_prefix: str | None
) -> None:
    # With --dest-prefix, the destination's keys are written under it (and an unrelated "w" too).
    named = {(dest_prefix or "") + key for key in dest} | ({"w"} if dest_prefix else set())
    s3 = ChangedS3(source, buckets={"dst": named}, max_page=page, changed=frozenset((dest_prefix or "") + key for key in changed))
    spec = fitted(s3, ranges=ranges, compare=compare, dest_prefix=dest_prefix)

    plan = seed_plan("job", spec, decide_first_pages=True)
    alone = listed_by_listers(s3, list_tasks("job", spec))

    (queued, counts), (queued_alone, counts_alone) = together(plan, s3), alone
    assert queued == queued_alone
    assert max(queued.values(), default=1) == 1
    # Every count the same but the LIST requests (the first pages are not listed again) and the
    # batches (a range the first pages end in packs its keys in two goes).
    assert {job_id: replace(job_counts, list_requests=0, copy_batches_sent=0) for job_id, job_counts in counts.items()} == {
        job_id: replace(job_counts, list_requests=0, copy_batches_sent=0) for job_id, job_counts in counts_alone.items()
    }
    assert sum(job_counts.copy_batches_sent for job_counts in plan.counts.values()) == len(plan.batches)
    assert plan.ranges == len(list_tasks("job", spec))
    # What the plan decided, no list task lists again.
    decided = {key for _, key in copies(plan.batches)}
    assert not any(KeyRange(task.after, task.until).contains(key) for task in plan.tasks for key in decided)


def test_a_job_its_first_pages_hold_needs_no_list_task() -> None:
    keys = [f"k{i:03d}" for i in range(250)]
    s3 = ChangedS3(keys, buckets={"dst": keys[:50]}, changed=frozenset(keys[:10]))
    spec = fitted(s3)

    plan = seed_plan("job", spec, decide_first_pages=True)

    assert (spec.ranges, plan.ranges, plan.tasks) == (1, 1, [])
    assert [len(batch.items) for batch in plan.batches] == [100, 100, 10]
    assert {item.key for batch in plan.batches for item in batch.items} == set(keys[:10] + keys[50:])
    counts = plan.counts["job"]
    assert (counts.keys_listed, counts.keys_skipped, counts.copy_batches_sent, counts.list_requests) == (250, 40, 3, 2)
    assert counts.bytes_listed == sum(FakeS3.size_of(key) for key in keys)


def test_the_range_the_first_pages_end_in_goes_on_after_their_last_key_with_a_page_for_the_rest() -> None:
    keys = [f"{c}{i:04d}" for c in "abcd" for i in range(500)]  # 2,000 keys: the first page ends at b0499
    s3 = FakeS3(keys)
    spec = fitted(s3, ranges=4)

    plan = seed_plan("job", spec, decide_first_pages=True)

    [cut] = [task for task in list_tasks("job", spec) if KeyRange(task.after, task.until).contains("b0499") and task.until != "b0499"]
    [rest] = [task for task in plan.tasks if task.after == "b0499"]
    assert rest.until == cut.until
    in_cut = sum(KeyRange(cut.after, "b0499").contains(key) for key in keys)
    assert rest.expected_keys == (None if cut.expected_keys is None else max(0, cut.expected_keys - in_cut))
    assert rest.page_keys == seed_page_size(KeyRange("b0499", cut.until), rest.expected_keys)
    assert sorted(item.key for batch in plan.batches for item in batch.items) == keys[:1000]
    assert not any(KeyRange(task.after, task.until).contains("b0499") for task in plan.tasks)


def test_a_destination_page_that_ends_sooner_bounds_what_seeding_decides() -> None:
    keys = [f"k{i:04d}" for i in range(1500)]
    s3 = FakeS3(keys, buckets={"dst": [f"a{i:04d}" for i in range(1000)] + keys[:600]})
    spec = fitted(s3, ranges=2)

    plan = seed_plan("job", spec, decide_first_pages=True)

    # The destination's first page holds orphans only: nothing of the source is settled by it.
    assert plan.batches == []
    assert plan.counts["job"].orphans_found == 1000
    assert together(plan, s3)[0] == listed_by_listers(s3, list_tasks("job", spec))[0]


def test_each_destination_gets_its_own_copies_and_counts() -> None:
    keys = [f"k{i:02d}" for i in range(30)]
    s3 = FakeS3(keys, buckets={"dst": keys[:10], "dst2": keys[20:]})
    spec = fitted(s3, more_dests=(DestinationSpec("dst2"),))

    plan = seed_plan("job", spec, decide_first_pages=True)

    assert plan.tasks == []
    assert Counter(job_id for job_id, _ in copies(plan.batches)) == {"job": 20, "job-d2": 20}
    assert {job_id: (counts.keys_listed, counts.keys_skipped, counts.list_requests) for job_id, counts in plan.counts.items()} == {
        "job": (30, 10, 2),
        "job-d2": (30, 10, 1),
    }


@pytest.mark.parametrize("fields", [{}, {"ranges": 1}])
def test_without_its_first_pages_a_job_seeds_its_list_tasks_alone(fields: dict[str, Any]) -> None:
    s3 = FakeS3(["a", "b"])
    spec = fitted(s3, **fields)

    unfitted = JobSpec("src", "dst", **fields)  # no first pages read

    for plan, seeded in ((seed_plan("job", spec), spec), (seed_plan("job", unfitted, decide_first_pages=True), unfitted)):
        assert (plan.batches, plan.counts) == ([], {})
        assert plan.tasks == list_tasks("job", seeded)


def test_a_truncated_page_without_keys_covers_nothing() -> None:
    spec = fitted(FakeS3([f"k{i}" for i in range(3)], max_page=2), ranges=2)
    keyless = replace(spec, first_pages=(FirstPage([], complete=False), *spec.first_pages[1:]))

    plan = seed_plan("job", keyless, decide_first_pages=True)

    assert (plan.batches, plan.counts, plan.tasks) == ([], {}, list_tasks("job", spec))


def test_the_copies_go_first_and_count_themselves_open_and_the_list_tasks_were_counted_at_the_records_making() -> None:
    keys = [f"k{i:04d}" for i in range(1500)]
    s3 = FakeS3(keys)
    plan = seed_plan("job", fitted(s3, ranges=4), decide_first_pages=True)
    sqs, opened = FakeSQS(), []

    class Recording:
        def opened(self, job_id: str, queue: str, count: int) -> None:
            opened.append((job_id, queue, count, len(sqs.batch_requests)))

    plan.send(Outbox(sqs, KEY, LIST_URL, COPY_URL, Recording()))

    assert [request["QueueUrl"] for request in sqs.batch_requests] == [COPY_URL] + [LIST_URL] * len(sqs.batch_requests[1:])
    assert opened == [("job", "copy", 10, 0)]
    assert [ListTask.from_json(KEY.open(body)) for body in sqs.bodies(LIST_URL)] == plan.tasks


def test_only_a_copy_pass_is_decided_from_listings_in_hand() -> None:
    with pytest.raises(ValueError, match="delete pass"):
        decide_listed(ListTask("job", "src", "dst", "", mode="delete"), [ListedObject("a", 1, '"e"')], [[]])
