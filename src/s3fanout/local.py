"""Local mode's run loop: worker processes (eventsource.py: each plays a Lambda execution
environment and its SQS event source) over a job's queues until they are drained, replaced when
they die, their progress added up.

Workers are forked from a fork server that imported what they need once (workerpreload.py), where
the platform has one; ``prepare_workers`` (eventsource.py) starts it early, so that its imports
overlap the run's checks and set-up. Elsewhere each worker is spawned and imports everything itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from s3fanout.counts import Counts
from s3fanout.eventsource import IDLE, REPORT, SENT, SHARE, STOP, TOOK, WAKE, FunctionSpec, WorkerConfig, prepare_workers, worker_context, worker_main
from s3fanout.functions import FUNCTIONS
from s3fanout.jobqueues import QueueSet, queue_depths

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# Function timeouts of local mode. Shorter than the template's, so that a crashed worker's message
# is redelivered within minutes; the lister hands its range on well before either runs out.
LIST_TIMEOUT_SECONDS = 300
COPY_TIMEOUT_SECONDS = 120


def visibility_for(timeout_seconds: int) -> int:
    """A local queue hides a received message a little longer than the function may run."""
    return timeout_seconds + min(30, timeout_seconds)


WORKER_STOP_SECONDS = 10
# How often the run wakes to ask the job record whether anything is still open (when RecordLooks
# says so), and looks at the queues.
RECORD_POLL_SECONDS = 0.2
QUEUE_LOOK_SECONDS = 1.0
# Once workers have reported settling what the record last counted open (the job's last message,
# perhaps), the record is asked again this soon after the previous look.
SETTLED_LOOK_SECONDS = 0.1
# The record is asked at least this often whatever the reports say.
RECORD_LOOK_FALLBACK_SECONDS = 1.0
# Without a record: consecutive empty looks at every queue before the work counts as finished
# (SQS's counts are approximate and a delayed retry can surface between two looks).
IDLE_CHECKS_TO_FINISH = 3
# With a record that still counts messages open: empty looks in a row after which a worker must
# have died between counting a message and sending it (the run ends, and says so).
STALLED_CHECKS = 30


@dataclass
class RecordLooks:
    """When the run asks the job record again. Each settled message is reported by its worker
    after it is settled, so the job cannot have drained before the workers have reported as
    many messages as the record counted open at the last look: until then a look would only
    find it open (on the embedded moto server, each look also waits for DynamoDB's one lock
    that the workers' settles take). A message settled without a report (one refused past its
    hop bound) is found by the look every RECORD_LOOK_FALLBACK_SECONDS."""

    looked_at: float = float("-inf")
    open_then: int = 0
    reported: int = 0

    def note_reports(self, count: int) -> None:
        self.reported += count

    def settled_enough(self) -> bool:
        return self.reported >= self.open_then

    def due(self, now: float) -> bool:
        return self.settled_enough() or now - self.looked_at >= RECORD_LOOK_FALLBACK_SECONDS

    def looked(self, now: float, open_messages: int) -> None:
        self.looked_at, self.open_then, self.reported = now, open_messages, 0


@dataclass
class WorkShares:
    """How many messages a worker takes per poll, and which idle workers to wake.

    The run keeps an estimate of the messages waiting on the queues (``backlog``): what its last
    look at them found visible, plus what the workers' handlers sent since, less what the workers
    took since. A worker takes at most an even share of it per poll, ceil(backlog / workers): a
    copier may take up to ten copy batches at once, and one that takes ten of twenty while the
    others find none keeps a quarter of four workers' copies in flight through most of the job
    (on an endpoint whose copies take time, that is a quarter of the pace). Where ten batches or
    more wait per worker the share is the copier's batch size, as in Lambda.

    Idle workers (``waiting``, each worker's pipe, oldest first) are woken when messages are sent
    or found waiting, as many as the backlog makes shares, the longest waiting first; busy
    workers are told each new share and take it at their next poll."""

    workers: int = 1  # the run's (each starts as soon as there is work for it)
    waiting: list[Any] = field(default_factory=list)
    backlog: int = 0
    told: int | None = None  # the share last said to the workers

    def add(self, connection: Any) -> None:
        if connection not in self.waiting:
            self.waiting.append(connection)

    def discard(self, connection: Any) -> None:
        if connection in self.waiting:
            self.waiting.remove(connection)

    @property
    def share(self) -> int:
        return max(1, -(-self.backlog // max(1, self.workers)))

    def looked(self, visible: int) -> None:
        """The run's look found ``visible`` messages waiting (retries whose delay ended, other
        jobs' messages on shared queues included)."""
        self.backlog = visible
        self.wake()

    def sent(self, messages: int) -> None:
        self.backlog += messages
        self.wake()

    def took(self, messages: int) -> None:
        self.backlog = max(0, self.backlog - messages)

    def wake(self) -> None:
        share = self.share
        count = min(len(self.waiting), -(-self.backlog // share))
        woken, self.waiting = self.waiting[:count], self.waiting[count:]
        for connection in woken:
            self._say(connection, (WAKE, share))
        if woken and share != self.told:
            self.told = None  # the woken now hold another share: the next tell says it to all

    def tell(self, connections: list[Any]) -> None:
        """Say the share to the busy workers (of ``connections``) if it changed since last said."""
        share = self.share
        if share == self.told:
            return
        self.told = share
        for connection in connections:
            if connection not in self.waiting:
                self._say(connection, (SHARE, share))

    def welcome(self, connection: Any) -> None:
        """A worker just started hears the share (not yet idle, it polls at once)."""
        self._say(connection, (SHARE, self.share))

    @staticmethod
    def _say(connection: Any, word: tuple[str, int]) -> None:
        with contextlib.suppress(OSError):  # a worker that died; the run loop replaces it
            connection.send(word)


@dataclass
class LocalRun:
    """Runs worker processes over a job's queues until every queue is drained.

    A worker that dies (killed, out of memory) is replaced, as Lambda starts a new execution
    environment; what it was doing reappears on its queue after the visibility timeout.
    """

    queues: QueueSet
    sqs: SQSClient
    workers: int
    environment: dict[str, str]
    log_path: Path
    region: str
    job_id: str | None  # None counts the progress of every job on the queues
    list_timeout: int = LIST_TIMEOUT_SECONDS
    copy_timeout: int = COPY_TIMEOUT_SECONDS
    counters: Counts = field(default_factory=Counts)
    workers_replaced: int = 0
    # Seconds the queues were empty under a record still counting messages open (0: never).
    stalled: float = 0.0
    shares: WorkShares = field(init=False)
    # Messages the workers' handlers sent, visible at once: work for that many workers.
    messages_sent: int = 0

    def __post_init__(self) -> None:
        self.shares = WorkShares(self.workers)

    def functions(self) -> tuple[FunctionSpec, ...]:
        def arn(url: str) -> str:
            return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

        urls = self.queues.main_queues()
        timeouts = {"list": self.list_timeout, "copy": self.copy_timeout}
        return tuple(FunctionSpec(f.name, f.handler, urls[f.queue], arn(urls[f.queue]), timeouts[f.queue], f.batch_size) for f in FUNCTIONS)

    def run(self, on_progress: Callable[[Counts, dict[str, tuple[int, int, int]], float], None], open_messages: Callable[[], int] | None = None) -> None:
        """Work until ``open_messages()`` (the job record's) is 0, asking it when RecordLooks
        says so; without it, until every queue looks empty IDLE_CHECKS_TO_FINISH times in a
        row."""
        prepare_workers()
        context = worker_context()
        # The whole environment: a forked worker inherits the fork server's, which may be older.
        config = WorkerConfig(self.functions(), dict(os.environ) | self.environment, str(self.log_path), self.region)
        workers: list[tuple[Any, Any]] = []
        started = time.monotonic()

        def start_worker() -> tuple[Any, Any]:
            ours, theirs = context.Pipe()
            process = context.Process(target=worker_main, args=(config, theirs), daemon=True)
            process.start()
            theirs.close()
            self.shares.welcome(ours)
            return process, ours

        def add_workers(work: int) -> None:
            """Up to ``self.workers``, one per piece of work known to be waiting."""
            while len(workers) < min(self.workers, work):
                workers.append(start_worker())

        # Workers start as there is work for them: one at once, the rest when the queues hold more
        # than one message (a job of many ranges, at once), as the workers' handlers send more
        # messages (copy batches, parts of ranges), or when a look at the queues finds messages
        # waiting. A job that one worker finishes (a small source) costs one process.
        workers = [start_worker()]
        try:
            add_workers(sum(queue_depths(self.sqs, url)[0] for url in self.queues.main_queues().values()))
            idle_checks = 0
            next_look = time.monotonic()
            looks = RecordLooks()
            while True:
                deadline = time.monotonic() + (RECORD_POLL_SECONDS if open_messages else QUEUE_LOOK_SECONDS)
                while (left := deadline - time.monotonic()) > 0:
                    connections = [connection for _, connection in workers]
                    received = self._receive(connections, timeout=left)
                    add_workers(self.messages_sent)
                    self.shares.tell(connections)
                    if received:
                        looks.note_reports(received)
                        if open_messages is not None and looks.settled_enough():
                            deadline = min(deadline, max(time.monotonic(), looks.looked_at + SETTLED_LOOK_SECONDS))
                if open_messages is not None and looks.due(time.monotonic()):
                    looked_at, still_open = time.monotonic(), open_messages()
                    if still_open <= 0:
                        break
                    looks.looked(looked_at, still_open)
                if time.monotonic() < next_look:
                    continue
                next_look = time.monotonic() + QUEUE_LOOK_SECONDS
                depths = {name: queue_depths(self.sqs, url) for name, url in self.queues.main_queues().items()}
                on_progress(self.counters, depths, time.monotonic() - started)
                visible = sum(visible for visible, _, _ in depths.values())
                self.shares.looked(visible)
                add_workers(len(workers) + visible)
                idle_checks = idle_checks + 1 if all(sum(d) == 0 for d in depths.values()) else 0
                if idle_checks >= (IDLE_CHECKS_TO_FINISH if open_messages is None else STALLED_CHECKS):
                    self.stalled = idle_checks * QUEUE_LOOK_SECONDS if open_messages is not None else 0.0
                    break
                for index, (process, connection) in enumerate(workers):
                    if not process.is_alive():
                        self._receive([connection], timeout=0)
                        self.shares.discard(connection)
                        connection.close()
                        self._note(f"worker process {process.pid} ended with status {process.exitcode}; starting another")
                        workers[index] = start_worker()
                        self.workers_replaced += 1
        finally:
            for _, connection in workers:
                with contextlib.suppress(OSError):
                    connection.send(STOP)
            # A worker finishes the invocation it is in; one that takes longer is stopped (its
            # messages reappear after their visibility timeout, as after a Lambda crash).
            deadline = time.monotonic() + WORKER_STOP_SECONDS
            for process, connection in workers:
                process.join(timeout=max(0.1, deadline - time.monotonic()))
                if process.is_alive():
                    process.terminate()
                self._receive([connection], timeout=0)
        # The last word of the progress display: everything the workers reported.
        on_progress(self.counters, {name: (0, 0, 0) for name in self.queues.main_queues()}, time.monotonic() - started)

    def _note(self, line: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"local mode: {line}\n")

    def _receive(self, connections: list[Connection], timeout: float) -> int:
        """Take the events waiting on the workers' pipes (waiting up to ``timeout`` for the
        first): add up their reports, note the idle and the messages taken, wake idle workers
        for the messages sent. How many reports there were."""
        received = 0
        for ready in multiprocessing.connection.wait(connections, timeout=timeout):
            connection = cast(Connection, ready)
            try:
                while connection.poll():
                    event = connection.recv()
                    if event == IDLE:
                        self.shares.add(connection)
                    elif event[0] == SENT:
                        self.messages_sent += event[1]
                        self.shares.sent(event[1])
                    elif event[0] == TOOK:
                        self.shares.took(event[1])
                    elif event[0] == REPORT:
                        _, job_id, counts = event
                        received += 1
                        if self.job_id in (None, job_id):
                            self.counters += Counts.from_dict(counts)
            except (EOFError, OSError):
                continue  # a worker that died; it is replaced by the run loop
        return received
