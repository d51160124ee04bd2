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
from s3fanout.eventsource import FunctionSpec, WorkerConfig, prepare_workers, worker_context, worker_main
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
# How often the run asks the job record whether anything is still open, and looks at the queues.
RECORD_POLL_SECONDS = 0.2
QUEUE_LOOK_SECONDS = 1.0
# After a worker reports a settled message (the job's last, perhaps), the record is asked again this
# soon after the previous look, instead of at the end of RECORD_POLL_SECONDS.
SETTLED_LOOK_SECONDS = 0.1
# Without a record: consecutive empty looks at every queue before the work counts as finished
# (SQS's counts are approximate and a delayed retry can surface between two looks).
IDLE_CHECKS_TO_FINISH = 3
# With a record that still counts messages open: empty looks in a row after which a worker must
# have died between counting a message and sending it (the run ends, and says so).
STALLED_CHECKS = 30


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

    def functions(self) -> tuple[FunctionSpec, ...]:
        def arn(url: str) -> str:
            return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

        urls = self.queues.main_queues()
        timeouts = {"list": self.list_timeout, "copy": self.copy_timeout}
        return tuple(FunctionSpec(f.name, f.handler, urls[f.queue], arn(urls[f.queue]), timeouts[f.queue], f.batch_size) for f in FUNCTIONS)

    def run(self, on_progress: Callable[[Counts, dict[str, tuple[int, int, int]], float], None], drained: Callable[[], bool] | None = None) -> None:
        """Work until ``drained()`` (the job record: nothing open) says so, looking at it every
        RECORD_POLL_SECONDS; without it, until every queue looks empty IDLE_CHECKS_TO_FINISH
        times in a row."""
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
            return process, ours

        def add_workers(work: int) -> None:
            """Up to ``self.workers``, one per piece of work known to be waiting."""
            while len(workers) < min(self.workers, work):
                workers.append(start_worker())

        # Workers start as there is work for them: one at once, the rest when the queues hold more
        # than one message (a job of many ranges, at once), when the job's listing has queued more
        # copy batches than one worker takes on, or when a look at the queues finds messages
        # waiting. A job that one worker finishes (a small source) costs one process.
        workers = [start_worker()]
        try:
            add_workers(sum(queue_depths(self.sqs, url)[0] for url in self.queues.main_queues().values()))
            idle_checks = 0
            next_look = time.monotonic()
            record_looked = 0.0
            while True:
                deadline = time.monotonic() + (RECORD_POLL_SECONDS if drained else QUEUE_LOOK_SECONDS)
                while (left := deadline - time.monotonic()) > 0:
                    if self._receive([connection for _, connection in workers], timeout=left):
                        add_workers(self.counters.copy_batches_sent + self.counters.ranges_split_off + self.counters.ranges_handed_on)
                        if drained is not None:
                            deadline = min(deadline, max(time.monotonic(), record_looked + SETTLED_LOOK_SECONDS))
                if drained is not None:
                    record_looked = time.monotonic()
                    if drained():
                        break
                if time.monotonic() < next_look:
                    continue
                next_look = time.monotonic() + QUEUE_LOOK_SECONDS
                depths = {name: queue_depths(self.sqs, url) for name, url in self.queues.main_queues().items()}
                on_progress(self.counters, depths, time.monotonic() - started)
                add_workers(len(workers) + sum(visible for visible, _, _ in depths.values()))
                idle_checks = idle_checks + 1 if all(sum(d) == 0 for d in depths.values()) else 0
                if idle_checks >= (IDLE_CHECKS_TO_FINISH if drained is None else STALLED_CHECKS):
                    self.stalled = idle_checks * QUEUE_LOOK_SECONDS if drained is not None else 0.0
                    break
                for index, (process, connection) in enumerate(workers):
                    if not process.is_alive():
                        self._receive([connection], timeout=0)
                        connection.close()
                        self._note(f"worker process {process.pid} ended with status {process.exitcode}; starting another")
                        workers[index] = start_worker()
                        self.workers_replaced += 1
        finally:
            for _, connection in workers:
                with contextlib.suppress(OSError):
                    connection.send("stop")
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
        """Count the events waiting on the workers' pipes (waiting up to ``timeout`` for the first);
        how many there were."""
        received = 0
        for ready in multiprocessing.connection.wait(connections, timeout=timeout):
            connection = cast(Connection, ready)
            try:
                while connection.poll():
                    job_id, counts = connection.recv()
                    received += 1
                    if self.job_id in (None, job_id):
                        self.counters += Counts.from_dict(counts)
            except (EOFError, OSError):
                continue  # a worker that died; it is replaced by the run loop
        return received
