"""Lambda entry point of the copier: each SQS record is one CopyBatch of up to 100 keys, or one
large object, or one part task of a large object's multipart copy."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from s3fanout import clients, telemetry
from s3fanout.copier import DEFAULT_CONCURRENCY, DEFAULT_MAX_ATTEMPTS, ConcurrencyLimit, copy_batch, dispatch_failures
from s3fanout.dlq import dead_letter_message
from s3fanout.guard import HopLimitExceeded, Scope, admit, function_key
from s3fanout.messages import CopyBatch, CopyItem, InvalidMessage
from s3fanout.multipart import MultipartSettings
from s3fanout.settings import env_int, env_str
from s3fanout.signing import MessageKey

logger = Logger()
metrics = Metrics()
# When every record fails, answer with every record in batchItemFailures rather than raising:
# SQS retries the same messages either way, and the response stays exact.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    try:
        copy_record(record, lambda_context.get_remaining_time_in_millis)
    except Exception:
        logger.exception("copy batch failed; SQS will deliver it again", extra={"message_id": record.message_id})
        metrics.add_metric(name="CopyBatchesFailed", unit=MetricUnit.Count, value=1)
        raise


@functools.cache
def configuration() -> tuple[MessageKey, Scope]:
    """The message key and the scope, read once per execution environment."""
    return function_key(), Scope.from_env()


def copy_record(record: SQSRecord, remaining_ms: Callable[[], int] | None = None) -> None:
    key, scope = configuration()
    try:
        batch: CopyBatch = admit(record.body, key, scope, CopyBatch)
    except InvalidMessage as error:
        refuse(record, "InvalidMessage", str(error))
        return
    except HopLimitExceeded as error:
        refuse(record, HopLimitExceeded.code, str(error))
        return
    limit = concurrency_limit(env_int("COPY_CONCURRENCY", DEFAULT_CONCURRENCY))
    s3 = clients.s3()
    clients.expect_bucket_owners(s3, scope.owners(batch.source_bucket, batch.dest_bucket))
    limit.watch(s3)
    throttled_before = limit.throttled_attempts
    outcome = copy_batch(
        batch,
        s3=s3,
        limit=limit,
        max_attempts=env_int("COPY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS),
        multipart=MultipartSettings.from_env(),
        remaining_ms=remaining_ms,
    )
    throttled_attempts = limit.throttled_attempts - throttled_before
    if throttled_attempts or outcome.throttled:
        logger.warning(
            "S3 is throttling copies: concurrency lowered",
            extra={"throttled_attempts": throttled_attempts, "throttled_keys": outcome.throttled, "concurrency": limit.limit, "maximum": limit.maximum},
        )
    metrics.add_metric(name="ThrottledAttempts", unit=MetricUnit.Count, value=throttled_attempts)
    for item in outcome.retry:
        logger.warning("copy failed, will retry", extra=_failure_fields(batch, item))
    for item in outcome.dead:
        logger.error("copy failed, key sent to the dead-letter queue", extra=_failure_fields(batch, item))
    for task in outcome.handed_on:
        assert task.parts is not None
        logger.info(
            "multipart copy handed on as a part task",
            extra=_where(batch, task) | {"upload_id": task.parts.upload_id, "first_part": task.parts.first, "last_part": task.parts.last, "part_size": task.parts.part_size},
        )
    for item, reason in outcome.dropped:
        logger.warning("part task dropped: nothing left to do", extra=_where(batch, item) | {"reason": reason})
    # Only when the failed keys are safely on a queue does this record count as done; otherwise
    # raising makes SQS deliver the whole batch again.
    dispatch_failures(
        batch,
        outcome,
        sqs=clients.sqs(),
        key=key,
        copy_queue_url=env_str("COPY_QUEUE_URL"),
        dead_letter_url=env_str("COPY_DLQ_URL"),
        s3=s3,
    )
    metrics.add_metric(name="ObjectsCopied", unit=MetricUnit.Count, value=len(outcome.copied))
    metrics.add_metric(name="BytesCopied", unit=MetricUnit.Bytes, value=outcome.copied_bytes)
    metrics.add_metric(name="KeysRetried", unit=MetricUnit.Count, value=len(outcome.retry))
    metrics.add_metric(name="KeysFailed", unit=MetricUnit.Count, value=len(outcome.dead))
    metrics.add_metric(name="KeysThrottled", unit=MetricUnit.Count, value=outcome.throttled)
    metrics.add_metric(name="PartTasksQueued", unit=MetricUnit.Count, value=len(outcome.handed_on))
    metrics.add_metric(name="PartTasksDropped", unit=MetricUnit.Count, value=len(outcome.dropped))
    telemetry.publish(
        "copied",
        job_id=batch.job_id,
        objects=len(outcome.copied),
        bytes=outcome.copied_bytes,
        retried=len(outcome.retry),
        failed=len(outcome.dead),
    )


@functools.cache
def concurrency_limit(maximum: int) -> ConcurrencyLimit:
    """One limit per execution environment: throttling seen by one invocation slows the next."""
    return ConcurrencyLimit(maximum)


def _where(batch: CopyBatch, item: CopyItem) -> dict[str, Any]:
    return {"job_id": batch.job_id, "source_bucket": batch.source_bucket, "dest_bucket": batch.dest_bucket, "key": item.key, "size": item.size}


def _failure_fields(batch: CopyBatch, item: CopyItem) -> dict[str, Any]:
    assert item.failure is not None
    return {
        "job_id": batch.job_id,
        "source_bucket": batch.source_bucket,
        "dest_bucket": batch.dest_bucket,
        "key": item.key,
        "error_code": item.failure.code,
        "error_message": item.failure.message,
        "attempts": item.failure.attempts,
    }


def refuse(record: SQSRecord, code: str, reason: str) -> None:
    """A batch no delivery can carry out goes to the DLQ with the reason now, touching nothing."""
    logger.error("copy batch refused and sent to the dead-letter queue", extra={"message_id": record.message_id, "code": code, "reason": reason})
    dead_letter_message(clients.sqs(), env_str("COPY_DLQ_URL"), record.body, code=code, reason=reason, by="copier")
    metrics.add_metric(name="InvalidMessages" if code == "InvalidMessage" else "CopyBatchesRefused", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
