"""The replicator's Lambda handler (Replication=true) against in-process moto: S3 events applied to
the destination by the ordering rule, redeliveries reconciled, permanent failures dead-lettered on
the last delivery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from replicate_events import app
from s3fanout import clients
from s3fanout.eventsource import sqs_event
from tests.integration.conftest import DEST, SOURCE, Aws, context

MAX_RECEIVES = 3


@pytest.fixture
def events(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """The stack's event queue and its DLQ (EVENT_DLQ_URL), with the handler's scope reset."""
    dlq = aws.sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    queue = aws.sqs.create_queue(QueueName="events", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    monkeypatch.setenv("EVENT_DLQ_URL", dlq)
    monkeypatch.setenv("MAX_RECEIVE_COUNT", str(MAX_RECEIVES))
    app.scope.cache_clear()
    yield queue, dlq
    app.scope.cache_clear()


def notification(key: str, name: str = "ObjectCreated:Put", *, etag: str | None = None, size: int = 4, sequencer: str = "0A", bucket: str = SOURCE) -> str:
    """An S3 event notification as S3 sends it to SQS (the key form-encoded)."""
    obj: dict[str, Any] = {"key": key.replace(" ", "+"), "sequencer": sequencer}
    if name.startswith("ObjectCreated"):
        obj |= {"eTag": etag, "size": size}
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventName": name,
        "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
    }
    return json.dumps({"Records": [record]})


def put(aws: Aws, key: str, body: bytes = b"data") -> str:
    return str(aws.s3.put_object(Bucket=SOURCE, Key=key, Body=body)["ETag"]).strip('"')


def deliver(aws: Aws, queue: str, *bodies: str, receives: int = 1) -> dict[str, Any]:
    """The handler's answer to these bodies, received ``receives`` times (the last one handled)."""
    for body in bodies:
        aws.sqs.send_message(QueueUrl=queue, MessageBody=body)
    messages: list[Any] = []
    for _ in range(receives):
        messages = []
        while len(messages) < len(bodies):
            messages += aws.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0).get("Messages", [])
    arn = aws.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    answer: dict[str, Any] = app.lambda_handler(sqs_event(messages, arn, "us-east-1"), context())
    return answer


def dest_body(aws: Aws, key: str) -> bytes | None:
    try:
        return bytes(aws.s3.get_object(Bucket=DEST, Key=key)["Body"].read())
    except ClientError:
        return None


def test_created_overwritten_and_deleted_events_are_applied(aws: Aws, events: tuple[str, str]) -> None:
    queue, dlq = events
    first = put(aws, "a key", b"v1")
    assert deliver(aws, queue, notification("a key", etag=first, sequencer="01")) == {"batchItemFailures": []}
    assert dest_body(aws, "a key") == b"v1"

    second = put(aws, "a key", b"v2")
    assert deliver(aws, queue, notification("a key", etag=second, sequencer="02")) == {"batchItemFailures": []}
    assert dest_body(aws, "a key") == b"v2"

    aws.s3.delete_object(Bucket=SOURCE, Key="a key")
    assert deliver(aws, queue, notification("a key", "ObjectRemoved:Delete", sequencer="03")) == {"batchItemFailures": []}
    assert dest_body(aws, "a key") is None
    assert aws.drain(dlq) == []


def test_a_stale_event_is_skipped(aws: Aws, events: tuple[str, str]) -> None:
    queue, _ = events
    old = put(aws, "k", b"old")
    put(aws, "k", b"new")
    aws.s3.put_object(Bucket=DEST, Key="k", Body=b"new")
    # The event of the older write arrives late: its ETag is no longer the source's.
    assert deliver(aws, queue, notification("k", etag=old, sequencer="01")) == {"batchItemFailures": []}
    assert dest_body(aws, "k") == b"new"


def test_a_delete_of_a_key_the_source_has_again_is_skipped(aws: Aws, events: tuple[str, str]) -> None:
    queue, _ = events
    put(aws, "k", b"again")
    aws.s3.put_object(Bucket=DEST, Key="k", Body=b"again")
    assert deliver(aws, queue, notification("k", "ObjectRemoved:Delete")) == {"batchItemFailures": []}
    assert dest_body(aws, "k") == b"again"


def test_a_redelivered_event_is_reconciled(aws: Aws, events: tuple[str, str]) -> None:
    queue, _ = events
    old = put(aws, "k", b"old")
    put(aws, "k", b"current")
    # A first delivery would skip this stale event; a second brings the destination to the source.
    assert deliver(aws, queue, notification("k", etag=old), receives=2) == {"batchItemFailures": []}
    assert dest_body(aws, "k") == b"current"


def test_the_test_event_and_events_of_other_buckets_change_nothing(aws: Aws, events: tuple[str, str]) -> None:
    queue, dlq = events
    put(aws, "k")
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": SOURCE})
    assert deliver(aws, queue, test_event, notification("k", etag="x", bucket="other-bucket")) == {"batchItemFailures": []}
    assert dest_body(aws, "k") is None
    assert aws.drain(dlq) == []


def test_a_message_that_is_no_event_goes_to_the_dlq_at_once(aws: Aws, events: tuple[str, str]) -> None:
    queue, dlq = events
    assert deliver(aws, queue, "not json") == {"batchItemFailures": []}
    assert aws.drain(dlq) == ["not json"]


class DeniedWrites:
    """An S3 client whose CopyObject is refused (AccessDenied: permanent)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def copy_object(self, **request: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "CopyObject")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_permanent_failure_fails_the_record_until_its_last_delivery_then_dead_letters_it(aws: Aws, events: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    queue, dlq = events
    etag = put(aws, "denied")
    real = clients.s3()
    monkeypatch.setattr(clients, "s3", lambda *args, **kwargs: DeniedWrites(real))
    body = notification("denied", etag=etag)

    answer = deliver(aws, queue, body)
    assert len(answer["batchItemFailures"]) == 1
    assert aws.drain(dlq) == []

    aws.drain(queue)
    assert deliver(aws, queue, body, receives=MAX_RECEIVES) == {"batchItemFailures": []}
    [letter] = aws.sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"]).get("Messages", [])
    assert letter["Body"] == body
    assert "AccessDenied" in json.dumps(letter.get("MessageAttributes", {}))
    assert dest_body(aws, "denied") is None


class FlakyWrites(DeniedWrites):
    def copy_object(self, **request: Any) -> Any:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "CopyObject")


def test_a_transient_failure_is_delivered_again_even_on_the_last_delivery(aws: Aws, events: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    queue, dlq = events
    etag = put(aws, "busy")
    real = clients.s3()
    monkeypatch.setattr(clients, "s3", lambda *args, **kwargs: FlakyWrites(real))
    answer = deliver(aws, queue, notification("busy", etag=etag), receives=MAX_RECEIVES)
    assert len(answer["batchItemFailures"]) == 1
    assert aws.drain(dlq) == []
