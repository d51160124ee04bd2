"""The dead-letter queue commands: list, redrive, export and purge the failures of a deployed
stack or of local jobs (python -m seed dlq ...)."""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from s3fanout import clients
from s3fanout.counts import Counts
from s3fanout.dlq import DeadLetter, RedriveResult, purge_job, redrive
from s3fanout.guard import Scope
from s3fanout.job import first_job_id, local_scope, new_job_id, write_failures
from s3fanout.jobqueues import QueueSet, StackError, default_stack_name, delete_local_queues, find_local_queues, queues_from_stack
from s3fanout.jobrecord import LOCAL_TABLE_NAME, JobTable
from s3fanout.signing import MessageKey, local_key
from seed.console import ExitStatus, UsageError, progress_wanted, say
from seed.report import build_report, describe_letters, print_report
from seed.runner import LocalWorkers, Target, WorkerOptions, check_output_dir, job_dead_letters, make_local_queues, stack_key, stack_table

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


def worker_options(args: argparse.Namespace) -> WorkerOptions:
    """The local-worker options of a parsed command line (a job's or a redrive's)."""
    return WorkerOptions(
        workers=args.workers,
        copy_concurrency=args.copy_concurrency,
        max_attempts=args.max_attempts,
        max_receive_count=args.max_receive_count,
        list_timeout=args.list_timeout,
        copy_timeout=args.copy_timeout,
        output_dir=args.output_dir,
    )


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
        # A job of several destinations keeps every destination's failures on its first job's queues.
        owner = None if args.job is None else first_job_id(args.job)
        found = [queues for queues in find_local_queues(clients.sqs()) if owner in (None, queues.job_id)]
        return [DeadLetterPlace(queues, local_key, functools.partial(recorded_scope, queues.job_id)) for queues in found]
    stack_name = args.stack_name or default_stack_name()
    queues = queues_from_stack(clients.cloudformation(), stack_name)
    return [DeadLetterPlace(queues, functools.partial(stack_key, queues, stack_name), None)]


def job_table_of(place: DeadLetterPlace, local: bool) -> JobTable | None:
    """The table of job records that what a redrive sends back belongs to: the stack's, or local
    mode's on the configured DynamoDB endpoint (where its handlers keep it); None without one."""
    if not local:
        return stack_table(place.queues)
    if not (os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")):
        return None
    table = JobTable(clients.dynamodb(), LOCAL_TABLE_NAME)
    try:
        clients.dynamodb().describe_table(TableName=table.name)
    except ClientError:
        return None
    return table


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
    workers = worker_options(args)
    total = RedriveResult()
    drained: list[tuple[DeadLetterPlace, Scope, JobTable | None]] = []
    for place in places:
        scope = place.scope() if args.local and place.scope else None
        if args.local and place.queues.job_id:
            # A finished job's main queues were deleted; redriven messages meet them anew, with
            # the current options (timeouts, maxReceiveCount).
            make_local_queues(workers, place.queues.job_id)
        table = job_table_of(place, args.local)
        result = redrive(sqs, place.queues, place.key(), reason=args.reason, job_id=args.job, table=table)
        total = RedriveResult(total.keys + result.keys, total.ranges + result.ranges, total.left + result.left)
        if scope is not None and (result.keys or result.ranges):
            drained.append((place, scope, table))
    what = f"{total.keys:,} keys and {total.ranges:,} key ranges back on their queues; {total.left:,} failures left in the DLQs"
    if not args.local or not drained:
        print(json.dumps(asdict(total)) if args.json else f"redrive: {what}")
        return ExitStatus.SUCCESS
    check_output_dir(args.output_dir)
    say(f"redrive: {what}; draining with {args.workers} local workers")
    redrive_id = f"redrive-{new_job_id()}"
    drain = LocalWorkers(workers, progress_wanted(args.no_progress or args.json), run_name=redrive_id)
    started = time.monotonic()
    counts = Counts()
    remaining: list[DeadLetter] = []
    for place, scope, table in drained:
        counts += drain(Target(place.queues, scope, place.key(), table=table), None, scope, started)
        remaining += [letter for letter in job_dead_letters(sqs, place.queues, args.job, place.key()) if args.reason in (None, letter.code)]
        delete_local_queues(sqs, place.queues, keep_dead_letters=bool(job_dead_letters(sqs, place.queues, None)))
    run_dir = Path(args.output_dir) / redrive_id
    failures_file = run_dir / "failed-keys.jsonl"
    write_failures(failures_file, remaining)
    seconds = time.monotonic() - started
    report = build_report(redrive_id, "dead-letter queues", "main queues", "local", seconds, counts, remaining, str(failures_file), str(run_dir / "workers.log"))
    print_report(report, args.json)
    return ExitStatus.FAILURES if remaining else ExitStatus.SUCCESS


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
