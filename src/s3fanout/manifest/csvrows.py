"""CSV manifests and S3 Inventory CSV files: lines out of byte ranges, rows out of lines.

Both kinds carry URL-encoded keys, so a key's newline is ``%0A`` and every record is one line:
that is what lets a plain CSV be split by byte ranges. A part ``[start, end)`` owns the lines that
start inside it (a line starts at byte 0 or right after ``\\n``); its last line may run past
``end`` and is read to its end.

Keys are decoded as form data (``urllib.parse.unquote_plus``): ``+`` and ``%20`` are spaces, a
key's own ``+`` must be written ``%2B`` and its own ``%`` as ``%25``, as S3 Batch Operations reads
them. The sources (S3 User Guide): S3 Inventory's CSV key "is URL-encoded and must be decoded"
(storage-inventory.html), and it writes a space as ``+``; a CSV manifest's "object keys must be
URL-encoded", the example writing ``object%20key%20with%20spaces`` (batch-ops-create-job.html); AWS's
example Lambda function for Batch Operations decodes keys with ``unquote_plus``
(batch-ops-invoke-lambda.html). A manifest written by hand with a bare ``+`` in a key therefore
names a key with a space, for S3 Batch Operations and here alike. Bucket names and version ids are
taken as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_plus

from s3fanout.manifest.model import ManifestError, ManifestRow
from s3fanout.manifest.sources import Source, reading

# Bytes fetched past a part's end, per request, to finish the part's last line. A CSV manifest's
# line is at most about 4 KiB (a 1,024-byte key, %-encoded three bytes a byte, a version id).
LINE_SLACK_BYTES = 8 * 1024

# The columns an S3 Inventory CSV must have (as its fileSchema spells them).
REQUIRED_INVENTORY_COLUMNS = ("Bucket", "Key")


def decode_key(encoded: str) -> str:
    """A key as CSV manifests and S3 Inventory CSV write it, decoded."""
    if "%" not in encoded and "+" not in encoded:
        return encoded
    try:
        return unquote_plus(encoded, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ValueError(f"key {encoded!r} does not decode to UTF-8") from None


def split_fields(line: str) -> list[str]:
    """The comma-separated fields of one line; quoted fields as CSV quotes them."""
    if '"' not in line:
        return line.split(",")
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error as error:
        raise ValueError(f"malformed CSV ({error})") from None


def owned_lines(source: Source, start: int, end: int | None = None) -> Iterator[bytes]:
    """The lines (without their ``\\n``) that start in ``[start, end)`` of ``source`` (``end`` None:
    to the end of the file)."""
    size = source.size()
    end = size if end is None else min(end, size)
    if start >= end:
        return
    begin = start - 1 if start > 0 else 0
    # The line holding byte start - 1 is the previous part's.
    skipping = start > 0
    position = begin  # where `pending` starts in the file
    pending = b""
    for chunk in _chunks_from(source, begin, end, size):
        pending = pending + chunk if pending else chunk
        index = 0
        while (newline := pending.find(b"\n", index)) >= 0:
            if skipping:
                skipping = False
            else:
                yield pending[index:newline]
            index = newline + 1
            if position + index >= end:
                return
        pending = pending[index:]
        position += index
        if skipping and position + len(pending) >= end:
            return  # no line starts inside the part
    if pending and not skipping:
        yield pending


def _chunks_from(source: Source, begin: int, end: int, size: int) -> Iterator[bytes]:
    """``[begin, end)`` in one request, then what follows in LINE_SLACK_BYTES requests, as far as
    the consumer reads."""
    yield from source.stream(begin, end)
    position = end
    while position < size:
        stop = min(position + LINE_SLACK_BYTES, size)
        yield from source.stream(position, stop)
        position = stop


def gzip_lines(source: Source) -> Iterator[bytes]:
    """The lines of a gzipped file, decompressed as they are read."""
    with reading(source.uri), source.open_stream() as stream:
        try:
            with gzip.GzipFile(fileobj=stream, mode="rb") as lines:
                for line in lines:
                    yield line[:-1] if line.endswith(b"\n") else line
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise ManifestError(f"{source.uri} is not a complete gzip file: {error}") from error


@dataclass(frozen=True, slots=True)
class RowParser:
    """Turns one line into a row: a CSV manifest's ``bucket,key[,version_id]`` when ``columns`` is
    None, else an S3 Inventory CSV line of those columns."""

    columns: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.columns is not None:
            missing = [name for name in REQUIRED_INVENTORY_COLUMNS if name not in self.columns]
            if missing:
                raise ManifestError(f"inventory schema lacks the required column {missing[0]} (it has {', '.join(self.columns)})")

    def parse(self, fields: Sequence[str]) -> ManifestRow:
        return _manifest_row(fields) if self.columns is None else _inventory_row(self.columns, fields)


def _manifest_row(fields: Sequence[str]) -> ManifestRow:
    if len(fields) not in (2, 3):
        raise ValueError(f"expected bucket,key[,version_id], found {len(fields)} fields")
    bucket, key = fields[0], decode_key(fields[1])
    if not bucket or not key:
        raise ValueError("empty bucket" if not bucket else "empty key")
    return ManifestRow(bucket, key, (fields[2] or None) if len(fields) == 3 else None)


def _inventory_row(columns: tuple[str, ...], fields: Sequence[str]) -> ManifestRow:
    if len(fields) != len(columns):
        raise ValueError(f"expected {len(columns)} fields ({', '.join(columns)}), found {len(fields)}")
    value = dict(zip(columns, fields))
    bucket, key = value["Bucket"], decode_key(value["Key"])
    if not bucket or not key:
        raise ValueError("empty bucket" if not bucket else "empty key")
    size = value.get("Size") or None
    if size is not None and not size.isdigit():
        raise ValueError(f"Size {size!r} is no whole number")
    modified = value.get("LastModifiedDate") or None
    return ManifestRow(
        bucket=bucket,
        key=key,
        version_id=value.get("VersionId") or None,
        size=int(size) if size is not None else None,
        etag=quoted_etag(value.get("ETag")),
        last_modified=parse_timestamp(modified) if modified is not None else None,
        is_latest=_bool(value, "IsLatest"),
        is_delete_marker=_bool(value, "IsDeleteMarker"),
    )


def quoted_etag(etag: str | None) -> str | None:
    """An ETag as ListObjectsV2 reports it: in double quotes."""
    if not etag:
        return None
    return etag if etag.startswith('"') else f'"{etag}"'


def parse_timestamp(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"LastModifiedDate {text!r} is no ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _bool(value: dict[str, str], name: str) -> bool | None:
    text = value.get(name)
    if not text:
        return None
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"{name} {text!r} is neither true nor false")
    return lowered == "true"


def parse_lines(lines: Iterable[bytes], parser: RowParser, first_of_file: bool) -> Iterator[tuple[int, ManifestRow]]:
    """(line number in the part, row) for each non-blank line; ValueError says what is wrong with a
    line (the caller names the part)."""
    for number, raw in enumerate(lines, 1):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if number == 1 and first_of_file and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]  # a byte-order mark, as spreadsheets write it
        if not line.strip():
            continue
        try:
            row = parser.parse(split_fields(line.decode("utf-8")))
        except UnicodeDecodeError:
            raise ValueError(f"row {number}: not UTF-8") from None
        except ValueError as error:
            raise ValueError(f"row {number}: {error}") from None
        yield number, row
