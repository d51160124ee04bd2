"""Listing one key range into copy batches, handing the rest on when time runs short."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from s3fanout.keyspace import KeyRange
from s3fanout.messages import CopyBatch, CopyBatchPacker, CopyItem, ListTask
from s3fanout.queues import send_messages
from s3fanout.s3ops import list_pages

# Stop listing when less than this is left of the invocation: enough to send what is packed and the
# task for the rest, even if SQS is slow to answer.
DEFAULT_STOP_MARGIN_MS = 30_000


@dataclass(frozen=True, slots=True)
class ListOutcome:
    keys: int
    bytes: int
    batches: int
    pages: int
    handed_on: ListTask | None


def list_range(
    task: ListTask,
    *,
    s3: Any,
    sqs: Any,
    list_queue_url: str,
    copy_queue_url: str,
    remaining_ms: Callable[[], int],
    stop_margin_ms: int = DEFAULT_STOP_MARGIN_MS,
) -> ListOutcome:
    """List the task's range and put its keys on the copy queue in batches.

    Batches are sent as soon as they fill, so copies start while listing goes on. After each page,
    if the invocation is close to its timeout, the partial batch is sent and a task for the rest
    of the range (after the last key sent) goes back on the list queue. A redelivered task starts
    again from its own ``after``: keys may be copied twice, never skipped.
    """
    packer = CopyBatchPacker(task.job_id, task.source_bucket, task.dest_bucket)
    keys = size = batches = pages = 0

    def send(ready: list[CopyBatch]) -> None:
        nonlocal batches
        if ready:
            send_messages(sqs, copy_queue_url, [batch.to_json() for batch in ready])
            batches += len(ready)

    for page in list_pages(s3, task.source_bucket, task.prefix, KeyRange(task.after, task.until)):
        pages += 1
        ready: list[CopyBatch] = []
        for listed in page:
            ready += packer.add(CopyItem(listed.key, listed.size, listed.etag))
            keys += 1
            size += listed.size
        send(ready)
        if not page.last and remaining_ms() < stop_margin_ms:
            send(packer.flush())
            rest = dataclasses.replace(task, after=page.objects[-1].key, resumed=task.resumed + 1)
            send_messages(sqs, list_queue_url, [rest.to_json()])
            return ListOutcome(keys, size, batches, pages, rest)
    send(packer.flush())
    return ListOutcome(keys, size, batches, pages, None)
