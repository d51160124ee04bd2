"""Copies that stream: GetObject from the source's client into the destination client's managed
upload, for sides that no server-side copy can join (another endpoint, or another profile's
credentials: MinIO, R2, GCS, another account's keys).

What the server-side copy carries over is carried here too: user metadata, the content headers
and the tags (read with GetObjectTagging and written with the object); the job's CopyOptions
apply as they do to CopyObject. The read is pinned to the listed ETag (IfMatch), so a source that
changed since it was listed fails with PreconditionFailed, as CopySourceIfMatch does. The bytes
read are counted, and an object that does not have its listed size fails before the upload
completes (a transient S3Failure: the next attempt reads it again).

Above ``threshold_bytes`` s3transfer uploads in parts; below, in one PutObject. Either way the
data crosses this machine, and data transfer out of the other store is the user's cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlencode

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from s3fanout.copying.options import check_metadata_size, content_headers, object_lock_arguments, write_arguments
from s3fanout.envvars import env_int
from s3fanout.messages import DEFAULT_COPY_OPTIONS, CopyItem, CopyOptions
from s3fanout.s3errors import S3Failure, describe_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024 * 1024
DEFAULT_THRESHOLD_BYTES = 16 * MIB
DEFAULT_CHUNK_BYTES = 8 * MIB
DEFAULT_UPLOAD_CONCURRENCY = 4
# S3 (and the stores that copy its API) allow 10,000 parts per upload.
MAX_PARTS = 10_000
# What a store without object tagging answers GetObjectTagging: the object is carried without tags.
NO_TAGGING_CODES = frozenset({"NotImplemented"})
SIZE_MISMATCH = "SizeMismatch"


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How a streamed object is uploaded: in one PutObject up to ``threshold_bytes``, else in
    parts of ``chunk_bytes`` (more for an object that would need over 10,000 parts), at most
    ``concurrency`` parts at once."""

    threshold_bytes: int = DEFAULT_THRESHOLD_BYTES
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    concurrency: int = DEFAULT_UPLOAD_CONCURRENCY

    @classmethod
    def from_env(cls) -> StreamSettings:
        return cls(
            env_int("STREAM_THRESHOLD_BYTES", DEFAULT_THRESHOLD_BYTES),
            env_int("STREAM_CHUNK_BYTES", DEFAULT_CHUNK_BYTES),
            env_int("STREAM_UPLOAD_CONCURRENCY", DEFAULT_UPLOAD_CONCURRENCY),
        )

    def chunk_for(self, size: int) -> int:
        """The part size for an object of ``size`` bytes: ours, or larger to stay in 10,000 parts."""
        return max(self.chunk_bytes, -(-size // MAX_PARTS))

    def transfer_config(self, size: int) -> TransferConfig:
        chunk = self.chunk_for(size)
        config = TransferConfig(
            multipart_threshold=self.threshold_bytes,
            multipart_chunksize=chunk,
            max_concurrency=self.concurrency,
            # The classic s3transfer, whose memory use is bounded as below (not the CRT client).
            preferred_transfer_client="classic",
        )
        # Memory bound: the body is not seekable, so s3transfer holds the chunks it has read in
        # memory until their parts are uploaded; at most this many at once. One streamed object
        # then holds at most concurrency x chunk bytes (4 x 8 MiB = 32 MiB by default; more only
        # for objects over 80 GiB, whose parts grow to stay within 10,000), and a copier at most
        # that times its copies in flight (COPY_CONCURRENCY).
        config.max_in_memory_upload_chunks = self.concurrency
        return config


class _CountingBody:
    """A GetObject body that counts the bytes read, and fails the read that ends at another size
    than the listed one: the upload then fails (a multipart one is aborted) instead of completing."""

    def __init__(self, body: Any, key: str, expected: int) -> None:
        self._body, self._key, self._expected = body, key, expected
        self.count = 0

    def read(self, amount: int = -1) -> bytes:
        data = cast("bytes", self._body.read() if amount is None or amount < 0 else self._body.read(amount))
        self.count += len(data)
        if self.count > self._expected or (not data and amount != 0 and self.count != self._expected):
            raise size_mismatch(self._key, self._expected, self.count, ended=not data)
        return data


def size_mismatch(key: str, expected: int, read: int, ended: bool) -> S3Failure:
    what = f"{read} bytes" if ended else f"more than {expected} bytes"
    return S3Failure(SIZE_MISMATCH, f"the source object {key!r} was listed with {expected} bytes, but its read gave {what}", permanent=False)


def source_tagging(source_s3: S3Client, bucket: str, key: str, version_id: str | None = None) -> str | None:
    """The source object's tags (``version_id``'s, where given), URL-encoded as PutObject and
    CreateMultipartUpload take them; None for none, or for a store without object tagging."""
    try:
        which: dict[str, Any] = {"Bucket": bucket, "Key": key} | ({"VersionId": version_id} if version_id is not None else {})
        tags = source_s3.get_object_tagging(**which).get("TagSet", [])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in NO_TAGGING_CODES:
            return None
        raise
    return urlencode([(tag["Key"], tag["Value"]) for tag in tags], quote_via=quote) if tags else None


def upload_arguments(answer: dict[str, Any], tagging: str | None, options: CopyOptions) -> dict[str, Any]:
    """The upload's ExtraArgs: the GetObject answer's content headers and user metadata (the
    options' with REPLACE), the tags, and the options' storage class, encryption, checksum
    algorithm and ACL."""
    args = content_headers(answer) | write_arguments(options)
    metadata = dict(options.metadata) if options.replace_metadata else answer.get("Metadata")
    if metadata:
        args["Metadata"] = dict(metadata)
    if tagging:
        args["Tagging"] = tagging
    return args


def stream_object(
    source_s3: S3Client,
    dest_s3: S3Client,
    source_bucket: str,
    dest_bucket: str,
    item: CopyItem,
    dest_key: str,
    options: CopyOptions = DEFAULT_COPY_OPTIONS,
    settings: StreamSettings | None = None,
    extra_metadata: Mapping[str, str] | None = None,
) -> int:
    """Copy one object by reading it from ``source_s3`` and uploading it with ``dest_s3``; the
    bytes streamed. Every failure is an S3Failure (describe_error's), as CopyObject's are.
    ``item.version_id`` reads that version (its tags and Object Lock too); ``extra_metadata`` is
    added to the upload's user metadata. Every read names the source's ``item.key``; the upload
    is written under ``dest_key``."""
    settings = settings or StreamSettings()
    target = dest_key
    request: dict[str, Any] = {"Bucket": source_bucket, "Key": item.key}
    if item.etag:
        request["IfMatch"] = item.etag
    if item.version_id is not None:
        request["VersionId"] = item.version_id
    try:
        tagging = source_tagging(source_s3, source_bucket, item.key, item.version_id)
        answer = cast("dict[str, Any]", source_s3.get_object(**request))
        body = answer["Body"]
        try:
            args = upload_arguments(answer, tagging, options)
            if extra_metadata:
                args["Metadata"] = dict(args.get("Metadata") or {}) | dict(extra_metadata)
                check_metadata_size(item.key, args["Metadata"])
            if options.object_lock:
                args |= object_lock_arguments(source_s3, source_bucket, item.key, version_id=item.version_id)
            reader = _CountingBody(body, item.key, item.size)
            # s3transfer needs only read() of a body that is not seekable.
            dest_s3.upload_fileobj(cast("IO[bytes]", reader), dest_bucket, target, ExtraArgs=args, Config=settings.transfer_config(item.size))
        finally:
            body.close()
    except (ClientError, BotoCoreError, S3Failure) as error:
        raise describe_error(error) from error
    if reader.count != item.size:
        raise size_mismatch(item.key, item.size, reader.count, ended=True)
    return reader.count
