"""python -m seed demo: the whole pipeline on an embedded moto server, verified key by key.

No AWS account is touched: the demo points every client at a moto server it starts, fills a source
bucket with generated objects (awkward keys, metadata and tags included), runs a local-mode job and
compares the destination with the source object by object. With --endpoint-url the buckets are on
another S3 implementation (LocalStack, MinIO, ...) instead, never on AWS itself; local mode's
queues and job record then stay on an embedded moto server unless AWS_ENDPOINT_URL_SQS and
AWS_ENDPOINT_URL_DYNAMODB name others.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from s3fanout import clients
from s3fanout.job import JobSpec
from s3fanout.motoserver import EmbeddedMoto
from seed.arguments import endpoint_url_argument, worker_count
from seed.console import PROG, ExitStatus, OneLineParser, UsageError, progress_wanted
from seed.report import print_report
from seed.runner import JobOptions, WorkerOptions, run_local_job

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SOURCE_BUCKET = "demo-source"
DEST_BUCKET = "demo-destination"

# Keys that tools get wrong: non-ASCII first characters, URL-special characters, slashes where a
# path would not have them, control characters, the 1,024-byte maximum. (A newline is left out
# only because the moto server cannot route a key that contains one; S3 takes it.)
AWKWARD_KEYS = [
    "é-first-character.txt",
    "日本/データ.csv",
    "😀 emoji first.bin",
    "Ω/omega",
    "with space.txt",
    "plus+sign",
    "percent%20literal",
    "question?mark",
    "hash#fragment",
    "ampersand&equals=",
    "/leading-slash",
    "double//slash/",
    "trailing-dot.",
    "\x01control-character",
    "tab\tinside",
    "~tilde",
    "{braces}[brackets]",
    "quote'\"marks",
    "back\\slash",
    "<xml>&amp;",
    "\ufffdreplacement-char",
    "a" * 1024,
    "é" * 512,
    "日" * 341 + "x",
]


@dataclass(frozen=True, slots=True)
class DemoObject:
    key: str
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def demo_objects(count: int, seed: int = 7) -> Iterator[DemoObject]:
    """Awkward keys first, then ``count`` ordinary ones spread over several layouts; every tenth
    object carries metadata, content headers and tags."""
    rng = random.Random(seed)
    keys = list(AWKWARD_KEYS)
    layouts = [
        lambda i: f"logs/2026/11/{i % 28 + 1:02d}/part-{i:06d}.json",
        lambda i: f"images/{hashlib.sha1(str(i).encode()).hexdigest()}.jpg",
        lambda i: f"{hashlib.md5(str(i).encode()).hexdigest()[:8]}-{i}",
        lambda i: f"Data/Report {i}.csv",
    ]
    keys += [layouts[i % len(layouts)](i) for i in range(max(0, count - len(keys)))]
    for index, key in enumerate(keys):
        size = 0 if index % 50 == 3 else rng.randint(1, 4096)
        decorated = index < len(AWKWARD_KEYS) or index % 10 == 0
        headers: dict[str, Any] = {}
        tags: dict[str, str] = {}
        if decorated:
            headers = {
                "Metadata": {"origin": "demo", "index": str(index)},
                "ContentType": "application/x-demo",
                "CacheControl": "max-age=3600",
                "ContentDisposition": f'attachment; filename="object-{index}"',
                "ContentEncoding": "identity",
                "ContentLanguage": "en-GB",
                "Expires": "2031-01-01T00:00:00Z",
            }
            tags = {"project": "s3-fanout", "index": str(index)}
        yield DemoObject(key, rng.randbytes(size), headers, tags)


def upload(s3: S3Client, bucket: str, objects: list[DemoObject]) -> None:
    def put(obj: DemoObject) -> None:
        extra = dict(obj.headers)
        if obj.tags:
            extra["Tagging"] = "&".join(f"{k}={v}" for k, v in obj.tags.items())
        s3.put_object(Bucket=bucket, Key=obj.key, Body=obj.body, **extra)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, objects))


def listing(s3: S3Client, bucket: str) -> dict[str, tuple[int, str]]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            found[entry["Key"]] = (entry["Size"], entry["ETag"])
    return found


COMPARED_HEADERS = ("Metadata", "ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "Expires")


def verify(s3: S3Client, objects: list[DemoObject]) -> list[str]:
    """Compare the destination with the source: every key with size and ETag, and the headers and
    tags of every decorated object. Returns the differences, empty when identical."""
    source = listing(s3, SOURCE_BUCKET)
    dest = listing(s3, DEST_BUCKET)
    problems = [f"missing in destination: {key!r}" for key in source.keys() - dest.keys()]
    problems += [f"not in source: {key!r}" for key in dest.keys() - source.keys()]
    problems += [f"differs (size, ETag): {key!r}" for key in source.keys() & dest.keys() if source[key] != dest[key]]

    def check(obj: DemoObject) -> list[str]:
        if obj.key not in dest:
            return []
        head = s3.head_object(Bucket=DEST_BUCKET, Key=obj.key)
        tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=DEST_BUCKET, Key=obj.key)["TagSet"]}
        found = []
        for name in COMPARED_HEADERS:
            expected = obj.headers.get(name)
            actual: Any = head.get(name)
            if name == "Expires" and actual is not None:
                actual = actual.strftime("%Y-%m-%dT%H:%M:%SZ")
            if name == "Metadata":
                actual = actual or None
            if expected != actual:
                found.append(f"{name} of {obj.key!r}: expected {expected!r}, got {actual!r}")
        if tags != obj.tags:
            found.append(f"tags of {obj.key!r}: expected {obj.tags!r}, got {tags!r}")
        return found

    with ThreadPoolExecutor(max_workers=16) as pool:
        for found in pool.map(check, [obj for obj in objects if obj.headers]):
            problems += found
    return problems


def empty_bucket(s3: S3Client, bucket: str, endpoint: str | None) -> None:
    """Create the demo's bucket, or use it if it exists and is empty: the demo never writes into
    (or verifies against) a bucket holding someone's objects."""
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
    # In us-east-1, creating a bucket one already owns succeeds: look inside either way.
    if s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount", 0):
        raise UsageError(f"bucket '{bucket}' at {endpoint} is not empty: the demo needs it empty (or gone)")


def run_demo(argv: list[str]) -> int:
    parser = OneLineParser(
        prog=f"{PROG} demo",
        description="Copy generated objects between two buckets of an embedded moto server with the full pipeline in local mode, then verify the copy key by key. Needs no AWS account.",
    )
    parser.add_argument("--objects", type=int, default=3000, metavar="N", help="objects in the source bucket (default: 3000, awkward keys included)")
    parser.add_argument("--workers", type=worker_count, default=4, metavar="N", help="local worker processes (default: 4)")
    parser.add_argument("--output-dir", default="s3fanout-runs", metavar="DIR", help="where the run writes its failed keys and logs")
    parser.add_argument("--json", action="store_true", help="print the job report and the verification as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")
    parser.add_argument(
        "--endpoint-url",
        type=endpoint_url_argument,
        metavar="URL",
        help="put the demo's buckets on this S3-compatible endpoint (LocalStack, MinIO, ...; never AWS) with the credentials in the environment, "
        "instead of on an embedded moto server; the buckets must be empty or not exist",
    )
    args = parser.parse_args(argv)
    if args.endpoint_url and (urlsplit(args.endpoint_url).hostname or "").endswith((".amazonaws.com", ".amazonaws.com.cn")):
        raise UsageError(f"--endpoint-url {args.endpoint_url} is AWS itself: the demo never touches an AWS account (run a job with --bucket and --dest instead)")

    # The demo must never reach a real account, whatever the shell has configured.
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS") if args.endpoint_url else ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS"):
        os.environ.pop(name, None)
    if not args.endpoint_url or not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")):
        # Another implementation takes the keys it was given (MinIO's own); moto and LocalStack take any.
        os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")
    if args.endpoint_url:
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    else:
        os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    # The demo's message key and job records stay beside its output, not in the user's home.
    os.environ.setdefault("S3FANOUT_HOME", os.path.abspath(os.path.join(args.output_dir, ".s3fanout")))
    with nullcontext(None) if args.endpoint_url else EmbeddedMoto() as moto:
        if moto is not None:
            os.environ["AWS_ENDPOINT_URL"] = moto.url
        else:
            os.environ["AWS_ENDPOINT_URL_S3"] = args.endpoint_url
        clients.reset()
        s3 = clients.s3()
        objects = list(demo_objects(args.objects))
        where = f"moto server at {moto.url}" if moto is not None else f"S3 endpoint {args.endpoint_url}"
        print(f"demo: {where}; uploading {len(objects):,} objects to s3://{SOURCE_BUCKET}", file=sys.stderr)
        for bucket in (SOURCE_BUCKET, DEST_BUCKET):
            empty_bucket(s3, bucket, args.endpoint_url)
        upload(s3, SOURCE_BUCKET, objects)
        options = JobOptions(
            JobSpec(SOURCE_BUCKET, DEST_BUCKET),
            workers=WorkerOptions(workers=args.workers, output_dir=args.output_dir),
            progress=progress_wanted(args.no_progress or args.json),
        )
        # AWS_ENDPOINT_URL points at the demo's server, so local mode creates its queues there too.
        with ExitStack() as stack:
            report = run_local_job(options, stack)
        print(f"demo: verifying {len(objects):,} keys (size, ETag, metadata, content headers, tags)", file=sys.stderr)
        problems = verify(s3, objects)
    if args.json:
        print(json.dumps({"job": report.to_dict(), "verified_keys": len(objects), "problems": problems}, indent=2, ensure_ascii=False))
    else:
        print_report(report, False)
        if problems:
            print(f"verification FAILED: {len(problems)} differences")
            for problem in problems[:50]:
                print(f"  {problem}")
        else:
            decorated = sum(1 for obj in objects if obj.headers)
            print(f"verified: all {len(objects):,} keys identical in size and ETag; metadata, content headers and tags match on {decorated:,} decorated objects")
    clean = not problems and not report.failed_keys and not report.failed_ranges
    return ExitStatus.SUCCESS if clean else ExitStatus.FAILURES
