"""--manifest end to end: the real CLI in local mode against the moto server, driven by an S3
Inventory report (Parquet, in a bucket) and by a CSV manifest (a local file): exactly the keys
the manifest names are copied, other keys of the bucket are not touched, a named key the bucket
lacks is reported as NoSuchKey, a second run copies nothing, and bad manifests are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from s3fanout.manifest import ManifestRow
from s3fanout.motoserver import EmbeddedMoto
from tests.e2e.conftest import fresh_buckets
from tests.keys import AWKWARD_KEYS, ZERO_BYTE_KEYS
from tests.manifests import Bucket, LocalFolder, write_csv_manifest, write_inventory

pytestmark = pytest.mark.e2e

SOURCE, DEST, INVENTORIES = "manifest-source", "manifest-dest", "manifest-inventories"
NAMED = sorted(AWKWARD_KEYS[:24] + ZERO_BYTE_KEYS)
UNNAMED = ["not/named-1", "not/named-2"]


def run_cli(server: EmbeddedMoto, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_ENDPOINT_URL")}
    env |= {"AWS_ENDPOINT_URL": server.url, "AWS_DEFAULT_REGION": "us-east-1"}
    return subprocess.run([sys.executable, "-m", "seed", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def fill(s3: Any) -> list[ManifestRow]:
    """The source holds NAMED and UNNAMED; the rows of NAMED as an inventory lists them."""

    def put(key: str) -> ManifestRow:
        s3.put_object(Bucket=SOURCE, Key=key, Body=b"" if key in ZERO_BYTE_KEYS else key.encode())
        head = s3.head_object(Bucket=SOURCE, Key=key)
        return ManifestRow(SOURCE, key, size=head["ContentLength"], etag=head["ETag"], last_modified=head["LastModified"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        rows = list(pool.map(put, NAMED + UNNAMED))
    return rows[: len(NAMED)]


def keys(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page.get("Contents", []))


def test_an_inventory_report_in_a_bucket_drives_the_job(moto_server: EmbeddedMoto, tmp_path: Path) -> None:
    s3 = fresh_buckets(moto_server, SOURCE, DEST, INVENTORIES)
    rows = fill(s3)
    location = write_inventory(Bucket(s3, INVENTORIES), rows, "Parquet", source_bucket=SOURCE, files=2, rows_per_group=5)
    # Deleted since the inventory was taken: its row names a key the source no longer has.
    gone = NAMED[3]
    s3.delete_object(Bucket=SOURCE, Key=gone)
    copied = [key for key in NAMED if key != gone]
    args = ["--bucket", SOURCE, "--dest", DEST, "--manifest", location, "--local", "--workers", "2", "--no-progress", "--json"]

    first = run_cli(moto_server, tmp_path, *args)

    assert first.returncode == 1, first.stderr
    report = json.loads(first.stdout)
    assert (report["objects_copied"], report["keys_listed"], report["failed_keys"]) == (len(copied), len(NAMED), 1)
    failures = [json.loads(line) for line in Path(tmp_path, report["failures_file"]).read_text(encoding="utf-8").splitlines()]
    assert [(f["key"], f["code"]) for f in failures] == [(gone, "NoSuchKey")]
    assert keys(s3, DEST) == copied
    assert "parts of manifest" in first.stderr
    summary = json.loads(next(tmp_path.glob("s3fanout-runs/*/summary.json")).read_text(encoding="utf-8"))
    assert summary["options"]["manifest"] == location

    second = run_cli(moto_server, tmp_path, *args)

    again = json.loads(second.stdout)
    assert (again["objects_copied"], again["keys_skipped"], again["failed_keys"]) == (0, len(copied), 1)


def test_a_local_csv_manifest_names_a_missing_key(moto_server: EmbeddedMoto, tmp_path: Path) -> None:
    s3 = fresh_buckets(moto_server, SOURCE, DEST)
    rows = fill(s3)
    manifest = write_csv_manifest(LocalFolder(tmp_path / "manifests"), "keys.csv", [*rows, ManifestRow(SOURCE, "gone/é missing")])

    result = run_cli(moto_server, tmp_path, "--bucket", SOURCE, "--dest", DEST, "--manifest", manifest, "--local", "--workers", "2", "--no-progress", "--json")

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["objects_copied"], report["failed_keys"]) == (len(NAMED), 1)
    assert keys(s3, DEST) == NAMED
    [failure] = [json.loads(line) for line in Path(tmp_path, report["failures_file"]).read_text(encoding="utf-8").splitlines()]
    assert (failure["key"], failure["code"]) == ("gone/é missing", "NoSuchKey")


@pytest.mark.parametrize(
    ("extra", "manifest_rows", "message"),
    [
        (["--manifest", "no/such/file.csv"], None, "no file 'no/such/file.csv'"),
        (["--manifest", "s3://only-a-bucket"], None, "is not an S3 object URI"),
        (["--delete"], [ManifestRow(SOURCE, "a")], "--delete finds orphans by listing the whole source"),
        ([], [ManifestRow("another-bucket", "a")], "names bucket 'another-bucket'"),
    ],
)
def test_bad_manifests_are_one_line_and_exit_2(moto_server: EmbeddedMoto, tmp_path: Path, extra: list[str], manifest_rows: list[ManifestRow] | None, message: str) -> None:
    fresh_buckets(moto_server, SOURCE, DEST)
    args = ["--bucket", SOURCE, "--dest", DEST, "--local", "--no-progress", *extra]
    if manifest_rows is not None:
        args += ["--manifest", write_csv_manifest(LocalFolder(tmp_path), "bad.csv", manifest_rows)]

    result = run_cli(moto_server, tmp_path, *args)

    assert result.returncode == 2, result
    [line] = result.stderr.strip().splitlines()
    assert message in line and "Traceback" not in result.stderr


def test_a_dry_run_reads_the_manifest_and_changes_nothing(moto_server: EmbeddedMoto, tmp_path: Path) -> None:
    s3 = fresh_buckets(moto_server, SOURCE, DEST, INVENTORIES)
    rows = fill(s3)
    s3.copy_object(Bucket=DEST, Key=NAMED[0], CopySource={"Bucket": SOURCE, "Key": NAMED[0]})
    location = write_csv_manifest(Bucket(s3, INVENTORIES), "keys.csv", [*rows, ManifestRow(SOURCE, "gone")])
    args = ["--bucket", SOURCE, "--dest", DEST, "--manifest", location, "--dry-run"]

    text = run_cli(moto_server, tmp_path, *args)
    as_json = run_cli(moto_server, tmp_path, *args, "--json")

    assert text.returncode == 0, text.stderr
    assert f"1 parts of manifest {location}" in text.stdout
    assert f"would copy   {len(NAMED) - 1:,} objects" in text.stdout and "would fail   1 keys the manifest names but the source lacks" in text.stdout
    assert "S3 HEAD requests" in text.stdout and "orphans" not in text.stdout
    plan = json.loads(as_json.stdout)["plan"]
    assert (plan["to_copy"], plan["to_skip"], plan["missing"], plan["manifest_rows"], plan["head_requests"]) == (len(NAMED) - 1, 1, 1, len(NAMED) + 1, len(NAMED) + 1)
    assert keys(s3, DEST) == [NAMED[0]]
