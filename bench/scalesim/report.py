"""bench/scale's output: the report as text (one table per scenario) and the --verify lines."""

from __future__ import annotations

from typing import Any

from s3fanout.job import DEFAULT_RANGES
from s3fanout.lister import DEFAULT_STOP_MARGIN_MS, KEYS_PER_PART, MAX_PARTS, SPLIT_MIN_KEYS, SURVEY_EVERY_PAGES, SURVEY_MIN_PAGE_KEYS
from s3fanout.messages import COPY_BATCH_MAX_KEYS

from .simulate import DESIGNS


def count_label(n: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g}{unit}"
    return str(n)


def duration(seconds: float) -> str:
    if seconds < 100:
        return f"{seconds:.1f} s"
    if seconds < 6000:
        whole = round(seconds)
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def policy() -> dict[str, int]:
    """The project's constants that drive the simulated listers, printed with the results."""
    return {
        "SEED_RANGES (DEFAULT_RANGES)": DEFAULT_RANGES,
        "SPLIT_MIN_KEYS": SPLIT_MIN_KEYS,
        "KEYS_PER_PART": KEYS_PER_PART,
        "MAX_PARTS": MAX_PARTS,
        "SURVEY_EVERY_PAGES": SURVEY_EVERY_PAGES,
        "SURVEY_MIN_PAGE_KEYS": SURVEY_MIN_PAGE_KEYS,
        "DEFAULT_STOP_MARGIN_MS": DEFAULT_STOP_MARGIN_MS,
        "COPY_BATCH_MAX_KEYS": COPY_BATCH_MAX_KEYS,
    }


ROWS: list[tuple[str, str]] = [
    ("listing done", "listing_done_s"),
    ("copying done", "copying_done_s"),
    ("  floor: hot partition or copiers (done/floor)", "copying_floor_s"),
    ("  floor as the copiers scale up (done/floor)", "scaled_floor_s"),
    ("peak listers", "peak_listers"),
    ("peak copiers", "peak_copiers"),
    ("keys never listed", "keys_never_listed"),
    ("list tasks (seeded + split off + handed on)", "list_tasks"),
    ("  split off / of them empty", "split_off"),
    ("  handed on near the timeout", "hand_ons"),
    ("  most keys in one task", "largest_task_keys"),
    ("LIST pages (source + empty destination)", "list_pages"),
    ("LIST probes (surveys x probes)", "probes"),
    ("COPY requests", "copy_requests"),
    ("copy batches / copier invocations", "copy_batches"),
    ("SQS requests (billed 64 KiB units)", "sqs_requests"),
    ("Lambda GB-s (listers + copiers)", "lister_gb_s"),
    ("copier time at a partition's limit", "throttled_share"),
    ("partitions copied to at once (mean)", "busy_partitions"),
    ("longest copier invocation (over timeout)", "longest_copier_s"),
    ("cost (USD)", "cost_usd"),
    ("  the dry run's estimate (estimate_cost)", "dry_run_estimate_usd"),
]


def cell(r: dict[str, Any], key: str) -> str:
    v = r[key]
    if key in ("listing_done_s", "copying_done_s"):
        return duration(v)
    if key in ("copying_floor_s", "scaled_floor_s"):
        return f"{duration(v)} ({r['copying_done_s'] / v:.2f}x)" if v else "-"
    if key == "split_off":
        return f"{v:,} / {r['empty_split_off']:,}"
    if key == "list_pages":
        return f"{v:,} + {r['dest_lists']:,}"
    if key == "probes":
        return f"{r['surveys']:,} x {v / r['surveys']:.1f} = {v:,}" if r["surveys"] else "0"
    if key == "copy_batches":
        return f"{v:,} / {r['copier_invocations']:,}"
    if key == "sqs_requests":
        return f"{v:,} ({r['sqs_billed']:,})"
    if key == "lister_gb_s":
        return f"{v:,.0f} + {r['copier_gb_s']:,.0f}"
    if key == "throttled_share":
        return f"{v:.0%}"
    if key == "longest_copier_s":
        return f"{duration(v)} ({r['copier_overruns']:,})"
    if key == "busy_partitions":
        return f"{v:.1f}"
    if key in ("cost_usd", "dry_run_estimate_usd"):
        return "-" if v is None else f"{v:,.2f}"
    return f"{v:,}"


def print_text(report: dict[str, Any]) -> None:
    print(f"bench/scale: {len(report['scenarios'])} scenario(s), simulated in {report['elapsed_s']:.0f} s on {report['machine']}")
    print("\nassumptions (flags --name-with-dashes, or --assumptions FILE):")
    for name, value in report["assumptions"].items():
        print(f"  {name:26} {value}")
    print(f"  {'copy latency (derived)':26} {report['copy_ms']:.1f} ms per object, mean object size {report['mean_object_bytes']:,.0f} B")
    print("project code driving the listers:", ", ".join(f"{k} {v:,}" for k, v in report["policy"].items()))
    print("prices: s3fanout.estimate.Prices " + ", ".join(f"{k}={v}" for k, v in report["prices"].items() if k.endswith(("1000", "million", "second", "_gb"))))
    for scenario in report["scenarios"]:
        runs = scenario["designs"]
        print(f"\n== {scenario['distribution']}, {count_label(scenario['keys'])} keys: {scenario['description']}")
        print(f"   {scenario['partitions']} S3 partitions in the model; keys not printable-ASCII first: {scenario['unlisted_by_ascii95']:,}")
        names = list(runs)
        width = max(len(cell(runs[d], key)) for d in names for _, key in ROWS)
        labels = max(len(label) for label, _ in ROWS)
        print(f"   {'':{labels}}" + "".join(f"{d:>{max(width, 12) + 2}}" for d in names))
        for label, key in ROWS:
            print(f"   {label:{labels}}" + "".join(f"{cell(runs[d], key):>{max(width, 12) + 2}}" for d in names))
    print("\ndesigns: " + "; ".join(f"{k} = {v}" for k, v in DESIGNS.items()))


def print_verify(rows: list[dict[str, Any]], keys: int, lister_timeout_s: int) -> None:
    print(f"real list_range vs the simulated lister, {count_label(keys)} keys each, lister timeout {lister_timeout_s} s:")
    for row in rows:
        print(f"  {row['distribution']:8} {'agree' if row['agree'] else 'DIFFER'}  real {row['real']}")
        if not row["agree"]:
            print(f"  {'':8}         sim  {row['simulated']}")


def print_resync(rows: list[dict[str, Any]], keys: int) -> None:
    print(f"a re-run over {count_label(keys)} unchanged keys (the destination holds every key), the real list_range, tasks one after another:")
    print(f"  {'':8} {'LIST requests':>13} {'source pages':>12} {'destination':>11} {'probes':>6} {'per 1M keys':>11} {'list tasks':>10} {'lister s':>8}")
    for row in rows:
        r = row["real"]
        lists = r["list_pages"] + r["dest_lists"] + r["probes"]
        print(
            f"  {row['distribution']:8} {lists:>13,} {r['list_pages']:>12,} {r['dest_lists']:>11,} {r['probes']:>6,}"
            f" {lists * 1_000_000 // keys:>11,} {r['invocations']:>10,} {r['lister_ms'] // 1000:>8,}"
        )
