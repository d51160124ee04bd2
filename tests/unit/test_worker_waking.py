"""How local mode wakes its idle workers: the words on a worker's pipe (eventsource.read_words),
the run's shares of the messages waiting and its choice of whom to wake (local.WorkShares), and the
messages sent that the handlers announce (Outbox through progress_events)."""

import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest

from s3fanout import progress_events
from s3fanout.eventsource import SHARE, STOP, WAKE, Heard, read_words
from s3fanout.local import WorkShares
from s3fanout.messages import CopyBatch, CopyItem
from s3fanout.outbox import Outbox
from s3fanout.queues import SendFailed
from tests.unit.fake_aws import KEY, FakeSQS


class Pipe:
    """One worker's end of the run's pipe, recording what the run says."""

    def __init__(self, name: str, broken: bool = False) -> None:
        self.name, self.broken = name, broken
        self.words: list[Any] = []

    def send(self, word: Any) -> None:
        if self.broken:
            raise BrokenPipeError(self.name)
        self.words.append(word)


def test_messages_wake_as_many_idle_workers_each_with_an_even_share() -> None:
    pipes = [Pipe(str(n)) for n in range(5)]
    shares = WorkShares(workers=5)
    for pipe in pipes:
        shares.add(pipe)
    shares.sent(10)  # ten copy batches: two for each, not ten for the first
    assert [pipe.words for pipe in pipes] == [[(WAKE, 2)]] * 5
    assert shares.waiting == []


def test_fewer_messages_than_idle_workers_wake_the_longest_waiting_only() -> None:
    first, second, third = Pipe("1"), Pipe("2"), Pipe("3")
    shares = WorkShares(workers=3)
    for pipe in (first, second, third, first):  # a worker idle twice waits once
        shares.add(pipe)
    shares.sent(2)
    assert (first.words, second.words, third.words) == ([(WAKE, 1)], [(WAKE, 1)], [])
    assert shares.waiting == [third]


def test_a_share_rounds_up_so_that_no_message_is_left_to_a_fallback_poll() -> None:
    pipes = [Pipe("1"), Pipe("2"), Pipe("3")]
    shares = WorkShares(workers=3, waiting=list(pipes))
    shares.looked(7)
    assert [pipe.words for pipe in pipes] == [[(WAKE, 3)]] * 3


def test_the_share_counts_the_busy_workers_and_the_messages_already_waiting() -> None:
    idle = [Pipe("1"), Pipe("2")]
    shares = WorkShares(workers=4, waiting=list(idle), backlog=6)
    shares.sent(10)  # 16 waiting for 4 workers, two of them busy: 4 each
    assert [pipe.words for pipe in idle] == [[(WAKE, 4)]] * 2


def test_messages_taken_leave_a_smaller_share_which_busy_workers_are_told_once() -> None:
    busy, idle = Pipe("busy"), Pipe("idle")
    shares = WorkShares(workers=2, waiting=[idle])
    shares.sent(20)  # the idle worker is woken for 10
    shares.tell([busy, idle])  # both busy now
    assert (busy.words, idle.words) == ([(SHARE, 10)], [(WAKE, 10), (SHARE, 10)])
    shares.took(10)
    shares.took(7)
    shares.add(idle)  # found nothing more
    shares.tell([busy, idle])
    shares.tell([busy, idle])  # unchanged: not said again
    assert busy.words == [(SHARE, 10), (SHARE, 2)] and idle.words == [(WAKE, 10), (SHARE, 10)]
    shares.took(5)  # more than the estimate: a worker took what the run had not seen sent
    assert shares.backlog == 0 and shares.share == 1


def test_a_worker_woken_with_another_share_is_told_the_next_one_even_if_it_is_the_old() -> None:
    busy, idle = Pipe("busy"), Pipe("idle")
    shares = WorkShares(workers=2, waiting=[idle], told=4, backlog=8)
    shares.took(8)
    shares.sent(1)  # woken for the one message, share 1
    shares.sent(7)  # back to 8 waiting before the run tells anyone: share 4 again
    shares.tell([busy, idle])
    assert busy.words == [(SHARE, 4)] and idle.words == [(WAKE, 1), (SHARE, 4)]


def test_workers_not_started_yet_count_and_a_new_one_hears_the_share_at_once() -> None:
    """The run's first worker lists and sends ten copy batches before the others start: they
    must not take ten each when they do."""
    lister, started = Pipe("lister"), Pipe("started")
    shares = WorkShares(workers=4)
    shares.sent(10)
    shares.tell([lister])
    shares.welcome(started)
    assert lister.words == [(SHARE, 3)] and started.words == [(SHARE, 3)]
    shares.welcome(Pipe("dead", broken=True))  # a worker that died at once does not stop the run


def test_no_message_wakes_nobody_and_a_dead_worker_is_skipped() -> None:
    dead, alive = Pipe("dead", broken=True), Pipe("alive")
    shares = WorkShares(workers=2, waiting=[dead, alive])
    shares.looked(0)
    assert shares.waiting == [dead, alive]
    shares.sent(2)  # the dead worker's broken pipe does not stop the run
    assert alive.words == [(WAKE, 1)] and shares.waiting == []


def test_a_replaced_worker_is_no_longer_waiting() -> None:
    gone, kept = Pipe("gone"), Pipe("kept")
    shares = WorkShares(workers=2, waiting=[gone, kept])
    shares.discard(gone)
    shares.discard(Pipe("never idle"))
    assert shares.waiting == [kept]


@pytest.fixture
def pipe() -> Iterator[tuple[Any, Any]]:
    run_end, worker_end = multiprocessing.Pipe()
    yield run_end, worker_end
    run_end.close()
    worker_end.close()


def test_a_worker_hears_nothing_when_nothing_was_said(pipe: tuple[Any, Any]) -> None:
    _, worker_end = pipe
    assert read_words(worker_end, timeout=0) == Heard()


def test_a_worker_takes_the_latest_share_said_since_it_last_listened(pipe: tuple[Any, Any]) -> None:
    run_end, worker_end = pipe
    run_end.send((WAKE, 2))
    run_end.send((SHARE, 5))
    run_end.send((SHARE, 1))
    assert read_words(worker_end, timeout=0) == Heard(share=1)
    assert read_words(worker_end, timeout=0) == Heard()  # every word was read


def test_stop_wins_over_any_wake(pipe: tuple[Any, Any]) -> None:
    run_end, worker_end = pipe
    run_end.send((WAKE, 3))
    run_end.send(STOP)
    assert read_words(worker_end, timeout=0).stop


def test_a_worker_whose_run_is_gone_stops(pipe: tuple[Any, Any]) -> None:
    run_end, worker_end = pipe
    run_end.close()
    assert read_words(worker_end, timeout=5).stop


@pytest.fixture
def sent() -> Iterator[list[int]]:
    heard: list[int] = []
    progress_events.subscribe_sent(heard.append)
    yield heard
    progress_events.unsubscribe_sent(heard.append)


def batches(count: int) -> list[CopyBatch]:
    return [CopyBatch("job", "src", "dst", (CopyItem(f"key-{n}", 1),)) for n in range(count)]


def test_an_outbox_announces_the_messages_visible_at_once(sent: list[int]) -> None:
    outbox = Outbox(FakeSQS(), KEY, "https://sqs.test/list", "https://sqs.test/copy")
    outbox.copy_batches(batches(12))
    outbox.copy_batches(batches(3), delay_seconds=[0, 4, 0])
    outbox.copy_batches(batches(2), delay_seconds=8)  # retries: the run's look at the queues finds them when due
    assert sent == [12, 2]


def test_messages_not_sent_are_not_announced(sent: list[int]) -> None:
    [batch] = batches(1)
    outbox = Outbox(FakeSQS(sender_faults={KEY.seal(batch.to_json())}), KEY, "https://sqs.test/list", "https://sqs.test/copy")
    with pytest.raises(SendFailed):
        outbox.copy_batches([batch])
    assert sent == []
