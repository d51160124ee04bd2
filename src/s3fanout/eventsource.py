"""Lambda's SQS event source, played on this machine for the real handlers (local mode).

Each worker is a separate process, as each Lambda execution environment is: the handler modules keep
state at module level (Powertools' processor, logger and metrics), exactly as in Lambda. A worker
receives a batch from a queue, builds the SQS event Lambda would build, invokes the handler with a
context whose remaining time counts down from the function timeout, deletes the records that
succeeded and leaves the failed ones to SQS, which redelivers them after a short backoff and moves
them to the dead-letter queue after ``maxReceiveCount`` receives (the queues' RedrivePolicy).

Workers are forked from a fork server that has imported everything but the handler modules
(workerpreload.py); each worker then imports those, as a new execution environment does, once its
environment is the run's.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import TYPE_CHECKING, Any, NamedTuple

from s3fanout.backoff import backoff_seconds

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

# Failed records come back after a backoff that doubles with their receive count, up to this.
FAILED_RECORD_MAX_BACKOFF_SECONDS = 60
# The words on a worker's pipe. The run says STOP (finish the invocation in hand, then exit),
# (SHARE, n): take at most n messages per poll from now on, an even share of those waiting (see
# local.WorkShares), or (WAKE, n): the same, and poll now (messages were sent or are waiting).
# The worker says (TOOK, n) of the messages each poll took, (REPORT, job id, counts) of each
# record it settled, (SENT, n) of the messages its handlers sent, and IDLE when it found every
# queue empty and waits to be woken.
STOP, SHARE, WAKE, TOOK, REPORT, SENT, IDLE = "stop", "share", "wake", "took", "report", "sent", "idle"
# An idle worker polls again after this long even if nothing wakes it. The run wakes idle workers
# as the job's messages are sent and when its look at the queues (every second) finds some
# visible, so idle workers do not poll an endpoint that their own polls would slow down.
IDLE_POLL_SECONDS = 5.0


class FakeLambdaContext:
    """The parts of Lambda's context object that the handlers and Powertools read."""

    def __init__(self, function_name: str, timeout_seconds: float, memory_mb: int = 1024) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(messages: list[MessageTypeDef], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source passes to a function for these received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One function as local mode runs it: its handler, queue and limits."""

    name: str
    handler: str  # "package.module.function"
    queue_url: str
    queue_arn: str
    timeout_seconds: int
    batch_size: int


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    functions: tuple[FunctionSpec, ...]  # polled in this order: copies before listings
    environment: dict[str, str]  # the worker's whole environment (the run's, and the functions' variables)
    log_path: str
    region: str


def invoke(handler: Callable[[dict[str, Any], Any], Any], function: FunctionSpec, messages: list[MessageTypeDef], region: str) -> set[str]:
    """Invoke the handler the way Lambda would; return the ids of the messages that failed."""
    event = sqs_event(messages, function.queue_arn, region)
    context = FakeLambdaContext(function.name, function.timeout_seconds)
    try:
        response = handler(event, context) or {}
    except Exception:  # noqa: BLE001 - like Lambda, an unhandled error fails the whole batch
        traceback.print_exc()
        return {m["MessageId"] for m in messages}
    return {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}


def settle(sqs: SQSClient, function: FunctionSpec, messages: list[MessageTypeDef], failed_ids: set[str]) -> None:
    """Delete what succeeded; let failed records come back after a short backoff."""
    done = [m for m in messages if m["MessageId"] not in failed_ids]
    for start in range(0, len(done), 10):
        chunk = done[start : start + 10]
        sqs.delete_message_batch(
            QueueUrl=function.queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
        )
    for message in messages:
        if message["MessageId"] in failed_ids:
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            with contextlib.suppress(Exception):  # the message reappears after its visibility timeout anyway
                sqs.change_message_visibility(
                    QueueUrl=function.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=round(backoff_seconds(receives, base=1, cap=FAILED_RECORD_MAX_BACKOFF_SECONDS)),
                )


# What the fork server imports before it forks a worker.
WORKER_PRELOAD = "s3fanout.workerpreload"


def worker_context() -> ForkServerContext | SpawnContext:
    """How worker processes start: forked from a fork server that has imported what they need
    (WORKER_PRELOAD) where the platform has one, else spawned."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([WORKER_PRELOAD])
    return context


# Whether this process has started its fork server (once: it lives as long as the process).
_server_started = threading.Event()


def prepare_workers() -> None:
    """Start the workers' fork server (if it is not running yet) in the background: it imports
    while the run checks the buckets and makes its queues, and the first worker need not wait.

    The server (and multiprocessing's resource tracker, started with it) gets /dev/null as its
    standard output and error: holding this command's, it would keep a pipe's reader (``| jq``, a
    test's ``capture_output``) waiting until it has exited too, a quarter of a second after this
    process. A worker's output goes to the run's log from its first line (worker_main)."""
    if worker_context().get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    if _server_started.is_set():
        # Running (this returns at once), or restarted (after a kill) the plain way.
        forkserver.ensure_running()
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with _quiet_standard_fds():
        forkserver.ensure_running()
    _server_started.set()


@contextlib.contextmanager
def _quiet_standard_fds() -> Iterator[None]:
    """File descriptors 1 and 2 on /dev/null for a while (left alone where they are not open)."""
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        for fd, saved_fd in enumerate(saved, 1):
            os.dup2(saved_fd, fd)
            os.close(saved_fd)


def worker_main(config: WorkerConfig, connection: Any) -> None:
    """Entry point of a worker process: poll, invoke, settle, until told to stop.

    The worker talks to the parent over a pipe of its own (events out, STOP and WAKE in): a worker
    can be killed at any instant, and no lock shared between processes may die with it.
    """
    # Ctrl-C reaches the whole process group: the parent stops the workers itself, so that no
    # worker dies mid-invocation with a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log = open(config.log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    # The handlers log (and would print metrics) to stdout, as in Lambda; here that goes to the log.
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    # The run's whole environment: a worker forked from the fork server inherited the server's.
    os.environ.clear()
    os.environ.update(config.environment)

    import importlib

    from s3fanout import clients, progress_events

    # Clients made from now on read this environment (models read by the fork server are kept).
    clients.reset()

    # Handler threads report at once (a copier's records): one message on the pipe at a time.
    sending = threading.Lock()

    def tell(event: object) -> None:
        with sending, contextlib.suppress(OSError):  # the run is gone: the next read_words says STOP
            connection.send(event)

    progress_events.subscribe(lambda job_id, counts: tell((REPORT, job_id, counts.to_dict())))
    progress_events.subscribe_sent(lambda count: tell((SENT, count)))
    handlers = {}
    for function in config.functions:
        module, name = function.handler.rsplit(".", 1)
        handlers[function.name] = getattr(importlib.import_module(module), name)
    sqs = clients.sqs()

    # Each round reads what the run said since the last: STOP, or the share to take per poll.
    share: int | None = None  # none said yet: a whole batch
    while not (heard := read_words(connection, timeout=0)).stop:
        share = heard.share or share
        worked = False
        for function in config.functions:
            try:
                messages = sqs.receive_message(
                    QueueUrl=function.queue_url,
                    MaxNumberOfMessages=min(function.batch_size, share or function.batch_size),
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                    WaitTimeSeconds=0,
                ).get("Messages", [])
                if not messages:
                    continue
                tell((TOOK, len(messages)))
                failed = invoke(handlers[function.name], function, messages, config.region)
                settle(sqs, function, messages, failed)
            except Exception:  # noqa: BLE001 - a worker outlives any one failure, as Lambda does
                traceback.print_exc()
                time.sleep(1)
            worked = True
            break
        if not worked:
            # Idle: say so, then wait for a word (a WAKE, or STOP, which ends the wait at once),
            # or poll again after IDLE_POLL_SECONDS anyway.
            tell(IDLE)
            connection.poll(IDLE_POLL_SECONDS)


class Heard(NamedTuple):
    """What a worker heard from the run: STOP (or the run is gone), or the latest share it said
    (None: none since the worker last listened)."""

    stop: bool = False
    share: int | None = None


def read_words(connection: Any, timeout: float) -> Heard:
    """Wait up to ``timeout`` for a word from the run, then read every word waiting."""
    share = None
    try:
        if connection.poll(timeout):
            while connection.poll():
                word = connection.recv()
                if word == STOP:
                    return Heard(stop=True)
                share = word[1]
    except (EOFError, OSError):
        return Heard(stop=True)
    return Heard(share=share)
