"""Lambda entry point of the replicator (the stack's Replication=true): each SQS record is one
message S3 sent to the stack's event queue, whose object events are applied to the destination
by replication.apply_batch (the ordering rule: a destination never goes back in time)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from s3fanout import clients
from s3fanout.copying.batch import copy_batch
from s3fanout.deadletter import INVALID_MESSAGE
from s3fanout.guard import Scope
from s3fanout.handling import batch_processor, last_delivery, logger, metrics, refuse
from s3fanout.messages import CopyBatch, CopyItem
from s3fanout.replication import Applied, InvalidEvent, ObjectEvent, Outcome, apply_batch, parse_message
from s3fanout.s3errors import S3Failure

DEAD_LETTER_ENV = "EVENT_DLQ_URL"
BY = "replicator"
# S3's answers to a multipart copy pinned to an ETag the source no longer has, or of a key gone.
_STALE_OR_GONE = frozenset({"412", "PreconditionFailed", "404", "NoSuchKey"})

processor = batch_processor()


@functools.cache
def scope() -> Scope:
    """The buckets, prefix, delete permission and owners this function serves (its environment)."""
    return Scope.from_env()


def outcome_metric(outcome: Outcome | str) -> str:
    """"skipped-stale" -> "EventsSkippedStale"."""
    return "Events" + "".join(part.title() for part in str(outcome).split("-"))


def record_handler(record: SQSRecord) -> None:
    try:
        events = parse_message(record.body)
    except InvalidEvent as error:
        # No delivery can make it an object event: to the DLQ at once, with the reason.
        refuse(record, INVALID_MESSAGE, str(error), DEAD_LETTER_ENV, by=BY)
        return
    if not events:
        return  # s3:TestEvent, or events that are neither creations nor deletions
    served = scope()
    source_s3, dest_s3 = clients.s3(), clients.s3()
    for s3 in (source_s3, dest_s3):
        clients.expect_bucket_owners(s3, served.owners(served.source_bucket, served.dest_bucket))
    receives = int(record.attributes.approximate_receive_count or 1)
    try:
        results = apply_batch(
            events,
            source_s3=source_s3,
            dest_s3=dest_s3,
            source_bucket=served.source_bucket,
            dest_bucket=served.dest_bucket,
            prefix=served.prefix,
            allow_delete=served.allow_delete,
            reconcile=receives > 1,
        )
    except S3Failure as failure:
        metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=len(events))
        keys = [event.key for event in events]
        if not failure.permanent:
            logger.warning("events failed; SQS will deliver them again", extra={"keys": keys, "code": failure.code, "reason": failure.message, "receives": receives})
            raise
        logger.error("events failed permanently", extra={"keys": keys, "code": failure.code, "reason": failure.message, "receives": receives})
        if not last_delivery(record):
            raise
        refuse(record, failure.code, f"failed on each of {receives} deliveries; keys {keys}: {failure.message}", DEAD_LETTER_ENV, by=BY)
        return
    now = datetime.now(UTC)
    for applied in results:
        outcome = copy_large_object(applied, served, source_s3, dest_s3) if applied.outcome is Outcome.NEEDS_MULTIPART else applied.outcome
        metrics.add_metric(name=outcome_metric(outcome), unit=MetricUnit.Count, value=1)
        logger.info("event applied", extra={"key": applied.event.key, "event": applied.event.name, "outcome": str(outcome), "reason": applied.reason})
        if applied.event.time is not None and applied.changed:
            metrics.add_metric(name="ReplicationLagSeconds", unit=MetricUnit.Seconds, value=max(0.0, (now - applied.event.time).total_seconds()))


def copy_large_object(applied: Applied, served: Scope, source_s3: Any, dest_s3: Any) -> Outcome:
    """An object above CopyObject's 5 GiB, copied in parts by the copiers' own path, pinned to the
    event's ETag (a newer write fails it as PreconditionFailed: its own event copies it). A failure
    that another delivery may not hit fails the record."""
    event: ObjectEvent = applied.event
    item = CopyItem(event.key, event.size or 0, applied.etag or event.etag)
    outcome = copy_batch(CopyBatch("replicate", served.source_bucket, served.dest_bucket, (item,)), s3=dest_s3, source_s3=source_s3)
    if outcome.copied:
        return Outcome.COPIED
    for entries, permanent in ((outcome.dead, True), (outcome.retry, False)):
        for entry in entries:
            if entry.failure is None:
                continue
            if entry.failure.code in _STALE_OR_GONE:
                return Outcome.SKIPPED_STALE
            raise S3Failure(entry.failure.code, f"{event.key!r}: {entry.failure.message}", permanent=permanent)
    raise S3Failure("CopyFailed", f"{event.key!r}: not copied", permanent=False)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
