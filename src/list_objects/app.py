"""Lambda entry point of the lister: each SQS record is one ListTask (a key range to list, or a
part of a manifest to read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from s3fanout import clients
from s3fanout.counts import Counts
from s3fanout.envvars import env_str
from s3fanout.handling import batch_processor, bucket_clients, copy_spread, handle_record, logger, metrics, more_dest_clients, outbox, refuse
from s3fanout.lister import ListOutcome, list_range
from s3fanout.manifest import ManifestError
from s3fanout.manifest_listing import list_manifest_part
from s3fanout.messages import ListTask
from s3fanout.s3errors import ListingError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

processor = batch_processor()


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    def list_task(task: ListTask) -> Counts | dict[str, Counts]:
        logger.append_keys(mode=task.mode, prefix=task.prefix, range_after=task.after, range_until=task.until)
        source_s3, dest_s3 = bucket_clients(task)
        remaining_ms = lambda_context.get_remaining_time_in_millis
        try:
            if task.manifest is not None:
                return read_manifest_part(task, source_s3, dest_s3, remaining_ms)
            spread = copy_spread(remaining_ms)
            outcome = list_range(task, s3=source_s3, dest_s3=dest_s3, more_dest_s3=more_dest_clients(task), outbox=outbox(), remaining_ms=remaining_ms, spread=spread)
        except ListingError as error:
            # The store broke a rule listing relies on: asking again would loop or miss keys.
            refuse(record, error.code, str(error), "LIST_DLQ_URL", by="lister")
            return dict.fromkeys(task.job_ids, Counts(ranges_failed=1))
        except ManifestError as error:
            if not error.permanent:
                raise
            # A part that cannot be read as a manifest, or names another bucket: no delivery can help.
            refuse(record, MANIFEST_ERROR, str(error), "LIST_DLQ_URL", by="lister")
            return Counts(ranges_failed=1)
        counts = outcome.counts
        if outcome.handed_on:
            logger.info("time running out: rest of the range handed on", extra={"keys": counts.keys_listed, "resume_after": outcome.handed_on.after})
        else:
            logger.info("range listed", extra=counts.to_dict())
        return outcome.by_job(task)

    handle_record(record, ListTask, "list", list_task)


MANIFEST_ERROR = "ManifestError"


def read_manifest_part(task: ListTask, source_s3: S3Client, dest_s3: S3Client, remaining_ms: Callable[[], int]) -> Counts:
    """A manifest part's keys into copy batches; its files are read with the function's own
    credentials (the stack's ManifestBucket), whatever reaches the source."""
    assert task.manifest is not None
    logger.append_keys(manifest_part=task.manifest.describe(), skip_rows=task.skip_rows)
    outcome: ListOutcome = list_manifest_part(
        task,
        s3=source_s3,
        dest_s3=dest_s3,
        manifest_s3=clients.s3(),
        outbox=outbox(),
        copy_dead_letter_url=env_str("COPY_DLQ_URL"),
        remaining_ms=remaining_ms,
    )
    if outcome.handed_on:
        logger.info("time running out: rest of the manifest part handed on", extra={"keys": outcome.counts.keys_listed, "skip_rows": outcome.handed_on.skip_rows})
    else:
        logger.info("manifest part read", extra=outcome.counts.to_dict())
    return outcome.counts


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
