"""Bad input, as a user types it: one line on stderr, exit 2, never a traceback, nothing changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from s3fanout.motoserver import EmbeddedMoto
from tests.e2e.conftest import fresh_buckets

pytestmark = pytest.mark.e2e

SOURCE = "bad-input-source"
DEST = "bad-input-dest"
JOB = ["--bucket", SOURCE, "--dest", DEST]


@pytest.fixture
def s3(moto_server: EmbeddedMoto) -> Any:
    client = fresh_buckets(moto_server, SOURCE, DEST)
    client.put_object(Bucket=SOURCE, Key="k", Body=b"x")
    return client


def run_cli(endpoint: str, cwd: Path, *args: str | bytes) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"AWS_ENDPOINT_URL": endpoint}
    return subprocess.run([sys.executable, "-m", "seed", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stderr.startswith("python -m seed: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# Each case: (the arguments, given the test's tmp_path; a fragment of the one-line error).
CASES: dict[str, tuple[Any, str]] = {
    "prefix-not-utf8": (lambda tmp: [*JOB, "--local", "--prefix", b"logs/\xff"], "not valid UTF-8"),
    "prefix-too-long": (lambda tmp: [*JOB, "--local", "--prefix", "p" * 1025], "1025 bytes long"),
    "prefix-s3-url": (lambda tmp: [*JOB, "--local", "--prefix", "s3://bad-input-source/logs/"], "is a URL"),
    "export-missing-folder": (lambda tmp: ["dlq", "export", "--local", str(tmp / "nowhere" / "failures.csv")], "does not exist"),
    "export-onto-folder": (lambda tmp: ["dlq", "export", "--local", str(tmp)], "is a directory"),
    "prices-string": (lambda tmp: [*JOB, "--dry-run", "--prices", write(tmp / "p.json", '{"s3_list_per_1000": "cheap"}')], "s3_list_per_1000 must be a number"),
    "prices-zero-divisor": (lambda tmp: [*JOB, "--dry-run", "--prices", write(tmp / "p.json", '{"copy_concurrency": 0}')], "copy_concurrency must be greater than 0"),
    "prices-not-an-object": (lambda tmp: [*JOB, "--dry-run", "--prices", write(tmp / "p.json", "[1, 2]")], "JSON object"),
    "output-dir-under-a-file": (lambda tmp: [*JOB, "--local", "--output-dir", write(tmp / "a-file", "") + "/runs"], "cannot use --output-dir"),
    "list-timeout-too-short": (lambda tmp: [*JOB, "--local", "--list-timeout", "1"], "--list-timeout: must be 30 to 900"),
    "copy-timeout-too-short": (lambda tmp: [*JOB, "--local", "--copy-timeout", "1"], "--copy-timeout: must be 30 to 900"),
    "too-many-workers": (lambda tmp: [*JOB, "--local", "--workers", "100000"], "--workers: must be 1 to 64"),
    "owner-not-an-account": (lambda tmp: [*JOB, "--local", "--source-owner", "12345"], "not a 12-digit AWS account id"),
    "dest-prefix-before-dest": (lambda tmp: ["--bucket", SOURCE, "--dest-prefix", "new/", "--dest", DEST, "--local"], "applies to the --dest before it"),
    "dest-prefix-twice": (lambda tmp: [*JOB, "--dest-prefix", "a/", "--dest-prefix", "b/", "--local"], "two --dest-prefix values"),
    "dest-twice": (lambda tmp: [*JOB, "--dest", DEST, "--local"], "given twice for the same keys"),
    "dest-prefix-is-a-url": (lambda tmp: [*JOB, "--dest-prefix", "s3://x/y", "--local"], "is a URL"),
    "dest-prefix-overlaps-in-one-bucket": (lambda tmp: ["--bucket", SOURCE, "--prefix", "a/", "--dest", SOURCE, "--dest-prefix", "a/b/", "--local"], "overlap in the same bucket"),
    "several-dests-and-versions": (lambda tmp: [*JOB, "--dest", "other-dest", "--all-versions", "--local"], "several destinations and --all-versions"),
    "dest-prefix-and-manifest": (lambda tmp: [*JOB, "--dest-prefix", "n/", "--manifest", write(tmp / "m.csv", "bad-input-source,k\n"), "--local"], "--dest-prefix and --manifest"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path, case: str) -> None:
    arguments, fragment = CASES[case]

    result = run_cli(moto_server.url, tmp_path, *arguments(tmp_path))

    assert_one_line_error(result, fragment)
    assert s3.list_objects_v2(Bucket=DEST).get("KeyCount") == 0
    assert not (tmp_path / "s3fanout-runs").exists()


def test_an_endpoint_that_does_not_answer_fails_in_seconds(tmp_path: Path) -> None:
    started = time.monotonic()

    # Port 9 (discard) on the loopback: nothing listens there.
    result = run_cli("http://127.0.0.1:9", tmp_path, *JOB, "--local")

    assert_one_line_error(result, "cannot reach S3 to check the source bucket")
    # It took 35-50 s before: eight attempts with a 10 s connect timeout each.
    assert time.monotonic() - started < 30


def test_dlq_commands_on_an_endpoint_without_failures_say_so(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    listed = run_cli(moto_server.url, tmp_path, "dlq", "list", "--local")
    assert (listed.returncode, listed.stdout) == (0, "the dead-letter queues are empty\n")
    exported = run_cli(moto_server.url, tmp_path, "dlq", "export", "--local", str(tmp_path / "failures.jsonl"))
    assert exported.returncode == 0 and (tmp_path / "failures.jsonl").read_text() == ""
    redriven = run_cli(moto_server.url, tmp_path, "dlq", "redrive", "--local", "--reason", "AccessDenied", "--json")
    assert (redriven.returncode, json.loads(redriven.stdout)) == (0, {"keys": 0, "ranges": 0, "left": 0})
