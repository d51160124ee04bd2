"""python -m seed --dry-run: list and compare like the listers would, change nothing, and report
the plan, its cost and what the deployed copier will need. Each side is listed through its own
access (role, endpoint, profile); when the sides are different stores, the plan says the copies
would be streamed through this machine and prices what AWS would bill for that."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from s3fanout import clients
from s3fanout.clients import OWN_ACCESS, Access
from s3fanout.copying.stream import StreamSettings
from s3fanout.estimate import JobPlan, Prices, encryption_needs, estimate_cost, estimate_stream_cost, is_aws_endpoint, plan_job, plan_manifest
from s3fanout.job import JobSpec, describe_tasks, with_manifest_parts
from s3fanout.preflight import check_buckets
from seed.console import ExitStatus, UsageError
from seed.progress import human_bytes
from seed.report import flow


@dataclass(frozen=True)
class Streaming:
    """The two sides of a plan whose copies would be streamed: each one's endpoint and profile,
    and whether it is AWS S3 (whose requests and data transfer out the estimate prices) or another
    provider (which bills its own)."""

    source_endpoint: str
    dest_endpoint: str
    source_profile: str | None
    dest_profile: str | None
    source_on_aws: bool
    dest_on_aws: bool
    settings: StreamSettings

    @property
    def source(self) -> str:
        return self.source_endpoint + (f" as profile {self.source_profile}" if self.source_profile else "")

    @property
    def destination(self) -> str:
        return self.dest_endpoint + (f" as profile {self.dest_profile}" if self.dest_profile else "")

    def notes(self, plan: JobPlan, prices: Prices) -> list[str]:
        """Who bills what the estimate prices at the internet rate or leaves out."""
        out = human_bytes(plan.bytes_to_copy)
        if self.source_on_aws:
            transfer = (
                f"data transfer out of the source provider is billed by that provider: here AWS, {out} out of S3 to this machine "
                f"at its data-transfer-out-to-internet rate (${prices.transfer_out_per_gb}/GB, in the lines above), unless this machine runs in the source bucket's region"
            )
        else:
            transfer = f"data transfer out of the source provider is billed by that provider: {out} would leave {self.source_endpoint}, at its rates; not in this estimate"
        notes = [transfer]
        sides = (("source", self.source_endpoint, self.source_on_aws), ("destination", self.dest_endpoint, self.dest_on_aws))
        elsewhere = [f"the {side} ({endpoint})" for side, endpoint, aws in sides if not aws]
        if elsewhere:
            notes.append(f"requests to {' and '.join(elsewhere)} are billed by {'that provider' if len(elsewhere) == 1 else 'their providers'}; not in this estimate")
        notes.append("local mode's queues and job record are not in this estimate")
        return notes

    def to_dict(self, plan: JobPlan, prices: Prices) -> dict[str, Any]:
        return {
            "source_endpoint": self.source_endpoint,
            "source_profile": self.source_profile,
            "source_on_aws": self.source_on_aws,
            "dest_endpoint": self.dest_endpoint,
            "dest_profile": self.dest_profile,
            "dest_on_aws": self.dest_on_aws,
            "threshold_bytes": self.settings.threshold_bytes,
            "multipart_uploads": plan.multipart_uploads,
            "upload_parts": plan.upload_parts,
            "notes": self.notes(plan, prices),
        }


def dry_run(spec: JobSpec, args: argparse.Namespace, source_access: Access = OWN_ACCESS, dest_access: Access = OWN_ACCESS) -> int:
    """List and compare like the listers would, change nothing, report the plan and its cost."""
    if spec.all_versions or spec.as_of is not None:
        from seed.version_dry_run import dry_run_versions

        return dry_run_versions(spec, args, source_access, dest_access)
    try:
        prices = Prices.from_file(args.prices) if args.prices else Prices()
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(f"cannot use the prices in {args.prices}: {error}") from None
    streamed = not source_access.same_store(dest_access)
    try:
        settings = StreamSettings.from_env() if streamed else None
    except ValueError as error:
        raise UsageError(str(error)) from None
    # One plan per destination (each lists the source again: a dry run changes nothing).
    plans = [plan_destination(spec.for_destination(index), args, prices, settings, source_access, dest_access) for index in range(len(spec.destinations))]
    if args.json:
        bodies = [body for body, _ in plans]
        print(json.dumps(bodies[0] if len(bodies) == 1 else {"dry_run": True, "destinations": bodies}, indent=2, ensure_ascii=False))
    else:
        print("\n".join(text for _, text in plans))
    return ExitStatus.SUCCESS


def plan_destination(spec: JobSpec, args: argparse.Namespace, prices: Prices, settings: StreamSettings | None, source_access: Access, dest_access: Access) -> tuple[dict[str, Any], str]:
    """The plan of a job's one destination: as ``--json`` prints it, and as text."""
    source_region, dest_region = check_buckets(clients.probe_s3(source_access), spec, clients.probe_s3(dest_access))
    s3, dest_s3 = clients.s3_for(source_access, source_region), clients.s3_for(dest_access, dest_region)
    started = time.monotonic()
    if spec.manifest is not None:
        spec = with_manifest_parts(spec, clients.s3())
        plan = plan_manifest(spec, s3, dest_s3, clients.s3(), stream=settings)
    else:
        plan = plan_job(s3, spec.source_bucket, spec.dest_bucket, spec.prefix, spec.ranges, compare=spec.compare, dest_s3=dest_s3, stream=settings, dest_prefix=spec.dest_prefix)
    cross_region = source_region != dest_region
    streaming = None
    if settings is not None:
        source_endpoint, dest_endpoint = s3.meta.endpoint_url, dest_s3.meta.endpoint_url
        streaming = Streaming(
            source_endpoint,
            dest_endpoint,
            source_access.profile,
            dest_access.profile,
            is_aws_endpoint(source_endpoint),
            is_aws_endpoint(dest_endpoint),
            settings,
        )
        cost = estimate_stream_cost(plan, prices, delete=args.delete, source_on_aws=streaming.source_on_aws, dest_on_aws=streaming.dest_on_aws)
    else:
        cost = estimate_cost(plan, prices, delete=args.delete, cross_region=cross_region)
    encryption = encryption_needs(s3, spec.source_bucket, spec.dest_bucket, plan.copy_sample, dest_s3=dest_s3)
    regions = {"source": source_region, "destination": dest_region, "cross_region": cross_region}
    seconds = round(time.monotonic() - started, 2)
    body = {
        "dry_run": True,
        "source": f"s3://{spec.source_bucket}/{spec.prefix}",
        "destination": spec.dest_uri(),
        "plan": asdict(plan),
        "delete": args.delete,
        "seconds": seconds,
        "regions": regions,
        "cost": cost.to_dict(),
        "encryption": asdict(encryption),
        "streamed": streaming is not None,
        "objects_streamed": plan.to_copy if streaming else 0,
        "bytes_streamed": plan.bytes_to_copy if streaming else 0,
        "stream": streaming.to_dict(plan, prices) if streaming else None,
    }
    source, destination = f"s3://{spec.source_bucket}/{spec.prefix}", spec.dest_uri()
    lines = [
        f"dry run: {source} -> {destination}, {describe_tasks(spec, plan.ranges)}, nothing was changed",
        f"  regions      {flow(source_region, dest_region) if streaming is None else streamed_flow(source_region, dest_region)}",
        f"  would copy   {plan.to_copy:,} objects ({human_bytes(plan.bytes_to_copy)})" + sample(plan.copy_sample, plan.to_copy),
        f"  would skip   {plan.to_skip:,} objects already identical ({human_bytes(plan.bytes_to_skip)})",
    ]
    if spec.manifest is None:
        lines.append(
            (f"  would delete {plan.orphans:,} orphans ({human_bytes(plan.bytes_orphaned)})" if args.delete else f"  would keep   {plan.orphans:,} orphans (not in the source; --delete removes them)")
            + sample(plan.orphan_sample, plan.orphans)
        )
    else:
        lines += manifest_lines(plan, spec.compare)
    where = f"{prices.region} prices{', from ' + str(args.prices) if args.prices else '; --prices FILE to change them'}"
    if streaming is None:
        lines.append(f"estimated cost of running it on the deployed stack ({where}):")
    else:
        parts = f", {plan.multipart_uploads:,} of them in {plan.upload_parts:,} parts" if plan.multipart_uploads else ""
        lines.append(
            f"  would stream {plan.to_copy:,} objects ({human_bytes(plan.bytes_to_copy)}) through this machine{parts}: "
            f"the source ({streaming.source}) and the destination ({streaming.destination}) are different stores"
        )
        lines.append(f"estimated cost at AWS of running it in local mode, every copy streamed ({where}):")
    lines += [f"  {line.item:<32} {line.quantity:>12,} {line.unit:<12} ${line.usd:,.4f}" for line in cost.lines]
    lines.append(f"  {'total':<32} {'':>12} {'':<12} ${cost.total:,.4f}")
    if streaming is not None:
        lines += [f"  ({note})" for note in streaming.notes(plan, prices)]
    elif not cross_region:
        lines.append("  (both buckets are in one region: no data transfer charge; idle SQS polling by the event sources is not included)")
    lines += [f"encryption: {line}" for line in encryption.advice()]
    return body, "\n".join(lines)


def streamed_flow(source_region: str | None, dest_region: str | None) -> str:
    source, dest = source_region or "not said by the store", dest_region or "not said by the store"
    return f"{source} -> {dest}: every byte copied is streamed through this machine"


def manifest_lines(plan: JobPlan, compared: bool) -> list[str]:
    """What a manifest's plan adds: its rows, the keys it names that the source lacks, and how the
    destination was compared (listing its key span, or HeadObject where that costs less)."""
    lines = [f"  manifest     {plan.manifest_rows:,} rows in {plan.ranges:,} parts (one list task each)"]
    if plan.missing:
        lines.append(f"  would fail   {plan.missing:,} keys the manifest names but the source lacks (NoSuchKey, in the copy DLQ)")
    how = (
        "the destination listed over the manifest's key spans, or asked key by key where a span would take more pages than its keys cost as HEADs (1 LIST = 12.5 HEADs)"
        if compared
        else "no comparison (--force)"
    )
    lines.append(f"  requests     {plan.dest_pages:,} LIST, {plan.head_requests:,} HeadObject (a CSV manifest's keys; {how})")
    return lines


def sample(keys: list[str], total: int) -> str:
    if not keys:
        return ""
    shown = ", ".join(repr(key if len(key) <= 60 else key[:57] + "...") for key in keys[:3])
    return f", e.g. {shown}" + (" ..." if total > 3 else "")
