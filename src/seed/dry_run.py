"""python -m seed --dry-run: list and compare like the listers would, change nothing, and report
the plan, its cost and what the deployed copier will need."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from s3fanout import clients
from s3fanout.estimate import Prices, encryption_needs, estimate_cost, plan_job
from s3fanout.job import JobSpec
from s3fanout.preflight import check_buckets
from seed.console import ExitStatus, UsageError
from seed.progress import human_bytes
from seed.report import flow


def dry_run(spec: JobSpec, args: argparse.Namespace) -> int:
    """List and compare like the listers would, change nothing, report the plan and its cost."""
    try:
        prices = Prices.from_file(args.prices) if args.prices else Prices()
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(f"cannot use the prices in {args.prices}: {error}") from None
    source_region, dest_region = check_buckets(clients.probe_s3(), spec)
    s3, dest_s3 = clients.s3(source_region), clients.s3(dest_region)
    started = time.monotonic()
    plan = plan_job(s3, spec.source_bucket, spec.dest_bucket, spec.prefix, spec.ranges, compare=spec.compare, dest_s3=dest_s3)
    cross_region = source_region != dest_region
    cost = estimate_cost(plan, prices, delete=args.delete, cross_region=cross_region)
    encryption = encryption_needs(s3, spec.source_bucket, spec.dest_bucket, plan.copy_sample)
    regions = {"source": source_region, "destination": dest_region, "cross_region": cross_region}
    if args.json:
        seconds = round(time.monotonic() - started, 2)
        body = {"dry_run": True, "plan": asdict(plan), "delete": args.delete, "seconds": seconds, "regions": regions, "cost": cost.to_dict(), "encryption": asdict(encryption)}
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return ExitStatus.SUCCESS
    source, destination = f"s3://{spec.source_bucket}/{spec.prefix}", f"s3://{spec.dest_bucket}/{spec.prefix}"
    lines = [
        f"dry run: {source} -> {destination}, {plan.ranges} key ranges, nothing was changed",
        f"  regions      {flow(source_region, dest_region)}",
        f"  would copy   {plan.to_copy:,} objects ({human_bytes(plan.bytes_to_copy)})" + sample(plan.copy_sample, plan.to_copy),
        f"  would skip   {plan.to_skip:,} objects already identical ({human_bytes(plan.bytes_to_skip)})",
        (f"  would delete {plan.orphans:,} orphans ({human_bytes(plan.bytes_orphaned)})" if args.delete else f"  would keep   {plan.orphans:,} orphans (not in the source; --delete removes them)")
        + sample(plan.orphan_sample, plan.orphans),
        f"estimated cost of running it on the deployed stack ({prices.region} prices{', from ' + str(args.prices) if args.prices else '; --prices FILE to change them'}):",
    ]
    lines += [f"  {line.item:<32} {line.quantity:>12,} {line.unit:<12} ${line.usd:,.4f}" for line in cost.lines]
    lines.append(f"  {'total':<32} {'':>12} {'':<12} ${cost.total:,.4f}")
    if not cross_region:
        lines.append("  (both buckets are in one region: no data transfer charge; idle SQS polling by the event sources is not included)")
    lines += [f"encryption: {line}" for line in encryption.advice()]
    print("\n".join(lines))
    return ExitStatus.SUCCESS


def sample(keys: list[str], total: int) -> str:
    if not keys:
        return ""
    shown = ", ".join(repr(key if len(key) <= 60 else key[:57] + "...") for key in keys[:3])
    return f", e.g. {shown}" + (" ..." if total > 3 else "")
