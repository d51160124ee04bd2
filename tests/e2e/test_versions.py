"""The real CLI, as a subprocess, in local mode against a moto server: --all-versions twice (the
second run copies nothing), --as-of between two generations, the refusals.

The server is moto's with its ListObjectVersions made to answer as S3 does (tests/moto_versions.py:
moto 5.2 ignores EncodingType=url, writes every version before every delete marker, and treats
KeyMarker alone wrongly)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from s3fanout.motoserver import EmbeddedMoto
from s3fanout.s3ops import SOURCE_VERSION_METADATA, key_version_entries
from tests.keys import AWKWARD_KEYS, CONTENT_HEADERS

pytestmark = pytest.mark.e2e

SOURCE, DEST, PLAIN = "e2e-versions-source", "e2e-versions-dest", "e2e-plain-dest"
KEYS = AWKWARD_KEYS[:10] + ["\x01control", "\ufffe-noncharacter", "long/" + "ü" * 300]


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedMoto]:
    with EmbeddedMoto(server=("-m", "tests.moto_versions")) as moto:
        yield moto


@pytest.fixture
def s3(server: EmbeddedMoto) -> Any:
    server.reset()
    client = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1")
    for bucket in (SOURCE, DEST, PLAIN):
        client.create_bucket(Bucket=bucket)
    for bucket in (SOURCE, DEST):
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return client


def run_cli(server: EmbeddedMoto, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"AWS_ENDPOINT_URL": server.url}
    return subprocess.run([sys.executable, "-m", "seed", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


def stack(s3: Any, bucket: str, key: str) -> list[Any]:
    """A key's history, oldest first: "deleted", or (content, metadata without the record)."""
    found: list[Any] = []
    for entry in key_version_entries(s3, bucket, key):
        if entry.delete_marker:
            found.append("deleted")
        else:
            got = s3.get_object(Bucket=bucket, Key=key, VersionId=entry.version_id)
            found.append((got["Body"].read(), {k: v for k, v in got["Metadata"].items() if k != SOURCE_VERSION_METADATA}))
    return list(reversed(found))


def test_all_versions_twice(server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    entries = markers = 0
    for index, key in enumerate(KEYS):
        for generation in range(1 + index % 3):
            s3.put_object(Bucket=SOURCE, Key=key, Body=f"{generation}:{key}".encode(), Metadata={"generation": str(generation)}, **CONTENT_HEADERS)
            entries += 1
        if index % 4 == 1:
            s3.delete_object(Bucket=SOURCE, Key=key)
            markers += 1
    args = ("--bucket", SOURCE, "--dest", DEST, "--all-versions", "--local", "--workers", "2", "--json")

    first = run_cli(server, tmp_path, *args)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["versions_copied"], report["delete_markers_written"], report["failed_keys"]) == (entries, markers, 0)
    assert report["objects_copied"] == entries
    for key in KEYS:
        assert stack(s3, DEST, key) == stack(s3, SOURCE, key), key

    plan = run_cli(server, tmp_path, "--bucket", SOURCE, "--dest", DEST, "--all-versions", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)["plan"]
    assert (planned["to_copy"], planned["markers_to_write"], planned["to_skip"]) == (0, 0, entries + markers)

    second = run_cli(server, tmp_path, *args)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert (again["versions_copied"], again["delete_markers_written"], again["objects_copied"]) == (0, 0, 0)
    assert again["versions_skipped"] == entries + markers
    for key in KEYS:
        assert stack(s3, DEST, key) == stack(s3, SOURCE, key), key


def test_all_versions_needs_a_versioned_destination(server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket=SOURCE, Key="k", Body=b"x")
    refused = run_cli(server, tmp_path, "--bucket", SOURCE, "--dest", PLAIN, "--all-versions", "--local")
    assert refused.returncode == 2
    reason = "--all-versions copies every version into a bucket with versioning enabled"
    assert refused.stderr.strip().splitlines() == [f"python -m seed: error: the destination bucket '{PLAIN}' is not versioned (versioning not enabled): {reason}"]
    both = run_cli(server, tmp_path, "--bucket", SOURCE, "--dest", DEST, "--all-versions", "--as-of", "2026-01-01", "--local")
    assert both.returncode == 2 and "choose one" in both.stderr


def test_as_of_between_two_generations(server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    for key in KEYS:
        s3.put_object(Bucket=SOURCE, Key=key, Body=f"1:{key}".encode(), Metadata={"generation": "1"})
    s3.delete_object(Bucket=SOURCE, Key=KEYS[0])
    # LastModified has one-second resolution: the time lies more than a second from both generations.
    time.sleep(1.2)
    when = datetime.now(UTC).replace(tzinfo=None).isoformat()  # no offset: UTC
    time.sleep(1.2)
    for key in KEYS[1:5]:
        s3.put_object(Bucket=SOURCE, Key=key, Body=f"2:{key}".encode(), Metadata={"generation": "2"})
    for key in KEYS[5:7]:
        s3.delete_object(Bucket=SOURCE, Key=key)
    s3.put_object(Bucket=SOURCE, Key="created-later", Body=b"2")
    args = ("--bucket", SOURCE, "--dest", PLAIN, "--as-of", when, "--local", "--workers", "2", "--json")

    plan = run_cli(server, tmp_path, "--bucket", SOURCE, "--dest", PLAIN, "--as-of", when, "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)["plan"]
    assert planned["to_copy"] == len(KEYS) - 1
    assert (planned["versions_listed"], planned["markers_listed"]) == (len(KEYS) + 5, 3)

    first = run_cli(server, tmp_path, *args)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["objects_copied"] == len(KEYS) - 1
    copied = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=PLAIN) for o in page.get("Contents", [])}
    assert copied == set(KEYS[1:])
    for key in KEYS[1:]:
        got = s3.get_object(Bucket=PLAIN, Key=key)
        assert (got["Body"].read(), got["Metadata"]) == (f"1:{key}".encode(), {"generation": "1"}), key

    second = run_cli(server, tmp_path, *args)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["objects_copied"] == 0
