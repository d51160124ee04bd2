"""Job manifests for tests: S3 Inventory reports (manifest.json with CSV.gz, Parquet or ORC data
files, several row groups or stripes each) and S3 Batch Operations CSV manifests, written to a local
folder or into a (moto) bucket as S3 would write them.

    target = LocalFolder(tmp_path)                  # or Bucket(s3, "inventories")
    location = write_inventory(target, rows, "Parquet", rows_per_group=3)
    location = write_csv_manifest(target, "jobs/manifest.csv", rows)

A local folder stands for the inventory's destination bucket: keys are paths under it, so the
manifest.json finds its data files as reading does (in the folder above it that holds them).
"""

from __future__ import annotations

import datetime as dt
import gzip as gzip_module
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq

from s3fanout.manifest import ManifestRow
from tests.keys import AWKWARD_KEYS

# Beyond the shared awkward keys: what CSV quoting and line splitting must survive once encoded
# (a newline is legal in a key; only the moto server of the end-to-end tests cannot route one).
MANIFEST_KEYS = [*AWKWARD_KEYS, "comma,key", 'quote"key', '"quoted"', "new\nline", "carriage\rreturn", " ", "+", "%", "?", "#", 'a,b,"c"\n']

INVENTORY_CSV_COLUMNS = ("Bucket", "Key", "Size", "LastModifiedDate", "ETag", "StorageClass")
INVENTORY_CSV_VERSION_COLUMNS = ("Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate", "ETag", "StorageClass")
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


class Target(Protocol):
    """Where test files go: ``put`` writes ``data`` at ``key`` and says where it is."""

    def put(self, key: str, data: bytes) -> str: ...

    @property
    def name(self) -> str:
        """The bucket the target stands for (an inventory's destination)."""
        ...


@dataclass(frozen=True)
class LocalFolder:
    root: Path
    name: str = "inventory-destination"

    def put(self, key: str, data: bytes) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return str(path)


@dataclass(frozen=True)
class Bucket:
    s3: Any
    name: str

    def put(self, key: str, data: bytes) -> str:
        self.s3.put_object(Bucket=self.name, Key=key, Body=data)
        return f"s3://{self.name}/{key}"


def rows_for(keys: Sequence[str], bucket: str = "source-bucket", versions: bool = False) -> list[ManifestRow]:
    """A row per key with the metadata an inventory carries (bare-quoted ETags, as listings give them)."""
    rows = []
    for number, key in enumerate(keys):
        version = (f"v{number}.{'x' * (number % 3)}" if number % 4 else None) if versions else None
        rows.append(
            ManifestRow(
                bucket=bucket,
                key=key,
                version_id=version,
                size=number * 10,
                etag=f'"{number:032x}"',
                last_modified=WHEN + dt.timedelta(seconds=number),
                is_latest=(number % 2 == 0) if versions else None,
                is_delete_marker=(number % 5 == 4) if versions else None,
            )
        )
    return rows


# ------------------------------------------------------------------------------ CSV manifests --


def batch_encode(key: str) -> str:
    """A key as AWS's CSV manifest example encodes it: %20 for a space, slashes kept."""
    return quote(key, safe="/")


def csv_manifest_bytes(
    rows: Sequence[ManifestRow],
    *,
    versions: bool | None = None,
    encode: Callable[[str], str] = batch_encode,
    newline: str = "\n",
    trailing_newline: bool = True,
) -> bytes:
    """``bucket,key[,version_id]`` per line, no header. ``versions`` None: a version column if any
    row has a version id."""
    with_versions = any(row.version_id for row in rows) if versions is None else versions
    lines = [",".join([row.bucket, encode(row.key), *([row.version_id or ""] if with_versions else [])]) for row in rows]
    text = newline.join(lines) + (newline if trailing_newline and lines else "")
    return text.encode("utf-8")


def write_csv_manifest(target: Target, key: str, rows: Sequence[ManifestRow], *, gzip: bool = False, **options: Any) -> str:
    data = csv_manifest_bytes(rows, **options)
    return target.put(key, gzip_module.compress(data) if gzip else data)


# -------------------------------------------------------------------------- S3 Inventory reports --


def _csv_value(row: ManifestRow, column: str) -> str:
    value: Any = {
        "Bucket": row.bucket,
        "Key": quote_plus(row.key, safe=""),
        "VersionId": row.version_id,
        "IsLatest": row.is_latest,
        "IsDeleteMarker": row.is_delete_marker,
        "Size": row.size,
        "LastModifiedDate": row.last_modified.strftime("%Y-%m-%dT%H:%M:%S.") + f"{row.last_modified.microsecond // 1000:03d}Z" if row.last_modified else None,
        "ETag": row.etag.strip('"') if row.etag else None,
        "StorageClass": "STANDARD",
    }[column]
    if value is None:
        return ""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def inventory_csv_bytes(rows: Sequence[ManifestRow], columns: Sequence[str]) -> bytes:
    """An S3 Inventory CSV file's content (before gzip): every field quoted, keys form-encoded."""
    return "".join(",".join(f'"{_csv_value(row, column)}"' for column in columns) + "\n" for row in rows).encode()


def _table(rows: Sequence[ManifestRow], versions: bool) -> pa.Table:
    columns: dict[str, pa.Array] = {
        "bucket": pa.array([row.bucket for row in rows], pa.string()),
        "key": pa.array([row.key for row in rows], pa.string()),
    }
    if versions:
        columns["version_id"] = pa.array([row.version_id for row in rows], pa.string())
        columns["is_latest"] = pa.array([row.is_latest for row in rows], pa.bool_())
        columns["is_delete_marker"] = pa.array([row.is_delete_marker for row in rows], pa.bool_())
    columns["size"] = pa.array([row.size for row in rows], pa.int64())
    # TIMESTAMP_MILLIS as S3 writes it: no time zone, meaning UTC.
    columns["last_modified_date"] = pa.array([row.last_modified.replace(tzinfo=None) if row.last_modified else None for row in rows], pa.timestamp("ms"))
    columns["e_tag"] = pa.array([row.etag.strip('"') if row.etag else None for row in rows], pa.string())
    columns["storage_class"] = pa.array(["STANDARD"] * len(rows), pa.string())
    return pa.table(columns)


def _columnar_bytes(rows: Sequence[ManifestRow], file_format: str, versions: bool, rows_per_group: int, compression: str | None) -> bytes:
    buffer = io.BytesIO()
    table = _table(rows, versions)
    if file_format == "Parquet":
        pq.write_table(table, buffer, row_group_size=rows_per_group, compression=compression or "snappy")
    else:
        # A stripe per batch: the writer cuts stripes by size, checked after every batch of rows.
        # Compressed (S3 writes ZLIB), the size it sees stays 0 until 64 KiB are buffered: one stripe.
        orc.write_table(table, buffer, batch_size=rows_per_group, stripe_size=1, compression=compression or "uncompressed")
    return buffer.getvalue()


def write_inventory(
    target: Target,
    rows: Sequence[ManifestRow],
    file_format: str = "CSV",
    *,
    source_bucket: str = "source-bucket",
    prefix: str = "inventory",
    files: int = 2,
    rows_per_group: int = 4,
    versions: bool | None = None,
    gzip: bool = True,
    compression: str | None = None,
) -> str:
    """An inventory report of ``rows`` in ``files`` data files; returns its manifest.json's location.
    Parquet files get row groups, ORC files stripes, of ``rows_per_group`` rows (ORC only when
    ``compression`` is left as it is). ``gzip`` False writes plain CSV data files (S3 never does; a
    hand-made inventory might)."""
    with_versions = any(row.version_id for row in rows) if versions is None else versions
    base = f"{prefix}/{source_bucket}/config-1"
    per_file = -(-len(rows) // files) if rows else 0
    chunks = [rows[start : start + per_file] for start in range(0, len(rows), per_file)] if rows else []
    columns = INVENTORY_CSV_VERSION_COLUMNS if with_versions else INVENTORY_CSV_COLUMNS
    entries = []
    for number, chunk in enumerate(chunks):
        if file_format == "CSV":
            data = inventory_csv_bytes(chunk, columns)
            data, extension = (gzip_module.compress(data), "csv.gz") if gzip else (data, "csv")
        else:
            data, extension = _columnar_bytes(chunk, file_format, with_versions, rows_per_group, compression), file_format.lower()
        key = f"{base}/data/file-{number:04d}.{extension}"
        target.put(key, data)
        entries.append({"key": key, "size": len(data), "MD5checksum": "0" * 32})
    schema = ", ".join(columns) if file_format == "CSV" else "(the data files' own schema)"
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{target.name}",
        "version": "2016-11-30",
        "creationTimestamp": "1767323045000",
        "fileFormat": file_format,
        "fileSchema": schema,
        "files": entries,
    }
    return target.put(f"{base}/2026-01-02T03-04Z/manifest.json", json.dumps(manifest, indent=2).encode())
