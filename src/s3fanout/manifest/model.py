"""What a job manifest is made of: the rows it names, the parts it is read in, and its one error.

A part is the unit one lister task reads: a row group of a Parquet file, a stripe of an ORC file,
a whole gzipped CSV file (gzip cannot be entered in the middle) or a byte range of a plain CSV
file. Parts travel in SQS messages, so they are small and serialise to compact JSON: where the data
file is, how to read it, and which piece of it; never the rows themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ManifestError(Exception):
    """A manifest that cannot be read as one: unreadable, of an unknown format, a malformed row, a
    row of another bucket, a required column missing. ``str()`` is one line a person can act on.

    ``permanent`` is False only where reading again may succeed (S3 throttled or a connection
    broke); a lister fails the task then instead of sending it to its DLQ.
    """

    def __init__(self, message: str, permanent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent

    def __str__(self) -> str:
        return self.message


class ManifestKind(StrEnum):
    """An S3 Inventory report (its manifest.json) or an S3 Batch Operations CSV manifest."""

    INVENTORY = "inventory"
    CSV = "csv"


class PartFormat(StrEnum):
    """How a part's data file is read."""

    CSV = "csv"  # plain CSV, read as a byte range
    CSV_GZ = "csv.gz"  # gzipped CSV, read whole from its start
    ORC = "orc"  # one stripe
    PARQUET = "parquet"  # one row group


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """One object (or object version) a manifest names.

    ``key`` is decoded (CSV manifests carry it URL-encoded). ``version_id`` is None where the
    manifest has no version column or leaves it empty. ``etag`` is quoted, as ListObjectsV2 and
    HeadObject report it (inventories write it bare). The other fields are None where the manifest
    lacks the column (a CSV manifest has only bucket, key and version id).
    """

    bucket: str
    key: str
    version_id: str | None = None
    size: int | None = None
    etag: str | None = None
    last_modified: dt.datetime | None = None
    is_latest: bool | None = None
    is_delete_marker: bool | None = None


def _fail(reason: str) -> ManifestError:
    return ManifestError(f"invalid manifest part: {reason}")


def _opt_int(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(f"{name} must be a non-negative integer")
    return value


def _opt_str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise _fail(f"{name} must be a string")
    return value


@dataclass(frozen=True, slots=True)
class ManifestPart:
    """What one lister task reads of a manifest.

    - ``uri``: the data file, ``s3://bucket/key`` (the key unencoded) or a local path.
    - ``format``: how to read it (PartFormat).
    - ``start``/``end``: for a plain CSV, the byte range ``[start, end)``; the part owns the lines
      that start inside it (a line starts at byte 0 or right after a newline).
    - ``index``: the Parquet row group or ORC stripe.
    - ``columns``: an inventory CSV's columns (its ``fileSchema``); None for a CSV manifest
      (``bucket,key[,version_id]``).
    - ``size``: the data file's size in bytes where known (spares a HeadObject).
    - ``bucket``: the bucket every row must name; None lets the part's first row decide.
    - ``rows``: how many rows the part holds, exactly when ``rows_exact``, else an estimate; None
      when unknown.
    """

    uri: str
    format: PartFormat
    start: int = 0
    end: int | None = None
    index: int | None = None
    columns: tuple[str, ...] | None = None
    size: int | None = None
    bucket: str | None = None
    rows: int | None = None
    rows_exact: bool = False

    def describe(self) -> str:
        """The part in a message: the file, and the piece of it."""
        if self.format is PartFormat.PARQUET:
            return f"{self.uri} (row group {self.index})"
        if self.format is PartFormat.ORC:
            return f"{self.uri} (stripe {self.index})"
        whole = self.start == 0 and self.end in (None, self.size)
        if self.format is PartFormat.CSV and not whole:
            return f"{self.uri} (bytes {self.start}-{'' if self.end is None else self.end})"
        return self.uri

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"uri": self.uri, "format": self.format.value}
        if self.start:
            data["start"] = self.start
        optional = {"end": self.end, "index": self.index, "size": self.size, "bucket": self.bucket, "rows": self.rows}
        data.update({name: value for name, value in optional.items() if value is not None})
        if self.columns is not None:
            data["columns"] = list(self.columns)
        if self.rows_exact:
            data["rows_exact"] = True
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ManifestPart:
        if not isinstance(data, Mapping):
            raise _fail("must be an object")
        uri = data.get("uri")
        if not isinstance(uri, str) or not uri:
            raise _fail("uri must be a non-empty string")
        try:
            part_format = PartFormat(str(data.get("format")))
        except ValueError:
            raise _fail(f"format must be one of {', '.join(f.value for f in PartFormat)}") from None
        columns = data.get("columns")
        if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)):
            raise _fail("columns must be a list of strings")
        rows_exact = data.get("rows_exact", False)
        if not isinstance(rows_exact, bool):
            raise _fail("rows_exact must be true or false")
        part = cls(
            uri=uri,
            format=part_format,
            start=_opt_int(data, "start") or 0,
            end=_opt_int(data, "end"),
            index=_opt_int(data, "index"),
            columns=tuple(columns) if columns is not None else None,
            size=_opt_int(data, "size"),
            bucket=_opt_str(data, "bucket"),
            rows=_opt_int(data, "rows"),
            rows_exact=rows_exact,
        )
        if part.format in (PartFormat.PARQUET, PartFormat.ORC) and part.index is None:
            raise _fail(f"a {part.format.value} part needs an index")
        if part.end is not None and part.end < part.start:
            raise _fail("end must not be before start")
        return part


@dataclass(frozen=True, slots=True)
class Manifest:
    """An opened manifest: where it is, what it is, the bucket it names and the parts to read.

    ``source_bucket`` is the inventory's ``sourceBucket``; None for a CSV manifest, which names a
    bucket on every row. Every row must name one bucket all the same: ``bucket`` is it (for a CSV,
    the bucket of its first row, or the one asked for), and every part checks its rows against it.
    """

    location: str
    kind: ManifestKind
    file_format: str  # the inventory's fileFormat (CSV, ORC, Parquet); CSV for a CSV manifest
    source_bucket: str | None
    parts: tuple[ManifestPart, ...]

    @property
    def bucket(self) -> str | None:
        if self.source_bucket is not None:
            return self.source_bucket
        return next((part.bucket for part in self.parts if part.bucket is not None), None)

    @property
    def rows(self) -> int | None:
        """All parts' rows added up; None if any part's count is unknown."""
        counts = [part.rows for part in self.parts]
        return None if any(count is None for count in counts) else sum(count or 0 for count in counts)

    @property
    def rows_exact(self) -> bool:
        return all(part.rows_exact for part in self.parts)
