"""bench/destinations.py: one job to several destinations against one job per destination.

    .venv/bin/python bench/destinations.py [--objects 2000] [--destinations 3] [--workers 4]

On a counting moto server (bench/countingmoto.py), fills a source with N small objects and runs
``python -m seed --local`` twice over empty destinations: once as one job naming every destination
(``--dest D1 --dest D2 ...``: the source listed once), then as one job per destination, one after
the other. For each it prints the wall-clock time, the ListObjectsV2 requests and the copies the
server served, and the objects copied. The two must copy the same; the first should list less.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from countingmoto import CountingMoto  # noqa: E402


def empty(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        if page.get("Contents"):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in page["Contents"]]})


def run(env: dict[str, str], cwd: str, args: list[str]) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "seed", *args, "--local", "--json", "--no-progress"], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--destinations", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with CountingMoto() as moto, tempfile.TemporaryDirectory() as folder:
        s3 = boto3.client("s3", endpoint_url=moto.url)
        env = os.environ | {"AWS_ENDPOINT_URL": moto.url, "S3FANOUT_HOME": folder}
        source, dests = "bench-fan-src", [f"bench-fan-d{index + 1}" for index in range(args.destinations)]
        for bucket in (source, *dests):
            s3.create_bucket(Bucket=bucket)
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda index: s3.put_object(Bucket=source, Key=f"obj/{index:07d}", Body=b"x" * 64), range(args.objects)))
        common = ["--bucket", source, "--workers", str(args.workers)]
        shapes = {
            "one job, every destination": [[*common, *(flag for dest in dests for flag in ("--dest", dest))]],
            "one job per destination": [[*common, "--dest", dest] for dest in dests],
        }
        print(f"{args.objects:,} objects, {args.destinations} destinations, {args.workers} workers")
        print(f"{'shape':<28} {'wall s':>7} {'LIST':>6} {'CopyObject':>10} {'copied':>7}")
        for name, jobs in shapes.items():
            for dest in dests:
                empty(s3, dest)
            moto.reset_counts()
            started = time.monotonic()
            reports = [run(env, folder, job) for job in jobs]
            wall = time.monotonic() - started
            requests = moto.counts()["requests"]
            copied = sum(one["objects_copied"] for report in reports for one in (report, *report.get("more_destinations", [])))
            print(f"{name:<28} {wall:>7.1f} {requests.get('s3:ListObjectsV2', 0):>6,} {requests.get('s3:CopyObject', 0):>10,} {copied:>7,}")


if __name__ == "__main__":
    main()
