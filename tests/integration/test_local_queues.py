"""Local mode's own queues: made with one request each, and brought in step when they exist."""

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from mypy_boto3_sqs import SQSClient

from s3fanout.jobqueues import ensure_local_queues


@pytest.fixture
def sqs() -> Iterator[SQSClient]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def operations(sqs: SQSClient) -> list[str]:
    sent: list[str] = []
    sqs.meta.events.register("before-call.sqs.*", lambda model, **_: sent.append(model.name))
    return sent


def test_a_new_jobs_queues_cost_a_create_each_and_the_dead_letter_arns(sqs: SQSClient) -> None:
    sent = operations(sqs)
    queues = ensure_local_queues(sqs, "job-1", max_receive_count=3, list_visibility_seconds=30, copy_visibility_seconds=60)
    assert sent == ["CreateQueue", "GetQueueAttributes", "CreateQueue"] * 2
    redrive = sqs.get_queue_attributes(QueueUrl=queues.copy_url, AttributeNames=["All"])["Attributes"]
    assert redrive["VisibilityTimeout"] == "60" and '"maxReceiveCount": 3' in redrive["RedrivePolicy"]


def test_existing_queues_keep_their_urls_and_take_the_new_options(sqs: SQSClient) -> None:
    first = ensure_local_queues(sqs, "job-1", max_receive_count=3, list_visibility_seconds=30, copy_visibility_seconds=60)
    sqs.send_message(QueueUrl=first.copy_dlq_url, MessageBody="a failure kept")

    again = ensure_local_queues(sqs, "job-1", max_receive_count=5, list_visibility_seconds=90, copy_visibility_seconds=120)

    assert again == first
    attributes = sqs.get_queue_attributes(QueueUrl=again.copy_url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "120" and '"maxReceiveCount": 5' in attributes["RedrivePolicy"]
    assert sqs.get_queue_attributes(QueueUrl=again.copy_dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"] == "1"
