"""In-process moto fixtures for the handler tests: buckets, the four queues, events, contexts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from s3fanout import clients, handling
from s3fanout.dlq import DeadLetter, dead_letters, peek
from s3fanout.eventsource import FakeLambdaContext, sqs_event
from s3fanout.jobqueues import QueueSet, ensure_local_queues
from s3fanout.jobrecord import JobTable, ensure_local_table
from s3fanout.signing import MessageKey

SOURCE = "source-bucket"
DEST = "dest-bucket"
# The key the handlers under test hold (MESSAGE_KEY): bodies the tests send are sealed with it.
KEY = MessageKey(b"integration-test-key")


@dataclass
class Aws:
    s3: Any
    sqs: Any
    queues: QueueSet

    def dead_letters(self, queue_url: str) -> list[DeadLetter]:
        return dead_letters("dlq", peek(self.sqs, queue_url))

    def drain(self, queue_url: str) -> list[str]:
        """Receive and delete every message on a queue; return the bodies."""
        bodies = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(message["Body"])
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def event(self, queue_url: str, *bodies: str, sealed: bool = True) -> dict[str, Any]:
        """An SQS event as Lambda would deliver these bodies from the queue, sealed with KEY as
        the stack's own messages are (unless ``sealed`` is False, or a body is no JSON object)."""
        for body in bodies:
            if sealed and body.startswith("{") and body.endswith("}"):
                body = KEY.seal(body)
            self.sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        messages = []
        while len(messages) < len(bodies):
            messages += self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return sqs_event(messages, arn, "us-east-1")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with mock_aws():
        clients.reset()
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        s3.create_bucket(Bucket=SOURCE)
        s3.create_bucket(Bucket=DEST)
        # SQS delays are real time; the tests read delayed messages at once.
        monkeypatch.setattr("s3fanout.copying.batch.retry_delay_seconds", lambda attempts: 0)
        # In-process moto answers every receive exactly; no need to wait for stragglers.
        monkeypatch.setattr("s3fanout.dlq.EMPTY_POLL_WAIT_SECONDS", 0)
        queues = ensure_local_queues(sqs, "job-1", max_receive_count=3, list_visibility_seconds=30, copy_visibility_seconds=30)
        # The handlers serve these two buckets, may delete, and hold KEY.
        monkeypatch.setenv("MESSAGE_KEY", KEY.secret.decode())
        monkeypatch.setenv("SOURCE_BUCKET", SOURCE)
        monkeypatch.setenv("DEST_BUCKET", DEST)
        monkeypatch.setenv("ALLOW_DELETE", "true")
        handling.configuration.cache_clear()
        handling.job_table.cache_clear()
        monkeypatch.setenv("LIST_QUEUE_URL", queues.list_url)
        monkeypatch.setenv("LIST_DLQ_URL", queues.list_dlq_url)
        monkeypatch.setenv("COPY_QUEUE_URL", queues.copy_url)
        monkeypatch.setenv("COPY_DLQ_URL", queues.copy_dlq_url)
        yield Aws(s3, sqs, queues)
    clients.reset()
    handling.configuration.cache_clear()
    handling.job_table.cache_clear()


@pytest.fixture
def job_table(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> JobTable:
    """Local mode's job table, which the handlers keep (JOB_TABLE), with the queues' receive limit."""
    table = ensure_local_table(boto3.client("dynamodb", region_name="us-east-1"))
    monkeypatch.setenv("JOB_TABLE", table.name)
    monkeypatch.setenv("MAX_RECEIVE_COUNT", "3")
    handling.job_table.cache_clear()
    return table


def context(timeout_seconds: float = 300) -> FakeLambdaContext:
    return FakeLambdaContext("test-function", timeout_seconds)
