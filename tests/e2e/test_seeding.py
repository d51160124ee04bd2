"""How a local job is seeded, end to end: one range when one listing page holds each side (every
key still copied, every orphan still deleted), the default ranges when a side is larger, and
exactly the ranges --ranges asks for."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from s3fanout.job import DEFAULT_RANGES
from s3fanout.motoserver import EmbeddedMoto
from tests.e2e.conftest import fresh_buckets
from tests.keys import AWKWARD_KEYS

pytestmark = pytest.mark.e2e

SOURCE = "e2e-seed-source"
DEST = "e2e-seed-dest"


@pytest.fixture
def s3(moto_server: EmbeddedMoto) -> Any:
    return fresh_buckets(moto_server, SOURCE, DEST)


def run_cli(moto_server: EmbeddedMoto, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"AWS_ENDPOINT_URL": moto_server.url}
    command = [sys.executable, "-m", "seed", "--bucket", SOURCE, "--dest", DEST, "--local", "--workers", "2", "--json", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def put_all(s3: Any, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=key.encode()[:50]), keys))


def listing(s3: Any, bucket: str) -> dict[str, tuple[int, str]]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: (o["Size"], o["ETag"]) for page in pages for o in page.get("Contents", [])}


def seeded_ranges(cwd: Path, result: subprocess.CompletedProcess[str]) -> int:
    """The ranges the job's record says it was seeded with (its completion report's options)."""
    summary = json.loads(next(cwd.glob(f"s3fanout-runs/{json.loads(result.stdout)['job_id']}/summary.json")).read_text(encoding="utf-8"))
    return int(summary["options"]["ranges"])


def test_a_small_source_is_one_range_and_every_awkward_key_is_copied(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    keys = [*AWKWARD_KEYS, *(f"plain/{i:03d}" for i in range(40))]
    put_all(s3, SOURCE, keys)
    # One object the destination has already (skipped), one it has differently (copied again).
    s3.put_object(Bucket=DEST, Key="plain/000", Body=b"plain/000")
    s3.put_object(Bucket=DEST, Key="plain/001", Body=b"stale")

    result = run_cli(moto_server, tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"1 key range of s3://{SOURCE}/ queued" in result.stderr
    assert seeded_ranges(tmp_path, result) == 1
    report = json.loads(result.stdout)
    assert (report["keys_listed"], report["objects_copied"], report["keys_skipped"], report["failed_keys"]) == (len(keys), len(keys) - 1, 1, 0)
    assert listing(s3, DEST) == listing(s3, SOURCE)


def test_a_destination_beyond_one_page_keeps_the_ranges_and_every_orphan_is_deleted(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    """The delete pass lists the destination: a small source over a destination of more than a
    page is seeded in more than one range (fitted to both sides' first pages), and no orphan
    escapes it."""
    put_all(s3, SOURCE, ["a", "m/é", "日本"])
    orphans = [f"{first}{i:04d}" for i, first in zip(range(1001), "0aZ~é日😀" * 200, strict=False)]
    put_all(s3, DEST, orphans)

    result = run_cli(moto_server, tmp_path, "--delete")

    assert result.returncode == 0, result.stderr
    seeded = re.search(rf"(\d+) key ranges of s3://{SOURCE}/ queued", result.stderr)
    assert seeded is not None and 1 < int(seeded.group(1)) <= DEFAULT_RANGES, result.stderr
    report = json.loads(result.stdout)
    assert (report["objects_copied"], report["objects_deleted"], report["failed_keys"]) == (3, len(orphans), 0)
    assert listing(s3, DEST) == listing(s3, SOURCE)


def test_ranges_asked_for_are_seeded_whatever_the_size(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    put_all(s3, SOURCE, ["a", "b", "z"])

    result = run_cli(moto_server, tmp_path, "--ranges", "3")

    assert result.returncode == 0, result.stderr
    assert f"3 key ranges of s3://{SOURCE}/ queued" in result.stderr
    assert seeded_ranges(tmp_path, result) == 3
    assert listing(s3, DEST) == listing(s3, SOURCE)
