"""Manifests read from S3 (in-process moto): the same rows as from local files, and only the bytes a
part needs: ranged GETs for a CSV's byte range, a footer and one row group for Parquet, one stream
for gzip; S3's errors become a ManifestError naming the object."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from s3fanout.manifest import ManifestError, ManifestPart, ManifestRow, PartFormat, open_manifest, read_part
from tests.manifests import MANIFEST_KEYS, Bucket, rows_for, write_csv_manifest, write_inventory

INVENTORIES = "inventory-destination"


@dataclass
class Requests:
    """S3 calls made, by operation, with GetObject's ranges and bytes."""

    calls: list[str] = field(default_factory=list)
    ranges: list[str | None] = field(default_factory=list)
    bytes_read: int = 0

    def before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append(model.name)
        if model.name == "GetObject":
            self.ranges.append(params.get("Range"))

    def after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "GetObject":
            self.bytes_read += int(parsed.get("ContentLength", 0))

    def clear(self) -> None:
        self.calls.clear()
        self.ranges.clear()
        self.bytes_read = 0


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=INVENTORIES)
        yield client


@pytest.fixture
def requests(s3: Any) -> Requests:
    counter = Requests()
    s3.meta.events.register("before-parameter-build.s3.*", counter.before)
    s3.meta.events.register("after-call.s3.*", counter.after)
    return counter


def read_all(location: str, s3: Any, **options: Any) -> list[ManifestRow]:
    manifest = open_manifest(location, s3, **options)
    return [row for part in manifest.parts for row in read_part(ManifestPart.from_dict(json.loads(json.dumps(part.to_dict()))), s3)]


@pytest.mark.parametrize("file_format", ["CSV", "Parquet", "ORC"])
def test_an_inventory_in_s3_round_trips_every_key(s3: Any, file_format: str) -> None:
    rows = rows_for(MANIFEST_KEYS, versions=True)
    location = write_inventory(Bucket(s3, INVENTORIES), rows, file_format, files=3, rows_per_group=5)
    assert location.startswith(f"s3://{INVENTORIES}/") and location.endswith("/manifest.json")

    manifest = open_manifest(location, s3)

    assert manifest.source_bucket == "source-bucket"
    assert all(part.uri.startswith(f"s3://{INVENTORIES}/inventory/source-bucket/config-1/data/") for part in manifest.parts)
    assert read_all(location, s3) == rows


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_csv_manifest_in_s3_round_trips_every_key(s3: Any, gzipped: bool) -> None:
    versions = [None, "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "null"]  # none (an empty field), an id, the null version
    rows = [ManifestRow("source-bucket", key, versions[number % 3]) for number, key in enumerate(MANIFEST_KEYS)]
    location = write_csv_manifest(Bucket(s3, INVENTORIES), "jobs/manifest.csv" + (".gz" if gzipped else ""), rows, gzip=gzipped)

    assert read_all(location, s3, part_bytes=1000) == rows


def test_a_parquet_row_group_is_read_without_the_rest_of_the_file(s3: Any, requests: Requests) -> None:
    random.seed(7)
    keys = ["".join(random.choices(string.ascii_letters + string.digits, k=60)) for _ in range(20_000)]
    location = write_inventory(Bucket(s3, INVENTORIES), rows_for(keys), "Parquet", files=1, rows_per_group=2_000)
    file_size = s3.head_object(Bucket=INVENTORIES, Key="inventory/source-bucket/config-1/data/file-0000.parquet")["ContentLength"]
    assert file_size > 1_000_000

    requests.clear()
    manifest = open_manifest(location, s3)
    # The manifest.json (its size, its content) and the data file's footer; the size is in manifest.json.
    assert requests.calls == ["HeadObject", "GetObject", "GetObject"]
    assert len(manifest.parts) == 10 and manifest.rows == 20_000 and manifest.rows_exact

    requests.clear()
    rows = list(read_part(manifest.parts[4], s3))

    assert [row.key for row in rows] == keys[8_000:10_000]
    assert requests.calls == ["GetObject", "GetObject"]  # the footer, then the row group's columns
    assert all(r is not None and r.startswith("bytes=") for r in requests.ranges)
    assert requests.bytes_read < file_size / 4


def test_an_orc_stripe_is_read_in_ranges(s3: Any, requests: Requests) -> None:
    keys = [f"key-{n:05d}" for n in range(3_000)]
    location = write_inventory(Bucket(s3, INVENTORIES), rows_for(keys), "ORC", files=1, rows_per_group=1_000)
    manifest = open_manifest(location, s3)
    assert [part.index for part in manifest.parts] == [0, 1, 2]

    requests.clear()
    assert [row.key for row in read_part(manifest.parts[1], s3)] == keys[1_000:2_000]
    assert requests.calls and set(requests.calls) == {"GetObject"} and all(r is not None for r in requests.ranges)


def test_a_csv_byte_range_is_read_with_ranged_gets(s3: Any, requests: Requests) -> None:
    rows = [ManifestRow("source-bucket", f"key-{n:05d}") for n in range(1_000)]  # 24 bytes a line
    location = write_csv_manifest(Bucket(s3, INVENTORIES), "m.csv", rows)

    requests.clear()
    manifest = open_manifest(location, s3, part_bytes=5_000)
    assert requests.calls == ["HeadObject", "GetObject"]
    assert requests.ranges == ["bytes=0-23999"]  # all of it: its rows are counted

    requests.clear()
    part = manifest.parts[1]
    keys = [row.key for row in read_part(part, s3)]

    assert keys == [f"key-{n:05d}" for n in range(209, 417)]  # lines starting at 5016 to 9984
    # The range from the byte before it (is a line starting at 5000?), then the rest of its last line.
    assert requests.ranges == ["bytes=4999-9999", "bytes=10000-18191"]


def test_a_gzipped_csv_is_one_stream(s3: Any, requests: Requests) -> None:
    rows = rows_for([f"key-{n:05d}" for n in range(5_000)])
    location = write_inventory(Bucket(s3, INVENTORIES), rows, "CSV", files=1)
    manifest = open_manifest(location, s3)

    requests.clear()
    assert len(list(read_part(manifest.parts[0], s3))) == 5_000
    assert requests.calls == ["GetObject"] and requests.ranges == [None]


def test_a_missing_object_is_a_permanent_error_naming_it(s3: Any) -> None:
    with pytest.raises(ManifestError, match=rf"^cannot read s3://{INVENTORIES}/no/such/manifest.json: 404: Not Found$") as raised:
        open_manifest(f"s3://{INVENTORIES}/no/such/manifest.json", s3)
    assert raised.value.permanent

    part = ManifestPart(f"s3://{INVENTORIES}/gone.csv.gz", PartFormat.CSV_GZ, size=10)
    with pytest.raises(ManifestError, match=rf"^cannot read s3://{INVENTORIES}/gone.csv.gz: NoSuchKey: "):
        list(read_part(part, s3))


def test_a_missing_data_file_is_named(s3: Any) -> None:
    location = write_inventory(Bucket(s3, INVENTORIES), rows_for(["a", "b"]), "Parquet", files=1)
    s3.delete_object(Bucket=INVENTORIES, Key="inventory/source-bucket/config-1/data/file-0000.parquet")
    with pytest.raises(ManifestError, match=r"cannot read s3://inventory-destination/inventory/source-bucket/config-1/data/file-0000.parquet: NoSuchKey"):
        open_manifest(location, s3)
