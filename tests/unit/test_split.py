"""Adaptive splitting: a large range is cut into parts listed by other listers, without overlap or gap."""

import bisect
import os
import random
import uuid
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from s3fanout.keyspace import KeyRange, split_range, survey
from s3fanout.lister import KEYS_PER_PART, list_range
from s3fanout.messages import CopyBatch, ListTask
from s3fanout.outbox import Outbox
from tests.unit.fake_aws import KEY, FakeS3, FakeSQS

LIST_URL, COPY_URL = "https://sqs.test/list", "https://sqs.test/copy"


def exists_after(keys: list[str], until: str | None):
    def probe(key: str) -> bool:
        index = bisect.bisect_right(keys, key)
        return index < len(keys) and (until is None or keys[index] <= until)

    return probe


layouts = st.sampled_from(["uuid", "hex", "dates", "two-prefixes", "unicode"])


def make_keys(layout: str, count: int, rng: random.Random) -> list[str]:
    if layout == "uuid":
        return sorted({f"data/{uuid.UUID(int=rng.getrandbits(128))}" for _ in range(count)})
    if layout == "hex":
        return sorted({f"{rng.getrandbits(40):010x}" for _ in range(count)})
    if layout == "dates":
        return sorted({f"logs/2024/{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.getrandbits(20):06d}.gz" for _ in range(count)})
    if layout == "two-prefixes":
        return sorted({f"{rng.choice('az')}/{rng.getrandbits(30)}" for _ in range(count)})
    return sorted({"".join(rng.choice("éü日本😀ab/") for _ in range(8)) for _ in range(count)})


@settings(max_examples=60, deadline=None)
@given(layout=layouts, seed=st.integers(0, 10_000), parts=st.integers(2, 8), bounded=st.booleans(), listed=st.integers(2, 300))
def test_split_parts_partition_the_rest_exactly(layout, seed, parts, bounded, listed):
    rng = random.Random(seed)
    keys = make_keys(layout, 2000, rng)
    listed = min(listed, len(keys) - 2)
    until = keys[-rng.randint(1, len(keys) - listed - 1)] if bounded else None
    rest = KeyRange(keys[listed - 1], until)
    remaining = survey(rest, keys[:listed], exists_after(keys, until))
    pieces = split_range(rest, remaining, parts)
    assert pieces[0].after == rest.after and pieces[-1].until == rest.until
    assert all(a.until == b.after for a, b in zip(pieces, pieces[1:]))
    # Every key (and every possible key) of the rest lies in exactly one piece.
    for key in keys + ["\x00", "zzz", "data/", "\U0010ffff"]:
        assert sum(p.contains(key) for p in pieces) == rest.contains(key)


def counted(probe):
    asked: list[str] = []

    def counting(key: str) -> bool:
        asked.append(key)
        return probe(key)

    return counting, asked


@settings(max_examples=60, deadline=None)
@given(layout=layouts, seed=st.integers(0, 10_000), bounded=st.booleans(), listed=st.integers(2, 300))
def test_the_survey_finds_the_prefix_every_remaining_key_shares(layout, seed, bounded, listed):
    rng = random.Random(seed)
    keys = make_keys(layout, 2000, rng)
    listed = min(listed, len(keys) - 2)
    until = keys[-rng.randint(1, len(keys) - listed - 1)] if bounded else None
    rest = KeyRange(keys[listed - 1], until)
    line = survey(rest, keys[:listed], exists_after(keys, until)).line
    # The longest prefix of the listed keys that no key of the rest lies beyond, found by
    # shortening it one character at a time (as the survey once did, with a probe each).
    shared = os.path.commonprefix(keys[:listed])
    while shared and exists_after(keys, until)(shared + "\U0010ffff"):
        shared = shared[:-1]
    assert line is None or line.prefix == shared


def test_a_range_over_several_first_characters_costs_one_probe_for_its_prefix():
    keys = [f"{c}{i:05x}" for c in "0123456789abcdef" for i in range(4096)]
    first = bisect.bisect_right(keys, "1")
    probe, asked = counted(exists_after(keys, "3"))
    survey(KeyRange(keys[first + 999], "3"), keys[first : first + 1000], probe)
    assert asked == ["1\U0010ffff"]  # a key lies past every "1...": none can be shared


def test_a_part_whose_ends_share_a_prefix_is_not_probed_below_it():
    keys = [f"10{i:04x}" for i in range(65536)]
    probe, asked = counted(exists_after(keys, "10f"))
    survey(KeyRange(keys[2 * 4096 + 999], "10f"), keys[2 * 4096 : 2 * 4096 + 1000], probe)
    # The listed keys share "102"; every key of the part shares "10", its ends' common prefix.
    assert asked == ["102\U0010ffff"]


def test_flat_keys_under_one_prefix_split_evenly():
    keys = make_keys("uuid", 100_000, random.Random(1))
    rest = KeyRange(keys[999], None)
    remaining = survey(rest, keys[:1000], exists_after(keys, None))
    assert 0.5 < remaining.estimate / 99_000 < 2
    sizes = [bisect.bisect_right(keys, p.until or "\U0010ffff") - bisect.bisect_right(keys, p.after) for p in split_range(rest, remaining, 8)]
    assert sum(sizes) == 99_000 and min(sizes) > 99_000 / 8 / 2


def run_fleet(s3: FakeS3, first: ListTask) -> tuple[Counter, int]:
    """Run listers (as many Lambdas would) until no list task is left; count keys sent."""
    pending, tasks, sent = [first], 0, Counter()
    while pending:
        task = pending.pop()
        tasks += 1
        sqs = FakeSQS()
        list_range(task, s3=s3, outbox=Outbox(sqs, KEY, LIST_URL, COPY_URL), remaining_ms=lambda: 900_000)
        sent.update(item.key for body in sqs.bodies(COPY_URL) for item in CopyBatch.from_json(body).items)
        pending += [ListTask.from_json(body) for body in sqs.bodies(LIST_URL)]
    return sent, tasks


def test_a_single_prefix_bucket_is_listed_by_many_listers_and_every_key_once():
    keys = make_keys("uuid", 150_000, random.Random(2))
    sent, tasks = run_fleet(FakeS3(keys), ListTask("job", "src", "dst"))
    assert sent == Counter(keys)
    # Split, recursively, but not below many pages per lister.
    assert 4 <= tasks <= 150_000 // (KEYS_PER_PART // 2)


def test_a_small_range_is_not_split():
    keys = make_keys("hex", 5_000, random.Random(3))
    sent, tasks = run_fleet(FakeS3(keys), ListTask("job", "src", "dst"))
    assert sent == Counter(keys) and tasks == 1
