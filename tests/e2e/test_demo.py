"""python -m seed demo on an endpoint it did not start (--endpoint-url, AWS_ENDPOINT_URL), as a
subprocess: its objects, queues and job record must be on that server, and afterwards only what
it created there is gone. An endpoint it cannot use is one line and exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from bench.countingmoto import CountingMoto
from s3fanout.motoserver import free_port

pytestmark = pytest.mark.e2e

OBJECTS = 60  # the 54 awkward keys and a few ordinary ones: enough for several copy batches


@pytest.fixture
def server() -> Iterator[CountingMoto]:
    """A moto server of the test's own, counting what it serves, so the test sees the demo's
    requests arrive there and not at a server the demo started."""
    with CountingMoto() as started:
        yield started


def demo(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("AWS_ENDPOINT_URL")}
    command = [sys.executable, "-m", "seed", "demo", "--objects", str(OBJECTS), "--workers", "2", "--no-progress", *args]
    return subprocess.run(command, cwd=tmp_path, env=clean | env, capture_output=True, text=True, timeout=300)


def client(service: str, server: CountingMoto) -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1")


def listing(s3: Any, bucket: str) -> dict[str, tuple[int, str]]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: (o["Size"], o["ETag"]) for page in pages for o in page.get("Contents", [])}


def test_demo_runs_on_the_endpoint_it_is_given_and_keeps_its_buckets_when_asked(server: CountingMoto, tmp_path: Path) -> None:
    server.reset_counts()

    result = demo(tmp_path, "--endpoint-url", server.url, "--keep", "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["verified_keys"], report["problems"], report["job"]["objects_copied"]) == (OBJECTS, [], OBJECTS)
    assert report["endpoints"] == {"s3": server.url, "sqs": server.url, "dynamodb": server.url}
    assert "embedded moto" not in result.stderr and f"--keep: s3://demo-source and s3://demo-destination stay at {server.url}" in result.stderr
    # Every service's requests reached this server: the copies, the job's messages, its record.
    requests = server.counts()["requests"]
    assert requests["s3:CopyObject"] == OBJECTS
    assert requests["sqs:SendMessageBatch"] >= 1 and requests["sqs:DeleteQueue"] >= 2
    assert requests["dynamodb:PutItem"] >= 1
    # The objects are on this server, the same on both sides; the job's queues are gone, its record is kept.
    s3 = client("s3", server)
    source = listing(s3, "demo-source")
    assert len(source) == OBJECTS and listing(s3, "demo-destination") == source
    assert not client("sqs", server).list_queues(QueueNamePrefix="s3fanout-").get("QueueUrls")
    record = client("dynamodb", server).get_item(TableName="s3fanout-jobs", Key={"id": {"S": f"job#{report['job']['job_id']}"}})
    assert record["Item"]["state"]["S"] == "succeeded"

    again = demo(tmp_path, "--endpoint-url", server.url)

    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert f"bucket 'demo-source' at {server.url} is not empty" in again.stderr


def test_demo_honours_aws_endpoint_url_and_removes_only_what_it_created(server: CountingMoto, tmp_path: Path) -> None:
    s3, sqs = client("s3", server), client("sqs", server)
    s3.create_bucket(Bucket="someone-else")
    s3.put_object(Bucket="someone-else", Key="theirs", Body=b"keep me")
    s3.create_bucket(Bucket="demo-source")  # empty: the demo uses it, and leaves it (empty) behind
    other_queue = sqs.create_queue(QueueName="someone-elses-queue")["QueueUrl"]
    server.reset_counts()

    result = demo(tmp_path, AWS_ENDPOINT_URL=server.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"verified: all {OBJECTS} keys identical in size and ETag" in result.stdout
    assert f"demo: S3, SQS and the job record at {server.url}" in result.stderr and f"removed what it created at {server.url}" in result.stderr
    assert server.counts()["requests"]["s3:CopyObject"] == OBJECTS
    assert sorted(bucket["Name"] for bucket in s3.list_buckets()["Buckets"]) == ["demo-source", "someone-else"]
    assert listing(s3, "demo-source") == {} and list(listing(s3, "someone-else")) == ["theirs"]
    assert sqs.list_queues().get("QueueUrls") == [other_queue]
    assert "s3fanout-jobs" not in client("dynamodb", server).list_tables()["TableNames"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--endpoint-url", "not a url"], {}, "argument --endpoint-url: 'not a url' is not an endpoint URL"),
        ([], {"AWS_ENDPOINT_URL": "ftp://127.0.0.1"}, "AWS_ENDPOINT_URL: 'ftp://127.0.0.1' is not an endpoint URL"),
        (["--endpoint-url", "http://127.0.0.1:{port}"], {}, "S3 endpoint http://127.0.0.1:{port} (--endpoint-url) cannot be reached"),
        ([], {"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:{port}"}, "SQS endpoint http://127.0.0.1:{port} (AWS_ENDPOINT_URL_SQS) cannot be reached"),
        (["--endpoint-url", "https://s3.us-east-1.amazonaws.com"], {}, "is AWS itself: the demo never touches an AWS account"),
    ],
    ids=["malformed-flag", "malformed-variable", "unreachable-flag", "unreachable-sqs-variable", "aws"],
)
def test_an_endpoint_the_demo_cannot_use_is_one_line_and_exit_status_2(args: list[str], env: dict[str, str], message: str, tmp_path: Path) -> None:
    port = str(free_port())  # nothing listens there
    args = [arg.replace("{port}", port) for arg in args]
    env = {name: value.replace("{port}", port) for name, value in env.items()}

    result = demo(tmp_path, *args, **env)

    assert result.returncode == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert message.replace("{port}", port) in result.stderr
