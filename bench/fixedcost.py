"""bench/fixedcost.py: what a local run costs before and after its copies.

    .venv/bin/python bench/fixedcost.py [--repeat 3] [--objects 0 20] [--workers 4]

On an embedded moto server, runs ``python -m seed --local`` over a source of N tiny objects into
an empty destination, several times, and prints for each run its wall-clock time and the time
from the job's end (the worker log's "job finished": the last message settled in the job record)
to the command's exit. The run with 0 objects is the fixed cost of a run: start-up, pre-flight,
queues and table, seeding, worker processes, 32 empty ranges listed, and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import boto3

from s3fanout.motoserver import EmbeddedMoto


def job_end(log: Path) -> float | None:
    """Wall-clock time of the worker log's "job finished" line."""
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith("{") and '"job finished"' in line:
            return datetime.strptime(json.loads(line)["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z").timestamp()
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--objects", type=int, nargs="+", default=[0, 20])
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with EmbeddedMoto() as moto, tempfile.TemporaryDirectory() as folder:
        s3 = boto3.client("s3", endpoint_url=moto.url)
        env = os.environ | {"AWS_ENDPOINT_URL": moto.url, "S3FANOUT_HOME": folder}
        print(f"{'objects':>7} {'run':>4} {'wall s':>7} {'end to exit s':>14}")
        for count in args.objects:
            source, dest = f"fixed-{count}-src", f"fixed-{count}-dst"
            s3.create_bucket(Bucket=source)
            s3.create_bucket(Bucket=dest)
            for index in range(count):
                s3.put_object(Bucket=source, Key=f"key-{index:05d}", Body=b"x")
            walls = []
            for run in range(1, args.repeat + 1):
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=dest):
                    if page.get("Contents"):
                        s3.delete_objects(Bucket=dest, Delete={"Objects": [{"Key": o["Key"]} for o in page["Contents"]]})
                started = time.monotonic()
                result = subprocess.run(
                    [sys.executable, "-m", "seed", "--bucket", source, "--dest", dest, "--local", "--workers", str(args.workers), "--json", "--no-progress"],
                    env=env,
                    cwd=folder,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                exited = time.time()
                walls.append(time.monotonic() - started)
                ended = job_end(Path(folder) / json.loads(result.stdout)["log_file"])
                tail = f"{exited - ended:14.2f}" if ended else f"{'?':>14}"
                print(f"{count:>7} {run:>4} {walls[-1]:>7.2f} {tail}")
            print(f"{count:>7} {'med':>4} {statistics.median(walls):>7.2f}")


if __name__ == "__main__":
    main()
