"""What `status` says of a job record: the JSON contract's fields, and while it runs, its rate and
the time left for the keys listed so far."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from s3fanout.counts import Counts
from s3fanout.jobrecord import JobRecord
from seed.job_commands import rate_and_eta, status_object, status_text

STARTED = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def record(state: str = "running", finished: datetime | None = None, started: datetime = STARTED, **counts: int) -> JobRecord:
    return JobRecord(
        job_id="20261202-100000-abcdef",
        source_bucket="src",
        dest_bucket="dst",
        prefix="logs/",
        mode="sync",
        state=state,
        started=started.isoformat(),
        finished=finished.isoformat() if finished else None,
        updated=None,
        counts=Counts(**counts),
        list_open=2,
        copy_open=5,
    )


def test_rate_and_time_left_of_a_running_job() -> None:
    running = record(keys_listed=1_000, keys_skipped=200, objects_copied=300)
    rate, eta = rate_and_eta(running, now=STARTED + timedelta(seconds=10))
    assert rate == 30.0
    assert eta == (1_000 - 200 - 300) / 30.0


def test_a_finished_job_has_no_time_left() -> None:
    done = record("succeeded", STARTED + timedelta(seconds=20), keys_listed=100, objects_copied=100)
    assert rate_and_eta(done) == (5.0, None)


def test_the_json_contract() -> None:
    shown = status_object(record("failed", STARTED + timedelta(seconds=4), keys_listed=9, objects_copied=5, keys_skipped=2, keys_failed=2, objects_deleted=1, bytes_copied=50))
    assert {name: shown[name] for name in ("job_id", "state", "listed", "copied", "skipped", "failed", "deleted", "bytes_copied")} == {
        "job_id": "20261202-100000-abcdef",
        "state": "failed",
        "listed": 9,
        "copied": 5,
        "skipped": 2,
        "failed": 2,
        "deleted": 1,
        "bytes_copied": 50,
    }
    assert shown["started"] == STARTED.isoformat() and shown["finished"] == (STARTED + timedelta(seconds=4)).isoformat()
    assert shown["objects_per_second"] == 1.2 and shown["eta_seconds"] is None


def test_the_summary_of_a_running_job_names_its_rate_and_what_is_open() -> None:
    text = status_text(record(started=datetime.now(UTC) - timedelta(seconds=100), keys_listed=1_000, objects_copied=300, keys_failed=3))
    assert text.splitlines()[0] == "job 20261202-100000-abcdef: running (sync, local)"
    assert "s3://src/logs/ -> s3://dst/logs/" in text
    assert "objects/s" in text and "left for the keys listed so far" in text
    assert "open    2 list tasks, 5 copy messages" in text
    assert "failed  3 keys (see 'python -m seed dlq list --job 20261202-100000-abcdef')" in text
