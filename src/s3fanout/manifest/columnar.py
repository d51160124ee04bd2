"""S3 Inventory's Parquet and ORC files: parts from their footers, rows from one row group or stripe.

pyarrow reads them through a seekable file over ranged reads (sources.py): opening a file reads its
footer, reading a part reads that row group's or stripe's column chunks of the columns below and
nothing else. Keys in these formats are not URL-encoded. pyarrow is imported when first needed, so
importing this package costs nothing to a function that never reads a columnar inventory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from s3fanout.manifest.csvrows import quoted_etag
from s3fanout.manifest.model import ManifestError, ManifestPart, ManifestRow, PartFormat
from s3fanout.manifest.sources import Source

# The columns read, as S3 Inventory names them in ORC and Parquet; the first two are required.
COLUMNS = ("bucket", "key", "version_id", "is_latest", "is_delete_marker", "size", "last_modified_date", "e_tag")
REQUIRED = COLUMNS[:2]
# Rows converted to Python objects at a time.
BATCH_ROWS = 8192


@contextmanager
def _arrow_errors(uri: str, kind: PartFormat) -> Iterator[None]:
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as error:
        raise ManifestError(f"{uri} is not a readable {kind.value} file: {error}") from error


def _columns(uri: str, names: list[str]) -> list[str]:
    """The file's names of the columns read; ManifestError if a required one is missing."""
    by_lower = {name.lower(): name for name in names}
    missing = [name for name in REQUIRED if name not in by_lower]
    if missing:
        raise ManifestError(f"{uri} lacks the required column {missing[0]} (it has {', '.join(names)})")
    return [by_lower[name] for name in COLUMNS if name in by_lower]


def columnar_parts(source: Source, kind: PartFormat, bucket: str | None) -> list[ManifestPart]:
    """One part per row group (Parquet, exact row counts) or stripe (ORC, whose footer gives only
    the file's row count: spread evenly as an estimate)."""
    size = source.size()
    with _arrow_errors(source.uri, kind), source.open_random() as file:
        if kind is PartFormat.PARQUET:
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(file)
            _columns(source.uri, list(parquet.schema_arrow.names))
            metadata = parquet.metadata
            counts = [int(metadata.row_group(index).num_rows) for index in range(metadata.num_row_groups)]
            exact = True
        else:
            import pyarrow.orc as orc

            reader = orc.ORCFile(file)
            _columns(source.uri, list(reader.schema.names))
            stripes, rows = int(reader.nstripes), int(reader.nrows)
            counts = [rows // stripes + (1 if index < rows % stripes else 0) for index in range(stripes)]
            exact = stripes == 1
    return [ManifestPart(source.uri, kind, index=index, size=size, bucket=bucket, rows=count, rows_exact=exact) for index, count in enumerate(counts)]


def columnar_rows(source: Source, part: ManifestPart) -> Iterator[tuple[int, ManifestRow]]:
    """(row number in the part, row) of the part's row group or stripe."""
    index = part.index or 0
    number = 0
    with _arrow_errors(source.uri, part.format), source.open_random() as file:
        if part.format is PartFormat.PARQUET:
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(file)
            columns = _columns(source.uri, list(parquet.schema_arrow.names))
            if index >= parquet.num_row_groups:
                raise ManifestError(f"{source.uri} has {parquet.num_row_groups} row groups, no row group {index}")
            batches: Iterator[Any] = parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[index], columns=columns)
        else:
            import pyarrow.orc as orc

            reader = orc.ORCFile(file)
            columns = _columns(source.uri, list(reader.schema.names))
            if index >= reader.nstripes:
                raise ManifestError(f"{source.uri} has {reader.nstripes} stripes, no stripe {index}")
            stripe = reader.read_stripe(index, columns=columns)
            batches = (stripe.slice(offset, BATCH_ROWS) for offset in range(0, stripe.num_rows, BATCH_ROWS))
        for batch in batches:
            for row in _batch_rows(batch):
                number += 1
                yield number, _checked(row, number)


def _batch_rows(batch: Any) -> Iterator[dict[str, Any]]:
    import pyarrow as pa

    names = [name.lower() for name in batch.schema.names]
    columns = [batch.column(position) for position in range(len(names))]
    # Python's datetime holds microseconds; ORC reads its timestamps in nanoseconds.
    columns = [column.cast(pa.timestamp("us", column.type.tz), safe=False) if pa.types.is_timestamp(column.type) and column.type.unit == "ns" else column for column in columns]
    values = [column.to_pylist() for column in columns]
    for row in zip(*values):
        yield dict(zip(names, row))


def _checked(value: dict[str, Any], number: int) -> ManifestRow:
    try:
        bucket, key = _text(value.get("bucket")), _text(value.get("key"))
        if not bucket or not key:
            raise ValueError("empty bucket" if not bucket else "empty key")
        size = value.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise ValueError(f"size {size!r} is no whole number")
        return ManifestRow(
            bucket=bucket,
            key=key,
            version_id=_text(value.get("version_id")) or None,
            size=size,
            etag=quoted_etag(_text(value.get("e_tag"))),
            last_modified=_moment(value.get("last_modified_date")),
            is_latest=_flag(value.get("is_latest")),
            is_delete_marker=_flag(value.get("is_delete_marker")),
        )
    except ValueError as error:
        raise ValueError(f"row {number}: {error}") from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("a text column is not UTF-8") from None
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is no text")
    return value


def _flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"{value!r} is neither true nor false")


def _moment(value: Any) -> dt.datetime | None:
    """A timestamp column (timezone-naive means UTC) or milliseconds since the epoch."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    raise ValueError(f"last_modified_date {value!r} is no time")
