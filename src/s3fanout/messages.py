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
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from s3fanout.envvars import env_int
from s3fanout.manifest.model import ManifestError, ManifestPart
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


# S3 version ids are opaque strings (about 32 URL-safe characters; "null" for an object written
# while the bucket was not versioned). Anything else in a message is refused.
_VERSION_ID = re.compile(r"[\x21-\x7e]{1,1024}")


def _version_id(value: Any, name: str) -> str:
    _require(isinstance(value, str) and _VERSION_ID.fullmatch(value) is not None, f"{name} must be an S3 version id (printable ASCII)")
    return value  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class VersionRef:
    """One entry of a key's version history to reproduce: an object version (its id and size) or a
    delete marker (``delete_marker``, size 0)."""

    version_id: str
    size: int = 0
    delete_marker: bool = False

    def to_json_value(self) -> list[Any]:
        """``[vid, size]`` for a version, ``[vid]`` for a delete marker: a key may carry a thousand."""
        return [self.version_id] if self.delete_marker else [self.version_id, self.size]

    @classmethod
    def from_json_value(cls, value: Any) -> VersionRef:
        _require(isinstance(value, list) and len(value) in (1, 2), "a stack entry must be [version id] or [version id, size]")
        vid = _version_id(value[0], "a stack entry's version id")
        if len(value) == 1:
            return cls(vid, 0, delete_marker=True)
        size = value[1]
        _require(isinstance(size, int) and not isinstance(size, bool) and size >= 0, "a stack entry's size must be a non-negative integer")
        return cls(vid, size)


@dataclass(frozen=True, slots=True)
class VersionStack:
    """What an --all-versions copy item carries besides its own version: the key's later entries
    to copy after it, oldest first (``then``), in order, by the same copier; ``more`` when newer
    entries exist that did not fit (the copier lists them once these are copied, see
    copying/versioned.py); and what the destination's newest entries were when the item was
    planned (``after``: the source version id recorded on the destination's newest object
    version, None for none; ``dest_dms``: delete markers above it), so that a retried or
    redelivered item resumes after what an earlier attempt copied instead of copying it twice.
    """

    then: tuple[VersionRef, ...] = ()
    more: bool = False
    after: str | None = None
    dest_dms: int = 0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.then:
            data["then"] = [entry.to_json_value() for entry in self.then]
        if self.more:
            data["more"] = True
        if self.after is not None:
            data["after"] = self.after
        if self.dest_dms:
            data["dms"] = self.dest_dms
        return data

    @classmethod
    def from_dict(cls, data: Any) -> VersionStack:
        _require(isinstance(data, dict), "stack must be an object")
        then = data.get("then", [])
        _require(isinstance(then, list), "stack.then must be a list")
        after = data.get("after")
        return cls(
            then=tuple(VersionRef.from_json_value(entry) for entry in then),
            more=_bool(data, "more", default=False),
            after=None if after is None else _version_id(after, "stack.after"),
            dest_dms=_int(data, "dms", default=0),
        )


@dataclass(frozen=True, slots=True)
class CopyItem:
    """One key to copy, with the size and ETag the listing reported (so no HeadObject is needed).

    With ``parts`` it is a part task: copy those parts of an upload that is already under way.

    With ``version_id`` it copies that version of the key (--as-of, --all-versions), on every copy
    path; ``delete_marker`` (with the marker's version id, size 0) reproduces a delete marker
    instead. ``stack`` makes it one key's share of an --all-versions copy: this version first, then
    the stack's entries, in order (see VersionStack).
    """

    key: str
    size: int
    etag: str | None = None
    failure: KeyFailure | None = None
    parts: PartRange | None = None
    version_id: str | None = None
    delete_marker: bool = False
    stack: VersionStack | None = None

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
        if self.version_id is not None:
            data["vid"] = self.version_id
        if self.delete_marker:
            data["dm"] = True
        if self.stack is not None:
            data["stack"] = self.stack.to_dict()
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
            version_id=None if data.get("vid") is None else _version_id(data["vid"], "vid"),
            delete_marker=_bool(data, "dm", default=False),
            stack=VersionStack.from_dict(data["stack"]) if data.get("stack") is not None else None,
        )
        if parts is not None:
            count = -(-item.size // parts.part_size)
            _require(parts.last <= count, f"parts {parts.first}-{parts.last} beyond the {count} parts of a {item.size}-byte object")
        if item.delete_marker:
            _require(item.version_id is not None and item.size == 0 and parts is None, "a delete marker needs its version id, size 0 and no parts")
        if item.stack is not None:
            _require(item.version_id is not None, "a version stack starts with a version id")
        return item


# ------------------------------------------------------------------------------ copy options --

# What S3 accepts for a copy's StorageClass (OUTPOSTS and SNOW are for other kinds of S3).
STORAGE_CLASSES = (
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
    "REDUCED_REDUNDANCY",
    "EXPRESS_ONEZONE",
)
SSE_ALGORITHMS = ("AES256", "aws:kms")
# The checksum algorithms a copy may ask for (CopyObject and CreateMultipartUpload both take them).
COPY_CHECKSUM_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
# The one canned ACL a copy may set: for a destination bucket of another account that does not
# enforce bucket-owner ownership, so that its owner gets full control of the copies.
COPY_ACLS = ("bucket-owner-full-control",)
OPTIONS_VERSION = 1
# S3 allows 2 KB of user metadata (names and values, as sent) per object.
MAX_METADATA_BYTES = 2048
# A KMS key as S3 takes it: key id, key ARN, alias name or alias ARN.
_KMS_KEY = re.compile(
    r"(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})|alias/[A-Za-z0-9/_-]{1,250}))"
    r"|alias/[A-Za-z0-9/_-]{1,250}|mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
# A metadata name: an HTTP header token (S3 stores it lower-cased after x-amz-meta-).
_METADATA_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


@dataclass(frozen=True, slots=True)
class CopyOptions:
    """How the copies of a job are written, the same on both paths (CopyObject and multipart).

    The default (every field unset) is today's copy: the destination bucket's default storage
    class and encryption, the source's checksum algorithm, metadata and tags copied, no ACL, no
    Object Lock. ``replace_metadata`` is MetadataDirective REPLACE: user metadata becomes
    ``metadata``, content headers (Content-Type etc.) are still the source's. ``object_lock``
    gives each copy its source's retention and legal hold. Construction checks every field and
    raises InvalidMessage with a reason a person can act on.
    """

    storage_class: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    checksum_algorithm: str | None = None
    acl: str | None = None
    replace_metadata: bool = False
    metadata: tuple[tuple[str, str], ...] = ()
    object_lock: bool = False

    def __post_init__(self) -> None:
        _require(self.storage_class is None or self.storage_class in STORAGE_CLASSES, f"storage class {self.storage_class!r} is not one of {', '.join(STORAGE_CLASSES)}")
        _require(self.sse is None or self.sse in SSE_ALGORITHMS, f"server-side encryption {self.sse!r} is not one of {', '.join(SSE_ALGORITHMS)}")
        if self.sse_kms_key_id is not None:
            _require(self.sse == "aws:kms", "a KMS key id is only for server-side encryption aws:kms")
            _require(_KMS_KEY.fullmatch(self.sse_kms_key_id) is not None, f"{self.sse_kms_key_id!r} is not a KMS key id, key ARN, alias/NAME or alias ARN")
        _require(
            self.checksum_algorithm is None or self.checksum_algorithm in COPY_CHECKSUM_ALGORITHMS,
            f"checksum algorithm {self.checksum_algorithm!r} is not one of {', '.join(COPY_CHECKSUM_ALGORITHMS)}",
        )
        _require(self.acl is None or self.acl in COPY_ACLS, f"ACL {self.acl!r} is not accepted: only {', '.join(COPY_ACLS)}")
        _require(self.replace_metadata or not self.metadata, "metadata is only given with metadata directive REPLACE")
        names = [name.lower() for name, _ in self.metadata]
        _require(len(set(names)) == len(names), "a metadata name is given twice (S3 lower-cases names)")
        for name, value in self.metadata:
            _require(_METADATA_NAME.fullmatch(name) is not None, f"metadata name {name!r} is not an HTTP header name (letters, digits, - and _)")
            _require(value.isascii() and value.isprintable(), f"metadata value of {name!r} must be printable ASCII")
        size = sum(len(name) + len(value) for name, value in self.metadata)
        _require(size <= MAX_METADATA_BYTES, f"metadata is {size} bytes; S3 allows {MAX_METADATA_BYTES}")

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_COPY_OPTIONS

    @property
    def metadata_directive(self) -> str:
        return "REPLACE" if self.replace_metadata else "COPY"

    def to_dict(self) -> dict[str, Any]:
        """The set fields only, with the options' own version."""
        data: dict[str, Any] = {"v": OPTIONS_VERSION}
        for name, value in (("storage_class", self.storage_class), ("sse", self.sse), ("kms_key", self.sse_kms_key_id), ("checksum", self.checksum_algorithm), ("acl", self.acl)):
            if value is not None:
                data[name] = value
        if self.replace_metadata:
            data["metadata"] = dict(self.metadata)
        if self.object_lock:
            data["object_lock"] = True
        return data

    @classmethod
    def from_dict(cls, data: Any) -> CopyOptions:
        _require(isinstance(data, dict), "opts must be an object")
        _require(data.get("v") == OPTIONS_VERSION, f"unsupported copy options version {data.get('v')!r}")
        unknown = set(data) - {"v", "storage_class", "sse", "kms_key", "checksum", "acl", "metadata", "object_lock"}
        _require(not unknown, f"unknown copy options {', '.join(sorted(unknown))}")
        metadata = data.get("metadata")
        _require(metadata is None or (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())), "metadata must be an object of strings")
        return cls(
            storage_class=_optional_str(data, "storage_class"),
            sse=_optional_str(data, "sse"),
            sse_kms_key_id=_optional_str(data, "kms_key"),
            checksum_algorithm=_optional_str(data, "checksum"),
            acl=_optional_str(data, "acl"),
            replace_metadata=metadata is not None,
            metadata=tuple(metadata.items()) if metadata else (),
            object_lock=_bool(data, "object_lock", default=False),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CopyOptions:
        """The stack's options (template parameters StorageClass, ServerSideEncryption,
        SseKmsKeyId, ChecksumAlgorithm, CopyAcl, CopyObjectLock), for messages without their own."""

        def value(name: str) -> str | None:
            return env.get(name) or None

        try:
            return cls(
                storage_class=value(STORAGE_CLASS_ENV),
                sse=value(SSE_ENV),
                sse_kms_key_id=value(SSE_KMS_KEY_ENV),
                checksum_algorithm=value(CHECKSUM_ENV),
                acl=value(ACL_ENV),
                object_lock=(env.get(OBJECT_LOCK_ENV) or "false").lower() == "true",
            )
        except InvalidMessage as error:
            raise ValueError(f"copy options from the environment: {error}") from None


DEFAULT_COPY_OPTIONS = CopyOptions()
STORAGE_CLASS_ENV = "COPY_STORAGE_CLASS"
SSE_ENV = "COPY_SSE"
SSE_KMS_KEY_ENV = "COPY_SSE_KMS_KEY_ID"
CHECKSUM_ENV = "COPY_CHECKSUM_ALGORITHM"
ACL_ENV = "COPY_ACL"
OBJECT_LOCK_ENV = "COPY_OBJECT_LOCK"


def _options(options: CopyOptions) -> dict[str, Any]:
    """The options' key of a message body, present only when not the default (older bodies stay byte for byte)."""
    return {} if options.is_default else {"opts": options.to_dict()}


def _parse_options(data: dict[str, Any]) -> CopyOptions:
    raw = data.get("opts")
    return DEFAULT_COPY_OPTIONS if raw is None else CopyOptions.from_dict(raw)


@dataclass(frozen=True, slots=True)
class KeyRewrite:
    """Keys written under another prefix in the destination (--dest-prefix): a source key
    ``source_prefix + rest`` is written as ``dest_prefix + rest``. The mapping keeps UTF-8 binary
    order, so a destination listed under ``dest_prefix`` merge-joins with the source's listing."""

    source_prefix: str
    dest_prefix: str

    def dest_key(self, key: str) -> str:
        _require(key.startswith(self.source_prefix), f"key {key!r} is not under the rewritten prefix {self.source_prefix!r}")
        return self.dest_prefix + key[len(self.source_prefix) :]

    def source_key(self, dest_key: str) -> str:
        return self.source_prefix + dest_key[len(self.dest_prefix) :]

    def to_list(self) -> list[str]:
        return [self.source_prefix, self.dest_prefix]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> KeyRewrite | None:
        raw = data.get("rekey")
        if raw is None:
            return None
        _require(isinstance(raw, list) and len(raw) == 2 and all(isinstance(part, str) for part in raw), "rekey must be [source prefix, destination prefix]")
        _require(raw[0] != raw[1], "rekey must change the prefix")
        return cls(raw[0], raw[1])


def dest_key(key: str, rekey: KeyRewrite | None) -> str:
    """The key ``key`` of the source is written as in the destination."""
    return key if rekey is None else rekey.dest_key(key)


def _rekey(rekey: KeyRewrite | None) -> dict[str, Any]:
    """The rewrite's key of a message body, present only when set (older bodies stay byte for byte)."""
    return {} if rekey is None else {"rekey": rekey.to_list()}


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
    # How the copies are written (storage class, encryption, ...); the default is a plain copy.
    options: CopyOptions = DEFAULT_COPY_OPTIONS
    # Keys written under another prefix (--dest-prefix); None writes each key as it is.
    rekey: KeyRewrite | None = None
    kind: str = field(default="copy", init=False)

    def dest_key(self, key: str) -> str:
        """Where the source's ``key`` is written in the destination."""
        return dest_key(key, self.rekey)

    @property
    def job_ids(self) -> tuple[str, ...]:
        return (self.job_id,)

    @property
    def regions(self) -> tuple[str | None, str | None]:
        """(source region, destination region), each None where not known."""
        return self.source_region, self.dest_region

    def to_json(self) -> str:
        return _dumps(self._envelope() | {"items": [item.to_dict() for item in self.items]})

    def _envelope(self) -> dict[str, Any]:
        return (
            {
                "v": MESSAGE_VERSION,
                "type": self.kind,
                "job": self.job_id,
                "src": self.source_bucket,
                "dst": self.dest_bucket,
                "hops": self.hops,
            }
            | _regions(self.source_region, self.dest_region)
            | _options(self.options)
            | _rekey(self.rekey)
        )

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
            options=_parse_options(data),
            rekey=KeyRewrite.from_data(data),
        )


@dataclass(frozen=True, slots=True)
class Destination:
    """One destination of a list task: its job (each destination of a job of several is a job of
    its own, with its own record, failures and delete pass), bucket, region and key prefix."""

    job_id: str
    bucket: str
    region: str | None = None
    # The prefix its keys are written under (--dest-prefix); None: the source's keys as they are.
    prefix: str | None = None

    def rekey(self, source_prefix: str) -> KeyRewrite | None:
        """How the keys under ``source_prefix`` are rewritten for it; None when they are not."""
        return None if self.prefix is None or self.prefix == source_prefix else KeyRewrite(source_prefix, self.prefix)

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job_id, "dst": self.bucket} | _regions(None, self.region) | ({} if self.prefix is None else {"dst_prefix": self.prefix})

    @classmethod
    def from_dict(cls, data: Any) -> Destination:
        _require(isinstance(data, dict), "a destination must be a JSON object")
        return cls(_str(data, "job"), _str(data, "dst", allow_empty=False), _region(data, "dst_region"), _optional_str(data, "dst_prefix"))


@dataclass(frozen=True, slots=True)
class ListTask:
    """A key range of one job for a lister: keys under ``prefix`` with after < key <= until.

    ``after`` and ``until`` are None for an open end. ``resumed`` counts how often the range was
    handed on by a lister that ran short of time, which makes a stuck range visible in logs.
    ``mode`` is "copy" (queue what is missing or changed) or "delete" (remove the destination's
    orphans, a pass run only after every copy of the job succeeded). ``compare`` False copies every
    key without listing the destination (--force).

    ``dest_prefix`` writes the keys under another prefix of the destination (--dest-prefix). With
    ``more_dests`` the range is listed once for several destinations, each merge-joined on its own
    (a job of several destinations: one job each, the first being ``job_id``).

    With ``manifest``, the keys are not listed but read from that part of a manifest (S3 Inventory
    or CSV, --manifest), from its row ``skip_rows`` on (the rows before were handled by a lister
    that ran short of time); ``after`` and ``until`` are then unused.
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
    # How the copies are written, passed on to every copy batch of the range.
    options: CopyOptions = DEFAULT_COPY_OPTIONS
    # A manifest part to read instead of a listing, and the rows of it already handled.
    manifest: ManifestPart | None = None
    skip_rows: int = 0
    # Versions instead of current objects (versions.py): ``all_versions`` lists every version and
    # delete marker (ListObjectVersions) and copies each key's history in order; ``as_of`` (an ISO
    # 8601 time with its UTC offset) copies each key as it was then. ``after_version`` resumes a
    # range in the middle of the key ``after`` (whose entries up to that version id were listed).
    all_versions: bool = False
    as_of: str | None = None
    after_version: str | None = None
    # Where the first destination's keys go (None: the source's keys as they are), and the job's
    # other destinations, listed over the same range.
    dest_prefix: str | None = None
    more_dests: tuple[Destination, ...] = ()
    # The keys the lister that split this part off, or the seeder, expected it to hold (None:
    # unknown): a small part is not surveyed at its first page (lister.first_survey_page), and the
    # lister forecasts the job's copy work from it (copyspread.CopySpread.expect).
    expected_keys: int | None = None
    # The MaxKeys of the range's first source page (None: a full page): the keys the seeder
    # expects it to hold (keyspace.seed_page_keys), so that a small range is listed in a small page.
    page_keys: int | None = None
    # When the job was seeded (seconds since the epoch; None: not known), carried by every part and
    # hand-on: the listers of a job's first minutes aim its copy batches at one window
    # (copyspread.CopySpread.aim).
    seeded_at: int | None = None
    # The job's destinations held no key under their prefixes when it was seeded (a first copy,
    # not a re-run): what a destination holds in the range is then only what this job copied there
    # (a range listed again after a crash), so the destinations are listed in small pages, which
    # grow to full ones where they find the range's keys (lister.DestPageKeys). A copy pass only.
    dest_empty: bool = False
    kind: str = field(default="list", init=False)

    @property
    def regions(self) -> tuple[str | None, str | None]:
        """(source region, destination region), each None where not known."""
        return self.source_region, self.dest_region

    @property
    def destinations(self) -> tuple[Destination, ...]:
        """Every destination of the task, its own first."""
        return (Destination(self.job_id, self.dest_bucket, self.dest_region, self.dest_prefix), *self.more_dests)

    @property
    def job_ids(self) -> tuple[str, ...]:
        return tuple(dest.job_id for dest in self.destinations)

    def for_jobs(self, job_ids: Iterable[str]) -> ListTask:
        """The task for only the destinations of these jobs (the others' jobs were cancelled)."""
        wanted = set(job_ids)
        first, *more = [dest for dest in self.destinations if dest.job_id in wanted]
        return replace(self, job_id=first.job_id, dest_bucket=first.bucket, dest_region=first.region, dest_prefix=first.prefix, more_dests=tuple(more))

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
            | _options(self.options)
            | ({"manifest": self.manifest.to_dict(), "skip": self.skip_rows} if self.manifest is not None else {})
            | _versions(self.all_versions, self.as_of, self.after_version)
            | ({} if self.dest_prefix is None else {"dst_prefix": self.dest_prefix})
            | ({"more": [dest.to_dict() for dest in self.more_dests]} if self.more_dests else {})
            | ({} if self.expected_keys is None else {"exp": self.expected_keys})
            | ({} if self.page_keys is None else {"pk": self.page_keys})
            | ({} if self.seeded_at is None else {"t0": self.seeded_at})
            | ({"dst_empty": True} if self.dest_empty else {})
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
            options=_parse_options(data),
            manifest=_manifest_part(data),
            skip_rows=_int(data, "skip", default=0),
            **_parse_versions(data),
            dest_prefix=_optional_str(data, "dst_prefix"),
            more_dests=_more_dests(data),
            expected_keys=_int(data, "exp") if data.get("exp") is not None else None,
            page_keys=_int(data, "pk") if data.get("pk") is not None else None,
            seeded_at=_int(data, "t0") if data.get("t0") is not None else None,
            dest_empty=_bool(data, "dst_empty", default=False),
        )

    def __post_init__(self) -> None:
        if self.more_dests or self.dest_prefix is not None:
            # Version and manifest listings compare one destination, under the source's keys.
            _require(
                self.manifest is None and not self.all_versions and self.as_of is None, "several destinations and --dest-prefix apply to listed current objects only (not to manifests or versions)"
            )
        _require(not (self.more_dests and self.mode == "delete"), "a delete pass has one destination")


def _more_dests(data: dict[str, Any]) -> tuple[Destination, ...]:
    raw = data.get("more", [])
    _require(isinstance(raw, list), "more must be a list of destinations")
    return tuple(Destination.from_dict(item) for item in raw)


def _manifest_part(data: dict[str, Any]) -> ManifestPart | None:
    if data.get("manifest") is None:
        return None
    try:
        return ManifestPart.from_dict(data["manifest"])
    except ManifestError as error:
        raise InvalidMessage(str(error)) from None


def _versions(all_versions: bool, as_of: str | None, after_version: str | None) -> dict[str, Any]:
    """The versions' keys of a list task's body, present only when set (older bodies stay byte for byte)."""
    data: dict[str, Any] = {"versions": "all"} if all_versions else {}
    if as_of is not None:
        data["as_of"] = as_of
    if after_version is not None:
        data["after_vid"] = after_version
    return data


def parse_as_of(text: str) -> datetime:
    """An --as-of time as a message carries it: ISO 8601 with its UTC offset (a time without one
    is refused here; the command line assumes UTC for it before it gets this far)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidMessage(f"as_of {text!r} is not an ISO 8601 time") from None
    _require(when.tzinfo is not None, f"as_of {text!r} has no UTC offset")
    return when


def _parse_versions(data: dict[str, Any]) -> dict[str, Any]:
    versions = data.get("versions")
    _require(versions in (None, "all"), 'versions must be "all" or absent')
    as_of = _optional_str(data, "as_of")
    if as_of is not None:
        parse_as_of(as_of)
        _require(versions is None, "a list task copies all versions or the versions as of a time, not both")
    after_version = data.get("after_vid")
    if after_version is not None:
        _version_id(after_version, "after_vid")
        _require(data.get("after") is not None and (versions is not None or as_of is not None), "after_vid resumes a version listing inside the key 'after'")
    return {"all_versions": versions == "all", "as_of": as_of, "after_version": after_version}


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
        options: CopyOptions = DEFAULT_COPY_OPTIONS,
        rekey: KeyRewrite | None = None,
    ) -> None:
        self._template = CopyBatch(job_id, source_bucket, dest_bucket, (), hops, *regions, options, rekey)
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
    options: CopyOptions = DEFAULT_COPY_OPTIONS,
    rekey: KeyRewrite | None = None,
) -> Iterator[CopyBatch]:
    packer = CopyBatchPacker(job_id, source_bucket, dest_bucket, max_keys, max_bytes, alone_above, hops, regions, options, rekey)
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
