"""bench/scale's command line: flags into Assumptions, the simulations run (in parallel), the report."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from s3fanout.estimate import Prices

from .assumptions import Assumptions, object_size_mean
from .model import DISTRIBUTIONS
from .report import policy, print_resync, print_text, print_verify
from .simulate import DESIGNS, CopyQueue, run_scenario
from .verify import resync, verify


def parse_count(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kKmMgG]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a key count: {text!r} (e.g. 1M, 250k, 100M)")
    return int(float(m.group(1)) * {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[m.group(2).lower()])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/scale",
        description="Simulate a deployed run at AWS scale with the project's own seeding and splitting code.",
        epilog="Every Assumptions field is also a flag: " + ", ".join("--" + f.name.replace("_", "-") for f in fields(Assumptions)),
    )
    parser.add_argument("--sizes", default="1M,100M", help="key counts, comma-separated (default: 1M,100M)")
    parser.add_argument("--distributions", default=",".join(DISTRIBUTIONS), help=f"of {', '.join(DISTRIBUTIONS)} (default: all)")
    parser.add_argument("--designs", default=",".join(DESIGNS), help="project, ascii95 (default: both)")
    parser.add_argument("--assumptions", type=Path, metavar="FILE", help="JSON object overriding Assumptions fields")
    parser.add_argument("--prices", type=Path, metavar="FILE", help="JSON object overriding s3fanout.estimate.Prices fields")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="simulations run at once (default: CPUs)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--verify", action="store_true", help="only check the simulated lister against the real list_range")
    parser.add_argument("--verify-keys", type=parse_count, default=200_000, metavar="N", help="keys per distribution for --verify (default: 200k)")
    parser.add_argument(
        "--resync",
        type=parse_count,
        metavar="N",
        help="only count the requests of a re-run over N unchanged keys (destination holding every key), with the real list_range",
    )
    defaults = Assumptions.defaults()
    for f in fields(Assumptions):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, type=lambda v: v.lower() in ("1", "true", "yes", "on"), default=None, metavar="BOOL", help=argparse.SUPPRESS)
        else:
            parser.add_argument(flag, type=type(default), default=None, help=argparse.SUPPRESS)
    return parser


def assumptions_from(args: argparse.Namespace) -> Assumptions:
    a = Assumptions.defaults()
    if args.assumptions:
        data = json.loads(args.assumptions.read_text())
        unknown = set(data) - {f.name for f in fields(Assumptions)}
        if unknown:
            raise ValueError(f"unknown assumptions in {args.assumptions}: {', '.join(sorted(unknown))}")
        a = dataclasses.replace(a, **data)
    overrides = {f.name: getattr(args, f.name) for f in fields(Assumptions) if getattr(args, f.name) is not None}
    a = dataclasses.replace(a, **overrides)
    object_size_mean(a.object_size)  # fails early on a bad size
    CopyQueue(a.copy_queue_order, 1)
    if a.copier_records not in ("concurrent", "sequential"):
        raise ValueError(f"copier_records must be concurrent or sequential, not {a.copier_records!r}")
    return a



def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        a = assumptions_from(args)
        prices = Prices.from_file(args.prices) if args.prices else Prices()
        sizes = [parse_count(s) for s in args.sizes.split(",") if s]
        distributions = [d for d in args.distributions.split(",") if d]
        designs = [d for d in args.designs.split(",") if d]
        for d in distributions:
            if d not in DISTRIBUTIONS:
                raise ValueError(f"unknown distribution {d!r} (known: {', '.join(DISTRIBUTIONS)})")
        for d in designs:
            if d not in DESIGNS:
                raise ValueError(f"unknown design {d!r} (known: {', '.join(DESIGNS)})")
    except (ValueError, OSError, argparse.ArgumentTypeError) as error:
        print(f"bench/scale: error: {error}", file=sys.stderr)
        return 2
    if args.verify:
        return run_verify(args, distributions, a)
    if args.resync:
        return run_resync(args, distributions, a)
    started = time.perf_counter()
    jobs = [(d, n, design, asdict(a), asdict(prices)) for n in sizes for d in distributions for design in designs]
    jobs.sort(key=lambda j: (-j[1], j[2] != "project"))  # the long ones first
    if args.jobs > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            outputs = list(pool.map(run_scenario, jobs))
    else:
        outputs = [run_scenario(job) for job in jobs]
    report = {
        "command": "bench/scale " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "elapsed_s": round(time.perf_counter() - started, 1),
        "assumptions": asdict(a),
        "copy_ms": a.copy_ms(),
        "mean_object_bytes": object_size_mean(a.object_size),
        "policy": policy(),
        "prices": asdict(prices),
        "scenarios": scenarios(outputs, sizes, distributions, designs),
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_text(report)
    return 0


def run_verify(args: argparse.Namespace, distributions: list[str], a: Assumptions) -> int:
    # A short lister timeout, so that hand-ons happen on small key sets too.
    va = dataclasses.replace(a, lister_timeout_s=min(a.lister_timeout_s, a.stop_margin_ms // 1000 + 3))
    rows = verify(distributions, args.verify_keys, va)
    if args.json:
        print(json.dumps({"verify": rows, "lister_timeout_s": va.lister_timeout_s}, indent=2))
    else:
        print_verify(rows, args.verify_keys, va.lister_timeout_s)
    return 0 if all(row["agree"] for row in rows) else 1


def run_resync(args: argparse.Namespace, distributions: list[str], a: Assumptions) -> int:
    rows = resync(distributions, args.resync, a)
    if args.json:
        print(json.dumps({"resync": rows}, indent=2))
    else:
        print_resync(rows, args.resync)
    return 0


def scenarios(outputs: list[dict[str, Any]], sizes: list[int], distributions: list[str], designs: list[str]) -> list[dict[str, Any]]:
    """The simulations' outputs grouped by scenario (size and distribution), in the order asked for."""
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for out in outputs:
        key = (out["keys"], out["distribution"])
        scenario = found.setdefault(key, {k: out[k] for k in ("distribution", "keys", "description", "partitions", "unlisted_by_ascii95")} | {"designs": {}})
        scenario["designs"][out["result"]["design"]] = out["result"]
    ordered = [found[(n, d)] for n in sizes for d in distributions]
    for scenario in ordered:
        scenario["designs"] = {d: scenario["designs"][d] for d in designs}
    return ordered
