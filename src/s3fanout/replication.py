"""Continuous replication: S3 object events parsed into one shape and applied to a destination
without ever making it older than its source.

Events reach the replicator from S3 event notifications (the ``Records`` of a message S3 sends to
SQS, perhaps through SNS, and the ``s3:TestEvent`` S3 sends when a configuration is written) or
from EventBridge ("Object Created", "Object Deleted"). ``parse_message`` turns any of them into
``ObjectEvent``s: bucket, key (decoded: S3 form-encodes keys in events, a space as "+"), created or
deleted, ETag, size, version id, sequencer and time.

Events arrive late, out of order and more than once. The rule that keeps a destination from going
back in time (``apply``), whatever the order:

- **created**: copy the source's *current* object pinned with ``CopySourceIfMatch`` on the event's
  ETag. When the source no longer has that ETag (412) a newer write followed, and that write's own
  event copies it: skip (stale). When the source no longer has the key (NoSuchKey) it was deleted
  since: skip (missing); the delete's event deletes. A copy never names the event's version id: an
  old version copied would be older than the source.
- **deleted** (only when deletes are allowed): delete in the destination only when the source no
  longer has the key (HeadObject 404; a versioned source's delete marker answers 404 too). When
  the source has the key again, skip: its created event copies it. After deleting, the source is
  asked once more and a key written in between is copied back: that write's event may have been
  applied between the HeadObject and the DeleteObject.
- a copy, too, is followed by one HeadObject of the source: a key deleted (deletes allowed) or
  written again while it was being copied is deleted or copied again, because the event of that
  change may have been applied (by another invocation) before this copy landed. A key that is
  still changing after a few such checks fails the event (``StillChanging``, not permanent) for
  SQS to deliver again.
- an event delivered again (``reconcile``) may follow a delivery that failed half-way, after a
  change of the destination that nothing checked: it brings the destination to the source's
  current state, whatever the event says, with the same check after it.

Whichever event is applied last then finds the source's final state: the last write's event
copies it (every older created event is refused by its ETag, every delete event sees the key) or
the last delete's event removes it (every created event finds NoSuchKey). Within one batch the
``sequencer`` (the per-key order S3 gives events) lets ``apply_batch`` apply only the newest
event of each key; the others are skipped as stale without a request. Both properties (any
order, any duplication; writes and other invocations between any two requests) are hypothesis
tests in tests/unit/test_replication.py.

Objects above 5 GiB cannot be copied by CopyObject: ``apply`` answers ``needs-multipart`` and the
caller routes the key to the copy path (copying/multipart.py), whose copy is pinned the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from s3fanout.s3errors import S3Failure, describe_error
from s3fanout.s3ops import MAX_SINGLE_COPY_BYTES

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_HEX = re.compile(r"[0-9A-Fa-f]+")
# CopyObject's answer for a source above 5 GiB: "The specified copy source is larger than the
# maximum allowable size for a copy source: 5368709120".
_TOO_LARGE = "larger than the maximum allowable size"
_ABSENT = frozenset({"404", "NoSuchKey", "NotFound"})
_STALE = frozenset({"412", "PreconditionFailed"})
# How often one event follows a source that keeps changing under it before it fails (StillChanging)
# to be delivered again.
SETTLE_ROUNDS = 3


class InvalidEvent(ValueError):
    """A message that is not an S3 or EventBridge object event this module knows."""


class StillChanging(S3Failure):
    """The source key changed under every check of one event's application: the event fails (not
    permanently) and SQS delivers it again later, when the key has settled."""

    def __init__(self, key: str) -> None:
        super().__init__("SourceStillChanging", f"key {key!r} changed in the source {SETTLE_ROUNDS} times while its event was applied; try again", permanent=False)


class Kind(StrEnum):
    CREATED = "created"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One object created or deleted in a bucket, from whichever delivery."""

    bucket: str
    key: str  # decoded
    kind: Kind
    etag: str | None = None  # without quotes
    size: int | None = None
    version_id: str | None = None
    sequencer: str | None = None
    time: datetime | None = None
    name: str = ""  # what S3 called it: "ObjectCreated:Put", "Object Deleted", ...

    def is_newer_than(self, other: ObjectEvent) -> bool | None:
        """Whether this event happened after ``other`` (same bucket and key), by sequencer;
        None when either has none."""
        if self.sequencer is None or other.sequencer is None:
            return None
        return compare_sequencers(self.sequencer, other.sequencer) > 0


def compare_sequencers(a: str, b: str) -> int:
    """-1, 0 or 1 as event ``a`` happened before, with, or after ``b`` (same key).

    The S3 User Guide ("Event message structure"): "The sequencers can be of different lengths.
    So, to compare these values, first right pad the shorter value with zeros, and then do a
    lexicographical comparison." Compared in one letter case, since they are hexadecimal.
    """
    width = max(len(a), len(b))
    left, right = a.upper().ljust(width, "0"), b.upper().ljust(width, "0")
    return (left > right) - (left < right)


# Parsing ---------------------------------------------------------------------------------------


def parse_message(body: str | Mapping[str, Any], *, eventbridge_keys_encoded: bool = True) -> list[ObjectEvent]:
    """The object events of one message body (an SQS message's): an S3 notification (``Records``),
    the same wrapped by SNS, an EventBridge event, or S3's test event (no events). Events of other
    types (restores, tagging, ACLs, lifecycle transitions) are left out."""
    message = _json_object(body)
    if message.get("Type") == "Notification" and isinstance(message.get("Message"), str):
        return parse_message(message["Message"], eventbridge_keys_encoded=eventbridge_keys_encoded)  # S3 -> SNS -> SQS
    if message.get("Event") == "s3:TestEvent":
        return []
    if "Records" in message:
        records = message["Records"]
        if not isinstance(records, list):
            raise InvalidEvent("Records is not a list")
        return [event for record in records if (event := parse_record(record)) is not None]
    if "detail-type" in message:
        event = parse_eventbridge(message, keys_encoded=eventbridge_keys_encoded)
        return [] if event is None else [event]
    raise InvalidEvent(f"neither an S3 event notification nor an EventBridge event (keys: {', '.join(sorted(message)[:8])})")


def parse_record(record: Mapping[str, Any]) -> ObjectEvent | None:
    """One record of an S3 event notification; None for an event that is neither a creation nor a
    deletion of an object. The key is URL-decoded ("red+flower.jpg" is "red flower.jpg")."""
    try:
        name = str(record["eventName"])
        s3 = record["s3"]
        obj = s3["object"]
        bucket = str(s3["bucket"]["name"])
        encoded_key = obj["key"]
    except (KeyError, TypeError) as error:
        raise InvalidEvent(f"an S3 event record without {error}") from None
    kind = _record_kind(name)
    if kind is None:
        return None
    return ObjectEvent(
        bucket=bucket,
        key=_decode_key(encoded_key),
        kind=kind,
        etag=_etag(obj.get("eTag")),
        size=_size(obj.get("size")),
        version_id=obj.get("versionId") or None,
        sequencer=_sequencer(obj.get("sequencer")),
        time=_time(record.get("eventTime")),
        name=name,
    )


def _record_kind(name: str) -> Kind | None:
    name = name[3:] if name.startswith("s3:") else name
    if name.startswith("ObjectCreated:"):
        return Kind.CREATED
    if name.startswith(("ObjectRemoved:", "LifecycleExpiration:")):
        return Kind.DELETED
    return None


def parse_eventbridge(event: Mapping[str, Any], *, keys_encoded: bool = True) -> ObjectEvent | None:
    """An EventBridge event of S3 ("Object Created", "Object Deleted"); None for S3's other detail
    types. Keys are URL-decoded as in S3 notifications (``keys_encoded``; as Powertools'
    S3EventBridgeNotificationObject does); moto 5.2 sends them raw: pass False for its events."""
    if event.get("source") != "aws.s3":
        raise InvalidEvent(f"an EventBridge event from {event.get('source')!r}, not aws.s3")
    kind = {"Object Created": Kind.CREATED, "Object Deleted": Kind.DELETED}.get(str(event.get("detail-type")))
    if kind is None:
        return None
    try:
        detail = event["detail"]
        obj = detail["object"]
        bucket = str(detail["bucket"]["name"])
        key = obj["key"]
    except (KeyError, TypeError) as error:
        raise InvalidEvent(f"an EventBridge S3 event without {error}") from None
    return ObjectEvent(
        bucket=bucket,
        key=_decode_key(key) if keys_encoded else str(key),
        kind=kind,
        etag=_etag(obj.get("etag") or obj.get("eTag")),
        size=_size(obj.get("size")),
        version_id=obj.get("version-id") or None,
        sequencer=_sequencer(obj.get("sequencer")),
        time=_time(event.get("time")),
        name=f"{event.get('detail-type')}:{detail.get('reason', '')}".rstrip(":"),
    )


def _json_object(body: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(body, Mapping):
        return dict(body)
    try:
        value = json.loads(body)
    except ValueError as error:
        raise InvalidEvent(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise InvalidEvent(f"a JSON {type(value).__name__}, not an object")
    return value


def _decode_key(encoded: Any) -> str:
    if not isinstance(encoded, str):
        raise InvalidEvent(f"an object key that is not a string: {encoded!r}")
    try:
        return unquote_plus(encoded, errors="strict")
    except UnicodeDecodeError:
        raise InvalidEvent(f"an object key that is not URL-encoded UTF-8: {encoded!r}") from None


def _etag(value: Any) -> str | None:
    return (str(value).strip('"') or None) if value else None


def _size(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidEvent(f"an object size that is not a number: {value!r}") from None


def _sequencer(value: Any) -> str | None:
    # Anything but hexadecimal cannot be ordered: treated as absent, never guessed at.
    return value if isinstance(value, str) and _HEX.fullmatch(value) else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


# Applying --------------------------------------------------------------------------------------


class Outcome(StrEnum):
    COPIED = "copied"
    DELETED = "deleted"
    SKIPPED_STALE = "skipped-stale"  # a newer event of the key follows (or was applied)
    SKIPPED_MISSING = "skipped-missing"  # the source no longer has the key: its delete event follows
    SKIPPED_SOURCE_EXISTS = "skipped-source-exists"  # a delete, but the source has the key again
    SKIPPED_NO_DELETE = "skipped-no-delete"  # a delete, and the job may not delete
    REFUSED_OUT_OF_SCOPE = "refused-out-of-scope"  # another bucket, or a key outside the prefix
    NEEDS_MULTIPART = "needs-multipart"  # above CopyObject's 5 GiB: route it to the copy path


@dataclass(frozen=True, slots=True)
class Applied:
    """What one event did to the destination, and why (for counts and logs)."""

    outcome: Outcome
    event: ObjectEvent
    dest_key: str | None
    reason: str
    etag: str | None = None  # the source ETag the destination now has (copied), or was to copy

    @property
    def changed(self) -> bool:
        return self.outcome in (Outcome.COPIED, Outcome.DELETED)


def dest_key(key: str, *, dest_prefix: str = "") -> str:
    """Where a source key lands: under ``dest_prefix`` (prepended; "" keeps the key)."""
    return dest_prefix + key


def out_of_scope(event: ObjectEvent, *, source_bucket: str, prefix: str = "") -> str | None:
    """Why the event is outside the job (another bucket, a key outside the prefix), or None."""
    if event.bucket != source_bucket:
        return f"an event of bucket {event.bucket!r}, not the source {source_bucket!r}"
    if not event.key.startswith(prefix):
        return f"key outside the prefix {prefix!r}"
    return None


def apply(
    event: ObjectEvent,
    *,
    source_s3: S3Client,
    dest_s3: S3Client,
    source_bucket: str,
    dest_bucket: str,
    prefix: str = "",
    dest_prefix: str = "",
    allow_delete: bool,
    copy_arguments: Mapping[str, Any] | None = None,
    reconcile: bool = False,
) -> Applied:
    """Apply one event to the destination by the ordering rule (see the module's docstring).

    ``dest_s3`` makes the copy (a server-side copy is a request to the destination naming the
    source) and the delete; ``source_s3`` asks the source. ``copy_arguments`` are added to every
    CopyObject (storage class, encryption, ACL: ``copying.options.write_arguments``). An S3 error
    other than those the rule expects is raised as ``S3Failure`` (permanent or not) for the
    caller to retry or dead-letter.

    ``reconcile``: the caller's delivery of this event is not the first (SQS
    ApproximateReceiveCount above 1). An earlier delivery may have failed after changing the
    destination on a view of the source that a newer event's application had made stale
    (StillChanging, or an S3 error between its delete and the check after it); the event's own
    rule would now skip (stale, source exists) and leave that change in place. So a redelivered
    event brings the destination to the source's current state instead: copy what the source has
    now (pinned to its current ETag) or, deletes allowed, delete what it no longer has; then the
    same check.

    Requests: a created event costs a CopyObject and a HeadObject (the check after the copy); a
    deleted event a HeadObject, and a DeleteObject and another HeadObject when it deletes.
    """
    target = dest_key(event.key, dest_prefix=dest_prefix)
    refused = out_of_scope(event, source_bucket=source_bucket, prefix=prefix)
    if refused is None and dest_bucket == source_bucket and target.startswith(prefix):
        refused = f"the copy {target!r} would land in the source's own scope and be replicated again"
    if refused is not None:
        return Applied(Outcome.REFUSED_OUT_OF_SCOPE, event, None, refused)
    sides = _Sides(source_s3, dest_s3, source_bucket, dest_bucket, dict(copy_arguments or {}))
    if reconcile:
        return sides.reconcile(event, target, allow_delete)
    if event.kind is Kind.CREATED:
        copied = sides.copy(event, target, event.etag, event.size)
        return sides.settle(event, target, copied, allow_delete) if copied.outcome is Outcome.COPIED else copied
    if not allow_delete:
        return Applied(Outcome.SKIPPED_NO_DELETE, event, target, "the job does not delete")
    if sides.head_source(event.key) is not None:
        return Applied(Outcome.SKIPPED_SOURCE_EXISTS, event, target, "the source has the key again; its created event copies it")
    sides.delete(target)
    return sides.settle(event, target, Applied(Outcome.DELETED, event, target, "the source no longer has the key"), allow_delete)


def apply_batch(events: Sequence[ObjectEvent], **arguments: Any) -> list[Applied]:
    """``apply`` each event, in the order given, except those a newer event of the same key in the
    batch supersedes (by sequencer; events without one are all applied). Results in the order of
    ``events``. ``arguments`` are ``apply``'s."""
    newest: dict[tuple[str, str], ObjectEvent] = {}
    for event in events:
        if event.sequencer is not None:
            where = (event.bucket, event.key)
            best = newest.get(where)
            if best is None or event.is_newer_than(best):
                newest[where] = event
    results: list[Applied] = []
    for event in events:
        winner = newest.get((event.bucket, event.key))
        if event.sequencer is not None and winner is not None and winner is not event:
            older = winner.is_newer_than(event)
            reason = f"superseded in this batch by a newer event (sequencer {winner.sequencer}, {winner.kind})" if older else "a duplicate of another event in this batch"
            results.append(Applied(Outcome.SKIPPED_STALE, event, None, reason))
        else:
            results.append(apply(event, **arguments))
    return results


@dataclass(frozen=True, slots=True)
class _Sides:
    source_s3: S3Client
    dest_s3: S3Client
    source_bucket: str
    dest_bucket: str
    copy_arguments: dict[str, Any]

    def head_source(self, key: str) -> tuple[str, int] | None:
        """The source's current ETag (without quotes) and size, or None when it has no such key."""
        try:
            head = self.source_s3.head_object(Bucket=self.source_bucket, Key=key)
        except ClientError as error:
            failure = describe_error(error)
            if failure.code in _ABSENT:
                return None
            raise failure from error
        return str(head.get("ETag", "")).strip('"'), int(head.get("ContentLength", 0))

    def copy(self, event: ObjectEvent, target: str, etag: str | None, size: int | None) -> Applied:
        """CopyObject of the source's current object, pinned to ``etag``."""
        if etag is None:
            # No ETag (S3 always sends one for a creation): pin what the source has now.
            found = self.head_source(event.key)
            if found is None:
                return Applied(Outcome.SKIPPED_MISSING, event, target, "the source no longer has the key")
            etag, size = found
        if size is not None and size > MAX_SINGLE_COPY_BYTES:
            return Applied(Outcome.NEEDS_MULTIPART, event, target, f"{size} bytes, above CopyObject's {MAX_SINGLE_COPY_BYTES}", etag)
        request: dict[str, Any] = {
            "Bucket": self.dest_bucket,
            "Key": target,
            "CopySource": {"Bucket": self.source_bucket, "Key": event.key},
            "CopySourceIfMatch": f'"{etag}"',
            "MetadataDirective": "COPY",
            "TaggingDirective": "COPY",
        } | self.copy_arguments
        try:
            self.dest_s3.copy_object(**request)
        except ClientError as error:
            failure = describe_error(error)
            if failure.code in _STALE:
                return Applied(Outcome.SKIPPED_STALE, event, target, f"the source is no longer ETag {etag}: a newer write follows")
            if failure.code in _ABSENT:
                return Applied(Outcome.SKIPPED_MISSING, event, target, "the source no longer has the key")
            if _TOO_LARGE in failure.message:
                return Applied(Outcome.NEEDS_MULTIPART, event, target, failure.message, etag)
            raise failure from error
        return Applied(Outcome.COPIED, event, target, f"copied ETag {etag}", etag)

    def delete(self, target: str) -> None:
        try:
            self.dest_s3.delete_object(Bucket=self.dest_bucket, Key=target)
        except ClientError as error:
            raise describe_error(error) from error

    def reconcile(self, event: ObjectEvent, target: str, allow_delete: bool) -> Applied:
        """The destination brought to what the source has now, whatever the event says."""
        now = self.head_source(event.key)
        if now is None:
            if not allow_delete:
                return Applied(Outcome.SKIPPED_NO_DELETE, event, target, "delivered again: the source no longer has the key, and the job does not delete")
            self.delete(target)
            done = Applied(Outcome.DELETED, event, target, "delivered again: the source no longer has the key")
        else:
            done = self.copy(event, target, *now)
            if done.outcome is not Outcome.COPIED:
                return done
            done = Applied(Outcome.COPIED, event, target, f"delivered again: {done.reason}", done.etag)
        return self.settle(event, target, done, allow_delete)

    def settle(self, event: ObjectEvent, target: str, done: Applied, allow_delete: bool) -> Applied:
        """After a copy or a delete, ask the source once more and follow a change made meanwhile.

        A delete decided on a HeadObject that said "absent" may land after a write that came
        between the two, whose own event may already have been applied: that write is copied back.
        A copy that took long may land after a delete or a newer write of the source whose event
        was applied first: the key is deleted again (when deletes are allowed) or copied again.
        Only a check that finds the source as the destination now is ends it: a key still changing
        after SETTLE_ROUNDS checks fails the event (StillChanging) for SQS to deliver again.
        """
        for _ in range(SETTLE_ROUNDS):
            now = self.head_source(event.key)
            if (now[0] if now else None) == done.etag:
                return done
            if now is None:
                if not allow_delete:
                    return done
                self.delete(target)
                done = Applied(Outcome.DELETED, event, target, f"{done.reason}; the source deleted the key meanwhile: deleted")
                continue
            copied = self.copy(event, target, *now)
            if copied.outcome is not Outcome.COPIED:
                # Stale or missing: the change that made it so is newer than this check, and its
                # own event follows; above 5 GiB: the caller copies it.
                return Applied(copied.outcome, event, target, f"{done.reason}; the source changed meanwhile: {copied.reason}", copied.etag)
            done = Applied(Outcome.COPIED, event, target, f"{done.reason}; the source changed meanwhile: {copied.reason}", copied.etag)
        raise StillChanging(event.key)


__all__ = [
    "Applied",
    "InvalidEvent",
    "Kind",
    "ObjectEvent",
    "Outcome",
    "StillChanging",
    "apply",
    "apply_batch",
    "compare_sequencers",
    "dest_key",
    "out_of_scope",
    "parse_eventbridge",
    "parse_message",
    "parse_record",
]
