"""One job runner for both ways a job runs: record and seed the job, drain it, read its dead
letters, run the delete pass after a clean copy pass, end its record, and report (the completion
report included).

What differs is where the queues are and who drains them (a ``Drain``):

- ``LocalWorkers``: worker processes on this machine play the Lambdas, on queues of the job's own
  (an SQS endpoint's or an embedded moto server's) until the job's record says nothing of it is
  open, or on a deployed stack's (``--stack-name``) until its queues are empty;
- ``DeployedStack``: the stack's Lambdas drain its queues while this process follows the job's
  record, showing its progress.

The CLI (cli.py) and the demo build ``JobOptions`` and call ``run_local_job`` or
``run_deployed_job``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

from s3fanout import clients, completion
from s3fanout.backoff import DEFAULT_MAX_ATTEMPTS
from s3fanout.clients import OWN_ACCESS, Access
from s3fanout.copying.limit import DEFAULT_CONCURRENCY
from s3fanout.counts import Counts
from s3fanout.dlq import DeadLetter, dead_letters, peek
from s3fanout.eventsource import prepare_workers
from s3fanout.guard import Scope
from s3fanout.job import (
    JobError,
    JobSpec,
    SeedPlan,
    describe_tasks,
    fitted_ranges,
    job_ids,
    manifest_location,
    new_job_id,
    record_local_scope,
    seed_delete_pass,
    seed_plan,
    with_manifest_parts,
    write_failures,
)
from s3fanout.jobqueues import (
    QueueSet,
    StackError,
    delete_local_queues,
    ensure_local_queues,
    find_local_queues,
    pending_messages,
    queue_depths,
    queues_from_stack,
)
from s3fanout.jobrecord import CANCELLED, JOBS_ENDED_BY_RUN_ENV, JobRecord, JobTable, NewJob, ensure_local_table
from s3fanout.keypairs import CredentialsSecretError
from s3fanout.local import COPY_TIMEOUT_SECONDS, LIST_TIMEOUT_SECONDS, LocalRun, visibility_for
from s3fanout.messages import InvalidMessage
from s3fanout.motoserver import EmbeddedMoto, services_without_endpoint, take_early
from s3fanout.outbox import Outbox
from s3fanout.preflight import check_access, check_buckets
from s3fanout.signing import MessageKey, local_key, secret_key
from seed.console import PROG, JobInterrupted, UsageError, say
from seed.job_commands import save_local_status
from seed.progress import ProgressView, human_bytes
from seed.report import JobReport, build_report

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

DEFAULT_WORKERS = 4
DEFAULT_MAX_RECEIVE_COUNT = 5
DEFAULT_OUTPUT_DIR = "s3fanout-runs"
# How often --wait looks at a deployed job's record (and its stack's queues).
WAIT_POLL_SECONDS = 5
# Without a job record (a stack deployed before it had one), this many empty looks at the queues
# in a row end the wait: SQS's counts are approximate and a delayed retry can surface between two.
WAIT_EMPTY_LOOKS = 3
# With a record that counts messages open while the stack's queues have been empty this long, a
# function died between counting a message and sending it: the wait ends, and says so.
STALLED_SECONDS = 600


@dataclass(frozen=True)
class WorkerOptions:
    """How local workers play the Lambdas, and where a local run writes its files."""

    workers: int = DEFAULT_WORKERS
    copy_concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    list_timeout: int = LIST_TIMEOUT_SECONDS
    copy_timeout: int = COPY_TIMEOUT_SECONDS
    output_dir: str = DEFAULT_OUTPUT_DIR


@dataclass(frozen=True)
class JobOptions:
    spec: JobSpec
    delete: bool = False
    # A deployed stack whose queues, scope and key the job uses; None: local queues of its own.
    stack_name: str | None = None
    # Accounts that must own the buckets, for a job on its own queues (a stack says its own).
    source_owner: str | None = None
    dest_owner: str | None = None
    workers: WorkerOptions = field(default_factory=WorkerOptions)
    progress: bool = False
    # s3://BUCKET/PREFIX for the completion report (local runs also write it to their folder).
    report_uri: str | None = None
    # Local mode: how each side is reached (a role to act as, another endpoint, a profile's
    # credentials); the default is these credentials at the configured endpoint.
    source_access: Access = OWN_ACCESS
    dest_access: Access = OWN_ACCESS


@dataclass(frozen=True)
class Target:
    """Where a job runs: its queues, what their consumers may touch, the key they trust, whether
    the queues are the job's own (local mode without a stack), and the table of job records."""

    queues: QueueSet
    scope: Scope
    key: MessageKey
    own_queues: bool = False
    table: JobTable | None = None
    # How local workers reach the source and the destination side (by default: as themselves).
    source_access: Access = OWN_ACCESS
    dest_access: Access = OWN_ACCESS

    def outbox(self) -> Outbox:
        return Outbox(clients.sqs(), self.key, self.queues.list_url, self.queues.copy_url, self.table)


class Drain(Protocol):
    @property
    def label(self) -> str:
        """How the report names where the job ran."""

    def __call__(self, target: Target, job_ids: list[str], scope: Scope, started: float, seeded: Counts | None = None) -> Counts | None:
        """Run (or wait for) the consumers until the jobs (a job's destinations) are drained; the
        first job's counts where known (with ``seeded``, what its seeding counted itself)."""

    def announce(self, job_id: str, tasks: str, destination: str) -> str:
        """The line that tells the person the job is queued (``tasks``: what was seeded, from
        ``job.describe_tasks``) and what happens next."""


# ----------------------------------------------------------------------------------- the run


def run_local_job(options: JobOptions, stack: ExitStack) -> JobReport:
    """A job drained by local workers: on a deployed stack's queues (--stack-name, under the
    stack's scope and key), else on queues of its own under exactly the job's scope."""
    check_output_dir(options.workers.output_dir)
    # The workers' fork server imports what they need while this process checks and sets up.
    prepare_workers()
    job_id = new_job_id()
    if options.stack_name:
        target, spec = stack_target(options.stack_name, options)
    else:
        moto = use_local_endpoint(stack)
        spec = options.spec
        scope = Scope(
            spec.source_bucket,
            spec.dest_bucket,
            spec.prefix,
            allow_delete=options.delete,
            source_owner=options.source_owner,
            dest_owner=options.dest_owner,
            dest_prefix=spec.dest_prefix,
            more_dests=tuple((dest.bucket, dest.prefix) for dest in spec.more_dests),
        )
        spec = with_manifest_parts(preflight(spec, scope, options.source_access, options.dest_access), clients.s3())
        # The workers may read the job's own manifest files, and no others.
        scope = replace(scope, manifests=manifest_location(spec))
        with ThreadPoolExecutor(1, thread_name_prefix="fit-ranges") as pool:
            # The buckets' first pages are read while the job's queues and table are made (on
            # another server, or at least in other round trips).
            fitted = pool.submit(fit_ranges, spec, scope, options.source_access, options.dest_access)
            if moto is not None:
                moto.wait_ready()
            note_other_local_jobs(clients.sqs())
            table = ensure_local_table(clients.dynamodb())
            queues = make_local_queues(options.workers, job_id)
            target = Target(queues, scope, local_key(), own_queues=True, table=table, source_access=options.source_access, dest_access=options.dest_access)
            record_local_scope(job_id, scope)
            spec = fitted.result()
    return run_job(replace(options, spec=spec), job_id, target, LocalWorkers(options.workers, options.progress))


def run_deployed_job(options: JobOptions, stack_name: str, wait: bool) -> JobReport | tuple[str, int]:
    """A job for a deployed stack's Lambdas: queued, and with ``wait`` followed to its end (then
    its report), else (job id, ranges queued)."""
    target, spec = stack_target(stack_name, options)
    spec = fit_ranges(spec, target.scope, target.source_access, target.dest_access)
    options = replace(options, spec=spec)
    job_id = new_job_id()
    drain = DeployedStack(stack_name, options.progress)
    if not wait:
        return job_id, start_job(options, job_id, target, drain).ranges
    return run_job(options, job_id, target, drain)


def start_job(options: JobOptions, job_id: str, target: Target, drain: Drain) -> SeedPlan:
    """Every destination's job record made, then the job's copy pass seeded (``job.seed_plan``).
    A local run on queues of its own queues the copies of the keys that the first pages it read
    cover at once (no lister lists them again); a deployed job's seeding sends list tasks alone,
    which is all an operator needs to be allowed to send."""
    spec, ids = options.spec, job_ids(job_id, options.spec)
    plan = seed_plan(job_id, spec, decide_first_pages=isinstance(drain, LocalWorkers) and target.own_queues and target.table is not None)
    for index, one_id in enumerate(ids):
        create_record(target, replace(options, spec=spec.for_destination(index)), one_id, drain.label, group=ids, list_open=len(plan.tasks), counts=plan.counts.get(one_id))
        if target.own_queues and target.table is not None:
            keep_local_status(target.table, one_id, running=True)
    plan.send(target.outbox())
    return plan


def run_job(options: JobOptions, job_id: str, target: Target, drain: Drain) -> JobReport:
    """Record and seed the job, drain it, then (when asked, and only after a copy pass without one
    failure) seed and drain the delete pass; end the record and report. On queues of its own the
    copy pass runs with a scope that may not delete, and the queues go at the end unless their
    DLQs hold something.

    A job of several destinations is one job per destination (``job.dest_job_id``), each with its
    record, failures, delete pass and report; the source is listed once for all of them. A
    destination with failures runs no delete pass, and holds back no other's."""
    spec, sqs, table = options.spec, clients.sqs(), target.table
    started = time.monotonic()
    ids = job_ids(job_id, spec)
    plan = start_job(options, job_id, target, drain)
    say(drain.announce(job_id, describe_tasks(spec, plan.ranges), ", ".join(spec.for_destination(index).dest_uri() for index in range(len(ids)))))
    copy_scope = replace(target.scope, allow_delete=False) if target.own_queues else target.scope
    drained = drain(target, ids, copy_scope, started, seeded=plan.counts.get(ids[0]))
    all_letters, refused = read_letters(target, ids)
    letters = {one_id: [letter for letter in all_letters if letter.job_id == one_id] for one_id in ids}
    counts: dict[str, Counts | None] = dict.fromkeys(ids, drained if len(ids) == 1 else None)
    if options.delete:
        deleting = [index for index, one_id in enumerate(ids) if may_delete_orphans(one_id, letters[one_id]) and not cancelled(table, one_id)]
        for index in deleting:
            if table is not None:
                table.start_delete_pass(ids[index], 0)
            seed_delete_pass(target.outbox(), ids[index], spec.for_destination(index))
        if deleting:
            deleted = drain(target, [ids[index] for index in deleting], target.scope, started)
            first = counts[ids[0]]
            if first is not None and deleted is not None:
                # The delete pass's listing is not new work: only its deletions and retries count.
                first.objects_deleted += deleted.objects_deleted
                first.keys_retried += deleted.keys_retried
            all_letters, refused = read_letters(target, ids)
            letters = {one_id: [letter for letter in all_letters if letter.job_id == one_id] for one_id in ids}
    if target.own_queues:
        if refused:
            say(f"{PROG}: warning: {len(refused)} messages on this job's queues were not sent by it and were refused, touching nothing; first: {refused[0].message}")
        delete_local_queues(sqs, target.queues, keep_dead_letters=bool(all_letters or refused))
    reports = [end_job(options, spec.for_destination(index), one_id, target, drain, counts[one_id], letters[one_id], started, log_of=job_id) for index, one_id in enumerate(ids)]
    for report in reports:
        report.refused_messages = len(refused)
    return replace(reports[0], more_destinations=reports[1:])


def end_job(
    options: JobOptions, spec: JobSpec, job_id: str, target: Target, drain: Drain, counts: Counts | None, letters: list[DeadLetter], started: float, log_of: str
) -> JobReport:
    """One destination's job ended: its record ended, its failures file and completion report
    written, its report. The workers' log is the one of ``log_of``, the job whose queues they
    drained (the first destination's)."""
    record, ended_here = end_record(target.table, job_id)
    if record is not None:
        counts = record.counts
        if target.own_queues:
            save_local_status(record, None)
    run_dir = Path(options.workers.output_dir) / job_id if isinstance(drain, LocalWorkers) else None
    failures_file = log_file = None
    if run_dir is not None:
        failures_file, log_file = str(run_dir / "failed-keys.jsonl"), str(run_dir.parent / log_of / "workers.log")
        write_failures(Path(failures_file), letters)
    # A stack's functions write the report when one of them ends the job; when this run ended it
    # (no delete pass after all), the run writes it there itself.
    stack_reports = target.queues.reports
    report_uri = options.report_uri or (stack_reports if ended_here else None)
    completion = write_completion_report(record, letters, run_dir, report_uri)
    if completion is None and stack_reports and record is not None:
        completion = f"{stack_reports}{job_id}/"  # written by the function that ended the job
    seconds = time.monotonic() - started
    report = build_report(job_id, f"s3://{spec.source_bucket}/{spec.prefix}", spec.dest_uri(), drain.label, seconds, counts, letters, failures_file, log_file)
    return replace(report, state=record.state if record else None, completion_report=completion, source_region=spec.source_region, dest_region=spec.dest_region)


def write_completion_report(record: JobRecord | None, letters: list[DeadLetter], run_dir: Path | None, report_uri: str | None) -> str | None:
    """summary.json and failed.csv: in the local run's folder, and under ``report_uri``
    (s3://BUCKET/PREFIX); where the last of them went (None without a job record)."""
    if record is None:
        return None
    written = None
    if run_dir is not None:
        written = str(completion.write_local(run_dir, record, letters))
    if report_uri:
        bucket, prefix = completion.parse_report_uri(report_uri)
        try:
            written = completion.write_to_s3(clients.s3(), bucket, prefix, record, letters)
        except ClientError as error:
            say(f"{PROG}: warning: completion report not written to {report_uri}: {error}")
    return written


def keep_local_status(table: JobTable, job_id: str, running: bool) -> None:
    """A local job's record, kept on this machine too (``status --local`` after a run on the
    embedded moto server); while it runs, with the endpoint where its live record is."""
    record = table.get(job_id)
    if record is not None:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")
        save_local_status(record, endpoint if running else None)


def create_record(target: Target, options: JobOptions, job_id: str, where: str, group: list[str], list_open: int, counts: Counts | None) -> None:
    """The job's record, before its first message is sent: its ``list_open`` list tasks counted
    open already (copy batches count themselves as they are sent), and ``counts``, what the CLI
    counted itself."""
    if target.table is None:
        return
    spec = options.spec
    target.table.create(
        NewJob(
            job_id,
            spec.source_bucket,
            spec.dest_bucket,
            spec.prefix,
            mode="sync" if spec.compare else "copy",
            list_open=list_open,
            delete_requested=options.delete,
            options={
                "ranges": spec.ranges,
                "compare": spec.compare,
                "delete": options.delete,
                "workers": options.workers.workers if where == "local" else None,
                "source_region": spec.source_region,
                "dest_region": spec.dest_region,
                "manifest": spec.manifest,
                "all_versions": spec.all_versions,
                "as_of": spec.as_of,
                "dest_prefix": spec.dest_prefix,
                # A job of several destinations: every destination's job, listed together.
                "destination_jobs": group if len(group) > 1 else None,
                # Names only (roles, endpoints, profiles): a profile's keys stay in its file.
                **target.source_access.to_record("source"),
                **target.dest_access.to_record("dest"),
            },
            where=where,
            counts=counts or Counts(),
        )
    )


def end_record(table: JobTable | None, job_id: str) -> tuple[JobRecord | None, bool]:
    """The job's final record, and whether it was ended here (not by a function)."""
    if table is None:
        return None, False
    ended = table.finish(job_id)
    return (ended, True) if ended is not None else (table.get(job_id), False)


def cancelled(table: JobTable | None, job_id: str) -> bool:
    record = table.get(job_id) if table is not None else None
    if record is not None and record.state == CANCELLED:
        say(f"job {job_id} was cancelled: no delete pass")
        return True
    return False


def read_letters(target: Target, ids: list[str]) -> tuple[list[DeadLetter], list[DeadLetter]]:
    """The jobs' failures, and on their own queues the messages they did not send (split_letters).
    One read of the DLQs, which ends with a long poll; skipped on the jobs' own queues when no
    record counts a failure and both DLQs are empty."""
    sqs, table = clients.sqs(), target.table
    if target.own_queues and table is not None:
        records = [table.get(job_id) for job_id in ids]
        clean = all(record is not None and not record.failures for record in records)
        if clean and not any(sum(queue_depths(sqs, url)) for url in target.queues.dead_letter_queues().values()):
            return [], []
    return split_letters(job_dead_letters(sqs, target.queues, None, target.key), ids, target.own_queues)


def split_letters(letters: list[DeadLetter], ids: list[str], own_queues: bool) -> tuple[list[DeadLetter], list[DeadLetter]]:
    """The jobs' own failures, and (on queues of their own) what was refused there that they did
    not send; on a stack's queues other jobs' letters are neither."""
    mine = [letter for letter in letters if letter.job_id in ids]
    others = [letter for letter in letters if letter.job_id not in ids] if own_queues else []
    return mine, others


def may_delete_orphans(job_id: str, letters: list[DeadLetter]) -> bool:
    """rclone's rule: the orphan pass runs only after a copy pass without a single failure."""
    if letters:
        say(f"{PROG}: deleting no orphans: {len(letters)} failures in this job (no deletes after errors)")
        return False
    say(f"job {job_id}: every copy succeeded; deleting orphans")
    return True


def job_dead_letters(sqs: SQSClient, queues: QueueSet, job_id: str | None, key: MessageKey | None = None) -> list[DeadLetter]:
    """The failures of one job (every job for None) in both DLQs, left on the queues. Messages a
    handler refused unread (or ``key`` did not seal) belong to no job."""
    letters = []
    for name, url in queues.dead_letter_queues().items():
        letters += [letter for letter in dead_letters(name, peek(sqs, url), key) if job_id in (None, letter.job_id)]
        hidden = queue_depths(sqs, url)[1]
        if hidden:
            # Another reader (a second 'dlq list', a redrive) holds them for up to a minute.
            say(f"{PROG}: warning: {hidden} message(s) of the {name} DLQ are being read elsewhere and are not shown; run again in a minute")
    return letters


# ------------------------------------------------------------------------------ the drains


@dataclass(frozen=True)
class LocalWorkers:
    """Worker processes on this machine play the Lambdas until the queues are empty."""

    options: WorkerOptions
    progress: bool = False
    label: str = "local"
    # The folder of the run's log when it drains no one job (a redrive).
    run_name: str = "redrive"

    def announce(self, job_id: str, tasks: str, destination: str) -> str:
        return f"job {job_id}: {tasks} queued; copying to {destination} with {self.options.workers} local workers"

    def __call__(self, target: Target, job_ids: list[str] | None, scope: Scope, started: float, seeded: Counts | None = None) -> Counts:
        """On the jobs' own queues, until their records say nothing of them is open. On a stack's
        queues (playing its Lambdas, other jobs' messages included), and without a record or a
        job, until the queues stay empty. Progress shows the first job's counts."""
        job_id = job_ids[0] if job_ids else None
        run = self.start(target, job_id, scope, Path(self.options.output_dir) / (job_id or self.run_name) / "workers.log")
        run.counters += seeded or Counts()
        table = target.table

        def open_messages() -> int:
            """The messages the jobs' records count open; a record not found counts as one."""
            records = [table.get(one_id) for one_id in job_ids] if table is not None and job_ids else [None]
            return sum(1 if record is None else 0 if record.drained else max(1, record.open_messages) for record in records)

        try:
            with ProgressView(enabled=self.progress) as view:
                run.run(on_progress=view.update, open_messages=open_messages if target.own_queues and table is not None and job_ids else None)
        except KeyboardInterrupt:
            raise JobInterrupted(interruption_summary(run, time.monotonic() - started)) from None
        if run.workers_replaced:
            say(f"{PROG}: {run.workers_replaced} worker process(es) died and were replaced; their work was delivered again (see {run.log_path})")
        if run.stalled:
            say(
                f"{PROG}: warning: the job record counts messages still open, but the queues have been empty for {run.stalled:.0f} s: "
                "a worker died between counting a message and sending it; the job ends here"
            )
        return run.counters

    def start(self, target: Target, job_id: str | None, scope: Scope, log_path: Path) -> LocalRun:
        """The workers, holding the message key and serving exactly ``scope``; counting ``job_id``'s
        progress (every job's for None)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        sqs, queues = clients.sqs(), target.queues
        environment = {
            "LIST_QUEUE_URL": queues.list_url,
            "LIST_DLQ_URL": queues.list_dlq_url,
            "COPY_QUEUE_URL": queues.copy_url,
            "COPY_DLQ_URL": queues.copy_dlq_url,
            "COPY_CONCURRENCY": str(self.options.copy_concurrency),
            "COPY_MAX_ATTEMPTS": str(self.options.max_attempts),
            "MESSAGE_KEY": target.key.secret.decode("utf-8"),
            "MAX_RECEIVE_COUNT": str(self.options.max_receive_count),
            "POWERTOOLS_SERVICE_NAME": "s3fanout-local",
            "POWERTOOLS_METRICS_NAMESPACE": "S3Fanout",
            # Metrics are CloudWatch's business; locally the report shows the same counts.
            "POWERTOOLS_METRICS_DISABLED": "true",
        } | scope.to_env()
        if target.table is not None:
            environment["JOB_TABLE"] = target.table.name
            if target.own_queues:
                environment[JOBS_ENDED_BY_RUN_ENV] = "true"  # every message there is this run's (end_job)
        environment |= target.source_access.to_env("SOURCE") | target.dest_access.to_env("DEST")
        return LocalRun(
            queues=queues,
            sqs=sqs,
            workers=self.options.workers,
            environment=environment,
            log_path=log_path,
            region=sqs.meta.region_name,
            job_id=job_id,
            list_timeout=self.options.list_timeout,
            copy_timeout=self.options.copy_timeout,
        )


def interruption_summary(run: LocalRun, seconds: float) -> str:
    """What a run did before Ctrl-C stopped it, and what it left queued."""
    sqs, queues, counts = run.sqs, run.queues, run.counters
    depths = {name: sum(queue_depths(sqs, url)) for name, url in queues.main_queues().items()}
    failed = {name: queue_depths(sqs, url)[0] for name, url in queues.dead_letter_queues().items()}
    lines = [
        f"  after {seconds:.1f} s: listed {counts.keys_listed:,} keys, copied {counts.objects_copied:,} objects ({human_bytes(counts.bytes_copied)}), "
        f"skipped {counts.keys_skipped:,}, deleted {counts.objects_deleted:,}, failed {counts.keys_failed:,}",
        f"  still queued: {depths['list']:,} list tasks and {depths['copy']:,} copy messages; in the DLQs: {failed['list']:,} ranges, {failed['copy']:,} copy messages",
    ]
    if queues.job_id is not None:
        # A job's own queues: nothing will run what is left, so they go; its failures stay.
        delete_local_queues(sqs, queues, keep_dead_letters=any(failed.values()))
        lines.append("  the queued work was dropped: run the same command again to finish (objects already copied are skipped)")
    lines.append(f"  logs: {run.log_path}")
    return "\n".join(lines)


@dataclass(frozen=True)
class DeployedStack:
    """The stack's Lambdas drain its queues; this process follows the job's record until nothing
    of the job is open, showing its progress. A stack without a job table (deployed before it had
    one) is watched by its queue depths instead, other jobs' messages included, and counts None."""

    stack_name: str
    progress: bool = False
    poll: Callable[[float], None] = time.sleep

    @property
    def label(self) -> str:
        return f"stack {self.stack_name}"

    def announce(self, job_id: str, tasks: str, destination: str) -> str:
        return f"job {job_id}: {tasks} queued on stack '{self.stack_name}'; following the job's record"

    def __call__(self, target: Target, job_ids: list[str], scope: Scope, started: float, seeded: Counts | None = None) -> Counts | None:
        sqs, table = clients.sqs(), target.table
        with ProgressView(enabled=self.progress) as view:
            empty_since: float | None = None
            empty_looks = 0
            while True:
                depths = {name: queue_depths(sqs, url) for name, url in target.queues.main_queues().items()}
                empty = all(sum(d) == 0 for d in depths.values())
                empty_looks = empty_looks + 1 if empty else 0
                empty_since = (empty_since or time.monotonic()) if empty else None
                if table is None:
                    view.update(None, depths)
                    if empty_looks >= WAIT_EMPTY_LOOKS:
                        return None
                else:
                    records = []
                    for job_id in job_ids:
                        record = table.get(job_id)
                        if record is None:
                            raise JobError(f"job {job_id} has no record in {table.name}: was it deleted?")
                        records.append(record)
                    first = records[0]
                    view.update(first.counts, depths, time.monotonic() - started)
                    if all(record.drained for record in records):
                        return first.counts
                    if empty_since is not None and time.monotonic() - empty_since >= STALLED_SECONDS:
                        open_messages = sum(record.open_messages for record in records)
                        say(f"{PROG}: warning: job {first.job_id}'s records count {open_messages} messages open, but the queues have been empty for {STALLED_SECONDS} s; the wait ends here")
                        return first.counts
                self.poll(WAIT_POLL_SECONDS)


# -------------------------------------------------------------------- targets and checks


def stack_target(stack_name: str, options: JobOptions) -> tuple[Target, JobSpec]:
    """A deployed stack's queues, scope and key, once the stack allows the job and the job's
    buckets pass the pre-flight checks; and the job's spec with its buckets' regions."""
    queues = queues_from_stack(clients.cloudformation(), stack_name)
    scope = stack_scope(queues, stack_name)
    check_stack_allows(options.spec, scope, stack_name, options.delete)
    check_stack_versions(options.spec, queues, stack_name)
    key = stack_key(queues, stack_name)
    spec = stack_manifest(options.spec, scope, stack_name)
    # The source as the stack's functions reach it (its SourceEndpointUrl, its
    # SourceCredentialsSecretArn's keys): checked that way too, and local workers do the same.
    source = Access(endpoint_url=queues.source_endpoint_url, credentials_secret_arn=queues.source_credentials_secret_arn)
    try:
        spec = preflight(spec, scope, source)
    except CredentialsSecretError as error:
        raise StackError(f"stack '{stack_name}' reads its source with the keys in a secret, and {error}") from None
    return Target(queues, scope, key, table=stack_table(queues), source_access=source), spec


def stack_manifest(spec: JobSpec, scope: Scope, stack_name: str) -> JobSpec:
    """A job's manifest, opened into parts, when the stack's listers may read it and every data
    file it names (its ManifestBucket and ManifestPrefix)."""
    location = spec.manifest
    if location is None:
        return spec
    if not location.startswith("s3://"):
        raise JobError(f"--manifest {location}: a stack's listers read manifests from S3: upload it and pass its s3:// URI")
    spec = with_manifest_parts(spec, clients.s3())
    try:
        for uri in (location, *(part.uri for part in spec.manifest_parts)):
            scope.check_manifest(uri)
    except InvalidMessage as error:
        raise StackError(f"stack '{stack_name}' {error}: redeploy it with ManifestBucket and ManifestPrefix naming where the manifest is") from None
    return spec


def stack_table(queues: QueueSet) -> JobTable | None:
    """A deployed stack's table of job records (None for a stack deployed before it had one)."""
    return JobTable(clients.dynamodb(), queues.job_table) if queues.job_table else None


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
    Lambdas get exactly that. Every destination (DestinationBucket, MoreDestinationBuckets) takes
    keys under DestinationPrefix, or only as they are without one (no --dest-prefix)."""
    if queues.source_bucket is None or queues.dest_bucket is None:
        raise StackError(f"stack '{stack_name}' lacks the SourceBucket and DestinationBucket outputs: is it an s3-fanout stack?")
    return Scope(
        source_bucket=queues.source_bucket,
        dest_bucket=queues.dest_bucket,
        prefix=queues.allowed_prefix or "",
        allow_delete=bool(queues.delete_allowed),
        source_owner=queues.source_owner,
        dest_owner=queues.dest_owner,
        manifests=queues.manifest_location,
        dest_prefix=queues.dest_prefix,
        more_dests=tuple((bucket, queues.dest_prefix) for bucket in queues.more_dest_buckets),
        keys_as_they_are=queues.dest_prefix is None,
    )


def check_stack_allows(spec: JobSpec, scope: Scope, stack_name: str, delete: bool) -> None:
    if scope.source_bucket not in ("*", spec.source_bucket):
        raise JobError(f"stack '{stack_name}' may only use the source bucket '{scope.source_bucket}', not '{spec.source_bucket}' (redeploy with other parameters)")
    if not spec.prefix.startswith(scope.prefix):
        raise JobError(f"stack '{stack_name}' may only copy keys under '{scope.prefix}', and --prefix '{spec.prefix}' is not")
    served = [bucket for bucket, _ in scope.destinations]
    for dest in spec.destinations:
        if "*" not in served and dest.bucket not in served:
            allowed = " or ".join(f"'{bucket}'" for bucket in served)
            raise JobError(f"stack '{stack_name}' may only use the destination bucket {allowed}, not '{dest.bucket}' (redeploy with other parameters)")
        try:
            scope.check_destination(spec.source_bucket, spec.prefix, dest.bucket, dest.prefix)
        except InvalidMessage as error:
            raise JobError(f"stack '{stack_name}' refuses this job: {error} (redeploy with other parameters)") from None
    if delete and not scope.allow_delete:
        raise JobError(f"stack '{stack_name}' was deployed without AllowDelete=true, so it cannot delete orphans")


def check_stack_versions(spec: JobSpec, queues: QueueSet, stack_name: str) -> None:
    """--all-versions and --as-of need a stack whose roles may list and read versions."""
    if (spec.all_versions or spec.as_of is not None) and not queues.versions_allowed:
        flag = "--all-versions" if spec.all_versions else "--as-of"
        raise JobError(f"stack '{stack_name}' was deployed without CopyVersions=true, so its roles cannot list or read older versions ({flag})")


def preflight(spec: JobSpec, scope: Scope, source: Access = OWN_ACCESS, dest: Access = OWN_ACCESS) -> JobSpec:
    """Check the buckets and probe the permissions (each side as the workers will reach it: its
    role, endpoint and profile, where given), failing in seconds on an endpoint that is down; the
    spec with the buckets' regions (every destination's), which the job's messages then carry."""
    probe, dest_probe = clients.probe_s3(source), clients.probe_s3(dest)
    source_region, dest_regions = None, []
    for index in range(len(spec.destinations)):
        one = spec.for_destination(index)
        for client in (probe, dest_probe):
            clients.expect_bucket_owners(client, scope.owners(one.source_bucket, one.dest_bucket))
        source_region, dest_region = check_buckets(probe, one, dest_probe)
        check_access(probe, one, dest_probe)
        dest_regions.append(dest_region)
    more = tuple(replace(dest, region=region) for dest, region in zip(spec.more_dests, dest_regions[1:], strict=True))
    return replace(spec, source_region=source_region, dest_region=dest_regions[0], more_dests=more)


def fit_ranges(spec: JobSpec, scope: Scope, source_access: Access, dest_access: Access) -> JobSpec:
    """The spec to seed: one range for a job that one listing page of each side holds
    (``job.fitted_ranges``), each side listed as the pre-flight checks reached it, naming the
    accounts that must own the buckets (``scope``'s)."""
    if not spec.fit_ranges:
        return spec
    source, dest = clients.probe_s3(source_access), clients.probe_s3(dest_access)
    owners = {bucket: owner for one in spec.destinations for bucket, owner in scope.owners(spec.source_bucket, one.bucket).items()}
    for client in (source, dest):
        clients.expect_bucket_owners(client, owners)
    return fitted_ranges(spec, source, [dest] * len(spec.destinations))


def check_output_dir(path: str) -> None:
    """Refuse an --output-dir that cannot be created or written before any work starts."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot use --output-dir '{path}': {error.strerror or error}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"cannot use --output-dir '{path}': not writable")


def use_local_endpoint(stack: ExitStack) -> EmbeddedMoto | None:
    """Local mode's SQS and DynamoDB: the configured endpoints, else an embedded moto server for
    this run (whose job records are then copied to the local state folder, for ``status``). The
    server is launched (as the command started, by ``python -m seed``, or here), not waited for:
    it starts while the run checks the buckets (on S3, never on it), and the run waits for it
    (``wait_ready``) before its first request there."""
    missing = services_without_endpoint()
    if not missing:
        return None
    moto = take_early() or EmbeddedMoto().launch()
    stack.callback(moto.stop)
    for service in missing:
        os.environ[f"AWS_ENDPOINT_URL_{service}"] = moto.url
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    clients.reset()
    return moto


def make_local_queues(options: WorkerOptions, job_id: str) -> QueueSet:
    """A job's own queues on the local SQS endpoint, with the same redrive wiring as the template."""
    return ensure_local_queues(
        clients.sqs(),
        job_id,
        max_receive_count=options.max_receive_count,
        list_visibility_seconds=visibility_for(options.list_timeout),
        copy_visibility_seconds=visibility_for(options.copy_timeout),
    )


def note_other_local_jobs(sqs: SQSClient) -> None:
    """Say what other jobs have on their local queues: they are left alone, never run as this job's."""
    for queues in find_local_queues(sqs):
        pending = pending_messages(sqs, queues)
        if pending:
            say(f"{PROG}: note: job {queues.job_id} has {pending:,} unfinished messages on its own local queues (running elsewhere, or interrupted); this job leaves them alone")
