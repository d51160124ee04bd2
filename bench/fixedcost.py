"""bench/fixedcost.py: what a local run costs before and after its copies.

    .venv/bin/python bench/fixedcost.py [--repeat 3] [--objects 0 20] [--workers 4] [--queues shared|embedded]

On an embedded moto server, runs ``python -m seed --local`` over a source of N tiny objects into
an empty destination, several times, and prints for each run its wall-clock time and the time
from the job's end (its record's "finished", which the run sets once the record counts nothing
open) to the command's exit. The run with 0 objects is the fixed cost of a run: start-up, pre-flight,
queues and table, seeding, worker processes, the empty range listed, and the end.

With ``--queues embedded`` only S3 is on the bench's server (AWS_ENDPOINT_URL_S3): the run keeps
its queues and job record on an embedded moto server of its own, started by the run, as local
mode does when it copies on real S3.
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


def job_end(report_folder: Path | None) -> float | None:
    """Wall-clock time of the job's end, from its completion report (summary.json)."""
    if report_folder is None:
        return None
    finished = json.loads((report_folder / "summary.json").read_text(encoding="utf-8")).get("finished")
    return datetime.fromisoformat(finished).timestamp() if finished else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--objects", type=int, nargs="+", default=[0, 20])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--queues",
        choices=("shared", "embedded"),
        default="shared",
        help="shared: SQS and DynamoDB on the bench's moto server too; embedded: on the run's own, as on real S3 (default: shared)",
    )
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with EmbeddedMoto() as moto, tempfile.TemporaryDirectory() as folder:
        s3 = boto3.client("s3", endpoint_url=moto.url)
        env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_ENDPOINT_URL")} | {"S3FANOUT_HOME": folder}
        env |= {"AWS_ENDPOINT_URL": moto.url} if args.queues == "shared" else {"AWS_ENDPOINT_URL_S3": moto.url}
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
                written = json.loads(result.stdout).get("completion_report")
                ended = job_end(Path(folder) / written if written else None)
                tail = f"{exited - ended:14.2f}" if ended else f"{'?':>14}"
                print(f"{count:>7} {run:>4} {walls[-1]:>7.2f} {tail}")
            print(f"{count:>7} {'med':>4} {statistics.median(walls):>7.2f}")


if __name__ == "__main__":
    main()
