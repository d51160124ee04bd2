"""Putting work on a dead-letter queue from the functions: the message attributes that say who
put it there and why, so that the operator's commands (dlq.py) can explain and redrive it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3fanout.queues import send_messages

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# Message attributes on what the tool puts on a DLQ itself, as opposed to whole messages SQS moved
# there after too many failed deliveries: who sent it ("lister" or "copier") and, for a whole
# message, why (a code and a reason).
DEAD_LETTERED_BY = "DeadLetteredBy"
DEAD_LETTER_REASON = "DeadLetterReason"
DEAD_LETTER_CODE = "DeadLetterCode"
INVALID_MESSAGE = "InvalidMessage"
# Whole messages refused for a reason that redriving can cure, as opposed to unreadable ones.
HOP_LIMIT_EXCEEDED = "HopLimitExceeded"


def dead_letter_attributes(by: str, reason: str | None = None, code: str = INVALID_MESSAGE) -> dict[str, str]:
    if not reason:
        return {DEAD_LETTERED_BY: by}
    return {DEAD_LETTERED_BY: by, DEAD_LETTER_REASON: reason[:1000], DEAD_LETTER_CODE: code}


def dead_letter_message(sqs: SQSClient, dead_letter_url: str, body: str, *, code: str, reason: str, by: str) -> None:
    """Put a whole message on the DLQ at once, unchanged, with the code and reason of its refusal
    (unreadable, outside the stack's scope, past the hop bound, a listing that broke the rules),
    instead of letting it fail on every delivery."""
    send_messages(sqs, dead_letter_url, [body], attributes=dead_letter_attributes(by, reason, code))
