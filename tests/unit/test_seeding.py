"""How many ranges a job is seeded with: one when one listing page holds everything its ranges
would list (job.fitted_ranges), else as many as it asks for."""

import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from s3fanout.job import DEFAULT_RANGES, SEED_UNKNOWN_PAGE_KEYS, DestinationSpec, JobSpec, describe_tasks, fitted_ranges, fitted_seeds, interleaved, list_tasks, seed_pieces
from s3fanout.keyspace import FirstKeys, KeyRange, probe_unknown, seed_ranges
from s3fanout.messages import ListTask
from s3fanout.s3ops import FirstPage, ListedObject
from seed.cli import seed_parser


class FakeS3:
    """ListObjectsV2 answering, per (bucket, prefix), whether more than one page of keys follows
    (``calls`` records those first pages); a probe after a key finds one key just after it."""

    def __init__(self, truncated: dict[tuple[str, str], bool], denied: frozenset[str] = frozenset()) -> None:
        self.truncated, self.denied = truncated, denied
        self.calls: list[tuple[str, str, int]] = []

    def list_objects_v2(self, Bucket: str, Prefix: str, MaxKeys: int, StartAfter: str | None = None) -> dict[str, Any]:  # noqa: N803 - boto3's names
        if Bucket in self.denied:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectsV2")
        if StartAfter is not None:
            return {"Contents": [{"Key": StartAfter + "0"}], "IsTruncated": True, "KeyCount": 1}
        self.calls.append((Bucket, Prefix, MaxKeys))
        return {"IsTruncated": self.truncated[(Bucket, Prefix)], "KeyCount": 1}


def spec(**fields: Any) -> JobSpec:
    return JobSpec("src", "dst", "data/", **({"fit_ranges": True} | fields))


def test_a_job_one_page_of_each_side_holds_is_one_range_covering_every_key():
    s3 = FakeS3({("src", "data/"): False, ("dst", "data/"): False})

    fitted = fitted_ranges(spec(), s3, [s3])

    assert fitted == spec(ranges=1, dest_empty=True, first_pages=(FirstPage([], True),) * 2)  # the fake's pages hold no key
    assert sorted(s3.calls) == [("dst", "data/", 1000), ("src", "data/", 1000)]
    [task] = list_tasks("job", fitted)
    assert KeyRange(task.after, task.until) == KeyRange(None, None)


def test_a_source_beyond_one_page_keeps_its_ranges_and_looks_at_the_destination_to_fit_them():
    s3 = FakeS3({("src", "data/"): True, ("dst", "data/"): False})

    assert fitted_ranges(spec(), s3, [s3]).ranges == DEFAULT_RANGES  # keys unseen: nothing joined
    assert sorted(s3.calls) == [("dst", "data/", 1000), ("src", "data/", 1000)]


class KeyedS3(FakeS3):
    """First pages that hold a key where ``keyed`` says so."""

    def __init__(self, truncated: dict[tuple[str, str], bool], keyed: set[str]) -> None:
        super().__init__(truncated)
        self.keyed = keyed

    def list_objects_v2(self, Bucket: str, Prefix: str, MaxKeys: int, StartAfter: str | None = None) -> dict[str, Any]:  # noqa: N803 - boto3's names
        page = super().list_objects_v2(Bucket, Prefix, MaxKeys, StartAfter)
        return page | ({"Contents": [{"Key": Prefix + "k", "Size": 1, "ETag": '"e"'}]} if Bucket in self.keyed and StartAfter is None else {})


@pytest.mark.parametrize(("keyed", "empty"), [({"src"}, True), ({"src", "dst"}, False), ({"src", "dst3"}, False)])
def test_a_copy_pass_knows_whether_every_destination_was_empty_when_seeded(keyed: set[str], empty: bool) -> None:
    truncated = {("src", "data/"): True} | {(bucket, "data/"): False for bucket in ("dst", "dst2", "dst3")}
    s3 = KeyedS3(truncated, keyed)
    several = spec(more_dests=(DestinationSpec("dst2"), DestinationSpec("dst3")))

    fitted = fitted_ranges(several, s3, [s3, s3, s3])

    assert fitted.dest_empty is empty
    assert {task.dest_empty for task in list_tasks("job", fitted)} == {empty}
    assert {task.dest_empty for task in list_tasks("job", fitted.for_destination(2), mode="delete")} == {False}
    assert ListTask.from_json(list_tasks("job", fitted)[0].to_json()).dest_empty is empty


def test_every_sides_first_page_is_asked_for_at_once() -> None:
    # Each first page waits for all three: listed one after another, the first would wait alone.
    all_asked = threading.Barrier(3, timeout=10)

    class Waiting(FakeS3):
        def list_objects_v2(self, Bucket: str, Prefix: str, MaxKeys: int, StartAfter: str | None = None) -> dict[str, Any]:  # noqa: N803 - boto3's names
            if StartAfter is None:
                all_asked.wait()
            return super().list_objects_v2(Bucket, Prefix, MaxKeys, StartAfter)

    s3 = Waiting({("src", "data/"): False, ("dst", "data/"): False, ("dst2", "data/"): False})

    assert fitted_ranges(spec(more_dests=(DestinationSpec("dst2"),)), s3, [s3, s3]).ranges == 1
    assert not all_asked.broken


def test_a_destination_beyond_one_page_keeps_the_ranges_its_delete_pass_and_comparison_list():
    source, dest = FakeS3({("src", "data/"): False}), FakeS3({("dst", "data/"): True})

    assert fitted_ranges(spec(), source, [dest]).ranges == DEFAULT_RANGES


def test_without_comparing_only_the_source_is_listed():
    s3 = FakeS3({("src", "data/"): False})

    assert fitted_ranges(spec(compare=False), s3, [s3]).ranges == 1
    assert s3.calls == [("src", "data/", 1000)]


def test_each_destination_is_listed_under_the_prefix_its_keys_go_to():
    s3 = FakeS3({("src", "data/"): False, ("dst", "copies/"): False, ("two", "data/"): False, ("three", "other/"): True})
    several = spec(dest_prefix="copies/", more_dests=(DestinationSpec("two"), DestinationSpec("three", "other/")))

    assert fitted_ranges(several, s3, [s3, s3, s3]).ranges == DEFAULT_RANGES
    assert sorted((bucket, prefix) for bucket, prefix, _ in s3.calls) == [("dst", "copies/"), ("src", "data/"), ("three", "other/"), ("two", "data/")]
    small = FakeS3(dict.fromkeys(s3.truncated, False))
    assert fitted_ranges(several, small, [small, small, small]).ranges == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"fit_ranges": False},  # --ranges given
        {"ranges": 1},
        {"manifest": "s3://m/manifest.json"},
        {"all_versions": True},
        {"as_of": "2026-11-30T18:00:00+00:00"},
    ],
)
def test_jobs_that_do_not_ask_for_it_or_list_otherwise_keep_their_seeding(fields):
    s3 = FakeS3({})

    assert fitted_ranges(spec(**fields), s3, [s3]) == spec(**fields)
    assert s3.calls == []


def test_a_listing_that_fails_keeps_the_ranges():
    s3 = FakeS3({("src", "data/"): False}, denied=frozenset({"dst"}))

    assert fitted_ranges(spec(), s3, [s3]).ranges == DEFAULT_RANGES


def test_the_command_line_fits_the_ranges_only_when_not_told_how_many():
    base = ["--bucket", "src", "--dest", "dst", "--local"]
    assert seed_parser().parse_args(base).ranges is None
    assert seed_parser().parse_args([*base, "--ranges", str(DEFAULT_RANGES)]).ranges == DEFAULT_RANGES


def test_one_range_is_named_in_the_singular():
    assert describe_tasks(JobSpec("src", "dst", "logs/"), 1) == "1 key range of s3://src/logs/"


class FirstPageS3:
    """ListObjectsV2 of one bucket: up to MaxKeys of ``keys`` under the prefix, after StartAfter
    (``probes`` records each StartAfter)."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = sorted(keys)
        self.probes: list[str] = []

    def list_objects_v2(self, Bucket: str, Prefix: str, MaxKeys: int, StartAfter: str | None = None) -> dict[str, Any]:  # noqa: N803 - boto3's names
        if StartAfter is not None:
            self.probes.append(StartAfter)
        under = [key for key in self.keys if key.startswith(Prefix) and (StartAfter is None or key > StartAfter)]
        return {"Contents": [{"Key": key, "Size": 1, "ETag": '"e"'} for key in under[:MaxKeys]], "IsTruncated": len(under) > MaxKeys}


@pytest.mark.parametrize("step", [7, 33, 61])
def test_a_larger_source_gets_each_seed_ranges_first_page_sized_to_its_keys(step: int) -> None:
    keys = [f"data/{i:04x}/object" for i in range(0, 65536, step)]
    s3 = FirstPageS3(keys)

    tasks = list_tasks("job", fitted_ranges(spec(compare=False), s3, [s3]))

    # Every key in exactly one range.
    assert [key for key in keys if not any(KeyRange(t.after, t.until).contains(key) for t in tasks)] == []
    in_order = sorted(tasks, key=lambda t: t.after or "")
    assert in_order[0].after is None and all(lower.until == upper.after for lower, upper in zip(in_order, in_order[1:]))
    for task in tasks:
        held = sum(1 for key in keys if KeyRange(task.after, task.until).contains(key))
        if task.until is None:
            assert task.page_keys is None  # a page past the last range answers nothing more
        else:
            # Where the first page says anything (its characters spell the range's bounds), one
            # page reaches past the range's end and asks for little more than it holds, or for what
            # it likes past the last key, where a page answers nothing more.
            assert task.page_keys is not None
            if task.page_keys != SEED_UNKNOWN_PAGE_KEYS:
                assert min(held + 1, 1000) <= task.page_keys, (task.after, task.until, held)
                assert task.page_keys <= min(1000, 1.5 * held + 20) or task.until > keys[-1], (task.after, task.until, held)


def test_a_job_told_how_many_ranges_lists_full_pages() -> None:
    s3 = FirstPageS3([f"data/{i:04x}" for i in range(3000)])

    tasks = list_tasks("job", fitted_ranges(spec(ranges=4, fit_ranges=False), s3, [s3]))

    assert [task.page_keys for task in tasks] == [None] * 4  # nothing listed to judge them by


def test_seed_estimates_are_exact_where_the_first_keys_tell_and_none_where_they_cannot() -> None:
    ranges = seed_ranges("", 4)
    keys = sorted(f"{c}{i}" for c in "0Az~" for i in range(3))
    assert [FirstKeys(keys, True, "").estimate(r) for r in ranges] == [sum(1 for key in keys if r.contains(key)) for r in ranges]
    assert [FirstKeys(["only"], False, "").estimate(r) for r in ranges] == [0, 0, 0, None]


def test_ranges_a_destination_fills_are_not_joined_however_empty_the_source() -> None:
    characters = "0123456789abcdefghijklmnopqrstuvwxyz"
    source = FirstPageS3([f"data/{c}{i:02d}z" for c in characters for i in range(10)])
    dest = FirstPageS3([f"data/{c}{i:04d}z" for c in characters for i in range(1000)])

    joined = fitted_ranges(spec(compare=False), source, [dest])
    kept = fitted_ranges(spec(), source, [dest])

    assert joined.ranges <= 2 < kept.ranges
    # Only ranges the destination holds (almost) nothing of are joined: here, those of capitals.
    single = set(seed_ranges("data/", DEFAULT_RANGES))
    joined_ranges = [seed.key_range for seed in kept.seeds if seed.key_range not in single]
    assert joined_ranges and all(sum(1 for key in dest.keys if key_range.contains(key)) <= 1000 for key_range in joined_ranges)


def test_a_probe_finds_a_run_of_empty_ranges_at_once() -> None:
    ranges = [KeyRange(None, "a"), KeyRange("a", "c"), KeyRange("c", "e"), KeyRange("e", "g"), KeyRange("g", "i"), KeyRange("i", None)]
    keys = ["a1", "f1", "f2"]
    asked: list[str] = []

    def next_key(key: str) -> str | None:
        asked.append(key)
        return next((k for k in keys if k > key), None)

    settled = probe_unknown(ranges, FirstKeys([], False, ""), next_key)

    # After "a" comes "a1": that range holds a key. After "c" comes "f1": "c" to "e" is empty,
    # "e" to "g" holds it (no probe needed); after "g" there is nothing. The open range is left.
    # No first keys to judge by: the ranges that hold keys stay unknown.
    assert settled == [None, None, 0.0, None, 0.0, None]
    assert asked == ["a", "c", "g"]


def test_a_range_that_holds_keys_is_judged_up_to_the_key_after_it() -> None:
    # Hex keys, 16 to a first character; the first page holds those starting with "0" to "3".
    keys = [f"{c}{i:x}" for c in "0123456789abcdef" for i in range(16)]
    first = FirstKeys(keys[:64], False, "")
    ranges = [KeyRange(None, "3f"), KeyRange("3f", "9"), KeyRange("9", "B"), KeyRange("B", "D"), KeyRange("D", "e"), KeyRange("e", "g"), KeyRange("g", "i"), KeyRange("i", None)]
    asked: list[str] = []

    def next_key(key: str) -> str | None:
        asked.append(key)
        return next((k for k in keys if k > key), None)

    settled = probe_unknown(ranges, first, next_key)

    # "9" to "B" and "e" to "g" end where the hex alphabet cannot spell, and "D" to "e" starts
    # there: the probes after "B" (which finds "a0") and after "g" (nothing) judge them from the
    # first key each probe found in them, to "a0" and to the line's end.
    assert asked == ["9", "B", "e", "g"]
    exact = [sum(1 for key in keys if r.contains(key)) for r in ranges]
    assert exact == [64, 80, 16, 0, 64, 32, 0, 0]
    assert settled[3] == settled[6] == 0
    for index in (1, 2, 4, 5):
        assert settled[index] == pytest.approx(exact[index], rel=0.1)
    assert settled[7] is None


class HexKeys:
    """``count`` keys of 8 hex digits spread evenly over their whole space, answered by
    arithmetic: a large bucket of hashed keys without building it."""

    def __init__(self, count: int) -> None:
        self.count, self.step = count, 16**8 // count

    def key(self, index: int) -> str:
        return f"{index * self.step:08x}"

    def first_after(self, key: str) -> int:
        low, high = 0, self.count
        while low < high:
            middle = (low + high) // 2
            low, high = (middle + 1, high) if self.key(middle) <= key else (low, middle)
        return low

    def next_key(self, key: str) -> str | None:
        index = self.first_after(key)
        return self.key(index) if index < self.count else None

    def held(self, key_range: KeyRange) -> int:
        low = 0 if key_range.after is None else self.first_after(key_range.after)
        high = self.count if key_range.until is None else self.first_after(key_range.until)
        return high - low


def test_a_large_bucket_of_few_first_characters_gets_every_seed_range_it_asks_for_spread_over_its_keys() -> None:
    bucket = HexKeys(4_000_000)
    page = FirstPage([ListedObject(bucket.key(i), 1, '"e"') for i in range(1000)], False)

    seeds = fitted_seeds("", DEFAULT_RANGES, [page], [bucket.next_key])

    # Joined, the 32 ranges over every common first character are 9 over 0-9a-f, 2 empty ones and
    # the last; cut again on the first keys' line, there are 32 once more.
    assert len(seeds) == DEFAULT_RANGES
    in_order = sorted(seeds, key=lambda seed: seed.key_range.after or "")
    assert in_order[0].key_range.after is None and in_order[-1].key_range.until is None
    assert all(lower.key_range.until == upper.key_range.after for lower, upper in zip(in_order, in_order[1:]))
    holding = [(bucket.held(seed.key_range), seed) for seed in seeds if bucket.held(seed.key_range)]
    assert len(holding) >= 28
    mean = bucket.count / len(holding)
    assert all(0.5 * mean < held < 2 * mean for held, _ in holding)
    # What each is expected to hold is known where the first keys spell its ends, and close.
    assert all(seed.expected_keys is None or 0.5 * held < seed.expected_keys < 2 * held for held, seed in holding)


def test_a_bucket_a_few_parts_hold_is_not_cut_into_more_seed_ranges() -> None:
    bucket = HexKeys(200_000)
    page = FirstPage([ListedObject(bucket.key(i), 1, '"e"') for i in range(1000)], False)

    seeds = fitted_seeds("", DEFAULT_RANGES, [page], [bucket.next_key])

    assert all(seed.key_range in seed_ranges("", DEFAULT_RANGES) or seed.expected_keys == 0 for seed in seeds)
    assert seed_pieces([(KeyRange("a", "b"), 1e6), (KeyRange("b", "c"), None), (KeyRange("c", None), None)], 6) == [3, 2, 1]
    assert seed_pieces([(KeyRange("a", "b"), 40_000.0)], 32) == [1]


def test_seed_tasks_are_queued_spread_over_the_key_space_and_know_when_the_job_was_seeded() -> None:
    before = int(time.time())
    tasks = list_tasks("job", spec(ranges=32))
    in_order = sorted(tasks, key=lambda t: t.after or "")
    # The first four the event source starts lie in four different quarters of the key space.
    assert sorted(in_order.index(t) * 4 // len(tasks) for t in tasks[:4]) == [0, 1, 2, 3]
    assert all(before <= t.seeded_at <= time.time() for t in tasks if t.seeded_at is not None)
    assert ListTask.from_json(tasks[0].to_json()).seeded_at == tasks[0].seeded_at is not None
    assert [len(interleaved(list(range(n)))) for n in (0, 1, 2, 5, 12)] == [0, 1, 2, 5, 12]
    assert sorted(interleaved(list(range(12)))) == list(range(12))
