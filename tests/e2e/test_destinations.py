"""One job to several destinations through the real CLI against a moto server: the source listed
once per range, each destination synced on its own (one under another prefix), a job record,
delete pass, verify and report per destination, and a re-run that copies nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from s3fanout.motoserver import EmbeddedMoto
from tests.e2e.conftest import fresh_buckets
from tests.e2e.faults import FaultyEndpoint
from tests.keys import AWKWARD_KEYS, ZERO_BYTE_KEYS

pytestmark = pytest.mark.e2e

SOURCE, ONE, TWO = "fan-source", "fan-one", "fan-two"
RANGES = 4


def seed_cli(endpoint_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seed", *args],
        cwd=cwd,
        env=os.environ | {"AWS_ENDPOINT_URL": endpoint_url},
        capture_output=True,
        text=True,
        timeout=300,
    )


def keys_of(s3: Any, bucket: str) -> dict[str, bytes]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for page in pages for o in page.get("Contents", [])}


def test_one_listing_of_the_source_syncs_each_destination_on_its_own(moto_server: EmbeddedMoto, tmp_path: Path) -> None:
    s3 = fresh_buckets(moto_server, SOURCE, ONE, TWO)
    source_keys = [f"data/{key}" for key in AWKWARD_KEYS[:25]] + [f"data/{key}" for key in ZERO_BYTE_KEYS]
    for key in source_keys:
        s3.put_object(Bucket=SOURCE, Key=key, Body=b"" if key.removeprefix("data/") in ZERO_BYTE_KEYS else key.encode())
    s3.put_object(Bucket=SOURCE, Key="other/not-copied", Body=b"x")
    # ONE takes the keys under copies/ and already has one of them, and an orphan there; TWO has
    # an orphan of its own and nothing else.
    s3.put_object(Bucket=ONE, Key="copies/" + source_keys[0].removeprefix("data/"), Body=source_keys[0].encode())
    s3.put_object(Bucket=ONE, Key="copies/orphan", Body=b"o")
    s3.put_object(Bucket=ONE, Key="kept-outside", Body=b"k")
    s3.put_object(Bucket=TWO, Key="data/orphan", Body=b"o")

    job = ["--bucket", SOURCE, "--prefix", "data/", "--dest", ONE, "--dest-prefix", "copies/", "--dest", TWO, "--ranges", str(RANGES), "--local", "--workers", "2", "--json"]
    result = seed_cli(moto_server.url, tmp_path, *job, "--delete")
    assert result.returncode == 0, result.stderr
    first = json.loads(result.stdout)
    (second,) = first["more_destinations"]
    assert (first["destination"], second["destination"]) == (f"s3://{ONE}/copies/", f"s3://{TWO}/data/")
    assert second["job_id"] == first["job_id"] + "-d2"
    # One set of workers served both: the second destination's report names their log.
    assert second["log_file"] == first["log_file"] and (tmp_path / first["log_file"]).exists()
    assert (first["objects_copied"], first["keys_skipped"], first["objects_deleted"]) == (len(source_keys) - 1, 1, 1)
    assert (second["objects_copied"], second["keys_skipped"], second["objects_deleted"]) == (len(source_keys), 0, 1)

    expected = {key: (b"" if key.removeprefix("data/") in ZERO_BYTE_KEYS else key.encode()) for key in source_keys}
    assert keys_of(s3, ONE) == {"copies/" + key.removeprefix("data/"): body for key, body in expected.items()} | {"kept-outside": b"k"}
    assert keys_of(s3, TWO) == expected

    # Each destination's record: the source's pages are counted once, in the first job's.
    statuses = {}
    for job_id in (first["job_id"], second["job_id"]):
        status = seed_cli(moto_server.url, tmp_path, "status", job_id, "--local", "--json")
        assert status.returncode == 0, status.stderr
        statuses[job_id] = json.loads(status.stdout)
    assert statuses[first["job_id"]]["options"]["destination_jobs"] == [first["job_id"], second["job_id"]]
    assert {status["state"] for status in statuses.values()} == {"succeeded"}
    assert [status["destination"] for status in statuses.values()] == [f"s3://{ONE}/copies/", f"s3://{TWO}/data/"]

    verified = seed_cli(moto_server.url, tmp_path, "verify", "--bucket", SOURCE, "--prefix", "data/", "--dest", ONE, "--dest-prefix", "copies/", "--dest", TWO, "--json", "--no-progress")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert [result["identical"] for result in json.loads(verified.stdout)["destinations"]] == [True, True]

    again = seed_cli(moto_server.url, tmp_path, *job)
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout)
    assert [report["objects_copied"] for report in (rerun, *rerun["more_destinations"])] == [0, 0]
    assert [report["keys_skipped"] for report in (rerun, *rerun["more_destinations"])] == [len(source_keys)] * 2


def test_a_failing_destination_holds_back_neither_the_others_copies_nor_their_delete_pass(faulty: FaultyEndpoint, tmp_path: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=faulty.url, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    for bucket in (SOURCE, ONE, TWO):
        s3.create_bucket(Bucket=bucket)
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=SOURCE, Key=key, Body=key.encode())
    for bucket in (ONE, TWO):
        s3.put_object(Bucket=bucket, Key="orphan", Body=b"o")
    # TWO refuses every copy: they fail into the DLQ; ONE's succeed and its orphan goes.
    faulty.fail("CopyObject", bucket=TWO, code="AccessDenied")
    result = seed_cli(faulty.url, tmp_path, "--bucket", SOURCE, "--dest", ONE, "--dest", TWO, "--ranges", "2", "--local", "--workers", "2", "--max-attempts", "1", "--json", "--delete")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    (two,) = report["more_destinations"]
    assert (report["objects_copied"], report["failed_keys"], report["objects_deleted"]) == (3, 0, 1)
    assert (two["objects_copied"], two["failed_keys"], two["objects_deleted"]) == (0, 3, 0)
    assert "deleting no orphans" in result.stderr
    assert set(keys_of(s3, ONE)) == {"a", "b", "c"} and set(keys_of(s3, TWO)) == {"orphan"}
    # The failures are the failing destination's, under its own job.
    failures = seed_cli(faulty.url, tmp_path, "dlq", "list", "--local", "--job", two["job_id"], "--json")
    assert failures.returncode == 0, failures.stderr
    assert failures.stdout, failures.stderr
    assert sorted(json.loads(line)["key"] for line in failures.stdout.splitlines()) == ["a", "b", "c"]
