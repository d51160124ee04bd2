"""python -m seed verify through the real CLI against a moto server: exit 1 naming exactly the keys
missing, different and extra, exit 0 when identical, exit 2 in one line on bad input."""

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
from tests.keys import CONTROL_AND_NONCHARACTER, NON_ASCII_FIRST, PLUS_AND_PERCENT, QUESTION_AND_HASH, SPACES

pytestmark = pytest.mark.e2e

SOURCE = "verify-source"
DEST = "verify-dest"
# A few keys of each awkward kind, spread over the key ranges (the moto server is slow).
KEYS = sorted(["plain/a", "plain/b", "zzz", *NON_ASCII_FIRST[::3], *CONTROL_AND_NONCHARACTER, *SPACES[:2], *PLUS_AND_PERCENT[::3], *QUESTION_AND_HASH[::3]])


@pytest.fixture
def s3(moto_server: EmbeddedMoto) -> Any:
    return fresh_buckets(moto_server, SOURCE, DEST)


def verify(moto_server: EmbeddedMoto, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"AWS_ENDPOINT_URL": moto_server.url}
    return subprocess.run([sys.executable, "-m", "seed", "verify", *args], cwd=cwd, env=env, capture_output=True, encoding="utf-8", timeout=120)


def put(s3: Any, bucket: str, keys: list[str], body: bytes = b"same") -> None:
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stderr.startswith("python -m seed") and ": error: " in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_differences_are_named_exactly_and_exit_1(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    missing = ["é-first", "100%.txt", "\x01control"]
    different = ["日本/データ.csv", "with space"]
    extra = ["😀 extra only here", "#extra", "plain/c"]
    put(s3, SOURCE, KEYS)
    put(s3, DEST, [k for k in KEYS if k not in missing and k not in different])
    put(s3, DEST, different, b"a longer body")
    put(s3, DEST, extra)

    result = verify(moto_server, tmp_path, "--bucket", SOURCE, "--dest", f"s3://{DEST}", "--json", "--threads", "3")

    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert (body["source"], body["destination"], body["identical"], body["checked"]) == (f"s3://{SOURCE}/", f"s3://{DEST}/", False, len(KEYS))
    assert [e["key"] for e in body["missing"]] == sorted(missing)
    assert [e["key"] for e in body["different"]] == sorted(different)
    assert [e["key"] for e in body["extra"]] == sorted(extra)
    assert all(e["size"] == 4 and e["etag"] for e in body["missing"] + body["extra"])
    for entry in body["different"]:
        assert entry["differs"] == ["size", "etag"] and entry["reason"] == "size differs"
        assert (entry["source"]["size"], entry["destination"]["size"]) == (4, 13)
    assert body["counts"] == {
        "source_keys": len(KEYS),
        "dest_keys": len(KEYS) - len(missing) + len(extra),
        "identical": len(KEYS) - len(missing) - len(different),
        "missing": 3,
        "different": 2,
        "extra": 3,
    }
    # Nothing was changed.
    assert s3.list_objects_v2(Bucket=DEST)["KeyCount"] == len(KEYS) - len(missing) + len(extra)

    summary = verify(moto_server, tmp_path, "--bucket", SOURCE, "--dest", DEST, "--no-progress")
    assert summary.returncode == 1 and "NOT identical" in summary.stdout and "'é-first'" in summary.stdout, summary.stdout


def test_identical_buckets_exit_0(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    put(s3, SOURCE, KEYS)
    put(s3, DEST, KEYS)
    put(s3, DEST, ["outside/the prefix"])

    result = verify(moto_server, tmp_path, "--bucket", SOURCE, "--dest", DEST, "--prefix", "plain/", "--json")
    # Without the prefix, the key outside it is extra.
    whole = verify(moto_server, tmp_path, "--bucket", SOURCE, "--dest", DEST, "--ranges", "5")

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["identical"] is True and body["checked"] == 2 and body["destination"] == f"s3://{DEST}/plain/"
    assert (body["missing"], body["different"], body["extra"]) == ([], [], [])
    assert whole.returncode == 1 and "extra             1" in whole.stdout and "'outside/the prefix'" in whole.stdout, whole.stdout


def test_a_missing_bucket_is_one_line_and_exit_2(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    result = verify(moto_server, tmp_path, "--bucket", SOURCE, "--dest", "no-such-bucket", "--json")

    assert_one_line_error(result, "destination bucket 'no-such-bucket' does not exist")


def test_bad_threads_is_one_line_and_exit_2(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    result = verify(moto_server, tmp_path, "--bucket", SOURCE, "--dest", DEST, "--threads", "0")

    assert_one_line_error(result, "--threads")


def test_a_listing_denied_is_one_line_and_exit_2(faulty: FaultyEndpoint, tmp_path: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=faulty.url, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    for bucket in (SOURCE, DEST):
        s3.create_bucket(Bucket=bucket)
    put(s3, SOURCE, KEYS)
    # The bucket exists and HeadBucket is allowed; ListObjectsV2 is not (s3:ListBucket missing).
    faulty.fail("ListObjectsV2", bucket=DEST, code="AccessDenied")
    env = os.environ | {"AWS_ENDPOINT_URL": faulty.url}

    result = subprocess.run([sys.executable, "-m", "seed", "verify", "--bucket", SOURCE, "--dest", DEST], cwd=tmp_path, env=env, capture_output=True, encoding="utf-8", timeout=120)

    assert_one_line_error(result, f"cannot list the destination bucket '{DEST}': Access Denied (AccessDenied)")
