"""What both Lambda handlers share: the Powertools objects, the configuration read once per
execution environment, the admission of a record (or its refusal to the DLQ), and the counts
turned into metrics and progress events.

Each handler (list_objects/app.py, copy_objects/app.py) is then its record's logic only.
"""

from __future__ import annotations

import functools

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from s3fanout import clients, progress_events
from s3fanout.counts import Counts
from s3fanout.deadletter import INVALID_MESSAGE, dead_letter_message
from s3fanout.envvars import env_str
from s3fanout.guard import HopLimitExceeded, Kind, Scope, admit, function_key
from s3fanout.messages import InvalidMessage
from s3fanout.signing import MessageKey

logger = Logger()
metrics = Metrics()


def batch_processor() -> BatchProcessor:
    """A processor for one handler's SQS records. When every record fails it answers with every
    record in batchItemFailures rather than raising: SQS retries the same messages either way,
    and the response stays exact."""
    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@functools.cache
def configuration() -> tuple[MessageKey, Scope]:
    """The message key and the scope, read once per execution environment."""
    return function_key(), Scope.from_env()


def admit_record(record: SQSRecord, kind: type[Kind], dead_letter_env: str, by: str) -> Kind | None:
    """The record's message, if its seal, kind and scope allow it. Otherwise the record goes to its
    DLQ at once, unchanged, with the reason (no delivery could carry it out), and None is returned.
    The message's job and buckets become context keys of every log line that follows."""
    key, scope = configuration()
    try:
        message = admit(record.body, key, scope, kind)
    except (InvalidMessage, HopLimitExceeded) as error:
        refuse(record, HopLimitExceeded.code if isinstance(error, HopLimitExceeded) else INVALID_MESSAGE, str(error), dead_letter_env, by)
        return None
    logger.append_keys(job_id=message.job_id, source_bucket=message.source_bucket, dest_bucket=message.dest_bucket)
    return message


def refuse(record: SQSRecord, code: str, reason: str, dead_letter_env: str, by: str) -> None:
    logger.error("message refused and sent to the dead-letter queue", extra={"message_id": record.message_id, "code": code, "reason": reason})
    dead_letter_message(clients.sqs(), env_str(dead_letter_env), record.body, code=code, reason=reason, by=by)
    metrics.add_metric(name="InvalidMessages" if code == INVALID_MESSAGE else "MessagesRefused", unit=MetricUnit.Count, value=1)


def report(job_id: str, counts: Counts) -> None:
    """The counts of one record as metrics and as a progress event (local mode listens)."""
    metrics.add_metric(name="MessagesProcessed", unit=MetricUnit.Count, value=1)
    for name, in_bytes, value in counts.metrics():
        metrics.add_metric(name=name, unit=MetricUnit.Bytes if in_bytes else MetricUnit.Count, value=value)
    progress_events.publish(job_id, counts)
