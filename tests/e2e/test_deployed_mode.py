"""The CLI's deployed mode, end to end: the real `python -m seed` against a stack on a moto server.

Every test deploys template.yaml as its own uniquely named stack on the session's moto server
(tests/deploy/moto_stack.py), creates its own buckets, and runs the CLI as a subprocess with
AWS_ENDPOINT_URL pointing at the server and a fresh working directory (so it writes its run files
there and finds no samconfig.toml). The stack's event source mappings cannot run on moto, so where
a job must actually copy, local workers (`--local --stack-name`) play the Lambdas on the stack's
queues.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from s3fanout.counts import Counts
from s3fanout.deadletter import dead_letter_attributes
from s3fanout.jobrecord import JobTable
from s3fanout.messages import CopyBatch, CopyItem, KeyFailure, ListTask
from s3fanout.motoserver import EmbeddedMoto
from s3fanout.signing import MessageKey
from tests.deploy.moto_stack import client, deploy_stack
from tests.keys import AWKWARD_KEYS, TAGGING, TAGS, ZERO_BYTE_KEYS, boundary_keys

pytestmark = pytest.mark.e2e

CLI_TIMEOUT_SECONDS = 180
# The CLI's --wait polls every 5 s and needs 3 empty polls in a row: 10 s at the very least.
WAIT_TIMEOUT_SECONDS = 240

# Every awkward key (tests/keys.py), and keys equal to seeding boundaries and right next to them.
BOUNDARY_KEYS = boundary_keys(32)


@dataclass
class Deployed:
    name: str
    outputs: dict[str, str]
    source: str
    dest: str


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def unique(label: str) -> str:
    return f"e2e-{label}-{uuid.uuid4().hex[:8]}"


def cli_env(endpoint: str) -> dict[str, str]:
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="us-east-1", PYTHONUNBUFFERED="1")
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_CLOUDFORMATION", "AWS_PROFILE"):
        env.pop(name, None)
    return env


def seed_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "seed", *args]


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    return client("s3", moto_endpoint)


@pytest.fixture
def sqs(moto_endpoint: str) -> Any:
    return client("sqs", moto_endpoint)


def run_seed(endpoint: str, cwd: Path, *args: str, timeout: float = CLI_TIMEOUT_SECONDS) -> Result:
    done = subprocess.run(
        seed_command(*args),
        env=cli_env(endpoint),
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def run_cli(moto_endpoint: str, tmp_path: Path) -> Callable[..., Result]:
    def run(*args: str, timeout: float = CLI_TIMEOUT_SECONDS) -> Result:
        return run_seed(moto_endpoint, tmp_path, *args, timeout=timeout)

    return run


def new_stack(endpoint: str, label: str, *, source: str | None = None, dest: str | None = None, create_buckets: bool = True) -> Deployed:
    """Deploy a fresh, uniquely named stack; create its two buckets unless told not to."""
    name = unique(label)
    source = source or f"{name}-src"
    dest = dest or f"{name}-dst"
    if create_buckets:
        for bucket in (source, dest):
            client("s3", endpoint).create_bucket(Bucket=bucket)
    return Deployed(name, deploy_stack(endpoint, name, {"SourceBucket": source, "DestinationBucket": dest}), source, dest)


@pytest.fixture
def make_stack(moto_endpoint: str) -> Callable[..., Deployed]:
    def make(label: str, **options: Any) -> Deployed:
        return new_stack(moto_endpoint, label, **options)

    return make


def receive_all(sqs: Any, queue_url: str, *, delete: bool = True) -> list[dict[str, Any]]:
    """Every message on a queue (deleted unless told otherwise)."""
    seen: dict[str, dict[str, Any]] = {}
    empty = 0
    while empty < 2:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300, WaitTimeSeconds=0).get("Messages", [])
        new = [m for m in messages if m["MessageId"] not in seen]
        empty = 0 if new else empty + 1
        for message in new:
            seen[message["MessageId"]] = message
            if delete:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return list(seen.values())


def depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def list_tasks_on(sqs: Any, stack: Deployed) -> list[ListTask]:
    return [ListTask.from_json(m["Body"]) for m in receive_all(sqs, stack.outputs["ListQueueUrl"])]


def assert_partition(tasks: list[ListTask], job_id: str, stack: Deployed, count: int) -> None:
    """One task per range of the job, contiguous, open at both ends: every possible key is covered."""
    assert len(tasks) == count
    assert {(t.job_id, t.source_bucket, t.dest_bucket, t.prefix, t.resumed) for t in tasks} == {(job_id, stack.source, stack.dest, "", 0)}
    ordered = sorted(tasks, key=lambda t: (t.after is not None, t.after or ""))
    assert ordered[0].after is None
    assert ordered[-1].until is None
    for low, high in zip(ordered, ordered[1:]):
        assert low.until is not None and low.until == high.after, f"gap or overlap between {low} and {high}"
    for task in ordered:
        assert task.after is None or task.until is None or task.after < task.until


def objects(s3: Any, bucket: str) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            found[entry["Key"]] = (entry["Size"], entry["ETag"])
    return found


def fill_source(s3: Any, bucket: str) -> dict[str, bytes]:
    bodies: dict[str, bytes] = {}
    for index, key in enumerate(AWKWARD_KEYS + BOUNDARY_KEYS):
        bodies[key] = b"" if key in ZERO_BYTE_KEYS else f"{index}:{key}\n".encode() * (1 + index % 5)
    assert len(bodies) == len(AWKWARD_KEYS) + len(BOUNDARY_KEYS), "a test key is listed twice"
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda item: s3.put_object(Bucket=bucket, Key=item[0], Body=item[1]), bodies.items()))
    return bodies


def assert_same_objects(s3: Any, stack: Deployed, bodies: dict[str, bytes]) -> None:
    """The destination holds exactly the source's keys, each with the same size and ETag."""
    source = objects(s3, stack.source)
    assert set(source) == set(bodies), "the moto server mangled a source key"
    destination = objects(s3, stack.dest)
    assert sorted(set(source) - set(destination)) == [], "keys missing from the destination"
    assert sorted(set(destination) - set(source)) == [], "unexpected keys in the destination"
    with ThreadPoolExecutor(max_workers=8) as pool:
        heads = dict(zip(source, pool.map(lambda key: s3.head_object(Bucket=stack.dest, Key=key), source)))
    for key, (size, etag) in source.items():
        assert size == len(bodies[key]), key
        assert (heads[key]["ContentLength"], heads[key]["ETag"]) == (size, etag), f"{key!r} differs in the destination"
        assert destination[key] == (size, etag), f"{key!r} differs in the destination listing"


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("python -m seed: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------- 1. seeding


def test_deployed_seed_queues_one_list_task_per_range(make_stack: Callable[..., Deployed], run_cli: Callable[..., Result], sqs: Any, tmp_path: Path) -> None:
    stack = make_stack("seed")

    # Without --ranges, a source (and destination) that one listing page holds is one range.
    result = run_cli("--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name)

    assert result.returncode == 0, result
    assert result.stderr == ""
    match = re.match(r"job (\S+): 1 key range of s3://(\S+)/ queued on stack '(\S+)', copying to s3://(\S+)/\n", result.stdout)
    assert match, result.stdout
    job_id = match.group(1)
    assert match.groups()[1:] == (stack.source, stack.name, stack.dest)
    assert f"dlq list --stack-name {stack.name}" in result.stdout
    assert_partition(list_tasks_on(sqs, stack), job_id, stack, 1)
    # Nothing else was touched: listing is the Lambdas' work, and deployed mode writes no run files.
    assert depth(sqs, stack.outputs["CopyQueueUrl"]) == 0
    assert list(tmp_path.iterdir()) == []


def test_deployed_seed_json_with_ranges(make_stack: Callable[..., Deployed], run_cli: Callable[..., Result], sqs: Any) -> None:
    stack = make_stack("seed8")

    # s3:// forms are accepted for both buckets.
    result = run_cli("--bucket", f"s3://{stack.source}", "--dest", f"s3://{stack.dest}/", "--stack-name", stack.name, "--ranges", "8", "--json")

    assert result.returncode == 0, result
    report = result.json()
    assert report == {
        "job_id": report["job_id"],
        "stack": stack.name,
        "ranges": 8,
        "source": f"s3://{stack.source}/",
        "destination": f"s3://{stack.dest}/",
    }
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", report["job_id"])
    assert_partition(list_tasks_on(sqs, stack), report["job_id"], stack, 8)


def test_each_deployed_seed_is_its_own_job(make_stack: Callable[..., Deployed], run_cli: Callable[..., Result], sqs: Any) -> None:
    stack = make_stack("twice")

    first = run_cli("--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name, "--ranges", "3", "--json")
    second = run_cli("--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name, "--ranges", "5", "--json")

    assert (first.returncode, second.returncode) == (0, 0), (first, second)
    assert first.json()["job_id"] != second.json()["job_id"]
    by_job: dict[str, list[ListTask]] = {}
    for task in list_tasks_on(sqs, stack):
        by_job.setdefault(task.job_id, []).append(task)
    assert set(by_job) == {first.json()["job_id"], second.json()["job_id"]}
    assert_partition(by_job[first.json()["job_id"]], first.json()["job_id"], stack, 3)
    assert_partition(by_job[second.json()["job_id"]], second.json()["job_id"], stack, 5)


# ---------------------------------------------------------------- 2. local workers on a stack


def test_local_workers_drain_the_stacks_queues(make_stack: Callable[..., Deployed], run_cli: Callable[..., Result], s3: Any, sqs: Any, tmp_path: Path) -> None:
    stack = make_stack("local")
    bodies = fill_source(s3, stack.source)

    # 32 ranges, as many as BOUNDARY_KEYS sit on the boundaries of (a source this small would be one).
    result = run_cli("--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name, "--local", "--workers", "2", "--ranges", "32", "--no-progress", "--json")

    assert result.returncode == 0, result
    report = result.json()
    assert report["failed_keys"] == 0, report
    assert report["failed_ranges"] == 0, report
    assert report["objects_copied"] == len(bodies), report
    assert report["keys_listed"] == len(bodies), report
    assert report["bytes_copied"] == sum(map(len, bodies.values())), report
    assert report["mode"] == "local"
    assert report["job_id"] in result.stderr
    assert_same_objects(s3, stack, bodies)
    # The workers used the stack's own queues (the only ones with this stack's name), and drained them.
    for output in ("ListQueueUrl", "CopyQueueUrl", "ListDeadLetterQueueUrl", "CopyDeadLetterQueueUrl"):
        assert depth(sqs, stack.outputs[output]) == 0, output
    assert not [url for url in sqs.list_queues(QueueNamePrefix="s3fanout").get("QueueUrls", []) if stack.name in url]
    # Its run files went to the working directory.
    failures_file = tmp_path / report["failures_file"]
    assert failures_file.is_file() and failures_file.read_text() == ""
    assert (tmp_path / report["log_file"]).is_file()


def test_cancel_stops_a_queued_job(make_stack: Callable[..., Deployed], run_cli: Callable[..., Result], s3: Any, sqs: Any) -> None:
    stack = make_stack("cancel")
    bodies = fill_source(s3, stack.source)
    # 32 ranges (a source this small would be one): every one of them is dropped unworked.
    queued = run_cli("--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name, "--ranges", "32", "--json")
    job_id = queued.json()["job_id"]

    cancelled = run_cli("cancel", job_id, "--stack-name", stack.name)
    assert cancelled.returncode == 0, cancelled
    assert f"job {job_id} cancelled" in cancelled.stdout
    # The stack's functions (local workers playing them, for a job of their own) then drop the
    # cancelled job's 32 list tasks without listing anything.
    workers = run_cli("--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name, "--local", "--workers", "2", "--no-progress", "--json")
    assert workers.returncode == 0, workers

    shown = run_cli("status", job_id, "--stack-name", stack.name, "--json").json()
    assert (shown["state"], shown["dropped"], shown["listed"], shown["copied"]) == ("cancelled", 32, 0, 0)
    assert shown["finished"] and (shown["list_tasks_open"], shown["copy_messages_open"]) == (0, 0)
    assert workers.json()["objects_copied"] == len(bodies)


# ----------------------------------------------------------------------------- 3. refusals


def assert_nothing_queued(sqs: Any, stack: Deployed) -> None:
    for output in ("ListQueueUrl", "CopyQueueUrl"):
        assert depth(sqs, stack.outputs[output]) == 0, output
        assert receive_all(sqs, stack.outputs[output], delete=False) == []


def test_refuses_an_unknown_stack(make_stack: Callable[..., Deployed], run_cli: Callable[..., Result], sqs: Any) -> None:
    stack = make_stack("known")
    missing = f"{stack.name}-missing"

    result = run_cli("--bucket", stack.source, "--dest", stack.dest, "--stack-name", missing)

    assert_one_line_error(result, f"stack '{missing}' does not exist")
    assert_nothing_queued(sqs, stack)


@pytest.mark.parametrize("role", ["source", "destination"])
def test_refuses_a_bucket_the_stack_does_not_allow(make_stack: Callable[..., Deployed], run_cli: Callable[..., Result], s3: Any, sqs: Any, role: str) -> None:
    stack = make_stack("allow")
    other = f"{stack.name}-other"
    s3.create_bucket(Bucket=other)
    source, dest = (other, stack.dest) if role == "source" else (stack.source, other)

    result = run_cli("--bucket", source, "--dest", dest, "--stack-name", stack.name)

    allowed = stack.source if role == "source" else stack.dest
    assert_one_line_error(result, f"stack '{stack.name}'", f"{role} bucket '{allowed}'", f"not '{other}'")
    assert_nothing_queued(sqs, stack)


@pytest.mark.parametrize("missing", ["source", "destination"])
def test_refuses_a_bucket_that_does_not_exist(make_stack: Callable[..., Deployed], run_cli: Callable[..., Result], s3: Any, sqs: Any, missing: str) -> None:
    # The stack was deployed for this bucket, which has since gone (or never existed).
    stack = make_stack(f"no{missing[:3]}", create_buckets=False)
    s3.create_bucket(Bucket=stack.dest if missing == "source" else stack.source)

    result = run_cli("--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name)

    gone = stack.source if missing == "source" else stack.dest
    assert_one_line_error(result, f"{missing} bucket '{gone}' does not exist")
    assert_nothing_queued(sqs, stack)


@pytest.fixture
def any_bucket_stack(make_stack: Callable[..., Deployed]) -> Deployed:
    """A stack deployed with SourceBucket = DestinationBucket = "*": the CLI's own checks decide."""
    return make_stack("any", source="*", dest="*", create_buckets=False)


def test_any_bucket_stack_refuses_a_missing_source(any_bucket_stack: Deployed, run_cli: Callable[..., Result], s3: Any, sqs: Any) -> None:
    missing, dest = f"{any_bucket_stack.name}-nosuch", f"{any_bucket_stack.name}-dst"
    s3.create_bucket(Bucket=dest)

    result = run_cli("--bucket", missing, "--dest", dest, "--stack-name", any_bucket_stack.name)

    assert_one_line_error(result, f"source bucket '{missing}' does not exist")
    assert_nothing_queued(sqs, any_bucket_stack)


def test_refuses_source_equal_to_destination(any_bucket_stack: Deployed, run_cli: Callable[..., Result], s3: Any, sqs: Any) -> None:
    bucket = f"{any_bucket_stack.name}-same"
    s3.create_bucket(Bucket=bucket)

    result = run_cli("--bucket", bucket, "--dest", f"s3://{bucket}/", "--stack-name", any_bucket_stack.name)

    assert_one_line_error(result, "source and destination are the same bucket", f"'{bucket}'")
    assert_nothing_queued(sqs, any_bucket_stack)


def test_refuses_source_equal_to_destination_on_a_stack_deployed_so(make_stack: Callable[..., Deployed], run_cli: Callable[..., Result], s3: Any, sqs: Any) -> None:
    name = unique("same")
    s3.create_bucket(Bucket=name)
    stack = make_stack("same", source=name, dest=name, create_buckets=False)

    result = run_cli("--bucket", name, "--dest", name, "--stack-name", stack.name)

    assert_one_line_error(result, "source and destination are the same bucket", f"'{name}'")
    assert_nothing_queued(sqs, stack)


@pytest.mark.parametrize("bad", ["Upper_Case", "ab", "-leading-dash", "192.168.1.1", "a..b", "x" * 64])
def test_refuses_an_invalid_bucket_name(any_bucket_stack: Deployed, run_cli: Callable[..., Result], s3: Any, sqs: Any, bad: str) -> None:
    dest = f"{any_bucket_stack.name}-dst"
    s3.create_bucket(Bucket=dest)

    # --bucket=... so that argparse takes "-leading-dash" for a value, not an option.
    result = run_cli(f"--bucket={bad}", "--dest", dest, "--stack-name", any_bucket_stack.name)

    assert_one_line_error(result, f"'{bad}' is not a valid S3 bucket name")
    assert_nothing_queued(sqs, any_bucket_stack)


def test_refuses_a_bucket_given_with_a_path(any_bucket_stack: Deployed, run_cli: Callable[..., Result], sqs: Any) -> None:
    result = run_cli("--bucket", "s3://some-bucket/some/path", "--dest", "other-bucket", "--stack-name", any_bucket_stack.name)

    assert_one_line_error(result, "'s3://some-bucket/some/path' names a path", "--prefix")
    assert_nothing_queued(sqs, any_bucket_stack)


# ------------------------------------------------------------------------------ 4. dlq list


def put_dead_letters(sqs: Any, stack: Deployed, job_id: str, failures: dict[str, KeyFailure], *, by_copier: bool = True) -> None:
    """A copy DLQ message as the copier sends it for keys it gave up on (marked as such), or, with
    by_copier=False, a retried batch that SQS moved there after its deliveries kept failing."""
    batch = CopyBatch(job_id, stack.source, stack.dest, tuple(CopyItem(key, 7, '"etag"', failure) for key, failure in failures.items()))
    marks = dead_letter_attributes("copier") if by_copier else {}
    attributes = {name: {"DataType": "String", "StringValue": value} for name, value in marks.items()}
    sqs.send_message(QueueUrl=stack.outputs["CopyDeadLetterQueueUrl"], MessageBody=stack_key(sqs.meta.endpoint_url, stack).seal(batch.to_json()), MessageAttributes=attributes)


def stack_key(endpoint: str, stack: Deployed) -> MessageKey:
    """The stack's message key, as the functions and the operator read it from its secret."""
    secret = client("secretsmanager", endpoint).get_secret_value(SecretId=stack.outputs["MessageKeySecretArn"])
    return MessageKey(secret["SecretString"].encode())


def test_dlq_list_shows_failed_keys_without_consuming_them(make_stack: Callable[..., Deployed], run_cli: Callable[..., Result], sqs: Any) -> None:
    stack = make_stack("dlq")

    fresh = run_cli("dlq", "list", "--stack-name", stack.name, "--json")
    assert (fresh.returncode, fresh.stdout, fresh.stderr) == (0, "", "")

    job_id, other_job = "20240501-100000-abcdef", "20240502-110000-012345"
    failures = {
        "gone/日本語 key.txt": KeyFailure("NoSuchKey", "The specified key does not exist.", 5, "2024-05-01T10:00:00+00:00", "2024-05-01T10:20:00+00:00"),
        "changed.bin": KeyFailure("SourceChanged", "the source object changed after it was listed", 1, "2024-05-01T10:01:00+00:00", "2024-05-01T10:01:00+00:00"),
    }
    put_dead_letters(sqs, stack, job_id, failures)
    # A retried batch of another job that SQS moved to the DLQ after its copier kept crashing.
    crashed = KeyFailure("SlowDown", "Please reduce your request rate.", 2, "2024-05-02T11:00:00+00:00", "2024-05-02T11:05:00+00:00")
    put_dead_letters(sqs, stack, other_job, {"crashed?#.txt": crashed}, by_copier=False)

    outputs = []
    for _ in range(2):
        listed = run_cli("dlq", "list", "--stack-name", stack.name, "--json")
        assert listed.returncode == 0, listed
        assert listed.stderr == ""
        outputs.append(listed.stdout)
    assert outputs[0] == outputs[1], "dlq list consumed or changed the dead letters"
    lines = outputs[0].splitlines()
    assert len(lines) == 3
    letters = {letter["key"]: letter for letter in map(json.loads, lines)}
    assert set(letters) == set(failures) | {"crashed?#.txt"}
    for key, failure in failures.items():
        letter = letters[key]
        assert (letter["code"], letter["message"], letter["attempts"]) == (failure.code, failure.message, failure.attempts)
        assert (letter["job_id"], letter["source_bucket"], letter["dest_bucket"], letter["queue"]) == (job_id, stack.source, stack.dest, "copy")
        assert (letter["first_failed"], letter["last_failed"]) == (failure.first_failed, failure.last_failed)
    batch_failed = letters["crashed?#.txt"]
    assert (batch_failed["code"], batch_failed["job_id"], batch_failed["attempts"]) == ("BatchFailed", other_job, None)
    assert "failed on every delivery" in batch_failed["message"]
    assert str(crashed) in batch_failed["message"], "the key's earlier error is lost"
    # Non-ASCII keys come out readable, not as \u escapes.
    assert "日本語" in outputs[0]
    # Still on the queue: a peek, not a receive.
    assert depth(sqs, stack.outputs["CopyDeadLetterQueueUrl"]) == 2

    text = run_cli("dlq", "list", "--stack-name", stack.name)
    assert text.returncode == 0, text
    assert text.stdout.startswith("3 failures: ")
    for key, letter in letters.items():
        line = next(line for line in text.stdout.splitlines() if key in line)
        assert f"s3://{stack.source}/{key}" in line
        assert letter["code"] in line and letter["message"] in line and letter["job_id"] in line

    # --job keeps one job's failures only.
    one_job = run_cli("dlq", "list", "--stack-name", stack.name, "--json", "--job", job_id)
    assert one_job.returncode == 0, one_job
    assert sorted(json.loads(line)["key"] for line in one_job.stdout.splitlines()) == sorted(failures)


def test_dlq_list_refuses_an_unknown_stack(run_cli: Callable[..., Result]) -> None:
    missing = unique("nostack")

    result = run_cli("dlq", "list", "--stack-name", missing, "--json")

    assert_one_line_error(result, f"stack '{missing}' does not exist")


# ------------------------------------------------------------------------------------ 5. --wait


class Waiter:
    """The deployed seed with --wait in the background: stdout to a file in cwd, stderr read line
    by line as the CLI writes it, so a test can wait for what it says instead of polling a file."""

    def __init__(self, endpoint: str, cwd: Path, *args: str) -> None:
        self.out_path = cwd / "waiter.stdout"
        with self.out_path.open("wb") as out:
            self.process = subprocess.Popen(
                seed_command(*args, "--wait", "--no-progress"),
                env=cli_env(endpoint),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
            )
        self._lines: list[str] = []
        self._closed = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_for_text(self, text: str, timeout: float) -> str:
        """Everything written to stderr once it holds ``text``."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or text in "".join(self._lines), timeout=timeout)
            content = "".join(self._lines)
        if text not in content:
            exited = f"the process exited with {self.process.poll()}" if self._closed else f"still running after {timeout} s"
            pytest.fail(f"no {text!r} on stderr ({exited}): {content}")
        return content

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) once the CLI has exited by itself."""
        returncode = self.process.wait(timeout=timeout)
        self._reader.join(timeout=30)
        return returncode, self.out_path.read_text(encoding="utf-8"), "".join(self._lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def seeded_job(waiter: Waiter, stack: Deployed) -> str:
    seeded = waiter.wait_for_text("following the job's record", timeout=60)
    match = re.search(r"job (\S+): \d+ key ranges? of s3://\S+ queued on stack '([^']+)'", seeded)
    assert match and match.group(2) == stack.name, seeded
    return match.group(1)


@dataclass
class WaitRun:
    stack: Deployed
    bodies: dict[str, bytes]
    job_id: str
    returncode: int
    stdout: str
    stderr: str
    workers: Result


@pytest.fixture(scope="module")
def drained_wait(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> WaitRun:
    """`--wait --json` on a stack while, in parallel, local workers drain the stack's queues."""
    stack = new_stack(moto_endpoint, "wait")
    bodies = fill_source(client("s3", moto_endpoint), stack.source)
    cwd = tmp_path_factory.mktemp("wait")
    waiter = Waiter(moto_endpoint, cwd, "--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name, "--ranges", "32", "--json")
    try:
        # Once the waiter has seeded its job, local workers play the stack's Lambdas (and seed a
        # second job of the same buckets) while the waiter watches the queues.
        job_id = seeded_job(waiter, stack)
        assert waiter.process.poll() is None, "--wait returned before the queues drained"
        workers = run_seed(moto_endpoint, cwd, "--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name, "--local", "--workers", "2", "--no-progress", "--json")
        returncode, stdout, stderr = waiter.finish(timeout=WAIT_TIMEOUT_SECONDS)
    finally:
        waiter.stop()
    return WaitRun(stack, bodies, job_id, returncode, stdout, stderr, workers)


def test_wait_follows_the_stack_until_drained(drained_wait: WaitRun, s3: Any, sqs: Any) -> None:
    run, stack = drained_wait, drained_wait.stack
    assert run.workers.returncode == 0, run.workers
    assert run.workers.json()["failed_keys"] == 0
    assert run.returncode == 0, (run.stdout, run.stderr)
    report = json.loads(run.stdout)
    assert report["job_id"] == run.job_id
    assert report["mode"] == f"stack {stack.name}"
    assert report["state"] == "succeeded"
    assert (report["failed_keys"], report["failed_ranges"]) == (0, 0), report
    assert (report["source"], report["destination"]) == (f"s3://{stack.source}/", f"s3://{stack.dest}/")
    # The job's record counts what the functions did for this job: every key was listed, and each
    # was either copied for it or (copied first for the other job on the same buckets) skipped.
    assert report["keys_listed"] == len(run.bodies)
    assert report["objects_copied"] + report["keys_skipped"] == len(run.bodies), report
    assert report["bytes_listed"] == sum(len(body) for body in run.bodies.values())
    assert "Traceback" not in run.stderr
    for output in ("ListQueueUrl", "CopyQueueUrl", "ListDeadLetterQueueUrl", "CopyDeadLetterQueueUrl"):
        assert depth(sqs, stack.outputs[output]) == 0, output
    assert_same_objects(s3, stack, run.bodies)


def test_status_and_jobs_read_the_stacks_records(drained_wait: WaitRun, moto_endpoint: str, tmp_path: Path) -> None:
    run, stack = drained_wait, drained_wait.stack
    status = run_seed(moto_endpoint, tmp_path, "status", run.job_id, "--stack-name", stack.name, "--json")
    assert status.returncode == 0, status
    shown = status.json()
    report = json.loads(run.stdout)
    assert (shown["job_id"], shown["state"], shown["listed"], shown["copied"], shown["skipped"], shown["failed"]) == (
        run.job_id, "succeeded", report["keys_listed"], report["objects_copied"], report["keys_skipped"], 0
    )
    assert shown["started"] and shown["finished"] and shown["bytes_copied"] == report["bytes_copied"]
    jobs = run_seed(moto_endpoint, tmp_path, "jobs", "--stack-name", stack.name, "--json")
    assert jobs.returncode == 0, jobs
    # Two jobs ran on the stack: the waiter's and the local workers' own.
    assert run.job_id in [job["job_id"] for job in jobs.json()] and len(jobs.json()) == 2


def drain_as_listers(sqs: Any, stack: Deployed, waiter: Waiter, job_id: str, moto_endpoint: str) -> None:
    """Consume the job's seeded list tasks (one: its source is empty) as listers of empty ranges
    would (settling each in the job's record), while --wait waits."""
    tasks = [task for task in list_tasks_on(sqs, stack) if task.job_id == job_id]
    assert len(tasks) == 1, tasks
    table = JobTable(client("dynamodb", moto_endpoint), stack.outputs["JobTableName"])
    for number, _ in enumerate(tasks):
        table.settle(job_id, f"list-task-{number}", "list", Counts())
    assert depth(sqs, stack.outputs["ListQueueUrl"]) == 0
    assert waiter.process.poll() is None, "--wait returned before the queues drained"


def test_wait_reports_the_jobs_dead_letters(make_stack: Callable[..., Deployed], moto_endpoint: str, sqs: Any, tmp_path: Path) -> None:
    stack = make_stack("waitfail")
    waiter = Waiter(moto_endpoint, tmp_path, "--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name)
    try:
        job_id = seeded_job(waiter, stack)
        # The job's copier gave up on one key; another job's dead letter must not count.
        put_dead_letters(sqs, stack, job_id, {"lost é key": KeyFailure("AccessDenied", "Access Denied", 5, "2024-05-01T10:00:00+00:00", "2024-05-01T10:20:00+00:00")})
        put_dead_letters(sqs, stack, "20240101-000000-000000", {"not this job": KeyFailure("NoSuchKey", "gone", 5, "2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00+00:00")})
        drain_as_listers(sqs, stack, waiter, job_id, moto_endpoint)
        returncode, stdout, stderr = waiter.finish(timeout=WAIT_TIMEOUT_SECONDS)
    finally:
        waiter.stop()

    assert returncode == 1, (stdout, stderr)
    assert stdout.startswith(f"job {job_id}: s3://{stack.source}/ -> s3://{stack.dest}/ (stack {stack.name}) finished in "), stdout
    assert "  failed  1 keys" in stdout, stdout
    assert f"AccessDenied: s3://{stack.source}/lost é key: Access Denied" in stderr
    assert "not this job" not in stdout + stderr
    assert "Traceback" not in stderr


def test_wait_interrupted_exits_130(make_stack: Callable[..., Deployed], moto_endpoint: str, tmp_path: Path) -> None:
    stack = make_stack("waitint")
    waiter = Waiter(moto_endpoint, tmp_path, "--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name, "--json")
    try:
        # It says it is waiting right before its first poll of the queues: Ctrl-C from then on
        # interrupts the wait.
        seeded_job(waiter, stack)
        waiter.process.send_signal(signal.SIGINT)
        returncode, stdout, stderr = waiter.finish(timeout=30)
    finally:
        waiter.stop()

    assert returncode == 130, stderr
    assert stderr.splitlines()[-1] == "python -m seed: interrupted"
    assert "Traceback" not in stderr
    assert stdout == ""


# ------------------------------------------------- a source in another store --

OTHER_STORE_KEYS = {"aws_access_key_id": "AKIAOTHERSTORE000001", "aws_secret_access_key": "secret-of-the-other-store"}


def test_a_stack_reads_its_source_from_another_store_with_the_secrets_keys(moto_endpoint: str, run_cli: Callable[..., Result], s3: Any, tmp_path: Path) -> None:
    """SourceEndpointUrl and SourceCredentialsSecretArn: the CLI checks the source where the stack
    reads it, with the secret's keys, and the workers playing the stack's functions stream every
    object from that store into the destination, with its tags; a second run copies nothing."""
    with EmbeddedMoto() as other_store:
        name = unique("elsewhere")
        source, dest = f"{name}-src", f"{name}-dst"
        elsewhere = client("s3", other_store.url)
        elsewhere.create_bucket(Bucket=source)
        s3.create_bucket(Bucket=dest)
        secret = client("secretsmanager", moto_endpoint).create_secret(Name=f"{name}-source-keys", SecretString=json.dumps(OTHER_STORE_KEYS))["ARN"]
        parameters = {"SourceBucket": source, "DestinationBucket": dest, "SourceEndpointUrl": other_store.url, "SourceCredentialsSecretArn": secret}
        outputs = deploy_stack(moto_endpoint, name, parameters, enforce_rules=True)
        assert (outputs["SourceEndpointUrl"], outputs["SourceCredentialsSecretArn"], outputs["SourceBucketOwner"]) == (other_store.url, secret, "")
        keys = AWKWARD_KEYS[:16] + ZERO_BYTE_KEYS
        bodies = {key: b"" if key in ZERO_BYTE_KEYS else key.encode() * 3 for key in keys}
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda key: elsewhere.put_object(Bucket=source, Key=key, Body=bodies[key], Tagging=TAGGING), keys))
        args = ["--bucket", source, "--dest", dest, "--stack-name", name, "--local", "--workers", "2", "--no-progress", "--json"]

        first = run_cli(*args)

        assert first.returncode == 0, first.stderr
        report = first.json()
        total = sum(map(len, bodies.values()))
        assert (report["objects_copied"], report["bytes_streamed"], report["failed_keys"]) == (len(keys), total, 0), report
        assert objects(s3, dest) == objects(elsewhere, source)
        with ThreadPoolExecutor(max_workers=8) as pool:
            tags = list(pool.map(lambda key: s3.get_object_tagging(Bucket=dest, Key=key)["TagSet"], keys))
        assert all({t["Key"]: t["Value"] for t in tag_set} == TAGS for tag_set in tags)
        summary = json.loads(next(tmp_path.glob("s3fanout-runs/*/summary.json")).read_text(encoding="utf-8"))
        assert (summary["options"]["source_endpoint_url"], summary["options"]["source_credentials_secret_arn"]) == (other_store.url, secret)
        assert OTHER_STORE_KEYS["aws_secret_access_key"] not in json.dumps(summary), "no key is recorded"

        second = run_cli(*args)

        assert second.returncode == 0, second.stderr
        assert (second.json()["objects_copied"], second.json()["keys_skipped"]) == (0, len(keys))


def test_a_stack_whose_source_secret_cannot_be_read_is_one_line(moto_endpoint: str, run_cli: Callable[..., Result], s3: Any, sqs: Any) -> None:
    name = unique("nosecret")
    source, dest = f"{name}-src", f"{name}-dst"
    for bucket in (source, dest):
        s3.create_bucket(Bucket=bucket)
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-keys-AbCdEf"
    outputs = deploy_stack(moto_endpoint, name, {"SourceBucket": source, "DestinationBucket": dest, "SourceEndpointUrl": "http://127.0.0.1:9", "SourceCredentialsSecretArn": missing})

    result = run_cli("--bucket", source, "--dest", dest, "--stack-name", name)

    assert result.returncode == 2, result
    [line] = result.stderr.strip().splitlines()
    assert f"stack '{name}' reads its source with the keys in a secret, and cannot read the credentials secret {missing} (ResourceNotFoundException)" in line
    assert depth(sqs, outputs["ListQueueUrl"]) == 0, "nothing was queued"
