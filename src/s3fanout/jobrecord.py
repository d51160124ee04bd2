"""The job record: one DynamoDB item per job, kept exact by the listers and copiers, read by
``status``, ``jobs``, ``cancel``, ``--wait`` and the end of a local run.

One table, hash key ``id``, two kinds of item:

- ``job#<job id>``: what the job copies, its state (running, succeeded, failed, cancelled), its
  times, every ``Counts`` field, and ``list_open`` / ``copy_open``: the job's messages on the list
  and copy queues that are not done yet. Job items also carry ``listing`` = "job" and ``started``,
  the keys of the sparse ``recent`` index that ``jobs`` reads newest first.
- ``done#<job id>#<SQS message id>``: the marker of a message whose counts are in the record.

Exact under redelivery: a message's counts go into the record in one transaction with the put of
its marker, conditional on the marker not existing; a second delivery of a message that was
already settled (a crash after the transaction, before SQS deleted it) finds the marker first and
is dropped without work, and if it raced past that check its transaction fails and adds nothing.

Over when nothing is open: a message is counted open *before* it is sent (``opened``) and done
when it is settled, so ``list_open + copy_open`` never falls below the number of the job's
messages really on the queues, whatever order listers and copiers finish in. A worker that dies
between counting and sending leaves the count high (the job looks unfinished, never finished
early); the runners notice queues that stay empty under an open count and say so.

Costs (on-demand): per message a BatchGetItem of 2 items (cancelled? already settled?), one
TransactWriteItems of 2 items (4 write units), one GetItem after it; one UpdateItem per
SendMessageBatch of up to ten messages. About $0.03 per million keys copied (README).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from s3fanout.backoff import backoff_seconds
from s3fanout.counts import Counts

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

LOCAL_TABLE_NAME = "s3fanout-jobs"
RECENT_INDEX = "recent"
DEFAULT_RECORD_DAYS = 90
# A settled message's marker outlives every redelivery of it: SQS keeps a message 14 days at most.
MARKER_DAYS = 15
# Tries of a settle that conflicts with another transaction on its job's item.
SETTLE_ATTEMPTS = 6
QUEUES = ("list", "copy")
# A message's jobs are settled in one transaction of two items each (DynamoDB takes 100).
MAX_JOBS_PER_MESSAGE = 50
# "true" in local workers' environment on a job's own queues: the run draining them ends its jobs
# itself (it waits for the record to drain), so a settle skips finish_if_drained's read.
JOBS_ENDED_BY_RUN_ENV = "JOBS_ENDED_BY_RUN"

RUNNING, SUCCEEDED, FAILED, CANCELLED = "running", "succeeded", "failed", "cancelled"

_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize


class JobNotFound(LookupError):
    """No record of that job in the table."""


class JobNotRunning(RuntimeError):
    """The job ended (or was cancelled) already: ``record`` says how."""

    def __init__(self, record: JobRecord) -> None:
        super().__init__(f"job {record.job_id} is {record.state}")
        self.record = record


class Verdict(Enum):
    """What a handler does with a message, as the record says before any work."""

    WORK = "work"
    CANCELLED = "cancelled"  # drop it without work, counted as dropped
    DUPLICATE = "duplicate"  # settled already: drop it, count nothing
    UNTRACKED = "untracked"  # the job has no record (seeded by hand, or expired): work, record nothing


@dataclass(frozen=True, slots=True)
class NewJob:
    job_id: str
    source_bucket: str
    dest_bucket: str
    prefix: str
    mode: str  # "copy", "sync" (compare with the destination) or "delete" (the orphan pass)
    list_open: int  # the list tasks the CLI is about to send
    delete_requested: bool = False  # a delete pass follows a clean copy pass
    options: Mapping[str, Any] = field(default_factory=dict)
    where: str = "local"
    # What the CLI counted itself: the keys its first pages decided (job.seed_plan).
    counts: Counts = field(default_factory=Counts)


@dataclass(frozen=True, slots=True)
class JobRecord:
    job_id: str
    source_bucket: str
    dest_bucket: str
    prefix: str
    mode: str
    state: str
    started: str
    finished: str | None
    updated: str | None
    counts: Counts
    list_open: int
    copy_open: int
    delete_requested: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    where: str = "local"

    @property
    def open_messages(self) -> int:
        return self.list_open + self.copy_open

    @property
    def drained(self) -> bool:
        """Nothing of the job is open on its queues."""
        return self.list_open <= 0 and self.copy_open <= 0

    @property
    def failures(self) -> int:
        return self.counts.keys_failed + self.counts.ranges_failed

    @property
    def destination(self) -> str:
        """Where the job writes: its bucket, under its --dest-prefix or the source's prefix."""
        written = self.options.get("dest_prefix")
        return f"s3://{self.dest_bucket}/{self.prefix if written is None else written}"

    def seconds(self, now: datetime | None = None) -> float:
        end = parse_time(self.finished) if self.finished else (now or datetime.now(UTC))
        return max(0.0, (end - parse_time(self.started)).total_seconds())

    def to_status(self) -> dict[str, Any]:
        """The ``status --json`` object."""
        counts = self.counts
        return {
            "job_id": self.job_id,
            "state": self.state,
            "source": f"s3://{self.source_bucket}/{self.prefix}",
            "destination": self.destination,
            "mode": self.mode,
            "where": self.where,
            "listed": counts.keys_listed,
            "copied": counts.objects_copied,
            "skipped": counts.keys_skipped,
            "failed": counts.keys_failed,
            "ranges_failed": counts.ranges_failed,
            "deleted": counts.objects_deleted,
            "orphans": counts.orphans_found,
            "dropped": counts.messages_dropped,
            "bytes_listed": counts.bytes_listed,
            "bytes_copied": counts.bytes_copied,
            "bytes_streamed": counts.bytes_streamed,
            "versions_copied": counts.versions_copied,
            "delete_markers_written": counts.delete_markers_written,
            "list_tasks_open": max(0, self.list_open),
            "copy_messages_open": max(0, self.copy_open),
            "started": self.started,
            "finished": self.finished,
            "seconds": round(self.seconds(), 1),
            "options": dict(self.options),
            "counts": counts.to_dict(),
        }


def record_from_status(status: Mapping[str, Any]) -> JobRecord:
    """A record from its ``to_status`` object (as local runs keep it on disk)."""
    source = str(status["source"]).removeprefix("s3://")
    destination = str(status["destination"]).removeprefix("s3://")
    return JobRecord(
        job_id=str(status["job_id"]),
        source_bucket=source.split("/", 1)[0],
        dest_bucket=destination.split("/", 1)[0],
        prefix=source.split("/", 1)[1] if "/" in source else "",
        mode=str(status.get("mode", "copy")),
        state=str(status["state"]),
        started=str(status["started"]),
        finished=status.get("finished"),
        updated=None,
        counts=Counts.from_dict(status.get("counts", {})),
        list_open=int(status.get("list_tasks_open", 0)),
        copy_open=int(status.get("copy_messages_open", 0)),
        options=dict(status.get("options") or {}),
        where=str(status.get("where", "local")),
    )


def _plain(value: Any) -> Any:
    """DynamoDB's numbers (Decimal) as int or float, inside maps and lists too."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {name: _plain(item) for name, item in value.items()}
    if isinstance(value, list | set):
        return [_plain(item) for item in value]
    return value


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _job_key(job_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"id": {"S": f"job#{job_id}"}}


def _marker_key(job_id: str, message_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"id": {"S": f"done#{job_id}#{message_id}"}}


def _values(values: Mapping[str, Any]) -> dict[str, AttributeValueTypeDef]:
    return {name: _serialize(value) for name, value in values.items()}


def _adds(counts: Counts, list_delta: int = 0, copy_delta: int = 0) -> tuple[str, dict[str, Any]]:
    """An ADD clause for every count that is not zero, and the open counters' changes."""
    values = {name: value for name, value in counts.items() if value}
    if list_delta:
        values["list_open"] = list_delta
    if copy_delta:
        values["copy_open"] = copy_delta
    clause = ", ".join(f"{name} :{name}" for name in values)
    return clause, {f":{name}": value for name, value in values.items()}


def _record(item: Mapping[str, AttributeValueTypeDef]) -> JobRecord:
    data = {name: _deserialize(value) for name, value in item.items()}
    return JobRecord(
        job_id=str(data["job_id"]),
        source_bucket=str(data.get("source_bucket", "")),
        dest_bucket=str(data.get("dest_bucket", "")),
        prefix=str(data.get("prefix", "")),
        mode=str(data.get("mode", "copy")),
        state=str(data.get("state", RUNNING)),
        started=str(data.get("started", "")),
        finished=str(data["finished"]) if data.get("finished") else None,
        updated=str(data["updated"]) if data.get("updated") else None,
        counts=Counts.from_dict({name: int(value) for name, value in data.items() if isinstance(value, Decimal)}),
        list_open=int(data.get("list_open", 0)),
        copy_open=int(data.get("copy_open", 0)),
        delete_requested=bool(data.get("delete_requested", False)),
        options=_plain(data.get("options") or {}),
        where=str(data.get("where", "local")),
    )


@dataclass(frozen=True)
class JobTable:
    """A job table: the stack's (``JOB_TABLE``) or local mode's (``s3fanout-jobs``)."""

    dynamodb: DynamoDBClient
    name: str
    record_days: int = DEFAULT_RECORD_DAYS

    # ------------------------------------------------------------------ the CLI's side

    def create(self, job: NewJob) -> None:
        """The record of a job about to be seeded, with its list tasks counted open and what the
        CLI counted itself."""
        started = now_text()
        item = {
            "id": f"job#{job.job_id}",
            "listing": "job",
            "job_id": job.job_id,
            "source_bucket": job.source_bucket,
            "dest_bucket": job.dest_bucket,
            "prefix": job.prefix,
            "mode": job.mode,
            "delete_requested": job.delete_requested,
            "options": dict(job.options),
            "where": job.where,
            "state": RUNNING,
            "started": started,
            "updated": started,
            "list_open": job.list_open,
            "copy_open": 0,
        } | {name: value for name, value in job.counts.items() if value}
        self.dynamodb.put_item(TableName=self.name, Item=_values(item), ConditionExpression="attribute_not_exists(id)")

    def start_delete_pass(self, job_id: str, list_open: int) -> None:
        """The orphan pass of a job whose copy pass ended clean: its list tasks counted open."""
        self.dynamodb.update_item(
            TableName=self.name,
            Key=_job_key(job_id),
            UpdateExpression="SET #mode = :delete, updated = :now ADD list_open :open",
            ExpressionAttributeNames={"#mode": "mode"},
            ExpressionAttributeValues=_values({":delete": "delete", ":now": now_text(), ":open": list_open}),
        )

    def reopen(self, job_id: str, queue: str, messages: int, keys_back: int = 0, ranges_back: int = 0) -> bool:
        """Failures redriven: their messages open again and no longer count as failed. False when
        the job has no record."""
        values = {":n": messages, ":running": RUNNING, ":now": now_text(), ":kb": -keys_back, ":rb": -ranges_back, ":cancelled": CANCELLED}
        update = f"SET #state = :running, updated = :now REMOVE finished, expires ADD {queue}_open :n, keys_failed :kb, ranges_failed :rb"
        return self._update_if(job_id, update, "attribute_exists(id) AND #state <> :cancelled", values) is not None

    def cancel(self, job_id: str) -> JobRecord:
        """Mark a running job cancelled: its messages are dropped unworked from now on. JobNotFound
        or JobNotRunning when there is no such job or it is not running."""
        values = {":cancelled": CANCELLED, ":running": RUNNING, ":now": now_text()}
        record = self._update_if(job_id, "SET #state = :cancelled, updated = :now", "attribute_exists(id) AND #state = :running", values)
        if record is None:
            current = self.get(job_id)
            if current is None:
                raise JobNotFound(job_id)
            raise JobNotRunning(current)
        self.finish_if_drained(job_id)
        return record

    def get(self, job_id: str) -> JobRecord | None:
        item = self.dynamodb.get_item(TableName=self.name, Key=_job_key(job_id), ConsistentRead=True).get("Item")
        return _record(item) if item else None

    def recent(self, limit: int = 20) -> list[JobRecord]:
        """The newest jobs first (the ``recent`` index holds keys only; the items are read after)."""
        answer = self.dynamodb.query(
            TableName=self.name,
            IndexName=RECENT_INDEX,
            KeyConditionExpression="listing = :job",
            ExpressionAttributeValues={":job": {"S": "job"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        keys = [{"id": item["id"]} for item in answer.get("Items", [])]
        records = {record.job_id: record for record in self._batch_get(keys)}
        ordered = [str(item["id"].get("S", "")).removeprefix("job#") for item in answer.get("Items", [])]
        return [records[job_id] for job_id in ordered if job_id in records]

    def _batch_get(self, keys: list[dict[str, AttributeValueTypeDef]]) -> Iterator[JobRecord]:
        for start in range(0, len(keys), 100):
            for item in self._get_items(keys[start : start + 100]):
                if str(item["id"].get("S", "")).startswith("job#"):
                    yield _record(item)

    def _get_items(self, keys: list[dict[str, AttributeValueTypeDef]]) -> list[dict[str, AttributeValueTypeDef]]:
        """BatchGetItem, consistent, asking again for what DynamoDB leaves unprocessed."""
        items: list[dict[str, AttributeValueTypeDef]] = []
        wanted = keys
        for attempt in range(8):
            if not wanted:
                break
            answer = self.dynamodb.batch_get_item(RequestItems={self.name: {"Keys": wanted, "ConsistentRead": True}})
            items += answer.get("Responses", {}).get(self.name, [])
            unprocessed = answer.get("UnprocessedKeys", {}).get(self.name)
            wanted = list(unprocessed["Keys"]) if unprocessed else []
            if wanted:
                time.sleep(backoff_seconds(attempt, base=0.05, cap=2.0))
        if wanted:
            raise RuntimeError(f"DynamoDB left {len(wanted)} keys of {self.name} unread")
        return items

    # --------------------------------------------------------------- the handlers' side

    def verdict(self, job_id: str, message_id: str) -> Verdict:
        """Before any work: is the job cancelled, or this message settled already?"""
        return self.verdicts([job_id], message_id)[job_id]

    def verdicts(self, job_ids: Sequence[str], message_id: str) -> dict[str, Verdict]:
        """``verdict`` for each job of a message (a list task of several destinations has one job
        per destination), in one read. The message's markers are written together, so a message
        settled before is a DUPLICATE for every job."""
        items = self._get_items([key for job_id in job_ids for key in (_job_key(job_id), _marker_key(job_id, message_id))])
        by_id = {str(item["id"].get("S", "")): item for item in items}
        if any(f"done#{job_id}#{message_id}" in by_id for job_id in job_ids):
            return dict.fromkeys(job_ids, Verdict.DUPLICATE)
        verdicts = {}
        for job_id in job_ids:
            job = by_id.get(f"job#{job_id}")
            if job is None:
                verdicts[job_id] = Verdict.UNTRACKED
            else:
                verdicts[job_id] = Verdict.CANCELLED if job.get("state", {}).get("S") == CANCELLED else Verdict.WORK
        return verdicts

    def opened(self, job_id: str, queue: str, count: int) -> None:
        """``count`` messages of the job are about to be sent to ``queue`` (negative: were not)."""
        if count:
            self.dynamodb.update_item(
                TableName=self.name,
                Key=_job_key(job_id),
                UpdateExpression=f"SET updated = :now ADD {queue}_open :n",
                ExpressionAttributeValues=_values({":now": now_text(), ":n": count}),
            )

    def settle(self, job_id: str, message_id: str, queue: str, counts: Counts) -> bool:
        """A message done: its counts added and its queue's open count lowered, once. False when
        it had been settled already (a second delivery) or its job has no record, and nothing
        changed."""
        return self.settle_jobs(message_id, queue, {job_id: counts})

    def settle_jobs(self, message_id: str, queue: str, counts: Mapping[str, Counts]) -> bool:
        """``settle`` for every job of a message at once (one transaction: a marker and an update
        per job, so at most MAX_JOBS_PER_MESSAGE jobs), all or nothing."""
        expires = int(time.time()) + MARKER_DAYS * 86400
        items: list[TransactWriteItemTypeDef] = []
        for job_id, job_counts in counts.items():
            clause, values = _adds(job_counts, list_delta=-1 if queue == "list" else 0, copy_delta=-1 if queue == "copy" else 0)
            marker = {"id": f"done#{job_id}#{message_id}", "expires": expires}
            items.append({"Put": {"TableName": self.name, "Item": _values(marker), "ConditionExpression": "attribute_not_exists(id)"}})
            items.append(
                {
                    "Update": {
                        "TableName": self.name,
                        "Key": _job_key(job_id),
                        "UpdateExpression": f"SET updated = :now ADD {clause}",
                        # A message naming a job without a record must not create one.
                        "ConditionExpression": "attribute_exists(id)",
                        "ExpressionAttributeValues": _values(values | {":now": now_text()}),
                    }
                }
            )
        attempts = 0
        while True:
            try:
                self.dynamodb.transact_write_items(TransactItems=items)
                return True
            except ClientError as error:
                codes = {reason.get("Code") for reason in error.response.get("CancellationReasons") or []}
                if _code(error) != "TransactionCanceledException":
                    raise
                if "ConditionalCheckFailed" in codes:
                    return False
                # Another settle of the job was writing its item, and DynamoDB cancelled this one
                # (botocore does not retry that): up to a hundred copiers settle into one item.
                attempts += 1
                if "TransactionConflict" not in codes or attempts == SETTLE_ATTEMPTS:
                    raise
                time.sleep(backoff_seconds(attempts - 1, base=0.05, cap=2.0))

    def finish_if_drained(self, job_id: str) -> JobRecord | None:
        """Once nothing of the job is open, its end: state, end time and expiry set, once (the
        condition makes one caller win). The record when this call ended the job, else None. A
        copy pass that a delete pass should follow is left running: the CLI decides that."""
        record = self.get(job_id)
        if record is None or record.finished or not record.drained:
            return None
        if record.state == RUNNING and record.delete_requested and record.mode != "delete":
            return None
        return self.finish(job_id, record)

    def finish(self, job_id: str, record: JobRecord | None = None) -> JobRecord | None:
        """End the job now (the CLI, when it runs no delete pass after all)."""
        record = record or self.get(job_id)
        if record is None or record.finished:
            return None
        state = record.state if record.state == CANCELLED else (FAILED if record.failures else SUCCEEDED)
        finished = now_text()
        expires = int((datetime.now(UTC) + timedelta(days=self.record_days)).timestamp())
        values = {":state": state, ":finished": finished, ":expires": expires, ":was": record.state}
        update = "SET #state = :state, finished = :finished, updated = :finished, expires = :expires"
        return self._update_if(job_id, update, "attribute_not_exists(finished) AND #state = :was", values)

    def _update_if(self, job_id: str, update: str, condition: str, values: Mapping[str, Any]) -> JobRecord | None:
        """The job item updated when ``condition`` holds (``#state`` names its state): the record
        after it, or None when the condition did not hold."""
        try:
            answer = self.dynamodb.update_item(
                TableName=self.name,
                Key=_job_key(job_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=_values(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return None
            raise
        return _record(answer["Attributes"])


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def ensure_local_table(dynamodb: DynamoDBClient, name: str = LOCAL_TABLE_NAME) -> JobTable:
    """Local mode's job table on the configured DynamoDB endpoint, created like the stack's.

    Created first, described only once created (or where the caller may not create tables): a run
    on S3 starts a moto server of its own, where the table is always new, and a DescribeTable
    before would be one round trip more."""
    try:
        dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": "listing", "AttributeType": "S"},
                {"AttributeName": "started", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": RECENT_INDEX,
                    "KeySchema": [{"AttributeName": "listing", "KeyType": "HASH"}, {"AttributeName": "started", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
        )
    except ClientError as error:
        if _code(error) == "ResourceInUseException":
            return JobTable(dynamodb, name)  # made by an earlier run, or by one running now, which sets its expiry
        if _code(error) != "AccessDeniedException":
            raise
        dynamodb.describe_table(TableName=name)  # a table the caller may use but not create: there, or say why not
        return JobTable(dynamodb, name)
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"AttributeName": "expires", "Enabled": True})
    return JobTable(dynamodb, name)
