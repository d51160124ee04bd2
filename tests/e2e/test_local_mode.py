"""The real CLI, as a subprocess, in local mode against a moto server: checked key by key."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from s3fanout.motoserver import EmbeddedMoto
from tests.e2e.conftest import fresh_buckets
from tests.keys import AWKWARD_KEYS, HEADERS, TAGGING, TAGS, ZERO_BYTE_KEYS

pytestmark = pytest.mark.e2e

SOURCE = "e2e-source"
DEST = "e2e-dest"


@pytest.fixture
def s3(moto_server: EmbeddedMoto) -> Any:
    return fresh_buckets(moto_server, SOURCE, DEST)


def run_cli(moto_server: EmbeddedMoto, cwd: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"AWS_ENDPOINT_URL": moto_server.url}
    return subprocess.run([sys.executable, "-m", "seed", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def fill(s3: Any, keys: list[str], **extra: Any) -> None:
    def put(key: str) -> None:
        empty = key in ZERO_BYTE_KEYS or key.startswith("empty")
        s3.put_object(Bucket=SOURCE, Key=key, Body=b"" if empty else key.encode()[:100], **extra)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, keys))


def listing(s3: Any, bucket: str) -> dict[str, tuple[int, str]]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: (o["Size"], o["ETag"]) for page in pages for o in page.get("Contents", [])}


def headers_and_tags(s3: Any, bucket: str, key: str) -> tuple[dict[str, Any], dict[str, str]]:
    head = s3.head_object(Bucket=bucket, Key=key)
    tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {name: head.get(name) for name in HEADERS}, {t["Key"]: t["Value"] for t in tags}


def test_copies_every_key_exactly_with_metadata_and_tags(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    # 319 objects in all, more than three copy batches, as many as before the awkward keys grew to 54.
    plain = [f"logs/2026/{i:04d}.json" for i in range(260)] + [f"empty-{i}" for i in range(5)]
    fill(s3, plain)
    fill(s3, AWKWARD_KEYS, Tagging=TAGGING, **HEADERS)

    result = run_cli(moto_server, tmp_path, "--bucket", SOURCE, "--dest", DEST, "--local", "--workers", "2", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    total = len(plain) + len(AWKWARD_KEYS)
    assert (report["keys_listed"], report["objects_copied"], report["failed_keys"]) == (total, total, 0)
    assert listing(s3, DEST) == listing(s3, SOURCE)
    with ThreadPoolExecutor(max_workers=8) as pool:
        copies = dict(zip(AWKWARD_KEYS, pool.map(lambda key: headers_and_tags(s3, DEST, key), AWKWARD_KEYS)))
    for key, (headers, tags) in copies.items():
        assert headers == HEADERS, key
        assert tags == TAGS, key
    assert Path(tmp_path, report["failures_file"]).read_text() == ""


def test_failed_keys_are_named_with_their_reason(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    fill(s3, [f"warm-{i}" for i in range(20)])
    # An archived object cannot be copied until restored: a permanent, per-key failure.
    s3.put_object(Bucket=SOURCE, Key="archived/é cold", Body=b"old", StorageClass="GLACIER")

    result = run_cli(moto_server, tmp_path, "--bucket", SOURCE, "--dest", DEST, "--local", "--workers", "2", "--no-progress")

    assert result.returncode == 1, result.stderr
    assert "copied  20 objects" in result.stdout and "failed  1 keys" in result.stdout
    [failures_path] = tmp_path.glob("s3fanout-runs/*/failed-keys.jsonl")
    [failure] = [json.loads(line) for line in failures_path.read_text().splitlines()]
    assert failure["key"] == "archived/é cold"
    assert failure["code"] == "ObjectNotInActiveTierError" and failure["message"]
    assert str(failures_path.relative_to(tmp_path)) in result.stdout
    assert set(listing(s3, DEST)) == {f"warm-{i}" for i in range(20)}

    # The local queues live on the endpoint, so the DLQ can be inspected after the run, twice.
    for _ in range(2):
        shown = run_cli(moto_server, tmp_path, "dlq", "list", "--local", "--json")
        assert shown.returncode == 0, shown.stderr
        [letter] = [json.loads(line) for line in shown.stdout.splitlines()]
        assert (letter["key"], letter["code"], letter["queue"]) == ("archived/é cold", "ObjectNotInActiveTierError", "copy")
    text = run_cli(moto_server, tmp_path, "dlq", "list", "--local")
    assert "ObjectNotInActiveTierError" in text.stdout and "archived/é cold" in text.stdout

    exported = run_cli(moto_server, tmp_path, "dlq", "export", "failures.csv", "--local")
    assert exported.returncode == 0 and "wrote 1 failures" in exported.stderr
    [row] = list(csv.DictReader((tmp_path / "failures.csv").open(encoding="utf-8")))
    assert (row["key"], row["code"], row["source_bucket"]) == ("archived/é cold", "ObjectNotInActiveTierError", SOURCE)

    # Purging asks for confirmation; without a terminal only --yes will do.
    refused = run_cli(moto_server, tmp_path, "dlq", "purge", "--local")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    purged = run_cli(moto_server, tmp_path, "dlq", "purge", "--local", "--yes")
    assert purged.returncode == 0 and "purged 1 failures" in purged.stdout
    assert run_cli(moto_server, tmp_path, "dlq", "list", "--local", "--json").stdout == ""


def test_prefix_limits_the_job(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    fill(s3, ["in/a", "in/é", "in/z", "inside", "out/a", "i"])

    result = run_cli(moto_server, tmp_path, "--bucket", f"s3://{SOURCE}", "--dest", DEST, "--prefix", "in/", "--local", "--workers", "1", "--json")

    assert result.returncode == 0, result.stderr
    assert set(listing(s3, DEST)) == {"in/a", "in/é", "in/z"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bucket", SOURCE, "--dest", SOURCE], "same bucket"),
        (["--bucket", "no-such-bucket", "--dest", DEST], "source bucket 'no-such-bucket' does not exist"),
        (["--bucket", SOURCE, "--dest", "missing-dest"], "destination bucket 'missing-dest' does not exist"),
        (["--bucket", "Bad_Name", "--dest", DEST], "not a valid S3 bucket name"),
        (["--bucket", f"s3://{SOURCE}/some/path", "--dest", DEST], "--prefix"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path, args: list[str], message: str) -> None:
    fill(s3, ["a"])

    result = run_cli(moto_server, tmp_path, *args, "--local")

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr and result.stderr.startswith("python -m seed: error:")
    assert listing(s3, DEST) == {}


def test_usage_errors_exit_2_and_help_exits_0(moto_server: EmbeddedMoto, tmp_path: Path) -> None:
    assert run_cli(moto_server, tmp_path, "--bucket", SOURCE).returncode == 2
    assert run_cli(moto_server, tmp_path, "--bucket", "a", "--dest", "b", "--workers", "0").returncode == 2
    shown = run_cli(moto_server, tmp_path, "--help")
    assert shown.returncode == 0
    for option in ("--bucket", "--dest", "--prefix", "--local", "--workers", "--stack-name", "--wait", "dlq list", "demo"):
        assert option in shown.stdout


def test_dlq_list_local_without_an_endpoint_explains_itself(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    result = subprocess.run([sys.executable, "-m", "seed", "dlq", "list", "--local"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "AWS_ENDPOINT_URL_SQS" in result.stderr


def test_demo_runs_the_whole_pipeline_and_verifies_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "seed", "demo", "--objects", "150", "--workers", "2", "--no-progress"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified: all 150 keys identical" in result.stdout
    assert "failed  0 keys" in result.stdout


def embedded_moto_servers() -> set[int]:
    """The process ids of every embedded moto server running on this machine (Linux's /proc)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"s3fanout.motoserver" in (entry / "cmdline").read_bytes().split(b"\0"):
                pids.add(int(entry.name))
        except OSError:
            continue  # ended meanwhile
    return pids


def only_s3_configured(moto_server: EmbeddedMoto, tmp_path: Path) -> dict[str, str]:
    """S3 on the test's server; SQS and DynamoDB on the run's own embedded moto, gone when it ends."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")} | {"AWS_ENDPOINT_URL_S3": moto_server.url, "S3FANOUT_HOME": str(tmp_path / "home")}


def test_a_run_on_the_embedded_servers_leaves_its_record_for_status(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    fill(s3, [f"kept/{i}" for i in range(12)])
    env = only_s3_configured(moto_server, tmp_path)
    servers = embedded_moto_servers()

    def seed(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "seed", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)

    # The run's server is launched as the command starts (seed/__main__.py), and stopped.
    run = seed("--bucket", SOURCE, "--dest", DEST, "--local", "--workers", "2", "--no-progress", "--json")
    assert run.returncode == 0, run.stderr
    assert embedded_moto_servers() == servers
    job_id = json.loads(run.stdout)["job_id"]

    shown = seed("status", "--local", "--json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert (status["job_id"], status["state"], status["listed"], status["copied"], status["failed"]) == (job_id, "succeeded", 12, 12, 0)
    listed = seed("jobs", "--local", "--json")
    assert [job["job_id"] for job in json.loads(listed.stdout)] == [job_id]


def test_a_local_run_refused_after_its_server_was_launched_leaves_no_server(moto_server: EmbeddedMoto, tmp_path: Path) -> None:
    servers = embedded_moto_servers()

    result = subprocess.run(
        [sys.executable, "-m", "seed", "--bucket", SOURCE, "--dest", DEST, "--local", "--workers", "0"],
        cwd=tmp_path,
        env=only_s3_configured(moto_server, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert embedded_moto_servers() == servers


def test_a_job_between_regions_reaches_each_bucket_in_its_own(moto_server: EmbeddedMoto, tmp_path: Path) -> None:
    fresh_buckets(moto_server)
    regions = {"e2e-west": "us-west-2", "e2e-frankfurt": "eu-central-1"}
    for bucket, region in regions.items():
        client = boto3.client("s3", endpoint_url=moto_server.url, region_name=region)
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    west = boto3.client("s3", endpoint_url=moto_server.url, region_name="us-west-2")
    for key in AWKWARD_KEYS[:10]:
        west.put_object(Bucket="e2e-west", Key=key, Body=key.encode()[:50])

    planned = run_cli(moto_server, tmp_path, "--bucket", "e2e-west", "--dest", "e2e-frankfurt", "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "regions      us-west-2 -> eu-central-1: every byte copied crosses regions" in planned.stdout
    assert "data transfer between regions" in planned.stdout

    result = run_cli(moto_server, tmp_path, "--bucket", "e2e-west", "--dest", "e2e-frankfurt", "--local", "--workers", "2", "--no-progress", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["source_region"], report["dest_region"], report["objects_copied"]) == ("us-west-2", "eu-central-1", 10)
    frankfurt = boto3.client("s3", endpoint_url=moto_server.url, region_name="eu-central-1")
    assert sorted(o["Key"] for o in frankfurt.list_objects_v2(Bucket="e2e-frankfurt")["Contents"]) == sorted(AWKWARD_KEYS[:10])
    summary = json.loads(next(tmp_path.glob("s3fanout-runs/*/summary.json")).read_text(encoding="utf-8"))
    assert (summary["options"]["source_region"], summary["options"]["dest_region"]) == ("us-west-2", "eu-central-1")
