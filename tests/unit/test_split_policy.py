"""The split policy (lister.split_policy): a pure decision apart from the probe it is given, and
the adapter list_range calls it through (lister._split_rest)."""

import bisect
import math

from s3fanout.compare import Action, Decision, DecisionGroup
from s3fanout.counts import Counts
from s3fanout.keyspace import KeyRange, survey
from s3fanout.lister import (
    KEYS_PER_PART,
    MAX_PARTS,
    SPLIT_MIN_KEYS,
    SURVEY_EVERY_PAGES,
    SURVEY_MIN_PAGE_KEYS,
    _split_rest,
    first_survey_page,
    list_range,
    split_plan,
    split_policy,
)
from s3fanout.messages import ListTask
from s3fanout.outbox import Outbox
from s3fanout.s3ops import ListedObject
from tests.unit.fake_aws import KEY, FakeS3, FakeSQS, client_error


def even_hex_keys(count: int) -> list[str]:
    """Keys spread evenly over 8 hex digits: a density estimate over them is close to exact."""
    step = 16**8 // count
    return [f"{i * step:08x}" for i in range(count)]


class Probe:
    """exists_after over a sorted key list, counting its calls."""

    def __init__(self, keys: list[str], until: str | None) -> None:
        self.keys, self.until, self.calls = keys, until, 0

    def __call__(self, key: str) -> bool:
        self.calls += 1
        index = bisect.bisect_right(self.keys, key)
        return index < len(self.keys) and (self.until is None or self.keys[index] <= self.until)


def decide(keys: list[str], listed: int, until: str | None = None) -> tuple[list[KeyRange], KeyRange, Probe]:
    probe = Probe(keys, until)
    rest = KeyRange(keys[listed - 1], until)
    return split_policy(keys[:listed], rest, probe), rest, probe


def test_a_thin_page_is_not_surveyed_and_costs_no_probe():
    parts, _, probe = decide(even_hex_keys(100_000), SURVEY_MIN_PAGE_KEYS - 1)
    assert parts == [] and probe.calls == 0


def test_a_dense_page_with_few_keys_left_is_not_split():
    keys = even_hex_keys(1_000 + SPLIT_MIN_KEYS // 2)
    parts, _, probe = decide(keys, 1_000)
    assert parts == [] and probe.calls > 0


def test_the_rest_is_cut_into_one_part_per_keys_per_part():
    keys = even_hex_keys(1_000 + 3 * KEYS_PER_PART - KEYS_PER_PART // 2)  # 25,000 keys left
    parts, rest, probe = decide(keys, 1_000)
    estimate = survey(rest, keys[:1_000], Probe(keys, None)).estimate
    assert estimate >= SPLIT_MIN_KEYS and len(parts) == math.ceil(estimate / KEYS_PER_PART) == 3


def test_a_large_rest_is_cut_into_at_most_max_parts_that_partition_it_exactly():
    keys = even_hex_keys(400_000)
    until = keys[-1_000]
    parts, rest, _ = decide(keys, 1_000, until)
    assert len(parts) == MAX_PARTS
    assert parts[0].after == rest.after and parts[-1].until == rest.until
    assert all(a.until == b.after for a, b in zip(parts, parts[1:]))
    for key in keys + ["", "\x00", "fffffffff", "\U0010ffff"]:
        assert sum(part.contains(key) for part in parts) == rest.contains(key)
    sizes = [sum(part.contains(key) for key in keys) for part in parts]
    assert min(sizes) > max(sizes) / 2


def test_the_same_page_and_probe_answers_give_the_same_parts():
    keys = even_hex_keys(200_000)
    assert decide(keys, 1_000)[0] == decide(keys, 1_000)[0]


def group_of(keys: list[str], *, dest: bool) -> DecisionGroup:
    listed = [ListedObject(key, 1, '"e"') for key in keys]
    if dest:
        return DecisionGroup([Decision(Action.ORPHAN, o.key, None, o, "not in the source") for o in listed], keys[-1], False)
    return DecisionGroup([Decision(Action.COPY, o.key, o, None, "not in the destination") for o in listed], keys[-1], False)


def test_the_lister_probes_the_source_when_copying():
    keys = even_hex_keys(200_000)
    s3 = FakeS3(keys)
    counts = Counts()
    parts, _ = _split_rest(s3, s3, ListTask("job", "src", "dst"), group_of(keys[:1_000], dest=False), counts)
    assert parts == split_policy(keys[:1_000], KeyRange(keys[999], None), Probe(keys, None))
    assert len(parts) > 1 and {r["Bucket"] for r in s3.list_requests} == {"src"}
    # Every probe is a LIST request the job pays for.
    assert counts.list_requests == len(s3.list_requests)


def test_the_lister_probes_the_destination_when_deleting():
    keys = even_hex_keys(200_000)
    s3 = FakeS3(buckets={"dst": keys})
    task = ListTask("job", "src", "dst", mode="delete")
    parts, _ = _split_rest(s3, s3, task, group_of(keys[:1_000], dest=True), Counts())
    assert len(parts) > 1 and {r["Bucket"] for r in s3.list_requests} == {"dst"}


class FailingS3(FakeS3):
    def list_objects_v2(self, **request):
        raise client_error("SlowDown", "slow down", 503, "ListObjectsV2")


def test_a_failed_probe_leaves_the_range_whole_instead_of_failing_it():
    keys = even_hex_keys(200_000)
    assert _split_rest(FailingS3(keys), FailingS3(keys), ListTask("job", "src", "dst"), group_of(keys[:1_000], dest=False), Counts()) == ([], 0)


def test_each_part_is_expected_to_hold_its_share_of_the_estimate():
    keys = even_hex_keys(6 * KEYS_PER_PART + 1_000)
    probe = Probe(keys, None)
    parts, part_keys = split_plan(keys[:1_000], KeyRange(keys[999], None), probe)
    # About 6 parts' worth of keys is left: each part expects its share of them.
    assert len(parts) in (6, 7) and abs(part_keys * len(parts) - 6 * KEYS_PER_PART) < 6 * KEYS_PER_PART * 0.05


def test_a_part_expected_small_is_first_surveyed_only_past_what_was_expected():
    assert first_survey_page(None) == 1
    assert first_survey_page(SPLIT_MIN_KEYS) == 1
    assert first_survey_page(9_500) == 9 + SURVEY_EVERY_PAGES


def test_a_split_off_part_says_how_many_keys_it_should_hold_and_is_not_surveyed_at_its_first_page():
    keys = even_hex_keys(6 * KEYS_PER_PART + 1_000)
    s3, sqs = FakeS3(keys), FakeSQS()
    list_range(ListTask("job", "src", "dst"), s3=s3, outbox=Outbox(sqs, KEY, "list", "copy"), remaining_ms=lambda: 900_000)
    parts = [ListTask.from_json(KEY.open(body)) for body in sqs.bodies("list")]
    assert len(parts) in (5, 6) and all(0.8 * KEYS_PER_PART < (p.expected_keys or 0) < 1.1 * KEYS_PER_PART for p in parts)
    before = len(s3.list_requests)
    list_range(parts[0], s3=s3, outbox=Outbox(FakeSQS(), KEY, "list", "copy"), remaining_ms=lambda: 900_000)
    # Its pages and the one past its end; no probe (MaxKeys=1).
    assert all(r.get("MaxKeys") != 1 for r in s3.list_requests[before:])
