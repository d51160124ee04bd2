"""Notifications and replication against in-process moto: the shared notification document kept
intact, the overlap refusal and the EventBridge fallback, the events moto delivers to SQS read by
our parser, and those events applied in any order.

What moto 5.2 does here, and does not (each checked below where it matters):
- it delivers S3 event notifications to an SQS queue of the configuration, and a test event
  whenever the configuration is written; keys are form-encoded (``quote_plus``, "/" too);
  records carry no sequencer and no version id; deleting a key it does not have sends nothing;
- it sends to EventBridge rules when the switch is on, with the key not encoded;
- it does not refuse overlapping configurations (notifications.overlapping does, before writing);
- its GetBucketNotificationConfiguration leaves out EventBridgeConfiguration even when on
  (tests/moto_notifications.py patches that, so the switch's survival can be tested);
- it accepts filter rule names in lower case only ("prefix"), where S3 answers "Prefix";
- it ignores CopySourceIfMatch, so a stale event's copy copies the current object (still never
  older than the source; the 412 path is tested against a stand-in in tests/unit).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from s3fanout import notifications
from s3fanout.notifications import Delivery, OverlapError, disable, enable
from s3fanout.replication import Kind, Outcome, apply, parse_message
from tests import moto_notifications
from tests.keys import AWKWARD_KEYS

SOURCE = "replication-source"
DEST = "replication-dest"
REGION = "us-east-1"


@dataclass
class Aws:
    s3: Any
    sqs: Any
    events: Any
    queue_url: str
    queue_arn: str

    def queue(self, name: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        return url, self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def bodies(self, url: str | None = None) -> list[str]:
        found = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=url or self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(message["Body"])
                self.sqs.delete_message(QueueUrl=url or self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def document(self) -> dict[str, Any]:
        document = dict(self.s3.get_bucket_notification_configuration(Bucket=SOURCE))
        document.pop("ResponseMetadata")
        return document


def start() -> Aws:
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=DEST)
    url = sqs.create_queue(QueueName="replica-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Aws(s3, sqs, boto3.client("events", region_name=REGION), url, arn)


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws(), moto_notifications.patched():
        yield start()


TOPIC = "arn:aws:sns:us-east-1:123456789012:audit"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:thumbnails"


def someone_elses(aws: Aws) -> dict[str, Any]:
    _, their_queue = aws.queue("restores")
    return {
        "TopicConfigurations": [
            {"Id": "audit", "TopicArn": TOPIC, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "audit/"}]}}},
        ],
        "QueueConfigurations": [{"Id": "restores", "QueueArn": their_queue, "Events": ["s3:ObjectRestore:Completed"]}],
        "LambdaFunctionConfigurations": [
            {
                "Id": "thumbs",
                "LambdaFunctionArn": FUNCTION,
                "Events": ["s3:ObjectCreated:Put"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "img/"}, {"Name": "suffix", "Value": ".jpg"}]}},
            },
        ],
        "EventBridgeConfiguration": {},
    }


def test_moto_leaves_the_eventbridge_switch_out_of_its_answer() -> None:
    """Why tests/moto_notifications.py exists; when this fails, moto answers as S3 does."""
    with mock_aws():
        aws = start()
        aws.s3.put_bucket_notification_configuration(Bucket=SOURCE, NotificationConfiguration={"EventBridgeConfiguration": {}})
        assert "EventBridgeConfiguration" not in aws.document()


def test_enable_and_disable_keep_everything_else(aws: Aws) -> None:
    theirs = someone_elses(aws)
    aws.s3.put_bucket_notification_configuration(Bucket=SOURCE, NotificationConfiguration=theirs)
    enabled = enable(aws.s3, SOURCE, aws.queue_arn, prefix="data/", config_id="s3fanout-stack")
    assert enabled.delivery is Delivery.QUEUE and not enabled.turned_on_eventbridge
    document = aws.document()
    for kind in ("TopicConfigurations", "LambdaFunctionConfigurations", "EventBridgeConfiguration"):
        assert document[kind] == theirs[kind]
    assert document["QueueConfigurations"] == [*theirs["QueueConfigurations"], notifications.queue_configuration("s3fanout-stack", aws.queue_arn, "data/")]
    assert notifications.current(aws.s3, SOURCE, "s3fanout-stack") is not None
    # Idempotent: one configuration of ours.
    assert enable(aws.s3, SOURCE, aws.queue_arn, prefix="data/", config_id="s3fanout-stack") == enabled
    assert [c["Id"] for c in aws.document()["QueueConfigurations"]] == ["restores", "s3fanout-stack"]
    result = disable(aws.s3, SOURCE, "s3fanout-stack", enabled=enabled, events=aws.events)
    assert result.removed and not result.eventbridge_turned_off
    assert aws.document() == theirs
    assert notifications.current(aws.s3, SOURCE, "s3fanout-stack") is None


def test_an_overlapping_configuration_is_refused_or_left_to_eventbridge(aws: Aws) -> None:
    _, etl_queue = aws.queue("etl")
    theirs = {"QueueConfigurations": [{"Id": "etl", "QueueArn": etl_queue, "Events": ["s3:ObjectCreated:Put"], "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "data/in/"}]}}}]}
    aws.s3.put_bucket_notification_configuration(Bucket=SOURCE, NotificationConfiguration=theirs)
    with pytest.raises(OverlapError, match="queue configuration 'etl'"):
        enable(aws.s3, SOURCE, aws.queue_arn, prefix="data/")
    assert aws.document() == theirs  # (moto itself would have taken the overlapping document)
    enabled = enable(aws.s3, SOURCE, aws.queue_arn, prefix="data/", allow_eventbridge=True)
    assert enabled.delivery is Delivery.EVENTBRIDGE and enabled.turned_on_eventbridge
    assert aws.document() == theirs | {"EventBridgeConfiguration": {}}
    # Another rule reads the bucket's events: the switch stays on.
    aws.events.put_rule(Name="theirs", EventPattern=json.dumps({"source": ["aws.s3"]}))
    assert not disable(aws.s3, SOURCE, enabled=enabled, events=aws.events).eventbridge_turned_off
    assert "EventBridgeConfiguration" in aws.document()
    aws.events.delete_rule(Name="theirs")
    aws.events.put_rule(Name="ours", EventPattern=json.dumps({"source": ["aws.s3"], "detail": {"bucket": {"name": [SOURCE]}}}))
    assert disable(aws.s3, SOURCE, enabled=enabled, events=aws.events, own_rules={"ours"}).eventbridge_turned_off
    assert aws.document() == theirs


def test_moto_delivers_events_our_parser_reads(aws: Aws) -> None:
    enable(aws.s3, SOURCE, aws.queue_arn)
    assert [parse_message(body) for body in aws.bodies()] == [[]]  # the test event
    bodies = {key: f"body of {key!r}".encode() for key in AWKWARD_KEYS}
    for key, body in bodies.items():
        aws.s3.put_object(Bucket=SOURCE, Key=key, Body=body)
    aws.s3.delete_object(Bucket=SOURCE, Key=AWKWARD_KEYS[0])
    events = [event for body in aws.bodies() for event in parse_message(body)]
    created = [e for e in events if e.kind is Kind.CREATED]
    assert sorted(e.key for e in created) == sorted(AWKWARD_KEYS)
    assert all(e.bucket == SOURCE and e.etag == hashlib.md5(bodies[e.key]).hexdigest() and e.size == len(bodies[e.key]) for e in created)
    assert all(e.sequencer is None and e.version_id is None and e.time is not None for e in events)
    assert [(e.key, e.kind) for e in events if e.kind is Kind.DELETED] == [(AWKWARD_KEYS[0], Kind.DELETED)]
    # The events applied: the destination is the source.
    for event in events:
        apply(event, source_s3=aws.s3, dest_s3=aws.s3, source_bucket=SOURCE, dest_bucket=DEST, allow_delete=True)
    listed = {o["Key"] for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=DEST) for o in page.get("Contents", [])}
    assert listed == set(AWKWARD_KEYS[1:])


def test_moto_sends_eventbridge_events_with_raw_keys(aws: Aws) -> None:
    _, etl_queue = aws.queue("etl")
    aws.s3.put_bucket_notification_configuration(Bucket=SOURCE, NotificationConfiguration={"QueueConfigurations": [{"Id": "etl", "QueueArn": etl_queue, "Events": ["s3:ObjectCreated:*"]}]})
    assert enable(aws.s3, SOURCE, aws.queue_arn, allow_eventbridge=True).delivery is Delivery.EVENTBRIDGE
    aws.events.put_rule(Name="replicate", EventPattern=json.dumps({"source": ["aws.s3"], "detail": {"bucket": {"name": [SOURCE]}}}))
    aws.events.put_targets(Rule="replicate", Targets=[{"Id": "queue", "Arn": aws.queue_arn}])
    aws.s3.put_object(Bucket=SOURCE, Key="a b+c%/é", Body=b"x")
    aws.s3.delete_object(Bucket=SOURCE, Key="a b+c%/é")
    events = [event for body in aws.bodies() for event in parse_message(body, eventbridge_keys_encoded=False)]
    assert [(e.key, e.kind, e.etag) for e in events] == [("a b+c%/é", Kind.CREATED, hashlib.md5(b"x").hexdigest()), ("a b+c%/é", Kind.DELETED, hashlib.md5(b"x").hexdigest())]


histories = st.lists(st.one_of(st.sampled_from([b"a", b"b"]), st.none()), min_size=1, max_size=5)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, st.data())
def test_events_moto_delivers_applied_in_any_order(history: list[bytes | None], data: st.DataObject) -> None:
    key = "dir/with space+plus%é"
    with mock_aws():
        aws = start()
        enable(aws.s3, SOURCE, aws.queue_arn)
        aws.bodies()  # the test event
        aws.s3.put_object(Bucket=DEST, Key=key, Body=b"left by an earlier sync")
        for body in history:
            if body is None:
                aws.s3.delete_object(Bucket=SOURCE, Key=key)
            else:
                aws.s3.put_object(Bucket=SOURCE, Key=key, Body=body)
        events = [event for body in aws.bodies() for event in parse_message(body)]
        # One event a write or delete (moto sends none for deleting a key the bucket does not have).
        assert len(events) == len(history) - sum(1 for i, body in enumerate(history) if body is None and (i == 0 or history[i - 1] is None))
        if not events:
            return
        order = data.draw(st.permutations(events)) + data.draw(st.lists(st.sampled_from(events), max_size=3))
        outcomes = [apply(event, source_s3=aws.s3, dest_s3=aws.s3, source_bucket=SOURCE, dest_bucket=DEST, allow_delete=True).outcome for event in order]
        assert Outcome.REFUSED_OUT_OF_SCOPE not in outcomes

        def state(bucket: str) -> bytes | None:
            try:
                return bytes(aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            except aws.s3.exceptions.NoSuchKey:
                return None

        assert state(DEST) == state(SOURCE)
