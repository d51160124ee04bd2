"""Verify a destination against its source without changing either (python -m seed verify).

The same key ranges (``keyspace.seed_ranges``), the same checked listings (``s3ops.list_pages``)
and the same merge-join and "identical" rule (``compare.merge_join``) as a sync, run here over the
ranges in a thread pool. So a key verify calls different is exactly a key a sync would copy
again, and a bucket verify calls identical is one a sync would leave alone: two listings, no
HeadObject or GetObject.

Every key is accounted for: missing (in the source only), different (on both sides, and the rule
says copy), extra (in the destination only) or identical.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from s3fanout.compare import Action, Decision, merge_join
from s3fanout.keyspace import KeyRange, seed_ranges
from s3fanout.s3errors import S3Failure
from s3fanout.s3ops import ListedObject, ListedPage, list_pages_as

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Told the source keys checked so far, after every page; called from the listing threads, one call
# at a time.
OnProgress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Difference:
    """A key on both sides that the "identical" rule (compare.py) says a sync would copy again."""

    source: ListedObject
    dest: ListedObject
    reason: str

    @property
    def key(self) -> str:
        return self.source.key

    @property
    def differs(self) -> list[str]:
        """What differs: "size" and/or "etag". Only a store that lists no ETags can make a pair of
        one size differ in neither; then it is the source's newer "last_modified"."""
        differs = [name for name, a, b in (("size", self.source.size, self.dest.size), ("etag", self.source.etag, self.dest.etag)) if a != b]
        return differs or ["last_modified"]


@dataclass(slots=True)
class Tally:
    """The keys of one range (or, summed, of all): how many on each side and identical, and each
    key missing, different or extra."""

    source_keys: int = 0
    dest_keys: int = 0
    identical_keys: int = 0
    missing: list[ListedObject] = field(default_factory=list)
    different: list[Difference] = field(default_factory=list)
    extra: list[ListedObject] = field(default_factory=list)

    def add(self, decision: Decision) -> None:
        self.source_keys += int(decision.source is not None)
        self.dest_keys += int(decision.dest is not None)
        if decision.action is Action.SKIP:
            self.identical_keys += 1
        elif decision.action is Action.ORPHAN and decision.dest is not None:
            self.extra.append(decision.dest)
        elif decision.action is Action.COPY and decision.source is not None:
            if decision.dest is None:
                self.missing.append(decision.source)
            else:
                self.different.append(Difference(decision.source, decision.dest, decision.reason))


@dataclass(slots=True, kw_only=True)
class VerifyResult(Tally):
    """Every key of the source and destination under ``prefix``, accounted for; lists sorted by key."""

    source_bucket: str
    dest_bucket: str
    prefix: str
    # Where the destination's keys are (--dest-prefix); None: under ``prefix``, as the source's.
    dest_prefix: str | None = None

    @property
    def identical(self) -> bool:
        return not (self.missing or self.different or self.extra)

    @property
    def source(self) -> str:
        return f"s3://{self.source_bucket}/{self.prefix}"

    @property
    def destination(self) -> str:
        return f"s3://{self.dest_bucket}/{self.prefix if self.dest_prefix is None else self.dest_prefix}"

    def to_dict(self) -> dict[str, Any]:
        """The result as ``verify --json`` prints it."""
        return {
            "source": self.source,
            "destination": self.destination,
            "identical": self.identical,
            "checked": self.source_keys,
            "missing": [_object_dict(obj) for obj in self.missing],
            "different": [{"key": d.key, "differs": d.differs, "reason": d.reason, "source": _facts(d.source), "destination": _facts(d.dest)} for d in self.different],
            "extra": [_object_dict(obj) for obj in self.extra],
            "counts": {
                "source_keys": self.source_keys,
                "dest_keys": self.dest_keys,
                "identical": self.identical_keys,
                "missing": len(self.missing),
                "different": len(self.different),
                "extra": len(self.extra),
            },
        }


def _object_dict(obj: ListedObject) -> dict[str, Any]:
    return {"key": obj.key, "size": obj.size, "etag": obj.etag}


def _facts(obj: ListedObject) -> dict[str, Any]:
    return {"size": obj.size, "etag": obj.etag, "last_modified": obj.last_modified.isoformat() if obj.last_modified else None}


class _Checked:
    """Source keys checked by every thread together, reported as they grow."""

    def __init__(self, on_progress: OnProgress | None) -> None:
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self._total = 0

    def add(self, count: int) -> None:
        if self._on_progress is None:
            return
        with self._lock:
            self._total += count
            self._on_progress(self._total)


def verify(
    s3: S3Client,
    source_bucket: str,
    dest_bucket: str,
    prefix: str,
    ranges: int,
    threads: int,
    on_progress: OnProgress | None = None,
    dest_s3: S3Client | None = None,
    dest_prefix: str | None = None,
) -> VerifyResult:
    """Compare every key under ``prefix`` in the two buckets, listing ``ranges`` seeded key ranges
    in ``threads`` threads, and change nothing. ``s3`` lists the source, ``dest_s3`` (each of its
    bucket's region; ``s3`` when None) the destination, under ``dest_prefix`` where its keys are
    written under another prefix (extra keys are then named as the destination names them). A listing that fails or breaks its
    invariants raises S3Failure naming the bucket; the other ranges are then abandoned."""
    if threads < 1:
        raise ValueError("threads must be at least 1")
    key_ranges = seed_ranges(prefix, ranges)
    checked = _Checked(on_progress)
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=min(threads, len(key_ranges)), thread_name_prefix="verify")
    try:
        futures = [pool.submit(_verify_range, (s3, dest_s3 or s3), source_bucket, dest_bucket, (prefix, dest_prefix), key_range, checked, stop) for key_range in key_ranges]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            error = future.exception() if future.done() else None
            if error is not None:
                raise error
        parts = [future.result() for future in futures]
    finally:
        # On a failure or Ctrl-C: ranges not started are dropped, running ones stop at their next page.
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
    return VerifyResult(
        source_bucket=source_bucket,
        dest_bucket=dest_bucket,
        prefix=prefix,
        source_keys=sum(part.source_keys for part in parts),
        dest_keys=sum(part.dest_keys for part in parts),
        identical_keys=sum(part.identical_keys for part in parts),
        missing=sorted((obj for part in parts for obj in part.missing), key=_by_key),
        different=sorted((d for part in parts for d in part.different), key=lambda d: d.key),
        extra=sorted((obj for part in parts for obj in part.extra), key=_by_key),
        dest_prefix=dest_prefix,
    )


def _by_key(obj: ListedObject) -> str:
    return obj.key


def _verify_range(
    s3: tuple[S3Client, S3Client],
    source_bucket: str,
    dest_bucket: str,
    prefixes: tuple[str, str | None],
    key_range: KeyRange,
    checked: _Checked,
    stop: threading.Event,
) -> Tally:
    result = Tally()
    prefix, dest_prefix = prefixes
    source = _listing(s3[0], "source", source_bucket, prefix, None, key_range)
    dest = _listing(s3[1], "destination", dest_bucket, prefix, dest_prefix, key_range)
    for group in merge_join(source, dest):
        if stop.is_set():
            break
        before = result.source_keys
        for decision in group.decisions:
            result.add(decision)
        checked.add(result.source_keys - before)
    if dest_prefix is not None:
        result.extra = [replace(obj, key=dest_prefix + obj.key[len(prefix) :]) for obj in result.extra]
    return result


def _listing(s3: S3Client, role: str, bucket: str, prefix: str, dest_prefix: str | None, key_range: KeyRange) -> Iterator[ListedPage]:
    """``list_pages`` (``list_pages_as`` for a destination under another prefix), with a failure
    saying which bucket's listing it was."""
    try:
        yield from list_pages_as(s3, bucket, prefix, dest_prefix, key_range)
    except S3Failure as failure:
        raise S3Failure(failure.code, f"cannot list the {role} bucket '{bucket}': {failure.message}", failure.permanent) from failure
