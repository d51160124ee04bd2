"""Lambda entry point of the copier: each SQS record is one CopyBatch of up to 100 keys, or one
large object, or one part task of a large object's multipart copy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from s3fanout.backoff import DEFAULT_MAX_ATTEMPTS
from s3fanout.copying.batch import copy_batch, dispatch_failures
from s3fanout.copying.limit import DEFAULT_CONCURRENCY, environment_limit
from s3fanout.copying.multipart import MultipartSettings
from s3fanout.copying.stream import StreamSettings
from s3fanout.counts import Counts
from s3fanout.envvars import env_int, env_str
from s3fanout.handling import batch_processor, bucket_clients, handle_record, logger, metrics, must_stream, outbox
from s3fanout.messages import CopyBatch

# Its records at once: they share the copies in flight (COPY_CONCURRENCY), see ConcurrentBatchProcessor.
processor = batch_processor(concurrent=True)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    copy_record(record, lambda_context.get_remaining_time_in_millis)


def copy_record(record: SQSRecord, remaining_ms: Callable[[], int] | None = None) -> None:
    # A batch delivered before may have been worked on: its version stacks check the destination first.
    redelivered = int(record.attributes.approximate_receive_count or 1) > 1
    handle_record(record, CopyBatch, "copy", lambda batch: copy_keys(batch, remaining_ms, redelivered))


def copy_keys(batch: CopyBatch, remaining_ms: Callable[[], int] | None, redelivered: bool = False) -> Counts:
    limit = environment_limit(env_int("COPY_CONCURRENCY", DEFAULT_CONCURRENCY))
    # S3 serves a copy in the destination's region, as the destination's identity (which must be
    # allowed to read the source); a multipart copy reads the source's metadata as the source's.
    source_s3, s3 = bucket_clients(batch)
    # Sides on different endpoints or profiles: no server-side copy reaches both, so stream.
    stream = StreamSettings.from_env() if must_stream() else None
    limit.watch(s3)
    throttled_before = limit.throttled_attempts
    max_attempts = env_int("COPY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)
    outcome = copy_batch(
        batch,
        s3=s3,
        source_s3=source_s3,
        limit=limit,
        max_attempts=max_attempts,
        multipart=MultipartSettings.from_env(),
        remaining_ms=remaining_ms,
        stream=stream,
        redelivered=redelivered,
    )
    counts = outcome.counts(throttled_attempts=limit.throttled_attempts - throttled_before)
    if counts.throttled_attempts or counts.keys_throttled:
        logger.warning("S3 is throttling copies: concurrency lowered", extra=counts.to_dict() | {"concurrency": limit.limit, "maximum": limit.maximum})
    for level, text, fields in outcome.key_events():
        getattr(logger, level)(text, extra=fields)
    # Only when the failed keys are safely on a queue does this record count as done; otherwise
    # raising makes SQS deliver the whole batch again.
    dispatch_failures(batch, outcome, outbox=outbox(), dead_letter_url=env_str("COPY_DLQ_URL"), s3=s3)
    return counts


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
