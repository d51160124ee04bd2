"""Multipart copy of objects above the threshold: CreateMultipartUpload, UploadPartCopy for every
part (in parallel), CompleteMultipartUpload.

A multipart copy does not carry the source's metadata, content headers, tags or checksum algorithm
by itself, so they are read once (HeadObject, GetObjectTagging; only for these large objects) and
given to CreateMultipartUpload. Every UploadPartCopy pins the listed version with
CopySourceIfMatch. An upload created with a checksum algorithm answers every UploadPartCopy with
the part's checksum, and CompleteMultipartUpload wants it back next to the part's ETag.

An object's copy takes one of two shapes:

- **In this invocation**, when the estimated copy time (at ``bytes_per_second`` per request,
  ``concurrency`` requests at once) fits both one part task's budget (``task_seconds``) and the
  invocation's remaining time. If the time runs short all the same (S3 slower than assumed), the
  parts not yet started are handed on as part tasks instead of being lost.
- **Split**: otherwise the first copier creates the upload and hands every part on as *part
  tasks*: CopyItems carrying a PartRange, each a range of parts estimated to take at most
  ``task_seconds``, one per copy-queue message. Each copier copies its range; the one that then
  finds every part present (ListParts) completes the upload. Two may finish together: a
  CompleteMultipartUpload answered NoSuchUpload while the destination holds an object of the
  right size made of as many parts is someone else's completion, and fine.

Streamed copies (the sides are two stores, stream.py) take the same two shapes, each part read
with a ranged GetObject pinned with IfMatch and written with UploadPart instead of UploadPartCopy:
so an object of any size is copied by invocations of bounded time, as a server-side one is. A
streamed part is held in memory from its read to its upload; at most ``STREAM_PART_MEMORY_BYTES``
of parts are in flight per object.

Failures: a failed in-invocation copy aborts its upload, and the key is retried or dead-lettered
like any failed CopyObject (a retry starts a new upload). A part task that fails transiently is
retried through the copy queue for the parts it did not copy, upload kept; one that fails for good
(permanent error, or its last attempt) aborts the upload and dead-letters the key as a whole
object, so that a redrive copies it afresh. A part task that finds its upload gone (another part
task failed for good and aborted it, having dead-lettered the key; or someone else aborted it)
has nothing left to do and is dropped, with the reason, for the logs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from s3fanout.copying.limit import ConcurrencyLimit
from s3fanout.copying.options import check_metadata_size, content_headers, object_lock_arguments, write_arguments
from s3fanout.copying.stream import StreamSettings, size_mismatch, source_tagging
from s3fanout.envvars import env_int
from s3fanout.messages import (
    DEFAULT_COPY_OPTIONS,
    DEFAULT_MULTIPART_THRESHOLD_BYTES,
    MAX_PART_NUMBER,
    CopyItem,
    CopyOptions,
    PartRange,
    multipart_threshold_bytes,
)
from s3fanout.s3errors import THROTTLING_CODES, S3Failure, describe_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MiB = 1024**2
GiB = 1024**3
# S3's limits: every part but the last at least 5 MiB, any part at most 5 GiB, 10,000 parts.
MIN_PART_BYTES = 5 * MiB
MAX_PART_BYTES = 5 * GiB
MAX_PARTS = MAX_PART_NUMBER

# 64 MiB parts: an object at the 1 GiB threshold makes 16 parts, as many as a copier has copies in
# flight, so even the smallest multipart copy uses them all, and one part takes a few seconds.
# s3transfer's 8 MiB would make 8 times the requests for no gain in a server-side copy. Objects
# over 625 GiB get larger parts, to stay within 10,000 (up to 525 MiB for a 5 TiB object).
PART_SIZE_ENV = "MULTIPART_PART_SIZE_BYTES"
DEFAULT_PART_BYTES = 64 * MiB

# What one UploadPartCopy request is assumed to copy per second. S3's server-side copy usually runs
# at 50-150 MiB/s per request within a region, slower across regions; 20 MiB/s is on the safe side,
# so the estimates below err towards splitting early. It only sizes work; nothing depends on it
# for correctness, since a copy running short of time hands its remaining parts on.
ASSUMED_PART_COPY_BYTES_PER_SECOND = 20 * MiB
# Estimated copy time of one part task (and the most an object may take to be copied in a single
# invocation): under half the copier's 300 s timeout, so a task twice as slow as assumed still
# finishes, and an invocation carrying other messages too has room for them. At the defaults a
# task is 16 x 37 parts of 64 MiB, 37 GiB.
PART_TASK_SECONDS = 120.0
# No new part starts with less than this left (plus the part's own estimated time): enough to let
# the parts in flight finish, complete or hand on, and send the copier's messages.
STOP_MARGIN_MS = 30_000
# Bytes of streamed parts one object may hold in memory at once (its read parts not yet uploaded):
# 256 MiB is 32 parts of the default 8 MiB, and at least one part however large.
STREAM_PART_MEMORY_BYTES = 256 * MiB


@dataclass(frozen=True, slots=True)
class PartPlan:
    """An object of ``size`` bytes cut into parts of ``part_size`` bytes (the last may be shorter)."""

    size: int
    part_size: int

    @property
    def count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def byte_range(self, number: int) -> tuple[int, int]:
        """First and last byte (inclusive) of part ``number`` (1-based)."""
        start = (number - 1) * self.part_size
        return start, min(self.size, start + self.part_size) - 1


def plan_parts(size: int, part_bytes: int = DEFAULT_PART_BYTES) -> PartPlan:
    """Parts of ``part_bytes`` or more, rounded up to a whole MiB: at least 5 MiB, at most 5 GiB,
    and large enough that the object makes at most 10,000 of them."""
    wanted = max(part_bytes, MIN_PART_BYTES, -(-size // MAX_PARTS))
    return PartPlan(size, min(MAX_PART_BYTES, -(-wanted // MiB) * MiB))


@dataclass(frozen=True, slots=True)
class MultipartSettings:
    threshold_bytes: int = DEFAULT_MULTIPART_THRESHOLD_BYTES
    part_bytes: int = DEFAULT_PART_BYTES
    bytes_per_second: int = ASSUMED_PART_COPY_BYTES_PER_SECOND
    task_seconds: float = PART_TASK_SECONDS
    stop_margin_ms: int = STOP_MARGIN_MS

    @classmethod
    def from_env(cls) -> MultipartSettings:
        """MULTIPART_THRESHOLD_BYTES and MULTIPART_PART_SIZE_BYTES from the environment."""
        return cls(
            threshold_bytes=multipart_threshold_bytes(),
            part_bytes=env_int(PART_SIZE_ENV, DEFAULT_PART_BYTES),
            bytes_per_second=ASSUMED_PART_COPY_BYTES_PER_SECOND,
            task_seconds=PART_TASK_SECONDS,
            stop_margin_ms=STOP_MARGIN_MS,
        )

    def wants_multipart(self, item: CopyItem) -> bool:
        return item.parts is not None or item.size > self.threshold_bytes

    def part_seconds(self, part_size: int) -> float:
        return part_size / self.bytes_per_second

    def seconds(self, parts: int, part_size: int, concurrency: int) -> float:
        """Estimated time to copy ``parts`` parts, ``concurrency`` at a time."""
        waves = -(-parts // max(1, concurrency))
        return waves * self.part_seconds(part_size)

    def parts_per_task(self, part_size: int, concurrency: int) -> int:
        waves = max(1, int(self.task_seconds // self.part_seconds(part_size)))
        return max(1, concurrency) * waves


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What became of one item: copied (this call put the object in place), failed, handed on as
    part tasks, or none of these (a part task that copied its parts while others remain, or that
    found nothing left to do: then ``dropped`` says why)."""

    copied: bool = False
    failure: S3Failure | None = None
    # For a part task that failed transiently: the parts it still has to copy.
    retry_parts: PartRange | None = None
    handed_on: tuple[CopyItem, ...] = ()
    # The upload this call created and handed on: to abort if its part tasks cannot be queued.
    created_upload: str | None = None
    dropped: str | None = None
    # A version stack (--all-versions, copying/versioned.py): what this call copied of it, and,
    # when it failed, the item for the entries not yet copied (retried or dead-lettered instead).
    rest: CopyItem | None = None
    versions_copied: int = 0
    delete_markers_written: int = 0
    version_bytes: int = 0

    @property
    def progress(self) -> bool:
        """Whether this call copied something of a version stack before it stopped."""
        return self.versions_copied + self.delete_markers_written > 0


def copy_large(
    s3: S3Client,
    source_bucket: str,
    dest_bucket: str,
    item: CopyItem,
    *,
    dest_key: str,
    limit: ConcurrencyLimit,
    settings: MultipartSettings,
    remaining_ms: Callable[[], int],
    final_attempt: bool,
    source_s3: S3Client | None = None,
    options: CopyOptions = DEFAULT_COPY_OPTIONS,
    stream: StreamSettings | None = None,
    extra_metadata: Mapping[str, str] | None = None,
) -> CopyResult:
    """Copy a large object, or a part task's range of one, never raising: the result says how it
    went. The source is read under ``item.key``; the upload and every request about it (its
    parts, ListParts, completion, abort, the HeadObject that finds it completed) name the
    destination's ``dest_key``. ``item.version_id`` copies that version (every read and part
    copy names it); ``extra_metadata`` is added to the copy's user metadata. ``final_attempt``
    says a failure would send the key to the DLQ (a part task then aborts the upload it shares
    with other part tasks). ``s3`` is the destination region's client;
    ``source_s3`` the source's, which reads its metadata and tags (``s3`` when None). ``options``
    go into CreateMultipartUpload (a part task's upload already has them). With ``stream``, the
    parts are read from ``source_s3`` and uploaded (parts of its chunk size), not copied."""
    copy = _Copy(s3, source_bucket, dest_bucket, item, dest_key, limit, settings, remaining_ms, source_s3 or s3, options, stream, extra_metadata)
    if item.parts is None:
        return copy.whole()
    return copy.part_task(final_attempt)


@dataclass(frozen=True, slots=True)
class _Copy:
    """One large object's copy (or one part task of it): the S3 calls and what to make of them."""

    s3: S3Client
    source_bucket: str
    dest_bucket: str
    item: CopyItem
    # Where the object is written: item.key, or that key under another prefix (--dest-prefix).
    dest_key: str
    limit: ConcurrencyLimit
    settings: MultipartSettings
    remaining_ms: Callable[[], int]
    source_s3: S3Client
    options: CopyOptions = DEFAULT_COPY_OPTIONS
    stream: StreamSettings | None = None
    extra_metadata: Mapping[str, str] | None = None

    # ------------------------------------------------------------------ whole objects --

    def whole(self) -> CopyResult:
        try:
            size, etag, create_args = source_attributes(self.source_s3, self.source_bucket, self.item, self.options, self.extra_metadata)
            if self.stream is not None:
                # Uploaded parts carry the checksums this process computes: the options' algorithm
                # only, as a streamed object in one piece gets (the source's may need the CRT).
                create_args = {name: value for name, value in create_args.items() if name not in ("ChecksumAlgorithm", "ChecksumType")}
                create_args |= {name: value for name, value in write_arguments(self.options).items() if name == "ChecksumAlgorithm"}
            plan = plan_parts(size, self.stream.chunk_bytes if self.stream is not None else self.settings.part_bytes)
            response = self.s3.create_multipart_upload(Bucket=self.dest_bucket, Key=self.dest_key, **create_args)
            upload_id = response["UploadId"]
        except Exception as error:  # noqa: BLE001 - every failure is recorded against its key
            return CopyResult(failure=describe_error(error))
        item = replace(self.item, size=size, etag=etag)
        try:
            concurrency = self.limit.maximum
            budget = min(self.settings.task_seconds, (self.remaining_ms() - self.settings.stop_margin_ms) / 1000)
            if self.settings.seconds(plan.count, plan.part_size, concurrency) > budget:
                return self._split(item, upload_id, plan, 1)
            parts, failure = self._copy_parts(item, upload_id, plan, range(1, plan.count + 1))
            if failure is not None:
                return CopyResult(failure=self._abort(upload_id, failure))
            missing = [n for n in range(1, plan.count + 1) if n not in parts]
            if missing:
                # Time ran short: the parts copied stay in the upload, the others go to part tasks.
                return self._split(item, upload_id, plan, missing[0])
            self._complete(upload_id, parts)
            return CopyResult(copied=True)
        except Exception as error:  # noqa: BLE001
            return CopyResult(failure=self._abort(upload_id, describe_error(error)))

    def _split(self, item: CopyItem, upload_id: str, plan: PartPlan, first: int) -> CopyResult:
        per_task = self.settings.parts_per_task(plan.part_size, self.limit.maximum)
        tasks = tuple(replace(item, failure=None, parts=PartRange(upload_id, start, min(plan.count, start + per_task - 1), plan.part_size)) for start in range(first, plan.count + 1, per_task))
        return CopyResult(handed_on=tasks, created_upload=upload_id)

    # --------------------------------------------------------------------- part tasks --

    def part_task(self, final_attempt: bool) -> CopyResult:
        parts = self.item.parts
        assert parts is not None
        plan = PartPlan(self.item.size, parts.part_size)
        upload_id = parts.upload_id
        numbers = range(parts.first, parts.last + 1)
        try:
            parts_copied, failure = self._copy_parts(self.item, upload_id, plan, numbers)
        except Exception as error:  # noqa: BLE001
            parts_copied, failure = {}, describe_error(error)
        if failure is not None:
            if failure.code == "NoSuchUpload":
                return self._gone(plan)
            if failure.permanent or final_attempt:
                return CopyResult(failure=self._abort(upload_id, failure))
            first = min(n for n in numbers if n not in parts_copied)
            return CopyResult(failure=failure, retry_parts=replace(parts, first=first))
        missing = [n for n in numbers if n not in parts_copied]
        if missing:
            # Time ran short: the same task goes on, for the rest of its range, in another invocation.
            return CopyResult(handed_on=(replace(self.item, parts=replace(parts, first=missing[0])),))
        try:
            present = self._list_parts(upload_id)
            if set(present) != set(range(1, plan.count + 1)):
                return CopyResult()  # other part tasks still copying; the last of them completes
            self._complete(upload_id, present)
            return CopyResult(copied=True)
        except Exception as error:  # noqa: BLE001
            failure = describe_error(error)
            if failure.code == "NoSuchUpload":
                return self._gone(plan)
            if failure.permanent or final_attempt:
                return CopyResult(failure=self._abort(upload_id, failure))
            # The parts are copied; a retry copies the last one again and tries to complete.
            return CopyResult(failure=failure, retry_parts=replace(parts, first=parts.last))

    def _gone(self, plan: PartPlan) -> CopyResult:
        """The upload no longer exists: completed by another copier, or aborted."""
        if completed_in_destination(self.s3, self.dest_bucket, self.dest_key, self.item.size, plan.count):
            return CopyResult()
        return CopyResult(
            dropped="the multipart upload no longer exists and the destination does not hold the object: "
            "another part task failed for good and aborted it (the key is in the DLQ with that reason), "
            "or it was aborted from outside (the next sync run copies the key)"
        )

    # ------------------------------------------------------------------ the S3 calls --

    def _copy_parts(self, item: CopyItem, upload_id: str, plan: PartPlan, numbers: range) -> tuple[dict[int, CompletedPart], S3Failure | None]:
        """Copy parts in parallel (each taking a slot of the copier's concurrency limit); return
        the parts copied (number -> ETag and checksum) and the first failure. After a failure, or
        when time runs short, no new part starts: the parts not returned were not copied. One part
        always starts, as a lister always lists one page, so that a task handed on for lack of
        time makes progress in every invocation however short."""
        stop = threading.Event()
        started = threading.Lock()  # held once the first part has started
        margin_ms = self.settings.stop_margin_ms + 1000 * self.settings.part_seconds(plan.part_size)

        def copy_part(number: int) -> tuple[CompletedPart | None, S3Failure | None]:
            with self.limit.slot():
                first = started.acquire(blocking=False)
                if stop.is_set() or (not first and self.remaining_ms() < margin_ms):
                    return None, None
                try:
                    part = self._stream_part(item, upload_id, plan, number) if self.stream is not None else self._copy_part(item, upload_id, plan, number)
                except Exception as error:  # noqa: BLE001
                    failure = describe_error(error)
                    self.limit.record(throttled=failure.code in THROTTLING_CODES)
                    stop.set()
                    return None, failure
                self.limit.record(throttled=False)
                return part, None

        workers = min(self.limit.maximum, len(numbers))
        if self.stream is not None:
            workers = min(workers, STREAM_PART_MEMORY_BYTES // plan.part_size)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(copy_part, numbers))
        copied = {number: part for number, (part, _) in zip(numbers, results) if part is not None}
        failure = next((failure for _, failure in results if failure is not None), None)
        return copied, failure

    def _copy_part(self, item: CopyItem, upload_id: str, plan: PartPlan, number: int) -> CompletedPart:
        start, end = plan.byte_range(number)
        request: dict[str, Any] = {
            "Bucket": self.dest_bucket,
            "Key": self.dest_key,
            "UploadId": upload_id,
            "PartNumber": number,
            "CopySource": {"Bucket": self.source_bucket, "Key": item.key},
            "CopySourceRange": f"bytes={start}-{end}",
        }
        if item.version_id is not None:
            request["CopySource"]["VersionId"] = item.version_id
        if item.etag:
            request["CopySourceIfMatch"] = item.etag
        return completed_part(self.s3.upload_part_copy(**request)["CopyPartResult"])

    def _stream_part(self, item: CopyItem, upload_id: str, plan: PartPlan, number: int) -> CompletedPart:
        """Read one part's bytes from the source (pinned to the listed ETag) and upload them."""
        start, end = plan.byte_range(number)
        request: dict[str, Any] = {"Bucket": self.source_bucket, "Key": item.key, "Range": f"bytes={start}-{end}"}
        if item.etag:
            request["IfMatch"] = item.etag
        if item.version_id is not None:
            request["VersionId"] = item.version_id
        body = self.source_s3.get_object(**request)["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        if len(data) != end - start + 1:
            raise size_mismatch(item.key, item.size, start + len(data), ended=True)
        upload: dict[str, Any] = {"Bucket": self.dest_bucket, "Key": self.dest_key, "UploadId": upload_id, "PartNumber": number, "Body": data}
        if self.options.checksum_algorithm is not None:
            upload["ChecksumAlgorithm"] = self.options.checksum_algorithm
        return completed_part(self.s3.upload_part(**upload))

    def _list_parts(self, upload_id: str) -> dict[int, CompletedPart]:
        """The upload's parts (number -> ETag and checksum), in pages of 1,000; the listing stops
        at the first gap, since the upload cannot be completed then anyway."""
        parts: dict[int, CompletedPart] = {}
        request: dict[str, Any] = {"Bucket": self.dest_bucket, "Key": self.dest_key, "UploadId": upload_id, "MaxParts": 1000}
        while True:
            response = self.s3.list_parts(**request)
            parts.update({p["PartNumber"]: completed_part(p) for p in response.get("Parts", [])})
            if not response.get("IsTruncated") or max(parts, default=0) != len(parts):
                return parts
            request["PartNumberMarker"] = response["NextPartNumberMarker"]

    def _complete(self, upload_id: str, parts: dict[int, CompletedPart]) -> None:
        self.s3.complete_multipart_upload(
            Bucket=self.dest_bucket,
            Key=self.dest_key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [cast("CompletedPartTypeDef", {"PartNumber": n, **parts[n]}) for n in sorted(parts)]},
        )

    def _abort(self, upload_id: str, failure: S3Failure) -> S3Failure:
        """Abort the upload so that no part is left to accrue storage; return the failure, with a
        word added if the abort failed too."""
        problem = abort_upload(self.s3, self.dest_bucket, self.dest_key, upload_id)
        if problem is None:
            return failure
        return S3Failure(failure.code, f"{failure.message} (and aborting multipart upload {upload_id} failed: {problem})", failure.permanent)


# Checksum algorithms a multipart upload can keep, by name (HeadObject reports ChecksumCRC32 etc.).
# CopyObject gives the copy the source's algorithm; a multipart copy gets it by asking for it in
# CreateMultipartUpload, else S3 picks its default (CRC64NVME). Newer algorithms (SHA512, MD5,
# XXHASH*) are left to that default: which multipart checksum types S3 allows for them is not
# established here, and a CreateMultipartUpload refused would fail the whole copy.
CHECKSUM_ALGORITHMS = ("CRC64NVME", "CRC32", "CRC32C", "SHA1", "SHA256")
# The ones a multipart upload can keep as a checksum of the whole object (ChecksumType
# FULL_OBJECT): the CRCs, which S3 combines from the parts' CRCs. For CRC32 and CRC32C the
# default is COMPOSITE, a checksum of the parts' checksums ("...-N"), which would not equal a
# FULL_OBJECT source's; SHA-1 and SHA-256 can only be COMPOSITE; CRC64NVME only FULL_OBJECT.
FULL_OBJECT_ALGORITHMS = frozenset({"CRC64NVME", "CRC32", "CRC32C"})
_CHECKSUM_FIELDS = tuple(f"Checksum{algorithm}" for algorithm in CHECKSUM_ALGORITHMS)

# A part as CompleteMultipartUpload lists it, less its number: its ETag and, when the upload has a
# checksum algorithm, its checksum (e.g. {"ETag": '"..."', "ChecksumCRC32": "..."}).
CompletedPart = dict[str, str]


def completed_part(answer: Mapping[str, Any]) -> CompletedPart:
    """The ETag and checksum of a part, from UploadPartCopy's CopyPartResult or a ListParts entry:
    S3 returns the part's checksum in both when the upload was created with an algorithm, and
    CompleteMultipartUpload then requires it next to the ETag. (moto returns no part checksum
    from either, and ignores any given to CompleteMultipartUpload; tests/unit/fake_multipart.py
    plays S3's part.)"""
    part = {"ETag": str(answer["ETag"])}
    part.update({name: str(answer[name]) for name in _CHECKSUM_FIELDS if answer.get(name)})
    return part


def source_attributes(
    s3: S3Client, bucket: str, item: CopyItem, options: CopyOptions = DEFAULT_COPY_OPTIONS, extra_metadata: Mapping[str, str] | None = None
) -> tuple[int, str | None, dict[str, Any]]:
    """The source's size, ETag and the CreateMultipartUpload arguments that give the copy the same
    metadata, content headers, tags and checksum algorithm: one HeadObject (pinned to the listed
    ETag, with ChecksumMode ENABLED, without which it reports no checksum) and one
    GetObjectTagging. ``options`` then apply as they do to CopyObject: their storage class,
    encryption, ACL and checksum algorithm (a CRC as a FULL_OBJECT checksum, as CopyObject
    computes it), their metadata with REPLACE, and with Object Lock the source's retention and
    legal hold (GetObjectRetention, GetObjectLegalHold). ``item.version_id``: that version's;
    ``extra_metadata`` is added to the user metadata."""
    request: dict[str, Any] = {"Bucket": bucket, "Key": item.key, "ChecksumMode": "ENABLED"}
    if item.etag:
        request["IfMatch"] = item.etag
    if item.version_id is not None:
        request["VersionId"] = item.version_id
    head = s3.head_object(**request)
    tagging = source_tagging(s3, bucket, item.key, item.version_id)
    args = content_headers(cast("dict[str, Any]", head))
    metadata = dict(options.metadata) if options.replace_metadata else head.get("Metadata")
    if extra_metadata:
        metadata = dict(metadata or {}) | dict(extra_metadata)
        check_metadata_size(item.key, metadata)
    if metadata:
        args["Metadata"] = dict(metadata)
    if tagging:
        args["Tagging"] = tagging
    if options.checksum_algorithm is not None:
        algorithm: str | None = options.checksum_algorithm
        full_object = algorithm in FULL_OBJECT_ALGORITHMS
    else:
        algorithm = next((algorithm for algorithm in CHECKSUM_ALGORITHMS if head.get(f"Checksum{algorithm}")), None)
        full_object = head.get("ChecksumType") == "FULL_OBJECT" and algorithm in FULL_OBJECT_ALGORITHMS
    if algorithm is not None:
        args["ChecksumAlgorithm"] = algorithm
        if full_object:
            args["ChecksumType"] = "FULL_OBJECT"
    args |= {name: value for name, value in write_arguments(options).items() if name != "ChecksumAlgorithm"}
    if options.object_lock:
        args |= object_lock_arguments(s3, bucket, item.key, version_id=item.version_id)
    return int(head["ContentLength"]), head.get("ETag") or item.etag, args


def abort_upload(s3: S3Client, bucket: str, key: str, upload_id: str) -> str | None:
    """Abort a multipart upload; None when it is gone (already, or now), else what went wrong."""
    try:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except (ClientError, BotoCoreError) as error:
        failure = describe_error(error)
        return None if failure.code == "NoSuchUpload" else str(failure)
    return None


def completed_in_destination(s3: S3Client, bucket: str, key: str, size: int, parts: int) -> bool:
    """Does the destination hold an object of this size made of this many parts (ETag "...-N")?"""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError):
        return False
    return head.get("ContentLength") == size and str(head.get("ETag", "")).strip('"').endswith(f"-{parts}")
