"""Copying one key's history in order (--all-versions): a stack item (messages.VersionStack) is its
own version and then the stack's entries, oldest first, each copied only once the one before it
is in place, by this one copier. Each copy becomes the destination key's newest version; a delete
marker is reproduced with a DeleteObject (which, in a versioned bucket, adds a marker and destroys
nothing); so the destination's stack grows in the source's order.

Every version is copied with its source version id in its user metadata
(``s3ops.SOURCE_VERSION_METADATA``; MetadataDirective REPLACE with the source's metadata and content
headers, read by a HeadObject of the version), on whichever path its size and the sides take:
CopyObject, a multipart copy (its part tasks carry the rest of the stack, and the copier that
completes the upload goes on with it), or a streamed copy.

- Time: before each entry the copier checks what is left of the invocation; short of it, the rest
  of the stack goes back on the copy queue as a new item (handed on).
- Failure: the item for the entries not yet copied is retried (or dead-lettered) instead of the
  whole stack; one that copied something starts its attempts afresh.
- A retry, or a redelivered message, first asks the destination how far an earlier attempt got
  (its newest entries, and the source version id its newest object records:
  ``versions.copied_already``), so that no entry is copied twice even when a request's outcome
  was unknown.
- ``more``: the key has newer entries than the item carried. Once its entries are copied, the
  copier lists the key's source versions down to the last one it copied and queues the next item.

A key's history is written to the same key only: a batch whose keys go under another prefix
(--dest-prefix) has its stack items failed before they get here (copying/batch.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from s3fanout.copying.limit import ConcurrencyLimit
from s3fanout.copying.multipart import CopyResult, MultipartSettings, copy_large
from s3fanout.copying.single import copy_object
from s3fanout.copying.stream import StreamSettings, stream_object
from s3fanout.messages import CopyItem, CopyOptions, VersionRef, VersionStack
from s3fanout.s3errors import THROTTLING_CODES, S3Failure, describe_error
from s3fanout.s3ops import SOURCE_VERSION_METADATA, key_version_entries, recorded_source_version, write_delete_marker
from s3fanout.versions import copied_already, entries_newer_than, stack_item

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# No new entry starts with less than this left of the invocation (a CopyObject of up to 1 GiB
# takes seconds; the rest of the stack is handed on in time to be sent).
STOP_MARGIN_MS = 30_000
SOURCE_VERSION_GONE = "SourceVersionGone"


@dataclass(frozen=True, slots=True)
class StackCopy:
    """What a stack's copies need: the clients (``s3`` the destination region's, ``source_s3`` the
    source's), the buckets, the limit every request takes a slot of, and how objects are copied."""

    s3: S3Client
    source_s3: S3Client
    source_bucket: str
    dest_bucket: str
    limit: ConcurrencyLimit
    multipart: MultipartSettings
    options: CopyOptions
    remaining_ms: Callable[[], int]
    stream: StreamSettings | None = None
    stop_margin_ms: int = STOP_MARGIN_MS


def copy_stack(item: CopyItem, copy: StackCopy, *, final_attempt: bool, check_destination: bool) -> CopyResult:
    """Copy a stack item's entries in order, never raising: the result says what was copied, and
    what is left (handed on, or ``rest`` with a failure). ``check_destination``: the item may have
    been worked on before (a retry, a redelivery); ask the destination how far first."""
    assert item.stack is not None and item.version_id is not None
    stack = item.stack
    entries = [VersionRef(item.version_id, item.size, item.delete_marker), *stack.then]
    progress = _Progress(item.key, entries, stack)
    start = 0
    if item.parts is not None:
        # A part task of the first entry: the copier that completes the upload goes on.
        result = copy_large(
            copy.s3,
            copy.source_bucket,
            copy.dest_bucket,
            item,
            dest_key=item.key,
            limit=copy.limit,
            settings=copy.multipart,
            remaining_ms=copy.remaining_ms,
            final_attempt=final_attempt,
            source_s3=copy.source_s3,
            options=copy.options,
            stream=copy.stream,
            extra_metadata=_record(item.version_id),
        )
        if not result.copied:
            return result
        progress.done(0)
        start = 1
    elif check_destination:
        try:
            start = _copied_before(copy, item.key, entries, stack)
        except Exception as error:  # noqa: BLE001 - recorded against the key
            return CopyResult(failure=describe_error(error))
        progress.skip_to(start)
    for index in range(start, len(entries)):
        # One entry at least per invocation (as a lister lists a page), then only with time left.
        if progress.worked and copy.remaining_ms() < copy.stop_margin_ms:
            return progress.result(handed_on=(progress.item(index),))
        entry, entry_item = entries[index], progress.item(index)
        if entry.delete_marker:
            failure = _in_slot(copy.limit, partial(write_delete_marker, copy.s3, copy.dest_bucket, item.key))
        elif copy.multipart.wants_multipart(entry_item):
            result = copy_large(
                copy.s3,
                copy.source_bucket,
                copy.dest_bucket,
                entry_item,
                dest_key=entry_item.key,
                limit=copy.limit,
                settings=copy.multipart,
                remaining_ms=copy.remaining_ms,
                final_attempt=final_attempt,
                source_s3=copy.source_s3,
                options=copy.options,
                stream=copy.stream,
                extra_metadata=_record(entry.version_id),
            )
            if result.failure is not None:
                return progress.result(failure=result.failure, rest=entry_item)
            if not result.copied:
                # Handed on in part tasks, which carry the rest of the stack.
                return progress.result(handed_on=result.handed_on, created_upload=result.created_upload)
            failure = None
        else:
            failure = _in_slot(copy.limit, partial(_copy_version, copy, entry_item, entry))
        if failure is not None:
            return progress.result(failure=failure, rest=entry_item)
        progress.done(index)
    if not stack.more:
        return progress.result(copied=True)
    return _continue(copy, progress)


def _continue(copy: StackCopy, progress: _Progress) -> CopyResult:
    """The key's next entries, newer than the last one copied: listed from the top of its history
    and queued as the next item."""
    last = progress.entries[-1]
    rest = progress.item(len(progress.entries) - 1)
    try:
        top = entries_newer_than(key_version_entries(copy.source_s3, copy.source_bucket, progress.key), last.version_id)
    except Exception as error:  # noqa: BLE001 - the last entry is copied: a retry finds it there and goes on
        return progress.result(failure=describe_error(error), rest=rest)
    if not top.found:
        message = (
            f"version {last.version_id!r} of {progress.key!r} was copied but is no longer in the source: "
            "the versions after it cannot be put in order; the next --all-versions run copies what is missing"
        )
        return progress.result(failure=S3Failure(SOURCE_VERSION_GONE, message, permanent=True), rest=rest)
    if not top.newer:
        return progress.result(copied=True)
    following = stack_item(progress.key, list(reversed(top.newer)), top.dropped > 0, progress.after, progress.dms)
    return progress.result(copied=True, handed_on=(following,))


def _record(version_id: str) -> dict[str, str]:
    return {SOURCE_VERSION_METADATA: version_id}


def _copy_version(copy: StackCopy, entry_item: CopyItem, entry: VersionRef) -> None:
    if copy.stream is not None:
        stream_object(copy.source_s3, copy.s3, copy.source_bucket, copy.dest_bucket, entry_item, entry_item.key, copy.options, copy.stream, _record(entry.version_id))
    else:
        copy_object(copy.s3, copy.source_bucket, copy.dest_bucket, entry_item, entry_item.key, copy.options, copy.source_s3, _record(entry.version_id))


def _in_slot(limit: ConcurrencyLimit, call: Callable[[], object]) -> S3Failure | None:
    with limit.slot():
        try:
            call()
        except Exception as error:  # noqa: BLE001 - every failure is recorded against its key
            failure = describe_error(error)
            limit.record(throttled=failure.code in THROTTLING_CODES)
            return failure
        limit.record(throttled=False)
        return None


def _copied_before(copy: StackCopy, key: str, entries: list[VersionRef], stack: VersionStack) -> int:
    """How many of the entries the destination shows copied already (versions.copied_already):
    its newest entries (delete markers, then the newest object version) and that version's record."""
    markers, newest = 0, None
    for entry in key_version_entries(copy.s3, copy.dest_bucket, key):
        if not entry.delete_marker:
            newest = entry.version_id
            break
        markers += 1
    recorded = recorded_source_version(copy.s3, copy.dest_bucket, key, newest) if newest is not None else None
    return copied_already(entries, recorded, markers, stack.after, stack.dest_dms)


class _Progress:
    """What a stack's copy got done: the destination's state after each entry (for the items of
    the entries left) and the counts."""

    def __init__(self, key: str, entries: list[VersionRef], stack: VersionStack) -> None:
        self.key, self.entries, self.stack = key, entries, stack
        self.after, self.dms = stack.after, stack.dest_dms
        # The destination's state before each entry, as the items of what is left carry it.
        self.before: dict[int, tuple[str | None, int]] = {0: (self.after, self.dms)}
        self.versions = self.markers = self.bytes = 0

    @property
    def worked(self) -> bool:
        """Whether this call copied an entry (or completed one's upload) already."""
        return self.versions + self.markers > 0

    def skip_to(self, index: int) -> None:
        """Entries before ``index`` were copied by an earlier attempt."""
        for position in range(index):
            self._advance(position)

    def done(self, index: int) -> None:
        entry = self.entries[index]
        if entry.delete_marker:
            self.markers += 1
        else:
            self.versions += 1
            self.bytes += entry.size
        self._advance(index)

    def _advance(self, index: int) -> None:
        entry = self.entries[index]
        if entry.delete_marker:
            self.dms += 1
        else:
            self.after, self.dms = entry.version_id, 0
        self.before[index + 1] = (self.after, self.dms)

    def item(self, index: int) -> CopyItem:
        """The item for the entries from ``index`` on, with the destination's state before it."""
        after, dms = self.before.get(index, (self.after, self.dms))
        entry = self.entries[index]
        stack = VersionStack(tuple(self.entries[index + 1 :]), self.stack.more, after, dms)
        return CopyItem(self.key, entry.size, version_id=entry.version_id, delete_marker=entry.delete_marker, stack=stack)

    def result(self, *, copied: bool = False, failure: S3Failure | None = None, rest: CopyItem | None = None, handed_on: tuple[CopyItem, ...] = (), created_upload: str | None = None) -> CopyResult:
        return CopyResult(
            copied=copied,
            failure=failure,
            handed_on=handed_on,
            created_upload=created_upload,
            rest=rest,
            versions_copied=self.versions,
            delete_markers_written=self.markers,
            version_bytes=self.bytes,
        )
