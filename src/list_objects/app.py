"""Lambda entry point of the lister: each SQS record is one ListTask (a key range to list)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from s3fanout.counts import Counts
from s3fanout.handling import batch_processor, bucket_clients, handle_record, logger, metrics, outbox, refuse
from s3fanout.lister import list_range
from s3fanout.messages import ListTask
from s3fanout.s3errors import ListingError

processor = batch_processor()


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    def list_task(task: ListTask) -> Counts:
        logger.append_keys(mode=task.mode, prefix=task.prefix, range_after=task.after, range_until=task.until)
        source_s3, dest_s3 = bucket_clients(task)
        try:
            outcome = list_range(task, s3=source_s3, dest_s3=dest_s3, outbox=outbox(), remaining_ms=lambda_context.get_remaining_time_in_millis)
        except ListingError as error:
            # The store broke a rule listing relies on: asking again would loop or miss keys.
            refuse(record, error.code, str(error), "LIST_DLQ_URL", by="lister")
            return Counts(ranges_failed=1)
        counts = outcome.counts
        if outcome.handed_on:
            logger.info("time running out: rest of the range handed on", extra={"keys": counts.keys_listed, "resume_after": outcome.handed_on.after})
        else:
            logger.info("range listed", extra=counts.to_dict())
        return counts

    handle_record(record, ListTask, "list", list_task)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
