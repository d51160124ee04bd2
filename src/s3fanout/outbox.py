"""Where the job's work goes: list tasks and copy batches sealed with the message key and put on
their queues, each counted open in the job record *before* it is sent (jobrecord.py says why).

Listers, copiers, the seeding CLI and redrive all send through an Outbox; only dead letters,
which are not open work, go to their queues directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from s3fanout import progress_events
from s3fanout.messages import CopyBatch, ListTask
from s3fanout.queues import SendFailed, send_messages
from s3fanout.signing import MessageKey

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class Ledger(Protocol):
    def opened(self, job_id: str, queue: str, count: int) -> None:
        """``count`` messages of the job are about to be sent to ``queue`` (negative: were not)."""


@dataclass(frozen=True)
class Outbox:
    sqs: SQSClient
    key: MessageKey
    list_url: str | None
    copy_url: str | None
    # The job record counting what is open; None sends without counting (no record kept).
    ledger: Ledger | None = None

    def list_tasks(self, tasks: Sequence[ListTask]) -> None:
        self._send("list", self.list_url, tasks)

    def copy_batches(self, batches: Sequence[CopyBatch], delay_seconds: int | Sequence[int] = 0) -> None:
        """Put copy batches on the copy queue, all delayed by ``delay_seconds`` or (a sequence)
        each by its own."""
        self._send("copy", self.copy_url, batches, delay_seconds)

    def _send(self, queue: str, url: str | None, messages: Sequence[ListTask | CopyBatch], delay_seconds: int | Sequence[int] = 0) -> None:
        if not messages:
            return
        if url is None:
            raise ValueError(f"this outbox has no {queue} queue")
        delays = [delay_seconds] * len(messages) if isinstance(delay_seconds, int) else list(delay_seconds)
        # Ordered by job, so that what was not sent can be given back to the right records.
        by_job = sorted(zip(messages, delays, strict=True), key=lambda pair: pair[0].job_id)
        ordered = [message for message, _ in by_job]
        per_job = Counter(job_id for message in ordered for job_id in message.job_ids)
        if self.ledger is not None:
            for job_id, count in per_job.items():
                self.ledger.opened(job_id, queue, count)
        try:
            send_messages(self.sqs, url, [self.key.seal(message.to_json()) for message in ordered], delay_seconds=[delay for _, delay in by_job])
        except SendFailed as failure:
            if self.ledger is not None:
                # The unsent are the last ``unsent`` messages, in order.
                for job_id, count in Counter(job_id for message in ordered[len(ordered) - failure.unsent :] for job_id in message.job_ids).items():
                    self.ledger.opened(job_id, queue, -count)
            raise
        progress_events.messages_sent(sum(1 for delay in delays if delay == 0))
