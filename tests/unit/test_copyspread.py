import dataclasses
import random

import pytest

from s3fanout.copyspread import (
    COPIER_BATCHES_PER_SECOND,
    LOOK_EVERY_MS,
    MOST_BATCHES_PER_TASK,
    SQS_MAX_DELAY_SECONDS,
    Backlog,
    CopySpread,
    batches_per_task,
    spread_delays,
    spread_horizon,
    within_window,
)
from s3fanout.lister import BATCHES_PER_PART, list_range
from s3fanout.messages import CopyBatch
from s3fanout.outbox import Outbox
from tests.unit.fake_aws import KEY, FakeS3, FakeSQS
from tests.unit.test_lister import COPY_URL, LIST_URL, task


class Clock:
    """remaining_ms of an invocation whose time passes only when the test says so."""

    def __init__(self) -> None:
        self.left = 900_000

    def __call__(self) -> int:
        return self.left


class WallClock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


PER_TASK = BATCHES_PER_PART


def test_nothing_waiting_or_no_copiers_means_no_delay():
    assert spread_horizon(Backlog(0), 100, PER_TASK) == 0
    assert spread_horizon(Backlog(10**6, 10**6), 0, PER_TASK) == 0


def test_the_horizon_is_the_copiers_best_time_for_the_backlog_up_to_sqs_limit():
    assert spread_horizon(Backlog(10_000), 100, PER_TASK) == 10_000 // (100 * COPIER_BATCHES_PER_SECOND)
    assert spread_horizon(Backlog(10_000), 100, PER_TASK) > spread_horizon(Backlog(1_000), 100, PER_TASK) > 0
    assert spread_horizon(Backlog(10_000), 1_000, PER_TASK) < spread_horizon(Backlog(10_000), 100, PER_TASK)
    assert spread_horizon(Backlog(10**9), 1_000, PER_TASK) == SQS_MAX_DELAY_SECONDS


def test_the_work_to_come_counts_once_the_waiting_batches_make_a_seconds_work():
    pace = 100 * COPIER_BATCHES_PER_SECOND
    # A small job: its open list tasks (seed ranges, maybe empty) delay nothing.
    assert spread_horizon(Backlog(pace - 1, 32), 100, 250) == 0
    assert spread_horizon(Backlog(pace, 32), 100, 250) == (pace + 32 * 250) // pace
    # A task being listed counts half.
    assert spread_horizon(Backlog(pace, 32.5), 100, 250) == (pace + 32 * 250 + 125) // pace
    assert spread_horizon(Backlog(pace, 10**5), 100, 250) == SQS_MAX_DELAY_SECONDS


def test_open_tasks_are_forecast_as_like_the_listers_own_within_bounds():
    assert batches_per_task(None, PER_TASK) == PER_TASK
    assert batches_per_task(1_000, PER_TASK) == PER_TASK  # a small part: still a part's worth
    assert batches_per_task(60_001, PER_TASK) == 601
    assert batches_per_task(10**15, PER_TASK) == MOST_BATCHES_PER_TASK  # an estimate gone wild
    pace = 100 * COPIER_BATCHES_PER_SECOND
    spread = CopySpread(lambda: Backlog(pace, 40), 100, Clock(), PER_TASK)
    before = spread.horizon()
    spread.expect(100_000)
    assert spread.horizon() == (pace + 40 * 1_000) // pace > before
    assert spread.looks == 1  # the new forecast applies to the backlog already read
    spread.expect(None)
    assert spread.horizon() == before


def test_a_window_shortens_the_horizon_to_its_end_while_it_lasts():
    assert within_window(600, None) == 600
    assert within_window(600, 700.5) == 600
    assert within_window(600, 100.9) == 100
    assert within_window(600, 0.2) == 1  # a batch to be spread is never sent at once
    assert within_window(600, -5) == 600  # the window is over
    assert within_window(0, 100) == 0
    clock = WallClock(1_000_000.0)
    spread = CopySpread(lambda: Backlog(10**6), 100, Clock(), PER_TASK, clock=clock)
    assert spread.horizon() == SQS_MAX_DELAY_SECONDS
    spread.aim(int(clock.now) - 850)  # seeded 850 s ago: 50 s of its window left
    assert spread.horizon() == 50
    clock.now += 60
    assert spread.horizon() == SQS_MAX_DELAY_SECONDS
    spread.aim(None)
    assert spread.horizon() == SQS_MAX_DELAY_SECONDS


def test_a_lister_forecasts_from_its_parts_and_aims_at_its_jobs_window():
    keys = [f"k/{i:06d}" for i in range(60_000)]
    seen = []

    class Watched(CopySpread):
        def expect(self, keys: int | None) -> None:
            seen.append(keys)
            super().expect(keys)

    clock = WallClock(2_000_000.0)
    spread = Watched(lambda: Backlog(10**6), 100, Clock(), PER_TASK, clock=clock)
    seeded = dataclasses.replace(task(until="k/z"), expected_keys=70_000, seeded_at=int(clock.now) - 890)
    list_range(seeded, s3=FakeS3(keys), outbox=Outbox(FakeSQS(), KEY, LIST_URL, COPY_URL), remaining_ms=Clock(), spread=spread)
    # A seed range (no hop yet) is not forecast by; the part it goes on with after its split is.
    assert seen[0] is None and len(seen) == 2 and seen[1] is not None and seen[1] > 0
    # A range open above is estimated to its key line's end: its parts are not forecast by.
    seen.clear()
    list_range(dataclasses.replace(seeded, until=None), s3=FakeS3(keys), outbox=Outbox(FakeSQS(), KEY, LIST_URL, COPY_URL), remaining_ms=Clock(), spread=spread)
    assert seen == [None, None]
    assert spread.window_end == seeded.seeded_at + SQS_MAX_DELAY_SECONDS
    assert spread.horizon() == 10


def test_a_listers_delays_cover_the_horizon_evenly_and_go_on_where_they_left_off():
    horizon = 99
    delays, phase = spread_delays(1_000, horizon, 0.25)
    assert all(0 <= d <= horizon for d in delays)
    # Every tenth of the horizon gets its tenth of the batches, give or take two (independent
    # draws would be off by about ten).
    per_tenth = [sum(1 for d in delays if tenth * 10 <= d < tenth * 10 + 10) for tenth in range(10)]
    assert all(abs(count - 100) <= 2 for count in per_tenth), per_tenth
    # A lister's next batches go on along the same sequence.
    first, middle = spread_delays(10, horizon, 0.25)
    then, _ = spread_delays(10, horizon, middle)
    assert spread_delays(20, horizon, 0.25)[0] == first + then
    assert 0 <= phase < 1


def test_the_backlog_is_read_once_per_look_interval_of_the_invocations_clock():
    clock, reads = Clock(), []

    def backlog():
        reads.append(clock())
        return Backlog(5_000)

    spread = CopySpread(backlog, 100, clock, PER_TASK, random.Random(1))
    for _ in range(5):
        spread.delays(10)
    clock.left -= LOOK_EVERY_MS - 1
    spread.delays(10)
    assert spread.looks == 1
    clock.left -= 1
    spread.delays(10)
    assert spread.looks == 2 and reads == [900_000, 900_000 - LOOK_EVERY_MS]


def test_delays_are_whole_seconds_up_to_the_horizon_and_not_all_alike():
    spread = CopySpread(lambda: Backlog(50_000), 100, Clock(), PER_TASK, random.Random(2))
    horizon = spread.horizon()
    delays = spread.delays(1_000)
    assert horizon > 10
    assert all(isinstance(d, int) and 0 <= d <= horizon for d in delays)
    assert len(set(delays)) > horizon // 2


def test_a_lister_with_a_spread_sends_every_key_once_each_batch_with_its_own_delay():
    keys = [f"k/{i:05d}" for i in range(2_345)]
    s3, sqs = FakeS3(keys), FakeSQS()
    spread = CopySpread(lambda: Backlog(20_000), 50, Clock(), PER_TASK, random.Random(3))
    list_range(task(), s3=s3, outbox=Outbox(sqs, KEY, LIST_URL, COPY_URL), remaining_ms=Clock(), spread=spread)
    entries = [e for r in sqs.batch_requests if r["QueueUrl"] == COPY_URL for e in r["Entries"]]
    sent = [item.key for body in sqs.bodies(COPY_URL) for item in CopyBatch.from_json(body).items]
    assert sorted(sent) == keys
    assert len(entries) == 24 and len({e["DelaySeconds"] for e in entries}) > 1
    assert all(0 <= e["DelaySeconds"] <= spread.horizon() for e in entries)


@pytest.mark.parametrize("backlog", [(0, 100), (400, 100), (10**6, 0)])
def test_a_short_backlog_sends_batches_at_once(backlog):
    s3, sqs = FakeS3([f"k{i:03d}" for i in range(250)]), FakeSQS()
    spread = CopySpread(lambda: Backlog(backlog[0]), backlog[1], Clock(), PER_TASK)
    list_range(task(), s3=s3, outbox=Outbox(sqs, KEY, LIST_URL, COPY_URL), remaining_ms=Clock(), spread=spread)
    assert {e["DelaySeconds"] for r in sqs.batch_requests for e in r["Entries"]} == {0}
