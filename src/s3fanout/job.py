"""A copy job: what it copies (JobSpec), its id, its seeding onto the list queue, the failures
file it leaves, and, for local jobs, the record of its scope. (Its checks before it is queued:
preflight.py.)"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from s3fanout.dlq import DeadLetter
from s3fanout.guard import Scope
from s3fanout.keyspace import seed_ranges
from s3fanout.messages import DEFAULT_COPY_OPTIONS, CopyOptions, ListTask
from s3fanout.outbox import Outbox
from s3fanout.signing import local_state_dir

DEFAULT_RANGES = 32


class JobError(ValueError):
    """Input a job cannot start with; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    source_bucket: str
    dest_bucket: str
    prefix: str = ""
    ranges: int = DEFAULT_RANGES
    # False copies every key without comparing with the destination (--force).
    compare: bool = True
    # The buckets' regions, found by the pre-flight checks (None: the functions' own region).
    source_region: str | None = None
    dest_region: str | None = None
    # How the copies are written (--storage-class, --sse, ...); carried in every message.
    copy_options: CopyOptions = DEFAULT_COPY_OPTIONS


def new_job_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def list_tasks(job_id: str, spec: JobSpec, mode: str = "copy") -> list[ListTask]:
    return [
        ListTask(
            job_id,
            spec.source_bucket,
            spec.dest_bucket,
            spec.prefix,
            key_range.after,
            key_range.until,
            mode=mode,
            compare=spec.compare,
            source_region=spec.source_region,
            dest_region=spec.dest_region,
            options=spec.copy_options,
        )
        for key_range in seed_ranges(spec.prefix, spec.ranges)
    ]


def seed(outbox: Outbox, job_id: str, spec: JobSpec, mode: str = "copy") -> int:
    """Put one ListTask per key range of the job on the list queue, sealed and counted open;
    return how many.

    ``mode`` "delete" seeds the orphan pass, which a job runs only after its copies all succeeded:
    this seal is what lets a lister delete (signing.py).
    """
    tasks = list_tasks(job_id, spec, mode)
    outbox.list_tasks(tasks)
    return len(tasks)


def write_failures(path: Path, letters: Iterable[DeadLetter]) -> int:
    """Write failed keys as JSON lines; return how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for letter in letters:
            out.write(json.dumps(letter.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def _scope_file(job_id: str) -> Path:
    return local_state_dir() / "jobs" / f"{job_id}.json"


def record_local_scope(job_id: str, scope: Scope) -> None:
    """Remember a local job's scope, so that a later `dlq redrive --local` runs its failures
    with the same buckets, prefix and delete permission and no others."""
    path = _scope_file(job_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps(scope.to_env()), encoding="utf-8")


def local_scope(job_id: str) -> Scope | None:
    """The scope recorded for a local job, or None when this machine has no record of it."""
    try:
        return Scope.from_env(json.loads(_scope_file(job_id).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
