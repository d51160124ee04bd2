"""Failures that lose nothing: the real CLI in local mode against an endpoint that fails on purpose.

Each test runs ``python -m seed`` as a subprocess with AWS_ENDPOINT_URL pointing at a
fault-injecting moto endpoint (tests/e2e/faults.py), and checks the destination against the source
key by key (size and ETag) afterwards.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from s3fanout.messages import CopyBatch, CopyItem, ListTask
from s3fanout.signing import local_key
from tests.e2e.faults import Call, FaultyEndpoint

pytestmark = pytest.mark.e2e

SOURCE = "fault-source"
DEST = "fault-dest"
CLI_TIMEOUT = 300


def job(*extra: str, ranges: int = 8) -> list[str]:
    """The arguments of a local job from SOURCE to DEST with two workers and a JSON report."""
    return ["--bucket", SOURCE, "--dest", DEST, "--local", "--workers", "2", "--ranges", str(ranges), "--json", "--no-progress", *extra]


# ------------------------------------------------------------------------------------ helpers


@pytest.fixture
def s3(faulty: FaultyEndpoint) -> Any:
    client = boto3.client("s3", endpoint_url=faulty.url, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    client.create_bucket(Bucket=SOURCE)
    client.create_bucket(Bucket=DEST)
    return client


def cli_env(endpoint: FaultyEndpoint) -> dict[str, str]:
    return os.environ | {"AWS_ENDPOINT_URL": endpoint.url}


def run_cli(endpoint: FaultyEndpoint, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seed", *args], cwd=cwd, env=cli_env(endpoint), capture_output=True, text=True, timeout=CLI_TIMEOUT)


@contextmanager
def cli_running(endpoint: FaultyEndpoint, cwd: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """The CLI started in the background; interrupted (and its workers killed) if the test ends
    before it does."""
    process = subprocess.Popen(
        [sys.executable, "-m", "seed", *args], cwd=cwd, env=cli_env(endpoint), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            workers = worker_pids(process.pid)
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
            for pid in workers:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        stdout, stderr = process.communicate(timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the CLI did not finish within {CLI_TIMEOUT} s")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def fill(s3: Any, keys: list[str]) -> None:
    """Objects of a few sizes (some empty), so that sizes and ETags differ between keys."""

    def put(numbered: tuple[int, str]) -> None:
        index, key = numbered
        s3.put_object(Bucket=SOURCE, Key=key, Body=key.encode() * (index % 4))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, enumerate(keys)))


def listing(s3: Any, bucket: str) -> dict[str, tuple[int, str]]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: (o["Size"], o["ETag"]) for page in pages for o in page.get("Contents", [])}


def visible(sqs: Any, queue_url: str) -> int:
    return int(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        return dict(json.loads(result.stdout))
    except ValueError:
        pytest.fail(f"no JSON report (exit {result.returncode}):\nstdout: {result.stdout}\nstderr: {result.stderr}")


def dlq_list(endpoint: FaultyEndpoint, cwd: Path) -> list[dict[str, Any]]:
    shown = run_cli(endpoint, cwd, "dlq", "list", "--local", "--json")
    assert shown.returncode == 0, shown.stderr
    return [json.loads(line) for line in shown.stdout.splitlines()]


def worker_pids(cli_pid: int) -> list[int]:
    """The CLI's local worker processes: the children of its fork server (a child of the CLI
    running multiprocessing.forkserver), or, where workers are spawned, its own children started
    by multiprocessing's spawn (never its resource tracker)."""
    processes = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            processes.append((int(entry), int(fields[1]), cmdline))
    servers = {pid for pid, parent, cmdline in processes if parent == cli_pid and "multiprocessing.forkserver" in cmdline}
    return [
        pid
        for pid, parent, cmdline in processes
        if parent in servers or (parent == cli_pid and "multiprocessing.spawn" in cmdline and "resource_tracker" not in cmdline)
    ]


def kill_workers(cli_pid: int) -> list[int]:
    """SIGKILL every worker of the CLI and wait until each is dead (gone or a zombie): a process's
    pidfd becomes readable when it exits, though it is the CLI's child, not this process's."""
    pids = worker_pids(cli_pid)
    pidfds = []
    try:
        for pid in pids:
            with suppress(ProcessLookupError):  # already gone
                pidfds.append(os.pidfd_open(pid))
        exits = select.poll()
        for pidfd in pidfds:
            with suppress(ProcessLookupError):  # exited and reaped since
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            exits.register(pidfd, select.POLLIN)
        alive, deadline = set(pidfds), time.monotonic() + 30
        while alive:
            exited = exits.poll(max(0, int((deadline - time.monotonic()) * 1000)))
            assert exited, f"workers {pids} still alive 30 s after SIGKILL"
            for pidfd, _ in exited:
                exits.unregister(pidfd)
                alive.discard(pidfd)
    finally:
        for pidfd in pidfds:
            os.close(pidfd)
    return pids


# -------------------------------------------------------------------------------------- tests


def test_a_share_of_copies_slowed_down_still_copies_every_key(faulty: FaultyEndpoint, s3: Any, tmp_path: Path) -> None:
    keys = [f"slow/{i:03d}" for i in range(30)]
    fill(s3, keys)
    # Few keys: under a steady share of SlowDown, botocore's adaptive mode brings each copier's
    # request rate down towards its floor of 0.5 requests/s.
    slow_down = faulty.fail("CopyObject", code="SlowDown", probability=0.3, seed=20261125)

    result = run_cli(faulty, tmp_path, *job())

    assert result.returncode == 0, result.stderr
    assert report_of(result)["failed_keys"] == 0
    assert listing(s3, DEST) == listing(s3, SOURCE)
    assert slow_down.fired >= 5
    # Every refused copy was tried again, and no key was copied twice.
    assert slow_down.matched == len(keys) + slow_down.fired
    # botocore retried them by itself, yet the copiers saw the throttling and slowed down.
    log = (tmp_path / report_of(result)["log_file"]).read_text()
    assert "S3 is throttling copies: concurrency lowered" in log and '"throttled_attempts"' in log


def test_keys_failing_beyond_botocore_retries_come_back_through_the_copy_queue(faulty: FaultyEndpoint, s3: Any, tmp_path: Path) -> None:
    stubborn = {"stubborn/a", "stubborn/é b+%"}
    fill(s3, [f"fine/{i:03d}" for i in range(20)] + sorted(stubborn))
    # botocore makes up to 9 attempts (max_attempts 8 counts retries): the 10th fails in the
    # copier's second attempt of the key, and the 11th request succeeds.
    refuse = faulty.fail("CopyObject", key=stubborn, code="SlowDown", times_per_key=10)

    result = run_cli(faulty, tmp_path, *job())

    assert result.returncode == 0, result.stderr
    report = report_of(result)
    assert report["failed_keys"] == 0
    assert report["keys_retried"] >= len(stubborn)
    assert listing(s3, DEST) == listing(s3, SOURCE)
    assert dict(refuse.fired_keys) == {key: 10 for key in stubborn}
    assert refuse.matched == 11 * len(stubborn)


def test_listing_failing_transiently_lists_every_key(faulty: FaultyEndpoint, s3: Any, tmp_path: Path) -> None:
    fill(s3, [f"{c}/{i:02d}" for c in "aMz" for i in range(40)])

    def by_lister(call: Call) -> bool:  # not the seed's own one-key probe
        return call.query.get("max-keys") != ["1"]

    failing = faulty.fail("ListObjectsV2", bucket=SOURCE, when=by_lister, code="InternalError", times=4)

    result = run_cli(faulty, tmp_path, *job())

    assert result.returncode == 0, result.stderr
    assert failing.fired == 4
    assert listing(s3, DEST) == listing(s3, SOURCE)


def test_denied_keys_fail_by_name_and_arrive_after_a_redrive(faulty: FaultyEndpoint, s3: Any, tmp_path: Path) -> None:
    denied = {f"denied/{i}" for i in range(4)} | {"denied/é ü+%20#?"}
    fill(s3, [f"allowed/{i:03d}" for i in range(40)] + sorted(denied))
    refuse = faulty.fail("CopyObject", key="denied/", code="AccessDenied")

    result = run_cli(faulty, tmp_path, *job())

    assert result.returncode == 1, result.stderr
    report = report_of(result)
    assert report["failed_keys"] == len(denied)
    source = listing(s3, SOURCE)
    assert listing(s3, DEST) == {key: value for key, value in source.items() if key not in denied}
    failures = [json.loads(line) for line in Path(tmp_path, report["failures_file"]).read_text().splitlines()]
    assert sorted((f["key"], f["code"]) for f in failures) == sorted((key, "AccessDenied") for key in denied)
    letters = dlq_list(faulty, tmp_path)
    assert sorted((x["key"], x["code"], x["queue"]) for x in letters) == sorted((key, "AccessDenied", "copy") for key in denied)
    assert all(x["message"] and x["attempts"] == 1 for x in letters)

    other = run_cli(faulty, tmp_path, "dlq", "redrive", "--local", "--reason", "SomeOtherCode", "--json")
    assert other.returncode == 2, other.stderr
    assert other.stderr == f"python -m seed: error: no failure has the reason 'SomeOtherCode' (the dead-letter queues hold: AccessDenied {len(denied)})\n"
    assert len(dlq_list(faulty, tmp_path)) == len(denied)

    faulty.remove(refuse)
    redriven = run_cli(faulty, tmp_path, "dlq", "redrive", "--local", "--workers", "2", "--json", "--no-progress")

    assert redriven.returncode == 0, redriven.stderr
    assert f"redrive: {len(denied)} keys and 0 key ranges back on their queues; 0 failures left" in redriven.stderr
    assert report_of(redriven)["failed_keys"] == 0
    assert listing(s3, DEST) == source
    assert dlq_list(faulty, tmp_path) == []


def test_a_copier_killed_mid_batch_loses_nothing(faulty: FaultyEndpoint, s3: Any, tmp_path: Path) -> None:
    fill(s3, [f"batch/{i:04d}" for i in range(200)])
    held = faulty.hold("CopyObject", key={"batch/0123"})

    # The shortest timeouts, so that whatever the killed workers had received comes back within a minute.
    with cli_running(faulty, tmp_path, *job("--copy-timeout", "30", "--list-timeout", "30")) as cli:
        held.wait_held()
        assert kill_workers(cli.pid)
        held.release()
        result = finish(cli)

    assert result.returncode == 0, result.stderr
    assert "died and were replaced" in result.stderr
    assert report_of(result)["failed_keys"] == 0
    assert listing(s3, DEST) == listing(s3, SOURCE)
    assert held.matched >= 2  # the batch came back and its keys were copied again


def test_a_lister_killed_after_sending_batches_loses_nothing(faulty: FaultyEndpoint, s3: Any, tmp_path: Path) -> None:
    keys = [f"many/{i:05d}" for i in range(1050)]  # more than one page
    fill(s3, keys)

    def next_page(call: Call) -> bool:
        # With a 30 s list timeout (the stop margin) the lister hands the rest on after every page, so
        # the second page is asked for with start-after; a longer one would use a continuation token.
        return "start-after" in call.query or "continuation-token" in call.query

    held = faulty.hold("ListObjectsV2", bucket=SOURCE, when=next_page)

    with cli_running(faulty, tmp_path, *job("--list-timeout", "30", "--copy-timeout", "30", ranges=1)) as cli:
        held.wait_held()
        # The seed's list task, page one's copy batches and the task for the rest are out.
        assert faulty.count("SendMessageBatch") >= 3
        assert kill_workers(cli.pid)
        held.release()
        result = finish(cli)

    assert result.returncode == 0, result.stderr
    assert report_of(result)["failed_keys"] == 0
    assert listing(s3, DEST) == listing(s3, SOURCE)
    assert len(listing(s3, DEST)) == len(keys)


def test_messages_the_job_did_not_send_touch_nothing(faulty: FaultyEndpoint, s3: Any, tmp_path: Path) -> None:
    """An attacker (or a confused script) puts work on a running job's queues: copies out of a
    bucket the job does not serve, into one it does not serve, a delete pass nobody asked for,
    garbage. Each is refused, with its reason, and nothing outside the job changes."""
    for bucket in ("fault-secret", "fault-attacker"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="fault-secret", Key="real/00", Body=b"secret")
    s3.put_object(Bucket=DEST, Key="orphan-kept", Body=b"not in the source; no --delete")
    fill(s3, [f"real/{i:02d}" for i in range(30)])
    held = faulty.hold("CopyObject", key={"real/05"})
    # The operator's own key (local mode's, in S3FANOUT_HOME): even sealed, foreign buckets and
    # a delete pass the job did not ask for are refused.
    key = local_key()
    injected = {
        ("copy", CopyBatch("job", "fault-secret", "fault-attacker", (CopyItem("real/00", 6),)).to_json()): "not signed",
        ("list", ListTask("job", SOURCE, DEST, mode="delete").to_json()): "not signed",
        ("copy", key.seal(CopyBatch("job", "fault-secret", DEST, (CopyItem("real/00", 6),)).to_json())): "source bucket 'fault-secret'",
        ("copy", key.seal(CopyBatch("job", SOURCE, "fault-attacker", (CopyItem("real/01", 6),)).to_json())): "destination bucket 'fault-attacker'",
        ("list", key.seal(ListTask("job", SOURCE, "fault-attacker").to_json())): "destination bucket 'fault-attacker'",
        ("list", key.seal(ListTask("job", SOURCE, DEST, mode="delete").to_json())): "may not delete",
        ("list", key.seal(ListTask("job", SOURCE, DEST, prefix="real/", hops=10_000).to_json())): "re-queued 10000 times",
        ("list", "not json"): "not signed",
        ("copy", key.seal('{"v": 99, "type": "copy"}')): "unsupported message version 99",
        ("copy", key.seal(ListTask("job", SOURCE, DEST).to_json())): "expected a copy batch, got a list message",
    }
    sqs = boto3.client("sqs", endpoint_url=faulty.url, region_name="us-east-1")

    with cli_running(faulty, tmp_path, *job()) as cli:
        held.wait_held()
        urls = sqs.list_queues(QueueNamePrefix="s3fanout-")["QueueUrls"]
        queue = {kind: next(url for url in urls if url.endswith(f"-{kind}")) for kind in ("list", "copy")}
        for kind, body in injected:
            sqs.send_message(QueueUrl=queue[kind], MessageBody=body)
        # The job ends when its own record says nothing of it is open, not when its queues are
        # empty: the held copy keeps it running until the other worker has refused every one.
        dead_letter_queues = [url for url in urls if url.endswith("-dlq")]
        deadline = time.monotonic() + CLI_TIMEOUT
        while sum(visible(sqs, url) for url in dead_letter_queues) < len(injected) and time.monotonic() < deadline:
            time.sleep(0.2)
        held.release()
        result = finish(cli)

    assert result.returncode == 0, result.stderr
    report = report_of(result)
    assert (report["failed_keys"], report["failed_ranges"], report["refused_messages"]) == (0, 0, len(injected))
    assert f"{len(injected)} messages on this job's queues were not sent by it and were refused" in result.stderr
    source = listing(s3, SOURCE)
    assert listing(s3, DEST) == source | {"orphan-kept": listing(s3, DEST)["orphan-kept"]}
    assert listing(s3, "fault-attacker") == {}
    assert list(listing(s3, "fault-secret")) == ["real/00"]
    letters = dlq_list(faulty, tmp_path)
    assert len(letters) == len(injected)
    for (kind, body), reason in injected.items():
        named = [x for x in letters if x["queue"] == kind and (x["message"].endswith(f": {body[:200]!r}") or reason.startswith("re-queued") and reason in x["message"])]
        assert len(named) == 1 and reason in named[0]["message"], (kind, body, letters)
        assert named[0]["code"] == ("HopLimitExceeded" if "re-queued" in reason else "InvalidMessage"), named


@pytest.mark.parametrize(
    "operation, bucket, permission",
    [
        ("PutObject", DEST, "no permission to write to the destination bucket 'fault-dest'"),
        ("ListObjectsV2", SOURCE, "no permission to list the source bucket 'fault-source'"),
        ("HeadObject", SOURCE, "no permission to read objects of the source bucket 'fault-source'"),
    ],
)
def test_a_seed_without_permission_is_refused_before_anything_is_queued(
    faulty: FaultyEndpoint, s3: Any, tmp_path: Path, operation: str, bucket: str, permission: str
) -> None:
    fill(s3, [f"k/{i}" for i in range(10)])
    faulty.fail(operation, bucket=bucket, code="AccessDenied")
    faulty.reset_counts()

    result = run_cli(faulty, tmp_path, *job())

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("python -m seed: error: ") and result.stderr.count("\n") == 1
    assert permission in result.stderr
    counts = faulty.counts()
    assert counts["SendMessage"] == counts["SendMessageBatch"] == counts["CopyObject"] == 0, counts
    faulty.clear()
    assert listing(s3, DEST) == {}


def test_ctrl_c_stops_the_workers_cleanly_and_says_what_was_done_and_what_is_queued(faulty: FaultyEndpoint, s3: Any, tmp_path: Path) -> None:
    fill(s3, [f"slow/{i:03d}" for i in range(120)])
    held = faulty.hold("CopyObject", key={"slow/050"})
    # Its own process group, like a shell's foreground job: Ctrl-C reaches the CLI and every worker.
    process = subprocess.Popen(
        [sys.executable, "-m", "seed", *job()], cwd=tmp_path, env=cli_env(faulty), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        held.wait_held()
        os.killpg(process.pid, signal.SIGINT)
        held.release()
        result = finish(process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)

    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert "python -m seed: interrupted" in result.stderr
    assert "listed " in result.stderr and "copied " in result.stderr
    assert "still queued: " in result.stderr and "run the same command again to finish" in result.stderr
    [log] = tmp_path.glob("s3fanout-runs/*/workers.log")
    assert "KeyboardInterrupt" not in log.read_text() and "Traceback" not in log.read_text()
    # The job's queues went with it: nothing is left to run as some later job's work.
    sqs = boto3.client("sqs", endpoint_url=faulty.url, region_name="us-east-1")
    assert sqs.list_queues(QueueNamePrefix="s3fanout-").get("QueueUrls", []) == []
