"""Lambda's SQS event source, played on this machine for the real handlers (local mode).

Each worker is a separate process, as each Lambda execution environment is: the handler modules keep
state at module level (Powertools' processor, logger and metrics), exactly as in Lambda. A worker
receives a batch from a queue, builds the SQS event Lambda would build, invokes the handler with a
context whose remaining time counts down from the function timeout, deletes the records that
succeeded and leaves the failed ones to SQS, which redelivers them after a short backoff and moves
them to the dead-letter queue after ``maxReceiveCount`` receives (the queues' RedrivePolicy).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3fanout.backoff import backoff_seconds

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

# Failed records come back after a backoff that doubles with their receive count, up to this.
FAILED_RECORD_MAX_BACKOFF_SECONDS = 60
IDLE_POLL_SECONDS = 0.5


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
    environment: dict[str, str]
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


def worker_main(config: WorkerConfig, connection: Any) -> None:
    """Entry point of a worker process: poll, invoke, settle, until told to stop.

    The worker talks to the parent over a pipe of its own (events out, "stop" in): a worker can be
    killed at any instant, and no lock shared between processes may die with it.
    """
    # Ctrl-C reaches the whole process group: the parent stops the workers itself, so that no
    # worker dies mid-invocation with a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log = open(config.log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    # The handlers log (and would print metrics) to stdout, as in Lambda; here that goes to the log.
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    os.environ.update(config.environment)

    import importlib

    from s3fanout import clients, progress_events

    progress_events.subscribe(lambda job_id, counts: connection.send((job_id, counts.to_dict())))
    handlers = {}
    for function in config.functions:
        module, name = function.handler.rsplit(".", 1)
        handlers[function.name] = getattr(importlib.import_module(module), name)
    sqs = clients.sqs()

    while not connection.poll():
        worked = False
        for function in config.functions:
            try:
                messages = sqs.receive_message(
                    QueueUrl=function.queue_url,
                    MaxNumberOfMessages=function.batch_size,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                    WaitTimeSeconds=0,
                ).get("Messages", [])
                if not messages:
                    continue
                failed = invoke(handlers[function.name], function, messages, config.region)
                settle(sqs, function, messages, failed)
            except Exception:  # noqa: BLE001 - a worker outlives any one failure, as Lambda does
                traceback.print_exc()
                time.sleep(1)
            worked = True
            break
        if not worked:
            # Idle: wait for work, or for the word to stop (which ends the wait at once).
            connection.poll(IDLE_POLL_SECONDS)
