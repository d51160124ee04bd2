"""Lambda entry point of the lister: each SQS record is one ListTask (a key range to list)."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from s3fanout import clients, telemetry
from s3fanout.dlq import dead_letter_message
from s3fanout.guard import HopLimitExceeded, Scope, admit, function_key
from s3fanout.lister import list_range
from s3fanout.messages import InvalidMessage, ListTask
from s3fanout.s3ops import ListingError
from s3fanout.settings import env_str
from s3fanout.signing import MessageKey

logger = Logger()
metrics = Metrics()
# When every record fails, answer with every record in batchItemFailures rather than raising:
# SQS retries the same messages either way, and the response stays exact.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@functools.cache
def configuration() -> tuple[MessageKey, Scope]:
    """The message key and the scope, read once per execution environment."""
    return function_key(), Scope.from_env()


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    key, scope = configuration()
    try:
        task: ListTask = admit(record.body, key, scope, ListTask)
    except InvalidMessage as error:
        refuse(record, "InvalidMessage", str(error))
        return
    except HopLimitExceeded as error:
        refuse(record, HopLimitExceeded.code, str(error))
        return
    where = {
        "job_id": task.job_id,
        "mode": task.mode,
        "source_bucket": task.source_bucket,
        "prefix": task.prefix,
        "range_after": task.after,
        "range_until": task.until,
    }
    s3 = clients.s3()
    clients.expect_bucket_owners(s3, scope.owners(task.source_bucket, task.dest_bucket))
    try:
        outcome = list_range(
            task,
            s3=s3,
            sqs=clients.sqs(),
            key=key,
            list_queue_url=env_str("LIST_QUEUE_URL"),
            copy_queue_url=env_str("COPY_QUEUE_URL"),
            remaining_ms=lambda_context.get_remaining_time_in_millis,
        )
    except ListingError as error:
        # The store broke a rule listing relies on: asking again would loop or miss keys.
        logger.error("listing is not trustworthy; range sent to the dead-letter queue", extra=where | {"reason": str(error)})
        refuse(record, error.code, str(error))
        return
    except Exception:
        logger.exception("listing failed; the task will be retried", extra=where)
        metrics.add_metric(name="ListTasksFailed", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name="KeysListed", unit=MetricUnit.Count, value=outcome.keys)
    metrics.add_metric(name="BytesListed", unit=MetricUnit.Bytes, value=outcome.bytes)
    metrics.add_metric(name="CopyBatchesSent", unit=MetricUnit.Count, value=outcome.batches)
    metrics.add_metric(name="KeysSkipped", unit=MetricUnit.Count, value=outcome.skipped)
    metrics.add_metric(name="BytesSkipped", unit=MetricUnit.Bytes, value=outcome.skipped_bytes)
    metrics.add_metric(name="OrphansFound", unit=MetricUnit.Count, value=outcome.orphans)
    metrics.add_metric(name="ObjectsDeleted", unit=MetricUnit.Count, value=outcome.deleted)
    metrics.add_metric(name="RangesSplitOff", unit=MetricUnit.Count, value=outcome.split_off)
    if outcome.handed_on:
        logger.info("time running out: rest of the range handed on", extra=where | {"keys": outcome.keys, "resume_after": outcome.handed_on.after})
    else:
        logger.info(
            "range listed",
            extra=where | {"keys": outcome.keys, "skipped": outcome.skipped, "orphans": outcome.orphans, "deleted": outcome.deleted, "split_off": outcome.split_off},
        )
    telemetry.publish(
        "listed",
        job_id=task.job_id,
        keys=outcome.keys,
        bytes=outcome.bytes,
        skipped=outcome.skipped,
        skipped_bytes=outcome.skipped_bytes,
        orphans=outcome.orphans,
        deleted=outcome.deleted,
        split_off=outcome.split_off,
        handed_on=outcome.handed_on is not None,
    )


def refuse(record: SQSRecord, code: str, reason: str) -> None:
    """A task no delivery can carry out goes to the DLQ with the reason now, touching nothing."""
    logger.error("list task refused and sent to the dead-letter queue", extra={"message_id": record.message_id, "code": code, "reason": reason})
    dead_letter_message(clients.sqs(), env_str("LIST_DLQ_URL"), record.body, code=code, reason=reason, by="lister")
    metrics.add_metric(name="InvalidMessages" if code == "InvalidMessage" else "ListTasksRefused", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
