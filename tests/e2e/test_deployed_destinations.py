"""A deployed stack that serves several destinations and writes their keys under a destination
prefix (MoreDestinationBuckets, DestinationPrefix), end to end: template.yaml deployed on the
session's moto server (tests/deploy/moto_stack.py), the real `python -m seed` run as a subprocess
with local workers playing the stack's Lambdas on its queues (`--stack-name --local`), under the
scope its outputs give. A job the stack does not serve is refused in one line before anything is
queued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.moto_stack import client, deploy_stack
from tests.e2e.test_deployed_mode import Result, assert_one_line_error, depth, fill_source, objects, run_seed, unique
from tests.keys import ZERO_BYTE_KEYS

pytestmark = pytest.mark.e2e

DEST_PREFIX = "copies/"


class Stack:
    """A uniquely named stack with its source, its DestinationBucket and more destinations, every
    bucket created empty."""

    def __init__(self, endpoint: str, label: str, more: int, dest_prefix: str = "") -> None:
        self.name = unique(label)
        self.source, self.dest = f"{self.name}-src", f"{self.name}-dst"
        self.more = [f"{self.name}-d{index}" for index in range(1, more + 1)]
        s3 = client("s3", endpoint)
        for bucket in (self.source, self.dest, *self.more):
            s3.create_bucket(Bucket=bucket)
        parameters = {"SourceBucket": self.source, "DestinationBucket": self.dest, "MoreDestinationBuckets": ",".join(self.more)}
        if dest_prefix:
            parameters["DestinationPrefix"] = dest_prefix
        self.outputs = deploy_stack(endpoint, self.name, parameters, enforce_rules=True)


@pytest.fixture
def run_cli(moto_endpoint: str, tmp_path: Path) -> Any:
    def run(*args: str) -> Result:
        return run_seed(moto_endpoint, tmp_path, *args)

    return run


def assert_nothing_queued(sqs: Any, stack: Stack) -> None:
    for output in ("ListQueueUrl", "CopyQueueUrl", "ListDeadLetterQueueUrl", "CopyDeadLetterQueueUrl"):
        assert depth(sqs, stack.outputs[output]) == 0, output


def test_every_destination_gets_every_key_under_the_destination_prefix(moto_endpoint: str, run_cli: Any) -> None:
    stack = Stack(moto_endpoint, "dests", more=2, dest_prefix=DEST_PREFIX)
    one, two = stack.more
    assert (stack.outputs["MoreDestinations"], stack.outputs["DestinationPrefix"]) == (f"{one},{two},{stack.dest},{stack.dest}", DEST_PREFIX)
    s3 = client("s3", moto_endpoint)
    bodies = fill_source(s3, stack.source)

    result = run_cli(
        "--bucket", stack.source,
        "--dest", one, "--dest-prefix", DEST_PREFIX,
        "--dest", two, "--dest-prefix", DEST_PREFIX,
        "--stack-name", stack.name, "--local", "--workers", "2", "--no-progress", "--json",
    )  # fmt: skip

    assert result.returncode == 0, result
    report = result.json()
    (second,) = report["more_destinations"]
    assert (report["destination"], second["destination"]) == (f"s3://{one}/{DEST_PREFIX}", f"s3://{two}/{DEST_PREFIX}")
    assert second["job_id"] == report["job_id"] + "-d2"
    for each in (report, second):
        assert (each["objects_copied"], each["failed_keys"], each["failed_ranges"]) == (len(bodies), 0, 0), each
    source = objects(s3, stack.source)
    assert set(source) == set(bodies)
    for bucket in (one, two):
        # Every key, awkward ones included, exactly once, under the prefix, with its size and ETag.
        assert objects(s3, bucket) == {DEST_PREFIX + key: entry for key, entry in source.items()}, bucket
        for key in ZERO_BYTE_KEYS:
            assert s3.head_object(Bucket=bucket, Key=DEST_PREFIX + key)["ContentLength"] == 0
    # The stack's DestinationBucket was not named, and got nothing.
    assert objects(s3, stack.dest) == {}
    assert_nothing_queued(client("sqs", moto_endpoint), stack)


@pytest.mark.parametrize("case", ["bucket-outside-the-list", "without-dest-prefix", "another-dest-prefix"])
def test_a_job_the_stack_does_not_serve_is_refused_in_one_line(moto_endpoint: str, run_cli: Any, case: str) -> None:
    stack = Stack(moto_endpoint, "refuse", more=2, dest_prefix=DEST_PREFIX)
    one, two = stack.more
    s3 = client("s3", moto_endpoint)
    other = f"{stack.name}-other"
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=stack.source, Key="a", Body=b"a")
    dests = {
        "bucket-outside-the-list": ["--dest", one, "--dest-prefix", DEST_PREFIX, "--dest", other, "--dest-prefix", DEST_PREFIX],
        "without-dest-prefix": ["--dest", one, "--dest-prefix", DEST_PREFIX, "--dest", two],
        "another-dest-prefix": ["--dest", one, "--dest-prefix", "elsewhere/"],
    }[case]

    result = run_cli("--bucket", stack.source, *dests, "--stack-name", stack.name, "--local", "--no-progress", "--json")

    if case == "bucket-outside-the-list":
        assert_one_line_error(result, f"stack '{stack.name}'", f"'{stack.dest}' or '{one}' or '{two}'", f"not '{other}'")
    else:
        refused = two if case == "without-dest-prefix" else one
        assert_one_line_error(result, f"stack '{stack.name}'", f"keys to '{refused}' only under '{DEST_PREFIX}'", "DestinationPrefix")
    assert_nothing_queued(client("sqs", moto_endpoint), stack)
    for bucket in (one, two, other):
        assert objects(s3, bucket) == {}


def test_a_stack_serves_four_more_destinations_and_writes_keys_as_they_are_without_a_prefix(moto_endpoint: str, run_cli: Any) -> None:
    """Five more buckets deployed: the grants, the functions and the outputs name four (the
    template's slots), so a job naming the 5th is refused; without DestinationPrefix, so is a
    --dest-prefix."""
    stack = Stack(moto_endpoint, "five", more=5)
    assert stack.outputs["MoreDestinations"] == ",".join(stack.more[:4])
    assert "DestinationPrefix" not in stack.outputs
    sqs = client("sqs", moto_endpoint)

    fifth = run_cli("--bucket", stack.source, "--dest", stack.more[0], "--dest", stack.more[4], "--stack-name", stack.name)
    assert_one_line_error(fifth, f"stack '{stack.name}'", f"not '{stack.more[4]}'")
    rewritten = run_cli("--bucket", stack.source, "--dest", stack.more[0], "--dest-prefix", DEST_PREFIX, "--stack-name", stack.name)
    assert_one_line_error(rewritten, f"stack '{stack.name}'", f"keys to '{stack.more[0]}' as they are", "DestinationPrefix is empty", f"not under '{DEST_PREFIX}'")
    assert_nothing_queued(sqs, stack)

    # The 4th slot is served, keys as they are: the job is queued on the stack.
    queued = run_cli("--bucket", stack.source, "--dest", stack.more[0], "--dest", stack.more[3], "--stack-name", stack.name, "--ranges", "4", "--json")
    assert queued.returncode == 0, queued
    assert queued.json()["ranges"] == 4
    assert depth(sqs, stack.outputs["ListQueueUrl"]) == 4
