"""The plan of a job (what would be copied, skipped, deleted) and what running it would cost.

The plan comes from the same listings and the same merge-join the listers use, run here over the
seeded ranges in a thread pool, and changes nothing. The cost is an estimate from that plan and
from stated, editable prices and timings (``Prices``): for a run of the deployed stack, or, when
the two sides are different stores and every copy would be streamed through this machine, for
what AWS bills of a local run (``estimate_stream_cost``).
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from s3fanout.compare import Action, DecisionGroup, compare, copy_everything, merge_join
from s3fanout.copying.stream import StreamSettings
from s3fanout.counts import Counts
from s3fanout.job import JobSpec, list_tasks
from s3fanout.keyspace import KeyRange, seed_ranges
from s3fanout.manifest import read_part
from s3fanout.manifest_listing import CHUNK_ROWS, chunks, decide, source_objects
from s3fanout.messages import COPY_BATCH_MAX_KEYS, ListTask
from s3fanout.s3errors import describe_error
from s3fanout.s3ops import list_pages, list_pages_as

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SAMPLE_SIZE = 10
PLANNING_THREADS = 16


@dataclass
class JobPlan:
    ranges: int = 0
    source_pages: int = 0
    dest_pages: int = 0
    to_copy: int = 0
    bytes_to_copy: int = 0
    to_skip: int = 0
    bytes_to_skip: int = 0
    orphans: int = 0
    bytes_orphaned: int = 0
    copy_sample: list[str] = field(default_factory=list)
    orphan_sample: list[str] = field(default_factory=list)
    # Planned for streamed copies only: objects to copy that would be uploaded in parts, and
    # their parts (the others are one PutObject each).
    multipart_uploads: int = 0
    upload_parts: int = 0
    # A manifest's plan (--manifest): its rows, the GETs that read its parts, the HeadObject
    # requests of keys it names (a CSV's sources, destination keys not worth listing), and the
    # keys it names that the source lacks (NoSuchKey).
    manifest_rows: int = 0
    manifest_reads: int = 0
    head_requests: int = 0
    missing: int = 0

    def add(self, other: JobPlan) -> None:
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.copy_sample = sorted(self.copy_sample + other.copy_sample)[:SAMPLE_SIZE]
        self.orphan_sample = sorted(self.orphan_sample + other.orphan_sample)[:SAMPLE_SIZE]


_SUMMED = (
    "ranges",
    "source_pages",
    "dest_pages",
    "to_copy",
    "bytes_to_copy",
    "to_skip",
    "bytes_to_skip",
    "orphans",
    "bytes_orphaned",
    "multipart_uploads",
    "upload_parts",
    "manifest_rows",
    "manifest_reads",
    "head_requests",
    "missing",
)


def upload_parts(size: int, stream: StreamSettings) -> int:
    """The parts a streamed object of ``size`` bytes is uploaded in; 0 for one PutObject.
    s3transfer uploads in parts from ``threshold_bytes`` on (at the threshold too)."""
    return 0 if size < stream.threshold_bytes else -(-size // stream.chunk_for(size))


class _CountingS3:
    """The client, counting ListObjectsV2 requests per bucket (one instance per thread)."""

    def __init__(self, s3: S3Client) -> None:
        self._s3 = s3
        self.lists: dict[str, int] = {}

    def list_objects_v2(self, **request: Any) -> Any:
        self.lists[request["Bucket"]] = self.lists.get(request["Bucket"], 0) + 1
        return self._s3.list_objects_v2(**request)


def plan_range(
    s3: S3Client,
    source_bucket: str,
    dest_bucket: str,
    prefix: str,
    key_range: KeyRange,
    compare: bool,
    dest_s3: S3Client | None = None,
    stream: StreamSettings | None = None,
    dest_prefix: str | None = None,
) -> JobPlan:
    """One range's plan; ``s3`` lists the source, ``dest_s3`` (each of its bucket's region) the
    destination, under ``dest_prefix`` where given. With ``stream`` (the copies would be
    streamed), the uploads in parts are counted."""
    plan = JobPlan(ranges=1)
    counting, dest_counting = _CountingS3(s3), _CountingS3(dest_s3 or s3)
    # Only list_objects_v2 is called on them: they stand in for the clients.
    source = list_pages(cast("S3Client", counting), source_bucket, prefix, key_range)
    dest = list_pages_as(cast("S3Client", dest_counting), dest_bucket, prefix, dest_prefix, key_range)
    groups: Any = merge_join(source, dest) if compare else copy_everything(source)
    group: DecisionGroup
    for group in groups:
        for decision in group.decisions:
            if decision.action is Action.COPY and decision.source:
                plan.to_copy += 1
                plan.bytes_to_copy += decision.source.size
                parts = upload_parts(decision.source.size, stream) if stream else 0
                plan.multipart_uploads += 1 if parts else 0
                plan.upload_parts += parts
                if len(plan.copy_sample) < SAMPLE_SIZE:
                    plan.copy_sample.append(decision.key)
            elif decision.action is Action.SKIP and decision.source:
                plan.to_skip += 1
                plan.bytes_to_skip += decision.source.size
            elif decision.action is Action.ORPHAN and decision.dest:
                plan.orphans += 1
                plan.bytes_orphaned += decision.dest.size
                if len(plan.orphan_sample) < SAMPLE_SIZE:
                    plan.orphan_sample.append(decision.key if dest_prefix is None else dest_prefix + decision.key[len(prefix) :])
    plan.source_pages = counting.lists.get(source_bucket, 0)
    plan.dest_pages = dest_counting.lists.get(dest_bucket, 0)
    return plan


def plan_manifest_part(task: ListTask, s3: S3Client, dest_s3: S3Client, manifest_s3: S3Client, stream: StreamSettings | None = None) -> JobPlan:
    """One manifest part's plan, decided as a lister reading it would (manifest_listing)."""
    assert task.manifest is not None
    plan, counts = JobPlan(ranges=1, manifest_reads=1), Counts()
    for chunk in chunks(read_part(task.manifest, manifest_s3), CHUNK_ROWS):
        plan.manifest_rows += len(chunk)
        objects, missing = source_objects(chunk, task, s3, counts)
        plan.missing += len(missing)
        for source, dest in decide(objects, task, dest_s3, counts):
            if dest is not None and compare(source, dest).action is Action.SKIP:
                plan.to_skip += 1
                plan.bytes_to_skip += source.size
                continue
            plan.to_copy += 1
            plan.bytes_to_copy += source.size
            parts = upload_parts(source.size, stream) if stream else 0
            plan.multipart_uploads += 1 if parts else 0
            plan.upload_parts += parts
            if len(plan.copy_sample) < SAMPLE_SIZE:
                plan.copy_sample.append(source.key)
    plan.dest_pages, plan.head_requests = counts.list_requests, counts.head_requests
    return plan


def plan_manifest(spec: JobSpec, s3: S3Client, dest_s3: S3Client, manifest_s3: S3Client, stream: StreamSettings | None = None) -> JobPlan:
    """Read every part of the job's manifest (in parallel) and decide its keys, changing nothing."""
    total = JobPlan()
    tasks = list_tasks("dry-run", spec)
    with ThreadPoolExecutor(max_workers=PLANNING_THREADS) as pool:
        for plan in pool.map(lambda task: plan_manifest_part(task, s3, dest_s3, manifest_s3, stream), tasks):
            total.add(plan)
    return total


def plan_job(
    s3: S3Client,
    source_bucket: str,
    dest_bucket: str,
    prefix: str,
    ranges: int,
    compare: bool = True,
    dest_s3: S3Client | None = None,
    stream: StreamSettings | None = None,
    dest_prefix: str | None = None,
) -> JobPlan:
    """List and compare every seeded range (in parallel), changing nothing; ``stream``: the
    settings the copies would be streamed with, when they would be; ``dest_prefix``: where the
    destination's keys are written (--dest-prefix)."""
    total = JobPlan()
    with ThreadPoolExecutor(max_workers=PLANNING_THREADS) as pool:
        for plan in pool.map(lambda r: plan_range(s3, source_bucket, dest_bucket, prefix, r, compare, dest_s3, stream, dest_prefix), seed_ranges(prefix, ranges)):
            total.add(plan)
    return total


@dataclass(frozen=True)
class Prices:
    """Prices and timings the estimate assumes: AWS's us-east-1 list prices (USD) as published in
    2026 and typical latencies. Override any of them with a JSON file (``--prices``)."""

    region: str = "us-east-1"
    s3_list_per_1000: float = 0.005  # ListObjectsV2 is billed as a PUT/COPY/POST/LIST request
    s3_copy_per_1000: float = 0.005  # CopyObject, billed to the destination as a COPY request
    s3_delete_per_1000: float = 0.0  # DeleteObjects is free
    s3_put_per_1000: float = 0.005  # PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload
    s3_get_per_1000: float = 0.0004  # GetObject, GetObjectTagging
    sqs_per_million: float = 0.40  # standard queue; every 64 KiB of a request counts as one
    lambda_per_million: float = 0.20
    lambda_gb_second: float = 0.0000133334  # arm64
    transfer_per_gb_between_regions: float = 0.02
    transfer_out_per_gb: float = 0.09  # S3 to the internet (first 10 TB a month), for streamed copies
    list_page_seconds: float = 0.08
    copy_seconds_per_object: float = 0.05
    copy_bytes_per_second: float = 100e6  # server-side copy rate of one object
    lister_memory_gb: float = 0.5
    copier_memory_gb: float = 1.0
    copy_concurrency: int = 16
    copy_messages_per_invocation: int = 10
    dynamodb_write_per_million: float = 0.625  # on-demand write request units
    dynamodb_read_per_million: float = 0.125  # on-demand read request units

    @classmethod
    def from_file(cls, path: Path) -> Prices:
        """The defaults with the file's overrides; ValueError naming the first bad entry."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("the file must hold a JSON object of price names and values")
        known = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown price names: {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
        for name, value in data.items():
            if name == "region":
                if not isinstance(value, str) or not value:
                    raise ValueError("region must be a non-empty string")
                continue
            whole = known[name].type in (int, "int")
            if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a {'whole number' if whole else 'number'}, got {value!r}")
            if value < 0 or (value == 0 and name in _DIVISORS):
                raise ValueError(f"{name} must be {'greater than 0' if name in _DIVISORS else 'at least 0'}, got {value!r}")
        return replace(cls(), **data)


# Timings and sizes the estimate divides by: zero is meaningless for them.
_DIVISORS = frozenset({"copy_bytes_per_second", "copy_concurrency", "copy_messages_per_invocation", "list_page_seconds", "copy_seconds_per_object", "lister_memory_gb", "copier_memory_gb"})


@dataclass(frozen=True)
class CostLine:
    item: str
    quantity: int
    unit: str
    usd: float


@dataclass(frozen=True)
class CostEstimate:
    lines: list[CostLine]
    prices: Prices

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {"lines": [asdict(line) for line in self.lines], "total_usd": round(self.total, 6), "prices": asdict(self.prices)}


def estimate_cost(plan: JobPlan, prices: Prices, *, delete: bool, cross_region: bool) -> CostEstimate:
    """What a deployed run of this plan would cost, line by line."""
    batches = math.ceil(plan.to_copy / COPY_BATCH_MAX_KEYS)
    list_requests = plan.source_pages + plan.dest_pages
    # The orphan pass lists both sides again and deletes in requests of 1,000 keys.
    if delete:
        list_requests += plan.source_pages + max(plan.dest_pages, plan.ranges)
    delete_requests = math.ceil(plan.orphans / 1000) if delete else 0
    # Each copy batch (about 10 KiB) is sent, received and deleted in tens; each ListTask too.
    list_tasks = plan.ranges * (2 if delete else 1)
    sqs_requests = 3 * math.ceil(batches / 10) * 2 + 3 * list_tasks
    copy_invocations = math.ceil(batches / prices.copy_messages_per_invocation)
    copy_seconds = (plan.to_copy * prices.copy_seconds_per_object + plan.bytes_to_copy / prices.copy_bytes_per_second) / prices.copy_concurrency
    list_seconds = list_requests * prices.list_page_seconds + list_tasks * 0.05
    gb_seconds = copy_seconds * prices.copier_memory_gb + list_seconds * prices.lister_memory_gb
    invocations = list_tasks + copy_invocations
    lines = [
        CostLine("S3 LIST requests", list_requests, "requests", list_requests / 1000 * prices.s3_list_per_1000),
        *manifest_lines(plan, prices),
        CostLine("S3 COPY requests", plan.to_copy, "requests", plan.to_copy / 1000 * prices.s3_copy_per_1000),
        CostLine("S3 DELETE requests", delete_requests, "requests", delete_requests / 1000 * prices.s3_delete_per_1000),
        CostLine("SQS requests", sqs_requests, "requests", sqs_requests / 1e6 * prices.sqs_per_million),
        CostLine("Lambda invocations", invocations, "invocations", invocations / 1e6 * prices.lambda_per_million),
        CostLine("Lambda compute", math.ceil(gb_seconds), "GB-seconds", gb_seconds * prices.lambda_gb_second),
    ]
    if cross_region:
        gigabytes = plan.bytes_to_copy / 1e9
        lines.append(CostLine("data transfer between regions", math.ceil(gigabytes), "GB", gigabytes * prices.transfer_per_gb_between_regions))
    return CostEstimate(lines, prices)


def manifest_lines(plan: JobPlan, prices: Prices) -> list[CostLine]:
    """A manifest's own requests: the GETs that read its parts, and the HEADs of keys it names."""
    if not plan.manifest_reads:
        return []
    return [
        CostLine("S3 GET requests (manifest)", plan.manifest_reads, "requests", plan.manifest_reads / 1000 * prices.s3_get_per_1000),
        CostLine("S3 HEAD requests", plan.head_requests, "requests", plan.head_requests / 1000 * prices.s3_get_per_1000),
    ]


def estimate_stream_cost(plan: JobPlan, prices: Prices, *, delete: bool, source_on_aws: bool, dest_on_aws: bool) -> CostEstimate:
    """What AWS would bill for a local run that streams this plan through this machine (the only
    way it can run: server-side copies do not join two stores): the requests on whichever side is
    AWS S3, and, for a source on AWS S3, the data transfer out to this machine. Another provider's
    bill (its requests, its data transfer out) is not in it, nor local mode's own queues."""
    lines = []
    if source_on_aws:
        # The orphan pass lists the source again; each copy is a GetObjectTagging and a GetObject.
        lists = plan.source_pages * (2 if delete else 1)
        gets = 2 * plan.to_copy
        gigabytes = plan.bytes_to_copy / 1e9
        lines += [
            CostLine("S3 LIST requests (source)", lists, "requests", lists / 1000 * prices.s3_list_per_1000),
            CostLine("S3 GET requests (source)", gets, "requests", gets / 1000 * prices.s3_get_per_1000),
            CostLine("S3 data transfer out (source)", math.ceil(gigabytes), "GB", gigabytes * prices.transfer_out_per_gb),
        ]
    if dest_on_aws:
        lists = plan.dest_pages + (max(plan.dest_pages, plan.ranges) if delete else 0)
        # One PutObject per object below the threshold; above, Create, the parts and Complete.
        puts = plan.to_copy - plan.multipart_uploads + plan.upload_parts + 2 * plan.multipart_uploads
        deletes = math.ceil(plan.orphans / 1000) if delete else 0
        lines += [
            CostLine("S3 LIST requests (destination)", lists, "requests", lists / 1000 * prices.s3_list_per_1000),
            CostLine("S3 PUT requests (destination)", puts, "requests", puts / 1000 * prices.s3_put_per_1000),
            CostLine("S3 DELETE requests (destination)", deletes, "requests", deletes / 1000 * prices.s3_delete_per_1000),
        ]
    return CostEstimate(lines, prices)


def is_aws_endpoint(url: str | None) -> bool:
    """Whether an S3 client's endpoint is AWS S3's own (amazonaws.com), not another provider's
    or a local server's."""
    host = (urlsplit(url).hostname or "") if url else ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def incurred_cost(counts: Counts, ranges: int, prices: Prices) -> CostEstimate:
    """What a finished job cost, at list prices, from what its record counted it doing. Requests
    S3 bills are counted; SQS, Lambda and DynamoDB are derived from the messages the job sent."""
    list_tasks = ranges + counts.ranges_handed_on + counts.ranges_split_off
    copy_messages = counts.copy_batches_sent + counts.part_tasks_queued + math.ceil(counts.keys_retried / COPY_BATCH_MAX_KEYS)
    messages = list_tasks + copy_messages
    # Sent in tens, received in tens, deleted in tens; each seal-sized message is one request unit.
    sqs_requests = 3 * math.ceil(copy_messages / 10) + 3 * list_tasks
    copy_invocations = math.ceil(copy_messages / prices.copy_messages_per_invocation)
    copy_seconds = (counts.objects_copied * prices.copy_seconds_per_object + counts.bytes_copied / prices.copy_bytes_per_second) / prices.copy_concurrency
    list_seconds = counts.list_requests * prices.list_page_seconds + list_tasks * 0.05
    gb_seconds = copy_seconds * prices.copier_memory_gb + list_seconds * prices.lister_memory_gb
    # The job record, per message: a transaction of two items (4 write units), and an update per
    # SendMessageBatch of up to ten; a 2-item consistent read before the work and one after (3).
    writes, reads = messages * 4 + math.ceil(messages / 10), messages * 3
    deletes = math.ceil(counts.objects_deleted / 1000)
    lines = [
        CostLine("S3 LIST requests", counts.list_requests, "requests", counts.list_requests / 1000 * prices.s3_list_per_1000),
        CostLine("S3 HEAD requests", counts.head_requests, "requests", counts.head_requests / 1000 * prices.s3_get_per_1000),
        CostLine("S3 COPY requests", counts.objects_copied, "requests", counts.objects_copied / 1000 * prices.s3_copy_per_1000),
        CostLine("S3 DELETE requests", deletes, "requests", deletes / 1000 * prices.s3_delete_per_1000),
        CostLine("SQS requests", sqs_requests, "requests", sqs_requests / 1e6 * prices.sqs_per_million),
        CostLine("Lambda invocations", list_tasks + copy_invocations, "invocations", (list_tasks + copy_invocations) / 1e6 * prices.lambda_per_million),
        CostLine("Lambda compute", math.ceil(gb_seconds), "GB-seconds", gb_seconds * prices.lambda_gb_second),
        CostLine("DynamoDB writes", writes, "write units", writes / 1e6 * prices.dynamodb_write_per_million),
        CostLine("DynamoDB reads", reads, "read units", reads / 1e6 * prices.dynamodb_read_per_million),
    ]
    return CostEstimate(lines, prices)


@dataclass(frozen=True)
class EncryptionNeeds:
    """What the copier's role needs for the buckets' encryption, as far as the dry run could see:
    the KMS keys of a sample of the source objects to copy, the destination bucket's default KMS
    key, sampled objects encrypted with a customer-provided key (SSE-C, which cannot be copied),
    and what could not be read."""

    source_kms_keys: list[str] = field(default_factory=list)
    dest_kms_key: str | None = None
    sse_c_sample: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def advice(self) -> list[str]:
        lines = []
        if self.source_kms_keys:
            keys = ", ".join(self.source_kms_keys)
            lines.append(
                f"source objects are encrypted with KMS key(s) {keys}: unless that is the AWS managed key aws/s3, deploy with "
                "SourceKmsKeyArn=<key ARN> and let the copier's role use the key in its key policy (kms:Decrypt)"
            )
        if self.dest_kms_key:
            lines.append(
                f"the destination encrypts new objects with KMS key {self.dest_kms_key}: unless that is aws/s3, deploy with "
                "DestinationKmsKeyArn=<key ARN> and let the copier's role use it (kms:GenerateDataKey, kms:Decrypt)"
            )
        if self.sse_c_sample:
            lines.append(f"objects encrypted with a customer-provided key (SSE-C) cannot be copied server-side and will fail, e.g. {self.sse_c_sample[0]!r}")
        lines += [f"could not check {what}" for what in self.unknown]
        return lines


# Source objects whose encryption the dry run reads (one HeadObject each).
ENCRYPTION_SAMPLE = 3


def encryption_needs(s3: S3Client, source_bucket: str, dest_bucket: str, sample_keys: list[str], dest_s3: S3Client | None = None) -> EncryptionNeeds:
    """Read the destination's default encryption (with ``dest_s3`` when given) and the encryption
    of a few source objects to copy: the pre-flight probes run with the operator's credentials and
    cannot see what the copier's role will lack, so the plan says it before the copies fail
    AccessDenied."""
    dest_key, unknown, sse_c, source_keys = None, [], [], set()
    try:
        rules = (dest_s3 or s3).get_bucket_encryption(Bucket=dest_bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
        if str(default.get("SSEAlgorithm", "")).startswith("aws:kms"):
            dest_key = str(default.get("KMSMasterKeyID") or AWS_MANAGED_KEY)
    except (ClientError, BotoCoreError) as error:
        failure = describe_error(error)
        if failure.code != "ServerSideEncryptionConfigurationNotFoundError":
            unknown.append(f"the destination's default encryption ({failure})")
    for key in sample_keys[:ENCRYPTION_SAMPLE]:
        try:
            head = s3.head_object(Bucket=source_bucket, Key=key)
        except (ClientError, BotoCoreError) as error:
            failure = describe_error(error)
            if failure.code == "400":
                sse_c.append(key)
            else:
                unknown.append(f"the encryption of source object {key!r} ({failure})")
            continue
        if str(head.get("ServerSideEncryption", "")).startswith("aws:kms"):
            source_keys.add(str(head.get("SSEKMSKeyId") or AWS_MANAGED_KEY))
    return EncryptionNeeds(sorted(source_keys), dest_key, sse_c, unknown)


AWS_MANAGED_KEY = "aws/s3 (the AWS managed key)"
