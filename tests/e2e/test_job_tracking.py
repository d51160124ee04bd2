"""Jobs you can watch, end to end in local mode (the real CLI against a fault-injecting moto
endpoint, whose DynamoDB holds the job records): exact counts in ``status``, ``verify`` naming
what is missing until a second run completes the job, ``jobs``, ``cancel``, the completion
report, and a redrive that brings the record back to exact."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e import test_faults
from tests.e2e.faults import FaultyEndpoint
from tests.e2e.test_faults import DEST, SOURCE, cli_running, fill, finish, job, listing, report_of, run_cli

pytestmark = pytest.mark.e2e

DENIED = sorted({f"denied/{i}" for i in range(3)} | {"denied/é ü+%20#?"})
ALLOWED = [f"allowed/{i:03d}" for i in range(30)]


# The fault tests' fixture: SOURCE and DEST created on the faulty endpoint.
s3 = test_faults.s3


def status(endpoint: FaultyEndpoint, cwd: Path, *args: str) -> dict[str, Any]:
    result = run_cli(endpoint, cwd, "status", *args, "--local", "--json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def verify(endpoint: FaultyEndpoint, cwd: Path) -> tuple[int, dict[str, Any]]:
    result = run_cli(endpoint, cwd, "verify", "--bucket", SOURCE, "--dest", DEST, "--json", "--no-progress")
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, dict(json.loads(result.stdout))


def test_status_counts_exactly_verify_names_the_missing_keys_and_a_second_run_completes(faulty: FaultyEndpoint, s3: Any, tmp_path: Path) -> None:
    fill(s3, ALLOWED + DENIED)
    sizes = listing(s3, SOURCE)
    refuse = faulty.fail("CopyObject", key="denied/", code="AccessDenied")

    first = run_cli(faulty, tmp_path, *job())

    assert first.returncode == 1, first.stderr
    job_id = report_of(first)["job_id"]
    shown = status(faulty, tmp_path, job_id)
    assert (shown["job_id"], shown["state"]) == (job_id, "failed")
    assert (shown["listed"], shown["copied"], shown["skipped"], shown["failed"], shown["deleted"]) == (34, 30, 0, 4, 0)
    assert shown["bytes_copied"] == sum(sizes[key][0] for key in ALLOWED)
    assert shown["started"] < shown["finished"]
    assert (shown["list_tasks_open"], shown["copy_messages_open"]) == (0, 0)
    # The latest job is the default.
    assert status(faulty, tmp_path)["job_id"] == job_id

    # The completion report, in the run's folder.
    [folder] = tmp_path.glob(f"s3fanout-runs/{job_id}")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert (summary["copied"], summary["failed"], summary["state"]) == (30, 4, "failed") and summary["cost_usd"] > 0
    rows = list(csv.DictReader((folder / "failed.csv").open(encoding="utf-8")))
    assert sorted(row["key"] for row in rows) == sorted(quote(key, safe="/") for key in DENIED)
    assert {(row["bucket"], row["error_code"]) for row in rows} == {(SOURCE, "AccessDenied")}

    code, report = verify(faulty, tmp_path)
    assert code == 1
    assert [entry["key"] for entry in report["missing"]] == DENIED
    assert report["different"] == [] and report["extra"] == []

    faulty.remove(refuse)
    second = run_cli(faulty, tmp_path, *job())

    assert second.returncode == 0, second.stderr
    again = status(faulty, tmp_path)
    assert again["job_id"] == report_of(second)["job_id"] != job_id
    assert (again["state"], again["listed"], again["copied"], again["skipped"], again["failed"]) == ("succeeded", 34, 4, 30, 0)
    assert verify(faulty, tmp_path)[0] == 0

    jobs = run_cli(faulty, tmp_path, "jobs", "--local")
    assert jobs.returncode == 0, jobs.stderr
    lines = jobs.stdout.splitlines()
    assert lines[1].startswith(again["job_id"]) and "succeeded" in lines[1]
    assert lines[2].startswith(job_id) and "failed" in lines[2]


def test_a_redrive_brings_the_record_back_to_exact(faulty: FaultyEndpoint, s3: Any, tmp_path: Path) -> None:
    fill(s3, ALLOWED[:10] + DENIED)
    refuse = faulty.fail("CopyObject", key="denied/", code="AccessDenied")
    job_id = report_of(run_cli(faulty, tmp_path, *job()))["job_id"]
    faulty.remove(refuse)

    redriven = run_cli(faulty, tmp_path, "dlq", "redrive", "--local", "--workers", "2", "--json", "--no-progress")

    assert redriven.returncode == 0, redriven.stderr
    shown = status(faulty, tmp_path, job_id)
    assert (shown["state"], shown["copied"], shown["failed"], shown["copy_messages_open"]) == ("succeeded", 14, 0, 0)


def test_cancel_stops_a_running_job(faulty: FaultyEndpoint, s3: Any, tmp_path: Path) -> None:
    # One worker, one range: the lister queues 13 batches, the copier takes 10 of them at once
    # and is held on the first while the job is cancelled; the other three are dropped unworked.
    fill(s3, [f"slow/{i:04d}" for i in range(1_250)])
    held = faulty.hold("CopyObject", key={"slow/0000"})
    with cli_running(faulty, tmp_path, *job("--workers", "1", ranges=1)) as process:
        held.wait_held()
        job_id = running_job(faulty, tmp_path)
        cancelled = run_cli(faulty, tmp_path, "cancel", job_id, "--local")
        assert cancelled.returncode == 0, cancelled.stderr
        assert f"job {job_id} cancelled" in cancelled.stdout
        held.release()
        result = finish(process)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    shown = status(faulty, tmp_path, job_id)
    assert shown["state"] == "cancelled" and shown["finished"]
    assert (shown["dropped"], shown["copied"]) == (3, 1_000)
    assert (shown["list_tasks_open"], shown["copy_messages_open"]) == (0, 0)
    assert report_of(result)["state"] == "cancelled"
    # A finished job cannot be cancelled again, and an unknown one is named.
    again = run_cli(faulty, tmp_path, "cancel", job_id, "--local")
    assert again.returncode == 2 and "is not running" in again.stderr and again.stderr.count("\n") == 1
    unknown = run_cli(faulty, tmp_path, "cancel", "no-such-job", "--local")
    assert unknown.returncode == 2 and "no job 'no-such-job'" in unknown.stderr


def running_job(endpoint: FaultyEndpoint, cwd: Path) -> str:
    """The id of the job that is running now (the latest one)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown = run_cli(endpoint, cwd, "status", "--local", "--json")
        if shown.returncode == 0 and json.loads(shown.stdout)["state"] == "running":
            return str(json.loads(shown.stdout)["job_id"])
    pytest.fail("no running job appeared")


def test_status_of_an_unknown_job_is_one_line_and_exit_2(faulty: FaultyEndpoint, tmp_path: Path) -> None:
    result = run_cli(faulty, tmp_path, "status", "20990101-000000-abcdef", "--local")
    assert result.returncode == 2
    assert re.fullmatch(r"python -m seed: error: no job '20990101-000000-abcdef' in local mode \(see 'python -m seed jobs'\)\n", result.stderr)
