"""python -m seed: start a copy job, run it locally, inspect its dead-letter queues, run the demo."""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from s3fanout import clients
from s3fanout.copier import DEFAULT_CONCURRENCY, DEFAULT_MAX_ATTEMPTS
from s3fanout.dlq import DeadLetter, RedriveResult, dead_letters, peek, purge_job, redrive
from s3fanout.estimate import Prices, bucket_region, encryption_needs, estimate_cost, plan_job
from s3fanout.guard import Scope
from s3fanout.job import (
    DEFAULT_RANGES,
    JobError,
    JobSpec,
    check_access,
    check_buckets,
    check_names,
    local_scope,
    new_job_id,
    record_local_scope,
    seed,
    write_failures,
)
from s3fanout.keyspace import COMMON_FIRST_CHARACTERS
from s3fanout.local import COPY_TIMEOUT_SECONDS, LIST_TIMEOUT_SECONDS, JobCounters, LocalRun, visibility_for
from s3fanout.motoserver import EmbeddedMoto
from s3fanout.queues import SendFailed
from s3fanout.signing import MessageKey, local_key, secret_key
from s3fanout.stack import (
    QueueSet,
    StackError,
    default_stack_name,
    delete_local_queues,
    ensure_local_queues,
    find_local_queues,
    pending_messages,
    queue_depths,
    queues_from_stack,
)
from seed.progress import ProgressView, human_bytes

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

PROG = "python -m seed"
DEFAULT_WORKERS = 4
# Each worker is a process with its own clients and thread pool: more than this only thrashes.
MAX_WORKERS = 64
# A local function timeout is also its queue's visibility timeout (plus as much again, up to 30 s):
# with 1 s, messages reappeared while still being worked on and every object was copied two or
# three times. 30 s is the handlers' own stop margin; Lambda allows at most 900 s.
MIN_FUNCTION_TIMEOUT_SECONDS = 30
MAX_FUNCTION_TIMEOUT_SECONDS = 900
MAX_PREFIX_BYTES = 1024
DEFAULT_MAX_RECEIVE_COUNT = 5
DEFAULT_OUTPUT_DIR = "s3fanout-runs"
WAIT_POLL_SECONDS = 5
MAX_SEED_RANGES = len(COMMON_FIRST_CHARACTERS)


class ExitStatus(IntEnum):
    SUCCESS = 0
    FAILURES = 1
    ERROR = 2
    INTERRUPTED = 130


class UsageError(ValueError):
    """A problem with the command line or environment, reported in one line."""


class JobInterrupted(Exception):
    """Ctrl-C during a local run; the message says what was done and what was still queued."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (with a pointer to --help), not the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitStatus.ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


@dataclass
class JobReport:
    job_id: str
    source: str
    destination: str
    mode: str
    seconds: float
    # None where this command cannot know them: a deployed job counts in CloudWatch metrics.
    keys_listed: int | None
    bytes_listed: int | None
    objects_copied: int | None
    bytes_copied: int | None
    keys_skipped: int | None
    bytes_skipped: int | None
    orphans_found: int | None
    objects_deleted: int | None
    keys_retried: int | None
    failed_keys: int
    failed_ranges: int
    failures_file: str | None
    log_file: str | None
    # Messages on the job's own queues that it did not send (unsigned, forged, outside its
    # buckets), refused untouched and kept in its DLQs; not failures of the job.
    refused_messages: int = 0

    @property
    def objects_per_second(self) -> float | None:
        if self.objects_copied is None:
            return None
        return self.objects_copied / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        rate = self.objects_per_second
        return asdict(self) | {"objects_per_second": None if rate is None else round(rate, 1)}

    def text(self) -> str:
        lines = [f"job {self.job_id}: {self.source} -> {self.destination} ({self.mode}) finished in {self.seconds:.1f} s"]
        if self.keys_listed is None or self.objects_copied is None or self.bytes_listed is None or self.bytes_copied is None:
            lines.append("  counts  in the stack's CloudWatch metrics (namespace S3Fanout); this command watched the queues")
        else:
            lines += [
                f"  listed  {self.keys_listed:,} keys ({human_bytes(self.bytes_listed)})",
                f"  copied  {self.objects_copied:,} objects ({human_bytes(self.bytes_copied)}), {self.objects_per_second:,.1f} objects/s",
                f"  skipped {self.keys_skipped or 0:,} objects already identical ({human_bytes(self.bytes_skipped or 0)})",
            ]
            if self.objects_deleted:
                lines.append(f"  deleted {self.objects_deleted:,} orphans (destination objects not in the source)")
            elif self.orphans_found:
                lines.append(f"  orphans {self.orphans_found:,} destination objects not in the source, kept (--delete removes them)")
        if self.keys_retried:
            lines.append(f"  retried {self.keys_retried:,} key copies after transient errors")
        failed = f"  failed  {self.failed_keys:,} keys"
        if self.failed_ranges:
            failed += f" and {self.failed_ranges:,} key ranges that could not be listed"
        if self.failures_file and (self.failed_keys or self.failed_ranges):
            failed += f" (written to {self.failures_file})"
        lines.append(failed)
        if self.refused_messages:
            lines.append(f"  refused {self.refused_messages:,} messages this job did not send, touching nothing (see 'dlq list --local')")
        if self.log_file:
            lines.append(f"  logs    {self.log_file}")
        return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands: dict[str, Callable[[list[str]], int]] = {"dlq": dlq_main, "demo": demo_main}
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


def fail(message: str, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return ExitStatus.ERROR


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
            f"  {PROG} demo [--objects N]            run the whole pipeline on an embedded moto server\n\n"
            "exit status: 0 every key copied (or job queued), 1 some keys failed, 2 bad input, 130 interrupted"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bucket", required=True, metavar="SRC", help="source bucket (name or s3://name)")
    parser.add_argument("--dest", required=True, metavar="DST", help="destination bucket (name or s3://name)")
    parser.add_argument("--prefix", type=prefix_argument, default="", help="copy only keys starting with this prefix (default: all keys)")
    parser.add_argument("--ranges", type=range_count, default=DEFAULT_RANGES, metavar="N", help=f"key ranges to seed, 1 to {MAX_SEED_RANGES} (default: {DEFAULT_RANGES})")
    sync = parser.add_argument_group("sync")
    sync.add_argument("--dry-run", action="store_true", help="list and compare only: report what would be copied, skipped and deleted, and the cost; change nothing")
    sync.add_argument("--delete", action="store_true", help="after every copy succeeded, delete destination objects (under --prefix) that are not in the source")
    sync.add_argument("--force", action="store_true", help="copy every key, without comparing with the destination")
    sync.add_argument("--prices", type=Path, metavar="FILE", help="JSON file overriding the prices and timings of the --dry-run cost estimate")
    parser.add_argument("--stack-name", metavar="NAME", help="deployed stack whose queues to use (default: samconfig.toml's stack_name, else s3-fanout)")
    parser.add_argument("--wait", action="store_true", help="deployed mode: follow the stack's queues until they are drained (other jobs on them included), then report this job's failures")
    parser.add_argument("--region", help="AWS region (default: the usual AWS configuration)")
    local = parser.add_argument_group("local mode")
    local.add_argument("--local", action="store_true", help="run the listers and copiers on this machine instead of in Lambda")
    local.add_argument("--source-owner", type=account_id, metavar="ACCOUNT", help="12-digit account that must own the source bucket (S3 refuses a bucket of that name in another account)")
    local.add_argument("--dest-owner", type=account_id, metavar="ACCOUNT", help="12-digit account that must own the destination bucket")
    add_worker_options(local)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
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


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def bounded_int(text: str, low: int, high: int) -> int:
    value = positive_int(text)
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be {low} to {high}, got {value}")
    return value


def worker_count(text: str) -> int:
    return bounded_int(text, 1, MAX_WORKERS)


def function_timeout(text: str) -> int:
    return bounded_int(text, MIN_FUNCTION_TIMEOUT_SECONDS, MAX_FUNCTION_TIMEOUT_SECONDS)


def account_id(text: str) -> str:
    if not (len(text) == 12 and text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"'{text}' is not a 12-digit AWS account id")
    return text


def prefix_argument(text: str) -> str:
    """A key prefix: valid UTF-8 (argv bytes that are not arrive as surrogates), at most S3's
    1,024-byte key length, and not an s3:// URL (the bucket goes in --bucket)."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("is not valid UTF-8 (S3 keys are UTF-8)") from None
    if size > MAX_PREFIX_BYTES:
        raise argparse.ArgumentTypeError(f"is {size} bytes long; S3 keys are at most {MAX_PREFIX_BYTES} bytes")
    if text.lower().startswith("s3://"):
        raise argparse.ArgumentTypeError(f"'{text}' is a URL: give the bucket with --bucket and the key prefix alone")
    return text


def range_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_SEED_RANGES:
        raise argparse.ArgumentTypeError(f"at most {MAX_SEED_RANGES} ranges can be seeded, got {value}")
    return value


def bucket_argument(text: str) -> str:
    name = text.removeprefix("s3://").rstrip("/")
    if "/" in name:
        raise UsageError(f"'{text}' names a path; give the bucket alone and the path with --prefix")
    return name


def use_region(region: str | None) -> None:
    """--region: every client made from now on uses it."""
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region
        clients.reset()


def seed_main(argv: list[str]) -> int:
    args = seed_parser().parse_args(argv)
    use_region(args.region)
    spec = JobSpec(bucket_argument(args.bucket), bucket_argument(args.dest), args.prefix, args.ranges, compare=not args.force)
    if args.dry_run:
        return dry_run(spec, args)
    if args.delete and args.force:
        raise UsageError("--delete needs the comparison that --force skips")
    if args.delete and not (args.local or args.wait):
        raise UsageError("--delete needs --wait (or --local): orphans are deleted only after every copy of the job succeeded")
    if args.local:
        check_output_dir(args.output_dir)
        with ExitStack() as stack:
            report = run_local_job(spec, args, stack)
        print_report(report, args.json)
        return ExitStatus.FAILURES if report.failed_keys or report.failed_ranges else ExitStatus.SUCCESS
    return run_deployed_job(spec, args)


def check_output_dir(path: str) -> None:
    """Refuse an --output-dir that cannot be created or written before any work starts."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot use --output-dir '{path}': {error.strerror or error}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"cannot use --output-dir '{path}': not writable")


def use_local_endpoint(stack: ExitStack) -> None:
    """Local mode's SQS: the configured endpoint, else an embedded moto server for this run."""
    if not (os.environ.get("AWS_ENDPOINT_URL_SQS") or os.environ.get("AWS_ENDPOINT_URL")):
        moto = stack.enter_context(EmbeddedMoto())
        os.environ["AWS_ENDPOINT_URL_SQS"] = moto.url
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        clients.reset()


def make_local_queues(args: argparse.Namespace, job_id: str) -> QueueSet:
    """A job's own queues on the local SQS endpoint, with the same redrive wiring as the template."""
    return ensure_local_queues(
        clients.sqs(),
        job_id,
        max_receive_count=args.max_receive_count,
        list_visibility_seconds=visibility_for(args.list_timeout),
        copy_visibility_seconds=visibility_for(args.copy_timeout),
    )


def stack_key(queues: QueueSet, stack_name: str) -> MessageKey:
    """The deployed stack's message key, read with the operator's own credentials."""
    if not queues.key_secret_arn:
        raise StackError(f"stack '{stack_name}' has no MessageKeySecretArn output: redeploy it with this version of the template")
    try:
        return secret_key(clients.secretsmanager(), queues.key_secret_arn)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        raise StackError(f"cannot read stack '{stack_name}''s message key {queues.key_secret_arn} ({code}): seeding needs secretsmanager:GetSecretValue on it") from None


def stack_scope(queues: QueueSet, stack_name: str) -> Scope:
    """What a deployed stack's functions serve, as its outputs say: local workers playing its
    Lambdas get exactly that."""
    if queues.source_bucket is None or queues.dest_bucket is None:
        raise StackError(f"stack '{stack_name}' lacks the SourceBucket and DestinationBucket outputs: is it an s3-fanout stack?")
    return Scope(
        source_bucket=queues.source_bucket,
        dest_bucket=queues.dest_bucket,
        prefix=queues.allowed_prefix or "",
        allow_delete=bool(queues.delete_allowed),
        source_owner=queues.source_owner,
        dest_owner=queues.dest_owner,
    )


def check_stack_allows(spec: JobSpec, scope: Scope, stack_name: str, delete: bool) -> None:
    for role, allowed, bucket in (("source", scope.source_bucket, spec.source_bucket), ("destination", scope.dest_bucket, spec.dest_bucket)):
        if allowed not in ("*", bucket):
            raise JobError(f"stack '{stack_name}' may only use the {role} bucket '{allowed}', not '{bucket}' (redeploy with other parameters)")
    if not spec.prefix.startswith(scope.prefix):
        raise JobError(f"stack '{stack_name}' may only copy keys under '{scope.prefix}', and --prefix '{spec.prefix}' is not")
    if delete and not scope.allow_delete:
        raise JobError(f"stack '{stack_name}' was deployed without AllowDelete=true, so it cannot delete orphans")


def preflight(spec: JobSpec, scope: Scope) -> None:
    """Check the buckets and probe the permissions, failing in seconds on an endpoint that is down."""
    probe = clients.probe_s3()
    clients.expect_bucket_owners(probe, scope.owners(spec.source_bucket, spec.dest_bucket))
    check_buckets(probe, spec)
    check_access(probe, spec)


def run_local_job(spec: JobSpec, args: argparse.Namespace, stack: ExitStack) -> JobReport:
    """Seed the job and drain it with local workers: on a deployed stack's queues (--stack-name,
    under the stack's scope and key), else on queues of its own with a scope of exactly its
    buckets, a copy pass that may not delete and, after a clean copy pass, a delete pass."""
    job_id = new_job_id()
    if args.stack_name:
        queues = queues_from_stack(clients.cloudformation(), args.stack_name)
        scope = stack_scope(queues, args.stack_name)
        check_stack_allows(spec, scope, args.stack_name, args.delete)
        key = stack_key(queues, args.stack_name)
    else:
        use_local_endpoint(stack)
        scope = Scope(spec.source_bucket, spec.dest_bucket, spec.prefix, allow_delete=args.delete, source_owner=args.source_owner, dest_owner=args.dest_owner)
        key = local_key()
    preflight(spec, scope)
    sqs = clients.sqs()
    if not args.stack_name:
        note_other_local_jobs(sqs)
        queues = make_local_queues(args, job_id)
        record_local_scope(job_id, scope)
    run_dir = Path(args.output_dir) / job_id
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "workers.log"
    started = time.monotonic()
    ranges = seed(sqs, queues, key, job_id, spec)
    source = f"s3://{spec.source_bucket}/{spec.prefix}"
    destination = f"s3://{spec.dest_bucket}/{spec.prefix}"
    print(f"job {job_id}: {ranges} key ranges of {source} queued; copying to {destination} with {args.workers} local workers", file=sys.stderr)
    copy_scope = scope if args.stack_name else replace(scope, allow_delete=False)
    run = drain_locally(queues, args, job_id, log_path, key, copy_scope, started)
    letters = job_dead_letters(sqs, queues, job_id, key)
    if args.delete and may_delete_orphans(job_id, letters):
        seed(sqs, queues, key, job_id, spec, mode="delete")
        counters = run.counters
        run = drain_locally(queues, args, job_id, log_path, key, scope, started)
        run.counters = merge_counters(counters, run.counters)
        letters = job_dead_letters(sqs, queues, job_id, key)
    refused = []
    if not args.stack_name:
        refused = [letter for letter in job_dead_letters(sqs, queues, None, key) if letter.job_id != job_id]
        if refused:
            print(f"{PROG}: warning: {len(refused)} messages on this job's queues were not sent by it and were refused, touching nothing; first: {refused[0].message}", file=sys.stderr)
        delete_local_queues(sqs, queues, keep_dead_letters=bool(letters or refused))
    failures_file = run_dir / "failed-keys.jsonl"
    write_failures(failures_file, letters)
    report = build_report(job_id, source, destination, "local", time.monotonic() - started, run.counters, letters, str(failures_file), str(log_path))
    return replace(report, refused_messages=len(refused))


def note_other_local_jobs(sqs: SQSClient) -> None:
    """Say what other jobs have on their local queues: they are left alone, never run as this job's."""
    for queues in find_local_queues(sqs):
        pending = pending_messages(sqs, queues)
        if pending:
            print(
                f"{PROG}: note: job {queues.job_id} has {pending:,} unfinished messages on its own local queues "
                "(running elsewhere, or interrupted); this job leaves them alone",
                file=sys.stderr,
            )


def may_delete_orphans(job_id: str, letters: list[DeadLetter]) -> bool:
    """rclone's rule: the orphan pass runs only after a copy pass without a single failure."""
    if letters:
        print(f"{PROG}: deleting no orphans: {len(letters)} failures in this job (no deletes after errors)", file=sys.stderr)
        return False
    print(f"job {job_id}: every copy succeeded; deleting orphans", file=sys.stderr)
    return True


def merge_counters(first: JobCounters, second: JobCounters) -> JobCounters:
    """The copy pass's counters plus the delete pass's deletions (its listing is not new work)."""
    first.objects_deleted += second.objects_deleted
    first.keys_retried += second.keys_retried
    return first


def drain_locally(queues: QueueSet, args: argparse.Namespace, job_id: str | None, log_path: Path, key: MessageKey, scope: Scope, started: float) -> LocalRun:
    """Run local workers over the queues until they are drained; count ``job_id``'s progress.

    The workers hold the message key and serve exactly ``scope``. Ctrl-C stops them and raises
    JobInterrupted with what was done and what is still queued."""
    sqs = clients.sqs()
    run = LocalRun(
        queues=queues,
        sqs=sqs,
        workers=args.workers,
        environment={
            "LIST_QUEUE_URL": queues.list_url,
            "LIST_DLQ_URL": queues.list_dlq_url,
            "COPY_QUEUE_URL": queues.copy_url,
            "COPY_DLQ_URL": queues.copy_dlq_url,
            "COPY_CONCURRENCY": str(args.copy_concurrency),
            "COPY_MAX_ATTEMPTS": str(args.max_attempts),
            "MESSAGE_KEY": key.secret.decode("utf-8"),
            "POWERTOOLS_SERVICE_NAME": "s3fanout-local",
            "POWERTOOLS_METRICS_NAMESPACE": "S3Fanout",
            # Metrics are CloudWatch's business; locally the summary reports the same counts.
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        | scope.to_env(),
        log_path=log_path,
        region=sqs.meta.region_name,
        job_id=job_id,
        list_timeout=args.list_timeout,
        copy_timeout=args.copy_timeout,
    )
    try:
        with ProgressView(enabled=show_progress(args)) as view:
            run.run(on_progress=view.update)
    except KeyboardInterrupt:
        raise JobInterrupted(interruption_summary(sqs, queues, run.counters, time.monotonic() - started, log_path)) from None
    if run.workers_replaced:
        print(f"{PROG}: {run.workers_replaced} worker process(es) died and were replaced; their work was delivered again (see {log_path})", file=sys.stderr)
    return run


def interruption_summary(sqs: SQSClient, queues: QueueSet, counters: JobCounters, seconds: float, log_path: Path) -> str:
    """What a run did before Ctrl-C stopped it, and what it left queued."""
    depths = {name: sum(queue_depths(sqs, url)) for name, url in queues.main_queues().items()}
    failed = {name: queue_depths(sqs, url)[0] for name, url in queues.dead_letter_queues().items()}
    lines = [
        f"  after {seconds:.1f} s: listed {counters.keys_listed:,} keys, copied {counters.objects_copied:,} objects ({human_bytes(counters.bytes_copied)}), "
        f"skipped {counters.keys_skipped:,}, deleted {counters.objects_deleted:,}, failed {counters.keys_failed:,}",
        f"  still queued: {depths['list']:,} list tasks and {depths['copy']:,} copy messages; in the DLQs: {failed['list']:,} ranges, {failed['copy']:,} copy messages",
    ]
    if queues.job_id is not None:
        # A job's own queues: nothing will run what is left, so they go; its failures stay.
        delete_local_queues(sqs, queues, keep_dead_letters=any(failed.values()))
        lines.append("  the queued work was dropped: run the same command again to finish (objects already copied are skipped)")
    lines.append(f"  logs: {log_path}")
    return "\n".join(lines)


def build_report(
    job_id: str,
    source: str,
    destination: str,
    mode: str,
    seconds: float,
    counters: JobCounters | None,
    letters: list[DeadLetter],
    failures_file: str | None,
    log_file: str | None,
) -> JobReport:
    return JobReport(
        job_id=job_id,
        source=source,
        destination=destination,
        mode=mode,
        seconds=round(seconds, 2),
        keys_listed=counters.keys_listed if counters else None,
        bytes_listed=counters.bytes_listed if counters else None,
        objects_copied=counters.objects_copied if counters else None,
        bytes_copied=counters.bytes_copied if counters else None,
        keys_skipped=counters.keys_skipped if counters else None,
        bytes_skipped=counters.bytes_skipped if counters else None,
        orphans_found=counters.orphans_found if counters else None,
        objects_deleted=counters.objects_deleted if counters else None,
        keys_retried=counters.keys_retried if counters else None,
        failed_keys=sum(1 for letter in letters if letter.key is not None),
        failed_ranges=sum(1 for letter in letters if letter.key is None),
        failures_file=failures_file,
        log_file=log_file,
    )


def run_deployed_job(spec: JobSpec, args: argparse.Namespace) -> int:
    check_names(spec)
    stack_name = args.stack_name or default_stack_name()
    queues = queues_from_stack(clients.cloudformation(), stack_name)
    scope = stack_scope(queues, stack_name)
    check_stack_allows(spec, scope, stack_name, args.delete)
    key = stack_key(queues, stack_name)
    preflight(spec, scope)
    sqs = clients.sqs()
    job_id = new_job_id()
    started = time.monotonic()
    ranges = seed(sqs, queues, key, job_id, spec)
    source = f"s3://{spec.source_bucket}/{spec.prefix}"
    destination = f"s3://{spec.dest_bucket}/{spec.prefix}"
    if not args.wait:
        if args.json:
            print(json.dumps({"job_id": job_id, "stack": stack_name, "ranges": ranges, "source": source, "destination": destination}))
        else:
            print(f"job {job_id}: {ranges} key ranges of {source} queued on stack '{stack_name}', copying to {destination}")
            print(f"follow it with '{PROG} dlq list --stack-name {stack_name}' and the stack's CloudWatch metrics (namespace S3Fanout)")
        return ExitStatus.SUCCESS
    print(f"job {job_id}: {ranges} key ranges of {source} queued on stack '{stack_name}'; waiting for the queues to drain", file=sys.stderr)
    with ProgressView(enabled=show_progress(args)) as view:
        wait_for_drain(sqs, queues, lambda depths: view.update(None, depths))
    letters = job_dead_letters(sqs, queues, job_id, key)
    if args.delete and may_delete_orphans(job_id, letters):
        seed(sqs, queues, key, job_id, spec, mode="delete")
        with ProgressView(enabled=show_progress(args)) as view:
            wait_for_drain(sqs, queues, lambda depths: view.update(None, depths))
        letters = job_dead_letters(sqs, queues, job_id, key)
    report = build_report(job_id, source, destination, f"stack {stack_name}", time.monotonic() - started, None, letters, None, None)
    print_report(report, args.json)
    for letter in letters[:20]:
        print(f"  {letter.code}: {letter.subject}: {letter.message}", file=sys.stderr)
    return ExitStatus.FAILURES if letters else ExitStatus.SUCCESS


def dry_run(spec: JobSpec, args: argparse.Namespace) -> int:
    """List and compare like the listers would, change nothing, report the plan and its cost."""
    try:
        prices = Prices.from_file(args.prices) if args.prices else Prices()
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(f"cannot use the prices in {args.prices}: {error}") from None
    check_buckets(clients.probe_s3(), spec)
    s3 = clients.s3()
    started = time.monotonic()
    plan = plan_job(s3, spec.source_bucket, spec.dest_bucket, spec.prefix, spec.ranges, compare=spec.compare)
    regions = {bucket_region(s3, spec.source_bucket), bucket_region(s3, spec.dest_bucket)}
    cost = estimate_cost(plan, prices, delete=args.delete, cross_region=len(regions) > 1)
    encryption = encryption_needs(s3, spec.source_bucket, spec.dest_bucket, plan.copy_sample)
    if args.json:
        seconds = round(time.monotonic() - started, 2)
        body = {"dry_run": True, "plan": asdict(plan), "delete": args.delete, "seconds": seconds, "cost": cost.to_dict(), "encryption": asdict(encryption)}
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return ExitStatus.SUCCESS
    source, destination = f"s3://{spec.source_bucket}/{spec.prefix}", f"s3://{spec.dest_bucket}/{spec.prefix}"
    lines = [
        f"dry run: {source} -> {destination}, {plan.ranges} key ranges, nothing was changed",
        f"  would copy   {plan.to_copy:,} objects ({human_bytes(plan.bytes_to_copy)})" + sample(plan.copy_sample, plan.to_copy),
        f"  would skip   {plan.to_skip:,} objects already identical ({human_bytes(plan.bytes_to_skip)})",
        (f"  would delete {plan.orphans:,} orphans ({human_bytes(plan.bytes_orphaned)})" if args.delete else f"  would keep   {plan.orphans:,} orphans (not in the source; --delete removes them)")
        + sample(plan.orphan_sample, plan.orphans),
        f"estimated cost of running it on the deployed stack ({prices.region} prices{', from ' + str(args.prices) if args.prices else '; --prices FILE to change them'}):",
    ]
    lines += [f"  {line.item:<32} {line.quantity:>12,} {line.unit:<12} ${line.usd:,.4f}" for line in cost.lines]
    lines.append(f"  {'total':<32} {'':>12} {'':<12} ${cost.total:,.4f}")
    if len(regions) == 1:
        lines.append("  (both buckets are in one region: no data transfer charge; idle SQS polling by the event sources is not included)")
    lines += [f"encryption: {line}" for line in encryption.advice()]
    print("\n".join(lines))
    return ExitStatus.SUCCESS


def sample(keys: list[str], total: int) -> str:
    if not keys:
        return ""
    shown = ", ".join(repr(key if len(key) <= 60 else key[:57] + "...") for key in keys[:3])
    return f", e.g. {shown}" + (" ..." if total > 3 else "")


def wait_for_drain(sqs: SQSClient, queues: QueueSet, on_progress: Callable[[dict[str, tuple[int, int, int]]], None]) -> None:
    idle = 0
    while idle < 3:
        depths = {name: queue_depths(sqs, url) for name, url in queues.main_queues().items()}
        on_progress(depths)
        idle = idle + 1 if all(sum(d) == 0 for d in depths.values()) else 0
        if idle < 3:
            time.sleep(WAIT_POLL_SECONDS)


def job_dead_letters(sqs: SQSClient, queues: QueueSet, job_id: str | None, key: MessageKey | None = None) -> list[DeadLetter]:
    """The failures of one job (every job for None) in both DLQs, left on the queues. Messages a
    handler refused unread (or ``key`` did not seal) belong to no job."""
    letters = []
    for name, url in queues.dead_letter_queues().items():
        letters += [letter for letter in dead_letters(name, peek(sqs, url), key) if job_id in (None, letter.job_id)]
        hidden = queue_depths(sqs, url)[1]
        if hidden:
            # Another reader (a second 'dlq list', a redrive) holds them for up to a minute.
            print(f"{PROG}: warning: {hidden} message(s) of the {name} DLQ are being read elsewhere and are not shown; run again in a minute", file=sys.stderr)
    return letters


def show_progress(args: argparse.Namespace) -> bool:
    return not args.no_progress and not args.json and sys.stderr.isatty()


def print_report(report: JobReport, as_json: bool) -> None:
    print(json.dumps(report.to_dict(), indent=2) if as_json else report.text())


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
    use_region(args.region)
    if args.command == "export":
        check_export_file(args.file)
    places = dlq_places(args)
    command: Callable[[argparse.Namespace, list[DeadLetterPlace]], int] = {"list": dlq_list, "redrive": dlq_redrive, "export": dlq_export, "purge": dlq_purge}[args.command]
    return command(args, places)


@dataclass(frozen=True)
class DeadLetterPlace:
    """One set of queues whose DLQs a dlq command works on: a deployed stack's, or one local job's."""

    queues: QueueSet
    # Opens and seals what a redrive sends back; None where only reading (a stack's key is read
    # from Secrets Manager only when a redrive needs it).
    key: Callable[[], MessageKey]
    # What local workers draining a redrive may touch; None for a deployed stack (its Lambdas).
    scope: Callable[[], Scope] | None


def dlq_places(args: argparse.Namespace) -> list[DeadLetterPlace]:
    if args.local:
        if not (os.environ.get("AWS_ENDPOINT_URL_SQS") or os.environ.get("AWS_ENDPOINT_URL")):
            raise UsageError(
                f"dlq {args.command} --local works on local mode's queues on the SQS endpoint in AWS_ENDPOINT_URL_SQS; "
                "a run on the embedded server keeps no queues afterwards: read the failed-keys file it printed"
            )
        # A local job's queues outlive it only while its DLQs hold something: none means empty.
        found = [queues for queues in find_local_queues(clients.sqs()) if args.job in (None, queues.job_id)]
        return [DeadLetterPlace(queues, local_key, functools.partial(recorded_scope, queues.job_id)) for queues in found]
    stack_name = args.stack_name or default_stack_name()
    queues = queues_from_stack(clients.cloudformation(), stack_name)
    return [DeadLetterPlace(queues, functools.partial(stack_key, queues, stack_name), None)]


def recorded_scope(job_id: str | None) -> Scope:
    scope = local_scope(job_id) if job_id else None
    if scope is None:
        raise StackError(f"this machine has no record of local job {job_id}'s buckets (it was run elsewhere, or S3FANOUT_HOME changed): its failures cannot be redriven here")
    return scope


def letters_of(sqs: SQSClient, places: list[DeadLetterPlace], job_id: str | None) -> list[DeadLetter]:
    return [letter for place in places for letter in job_dead_letters(sqs, place.queues, job_id)]


def dlq_list(args: argparse.Namespace, places: list[DeadLetterPlace]) -> int:
    letters = letters_of(clients.sqs(), places, args.job)
    if args.json:
        for letter in letters:
            print(json.dumps(letter.to_dict(), ensure_ascii=False))
    else:
        print(describe_letters(letters))
    return ExitStatus.SUCCESS


def dlq_redrive(args: argparse.Namespace, places: list[DeadLetterPlace]) -> int:
    sqs = clients.sqs()
    if args.reason:
        present = Counter(letter.code for letter in letters_of(sqs, places, args.job))
        if present and args.reason not in present:
            held = ", ".join(f"{code} {count:,}" for code, count in present.most_common())
            raise UsageError(f"no failure has the reason '{args.reason}' (the dead-letter queues hold: {held})")
    total = RedriveResult()
    drained: list[tuple[DeadLetterPlace, Scope]] = []
    for place in places:
        scope = place.scope() if args.local and place.scope else None
        if args.local and place.queues.job_id:
            # A finished job's main queues were deleted; redriven messages meet them anew, with
            # the current options (timeouts, maxReceiveCount).
            make_local_queues(args, place.queues.job_id)
        result = redrive(sqs, place.queues, place.key(), reason=args.reason, job_id=args.job)
        total = RedriveResult(total.keys + result.keys, total.ranges + result.ranges, total.left + result.left)
        if scope is not None and (result.keys or result.ranges):
            drained.append((place, scope))
    what = f"{total.keys:,} keys and {total.ranges:,} key ranges back on their queues; {total.left:,} failures left in the DLQs"
    if not args.local or not drained:
        print(json.dumps(asdict(total)) if args.json else f"redrive: {what}")
        return ExitStatus.SUCCESS
    check_output_dir(args.output_dir)
    print(f"redrive: {what}; draining with {args.workers} local workers", file=sys.stderr)
    redrive_id = f"redrive-{new_job_id()}"
    run_dir = Path(args.output_dir) / redrive_id
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    counters = JobCounters()
    remaining: list[DeadLetter] = []
    for place, scope in drained:
        run = drain_locally(place.queues, args, None, run_dir / "workers.log", place.key(), scope, started)
        counters = merge_all(counters, run.counters)
        left = [letter for letter in job_dead_letters(sqs, place.queues, args.job, place.key()) if args.reason in (None, letter.code)]
        delete_local_queues(sqs, place.queues, keep_dead_letters=bool(job_dead_letters(sqs, place.queues, None)))
        remaining += left
    failures_file = run_dir / "failed-keys.jsonl"
    write_failures(failures_file, remaining)
    report = build_report(
        redrive_id, "dead-letter queues", "main queues", "local", time.monotonic() - started, counters, remaining, str(failures_file), str(run_dir / "workers.log")
    )
    print_report(report, args.json)
    return ExitStatus.FAILURES if remaining else ExitStatus.SUCCESS


def merge_all(first: JobCounters, second: JobCounters) -> JobCounters:
    return JobCounters(**{name: getattr(first, name) + getattr(second, name) for name in asdict(first)})


EXPORT_FIELDS = ["queue", "job_id", "source_bucket", "dest_bucket", "key", "key_range", "code", "message", "attempts", "first_failed", "last_failed"]


def check_export_file(file: str) -> None:
    """Refuse an export target that cannot be written before any queue is read."""
    if file == "-":
        return
    path = Path(file)
    if path.is_dir():
        raise UsageError(f"cannot export to '{file}': it is a directory; name a file in it")
    if not path.parent.is_dir():
        raise UsageError(f"cannot export to '{file}': the directory '{path.parent}' does not exist")
    if not os.access(path.parent, os.W_OK):
        raise UsageError(f"cannot export to '{file}': the directory '{path.parent}' is not writable")


def dlq_export(args: argparse.Namespace, places: list[DeadLetterPlace]) -> int:
    letters = letters_of(clients.sqs(), places, args.job)
    form = args.format or ("csv" if args.file.lower().endswith(".csv") else "jsonl")
    with ExitStack() as stack:
        try:
            out = sys.stdout if args.file == "-" else stack.enter_context(open(args.file, "w", encoding="utf-8", newline=""))
        except OSError as error:
            raise UsageError(f"cannot export to '{args.file}': {error.strerror or error}") from None
        if form == "csv":
            writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
            writer.writeheader()
            writer.writerows(letter.to_dict() for letter in letters)
        else:
            for letter in letters:
                out.write(json.dumps(letter.to_dict(), ensure_ascii=False) + "\n")
    if args.file != "-":
        print(f"wrote {len(letters):,} failures to {args.file} ({form})", file=sys.stderr)
    return ExitStatus.SUCCESS


def dlq_purge(args: argparse.Namespace, places: list[DeadLetterPlace]) -> int:
    sqs = clients.sqs()
    where = "local mode" if args.local else f"stack '{args.stack_name or default_stack_name()}'"
    letters = letters_of(sqs, places, args.job)
    if not letters:
        print("the dead-letter queues hold nothing to purge")
        return ExitStatus.SUCCESS
    scope = f"job {args.job}'s" if args.job else "all"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("purge deletes failures for good: confirm with --yes when not on a terminal")
        answer = input(f"delete {scope} {len(letters):,} failures from the DLQs of {where} for good? type 'purge' to confirm: ")
        if answer.strip() != "purge":
            print("nothing purged")
            return ExitStatus.SUCCESS
    purged = 0
    for place in places:
        if place.queues.job_id is not None:
            # A local job's DLQs hold only its failures: they go with their queues.
            purged += len(job_dead_letters(sqs, place.queues, None))
            delete_local_queues(sqs, place.queues, keep_dead_letters=False)
        elif args.job:
            purged += purge_job(sqs, place.queues, args.job)
        else:
            for url in place.queues.dead_letter_queues().values():
                sqs.purge_queue(QueueUrl=url)
            purged += len(letters)
    print(f"purged {purged:,} failures")
    return ExitStatus.SUCCESS


def describe_letters(letters: list[DeadLetter]) -> str:
    if not letters:
        return "the dead-letter queues are empty"
    counts = Counter(letter.code for letter in letters)
    lines = [f"{len(letters):,} failures: " + ", ".join(f"{code} {count:,}" for code, count in counts.most_common())]
    for letter in sorted(letters, key=lambda item: (item.code, item.subject)):
        attempts = f", {letter.attempts} attempts" if letter.attempts else ""
        when = f", last {letter.last_failed}" if letter.last_failed else ""
        lines.append(f"  [{letter.queue}] {letter.code}: {letter.subject!r}: {letter.message} (job {letter.job_id}{attempts}{when})")
    return "\n".join(lines)


def demo_main(argv: list[str]) -> int:
    from seed.demo import run_demo

    return run_demo(argv)
