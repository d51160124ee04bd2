"""Sync through the real CLI against a moto server: skip what is there, copy what changed,
delete orphans only when asked, and a dry run that changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from s3fanout.motoserver import EmbeddedMoto
from tests.e2e.conftest import fresh_buckets
from tests.keys import AWKWARD_KEYS

pytestmark = pytest.mark.e2e

SOURCE = "sync-source"
DEST = "sync-dest"


@pytest.fixture
def s3(moto_server: EmbeddedMoto) -> Any:
    return fresh_buckets(moto_server, SOURCE, DEST)


def sync(moto_server: EmbeddedMoto, cwd: Path, *args: str) -> tuple[int, dict[str, Any]]:
    env = os.environ | {"AWS_ENDPOINT_URL": moto_server.url}
    result = subprocess.run(
        [sys.executable, "-m", "seed", "--bucket", SOURCE, "--dest", DEST, "--local", "--workers", "2", "--json", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def objects(s3: Any, bucket: str) -> dict[str, tuple[int, str, Any]]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: (o["Size"], o["ETag"], o["LastModified"]) for page in pages for o in page.get("Contents", [])}


def put_all(s3: Any, bucket: str, keys: list[str], body: bytes = b"same") -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=body), keys))


def multipart(s3: Any, key: str) -> None:
    upload = s3.create_multipart_upload(Bucket=SOURCE, Key=key)["UploadId"]
    parts = []
    for number, body in ((1, b"a" * 5 * 1024 * 1024), (2, b"tail")):
        etag = s3.upload_part(Bucket=SOURCE, Key=key, UploadId=upload, PartNumber=number, Body=body)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket=SOURCE, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})


def test_a_second_run_copies_only_what_changed(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    keys = [f"data/{i:03d}" for i in range(120)] + AWKWARD_KEYS
    put_all(s3, SOURCE, keys)
    multipart(s3, "big/multipart-1")
    multipart(s3, "big/multipart-2")
    status, first = sync(moto_server, tmp_path)
    assert status == 0 and first["objects_copied"] == len(keys) + 2
    before = objects(s3, DEST)
    # Multipart sources got another ETag in their one-piece copies: the rule must still skip them.
    assert before["big/multipart-1"][1] != objects(s3, SOURCE)["big/multipart-1"][1]

    # LastModified has one-second resolution: a source written in the second of its copy would not
    # look newer. There is no event to wait on, only the clock: wait out what is left of that second.
    copied_at = max(modified for _, _, modified in before.values())
    time.sleep(max(0.0, copied_at.timestamp() + 1.05 - time.time()))
    s3.put_object(Bucket=SOURCE, Key="data/005", Body=b"SAME")  # same size, new content
    s3.put_object(Bucket=SOURCE, Key="data/006", Body=b"longer now")
    s3.put_object(Bucket=SOURCE, Key="new/key", Body=b"new")
    status, second = sync(moto_server, tmp_path)

    assert status == 0
    assert (second["objects_copied"], second["keys_skipped"]) == (3, len(keys) + 2 - 2)
    after = objects(s3, DEST)
    assert objects(s3, SOURCE).keys() == after.keys()
    changed = {k for k in after if k in before and after[k] != before[k]}
    assert changed == {"data/005", "data/006"}
    assert s3.get_object(Bucket=DEST, Key="data/005")["Body"].read() == b"SAME"


def test_orphans_are_deleted_only_when_asked_and_only_under_the_prefix(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    put_all(s3, SOURCE, ["p/a", "p/b", "q/a"])
    put_all(s3, DEST, ["p/orphan-1", "p/zz-orphan", "q/orphan", "p/b"])

    status, kept = sync(moto_server, tmp_path, "--prefix", "p/")
    assert status == 0 and (kept["orphans_found"], kept["objects_deleted"]) == (2, 0)
    assert {"p/orphan-1", "p/zz-orphan", "q/orphan"} <= objects(s3, DEST).keys()

    status, deleted = sync(moto_server, tmp_path, "--prefix", "p/", "--delete")
    assert status == 0 and deleted["objects_deleted"] == 2
    assert sorted(objects(s3, DEST)) == ["p/a", "p/b", "q/orphan"]


def test_no_deletes_after_a_failure(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    put_all(s3, SOURCE, ["a", "b"])
    s3.put_object(Bucket=SOURCE, Key="archived", Body=b"x", StorageClass="GLACIER")
    put_all(s3, DEST, ["orphan"])

    status, report = sync(moto_server, tmp_path, "--delete")

    assert status == 1 and report["failed_keys"] == 1 and report["objects_deleted"] == 0
    assert sorted(objects(s3, DEST)) == ["a", "b", "orphan"]


def test_force_copies_everything_again(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    put_all(s3, SOURCE, ["a", "b", "c"])
    sync(moto_server, tmp_path)
    status, forced = sync(moto_server, tmp_path, "--force")
    assert status == 0 and (forced["objects_copied"], forced["keys_skipped"]) == (3, 0)


def test_dry_run_plans_and_prices_without_changing_anything(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    put_all(s3, SOURCE, [f"k{i:02d}" for i in range(30)])
    put_all(s3, DEST, [f"k{i:02d}" for i in range(10)] + ["orphan"])
    put_all(s3, DEST, ["k00"], body=b"different size")
    before = objects(s3, DEST)
    env = os.environ | {"AWS_ENDPOINT_URL": moto_server.url}

    result = subprocess.run(
        [sys.executable, "-m", "seed", "--bucket", SOURCE, "--dest", DEST, "--dry-run", "--delete", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True
    assert (plan["plan"]["to_copy"], plan["plan"]["to_skip"], plan["plan"]["orphans"]) == (21, 9, 1)
    assert plan["plan"]["orphan_sample"] == ["orphan"] and plan["plan"]["copy_sample"][0] == "k00"
    lines = {line["item"]: line for line in plan["cost"]["lines"]}
    assert lines["S3 COPY requests"]["quantity"] == 21 and plan["cost"]["total_usd"] > 0
    assert (plan["streamed"], plan["objects_streamed"], plan["bytes_streamed"], plan["stream"]) == (False, 0, 0, None)
    assert objects(s3, DEST) == before
    # Nothing queued: the dry run never touches SQS.
    sqs = boto3.client("sqs", endpoint_url=moto_server.url, region_name="us-east-1")
    assert sqs.list_queues().get("QueueUrls", []) == []

    text = subprocess.run(
        [sys.executable, "-m", "seed", "--bucket", SOURCE, "--dest", DEST, "--dry-run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert "would copy   21 objects" in text.stdout and "would keep   1 orphans" in text.stdout and "total" in text.stdout


def test_prices_can_be_edited(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    put_all(s3, SOURCE, ["a"])
    (tmp_path / "prices.json").write_text(json.dumps({"s3_copy_per_1000": 1000.0, "region": "eu-west-1"}))
    env = os.environ | {"AWS_ENDPOINT_URL": moto_server.url}
    run = [sys.executable, "-m", "seed", "--bucket", SOURCE, "--dest", DEST, "--dry-run", "--json", "--prices"]

    priced = json.loads(subprocess.run([*run, "prices.json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120).stdout)
    assert {line["item"]: line["usd"] for line in priced["cost"]["lines"]}["S3 COPY requests"] == pytest.approx(1.0)
    assert priced["cost"]["prices"]["region"] == "eu-west-1"

    (tmp_path / "bad.json").write_text(json.dumps({"s3_copy_per_thousand": 1}))
    bad = subprocess.run([*run, "bad.json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown price names" in bad.stderr and bad.stderr.count("\n") == 1


def test_a_rerun_over_an_unchanged_bucket_makes_no_request_per_object(faulty: Any, tmp_path: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=faulty.url, region_name="us-east-1")
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=DEST)
    keys = [f"{first}/{i:04d}" for first in ("alpha", "Beta", "7even", "é") for i in range(150)]
    put_all(s3, SOURCE, keys)
    env = os.environ | {"AWS_ENDPOINT_URL": faulty.url}
    command = [sys.executable, "-m", "seed", "--bucket", SOURCE, "--dest", DEST, "--local", "--workers", "2", "--json"]
    assert subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300).returncode == 0

    faulty.reset_counts()
    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["keys_skipped"] == len(keys)
    counts = faulty.counts()
    # Per object: nothing. The seed's permission probes are one HeadObject and one conditional
    # PutObject (which writes nothing), whatever the bucket's size.
    for operation in ("CopyObject", "UploadPartCopy", "GetObject", "GetObjectTagging", "DeleteObject", "DeleteObjects"):
        assert counts[operation] == 0, (operation, counts)
    assert counts["HeadObject"] <= 1 and counts["PutObject"] <= 1, counts
    # Two listings of each of the 32 ranges (and the seed's one-key listing probe).
    assert counts["ListObjectsV2"] <= 2 * 32 + 1, counts
