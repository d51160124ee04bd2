"""python -m seed demo: the whole pipeline on S3 and SQS, verified key by key.

The demo fills a source bucket with generated objects (awkward keys, metadata and tags
included), runs a local-mode job and compares the destination with the source object by object.

Where: on a moto server it starts itself, by default, so that no AWS account is touched. With
--endpoint-url URL, or the standard variables in the environment (AWS_ENDPOINT_URL_S3,
AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL), on that S3/SQS implementation
instead (LocalStack, another moto server, MinIO for S3, ...; never AWS itself). A service that no
endpoint names, and the job record when the endpoint serves no DynamoDB, go on an embedded moto
server. At the end the demo removes from the endpoints it was given exactly what it created there:
its objects, the buckets it created, its job's queues, its job record (and the record table, if
it created it); --keep leaves the buckets and the record for inspection.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from s3fanout import clients
from s3fanout.job import JobSpec
from s3fanout.jobqueues import delete_local_queues, find_local_queues
from s3fanout.jobrecord import LOCAL_TABLE_NAME
from s3fanout.motoserver import EmbeddedMoto
from seed.arguments import endpoint_url_argument, worker_count
from seed.console import PROG, ExitStatus, OneLineParser, UsageError, progress_wanted, say
from seed.job_commands import saved_job_ids
from seed.report import JobReport, print_report
from seed.runner import JobOptions, WorkerOptions, run_local_job

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

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


# ------------------------------------------------------------------------------ where it runs

# The services the demo uses, by the suffix of their standard endpoint variable.
SERVICES = ("S3", "SQS", "DYNAMODB")
SERVICE_NAMES = {"S3": "S3", "SQS": "SQS", "DYNAMODB": "DynamoDB"}
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
# A person is waiting: an endpoint that does not answer must fail in seconds.
PROBE_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3, read_timeout=15)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One service's endpoint: its URL (None: the embedded moto server) and what named it
    (--endpoint-url or the environment variable)."""

    url: str | None
    named_by: str = ""


def endpoint_url(named_by: str, text: str) -> str:
    """A URL from the command line or the environment, checked: http(s)://host[:port][/path], not AWS."""
    try:
        url = endpoint_url_argument(text)
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"{named_by}: {error}") from None
    if (urlsplit(url).hostname or "").endswith(AWS_HOST_SUFFIXES):
        raise UsageError(f"{named_by} {url} is AWS itself: the demo never touches an AWS account (run a job with --bucket and --dest instead)")
    return url


def demo_endpoints(flag: str | None, env: Mapping[str, str]) -> dict[str, Endpoint]:
    """Each service's endpoint, as boto3 would choose it with --endpoint-url on top: for S3 and
    SQS the flag, else AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL; for DynamoDB (the job
    record) AWS_ENDPOINT_URL_DYNAMODB, else the shared endpoint (the flag, else AWS_ENDPOINT_URL)."""
    found = {}
    for service in SERVICES:
        candidates = [(f"AWS_ENDPOINT_URL_{service}", env.get(f"AWS_ENDPOINT_URL_{service}")), ("AWS_ENDPOINT_URL", env.get("AWS_ENDPOINT_URL"))]
        if flag:
            candidates.insert(1 if service == "DYNAMODB" else 0, ("--endpoint-url", flag))
        named_by, text = next(((name, value) for name, value in candidates if value), ("", None))
        found[service] = Endpoint(endpoint_url(named_by, text) if text else None, named_by)
    return found


def unanswered(service: str, url: str) -> str | None:
    """Why ``url`` does not serve ``service`` (its cheapest list call failed), or None when it does."""
    session = boto3.session.Session()
    try:
        if service == "S3":
            session.client("s3", endpoint_url=url, config=PROBE_CONFIG.merge(Config(s3={"addressing_style": "path"}))).list_buckets()
        elif service == "SQS":
            session.client("sqs", endpoint_url=url, config=PROBE_CONFIG).list_queues(MaxResults=1)
        else:
            session.client("dynamodb", endpoint_url=url, config=PROBE_CONFIG).list_tables(Limit=1)
    except ClientError as error:
        detail = error.response.get("Error", {})
        return f"answered {error.operation_name} with {detail.get('Code') or 'an error'}: {detail.get('Message') or error}"
    except BotoCoreError as error:
        return f"cannot be reached: {error}"
    return None


def check_endpoints(endpoints: dict[str, Endpoint]) -> dict[str, Endpoint]:
    """Fail in one line on an S3 or SQS endpoint that does not answer (or an explicit DynamoDB
    one); a shared endpoint that serves no DynamoDB (LocalStack started with SERVICES=s3,sqs,
    MinIO) leaves the job record to the embedded moto server, and says so."""
    checked = dict(endpoints)
    for service, endpoint in endpoints.items():
        why = unanswered(service, endpoint.url) if endpoint.url else None
        if why is None:
            continue
        name = SERVICE_NAMES[service]
        if service == "DYNAMODB" and endpoint.named_by != "AWS_ENDPOINT_URL_DYNAMODB":
            say(f"demo: {endpoint.url} serves no {name} ({why}); the job record goes on an embedded moto server")
            checked[service] = Endpoint(None)
            continue
        raise UsageError(f"{name} endpoint {endpoint.url} ({endpoint.named_by}) {why}")
    return checked


def use_credentials(given: bool) -> None:
    """Dummy credentials and us-east-1, unless the person set their own for an endpoint they named
    (MinIO takes only its own keys; moto and LocalStack take any). On the embedded server always
    the dummy ones: the demo must never reach a real account, whatever the shell has configured."""
    if not given:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
    if not given or not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")):
        os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")
    if given:
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    else:
        os.environ["AWS_DEFAULT_REGION"] = "us-east-1"


def point_clients_at(urls: dict[str, str], fallback: str) -> None:
    """Every client of this process and of the workers: each service at its URL, anything else at
    ``fallback`` (the embedded server, or the S3 endpoint), so nothing goes to AWS."""
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        del os.environ[name]
    for service, url in urls.items():
        os.environ[f"AWS_ENDPOINT_URL_{service}"] = url
    os.environ["AWS_ENDPOINT_URL"] = fallback
    clients.reset()


def describe_where(urls: dict[str, str], moto: EmbeddedMoto | None) -> str:
    if moto is not None and all(url == moto.url for url in urls.values()):
        return f"moto server at {moto.url}"
    parts: dict[str, list[str]] = {}
    for service, url in urls.items():
        label = f"the embedded moto server {url}" if moto is not None and url == moto.url else url
        parts.setdefault(label, []).append("the job record" if service == "DYNAMODB" else SERVICE_NAMES[service])
    return "; ".join(f"{', '.join(names[:-1])} and {names[-1]} at {label}" if len(names) > 1 else f"{names[0]} at {label}" for label, names in parts.items())


# ------------------------------------------------------------------------- what it created


def prepare_bucket(s3: S3Client, bucket: str, url: str) -> bool:
    """Create the demo's bucket, or use it if it exists and is empty: the demo never writes into
    (or verifies against) a bucket holding someone's objects. Whether the demo created it."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
        region = s3.meta.region_name
        location: Any = {"CreateBucketConfiguration": {"LocationConstraint": region}} if region and region != "us-east-1" else {}
        s3.create_bucket(Bucket=bucket, **location)
        return True
    if s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount", 0):
        raise UsageError(f"bucket '{bucket}' at {url} is not empty: the demo needs it empty (or gone); remove its objects or the bucket")
    return False


@dataclass
class Created:
    """What the demo made on the endpoints it was given, for ``clean_up``: nothing on the embedded
    server, which goes with everything on it."""

    s3: str | None = None
    sqs: str | None = None
    dynamodb: str | None = None
    buckets_used: list[str] = field(default_factory=list)
    buckets_created: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    table_created: bool = False
    job_ids: list[str] = field(default_factory=list)


def clean_up(created: Created, keep: bool) -> None:
    """Remove what the demo made on the endpoints it was given, and nothing else: its keys in its
    two buckets, the buckets it created, its job's queues (DLQs included), its job's items in the
    record table, and the table if it created it and nothing else is in it. A step that fails is
    one warning; the others still run."""
    steps: list[tuple[str, Callable[[], None]]] = []
    if created.sqs and created.job_ids:
        steps.append(("its job's queues", lambda: remove_queues(clients.sqs(), created.job_ids)))
    if created.s3 and not keep:
        steps.append(("its objects and buckets", lambda: remove_buckets(clients.s3(), created)))
    if created.dynamodb and created.job_ids and not keep:
        steps.append(("its job record", lambda: remove_records(clients.dynamodb(), created.job_ids, created.table_created)))
    for what, step in steps:
        try:
            step()
        except (ClientError, BotoCoreError) as error:
            say(f"demo: warning: could not remove {what}: {error}")
    if keep and created.s3:
        say(f"demo: --keep: s3://{SOURCE_BUCKET} and s3://{DEST_BUCKET} stay at {created.s3}" + (f", the job record at {created.dynamodb}" if created.dynamodb else ""))
    elif steps and (created.buckets_used or created.job_ids):
        say("demo: removed what it created at " + ", ".join(sorted({url for url in (created.s3, created.sqs, created.dynamodb) if url})))


def remove_buckets(s3: S3Client, created: Created) -> None:
    """The demo's keys in the buckets it used; then the buckets it created, if nothing else is in them."""

    def delete_one(bucket_key: tuple[str, str]) -> None:
        s3.delete_object(Bucket=bucket_key[0], Key=bucket_key[1])

    # DeleteObjects sends keys in an XML body, which cannot hold control characters.
    batchable = [key for key in created.keys if not any(ord(char) < 0x20 for char in key)]
    one_by_one = sorted(set(created.keys) - set(batchable))
    for bucket in created.buckets_used:
        for start in range(0, len(batchable), 1000):
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batchable[start : start + 1000]], "Quiet": True})
            if answer.get("Errors"):
                raise ClientError({"Error": answer["Errors"][0]}, "DeleteObjects")
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(delete_one, [(bucket, key) for key in one_by_one]))
    for bucket in created.buckets_created:
        if s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount", 0):
            say(f"demo: s3://{bucket} holds objects the demo did not write; left in place")
        else:
            s3.delete_bucket(Bucket=bucket)


def remove_queues(sqs: SQSClient, job_ids: list[str]) -> None:
    """The job's local queues that are left (its DLQs, when something failed: the report has it all)."""
    for queues in find_local_queues(sqs):
        if queues.job_id in job_ids:
            delete_local_queues(sqs, queues, keep_dead_letters=False)


def remove_records(dynamodb: DynamoDBClient, job_ids: list[str], table_created: bool) -> None:
    """The jobs' items (``job#ID`` and its ``done#ID#...`` markers) in local mode's record table;
    the table itself when the demo created it and holds nothing else."""
    names = {f"job#{job_id}" for job_id in job_ids}
    markers = tuple(f"done#{job_id}#" for job_id in job_ids)
    try:
        ids = [item["id"]["S"] for page in dynamodb.get_paginator("scan").paginate(TableName=LOCAL_TABLE_NAME, ProjectionExpression="id") for item in page.get("Items", [])]
    except dynamodb.exceptions.ResourceNotFoundException:
        return  # the run stopped before it made the table
    mine = [item_id for item_id in ids if item_id in names or item_id.startswith(markers)]
    if table_created and len(mine) == len(ids):
        dynamodb.delete_table(TableName=LOCAL_TABLE_NAME)
        return
    for start in range(0, len(mine), 25):
        requests: Any = {LOCAL_TABLE_NAME: [{"DeleteRequest": {"Key": {"id": {"S": item_id}}}} for item_id in mine[start : start + 25]]}
        while requests:
            requests = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems")


def table_exists(dynamodb: DynamoDBClient) -> bool:
    try:
        dynamodb.describe_table(TableName=LOCAL_TABLE_NAME)
    except dynamodb.exceptions.ResourceNotFoundException:
        return False
    return True


# ------------------------------------------------------------------------------ the command


def demo_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=f"{PROG} demo",
        description=(
            "Copy generated objects between two buckets with the full pipeline in local mode, then\n"
            "verify the copy key by key. By default on an embedded moto server: no AWS account needed."
        ),
        epilog=(
            "where it runs:\n"
            "  By default on a moto server the demo starts and stops itself. With --endpoint-url URL, or\n"
            "  AWS_ENDPOINT_URL in the environment (AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_SQS win over\n"
            "  it), the buckets and the job's queues are on that S3/SQS implementation instead: LocalStack,\n"
            "  a moto server, MinIO for S3 alone. Never on AWS: the demo refuses its endpoints. A service\n"
            "  that no endpoint names stays on the embedded moto server; so does the job record, unless\n"
            "  AWS_ENDPOINT_URL_DYNAMODB names an endpoint or the shared one serves DynamoDB.\n"
            "  Its buckets, demo-source and demo-destination, must be empty or not exist. Credentials:\n"
            "  those of the environment if set (MinIO takes only its own), else dummy ones; region:\n"
            "  AWS_DEFAULT_REGION, else us-east-1.\n"
            "  At the end it removes what it created there, and nothing else: its objects, the buckets it\n"
            "  created, its job's queues, its job record (and the record table, if it created it). --keep\n"
            "  leaves the buckets and the record for inspection.\n\n"
            "exit status: 0 copied and verified, 1 failures or differences, 2 bad input or an endpoint\n"
            "that does not answer, 130 interrupted"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        help="run on the S3 and SQS of this endpoint (http(s)://host[:port]; LocalStack, a moto server, ...; never AWS) "
        "instead of an embedded moto server (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL if set)",
    )
    parser.add_argument("--keep", action="store_true", help="leave the demo's buckets, with their objects, and its job record on the endpoint for inspection")
    return parser


def run_demo(argv: list[str]) -> int:
    args = demo_parser().parse_args(argv)
    endpoints = demo_endpoints(args.endpoint_url, os.environ)
    given = any(endpoint.url for endpoint in endpoints.values())
    use_credentials(given)
    endpoints = check_endpoints(endpoints)
    # The demo's message key and job records stay beside its output, not in the user's home.
    os.environ.setdefault("S3FANOUT_HOME", os.path.abspath(os.path.join(args.output_dir, ".s3fanout")))
    created = Created(endpoints["S3"].url, endpoints["SQS"].url, endpoints["DYNAMODB"].url)
    objects = list(demo_objects(args.objects))
    report: JobReport | None = None
    with ExitStack() as servers:
        moto = servers.enter_context(EmbeddedMoto()) if not all(endpoint.url for endpoint in endpoints.values()) else None
        urls = {service: endpoint.url or (moto.url if moto else "") for service, endpoint in endpoints.items()}
        point_clients_at(urls, moto.url if moto else urls["S3"])
        s3 = clients.s3()
        saved_before = set(saved_job_ids())
        try:
            if created.dynamodb:
                created.table_created = not table_exists(clients.dynamodb())
            for bucket in (SOURCE_BUCKET, DEST_BUCKET):
                if prepare_bucket(s3, bucket, urls["S3"]):
                    created.buckets_created.append(bucket)
                created.buckets_used.append(bucket)
            created.keys = [obj.key for obj in objects]
            say(f"demo: {describe_where(urls, moto)}; uploading {len(objects):,} objects to s3://{SOURCE_BUCKET}")
            upload(s3, SOURCE_BUCKET, objects)
            options = JobOptions(
                JobSpec(SOURCE_BUCKET, DEST_BUCKET),
                workers=WorkerOptions(workers=args.workers, output_dir=args.output_dir),
                progress=progress_wanted(args.no_progress or args.json),
            )
            # The variables point at the demo's SQS and DynamoDB, so local mode creates its queues
            # and record there (and starts no server of its own).
            with ExitStack() as stack:
                report = run_local_job(options, stack)
            say(f"demo: verifying {len(objects):,} keys (size, ETag, metadata, content headers, tags)")
            problems = verify(s3, objects)
        finally:
            # The job's ids: from its report, or (stopped early) the record it saved on this machine.
            created.job_ids = [report.job_id] if report is not None else sorted(set(saved_job_ids()) - saved_before)
            clean_up(created, args.keep)
    assert report is not None  # the block above raised otherwise
    if args.json:
        where = {service.lower(): url for service, url in urls.items()}
        print(json.dumps({"job": report.to_dict(), "verified_keys": len(objects), "problems": problems, "endpoints": where}, indent=2, ensure_ascii=False))
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
