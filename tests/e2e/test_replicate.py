"""`seed replicate --local` end to end against the moto server (which delivers S3 event
notifications to its own SQS): the first sync, then creates, overwrites and deletes followed into
two destinations, awkward keys included; a configuration someone else has on the bucket survives;
SIGINT ends the run with exit 0, its summary, and no configuration or queue of ours left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from s3fanout.motoserver import EmbeddedMoto
from tests.e2e.conftest import fresh_buckets

pytestmark = pytest.mark.e2e

SOURCE, DESTS = "replica-source", ("replica-one", "replica-two")
PREFIX = "data/"
KEYS = ["data/é first", "data/日本/データ.csv", "data/plus+sign", "data/100% sure?", "data/#hash", "data/zero"]
# Someone else's configuration on the bucket, which must survive (it does not overlap ours: another prefix).
THEIRS = {"Id": "theirs", "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "other/"}]}}}


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Poll an observable state of the other process until it holds (the barrier of an e2e test)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def objects(s3: Any, bucket: str) -> dict[str, str]:
    return {o["Key"]: o["ETag"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX) for o in page.get("Contents", [])}


def replicate(server: EmbeddedMoto, cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")} | {"AWS_ENDPOINT_URL": server.url, "AWS_DEFAULT_REGION": "us-east-1"}
    command = [sys.executable, "-m", "seed", "replicate", "--bucket", SOURCE, *args]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_replicate_follows_creates_overwrites_and_deletes_into_two_destinations(moto_server: EmbeddedMoto, tmp_path: Path) -> None:
    s3 = fresh_buckets(moto_server, SOURCE, *DESTS)
    sqs = boto3.client("sqs", endpoint_url=moto_server.url, region_name="us-east-1")
    theirs = sqs.create_queue(QueueName="someone-elses-pipeline")["QueueUrl"]
    their_arn = sqs.get_queue_attributes(QueueUrl=theirs, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=SOURCE, NotificationConfiguration={"QueueConfigurations": [THEIRS | {"QueueArn": their_arn}]})
    s3.put_object(Bucket=SOURCE, Key="data/before", Body=b"synced first")
    s3.put_object(Bucket=SOURCE, Key="outside/prefix", Body=b"never copied")
    run = replicate(moto_server, tmp_path, "--dest", DESTS[0], "--dest", DESTS[1], "--prefix", PREFIX, "--delete", "--local", "--workers", "2", "--no-progress", "--json")
    try:
        wait_until(lambda: all("data/before" in objects(s3, dest) for dest in DESTS), "the first sync")
        wait_until(lambda: any("replicate" in url for url in sqs.list_queues().get("QueueUrls", [])), "the event queue")

        for key in KEYS:
            s3.put_object(Bucket=SOURCE, Key=key, Body=b"" if key.endswith("zero") else key.encode())
        s3.put_object(Bucket=SOURCE, Key="data/before", Body=b"overwritten")
        s3.delete_object(Bucket=SOURCE, Key=KEYS[0])
        wait_until(lambda: all(objects(s3, dest) == objects(s3, SOURCE) for dest in DESTS), "both destinations to equal the source")
    finally:
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)

    assert run.returncode == 0, err
    summary = json.loads(out)
    assert summary["outcomes"].get("copied", 0) >= 2 * len(KEYS) and summary["outcomes"].get("deleted") == 2 and summary["failed"] == 0, summary
    assert "Traceback" not in err
    assert objects(s3, SOURCE) == objects(s3, DESTS[0]) == objects(s3, DESTS[1])
    assert all("outside/prefix" not in [o["Key"] for o in s3.list_objects_v2(Bucket=dest).get("Contents", [])] for dest in DESTS)
    # Ours is gone, theirs is as it was; so is the event queue.
    assert s3.get_bucket_notification_configuration(Bucket=SOURCE)["QueueConfigurations"] == [THEIRS | {"QueueArn": their_arn}]
    assert [url for url in sqs.list_queues().get("QueueUrls", []) if "replicate" in url] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dest", DESTS[0]], "replicate --bucket runs with --local; for a stack deployed with Replication=true"),
        # Ours would take every key's events, theirs takes other/'s: S3 would refuse the document.
        (["--dest", DESTS[0], "--local"], "already has queue configuration 'theirs'"),
    ],
)
def test_replicate_refusals_are_one_line(moto_server: EmbeddedMoto, tmp_path: Path, args: list[str], message: str) -> None:
    s3 = fresh_buckets(moto_server, SOURCE, *DESTS)
    sqs = boto3.client("sqs", endpoint_url=moto_server.url, region_name="us-east-1")
    theirs = sqs.create_queue(QueueName="someone-elses-pipeline")["QueueUrl"]
    their_arn = sqs.get_queue_attributes(QueueUrl=theirs, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=SOURCE, NotificationConfiguration={"QueueConfigurations": [THEIRS | {"QueueArn": their_arn}]})

    run = replicate(moto_server, tmp_path, *args)
    out, err = run.communicate(timeout=120)

    assert run.returncode == 2, err
    [line] = err.strip().splitlines()
    assert message in line
    assert [url for url in sqs.list_queues().get("QueueUrls", []) if "replicate" in url] == []
