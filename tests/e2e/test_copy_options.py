"""Copy options end to end: the real CLI in local mode against the moto server, a few flags, the
destination objects checked (small objects by CopyObject, a 12 MiB one in parts)."""

from __future__ import annotations

import os
from pathlib import Path

from s3fanout.motoserver import EmbeddedMoto
from tests.e2e.conftest import fresh_buckets
from tests.e2e.test_local_mode import run_cli

SOURCE, DEST = "e2e-options-src", "e2e-options-dst"
MiB = 1024**2


def test_a_local_job_writes_its_copies_as_the_flags_say(moto_server: EmbeddedMoto, tmp_path: Path, monkeypatch) -> None:
    s3 = fresh_buckets(moto_server, SOURCE, DEST)
    sizes = {"a.csv": 10, "b/c.csv": 0, "big.bin": 12 * MiB}
    for key, size in sizes.items():
        s3.put_object(Bucket=SOURCE, Key=key, Body=os.urandom(size), ContentType="text/csv", Metadata={"old": "1"})
    # The local workers inherit the environment: the 12 MiB object is copied in three parts.
    monkeypatch.setenv("MULTIPART_THRESHOLD_BYTES", str(5 * MiB + 1))
    monkeypatch.setenv("MULTIPART_PART_SIZE_BYTES", str(5 * MiB))

    flags = ["--storage-class", "STANDARD_IA", "--sse", "AES256", "--checksum-algorithm", "SHA256"]
    flags += ["--metadata-directive", "REPLACE", "--metadata", "project=atlas"]
    result = run_cli(moto_server, tmp_path, "--bucket", SOURCE, "--dest", DEST, "--local", "--workers", "2", "--no-progress", *flags)

    assert result.returncode == 0, result.stderr
    for key in sizes:
        head = s3.head_object(Bucket=DEST, Key=key, ChecksumMode="ENABLED")
        assert (head["StorageClass"], head["ServerSideEncryption"], head["ContentType"]) == ("STANDARD_IA", "AES256", "text/csv"), key
        assert head["Metadata"] == {"project": "atlas"} and "ChecksumSHA256" in head, key
    assert s3.head_object(Bucket=DEST, Key="big.bin")["ETag"].strip('"').endswith("-3")


def test_copy_object_lock_on_a_destination_without_it_is_refused_in_one_line(moto_server: EmbeddedMoto, tmp_path: Path) -> None:
    fresh_buckets(moto_server, SOURCE, DEST)
    result = run_cli(moto_server, tmp_path, "--bucket", SOURCE, "--dest", DEST, "--local", "--no-progress", "--copy-object-lock")
    assert result.returncode == 2
    assert result.stderr == f"python -m seed: error: the destination bucket '{DEST}' has no Object Lock configuration: --copy-object-lock needs a bucket created with Object Lock\n"
