"""Manifests read from local files: every format round-trips awkward keys, parts cover every row
exactly once, parts travel as JSON, and every kind of bad input is one clear ManifestError."""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3fanout.manifest import ManifestError, ManifestKind, ManifestPart, ManifestRow, PartFormat, csvrows, decode_key, open_manifest, read_part
from s3fanout.manifest.csvrows import owned_lines
from s3fanout.manifest.sources import BytesSource
from tests.manifests import (
    INVENTORY_CSV_COLUMNS,
    MANIFEST_KEYS,
    LocalFolder,
    csv_manifest_bytes,
    inventory_csv_bytes,
    rows_for,
    write_csv_manifest,
    write_inventory,
)


def read_all(location: str, **options: int) -> list[ManifestRow]:
    manifest = open_manifest(location, **options)  # type: ignore[arg-type]
    return [row for part in manifest.parts for row in read_part(ManifestPart.from_dict(json.loads(json.dumps(part.to_dict()))))]


def keys_of(rows: list[ManifestRow]) -> list[str]:
    return [row.key for row in rows]


# ------------------------------------------------------------------------------ key decoding --


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("a+b", "a b"),  # S3 Inventory's space
        ("a%20b", "a b"),  # AWS's CSV manifest example's space
        ("a%2Bb", "a+b"),
        ("100%25", "100%"),
        ("100%", "100%"),  # a % that escapes nothing is itself
        ("%E6%97%A5%E6%9C%AC/x", "日本/x"),
        ("日本/x", "日本/x"),  # not encoded at all
        ("dir%2Ffile", "dir/file"),
        ("q%3F%23", "q?#"),
    ],
)
def test_keys_are_decoded_as_form_data(encoded: str, key: str) -> None:
    assert decode_key(encoded) == key


def test_a_key_that_decodes_to_no_utf8_is_a_malformed_row(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("src,ok\nsrc,bad%FF\n")
    with pytest.raises(ManifestError, match=r"row 2: key 'bad%FF' does not decode to UTF-8"):
        read_all(str(tmp_path / "m.csv"))


# ------------------------------------------------------------------------------ round trips --


@pytest.mark.parametrize("file_format", ["CSV", "Parquet", "ORC"])
@pytest.mark.parametrize("versions", [False, True])
def test_inventory_round_trips_every_key_and_column(tmp_path: Path, file_format: str, versions: bool) -> None:
    rows = rows_for(MANIFEST_KEYS, versions=versions)
    location = write_inventory(LocalFolder(tmp_path), rows, file_format, files=3, rows_per_group=4)

    manifest = open_manifest(location)

    assert (manifest.kind, manifest.file_format, manifest.source_bucket, manifest.bucket) == (ManifestKind.INVENTORY, file_format, "source-bucket", "source-bucket")
    assert read_all(location) == rows
    if file_format == "CSV":
        assert [part.format for part in manifest.parts] == [PartFormat.CSV_GZ] * 3
    else:
        per_file = -(-len(rows) // 3)
        assert len(manifest.parts) == sum(-(-n // 4) for n in (per_file, per_file, len(rows) - 2 * per_file))
        assert {part.format for part in manifest.parts} == {PartFormat(file_format.lower())}
    assert manifest.rows == len(rows) or not manifest.rows_exact


def test_empty_version_ids_are_none_and_present_ones_kept(tmp_path: Path) -> None:
    rows = rows_for(["a", "b", "c", "d", "e"], versions=True)
    assert rows[0].version_id is None and rows[1].version_id == "v1.x"
    for file_format in ("CSV", "Parquet", "ORC"):
        location = write_inventory(LocalFolder(tmp_path / file_format), rows, file_format)
        assert [row.version_id for row in read_all(location)] == [row.version_id for row in rows]


def test_parquet_parts_are_row_groups_with_exact_counts(tmp_path: Path) -> None:
    rows = rows_for([f"key-{n:03d}" for n in range(50)])
    manifest = open_manifest(write_inventory(LocalFolder(tmp_path), rows, "Parquet", files=2, rows_per_group=7))

    assert [(part.index, part.rows) for part in manifest.parts] == [(0, 7), (1, 7), (2, 7), (3, 4)] * 2
    assert manifest.rows == 50 and manifest.rows_exact
    assert [keys_of(list(read_part(part))) for part in manifest.parts][3] == [f"key-{n:03d}" for n in range(21, 25)]


def test_orc_parts_are_stripes_with_estimated_counts_adding_up(tmp_path: Path) -> None:
    rows = rows_for([f"key-{n:03d}" for n in range(30)])
    manifest = open_manifest(write_inventory(LocalFolder(tmp_path), rows, "ORC", files=1, rows_per_group=8))

    assert [part.index for part in manifest.parts] == [0, 1, 2, 3]
    assert manifest.rows == 30 and not manifest.rows_exact
    assert [len(list(read_part(part))) for part in manifest.parts] == [8, 8, 8, 6]


@pytest.mark.parametrize(("file_format", "compression"), [("ORC", "zlib"), ("Parquet", "gzip"), ("Parquet", "none")])
def test_columnar_files_read_with_any_compression(tmp_path: Path, file_format: str, compression: str) -> None:
    rows = rows_for(MANIFEST_KEYS, versions=True)
    assert read_all(write_inventory(LocalFolder(tmp_path), rows, file_format, files=1, compression=compression)) == rows


@pytest.mark.parametrize("gzipped", [False, True])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"encode": lambda key: quote_plus(key, safe="")},  # spaces as +, as S3 Inventory writes them
        {"newline": "\r\n"},
        {"trailing_newline": False},
        {"versions": True},
    ],
    ids=["percent-20", "plus", "crlf", "no-final-newline", "versions"],
)
def test_csv_manifest_round_trips_every_key(tmp_path: Path, gzipped: bool, options: dict[str, object]) -> None:
    rows = [ManifestRow(row.bucket, row.key, row.version_id) for row in rows_for(MANIFEST_KEYS, versions=bool(options.get("versions")))]
    location = write_csv_manifest(LocalFolder(tmp_path), "jobs/manifest.csv" + (".gz" if gzipped else ""), rows, gzip=gzipped, **options)

    manifest = open_manifest(location, part_bytes=300)

    assert (manifest.kind, manifest.source_bucket, manifest.bucket) == (ManifestKind.CSV, None, "source-bucket")
    assert read_all(location, part_bytes=300) == rows
    assert manifest.rows == len(rows) and manifest.rows_exact
    if gzipped:
        assert [part.format for part in manifest.parts] == [PartFormat.CSV_GZ]
    else:
        assert len(manifest.parts) > 10 and {part.format for part in manifest.parts} == {PartFormat.CSV}


def test_csv_quoting_keeps_commas_and_quotes_of_keys_left_unencoded(tmp_path: Path) -> None:
    keys = ["comma,key", 'quote"key', '"both",here', "plain"]
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    for key in keys:
        writer.writerow(["src", quote(key, safe='/,"'), ""])
    (tmp_path / "m.csv").write_text(out.getvalue())

    assert [(row.key, row.version_id) for row in read_all(str(tmp_path / "m.csv"), part_bytes=10)] == [(key, None) for key in keys]


def test_a_byte_order_mark_and_blank_lines_are_no_rows(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_bytes(b"\xef\xbb\xbfsrc,a\n\nsrc,b\n\r\n")
    assert keys_of(read_all(str(tmp_path / "m.csv"))) == ["a", "b"]


def test_a_plain_csv_inventory_is_split_into_byte_ranges(tmp_path: Path) -> None:
    rows = rows_for(MANIFEST_KEYS)
    location = write_inventory(LocalFolder(tmp_path), rows, "CSV", files=2, gzip=False)

    manifest = open_manifest(location, part_bytes=500)

    assert len(manifest.parts) > 4 and all(part.columns == INVENTORY_CSV_COLUMNS for part in manifest.parts)
    assert read_all(location, part_bytes=500) == rows


# ------------------------------------------------------------------------ byte-range splitting --


@pytest.mark.parametrize(
    ("data", "start", "end", "lines"),
    [
        (b"a\nbb\nccc", 0, 1, [b"a"]),
        (b"a\nbb\nccc", 1, 2, []),  # byte 1 is a's newline: no line starts there
        (b"a\nbb\nccc", 2, 3, [b"bb"]),  # bb starts at 2 and is read past the end
        (b"a\nbb\nccc", 3, 5, []),  # ccc starts at 5, outside [3, 5)
        (b"a\nbb\nccc", 3, 6, [b"ccc"]),
        (b"a\nbb\nccc", 6, 8, []),
        (b"a\nbb\nccc\n", 0, 99, [b"a", b"bb", b"ccc"]),
        (b"\n\n", 1, 2, [b""]),
        (b"", 0, 1, []),
    ],
)
def test_a_range_owns_the_lines_that_start_inside_it(data: bytes, start: int, end: int, lines: list[bytes]) -> None:
    assert list(owned_lines(BytesSource(data), start, end)) == lines


def test_a_last_line_longer_than_the_slack_is_read_to_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvrows, "LINE_SLACK_BYTES", 3)
    data = b"x\n" + b"y" * 50 + b"\nz"
    assert list(owned_lines(BytesSource(data), 1, 3)) == [b"y" * 50]
    assert list(owned_lines(BytesSource(data), 3, 60)) == [b"z"]


line_keys = st.lists(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30), min_size=0, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys=line_keys, part_bytes=st.integers(1, 400), newline=st.sampled_from(["\n", "\r\n"]), trailing=st.booleans(), plus=st.booleans())
def test_byte_ranges_cover_every_row_exactly_once(keys: list[str], part_bytes: int, newline: str, trailing: bool, plus: bool) -> None:
    rows = [ManifestRow("bucket", key) for key in keys]
    encode = (lambda key: quote_plus(key, safe="")) if plus else (lambda key: quote(key, safe="/"))
    data = csv_manifest_bytes(rows, encode=encode, newline=newline, trailing_newline=trailing)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.csv"
        path.write_bytes(data)
        if not rows:
            with pytest.raises(ManifestError, match="has no rows|is empty"):
                open_manifest(str(path), part_bytes=part_bytes)
            return
        manifest = open_manifest(str(path), part_bytes=part_bytes)
        assert [part.start for part in manifest.parts] == list(range(0, len(data), part_bytes))
        assert manifest.parts[-1].end == len(data)
        read = [[row.key for row in read_part(part)] for part in manifest.parts]
        assert [key for part in read for key in part] == keys
        assert [part.rows for part in manifest.parts] == [len(part) for part in read]


def test_a_large_csv_gets_estimated_counts(tmp_path: Path) -> None:
    rows = [ManifestRow("src", f"key-{n:06d}") for n in range(40_000)]  # 15 bytes a line, 600 kB
    location = write_csv_manifest(LocalFolder(tmp_path), "m.csv", rows)

    manifest = open_manifest(location, part_bytes=100_000)

    assert not manifest.rows_exact and manifest.rows is not None and abs(manifest.rows - 40_000) < 100
    assert sum(len(list(read_part(part))) for part in manifest.parts) == 40_000


def test_a_large_gzipped_csv_gets_an_estimated_count(tmp_path: Path) -> None:
    rows = [ManifestRow("src", f"key-{n:07d}-{n * 7919 % 10007:05d}") for n in range(400_000)]
    location = write_csv_manifest(LocalFolder(tmp_path), "m.csv.gz", rows, gzip=True)

    manifest = open_manifest(location)

    assert not manifest.rows_exact and manifest.rows is not None and 300_000 < manifest.rows < 500_000


# ------------------------------------------------------------------------------ parts as JSON --


def test_parts_travel_as_small_json() -> None:
    parts = [
        ManifestPart("s3://inv/data/f.parquet", PartFormat.PARQUET, index=3, size=1234, bucket="src", rows=500, rows_exact=True),
        ManifestPart("/tmp/m.csv", PartFormat.CSV, start=100, end=200, size=300, rows=4),
        ManifestPart("s3://inv/d/f.csv.gz", PartFormat.CSV_GZ, columns=INVENTORY_CSV_COLUMNS, bucket="src"),
        ManifestPart("s3://b/" + "é" * 500, PartFormat.ORC, index=0),
    ]
    for part in parts:
        body = json.dumps(part.to_dict(), ensure_ascii=True, separators=(",", ":"))
        assert ManifestPart.from_dict(json.loads(body)) == part
    assert len(json.dumps(parts[0].to_dict())) < 150


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ([], "must be an object"),
        ({"format": "csv"}, "uri must be a non-empty string"),
        ({"uri": "x", "format": "avro"}, "format must be one of csv, csv.gz, orc, parquet"),
        ({"uri": "x", "format": "parquet"}, "a parquet part needs an index"),
        ({"uri": "x", "format": "csv", "start": -1}, "start must be a non-negative integer"),
        ({"uri": "x", "format": "csv", "start": 5, "end": 4}, "end must not be before start"),
        ({"uri": "x", "format": "csv", "columns": "Bucket,Key"}, "columns must be a list of strings"),
        ({"uri": "x", "format": "csv", "bucket": 3}, "bucket must be a string"),
    ],
)
def test_an_invalid_part_is_refused(data: object, reason: str) -> None:
    with pytest.raises(ManifestError, match=f"^invalid manifest part: {reason}$"):
        ManifestPart.from_dict(data)


# ------------------------------------------------------------------------------------ errors --


def inventory_json(folder: Path, **changes: object) -> str:
    manifest = {"sourceBucket": "src", "destinationBucket": "arn:aws:s3:::dest", "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size", "files": []}
    manifest.update(changes)
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest))
    return str(path)


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"^cannot read .*nothing-here.csv: No such file or directory$"):
        open_manifest(str(tmp_path / "nothing-here.csv"))


def test_an_s3_location_needs_a_client() -> None:
    with pytest.raises(ManifestError, match=r"^reading s3://b/m.csv needs an S3 client$"):
        open_manifest("s3://b/m.csv")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fileFormat": "Avro"}, r"unknown fileFormat 'Avro' \(S3 Inventory writes CSV, ORC or Parquet\)"),
        ({"fileSchema": "Bucket, Size"}, r"inventory schema lacks the required column Key \(it has Bucket, Size\)"),
        ({"sourceBucket": None}, "sourceBucket must be a bucket name"),
        ({"files": [{"size": 3}]}, "files must be a list of objects with a key"),
        ({"files": [{"key": "inventory/x.csv.gz", "size": 3}]}, "data file inventory/x.csv.gz is in no folder above the manifest"),
    ],
)
def test_a_bad_inventory_manifest_is_refused(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        open_manifest(inventory_json(tmp_path, **changes))


def test_an_inventory_manifest_without_files_key_is_refused(tmp_path: Path) -> None:
    path = inventory_json(tmp_path)
    document = json.loads(Path(path).read_text())
    del document["files"]
    Path(path).write_text(json.dumps(document))
    with pytest.raises(ManifestError, match="is no S3 Inventory manifest: it lacks files$"):
        open_manifest(path)


def test_an_inventory_of_another_bucket_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"is an inventory of bucket 'src', not 'other'$"):
        open_manifest(inventory_json(tmp_path), bucket="other")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("m.json", b"not json", "is not JSON, so no S3 Inventory manifest.json"),
        ("m.json", b"{broken", "is not valid JSON"),
        ("m.csv", b"", "is empty$"),
        ("m.csv", b"\n\n", "has no rows$"),
        ("m.csv", b"PAR1....", "is an inventory's data file: give the inventory's manifest.json"),
        ("m.csv", b"\x00\xff\xfe binary", r"is no CSV manifest \(bucket,key\[,version_id\] per line\): row 1: not UTF-8"),
        ("m.csv", b"just-one-field\n", "row 1: expected bucket,key\\[,version_id\\], found 1 fields"),
        ("m.csv.gz", b"\x1f\x8b\x08garbage", "is not a valid gzip file"),
    ],
)
def test_an_unknown_or_broken_manifest_is_refused(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ManifestError, match=message):
        open_manifest(str(tmp_path / name))


def test_a_row_of_another_bucket_names_its_row_and_bucket(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("src,a\nsrc,b\nother,c\nsrc,d\n")
    manifest = open_manifest(str(tmp_path / "m.csv"))
    with pytest.raises(ManifestError, match=r"m.csv: row 3 names bucket 'other', not 'src' \(a manifest names one bucket\)$"):
        list(read_part(manifest.parts[0]))


def test_every_part_checks_the_first_rows_bucket(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("src,a\nsrc,b\nother,c\nother,d\n")
    parts = open_manifest(str(tmp_path / "m.csv"), part_bytes=12).parts
    assert [part.bucket for part in parts] == ["src", "src", "src"]
    with pytest.raises(ManifestError, match=r"m.csv \(bytes 12-24\): row 1 names bucket 'other', not 'src'"):
        list(read_part(parts[1]))


def test_the_bucket_asked_for_is_checked_in_a_csv(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("src,a\n")
    manifest = open_manifest(str(tmp_path / "m.csv"), bucket="wanted")
    with pytest.raises(ManifestError, match=r"row 1 names bucket 'src', not 'wanted'"):
        list(read_part(manifest.parts[0]))


def test_an_inventory_row_of_another_bucket_is_refused(tmp_path: Path) -> None:
    rows = [*rows_for(["a", "b"]), *rows_for(["c"], bucket="intruder")]
    for file_format in ("CSV", "Parquet"):
        manifest = open_manifest(write_inventory(LocalFolder(tmp_path / file_format), rows, file_format, files=1, rows_per_group=10))
        with pytest.raises(ManifestError, match=r"row 3 names bucket 'intruder', not 'source-bucket'"):
            [row for part in manifest.parts for row in read_part(part)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"src,a,v1,extra", "row 2: expected bucket,key\\[,version_id\\], found 4 fields"),
        (b'src,"unterminated', r"row 2: malformed CSV \(unexpected end of data\)"),
        (b"src,", "row 2: empty key"),
        (b",key", "row 2: empty bucket"),
    ],
)
def test_a_malformed_row_is_named(tmp_path: Path, line: bytes, message: str) -> None:
    (tmp_path / "m.csv").write_bytes(b"src,first\n" + line + b"\nsrc,last\n")
    manifest = open_manifest(str(tmp_path / "m.csv"))
    with pytest.raises(ManifestError, match=f"m.csv: {message}$"):
        list(read_part(manifest.parts[0]))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ('"src","a","12"', r"row 1: expected 6 fields \(Bucket, Key, Size, LastModifiedDate, ETag, StorageClass\), found 3"),
        ('"src","a","x","2026-01-02T03:04:05.000Z","e","STANDARD"', "row 1: Size 'x' is no whole number"),
        ('"src","a","1","yesterday","e","STANDARD"', "row 1: LastModifiedDate 'yesterday' is no ISO 8601 time"),
    ],
)
def test_a_malformed_inventory_row_is_named(tmp_path: Path, fields: str, message: str) -> None:
    folder = LocalFolder(tmp_path)
    data = gzip.compress(fields.encode() + b"\n")
    folder.put("inv/data/f.csv.gz", data)
    location = inventory_json(tmp_path / "inv", fileSchema=", ".join(INVENTORY_CSV_COLUMNS), files=[{"key": "inv/data/f.csv.gz", "size": len(data)}])
    manifest = open_manifest(location)
    with pytest.raises(ManifestError, match=f"f.csv.gz: {message}$"):
        list(read_part(manifest.parts[0]))


def test_a_truncated_gzip_file_is_named(tmp_path: Path) -> None:
    data = gzip.compress(inventory_csv_bytes(rows_for([f"k{n}" for n in range(1000)]), INVENTORY_CSV_COLUMNS))
    (tmp_path / "m.csv.gz").write_bytes(data[: len(data) // 2])
    part = ManifestPart(str(tmp_path / "m.csv.gz"), PartFormat.CSV_GZ, columns=INVENTORY_CSV_COLUMNS)
    with pytest.raises(ManifestError, match=r"m.csv.gz is not a complete gzip file: Compressed file ended"):
        list(read_part(part))


def test_a_columnar_file_without_the_key_column_is_refused(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = LocalFolder(tmp_path)
    buffer = io.BytesIO()
    pq.write_table(pa.table({"bucket": ["src"], "size": [1]}), buffer)
    folder.put("inv/data/f.parquet", buffer.getvalue())
    location = inventory_json(tmp_path / "inv", fileFormat="Parquet", files=[{"key": "inv/data/f.parquet", "size": len(buffer.getvalue())}])
    with pytest.raises(ManifestError, match=r"f.parquet lacks the required column key \(it has bucket, size\)$"):
        open_manifest(location)


def test_a_broken_columnar_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "f.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    (tmp_path / "f.orc").write_bytes(b"ORC not really orc")
    with pytest.raises(ManifestError, match=r"f.parquet is not a readable parquet file: "):
        list(read_part(ManifestPart(str(tmp_path / "f.parquet"), PartFormat.PARQUET, index=0)))
    with pytest.raises(ManifestError, match=r"f.orc is not a readable orc file: "):
        list(read_part(ManifestPart(str(tmp_path / "f.orc"), PartFormat.ORC, index=0)))


def test_a_row_group_past_the_last_is_named(tmp_path: Path) -> None:
    manifest = open_manifest(write_inventory(LocalFolder(tmp_path), rows_for(["a", "b"]), "Parquet", files=1))
    with pytest.raises(ManifestError, match=r"has 1 row groups, no row group 5$"):
        list(read_part(ManifestPart(manifest.parts[0].uri, PartFormat.PARQUET, index=5)))


def test_errors_are_one_line() -> None:
    error = ManifestError("s3://b/k: row 3 names bucket 'x', not 'y'")
    assert "\n" not in str(error) and error.permanent


def test_the_keys_tried_are_awkward_enough() -> None:
    assert max(len(key.encode()) for key in MANIFEST_KEYS) == 1024
    assert {"+", "%", "?", "#", " ", "comma,key", 'quote"key', "new\nline"} <= set(MANIFEST_KEYS)
    assert any(not key[0].isascii() for key in MANIFEST_KEYS) and any(key.startswith("+") for key in MANIFEST_KEYS)


def test_nanosecond_timestamps_are_read_to_the_microsecond(tmp_path: Path) -> None:
    import datetime as dt

    import pyarrow as pa
    import pyarrow.orc as orc

    folder = LocalFolder(tmp_path)
    buffer = io.BytesIO()
    moment = pa.array([1_767_323_045_123_456_789], pa.timestamp("ns"))
    orc.write_table(pa.table({"bucket": ["src"], "key": ["k"], "last_modified_date": moment}), buffer)
    folder.put("inv/data/f.orc", buffer.getvalue())
    location = inventory_json(tmp_path / "inv", fileFormat="ORC", files=[{"key": "inv/data/f.orc", "size": len(buffer.getvalue())}])

    [row] = read_all(location)

    assert row.last_modified == dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
