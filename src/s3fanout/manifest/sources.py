"""Where a manifest's bytes come from: a local file or an S3 object, read in ranges.

Every read names its byte range, so no data file is ever loaded whole: CSV parts stream one range
(``stream``), gzipped CSV streams from the start (``open_stream``), and Parquet and ORC readers get
a seekable read-only file (``open_random``) that turns each read into a ranged GetObject. S3 and
file-system errors become a ManifestError naming the file, at this boundary only.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

from botocore.exceptions import BotoCoreError, ClientError

from s3fanout.manifest.model import ManifestError
from s3fanout.s3errors import describe_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Bytes handed on per chunk while streaming a range.
STREAM_CHUNK_BYTES = 1024 * 1024
# The least a random-access read fetches: Parquet and ORC readers ask for many small pieces close
# together (an ORC stripe's streams, a footer and its length), and a request costs more than bytes.
MIN_RANDOM_READ_BYTES = 64 * 1024

S3_SCHEME = "s3://"


def parse_s3_uri(uri: str) -> tuple[str, str] | None:
    """(bucket, key) of ``s3://bucket/key`` (the key taken as it is, not URL-decoded); None for a
    local path."""
    if not uri.startswith(S3_SCHEME):
        return None
    bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
    if not bucket or not key:
        raise ManifestError(f"{uri} is no S3 object URI: expected s3://bucket/key")
    return bucket, key


def s3_uri(bucket: str, key: str) -> str:
    return f"{S3_SCHEME}{bucket}/{key}"


@contextmanager
def reading(uri: str) -> Iterator[None]:
    """Translate what S3 or the file system says into a ManifestError about ``uri``."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        failure = describe_error(error)
        raise ManifestError(f"cannot read {uri}: {failure}", failure.permanent) from error
    except OSError as error:
        raise ManifestError(f"cannot read {uri}: {error.strerror or error}") from error


class Source(Protocol):
    """The bytes of one file, read by range."""

    @property
    def uri(self) -> str: ...

    def size(self) -> int: ...

    def read_at(self, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)``, fewer at the end of the file."""
        ...

    def stream(self, begin: int, end: int) -> Iterator[bytes]:
        """Bytes ``[begin, end)`` in chunks, one request."""
        ...

    def open_stream(self) -> BinaryIO:
        """The whole file from its start, read as it is consumed."""
        ...

    def open_random(self) -> BinaryIO:
        """A seekable read-only file over the whole file."""
        ...


@dataclass
class LocalSource:
    path: str
    known_size: int | None = None

    @property
    def uri(self) -> str:
        return self.path

    def size(self) -> int:
        if self.known_size is None:
            with reading(self.path):
                self.known_size = os.path.getsize(self.path)
        return self.known_size

    def read_at(self, offset: int, length: int) -> bytes:
        with reading(self.path), open(self.path, "rb") as file:
            file.seek(offset)
            return file.read(max(length, 0))

    def stream(self, begin: int, end: int) -> Iterator[bytes]:
        with reading(self.path), open(self.path, "rb") as file:
            file.seek(begin)
            position = begin
            while position < end:
                chunk = file.read(min(STREAM_CHUNK_BYTES, end - position))
                if not chunk:
                    return
                position += len(chunk)
                yield chunk

    def open_stream(self) -> BinaryIO:
        with reading(self.path):
            return open(self.path, "rb")

    def open_random(self) -> BinaryIO:
        return self.open_stream()


@dataclass
class S3Source:
    s3: S3Client
    bucket: str
    key: str
    known_size: int | None = None

    @property
    def uri(self) -> str:
        return s3_uri(self.bucket, self.key)

    def size(self) -> int:
        if self.known_size is None:
            with reading(self.uri):
                self.known_size = self.s3.head_object(Bucket=self.bucket, Key=self.key)["ContentLength"]
        return self.known_size

    def _get_range(self, begin: int, end: int) -> Iterator[bytes]:
        with reading(self.uri):
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={begin}-{end - 1}")["Body"]
            try:
                yield from body.iter_chunks(STREAM_CHUNK_BYTES)
            finally:
                body.close()

    def read_at(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.size())
        return b"".join(self._get_range(offset, end)) if offset < end else b""

    def stream(self, begin: int, end: int) -> Iterator[bytes]:
        end = min(end, self.size())
        if begin < end:
            yield from self._get_range(begin, end)

    def open_stream(self) -> BinaryIO:
        with reading(self.uri):
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"]
        return cast(BinaryIO, io.BufferedReader(_BodyReader(self.uri, body), STREAM_CHUNK_BYTES))

    def open_random(self) -> BinaryIO:
        return cast(BinaryIO, _RangeFile(self))


class _Body(Protocol):
    def read(self, amt: int | None = None) -> bytes: ...

    def close(self) -> None: ...


class _BodyReader(io.RawIOBase):
    """A GetObject body as a raw stream, its read errors translated."""

    def __init__(self, uri: str, body: _Body) -> None:
        self._uri = uri
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        with reading(self._uri):
            data = self._body.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


@dataclass
class _Block:
    """The bytes last read, and where they start in the file."""

    start: int = 0
    data: bytes = b""


class _RangeFile(io.RawIOBase):
    """A seekable read-only file over a Source: each read past the block in hand is one ranged
    read of at least MIN_RANDOM_READ_BYTES. Parquet and ORC readers seek to the footer, then to
    the row group or stripe they read; nothing else of the file is fetched."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self._size = source.size()
        self._position = 0
        self.block = _Block()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        block = self.block
        offset = self._position - block.start
        if offset < 0 or offset + wanted > len(block.data):
            length = min(max(wanted, MIN_RANDOM_READ_BYTES), self._size - self._position)
            block.start, block.data = self._position, self._source.read_at(self._position, length)
            offset = 0
        data = block.data[offset : offset + wanted]
        memoryview(buffer).cast("B")[: len(data)] = data
        self._position += len(data)
        return len(data)


def source_for(uri: str, s3: S3Client | None, size: int | None = None) -> Source:
    """The source of ``uri`` (``s3://bucket/key`` or a local path); ``size`` when known."""
    location = parse_s3_uri(uri)
    if location is None:
        return LocalSource(uri, size)
    if s3 is None:
        raise ManifestError(f"reading {uri} needs an S3 client")
    return S3Source(s3, location[0], location[1], size)


@dataclass
class BytesSource:
    """Bytes in hand as a Source (a sample already read)."""

    data: bytes
    uri: str = "<bytes>"

    def size(self) -> int:
        return len(self.data)

    def read_at(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + max(length, 0)]

    def stream(self, begin: int, end: int) -> Iterator[bytes]:
        if begin < end:
            yield self.data[begin:end]

    def open_stream(self) -> BinaryIO:
        return io.BytesIO(self.data)

    def open_random(self) -> BinaryIO:
        return io.BytesIO(self.data)
