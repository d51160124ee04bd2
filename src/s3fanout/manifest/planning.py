"""Opening a manifest: what it is, the bucket it names, and the parts it is read in.

A location is ``s3://bucket/key`` or a local path, and holds either an S3 Inventory report's
``manifest.json`` or an S3 Batch Operations CSV manifest (plain or gzipped). Opening reads little:
the first bytes of the manifest (to tell what it is and estimate its rows), the inventory's
manifest.json, and the footer of each Parquet or ORC data file (a few ranged reads each, in a
thread pool). The rows are read later, part by part (reading.py).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3fanout.manifest.columnar import columnar_parts
from s3fanout.manifest.csvrows import RowParser, owned_lines, parse_lines
from s3fanout.manifest.model import Manifest, ManifestError, ManifestKind, ManifestPart, PartFormat
from s3fanout.manifest.sources import BytesSource, Source, parse_s3_uri, s3_uri, source_for

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# A plain CSV is split into byte ranges of about this size: some 200,000 rows of a CSV manifest.
DEFAULT_PART_BYTES = 16 * 1024 * 1024
# The first bytes read of a manifest (and of an inventory's first CSV file): enough to tell the
# format and estimate rows per byte; a manifest that fits is counted exactly.
SAMPLE_BYTES = 256 * 1024
# Decompressed bytes of a gzipped sample looked at, at most.
SAMPLE_INFLATED_BYTES = 4 * 1024 * 1024
# Data files whose footers are read at the same time.
FOOTER_READERS = 16

INVENTORY_FORMATS = {"csv": "CSV", "orc": "ORC", "parquet": "Parquet"}
GZIP_MAGIC = b"\x1f\x8b"


def open_manifest(location: str, s3: S3Client | None = None, *, part_bytes: int = DEFAULT_PART_BYTES, bucket: str | None = None) -> Manifest:
    """The manifest at ``location``, split into parts.

    ``part_bytes`` is the size of a plain CSV's byte ranges. ``bucket``, when given, is the bucket
    every row must name: an inventory of another source bucket is refused at once, a CSV's rows are
    checked against it as they are read. Without it a CSV's rows are checked against its first.
    """
    if part_bytes < 1:
        raise ValueError("part_bytes must be at least 1")
    source = source_for(location if parse_s3_uri(location) else str(Path(location).resolve()), s3)
    size = source.size()
    if size == 0:
        raise ManifestError(f"{location} is empty")
    head = source.read_at(0, SAMPLE_BYTES)
    if head.startswith(GZIP_MAGIC):
        return _csv_manifest(source, head, bucket)
    if head.lstrip().startswith(b"{"):
        text = head if len(head) == size else source.read_at(0, size)
        return _inventory(location, source, _json(location, text), s3, part_bytes, bucket)
    if head.startswith(b"PAR1") or head.startswith(b"ORC"):
        raise ManifestError(f"{location} is an inventory's data file: give the inventory's manifest.json")
    if location.lower().endswith(".json"):
        raise ManifestError(f"{location} is not JSON, so no S3 Inventory manifest.json")
    return _csv_manifest(source, head, bucket, part_bytes)


def _json(location: str, data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{location} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ManifestError(f"{location} is no S3 Inventory manifest: expected a JSON object")
    return document


# ------------------------------------------------------------------------------ CSV manifests --


def _csv_manifest(source: Source, head: bytes, bucket: str | None, part_bytes: int | None = None) -> Manifest:
    """A Batch Operations CSV manifest: one part if gzipped (``part_bytes`` None), else byte ranges.
    Its first row must parse; its bucket is the one all rows must name unless ``bucket`` is given."""
    parser = RowParser()
    lines = _inflated_lines(source.uri, head) if part_bytes is None else head.split(b"\n")
    try:
        first = next((row for _, row in parse_lines(lines[:-1] or lines[:1], parser, first_of_file=True)), None)
    except ValueError as error:
        raise ManifestError(f"{source.uri} is no CSV manifest (bucket,key[,version_id] per line): {error}") from None
    if first is None:
        raise ManifestError(f"{source.uri} has no rows")
    expected = bucket or first.bucket
    if part_bytes is None:
        rows, exact = _gzip_rows(source, head)
        parts = [ManifestPart(source.uri, PartFormat.CSV_GZ, size=source.size(), bucket=expected, rows=rows, rows_exact=exact)]
    else:
        parts = csv_ranges(source, head, part_bytes, expected, None)
    return Manifest(source.uri, ManifestKind.CSV, "CSV", None, tuple(parts))


def csv_ranges(source: Source, head: bytes, part_bytes: int, bucket: str | None, columns: tuple[str, ...] | None) -> list[ManifestPart]:
    """Byte ranges of about ``part_bytes`` over a plain CSV, with their rows: counted if ``head`` is
    the whole file, else estimated from the lines in ``head``."""
    size = source.size()
    bounds = [(start, min(start + part_bytes, size)) for start in range(0, size, part_bytes)]
    whole = len(head) == size
    newlines = head.count(b"\n")
    counts: list[int | None]
    if whole:
        sample = BytesSource(head)
        counts = [sum(1 for line in owned_lines(sample, start, end) if line.strip()) for start, end in bounds]
    elif newlines:
        counts = [round((end - start) * newlines / len(head)) for start, end in bounds]
    else:
        counts = [None for _ in bounds]
    return [
        ManifestPart(source.uri, PartFormat.CSV, start=start, end=end, columns=columns, size=size, bucket=bucket, rows=count, rows_exact=whole)
        for (start, end), count in zip(bounds, counts)
    ]


def _inflated_lines(uri: str, head: bytes) -> list[bytes]:
    """The lines at the start of a gzipped sample (the last one may be cut short)."""
    try:
        data = zlib.decompressobj(wbits=31).decompress(head, SAMPLE_INFLATED_BYTES)
    except zlib.error as error:
        raise ManifestError(f"{uri} is not a valid gzip file: {error}") from None
    return data.split(b"\n")


def _gzip_rows(source: Source, head: bytes) -> tuple[int | None, bool]:
    """Rows of a gzipped CSV: counted if ``head`` is all of it and it inflates within bounds, else
    estimated from the rows per compressed byte of its start."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(head, SAMPLE_INFLATED_BYTES)
    except zlib.error as error:
        raise ManifestError(f"{source.uri} is not a valid gzip file: {error}") from None
    lines = sum(1 for line in data.split(b"\n") if line.strip())
    if len(head) == source.size() and inflater.eof and not inflater.unused_data and not inflater.unconsumed_tail:
        return lines, True
    consumed = len(head) - len(inflater.unconsumed_tail)
    if not data.count(b"\n") or not consumed:
        return None, False
    return round(source.size() * data.count(b"\n") / consumed), False


# -------------------------------------------------------------------------- S3 Inventory reports --


def _inventory(location: str, source: Source, document: dict[str, Any], s3: S3Client | None, part_bytes: int, bucket: str | None) -> Manifest:
    def field(name: str) -> Any:
        if name not in document:
            raise ManifestError(f"{location} is no S3 Inventory manifest: it lacks {name}")
        return document[name]

    source_bucket, destination, file_format, schema, files = (field(name) for name in ("sourceBucket", "destinationBucket", "fileFormat", "fileSchema", "files"))
    if not isinstance(source_bucket, str) or not source_bucket:
        raise ManifestError(f"{location}: sourceBucket must be a bucket name")
    if bucket is not None and source_bucket != bucket:
        raise ManifestError(f"{location} is an inventory of bucket {source_bucket!r}, not {bucket!r}")
    if not isinstance(destination, str) or not destination:
        raise ManifestError(f"{location}: destinationBucket must be a bucket ARN")
    destination = destination.rsplit(":", 1)[-1]  # arn:aws:s3:::name
    canonical = INVENTORY_FORMATS.get(str(file_format).lower())
    if canonical is None:
        raise ManifestError(f"{location}: unknown fileFormat {file_format!r} (S3 Inventory writes CSV, ORC or Parquet)")
    if not isinstance(files, list) or not all(isinstance(f, dict) and isinstance(f.get("key"), str) and f["key"] for f in files):
        raise ManifestError(f"{location}: files must be a list of objects with a key")
    locate = _data_file_locator(location, destination)
    sources = [source_for(locate(entry["key"]), s3, _size(location, entry)) for entry in files]
    if canonical == "CSV":
        if not isinstance(schema, str):
            raise ManifestError(f"{location}: fileSchema must be the CSV's column names")
        columns = tuple(name.strip() for name in schema.split(","))
        RowParser(columns)  # refuses a schema without Bucket and Key
        parts = _inventory_csv_parts(sources, columns, part_bytes, source_bucket)
    else:
        kind = PartFormat.PARQUET if canonical == "Parquet" else PartFormat.ORC
        parts = _in_parallel(lambda data: columnar_parts(data, kind, source_bucket), sources)
    return Manifest(source.uri, ManifestKind.INVENTORY, canonical, source_bucket, tuple(parts))


def _size(location: str, entry: dict[str, Any]) -> int | None:
    size = entry.get("size")
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError(f"{location}: the size of {entry['key']} is no whole number")
    return size


def _data_file_locator(location: str, destination: str) -> Callable[[str], str]:
    """Where an inventory's data files are: in its destination bucket, or for a local
    manifest.json, in the folder above it that holds the destination bucket's layout."""
    if parse_s3_uri(location) is not None:
        return lambda key: s3_uri(destination, key)
    folders = Path(location).resolve().parents

    def local(key: str) -> str:
        for folder in folders:
            if (folder / key).is_file():
                return str(folder / key)
        raise ManifestError(f"{location}: data file {key} is in no folder above the manifest (a local inventory keeps its bucket's layout)")

    return local


def _inventory_csv_parts(sources: Sequence[Source], columns: tuple[str, ...], part_bytes: int, bucket: str) -> list[ManifestPart]:
    """One part per gzipped file, rows estimated from the first file's start; byte ranges of a
    plain CSV file (S3 writes gzip; a hand-made inventory may not)."""
    parts: list[ManifestPart] = []
    sampled, rows_per_byte = False, None
    for source in sources:
        if not source.uri.lower().endswith(".gz"):
            parts += csv_ranges(source, source.read_at(0, SAMPLE_BYTES), part_bytes, bucket, columns)
            continue
        size = source.size()
        if not sampled and size:
            sampled = True
            rows, exact = _gzip_rows(source, source.read_at(0, SAMPLE_BYTES))
            rows_per_byte = rows / size if rows is not None else None
            parts.append(ManifestPart(source.uri, PartFormat.CSV_GZ, columns=columns, size=size, bucket=bucket, rows=rows, rows_exact=exact))
            continue
        estimate = round(size * rows_per_byte) if rows_per_byte is not None else (0 if size == 0 else None)
        parts.append(ManifestPart(source.uri, PartFormat.CSV_GZ, columns=columns, size=size, bucket=bucket, rows=estimate))
    return parts


def _in_parallel(plan: Callable[[Source], list[ManifestPart]], sources: Sequence[Source]) -> list[ManifestPart]:
    if len(sources) <= 1:
        return [part for source in sources for part in plan(source)]
    with ThreadPoolExecutor(max_workers=min(FOOTER_READERS, len(sources))) as pool:
        results: Iterator[list[ManifestPart]] = pool.map(plan, sources)
        return [part for parts in results for part in parts]
