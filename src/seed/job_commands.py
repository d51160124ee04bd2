"""``status``, ``jobs`` and ``cancel``: a job's record, read from a deployed stack's table or local
mode's (on the configured DynamoDB endpoint, else the copies local runs keep on this machine)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from s3fanout import clients
from s3fanout.counts import Counts
from s3fanout.jobqueues import StackError, default_stack_name, queues_from_stack
from s3fanout.jobrecord import LOCAL_TABLE_NAME, RUNNING, JobNotFound, JobNotRunning, JobRecord, JobTable, record_from_status
from s3fanout.signing import local_state_dir
from seed.console import PROG, ExitStatus, OneLineParser, UsageError
from seed.progress import format_seconds, human_bytes

DEFAULT_JOBS_SHOWN = 20
T = TypeVar("T")


def where_parser() -> OneLineParser:
    where = OneLineParser(add_help=False)
    place = where.add_mutually_exclusive_group()
    place.add_argument("--local", action="store_true", help="local mode's jobs (the configured DynamoDB endpoint, else the runs of this machine)")
    place.add_argument("--stack-name", metavar="NAME", help="deployed stack (default: samconfig.toml's stack_name, else s3-fanout)")
    where.add_argument("--region", help="AWS region (default: the usual AWS configuration)")
    where.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return where


def status_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=f"{PROG} status",
        parents=[where_parser()],
        description="One job's state and counts from its record: listed, copied, skipped, failed, deleted, bytes, and while it runs its rate and the time left.",
    )
    parser.add_argument("job", nargs="?", metavar="JOB", help="the job id (default: the latest job)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def jobs_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=f"{PROG} jobs", parents=[where_parser()], description="Recent jobs, newest first, one line each.")
    parser.add_argument("--json", action="store_true", help="print a JSON array of the jobs' status objects")
    parser.add_argument("--limit", type=int, default=DEFAULT_JOBS_SHOWN, metavar="N", help=f"how many jobs (default: {DEFAULT_JOBS_SHOWN})")
    return parser


def cancel_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=f"{PROG} cancel",
        parents=[where_parser()],
        description="Cancel a running job: its listers and copiers drop its remaining messages without work (counted as dropped). "
        "Objects already copied stay; run the job again to finish it.",
    )
    parser.add_argument("job", metavar="JOB", help="the job id")
    parser.add_argument("--json", action="store_true", help="print the job's status object")
    return parser


# --------------------------------------------------------------------------- where jobs live


class LocalJobs:
    """Local mode's records: the table on the configured DynamoDB endpoint when there is one,
    and the copies each local run keeps on this machine (a run on the embedded moto server
    leaves only those). A copy of a running job names the endpoint its record lives on."""

    def __init__(self) -> None:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")
        self.table = JobTable(clients.dynamodb(), LOCAL_TABLE_NAME) if endpoint else None

    def get(self, job_id: str) -> JobRecord | None:
        table = self.table
        record = _quietly(lambda: table.get(job_id)) if table else None
        return record or self._live(job_id)

    def recent(self, limit: int) -> list[JobRecord]:
        table = self.table
        listed = (_quietly(lambda: table.recent(limit)) if table else None) or []
        records = {record.job_id: record for record in listed}
        for job_id in saved_job_ids():
            if job_id not in records:
                saved = self._live(job_id)
                if saved is not None:
                    records[job_id] = saved
        return sorted(records.values(), key=lambda record: record.started, reverse=True)[:limit]

    def cancel(self, job_id: str) -> JobRecord:
        table = self._table_of(job_id)
        if table is None:
            raise JobNotFound(job_id)
        return table.cancel(job_id)

    def _table_of(self, job_id: str) -> JobTable | None:
        table = self.table
        if table is not None and _quietly(lambda: table.get(job_id)) is not None:
            return table
        saved = load_saved(job_id)
        endpoint = saved.get("dynamodb_endpoint") if saved else None
        return _endpoint_table(endpoint) if endpoint else None

    def _live(self, job_id: str) -> JobRecord | None:
        """A saved job; while it runs, its live record from the endpoint the copy names, and
        when that is gone (the run was killed), the copy as it was, marked interrupted."""
        saved = load_saved(job_id)
        if saved is None:
            return None
        record = record_from_status(saved["status"])
        endpoint = saved.get("dynamodb_endpoint")
        if record.state != RUNNING or not endpoint:
            return record
        live = _quietly(lambda: _endpoint_table(endpoint).get(job_id))
        if live is not None:
            return live
        return record if _alive(saved.get("pid")) else record_from_status(saved["status"] | {"state": "interrupted"})


def _endpoint_table(endpoint: str) -> JobTable:
    # A person is waiting: an endpoint that is gone must fail in a second, not after retries.
    config = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1, read_timeout=5)
    session = boto3.session.Session()
    if session.get_credentials() is None:
        # The embedded moto server of a local run takes any credentials.
        session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local")
    return JobTable(session.client("dynamodb", endpoint_url=endpoint, region_name=session.region_name or "us-east-1", config=config), LOCAL_TABLE_NAME)


def _alive(pid: Any) -> bool:
    """Whether the process that ran a local job is still running (on this machine)."""
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _quietly(read: Callable[[], T]) -> T | None:
    """A read of a table that may not exist (yet) or an endpoint that may be down: None then."""
    try:
        return read()
    except (ClientError, BotoCoreError):
        return None


def _saved_dir() -> Path:
    return local_state_dir() / "jobs"


def save_local_status(record: JobRecord, dynamodb_endpoint: str | None) -> None:
    """Keep a local job's record on this machine: for ``status`` after a run on the embedded moto
    server, and (with the endpoint) while it runs."""
    path = _saved_dir() / f"{record.job_id}.status.json"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    saved = {"status": record.to_status(), "dynamodb_endpoint": dynamodb_endpoint, "pid": os.getpid() if dynamodb_endpoint else None}
    path.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")


def load_saved(job_id: str) -> dict[str, Any] | None:
    try:
        data = json.loads((_saved_dir() / f"{job_id}.status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "status" in data else None


def saved_job_ids() -> list[str]:
    return [path.name.removesuffix(".status.json") for path in _saved_dir().glob("*.status.json")]


class StackJobs:
    def __init__(self, stack_name: str) -> None:
        queues = queues_from_stack(clients.cloudformation(), stack_name)
        if not queues.job_table:
            raise StackError(f"stack '{stack_name}' has no JobTableName output: redeploy it with this version of the template to keep job records")
        self.table = JobTable(clients.dynamodb(), queues.job_table)

    def get(self, job_id: str) -> JobRecord | None:
        return self.table.get(job_id)

    def recent(self, limit: int) -> list[JobRecord]:
        return self.table.recent(limit)

    def cancel(self, job_id: str) -> JobRecord:
        return self.table.cancel(job_id)


def jobs_of(args: argparse.Namespace) -> LocalJobs | StackJobs:
    if args.local:
        return LocalJobs()
    try:
        return StackJobs(args.stack_name or default_stack_name())
    except StackError as error:
        raise StackError(f"{error}; for local mode's jobs add --local") from None


def where_text(args: argparse.Namespace) -> str:
    return "local mode" if args.local else f"stack '{args.stack_name or default_stack_name()}'"


# ------------------------------------------------------------------------------- commands


def status_main(argv: list[str]) -> int:
    args = status_parser().parse_args(argv)
    clients.use_region(args.region)
    jobs = jobs_of(args)
    if args.job:
        record = jobs.get(args.job)
        if record is None:
            raise UsageError(f"no job '{args.job}' in {where_text(args)} (see '{PROG} jobs')")
    else:
        latest = jobs.recent(1)
        if not latest:
            raise UsageError(f"no jobs in {where_text(args)} yet")
        record = latest[0]
    print(json.dumps(status_object(record), ensure_ascii=False, indent=2) if args.json else status_text(record))
    return ExitStatus.SUCCESS


def jobs_main(argv: list[str]) -> int:
    args = jobs_parser().parse_args(argv)
    clients.use_region(args.region)
    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, not {args.limit}")
    records = jobs_of(args).recent(args.limit)
    if args.json:
        print(json.dumps([status_object(record) for record in records], ensure_ascii=False, indent=2))
    elif not records:
        print(f"no jobs in {where_text(args)} yet")
    else:
        print(f"{'JOB':<24} {'STATE':<11} {'STARTED':<20} {'LISTED':>10} {'COPIED':>10} {'SKIPPED':>10} {'FAILED':>7}  SOURCE -> DESTINATION")
        for record in records:
            c = record.counts
            print(
                f"{record.job_id:<24} {record.state:<11} {record.started[:19].replace('T', ' '):<20} {c.keys_listed:>10,} {c.objects_copied:>10,} {c.keys_skipped:>10,} {record.failures:>7,}  "
                f"s3://{record.source_bucket}/{record.prefix} -> {record.destination}"
            )
    return ExitStatus.SUCCESS


def cancel_main(argv: list[str]) -> int:
    args = cancel_parser().parse_args(argv)
    clients.use_region(args.region)
    try:
        record = jobs_of(args).cancel(args.job)
    except JobNotFound:
        raise UsageError(f"no job '{args.job}' in {where_text(args)} (see '{PROG} jobs')") from None
    except JobNotRunning as ended:
        finished = f", finished {ended.record.finished}" if ended.record.finished else ""
        raise UsageError(f"job {args.job} is not running: it is {ended.record.state}{finished}") from None
    if args.json:
        print(json.dumps(status_object(record), ensure_ascii=False, indent=2))
    else:
        print(f"job {args.job} cancelled: its listers and copiers drop its {record.open_messages:,} open messages without work; objects already copied stay")
    return ExitStatus.SUCCESS


# ------------------------------------------------------------------------------- rendering


def rate_and_eta(record: JobRecord, now: datetime | None = None) -> tuple[float | None, float | None]:
    """Objects copied per second, and (while it runs) the seconds left for the keys listed so far."""
    seconds = record.seconds(now or datetime.now(UTC))
    counts = record.counts
    rate = counts.objects_copied / seconds if seconds > 0 else None
    left = counts.keys_listed - counts.keys_skipped - counts.objects_copied - counts.keys_failed
    eta = left / rate if record.state == RUNNING and rate and left > 0 else None
    return rate, eta


def status_object(record: JobRecord) -> dict[str, Any]:
    rate, eta = rate_and_eta(record)
    return record.to_status() | {
        "objects_per_second": None if rate is None else round(rate, 1),
        "eta_seconds": None if eta is None else round(eta),
    }


def status_text(record: JobRecord) -> str:
    counts: Counts = record.counts
    rate, eta = rate_and_eta(record)
    when = f"started {record.started[:19].replace('T', ' ')} UTC"
    when += f", finished after {format_seconds(record.seconds())}" if record.finished else f", running for {format_seconds(record.seconds())}"
    failed = f"  failed  {counts.keys_failed:,} keys" + (f" and {counts.ranges_failed:,} key ranges" if counts.ranges_failed else "")
    if record.failures:
        failed += f" (see '{PROG} dlq list --job {record.job_id}')"
    lines = [
        f"job {record.job_id}: {record.state} ({record.mode}, {record.where})",
        f"  s3://{record.source_bucket}/{record.prefix} -> {record.destination}",
        f"  {when}",
        f"  listed  {counts.keys_listed:,} keys ({human_bytes(counts.bytes_listed)})",
        f"  copied  {counts.objects_copied:,} objects ({human_bytes(counts.bytes_copied)})" + (f", {rate:,.1f} objects/s" if rate else ""),
        f"  skipped {counts.keys_skipped:,} already identical",
        failed,
    ]
    others = [job_id for job_id in record.options.get("destination_jobs") or [] if job_id != record.job_id]
    if others:
        lines.append(f"  listed with the jobs of its other destinations: {', '.join(others)}")
    if counts.orphans_found or counts.objects_deleted:
        lines.append(f"  deleted {counts.objects_deleted:,} of {counts.orphans_found:,} orphans")
    if counts.messages_dropped:
        lines.append(f"  dropped {counts.messages_dropped:,} messages unworked (cancelled)")
    if not record.finished:
        left = f"; about {format_seconds(eta)} left for the keys listed so far" if eta else ""
        lines.append(f"  open    {max(0, record.list_open):,} list tasks, {max(0, record.copy_open):,} copy messages{left}")
    return "\n".join(lines)
