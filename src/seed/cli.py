"""python -m seed: the command line. Parsers and dispatch; the work is done by the job runner
(runner.py), the dry run (dry_run.py), the DLQ commands (dlq_commands.py) and the demo."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from s3fanout import clients
from s3fanout.backoff import DEFAULT_MAX_ATTEMPTS
from s3fanout.copying.limit import DEFAULT_CONCURRENCY
from s3fanout.job import DEFAULT_RANGES, MAX_DESTINATIONS, DestinationSpec, JobError, JobSpec, describe_tasks, dest_job_id
from s3fanout.jobqueues import StackError, default_stack_name
from s3fanout.local import COPY_TIMEOUT_SECONDS, LIST_TIMEOUT_SECONDS
from s3fanout.preflight import check_names
from s3fanout.queues import SendFailed
from seed.arguments import (
    MAX_FUNCTION_TIMEOUT_SECONDS,
    MAX_SEED_RANGES,
    MAX_WORKERS,
    MIN_FUNCTION_TIMEOUT_SECONDS,
    account_id,
    add_access_arguments,
    add_copy_options,
    add_destination_arguments,
    as_of_argument,
    bucket_argument,
    copy_options,
    destinations_argument,
    function_timeout,
    manifest_argument,
    positive_int,
    prefix_argument,
    range_count,
    report_argument,
    side_access,
    worker_count,
)
from seed.console import PROG, ExitStatus, JobInterrupted, OneLineParser, UsageError, fail, progress_wanted
from seed.dlq_commands import check_export_file, dlq_export, dlq_list, dlq_places, dlq_purge, dlq_redrive, worker_options
from seed.job_commands import cancel_main, jobs_main, status_main
from seed.report import JobReport, print_report
from seed.runner import DEFAULT_MAX_RECEIVE_COUNT, DEFAULT_OUTPUT_DIR, DEFAULT_WORKERS, JobOptions, run_deployed_job, run_local_job


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands: dict[str, Callable[[list[str]], int]] = {
        "dlq": dlq_main,
        "demo": demo_main,
        "status": status_main,
        "jobs": jobs_main,
        "cancel": cancel_main,
        "verify": later("seed.verify", "verify_main"),
        "policy": later("seed.policy", "policy_main"),
        "replicate": later("seed.replicate", "replicate_main"),
    }
    command = commands.get(args[0]) if args else None
    debug = "--debug" in args
    try:
        return command(args[1:]) if command else seed_main(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    except JobInterrupted as summary:
        print(f"{PROG}: interrupted\n{summary}", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    except (UsageError, JobError, StackError, SendFailed) as error:
        return fail(str(error), debug)
    except NoRegionError:
        return fail("no AWS region configured: set AWS_REGION or AWS_DEFAULT_REGION, or pass --region", debug)
    except (ClientError, BotoCoreError) as error:
        return fail(str(error), debug)


def later(module: str, name: str) -> Callable[[list[str]], int]:
    """A command whose module is imported when it runs: a job starts without importing every
    other command's (a job on local workers is timed from the moment it is typed)."""

    def command(argv: list[str]) -> int:
        return cast(Callable[[list[str]], int], getattr(importlib.import_module(module), name))(argv)

    return command


# ---------------------------------------------------------------------------------------- seed


def seed_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG,
        description=(
            "Copy every object of a source bucket (or prefix) to the same keys in a destination bucket. "
            "The key space is split into ranges, one message each on the list queue; listers turn ranges "
            "into batches of 100 keys on the copy queue; copiers copy them server-side."
        ),
        epilog=(
            "other commands:\n"
            f"  {PROG} dlq list [--json] [--local]   show failed keys and ranges with their reasons\n"
            f"  {PROG} dlq redrive [--reason CODE]   put failed work back on its queues (after fixing the cause)\n"
            f"  {PROG} dlq export FILE | purge        save the failures as JSON lines or CSV; delete them\n"
            f"  {PROG} verify [--prefix P] [--json]  compare --bucket and --dest: keys missing, different or extra\n"
            f"  {PROG} policy [--json]               what another account must grant the stack's roles on --bucket and --dest\n"
            f"  {PROG} status [JOB] [--json]         a job's state and counts from its record (the latest job by default)\n"
            f"  {PROG} jobs [--json]                 recent jobs, one line each\n"
            f"  {PROG} cancel JOB                    drop a running job's remaining work\n"
            f"  {PROG} replicate --dest DST --local  sync, then copy each change of the source as it happens, until Ctrl-C\n"
            f"  {PROG} replicate enable|disable|status --stack-name S  a stack's own replication (deployed with Replication=true)\n"
            f"  {PROG} demo [--objects N]            run the whole pipeline on an embedded moto server (or --endpoint-url URL)\n\n"
            "exit status: 0 every key copied (or job queued), 1 some keys failed (or the job was cancelled), 2 bad input, 130 interrupted"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bucket", required=True, metavar="SRC", help="source bucket (name or s3://name)")
    add_destination_arguments(parser)
    parser.add_argument("--prefix", type=prefix_argument, default="", help="copy only keys starting with this prefix (default: all keys)")
    parser.add_argument(
        "--ranges",
        type=range_count,
        metavar="N",
        help=f"key ranges to seed, 1 to {MAX_SEED_RANGES} (default: {DEFAULT_RANGES}, or 1 when one listing page holds the source's keys and each destination's)",
    )
    parser.add_argument(
        "--manifest",
        type=manifest_argument,
        metavar="PATH|s3://BUCKET/KEY",
        help="copy exactly the keys a manifest names instead of listing the source: an S3 Inventory report's manifest.json "
        "(CSV, ORC or Parquet) or an S3 Batch Operations CSV (bucket,key[,version_id], keys URL-encoded); one list task per part of it",
    )
    sync = parser.add_argument_group("sync")
    sync.add_argument("--dry-run", action="store_true", help="list and compare only: report what would be copied, skipped and deleted, and the cost; change nothing")
    sync.add_argument("--delete", action="store_true", help="after every copy succeeded, delete destination objects (under --prefix) that are not in the source")
    sync.add_argument("--force", action="store_true", help="copy every key, without comparing with the destination")
    sync.add_argument("--prices", type=Path, metavar="FILE", help="JSON file overriding the prices and timings of the --dry-run cost estimate")
    versions = parser.add_argument_group("versions (see the README's Versions section)")
    versions.add_argument(
        "--all-versions",
        action="store_true",
        help="copy every version and delete marker of every key, oldest first, into a versioned destination: each key's history in order; a re-run copies only what is new",
    )
    versions.add_argument(
        "--as-of",
        type=as_of_argument,
        metavar="TIME",
        help="copy each key as it was at TIME (ISO 8601, e.g. 2026-11-30T18:00:00Z; no offset means UTC), from a versioned source; keys absent then are not copied",
    )
    add_copy_options(parser.add_argument_group("copy options (how the copies are written; default: as the stack's parameters say, else a plain copy)"))
    parser.add_argument("--stack-name", metavar="NAME", help="deployed stack whose queues to use (default: samconfig.toml's stack_name, else s3-fanout)")
    parser.add_argument("--wait", action="store_true", help="deployed mode: follow the job's record until nothing of it is open, with progress, then report its counts and failures")
    parser.add_argument("--region", help="AWS region (default: the usual AWS configuration)")
    local = parser.add_argument_group("local mode")
    local.add_argument("--local", action="store_true", help="run the listers and copiers on this machine instead of in Lambda")
    local.add_argument("--source-owner", type=account_id, metavar="ACCOUNT", help="12-digit account that must own the source bucket (S3 refuses a bucket of that name in another account)")
    local.add_argument("--dest-owner", type=account_id, metavar="ACCOUNT", help="12-digit account that must own the destination bucket")
    add_access_arguments(local)
    add_worker_options(local)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--report",
        type=report_argument,
        metavar="s3://BUCKET/PREFIX",
        help="also write the completion report (summary.json, failed.csv) to s3://BUCKET/PREFIX/JOB/ (--local and --wait; local runs always write it to their folder)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress display, even on a terminal")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parser


def add_worker_options(group: Any) -> None:
    """Options of the local workers, shared by a local job and a local redrive."""
    group.add_argument("--workers", type=worker_count, default=DEFAULT_WORKERS, metavar="N", help=f"worker processes, each one 'Lambda', at most {MAX_WORKERS} (default: {DEFAULT_WORKERS})")
    group.add_argument("--copy-concurrency", type=positive_int, default=DEFAULT_CONCURRENCY, metavar="N", help=f"copies in flight per worker (default: {DEFAULT_CONCURRENCY})")
    group.add_argument("--max-attempts", type=positive_int, default=DEFAULT_MAX_ATTEMPTS, metavar="N", help=f"attempts per key before the DLQ (default: {DEFAULT_MAX_ATTEMPTS})")
    receives = f"deliveries of a message before SQS dead-letters it (default: {DEFAULT_MAX_RECEIVE_COUNT})"
    group.add_argument("--max-receive-count", type=positive_int, default=DEFAULT_MAX_RECEIVE_COUNT, metavar="N", help=receives)
    bounds = f"{MIN_FUNCTION_TIMEOUT_SECONDS} to {MAX_FUNCTION_TIMEOUT_SECONDS}"
    listing = f"seconds a local lister may run, as a Lambda timeout, {bounds} (default: {LIST_TIMEOUT_SECONDS})"
    group.add_argument("--list-timeout", type=function_timeout, default=LIST_TIMEOUT_SECONDS, metavar="S", help=listing)
    group.add_argument(
        "--copy-timeout",
        type=function_timeout,
        default=COPY_TIMEOUT_SECONDS,
        metavar="S",
        help=f"seconds a local copier may run, {bounds}; a crashed copier's batch returns after about this long (default: {COPY_TIMEOUT_SECONDS})",
    )
    group.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR, metavar="DIR", help=f"where each run writes its failed keys and logs (default: ./{DEFAULT_OUTPUT_DIR})")


def seed_main(argv: list[str]) -> int:
    args = seed_parser().parse_args(argv)
    clients.use_region(args.region)
    (dest_bucket, dest_prefix), *more = destinations_argument(args)
    spec = JobSpec(
        bucket_argument(args.bucket),
        dest_bucket,
        args.prefix,
        args.ranges or DEFAULT_RANGES,
        compare=not args.force,
        copy_options=copy_options(args),
        manifest=args.manifest,
        dest_prefix=dest_prefix,
        more_dests=tuple(DestinationSpec(bucket, prefix) for bucket, prefix in more),
        fit_ranges=args.ranges is None,
    )
    check_destinations(spec, args)
    check_names(spec)
    if args.manifest and args.delete:
        raise UsageError("--delete finds orphans by listing the whole source, which --manifest replaces: run it without --manifest")
    spec = versions_spec(spec, args)
    # The dry run lists both sides on this machine, whatever mode it plans for.
    source_access, dest_access = side_access(args, this_machine=args.dry_run)
    if args.dry_run:
        from seed.dry_run import dry_run

        return dry_run(spec, args, source_access, dest_access)
    if args.delete and args.force:
        raise UsageError("--delete needs the comparison that --force skips")
    if args.report and not (args.local or args.wait):
        raise UsageError("--report needs --wait (or --local): the report is written when the job ends (or deploy with ReportBucket)")
    if args.delete and not (args.local or args.wait):
        raise UsageError("--delete needs --wait (or --local): orphans are deleted only after every copy of the job succeeded")
    options = JobOptions(
        spec,
        delete=args.delete,
        stack_name=args.stack_name,
        source_owner=args.source_owner,
        dest_owner=args.dest_owner,
        workers=worker_options(args),
        progress=progress_wanted(args.no_progress or args.json),
        report_uri=args.report,
        source_access=source_access,
        dest_access=dest_access,
    )
    if args.local:
        with ExitStack() as stack:
            report = run_local_job(options, stack)
        print_report(report, args.json)
        return exit_status(report)
    stack_name = args.stack_name or default_stack_name()
    result = run_deployed_job(options, stack_name, wait=args.wait)
    if isinstance(result, tuple):
        job_id, ranges = result
        source, destination = f"s3://{spec.source_bucket}/{spec.prefix}", spec.dest_uri()
        others = [{"job_id": dest_job_id(job_id, index), "destination": spec.for_destination(index).dest_uri()} for index in range(1, len(spec.destinations))]
        if args.json:
            queued = {"job_id": job_id, "stack": stack_name, "ranges": ranges, "source": source, "destination": destination}
            print(json.dumps(queued | ({"more_destinations": others} if others else {})))
        else:
            print(f"job {job_id}: {describe_tasks(spec, ranges)} queued on stack '{stack_name}', copying to {destination}")
            for other in others:
                print(f"job {other['job_id']}: the same listing, copying to {other['destination']}")
            print(f"follow it with '{PROG} status JOB --stack-name {stack_name}', '{PROG} dlq list --stack-name {stack_name}' and the stack's CloudWatch metrics (namespace S3Fanout)")
        return ExitStatus.SUCCESS
    print_report(result, args.json)
    for letter in (letter for report in result.all_destinations for letter in report.failures[:20]):
        print(f"  {letter.code}: {letter.subject}: {letter.message}", file=sys.stderr)
    return exit_status(result)


def check_destinations(spec: JobSpec, args: argparse.Namespace) -> None:
    """Several destinations and --dest-prefix apply to listed current objects."""
    if len(spec.destinations) > MAX_DESTINATIONS:
        raise UsageError(f"{len(spec.destinations)} destinations: one job serves at most {MAX_DESTINATIONS}; run several jobs")
    several = len(spec.destinations) > 1
    rewritten = any(dest.prefix is not None for dest in spec.destinations)
    if several or rewritten:
        what = "several destinations" if several else "--dest-prefix"
        for flag, given in (("--manifest", args.manifest), ("--all-versions", args.all_versions), ("--as-of", args.as_of)):
            if given:
                raise UsageError(f"{what} and {flag} do not go together yet: run one job per destination")


def versions_spec(spec: JobSpec, args: argparse.Namespace) -> JobSpec:
    """The spec with --all-versions or --as-of, once they make sense together with the rest."""
    if not (args.all_versions or args.as_of):
        return spec
    flag = "--all-versions" if args.all_versions else "--as-of"
    if args.all_versions and args.as_of:
        raise UsageError("--all-versions copies every version, --as-of the versions of one time: choose one")
    if getattr(args, "manifest", None):
        raise UsageError(f"{flag} lists the source's versions, which --manifest replaces: choose one")
    if args.delete:
        raise UsageError(f"--delete is not supported with {flag} yet: the orphan pass compares current objects")
    return replace(spec, all_versions=args.all_versions, as_of=args.as_of)


def exit_status(report: JobReport) -> int:
    """1 when a key or range failed, or the job was cancelled before it copied everything."""
    unfinished = any(one.failed_keys or one.failed_ranges or one.state == "cancelled" for one in report.all_destinations)
    return ExitStatus.FAILURES if unfinished else ExitStatus.SUCCESS


# ----------------------------------------------------------------------------------------- dlq


def dlq_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=f"{PROG} dlq", description="Inspect, export, redrive or purge the dead-letter queues of a deployed stack or of local mode.")
    where = OneLineParser(add_help=False)
    where.add_argument("--stack-name", metavar="NAME", help="deployed stack (default: samconfig.toml's stack_name, else s3-fanout)")
    where.add_argument("--local", action="store_true", help="local mode's queues on the configured SQS endpoint (AWS_ENDPOINT_URL_SQS)")
    where.add_argument("--job", metavar="JOB_ID", help="only this job's failures")
    where.add_argument("--region", help="AWS region (default: the usual AWS configuration)")
    where.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)

    listing = commands.add_parser("list", parents=[where], help="show every failed key and key range with its reason, without consuming them")
    listing.add_argument("--json", action="store_true", help="one JSON object per failure, one per line")

    redrive_cmd = commands.add_parser(
        "redrive",
        parents=[where],
        help="put failed work back on the queues it came from, e.g. after fixing a bucket policy",
        description="Put failed keys and key ranges back on the queues they came from (all of them, or one reason's). "
        "With --local, local workers then drain the queues, as Lambda would in a deployed stack.",
    )
    redrive_cmd.add_argument("--reason", metavar="CODE", help="only failures with this code, e.g. AccessDenied (see 'dlq list')")
    redrive_cmd.add_argument("--json", action="store_true", help="print the result as JSON")
    redrive_cmd.add_argument("--no-progress", action="store_true", help="no progress display, even on a terminal")
    add_worker_options(redrive_cmd.add_argument_group("local workers (with --local)"))

    export = commands.add_parser("export", parents=[where], help="write every failure to a file (JSON lines, or CSV for a .csv name)")
    export.add_argument("file", metavar="FILE", help="where to write; '-' for standard output")
    export.add_argument("--format", choices=["jsonl", "csv"], help="file format (default: from the file name, else jsonl)")

    purge = commands.add_parser("purge", parents=[where], help="delete the failures for good (asks first)")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return parser


def dlq_main(argv: list[str]) -> int:
    args = dlq_parser().parse_args(argv)
    clients.use_region(args.region)
    if args.command == "export":
        check_export_file(args.file)
    places = dlq_places(args)
    command: Callable[[argparse.Namespace, list[Any]], int] = {"list": dlq_list, "redrive": dlq_redrive, "export": dlq_export, "purge": dlq_purge}[args.command]
    return command(args, places)


def demo_main(argv: list[str]) -> int:
    from seed.demo import run_demo

    return run_demo(argv)
