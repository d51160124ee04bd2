"""--dry-run with --all-versions or --as-of: list and plan the versions like the listers would
(s3fanout.version_plan), change nothing, and report the plan and its cost."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from s3fanout import clients
from s3fanout.clients import OWN_ACCESS, Access
from s3fanout.estimate import Prices
from s3fanout.job import JobSpec
from s3fanout.preflight import check_buckets
from s3fanout.version_plan import VersionPlan, estimate_versions_cost, plan_versions_job
from seed.console import ExitStatus, UsageError
from seed.progress import human_bytes
from seed.report import flow


def dry_run_versions(spec: JobSpec, args: argparse.Namespace, source_access: Access = OWN_ACCESS, dest_access: Access = OWN_ACCESS) -> int:
    try:
        prices = Prices.from_file(args.prices) if args.prices else Prices()
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(f"cannot use the prices in {args.prices}: {error}") from None
    source_region, dest_region = check_buckets(clients.probe_s3(source_access), spec, clients.probe_s3(dest_access))
    s3, dest_s3 = clients.s3_for(source_access, source_region), clients.s3_for(dest_access, dest_region)
    started = time.monotonic()
    plan = plan_versions_job(s3, dest_s3, spec)
    cross_region = source_region != dest_region
    cost = estimate_versions_cost(plan, prices, all_versions=spec.all_versions, cross_region=cross_region)
    streamed = not source_access.same_store(dest_access)
    what = "every version" if spec.all_versions else f"as of {spec.as_of}"
    if args.json:
        body = {
            "dry_run": True,
            "versions": "all" if spec.all_versions else "as_of",
            "as_of": spec.as_of,
            "plan": asdict(plan),
            "seconds": round(time.monotonic() - started, 2),
            "regions": {"source": source_region, "destination": dest_region, "cross_region": cross_region},
            "cost": cost.to_dict(),
            "streamed": streamed,
        }
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return ExitStatus.SUCCESS
    source, destination = f"s3://{spec.source_bucket}/{spec.prefix}", f"s3://{spec.dest_bucket}/{spec.prefix}"
    lines = [
        f"dry run ({what}): {source} -> {destination}, {plan.ranges} key ranges, nothing was changed",
        f"  regions      {flow(source_region, dest_region)}",
        f"  listed       {plan.versions_listed:,} versions and {plan.markers_listed:,} delete markers"
        + (f" of {plan.keys:,} keys" if spec.all_versions else f"; {plan.keys:,} keys existed then"),
    ]
    lines += _all_versions_lines(plan) if spec.all_versions else _as_of_lines(plan)
    where = f"{prices.region} prices{', from ' + str(args.prices) if args.prices else '; --prices FILE to change them'}"
    lines.append(f"estimated cost of running it on the deployed stack ({where}):")
    lines += [f"  {line.item:<40} {line.quantity:>12,} {line.unit:<12} ${line.usd:,.4f}" for line in cost.lines]
    lines.append(f"  {'total':<40} {'':>12} {'':<12} ${cost.total:,.4f}")
    if streamed:
        lines.append("  (the sides are different stores: local mode would stream every copy through this machine; this prices server-side copies)")
    print("\n".join(lines))
    return ExitStatus.SUCCESS


def _all_versions_lines(plan: VersionPlan) -> list[str]:
    return [
        f"  would copy   {plan.to_copy:,} versions ({human_bytes(plan.bytes_to_copy)}) and write {plan.markers_to_write:,} delete markers, "
        f"of {plan.keys_to_copy:,} keys, each key's oldest first" + _sample(plan.copy_sample, plan.keys_to_copy),
        f"  would skip   {plan.to_skip:,} versions and delete markers already copied ({human_bytes(plan.bytes_to_skip)}); "
        f"{plan.head_requests:,} destination versions read to tell",
        f"  would keep   {plan.orphans:,} destination keys the source does not have",
    ]


def _as_of_lines(plan: VersionPlan) -> list[str]:
    return [
        f"  would copy   {plan.to_copy:,} objects ({human_bytes(plan.bytes_to_copy)}), each the version current then" + _sample(plan.copy_sample, plan.to_copy),
        f"  would skip   {plan.to_skip:,} objects already identical ({human_bytes(plan.bytes_to_skip)})",
        f"  would keep   {plan.orphans:,} destination objects absent at that time",
    ]


def _sample(keys: list[str], total: int) -> str:
    if not keys:
        return ""
    shown = ", ".join(repr(key if len(key) <= 60 else key[:57] + "...") for key in keys[:3])
    return f", e.g. {shown}" + (" ..." if total > 3 else "")
