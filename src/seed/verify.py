"""python -m seed verify: is the destination what a sync of the source would make it? Lists both
buckets on this machine (S3 read access only: no stack, queues or workers), each through its own
access (role, endpoint, profile: the flags of a local job), reports every key missing, different
or extra, and changes nothing (s3fanout/verification.py does the work)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TypeVar

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from s3fanout import clients
from s3fanout.job import DEFAULT_RANGES, JobSpec
from s3fanout.preflight import check_buckets
from s3fanout.s3errors import S3Failure
from s3fanout.s3ops import ListedObject
from s3fanout.verification import Difference, VerifyResult, verify
from seed.arguments import (
    MAX_SEED_RANGES,
    add_access_arguments,
    add_destination_arguments,
    bounded_int,
    bucket_argument,
    destinations_argument,
    prefix_argument,
    range_count,
    side_access,
)
from seed.console import PROG, ExitStatus, OneLineParser, UsageError, fail, progress_wanted
from seed.progress import human_bytes

DEFAULT_THREADS = 8
# One connection per listing thread: the cached S3 client pools at most this many.
MAX_THREADS = clients.MAX_POOL_CONNECTIONS
# Keys of each kind the summary names; --json names them all.
EXAMPLES = 20

T = TypeVar("T")


def thread_count(text: str) -> int:
    return bounded_int(text, 1, MAX_THREADS)


def verify_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=f"{PROG} verify",
        description=(
            "Check that the destination (each --dest, under its --dest-prefix) holds every key of the source (under --prefix) with the same size and ETag, "
            "by the rule a sync uses to skip a key, and nothing else. Lists both buckets on this machine over the same "
            "key ranges as a sync, each side through its own role, endpoint or profile when given; needs S3 read access only and changes nothing."
        ),
        epilog="exit status: 0 identical, 1 keys missing, different or extra, 2 bad input or S3 unreachable, 130 interrupted",
    )
    parser.add_argument("--bucket", required=True, metavar="SRC", help="source bucket (name or s3://name)")
    add_destination_arguments(parser)
    parser.add_argument("--prefix", type=prefix_argument, default="", help="verify only keys starting with this prefix (default: all keys)")
    parser.add_argument("--ranges", type=range_count, default=DEFAULT_RANGES, metavar="N", help=f"key ranges to list, 1 to {MAX_SEED_RANGES} (default: {DEFAULT_RANGES}, as a sync)")
    parser.add_argument("--threads", type=thread_count, default=DEFAULT_THREADS, metavar="N", help=f"ranges listed at once, 1 to {MAX_THREADS} (default: {DEFAULT_THREADS})")
    parser.add_argument("--region", help="AWS region (default: the usual AWS configuration)")
    add_access_arguments(parser.add_argument_group("each side's access (as a local job's; default: the configured S3 and credentials)"))
    parser.add_argument("--json", action="store_true", help="print one JSON object naming every key missing, different or extra")
    parser.add_argument("--no-progress", action="store_true", help="no progress display, even on a terminal")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parser


def verify_main(argv: list[str]) -> int:
    args = verify_parser().parse_args(argv)
    clients.use_region(args.region)
    source_bucket = bucket_argument(args.bucket)
    destinations = destinations_argument(args)
    for dest_bucket, dest_prefix in destinations:
        if source_bucket == dest_bucket and dest_prefix is None:
            raise UsageError(f"--bucket and --dest are the same bucket '{source_bucket}': there is nothing to compare")
    source_access, dest_access = side_access(args, this_machine=True)
    results = []
    for dest_bucket, dest_prefix in destinations:
        spec = JobSpec(source_bucket, dest_bucket, args.prefix, args.ranges, dest_prefix=dest_prefix)
        source_region, dest_region = check_buckets(clients.probe_s3(source_access), spec, clients.probe_s3(dest_access))
        try:
            with VerifyProgress(progress_wanted(args.no_progress or args.json)) as progress:
                source_s3, dest_s3 = clients.s3_for(source_access, source_region), clients.s3_for(dest_access, dest_region)
                results.append(verify(source_s3, source_bucket, dest_bucket, args.prefix, args.ranges, args.threads, on_progress=progress, dest_s3=dest_s3, dest_prefix=dest_prefix))
        except S3Failure as failure:
            return fail(f"{failure.message} ({failure.code})", args.debug)
    if args.json:
        # One destination: its object, as always; several: one object each, in --dest order.
        output = results[0].to_dict() if len(results) == 1 else {"identical": all(r.identical for r in results), "destinations": [r.to_dict() for r in results]}
        print(json.dumps(output, ensure_ascii=False))
    else:
        print("\n".join(summary(result) for result in results))
    return ExitStatus.SUCCESS if all(result.identical for result in results) else ExitStatus.FAILURES


class VerifyProgress:
    """Source keys checked and keys per second on stderr, drawn only when ``enabled``."""

    def __init__(self, enabled: bool) -> None:
        self._progress = Progress(SpinnerColumn(), TextColumn("[bold]verifying[/] {task.fields[detail]}"), TimeElapsedColumn(), console=Console(stderr=True), transient=True) if enabled else None
        self._task = None if self._progress is None else self._progress.add_task("verify", detail="listing both buckets")
        self._started = time.monotonic()

    def __enter__(self) -> VerifyProgress:
        self._started = time.monotonic()
        if self._progress is not None:
            self._progress.start()
        return self

    def __call__(self, checked: int) -> None:
        if self._progress is None or self._task is None:
            return
        rate = checked / max(time.monotonic() - self._started, 1e-3)
        self._progress.update(self._task, detail=f"{checked:,} keys checked, {rate:,.0f} keys/s")

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()


def summary(result: VerifyResult) -> str:
    """The counts, then up to EXAMPLES keys of each kind."""
    verdict = "identical" if result.identical else "NOT identical"
    counts = [
        ("source keys", result.source_keys, ""),
        ("destination keys", result.dest_keys, ""),
        ("identical", result.identical_keys, ""),
        ("missing", len(result.missing), "in the source, not in the destination"),
        ("different", len(result.different), "size or ETag, by the rule a sync uses to skip a key"),
        ("extra", len(result.extra), "in the destination, not in the source"),
    ]
    width = max(len(f"{count:,}") for _, count, _ in counts)
    lines = [f"verify: {result.source} -> {result.destination}: {verdict}"]
    lines += [f"  {name:<16} {count:>{width},}" + (f"  ({meaning})" if meaning else "") for name, count, meaning in counts]
    lines += _examples("missing", result.missing, _describe_object)
    lines += _examples("different", result.different, _describe_difference)
    lines += _examples("extra", result.extra, _describe_object)
    if max(len(result.missing), len(result.different), len(result.extra)) > EXAMPLES:
        lines.append(f"only the first {EXAMPLES} keys of each kind are shown: --json lists them all")
    return "\n".join(lines)


def _examples(kind: str, items: Sequence[T], describe: Callable[[T], str]) -> list[str]:
    if not items:
        return []
    shown = f"first {EXAMPLES} of {len(items):,}" if len(items) > EXAMPLES else f"{len(items):,}"
    return [f"{kind} ({shown}):", *(f"  {describe(item)}" for item in items[:EXAMPLES])]


def _describe_object(obj: ListedObject) -> str:
    return f"{obj.key!r} ({human_bytes(obj.size)})"


def _describe_difference(difference: Difference) -> str:
    source, dest = difference.source, difference.dest
    return f"{difference.key!r}: {difference.reason} (source {human_bytes(source.size)} {source.etag}, destination {human_bytes(dest.size)} {dest.etag})"
