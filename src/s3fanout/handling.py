"""What both Lambda handlers share: the Powertools objects, the configuration read once per
execution environment, and the life of one SQS record around its work: admitted (or refused to
the DLQ), checked against the job record (cancelled? settled already?), worked, given up on with
its reason on its last delivery, settled into the job record exactly once, and its counts turned
into metrics and progress events. The function that settles a job's last open message ends the
job (and writes its report where the stack names a report bucket).

Each handler (list_objects/app.py, copy_objects/app.py) is then its record's work only.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from s3fanout import clients, progress_events
from s3fanout.completion import job_letters, write_to_s3
from s3fanout.copyspread import Backlog, CopySpread
from s3fanout.counts import Counts
from s3fanout.deadletter import INVALID_MESSAGE, dead_letter_message
from s3fanout.envvars import env_int, env_str
from s3fanout.guard import HopLimitExceeded, Kind, Scope, admit, function_key
from s3fanout.jobqueues import queue_depths
from s3fanout.jobrecord import DEFAULT_RECORD_DAYS, JOBS_ENDED_BY_RUN_ENV, JobRecord, JobTable, Verdict
from s3fanout.lister import BATCHES_PER_PART
from s3fanout.messages import CopyBatch, InvalidMessage, ListTask
from s3fanout.outbox import Outbox
from s3fanout.signing import MessageKey

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Each queue's consumer, its DLQ's environment variable and the code of a message given up on.
DEAD_LETTER_ENV = {"list": "LIST_DLQ_URL", "copy": "COPY_DLQ_URL"}
GIVEN_UP_CODE = {"list": "ListFailed", "copy": "BatchFailed"}
FAILED_METRIC = {"list": "ListTasksFailed", "copy": "CopyBatchesFailed"}

logger = Logger()
metrics = Metrics()


# Metrics and progress events are added from a copier's record threads at once.
_REPORTING = threading.Lock()
_SETTLING = threading.Lock()


class ConcurrentBatchProcessor(BatchProcessor):
    """Powertools' processor, working an invocation's records at once, each in a thread of its
    own. A copier's copies in flight (one limit per execution environment) are then shared by all
    its records, so that they reach as many prefix partitions as it has batches, and no record's
    last round of copies leaves slots idle."""

    def process(self) -> list[tuple[Any, ...]]:
        if len(self.records) < 2:
            return super().process()
        with ThreadPoolExecutor(max_workers=len(self.records), thread_name_prefix="record") as pool:
            return list(pool.map(self._process_record, self.records))


def batch_processor(concurrent: bool = False) -> BatchProcessor:
    """A processor for one handler's SQS records: one after another, or all at once
    (``concurrent``). When every record fails it answers with every record in batchItemFailures
    rather than raising: SQS retries the same messages either way, and the response stays exact."""
    kind = ConcurrentBatchProcessor if concurrent else BatchProcessor
    return kind(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def add_metric(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
    with _REPORTING:
        metrics.add_metric(name=name, unit=unit, value=value)


@functools.cache
def configuration() -> tuple[MessageKey, Scope]:
    """The message key and the scope, read once per execution environment."""
    return function_key(), Scope.from_env()


@functools.cache
def job_table() -> JobTable | None:
    """The job record's table (JOB_TABLE); None keeps no record."""
    name = os.environ.get("JOB_TABLE")
    return JobTable(clients.dynamodb(), name, env_int("JOB_RECORD_DAYS", DEFAULT_RECORD_DAYS)) if name else None


def side_access() -> tuple[clients.Access, clients.Access]:
    """How local mode reaches the source and the destination (SOURCE_/DEST_ ROLE_ARN, ENDPOINT_URL,
    PROFILE in the workers' environment); deployed, neither is set and each is the function's own."""
    return clients.Access.from_env("SOURCE"), clients.Access.from_env("DEST")


def must_stream() -> bool:
    """Whether copies must be streamed (GetObject into an upload) because no server-side copy can
    reach both sides: they differ in endpoint or in profile."""
    source, dest = side_access()
    return not source.same_store(dest)


def bucket_clients(message: ListTask | CopyBatch) -> tuple[S3Client, S3Client]:
    """The S3 clients of the message's source and destination: each of its bucket's region, acting
    as the role, at the endpoint and with the profile local mode was given for that side
    (``side_access``; deployed, the function's own), and naming the accounts that must own the
    buckets on every request."""
    _, scope = configuration()
    source_access, dest_access = side_access()
    source = clients.s3_for(source_access, message.source_region)
    dest = clients.s3_for(dest_access, message.dest_region)
    for s3 in (source, dest):
        clients.expect_bucket_owners(s3, scope.owners(message.source_bucket, message.dest_bucket))
    return source, dest


def more_dest_clients(task: ListTask) -> list[S3Client]:
    """The S3 clients of a list task's other destinations (a job of several), as bucket_clients
    makes the first's."""
    _, scope = configuration()
    _, dest_access = side_access()
    more = []
    for dest in task.more_dests:
        s3 = clients.s3_for(dest_access, dest.region)
        clients.expect_bucket_owners(s3, scope.owners(task.source_bucket, dest.bucket))
        more.append(s3)
    return more


def outbox() -> Outbox:
    """Where this function's messages go: sealed, and counted open in the job record."""
    key, _ = configuration()
    return Outbox(clients.sqs(), key, os.environ.get("LIST_QUEUE_URL"), os.environ.get("COPY_QUEUE_URL"), job_table())


def copy_spread(remaining_ms: Callable[[], int]) -> CopySpread | None:
    """How a lister spreads its copy batches over time (copyspread.py): by the job's backlog on
    the copy and list queues and the copiers the stack runs at most (COPY_MAX_CONCURRENCY; without
    it, as in local mode, batches go out undelayed). A queue that cannot be read counts as empty."""
    copiers = env_int("COPY_MAX_CONCURRENCY", 0)
    copy_url, list_url = os.environ.get("COPY_QUEUE_URL"), os.environ.get("LIST_QUEUE_URL")
    if not copiers or not copy_url:
        return None
    sqs = clients.sqs()

    def depths(url: str) -> tuple[int, int, int]:
        try:
            return queue_depths(sqs, url)
        except (ClientError, BotoCoreError) as error:
            logger.warning("queue backlog unknown: counted as empty when spreading copy batches", extra={"queue_url": url, "error": str(error)})
            return 0, 0, 0

    def backlog() -> Backlog:
        # Copy batches in flight are being copied. A list task in flight (this one too) is being
        # listed: half its part is still to come, on average.
        visible, _, delayed = depths(copy_url)
        tasks_waiting, tasks_listed, tasks_delayed = depths(list_url) if list_url else (0, 0, 0)
        return Backlog(visible + delayed, tasks_waiting + tasks_delayed + tasks_listed / 2)

    return CopySpread(backlog, copiers, remaining_ms, BATCHES_PER_PART)


def handle_record(record: SQSRecord, kind: type[Kind], queue: str, work: Callable[[Kind], Counts | Mapping[str, Counts]]) -> None:
    """One record's life around ``work`` (which returns its counts or raises to be delivered again).

    A message that no delivery could carry out (unsealed, out of scope, past the hop bound) goes to
    its DLQ at once, unchanged, with the reason. A message of a cancelled job is dropped unworked;
    one the job record has settled already (a second delivery) is dropped and counts nothing. On
    its last delivery (MAX_RECEIVE_COUNT), a message whose work fails goes to its DLQ with the
    error rather than being moved there by SQS without one; either way it is settled as failed,
    so that the job can end. The message's job and buckets become context keys of every log line.
    A list task of several destinations is all of that for each destination's job: the
    destinations of cancelled jobs are dropped from it, and ``work`` returns counts per job.
    """
    by, dead_letter_env = ("lister" if queue == "list" else "copier"), DEAD_LETTER_ENV[queue]
    key, scope = configuration()
    try:
        message = admit(record.body, key, scope, kind)
    except HopLimitExceeded as error:
        refuse(record, error.code, str(error), dead_letter_env, by)
        if isinstance(error.message, kind):
            settle(record, queue, dict.fromkeys(error.message.job_ids, failed_counts(error.message)))
        return
    except InvalidMessage as error:
        # Nothing in it can be trusted, its job least of all: no record is touched.
        refuse(record, INVALID_MESSAGE, str(error), dead_letter_env, by)
        return
    # Records may run at once (a copier's): each thread logs its own record's job and buckets.
    logger.thread_safe_append_keys(job_id=message.job_id, source_bucket=message.source_bucket, dest_bucket=message.dest_bucket)
    jobs = message.job_ids
    table = job_table()
    verdicts = table.verdicts(jobs, record.message_id) if table else dict.fromkeys(jobs, Verdict.UNTRACKED)
    if Verdict.DUPLICATE in verdicts.values():
        logger.info("message settled before (a second delivery): dropped", extra={"message_id": record.message_id})
        add_metric("DuplicateDeliveries")
        return
    live = [job_id for job_id in jobs if verdicts[job_id] is not Verdict.CANCELLED]
    counts = {job_id: Counts(messages_dropped=1) for job_id in jobs if job_id not in live}
    if counts:
        logger.info("job cancelled: message dropped without work", extra={"message_id": record.message_id, "cancelled_jobs": sorted(counts)})
    if live:
        working = message.for_jobs(live) if isinstance(message, ListTask) and len(live) < len(jobs) else message
        try:
            done = work(working)
            counts |= done if isinstance(done, Mapping) else {working.job_id: done}
        except Exception as error:
            add_metric(FAILED_METRIC[queue])
            if not last_delivery(record):
                logger.exception(f"{queue} message failed; SQS will deliver it again", extra={"message_id": record.message_id})
                raise
            logger.exception(f"{queue} message failed on its last delivery: sent to the dead-letter queue", extra={"message_id": record.message_id})
            receives = record.attributes.approximate_receive_count
            refuse(record, GIVEN_UP_CODE[queue], f"failed on each of {receives} deliveries; the last error: {type(error).__name__}: {error}", dead_letter_env, by)
            counts |= dict.fromkeys(live, failed_counts(working))
    tracked = {job_id: job_counts for job_id, job_counts in counts.items() if verdicts[job_id] is not Verdict.UNTRACKED}
    if tracked:
        settle(record, queue, tracked)
    for job_id, job_counts in counts.items():
        report(job_id, job_counts)


def last_delivery(record: SQSRecord) -> bool:
    """Whether SQS will move this message to its DLQ if this delivery fails (no limit: never)."""
    limit = env_int("MAX_RECEIVE_COUNT", 0)
    return limit > 0 and int(record.attributes.approximate_receive_count or 1) >= limit


def failed_counts(message: ListTask | CopyBatch) -> Counts:
    """A whole message on the DLQ: a key range, or every key of a batch."""
    return Counts(keys_failed=len(message.items)) if isinstance(message, CopyBatch) else Counts(ranges_failed=1)


def settle(record: SQSRecord, queue: str, counts: Mapping[str, Counts]) -> None:
    """Put the message's counts into its jobs' records (once), and end each job that has nothing
    open any more (unless the run that drains the job's own queues ends it)."""
    table = job_table()
    if table is None:
        return
    # One settle at a time in this process: a copier's records end together, and transactions on
    # one job item at once conflict (DynamoDB cancels all but one, and settle_jobs tries again).
    with _SETTLING:
        settled = table.settle_jobs(record.message_id, queue, counts)
    if not settled:
        logger.info("message settled before (a second delivery), or its job has no record: nothing added", extra={"message_id": record.message_id})
        return
    if os.environ.get(JOBS_ENDED_BY_RUN_ENV) == "true":
        return
    for job_id in counts:
        ended = table.finish_if_drained(job_id)
        if ended is not None:
            job_ended(ended)


def job_ended(record: JobRecord) -> None:
    """This function settled the job's last open message: log the end, and write the completion
    report where the stack names a report bucket (REPORT_BUCKET)."""
    logger.info("job finished", extra={"state": record.state, **record.counts.to_dict()})
    bucket = os.environ.get("REPORT_BUCKET")
    if not bucket:
        return
    key, _ = configuration()
    dead_letter_urls = {queue: os.environ[env] for queue, env in DEAD_LETTER_ENV.items() if os.environ.get(env)}
    try:
        letters = job_letters(clients.sqs(), dead_letter_urls, record.job_id, key)
        uri = write_to_s3(clients.s3(), bucket, os.environ.get("REPORT_PREFIX", ""), record, letters)
    except (ClientError, BotoCoreError):
        # The job is settled: failing the record would only drop its next delivery as a duplicate.
        logger.exception("completion report not written; 'python -m seed status' still shows the job")
        return
    logger.info("completion report written", extra={"report": uri, "failures": len(letters)})


def refuse(record: SQSRecord, code: str, reason: str, dead_letter_env: str, by: str) -> None:
    logger.error("message refused and sent to the dead-letter queue", extra={"message_id": record.message_id, "code": code, "reason": reason})
    dead_letter_message(clients.sqs(), env_str(dead_letter_env), record.body, code=code, reason=reason, by=by)
    add_metric("InvalidMessages" if code == INVALID_MESSAGE else "MessagesRefused")


def report(job_id: str, counts: Counts) -> None:
    """The counts of one record as metrics and as a progress event (local mode listens)."""
    with _REPORTING:
        metrics.add_metric(name="MessagesProcessed", unit=MetricUnit.Count, value=1)
        for name, in_bytes, value in counts.metrics():
            metrics.add_metric(name=name, unit=MetricUnit.Bytes if in_bytes else MetricUnit.Count, value=value)
        progress_events.publish(job_id, counts)
