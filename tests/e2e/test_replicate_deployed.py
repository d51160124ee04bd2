"""Deployed replication end to end: a stack with Replication=true on the moto server, and the real
`seed replicate enable|status|disable --stack-name` as subprocesses. moto cannot run the
replicator Lambda: the test checks the bucket's notification document (ours added, someone else's
kept, then ours removed) and that an object written to the source lands an event on the stack's
EventQueue."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from s3fanout.notifications import config_id_for
from s3fanout.replication import Kind, ObjectEvent, parse_message
from tests.deploy.moto_stack import client, deploy_stack
from tests.e2e.test_deployed_mode import Result, run_seed, unique

pytestmark = pytest.mark.e2e

# Someone else's configuration on the bucket (another prefix than the stack's AllowedPrefix: no
# overlap with ours), which must survive.
THEIRS = {"Id": "theirs", "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "other/"}]}}}


@pytest.fixture
def run_cli(moto_endpoint: str, tmp_path: Path) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        return run_seed(moto_endpoint, tmp_path, *args)

    return run


def queue_configurations(s3: Any, bucket: str) -> list[dict[str, Any]]:
    return list(s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", []))


def object_events(sqs: Any, queue_url: str, wanted: int, seconds: float = 20) -> list[ObjectEvent]:
    """The object events on the queue (S3's test event holds none), until ``wanted`` are in."""
    events: list[ObjectEvent] = []
    deadline = time.monotonic() + seconds
    while len(events) < wanted and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            events += parse_message(message["Body"])
    return events


def test_enable_status_and_disable_a_stacks_replication(moto_endpoint: str, run_cli: Callable[..., Result]) -> None:
    s3, sqs = client("s3", moto_endpoint), client("sqs", moto_endpoint)
    name = unique("replication")
    source, dest = f"{name}-src", f"{name}-dst"
    for bucket in (source, dest):
        s3.create_bucket(Bucket=bucket)
    parameters = {"SourceBucket": source, "DestinationBucket": dest, "Replication": "true", "AllowedPrefix": "data/"}
    outputs = deploy_stack(moto_endpoint, name, parameters, enforce_rules=True)
    assert {"EventQueueArn", "EventQueueUrl", "EventDeadLetterQueueUrl"} <= set(outputs)
    their_queue = sqs.create_queue(QueueName=f"{name}-theirs")["QueueUrl"]
    their_arn = sqs.get_queue_attributes(QueueUrl=their_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    theirs = THEIRS | {"QueueArn": their_arn}
    s3.put_bucket_notification_configuration(Bucket=source, NotificationConfiguration={"QueueConfigurations": [theirs]})

    enabled = run_cli("replicate", "enable", "--stack-name", name)
    assert enabled.returncode == 0, enabled.stderr
    assert "replication enabled" in enabled.stdout
    assert f"python -m seed --bucket {source} --dest {dest} --stack-name {name} --wait" in enabled.stderr
    by_id = {c["Id"]: c for c in queue_configurations(s3, source)}
    assert set(by_id) == {"theirs", config_id_for(name)}
    assert by_id[config_id_for(name)]["QueueArn"] == outputs["EventQueueArn"]
    assert sorted(by_id[config_id_for(name)]["Events"]) == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert by_id[config_id_for(name)]["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "data/"}]
    assert by_id["theirs"]["QueueArn"] == their_arn

    # Enabling again changes nothing.
    assert run_cli("replicate", "enable", "--stack-name", name).returncode == 0
    assert len(queue_configurations(s3, source)) == 2

    s3.put_object(Bucket=source, Key="data/new object", Body=b"hello")
    status = run_cli("replicate", "status", "--stack-name", name, "--json")
    assert status.returncode == 0, status.stderr
    report = status.json()
    assert report["enabled"] is True
    assert report["events_waiting"] >= 1
    # moto publishes no SQS metrics to CloudWatch: no datapoint, "unknown".
    assert report["oldest_event_age_seconds"] is None
    assert report["failed_events"] == 0
    text = run_cli("replicate", "status", "--stack-name", name)
    assert text.returncode == 0 and "unknown" in text.stdout

    [event] = object_events(sqs, outputs["EventQueueUrl"], 1)
    assert (event.kind, event.bucket, event.key) == (Kind.CREATED, source, "data/new object")

    disabled = run_cli("replicate", "disable", "--stack-name", name)
    assert disabled.returncode == 0, disabled.stderr
    assert queue_configurations(s3, source) == [theirs]
    assert run_cli("replicate", "status", "--stack-name", name, "--json").json()["enabled"] is False
    again = run_cli("replicate", "disable", "--stack-name", name)
    assert again.returncode == 0 and "was not enabled" in again.stdout


def test_a_stack_without_replication_is_refused_in_one_line(moto_endpoint: str, run_cli: Callable[..., Result]) -> None:
    name = unique("no-replication")
    s3 = client("s3", moto_endpoint)
    for bucket in (f"{name}-src", f"{name}-dst"):
        s3.create_bucket(Bucket=bucket)
    deploy_stack(moto_endpoint, name, {"SourceBucket": f"{name}-src", "DestinationBucket": f"{name}-dst"})
    result = run_cli("replicate", "enable", "--stack-name", name)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "Replication=true" in result.stderr
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket=f"{name}-src")


def test_an_overlapping_configuration_is_refused_in_one_line(moto_endpoint: str, run_cli: Callable[..., Result]) -> None:
    s3, sqs = client("s3", moto_endpoint), client("sqs", moto_endpoint)
    name = unique("overlap")
    source, dest = f"{name}-src", f"{name}-dst"
    for bucket in (source, dest):
        s3.create_bucket(Bucket=bucket)
    deploy_stack(moto_endpoint, name, {"SourceBucket": source, "DestinationBucket": dest, "Replication": "true"})
    their_queue = sqs.create_queue(QueueName=f"{name}-theirs")["QueueUrl"]
    their_arn = sqs.get_queue_attributes(QueueUrl=their_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    everything = {"Id": "everything", "Events": ["s3:ObjectCreated:*"], "QueueArn": their_arn}
    s3.put_bucket_notification_configuration(Bucket=source, NotificationConfiguration={"QueueConfigurations": [everything]})
    result = run_cli("replicate", "enable", "--stack-name", name)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "everything" in result.stderr
    assert [c["Id"] for c in queue_configurations(s3, source)] == ["everything"]
