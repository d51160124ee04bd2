"""A list task that reads a manifest part (--manifest) instead of listing the source: exactly the
keys the manifest names, compared with the destination, packed into copy batches, and the rest of
the part handed on when time runs short.

The rows are taken in chunks of ``CHUNK_ROWS``, each sorted by key, so that one pass decides a
chunk as a listing's merge-join decides a page:

- **The source object.** An S3 Inventory row carries the size and ETag (and the copier pins that
  ETag with CopySourceIfMatch, so an object changed since the inventory fails as
  PreconditionFailed instead of being copied unseen). A CSV manifest row names a key only: one
  HeadObject fills in size and ETag, and a key the bucket no longer has goes to the copy DLQ as
  NoSuchKey at once. Delete markers and noncurrent versions of a versioned inventory are not
  objects to copy; rows outside the job's --prefix are left out.
- **The destination**, when the job compares (no --force): the destination is listed over the
  chunk's key span, where that is cheaper than one HeadObject per key. A LIST costs what 12.5
  HeadObject requests cost (S3's list prices), so listing goes on while the pages it will take,
  estimated from how many of the chunk's keys each page has covered so far, stay under the
  chunk's keys / 12.5; the keys not reached by then are asked for one by one. A sparse manifest
  over a dense bucket therefore costs a HEAD per key, and a dense one a listing.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from s3fanout.compare import Action, compare
from s3fanout.counts import Counts
from s3fanout.deadletter import dead_letter_attributes
from s3fanout.keyspace import KeyRange
from s3fanout.lister import DEFAULT_STOP_MARGIN_MS, CopySender, ListOutcome
from s3fanout.manifest import ManifestError, ManifestRow, read_part
from s3fanout.messages import CopyItem, KeyFailure, ListTask, pack_copy_batches
from s3fanout.outbox import Outbox
from s3fanout.queues import send_messages
from s3fanout.s3errors import describe_error
from s3fanout.s3ops import ListedObject, list_pages

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK_ROWS = 5_000
# $0.005 per 1,000 LIST requests against $0.0004 per 1,000 GET-class requests (HeadObject).
LIST_COST_IN_HEADS = 12.5
HEAD_CONCURRENCY = 16
NO_SUCH_KEY = "NoSuchKey"
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def list_manifest_part(
    task: ListTask,
    *,
    s3: S3Client,
    dest_s3: S3Client,
    manifest_s3: S3Client,
    outbox: Outbox,
    copy_dead_letter_url: str,
    remaining_ms: Callable[[], int],
    stop_margin_ms: int = DEFAULT_STOP_MARGIN_MS,
) -> ListOutcome:
    """Queue copies of the part's keys the destination lacks (or has older or different), from row
    ``task.skip_rows`` on; hand the rest of the part on when less than ``stop_margin_ms`` is left.
    ``s3`` reads the source, ``dest_s3`` the destination, ``manifest_s3`` the manifest's files.
    Raises ManifestError for a part that cannot be read (or names another bucket)."""
    assert task.manifest is not None
    counts = Counts()
    sender = CopySender(task, outbox, counts)
    rows = itertools.islice(read_part(task.manifest, manifest_s3), task.skip_rows, None)
    handled = task.skip_rows
    for chunk in chunks(rows, CHUNK_ROWS):
        handled += len(chunk)
        objects, missing = source_objects(chunk, task, s3, counts)
        for decision_source, dest in decide(objects, task, dest_s3, counts):
            counts.keys_listed += 1
            counts.bytes_listed += decision_source.size
            if dest is not None and compare(decision_source, dest).action is Action.SKIP:
                counts.keys_skipped += 1
                counts.bytes_skipped += decision_source.size
                continue
            sender.add(CopyItem(decision_source.key, decision_source.size, decision_source.etag, version_id=decision_source.version_id))
        sender.send()
        if missing:
            dead_letter_missing(task, missing, outbox, copy_dead_letter_url)
            counts.keys_failed += len(missing)
        if len(chunk) == CHUNK_ROWS and remaining_ms() < stop_margin_ms:
            sender.flush()
            rest = dataclasses.replace(task, skip_rows=handled, resumed=task.resumed + 1, hops=task.hops + 1)
            outbox.list_tasks([rest])
            counts.ranges_handed_on += 1
            return ListOutcome(counts, rest)
    sender.flush()
    return ListOutcome(counts, None)


def chunks(rows: Iterator[ManifestRow], size: int) -> Iterator[list[ManifestRow]]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def source_objects(chunk: list[ManifestRow], task: ListTask, s3: S3Client, counts: Counts) -> tuple[list[ListedObject], list[str]]:
    """The chunk's objects to copy, sorted by key, each once; and the keys the source lacks.

    Rows without size or ETag (a CSV manifest) are completed with a HeadObject each. A CSV row's
    version id names the version to copy (as S3 Batch Operations reads it); an inventory's
    current rows are copied as the current object, pinned by ETag, as listed objects are."""
    wanted: dict[str, ManifestRow] = {}
    for row in chunk:
        if row.bucket != task.source_bucket:
            raise ManifestError(f"{task.manifest.describe() if task.manifest else 'the manifest'} names bucket {row.bucket!r}, not the job's source {task.source_bucket!r}")
        if row.is_delete_marker or row.is_latest is False or not row.key.startswith(task.prefix):
            continue
        wanted.setdefault(row.key, row)
    known = {key: ListedObject(key, row.size, row.etag, row.last_modified) for key, row in wanted.items() if row.size is not None and row.etag is not None}
    unknown = sorted(key for key in wanted if key not in known)
    versions = {key: row.version_id for key, row in wanted.items() if key in unknown and row.version_id and row.is_latest is None}
    heads = _head_all(s3, task.source_bucket, unknown, counts, versions)
    missing = [key for key in unknown if heads[key] is None]
    found = {key: head for key, head in heads.items() if head is not None}
    return sorted((known | found).values(), key=lambda obj: obj.key), missing


def decide(objects: list[ListedObject], task: ListTask, dest_s3: S3Client, counts: Counts) -> Iterator[tuple[ListedObject, ListedObject | None]]:
    """Each source object with the destination's object of its key (None: the destination lacks
    it, or the job does not compare)."""
    if not task.compare or not objects:
        yield from ((obj, None) for obj in objects)
        return
    dest = destination_objects(dest_s3, task.dest_bucket, task.prefix, [obj.key for obj in objects], counts)
    yield from ((obj, dest.get(obj.key)) for obj in objects)


def destination_objects(s3: S3Client, bucket: str, prefix: str, keys: list[str], counts: Counts) -> dict[str, ListedObject]:
    """The destination's objects of ``keys`` (sorted), by listing their span while that costs
    less than asking for the keys not yet reached one by one (the module's rule)."""
    wanted = set(keys)
    found: dict[str, ListedObject] = {}
    budget = max(1.0, len(keys) / LIST_COST_IN_HEADS)
    span = KeyRange(_before(keys[0]), keys[-1])
    reached = 0

    def count_request() -> None:
        counts.list_requests += 1

    for pages, page in enumerate(list_pages(s3, bucket, prefix, span, on_request=count_request), start=1):
        found.update((obj.key, obj) for obj in page if obj.key in wanted)
        reached = bisect.bisect_right(keys, page.objects[-1].key)
        if page.last or reached == len(keys):
            return found
        if pages / max(reached, 1) * len(keys) > budget:
            break  # the rest of the span would take more pages than its keys cost in HEADs
    else:
        return found
    rest = keys[reached:]
    found.update((key, head) for key, head in _head_all(s3, bucket, rest, counts).items() if head is not None)
    return found


def _before(key: str) -> str | None:
    """A StartAfter that lists ``key`` and what follows: the key less its last character, cut
    before any character XML 1.0 cannot carry (moto echoes StartAfter into its XML unencoded and
    answers 500; S3 does not, and a shorter StartAfter only starts the listing a little earlier)."""
    start = key[:-1]
    cut = next((i for i, char in enumerate(start) if ord(char) < 0x20 or 0xD800 <= ord(char) <= 0xDFFF or ord(char) in (0xFFFE, 0xFFFF)), len(start))
    return start[:cut] or None


def _head_all(s3: S3Client, bucket: str, keys: list[str], counts: Counts, versions: dict[str, str] | None = None) -> dict[str, ListedObject | None]:
    """HeadObject of each key (of the version ``versions`` names for it), in parallel: its object,
    or None where the bucket lacks it (or that version). Any other failure (403, throttling)
    raises, and the task is delivered again."""
    if not keys:
        return {}
    counts.head_requests += len(keys)
    versions = versions or {}

    def head(key: str) -> ListedObject | None:
        version = versions.get(key)
        request: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version:
            request["VersionId"] = version
        try:
            answer = s3.head_object(**request)
        except (ClientError, BotoCoreError) as error:
            failure = describe_error(error)
            if failure.code in _NOT_FOUND_CODES or failure.code == "NoSuchVersion":
                return None
            raise failure from error
        return ListedObject(key, int(answer["ContentLength"]), str(answer["ETag"]), answer.get("LastModified"), version)

    with ThreadPoolExecutor(max_workers=min(HEAD_CONCURRENCY, len(keys))) as pool:
        return dict(zip(keys, pool.map(head, keys)))


def dead_letter_missing(task: ListTask, keys: list[str], outbox: Outbox, dead_letter_url: str) -> None:
    """Keys the manifest names that the source does not have: on the copy DLQ with NoSuchKey, as
    a copier puts a key it cannot copy (so they are listed, exported and redriven alike)."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    failure = KeyFailure(NO_SUCH_KEY, f"the manifest names this key, but the source bucket {task.source_bucket!r} does not have it (or not the version named)", 1, now, now)
    items = [CopyItem(key, 0, failure=failure) for key in keys]
    batches = pack_copy_batches(task.job_id, task.source_bucket, task.dest_bucket, items, hops=task.hops, regions=task.regions, options=task.options)
    bodies = [outbox.key.seal(batch.to_json()) for batch in batches]
    send_messages(outbox.sqs, dead_letter_url, bodies, attributes=dead_letter_attributes("lister"))
