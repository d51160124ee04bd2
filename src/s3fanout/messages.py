"""Typed, versioned bodies of the messages that travel on the queues.

Two kinds exist: a ListTask (a key range a lister must list) on the list queue and a CopyBatch
(keys a copier must copy) on the copy queue. The copy DLQ holds CopyBatches whose items carry the
failure that sent them there, so that a redrive can put the very same body back on the copy queue.
A CopyItem may also carry a PartRange: it is then a part task, one range of parts of a multipart
copy that another copier started (see copying/multipart.py); such items travel in a batch of their own.

Bodies are serialised with ``ensure_ascii=True``: S3 keys may hold characters that SQS refuses in a
message body (control characters, U+FFFE, U+FFFF), and escaping every non-ASCII character keeps any
key transportable at the price of a larger body, which the packer below accounts for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from s3fanout.envvars import env_int
from s3fanout.signing import SEAL_BYTES

MESSAGE_VERSION = 1

# SQS accepts bodies of up to 256 KiB on every queue (1 MiB only where the queue is configured for
# it), and the same total for one SendMessageBatch request. Stay below both with room to spare for
# the request's own framing.
MAX_MESSAGE_BYTES = 250 * 1024
COPY_BATCH_MAX_KEYS = 100

# Objects larger than this are copied in parts (copying/multipart.py) and travel in a copy batch of their
# own, so that one long copy does not hold back the small keys packed with it.
#
# Why 1 GiB. CopyObject copies up to 5 GiB in one request, so 5 GiB is the highest threshold
# possible (and the cap). AWS's s3transfer (aws s3 cp) switches at 8 MiB, because it serves a few
# copies at a time and wants each to use many connections. Here parallelism already comes from
# the objects: 16 copies in flight per copier and 100 copiers. Splitting a 50 MiB object into
# 8 MiB parts would buy no throughput, only 8 requests instead of 1 (each a PUT-class request,
# billed like a CopyObject and counted against S3's ~3,500 writes/s per prefix, the real limit of
# a job of billions of keys). Splitting pays where one object's copy time dominates: S3 copies
# roughly 20-150 MiB/s per request, so a 4 GiB CopyObject can take a minute or more of the
# copier's 300 s, and if it does not finish nothing of it is kept. From 1 GiB on, parts of 64 MiB
# copied 16 at a time finish in seconds, and the ~17 requests per GiB cost $0.00009, nothing next
# to the $0.023 a month the GiB costs to store. Below 1 GiB a single CopyObject takes seconds.
MULTIPART_THRESHOLD_ENV = "MULTIPART_THRESHOLD_BYTES"
DEFAULT_MULTIPART_THRESHOLD_BYTES = 1024**3
MAX_MULTIPART_THRESHOLD_BYTES = 5 * 1024**3


def multipart_threshold_bytes() -> int:
    """The threshold from the environment (MULTIPART_THRESHOLD_BYTES), capped at 5 GiB."""
    return min(env_int(MULTIPART_THRESHOLD_ENV, DEFAULT_MULTIPART_THRESHOLD_BYTES), MAX_MULTIPART_THRESHOLD_BYTES)


class InvalidMessage(ValueError):
    """A message body that is not a valid message of a version this code understands."""


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class KeyFailure:
    """Why a key could not be copied, and how often it has failed so far."""

    code: str
    message: str
    attempts: int
    first_failed: str
    last_failed: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message} ({self.attempts} attempts)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "attempts": self.attempts,
            "first": self.first_failed,
            "last": self.last_failed,
        }

    @classmethod
    def from_dict(cls, data: Any) -> KeyFailure:
        _require(isinstance(data, dict), "error must be an object")
        return cls(
            code=_str(data, "code"),
            message=_str(data, "message"),
            attempts=_int(data, "attempts"),
            first_failed=_str(data, "first"),
            last_failed=_str(data, "last"),
        )


# S3 numbers the parts of a multipart upload 1 to 10,000.
MAX_PART_NUMBER = 10_000


@dataclass(frozen=True, slots=True)
class PartRange:
    """Parts ``first`` to ``last`` (1-based, inclusive) of the multipart upload ``upload_id`` of
    an object cut into parts of ``part_size`` bytes (the last part of the object may be shorter).
    """

    upload_id: str
    first: int
    last: int
    part_size: int

    def to_dict(self) -> dict[str, Any]:
        return {"upload": self.upload_id, "first": self.first, "last": self.last, "psize": self.part_size}

    @classmethod
    def from_dict(cls, data: Any) -> PartRange:
        _require(isinstance(data, dict), "parts must be an object")
        parts = cls(_str(data, "upload", allow_empty=False), _int(data, "first"), _int(data, "last"), _int(data, "psize"))
        _require(1 <= parts.first <= parts.last <= MAX_PART_NUMBER, f"parts must satisfy 1 <= first <= last <= {MAX_PART_NUMBER}")
        _require(parts.part_size > 0, "psize must be positive")
        return parts


@dataclass(frozen=True, slots=True)
class CopyItem:
    """One key to copy, with the size and ETag the listing reported (so no HeadObject is needed).

    With ``parts`` it is a part task: copy those parts of an upload that is already under way.
    """

    key: str
    size: int
    etag: str | None = None
    failure: KeyFailure | None = None
    parts: PartRange | None = None

    @property
    def attempts(self) -> int:
        return self.failure.attempts if self.failure else 0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "size": self.size}
        if self.etag is not None:
            data["etag"] = self.etag
        if self.failure is not None:
            data["error"] = self.failure.to_dict()
        if self.parts is not None:
            data["parts"] = self.parts.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Any) -> CopyItem:
        _require(isinstance(data, dict), "each item must be an object")
        etag = data.get("etag")
        _require(etag is None or isinstance(etag, str), "etag must be a string")
        error = data.get("error")
        parts = PartRange.from_dict(data["parts"]) if data.get("parts") is not None else None
        item = cls(
            key=_str(data, "key", allow_empty=False),
            size=_int(data, "size"),
            etag=etag,
            failure=KeyFailure.from_dict(error) if error is not None else None,
            parts=parts,
        )
        if parts is not None:
            count = -(-item.size // parts.part_size)
            _require(parts.last <= count, f"parts {parts.first}-{parts.last} beyond the {count} parts of a {item.size}-byte object")
        return item


@dataclass(frozen=True, slots=True)
class CopyBatch:
    """Keys of one job that a copier copies from the source to the same keys in the destination."""

    job_id: str
    source_bucket: str
    dest_bucket: str
    items: tuple[CopyItem, ...]
    # Times this batch's keys were re-queued in one chain (retries, part tasks): see guard.py.
    hops: int = 0
    # The buckets' regions, found once per job (None: the function's own region).
    source_region: str | None = None
    dest_region: str | None = None
    kind: str = field(default="copy", init=False)

    @property
    def regions(self) -> tuple[str | None, str | None]:
        """(source region, destination region), each None where not known."""
        return self.source_region, self.dest_region

    def to_json(self) -> str:
        return _dumps(self._envelope() | {"items": [item.to_dict() for item in self.items]})

    def _envelope(self) -> dict[str, Any]:
        return {
            "v": MESSAGE_VERSION,
            "type": self.kind,
            "job": self.job_id,
            "src": self.source_bucket,
            "dst": self.dest_bucket,
            "hops": self.hops,
        } | _regions(self.source_region, self.dest_region)

    @classmethod
    def from_json(cls, body: str) -> CopyBatch:
        message = parse_message(body)
        if not isinstance(message, CopyBatch):
            raise InvalidMessage(f"expected a copy batch, got a {message.kind} message")
        return message

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> CopyBatch:
        items = data.get("items")
        if not isinstance(items, list) or not items:
            raise InvalidMessage("items must be a non-empty list")
        return cls(
            job_id=_str(data, "job"),
            source_bucket=_str(data, "src", allow_empty=False),
            dest_bucket=_str(data, "dst", allow_empty=False),
            items=tuple(CopyItem.from_dict(item) for item in items),
            hops=_int(data, "hops", default=0),
            source_region=_region(data, "src_region"),
            dest_region=_region(data, "dst_region"),
        )


@dataclass(frozen=True, slots=True)
class ListTask:
    """A key range of one job for a lister: keys under ``prefix`` with after < key <= until.

    ``after`` and ``until`` are None for an open end. ``resumed`` counts how often the range was
    handed on by a lister that ran short of time, which makes a stuck range visible in logs.
    ``mode`` is "copy" (queue what is missing or changed) or "delete" (remove the destination's
    orphans, a pass run only after every copy of the job succeeded). ``compare`` False copies every
    key without listing the destination (--force).
    """

    job_id: str
    source_bucket: str
    dest_bucket: str
    prefix: str = ""
    after: str | None = None
    until: str | None = None
    resumed: int = 0
    mode: str = "copy"
    compare: bool = True
    # Times the range was re-queued in one chain (handed on or split off), never reset: see guard.py.
    hops: int = 0
    # The buckets' regions, found once per job (None: the function's own region).
    source_region: str | None = None
    dest_region: str | None = None
    kind: str = field(default="list", init=False)

    @property
    def regions(self) -> tuple[str | None, str | None]:
        """(source region, destination region), each None where not known."""
        return self.source_region, self.dest_region

    def to_json(self) -> str:
        return _dumps(
            {
                "v": MESSAGE_VERSION,
                "type": self.kind,
                "job": self.job_id,
                "src": self.source_bucket,
                "dst": self.dest_bucket,
                "prefix": self.prefix,
                "after": self.after,
                "until": self.until,
                "resumed": self.resumed,
                "mode": self.mode,
                "compare": self.compare,
                "hops": self.hops,
            }
            | _regions(self.source_region, self.dest_region)
        )

    @classmethod
    def from_json(cls, body: str) -> ListTask:
        message = parse_message(body)
        if not isinstance(message, ListTask):
            raise InvalidMessage(f"expected a list task, got a {message.kind} message")
        return message

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> ListTask:
        return cls(
            job_id=_str(data, "job"),
            source_bucket=_str(data, "src", allow_empty=False),
            dest_bucket=_str(data, "dst", allow_empty=False),
            prefix=_str(data, "prefix"),
            after=_optional_str(data, "after"),
            until=_optional_str(data, "until"),
            resumed=_int(data, "resumed"),
            mode=_choice(data, "mode", LIST_MODES, default="copy"),
            compare=_bool(data, "compare", default=True),
            hops=_int(data, "hops", default=0),
            source_region=_region(data, "src_region"),
            dest_region=_region(data, "dst_region"),
        )


LIST_MODES = ("copy", "delete")
Message = ListTask | CopyBatch
_KINDS: dict[str, type[ListTask] | type[CopyBatch]] = {"list": ListTask, "copy": CopyBatch}


def parse_message(body: str) -> Message:
    """Parse any message body, raising InvalidMessage with a reason a person can act on."""
    try:
        data = json.loads(body)
    except (TypeError, ValueError) as error:
        raise InvalidMessage(f"body is not JSON: {error}") from None
    _require(isinstance(data, dict), "body must be a JSON object")
    version = data.get("v")
    _require(version == MESSAGE_VERSION, f"unsupported message version {version!r}")
    kind = _KINDS.get(str(data.get("type")))
    if kind is None:
        raise InvalidMessage(f"unknown message type {data.get('type')!r}")
    return kind._from_dict(data)


class CopyBatchPacker:
    """Packs keys into CopyBatches of at most ``max_keys`` keys and ``max_bytes`` serialised bytes.

    ``add`` returns the batches that became full; ``flush`` returns the last partial one. Byte
    accounting is exact: it uses the same serialisation as ``CopyBatch.to_json``. An item larger
    than ``alone_above`` bytes (by default the multipart threshold) or carrying a part range gets
    a batch of its own at once, and the batch being filled goes on filling.
    """

    def __init__(
        self,
        job_id: str,
        source_bucket: str,
        dest_bucket: str,
        max_keys: int = COPY_BATCH_MAX_KEYS,
        max_bytes: int = MAX_MESSAGE_BYTES,
        alone_above: int | None = None,
        hops: int = 0,
        regions: tuple[str | None, str | None] = (None, None),
    ) -> None:
        self._template = CopyBatch(job_id, source_bucket, dest_bucket, (), hops, *regions)
        # '{...,"items":[' + ']}' around the comma-separated items, and the seal sending adds.
        self._envelope_bytes = len(_dumps(self._template._envelope() | {"items": []})) + SEAL_BYTES
        self._max_keys = max_keys
        self._max_bytes = max_bytes
        self._alone_above = multipart_threshold_bytes() if alone_above is None else alone_above
        self._items: list[CopyItem] = []
        self._bytes = self._envelope_bytes

    def add(self, item: CopyItem) -> list[CopyBatch]:
        if item.size > self._alone_above or item.parts is not None:
            if self._envelope_bytes + len(_dumps(item.to_dict())) > self._max_bytes:
                raise ValueError(f"key {item.key!r} alone exceeds the {self._max_bytes}-byte message limit")
            return [replace(self._template, items=(item,))]
        item_bytes = len(_dumps(item.to_dict())) + (1 if self._items else 0)
        ready = []
        if self._items and self._bytes + item_bytes > self._max_bytes:
            ready.append(self._take())
            item_bytes -= 1
        if self._envelope_bytes + item_bytes > self._max_bytes:
            raise ValueError(f"key {item.key!r} alone exceeds the {self._max_bytes}-byte message limit")
        self._items.append(item)
        self._bytes += item_bytes
        if len(self._items) >= self._max_keys:
            ready.append(self._take())
        return ready

    def flush(self) -> list[CopyBatch]:
        return [self._take()] if self._items else []

    def pending(self) -> int:
        return len(self._items)

    def _take(self) -> CopyBatch:
        batch = replace(self._template, items=tuple(self._items))
        self._items = []
        self._bytes = self._envelope_bytes
        return batch


def pack_copy_batches(
    job_id: str,
    source_bucket: str,
    dest_bucket: str,
    items: Iterable[CopyItem],
    max_keys: int = COPY_BATCH_MAX_KEYS,
    max_bytes: int = MAX_MESSAGE_BYTES,
    alone_above: int | None = None,
    hops: int = 0,
    regions: tuple[str | None, str | None] = (None, None),
) -> Iterator[CopyBatch]:
    packer = CopyBatchPacker(job_id, source_bucket, dest_bucket, max_keys, max_bytes, alone_above, hops, regions)
    for item in items:
        yield from packer.add(item)
    yield from packer.flush()


# AWS region names: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ap-southeast-7, ...
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


def _regions(source: str | None, dest: str | None) -> dict[str, str]:
    """The regions' keys of a message body, present only when known (older bodies stay byte for byte)."""
    return {name: value for name, value in (("src_region", source), ("dst_region", dest)) if value is not None}


def _region(data: dict[str, Any], name: str) -> str | None:
    value = _optional_str(data, name)
    _require(value is None or _REGION.fullmatch(value) is not None, f"{name} {value!r} is not an AWS region name")
    return value


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise InvalidMessage(reason)


def _str(data: dict[str, Any], name: str, allow_empty: bool = True) -> str:
    value = data.get(name)
    _require(isinstance(value, str), f"{name} must be a string")
    _require(allow_empty or value != "", f"{name} must not be empty")
    return value  # type: ignore[return-value]


def _optional_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    _require(value is None or isinstance(value, str), f"{name} must be a string or null")
    return value


def _choice(data: dict[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = data.get(name, default)
    _require(value in choices, f"{name} must be one of {', '.join(choices)}")
    return value  # type: ignore[no-any-return]


def _bool(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    _require(isinstance(value, bool), f"{name} must be true or false")
    return value  # type: ignore[no-any-return]


def _int(data: dict[str, Any], name: str, default: int | None = None) -> int:
    value = data.get(name, default)
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, f"{name} must be a non-negative integer")
    return value  # type: ignore[return-value]
