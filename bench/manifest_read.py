"""bench/manifest_read.py: how fast a lister reads a manifest part, per format.

    .venv/bin/python bench/manifest_read.py [--rows 200000] [--repeat 3]

Writes an S3 Inventory report of N rows (UUID-shaped keys under a prefix) to a temporary folder in
each format a job takes (CSV.gz, Parquet, ORC) and an S3 Batch Operations CSV manifest of the same
keys, opens each with ``open_manifest`` (as the CLI does before seeding) and reads every part with
``read_part`` (as the listers do), and prints rows per second of one core: the time to open, the
parts, and the read rate (best of the repeats). Local files: it measures parsing and decoding, not
S3's latency (a part is one GET of the file, or the footer and one row group for Parquet and ORC).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from s3fanout.manifest import ManifestRow, open_manifest, read_part

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.manifests import LocalFolder, write_csv_manifest, write_inventory  # noqa: E402

SOURCE = "bench-source"


def rows(count: int) -> list[ManifestRow]:
    made = []
    for number in range(count):
        key = f"data/2026/{uuid.UUID(int=number * 0x9E3779B97F4A7C15 % (1 << 128))}.json"
        made.append(ManifestRow(SOURCE, key, size=1000 + number % 5000, etag=f'"{number:032x}"'))
    return sorted(made, key=lambda row: row.key)


def measure(location: str, repeat: int) -> tuple[float, int, float, int]:
    """(seconds to open, parts, best rows/s reading every part, rows read)."""
    started = time.perf_counter()
    manifest = open_manifest(location, bucket=SOURCE)
    opened = time.perf_counter() - started
    best, count = 0.0, 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = sum(1 for part in manifest.parts for _ in read_part(part))
        best = max(best, count / (time.perf_counter() - started))
    return opened, len(manifest.parts), best, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    made = rows(args.rows)
    with tempfile.TemporaryDirectory() as folder:
        target = LocalFolder(Path(folder))
        locations = {
            "inventory CSV.gz": write_inventory(target, made, "CSV", source_bucket=SOURCE, prefix="csv", files=4),
            "inventory Parquet": write_inventory(target, made, "Parquet", source_bucket=SOURCE, prefix="parquet", files=4, rows_per_group=25_000),
            "inventory ORC": write_inventory(target, made, "ORC", source_bucket=SOURCE, prefix="orc", files=4, rows_per_group=25_000),
            "CSV manifest": write_csv_manifest(target, "manifest/keys.csv", made),
        }
        print(f"{args.rows:,} rows per manifest, best of {args.repeat} reads, one core")
        print(f"{'format':<20} {'open s':>8} {'parts':>6} {'rows/s':>10}")
        for name, location in locations.items():
            opened, parts, rate, count = measure(location, args.repeat)
            assert count == args.rows, f"{name}: read {count} rows"
            print(f"{name:<20} {opened:>8.3f} {parts:>6} {rate:>10,.0f}")


if __name__ == "__main__":
    main()
