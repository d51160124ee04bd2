"""Listing one key range into copy batches (or orphan deletions), handing the rest on when time
runs short."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from s3fanout.keyspace import KeyRange
from s3fanout.messages import CopyBatch, CopyBatchPacker, CopyItem, ListTask
from s3fanout.queues import send_messages
from s3fanout.plan import Action, copy_everything, merge_join
from s3fanout.s3ops import delete_objects, list_pages

# Stop listing when less than this is left of the invocation: enough to send what is packed and the
# task for the rest, even if SQS is slow to answer.
DEFAULT_STOP_MARGIN_MS = 30_000


@dataclass(frozen=True, slots=True)
class ListOutcome:
    keys: int
    bytes: int
    batches: int
    handed_on: ListTask | None
    skipped: int = 0
    skipped_bytes: int = 0
    orphans: int = 0
    deleted: int = 0


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
    """Decide every key of the task's range and act on it: queue copies, or delete orphans.

    The source and destination listings are merge-joined (see plan.py), so an object that is
    already identical costs no request of its own. Copy batches are sent as soon as they fill, so
    copies start while listing goes on. After each group of decisions, if the invocation is close
    to its timeout, the partial batch is sent and a task for the rest of the range (after the last
    key settled on both sides) goes back on the list queue. A redelivered task starts again from
    its own ``after``: keys may be copied twice, never skipped. In "delete" mode the orphans of
    each group are deleted once both listings have covered them.
    """
    key_range = KeyRange(task.after, task.until)
    source_pages = list_pages(s3, task.source_bucket, task.prefix, key_range)
    if task.compare or task.mode == "delete":
        groups = merge_join(source_pages, list_pages(s3, task.dest_bucket, task.prefix, key_range))
    else:
        groups = copy_everything(source_pages)
    packer = CopyBatchPacker(task.job_id, task.source_bucket, task.dest_bucket)
    keys = size = batches = skipped = skipped_bytes = orphans = deleted = 0

    def send(ready: list[CopyBatch]) -> None:
        nonlocal batches
        if ready:
            send_messages(sqs, copy_queue_url, [batch.to_json() for batch in ready])
            batches += len(ready)

    for group in groups:
        ready: list[CopyBatch] = []
        gone: list[str] = []
        for decision in group.decisions:
            if decision.source is not None:
                keys += 1
                size += decision.source.size
            if decision.action is Action.SKIP and decision.source is not None:
                skipped += 1
                skipped_bytes += decision.source.size
            elif decision.action is Action.ORPHAN:
                orphans += 1
                gone.append(decision.key)
            elif decision.action is Action.COPY and decision.source is not None and task.mode == "copy":
                listed = decision.source
                ready += packer.add(CopyItem(listed.key, listed.size, listed.etag))
        send(ready)
        if task.mode == "delete" and gone:
            deleted += delete_objects(s3, task.dest_bucket, gone)
        if not group.last and remaining_ms() < stop_margin_ms:
            send(packer.flush())
            rest = dataclasses.replace(task, after=group.checkpoint, resumed=task.resumed + 1)
            send_messages(sqs, list_queue_url, [rest.to_json()])
            return ListOutcome(keys, size, batches, rest, skipped, skipped_bytes, orphans, deleted)
    send(packer.flush())
    return ListOutcome(keys, size, batches, None, skipped, skipped_bytes, orphans, deleted)
