"""bench/scale's model and mirrored lister: the simulation must keep driving the project's own
split policy and agree with the real list_range request for request."""

import dataclasses

from bench.scalesim.assumptions import Assumptions
from bench.scalesim.mirror import Task, split_decision
from bench.scalesim.model import make_keyset
from bench.scalesim.verify import verify
from s3fanout.keyspace import KeyRange
from s3fanout.lister import split_policy


def test_the_model_answers_probes_as_a_listing_would():
    ks = make_keyset("skewed", 20_000)
    keys = ks.keys(0, ks.n)
    assert keys == sorted(keys) and len(set(keys)) == ks.n
    for r in (0, 1, 999, 12_345, ks.n - 2):
        assert ks.rank(keys[r]) == r + 1 and ks.key(r) == keys[r]
        assert ks.exists_after(keys[r], None) and ks.exists_after(keys[r], keys[r + 1])
        assert not ks.exists_after(keys[r], keys[r])
    assert not ks.exists_after(keys[-1], None)


def test_splits_are_the_project_policys_on_the_models_keys():
    ks = make_keyset("single", 200_000)
    page = ks.keys(0, 1_000)
    parts, _, probes = split_decision(ks, Task(None, None, 0, ks.n), page)
    assert len(parts) > 1 and probes > 0
    assert parts == split_policy(page, KeyRange(page[-1], None), lambda key: ks.exists_after(key, None))


def test_the_mirror_agrees_with_the_real_list_range():
    # As bench/scale --verify runs it: a lister timeout short enough for hand-ons to happen.
    a = dataclasses.replace(Assumptions(), lister_timeout_s=33)
    rows = verify(["single", "skewed"], 60_000, a)
    assert [row["agree"] for row in rows] == [True, True], rows
    # Both paths of the loop are exercised: ranges split off and a range handed on.
    assert rows[1]["real"]["split_off"] > 0 and rows[1]["real"]["hand_ons"] > 0


def test_a_copiers_freed_slots_go_to_its_records_still_copying():
    from bench.scalesim.simulate import Events, PartitionWrites

    def finish_time(share_slots: bool) -> float:
        events, done = Events(), {}
        writes: PartitionWrites

        def on_done(index: int, copiers: list[int]) -> None:
            for copier in copiers:
                done[(index, copier)] = events.now
            if share_slots and index == 0 and 1 in copiers:
                writes.speed_up(1, {1}, 2.0)  # copier 1's one record left takes both its slots

        writes = PartitionWrites(["a", "b"], 1000.0, events, on_done)  # 1 key/ms per partition
        writes.start(0, 100, 100.0, 1)  # copier 1: 100 keys on "a" at 1 key/ms, alone there
        writes.start(1, 100, 100.0, 1)  # and 100 keys on "b", which copier 2 also writes to
        writes.start(1, 100, 100.0, 2)
        events.play()
        assert done[(0, 1)] == 100.0
        return done[(1, 1)]

    # Partition "b" is at its limit (2 keys/ms asked of 1): copier 1's record there is half done
    # when its other one ends; with the freed slots it draws two thirds of the partition.
    assert finish_time(share_slots=False) == 200.0
    assert 150.0 < finish_time(share_slots=True) < 200.0


def test_the_scaled_floor_counts_the_copiers_the_event_source_has_added():
    from bench.scalesim.simulate import DeployedRun

    # 5 copiers at first, one more a second up to 10; no partition near its limit.
    a = dataclasses.replace(Assumptions(), copy_max_concurrency=10, esm_initial_concurrency=5, esm_scale_per_minute=60, partition_writes_per_s=0.0)
    run = DeployedRun(make_keyset("uniform", 2_000), a, "project")
    pace = run.copier_pace()
    assert abs(run.scaled_floor_s(0, int(8 * pace)) - 1.5) < 0.01  # 5 copiers' second, then 6 for half of one
    copies = int((5 + 6 + 7 + 8 + 9) * pace + 100 * pace)  # the scale-up's 5 s, then 10 s of 10 copiers
    assert abs(run.scaled_floor_s(0, copies) - 15.0) < 0.01
    assert run.copying_floor_s(0, copies) < run.scaled_floor_s(0, copies)
    # An event source that adds copiers at once leaves the floor as it was; a hot partition still bounds it.
    instant = DeployedRun(make_keyset("uniform", 2_000), dataclasses.replace(a, esm_scale_per_minute=10**9), "project")
    assert abs(instant.scaled_floor_s(0, copies) - instant.copying_floor_s(0, copies)) < 0.01
    hot = DeployedRun(make_keyset("uniform", 2_000), dataclasses.replace(a, partition_writes_per_s=10.0), "project")
    assert hot.scaled_floor_s(copies, copies) == copies / 10.0
