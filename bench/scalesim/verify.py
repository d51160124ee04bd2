"""bench/scale --verify: the real list_range against the mirrored loop, on model-backed clients.

The real list_range runs over every task of a job (one lister at a time, FIFO) with fake S3 and
SQS clients backed by the model and a clock that advances by the assumed latency of each
request; the mirror (mirror.py) runs over the same job. Both must count the same invocations,
split-offs, hand-ons, LIST pages, destination LISTs, probes, copy batches, keys, lister ms and
looks at the copy queue (copyspread.CopySpread, here with nothing waiting).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from s3fanout.copyspread import Backlog, CopySpread
from s3fanout.job import JobSpec, fitted_ranges, list_tasks
from s3fanout.keyspace import seed_ranges
from s3fanout.lister import BATCHES_PER_PART, list_range
from s3fanout.messages import COPY_BATCH_MAX_KEYS, CopyBatch, ListTask
from s3fanout.outbox import Outbox
from s3fanout.signing import MessageKey

from .assumptions import Assumptions, object_size_mean
from .mirror import Counters, Task, run_invocation
from .model import KeySet, ModelS3, make_keyset

# list_range seals what it sends; the verification opens it again.
BENCH_KEY = MessageKey(b"bench-scale")


class ModelSQS:
    def __init__(self) -> None:
        self.bodies: dict[str, list[str]] = {}
        self.requests = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's names
        self.requests += 1
        self.bodies.setdefault(QueueUrl, []).extend(e["MessageBody"] for e in Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def verify(distributions: list[str], n: int, a: Assumptions) -> list[dict[str, Any]]:
    """For each distribution, the real list_range's counts, the mirror's, and whether they agree."""
    rows = []
    for distribution in distributions:
        ks = make_keyset(distribution, n)
        real, sim = real_job(ks, a), mirrored_job(ks, a)
        rows.append({"distribution": distribution, "keys": n, "real": real, "simulated": sim, "agree": real == sim})
    return rows


def resync(distributions: list[str], n: int, a: Assumptions) -> list[dict[str, Any]]:
    """For each distribution, the real list_range's requests over a job whose destination already
    holds every key (a re-run after a finished copy), seeded as the CLI seeds: all LIST requests,
    no copy."""
    return [{"distribution": d, "keys": n, "real": real_job(make_keyset(d, n), a, dest_full=True, fitted=True)} for d in distributions]


def real_job(ks: KeySet, a: Assumptions, dest_full: bool = False, fitted: bool = False) -> dict[str, int]:
    """A whole job listed by the real list_range, its tasks run one after another. ``fitted``
    seeds it as the CLI does (job.fitted_ranges: both sides' first pages and probes, counted
    with the listers' requests); else one task per seed range, as the mirror seeds."""
    s3 = ModelS3(ks, a, int(object_size_mean(a.object_size)), dest_full)
    if fitted:
        spec = fitted_ranges(JobSpec("src", "dst", ranges=a.seed_ranges, fit_ranges=True), s3, [s3])
        queue = deque(list_tasks("verify", spec))
    else:
        queue = deque(ListTask("verify", "src", "dst", "", r.after, r.until) for r in seed_ranges("", a.seed_ranges))
    invocations = split_off = hand_ons = batches = keys = lister_ms = looks = 0
    while queue:
        task = queue.popleft()
        sqs = ModelSQS()
        s3.clock = 0

        def remaining_ms(s3: ModelS3 = s3) -> int:
            return a.lister_timeout_s * 1000 - s3.clock

        spread = CopySpread(lambda: Backlog(0), a.copy_max_concurrency, remaining_ms, BATCHES_PER_PART) if a.copy_spread else None
        outcome = list_range(
            task,
            s3=s3,
            outbox=Outbox(sqs, BENCH_KEY, "list", "copy"),
            remaining_ms=remaining_ms,
            stop_margin_ms=a.stop_margin_ms,
            spread=spread,
        )
        invocations += 1
        looks += spread.looks if spread else 0
        # What it put back on the list queue: the rest of its range if it ran short, split-offs.
        handed_on = outcome.handed_on is not None
        new_tasks = [ListTask.from_json(BENCH_KEY.open(body)) for body in sqs.bodies.get("list", [])]
        hand_ons += handed_on
        split_off += len(new_tasks) - handed_on
        lister_ms += s3.clock
        queue.extend(new_tasks)
        copies = [CopyBatch.from_json(BENCH_KEY.open(body)) for body in sqs.bodies.get("copy", [])]
        batches += len(copies)
        keys += sum(len(b.items) for b in copies)
    return {
        "invocations": invocations, "split_off": split_off, "hand_ons": hand_ons,
        "list_pages": s3.pages, "dest_lists": s3.dest_lists, "probes": s3.probes,
        "copy_batches": batches, "keys": keys, "lister_ms": lister_ms, "copy_queue_looks": looks,
    }  # fmt: skip


def mirrored_job(ks: KeySet, a: Assumptions) -> dict[str, int]:
    """The same job through the mirror, copy batches packed as the packer does (by count)."""
    c = Counters()
    tasks = deque(Task(r.after, r.until, ks.rank(r.after), ks.upper(r.until)) for r in seed_ranges("", a.seed_ranges))
    keys = 0
    while tasks:
        invocation = run_invocation(tasks.popleft(), ks, a, c)
        tasks.extend(task for _, task in invocation.new_tasks)
        keys += sum(r1 - r0 for _, r0, r1, _, _ in invocation.emits)
        pending = 0
        for _, r0, r1, flush, _ in invocation.emits:
            pending += r1 - r0
            full, pending = divmod(pending, COPY_BATCH_MAX_KEYS)
            c.records += full
            if flush and pending:
                c.records, pending = c.records + 1, 0
    return {
        "invocations": c.invocations, "split_off": c.split_off, "hand_ons": c.hand_ons,
        "list_pages": c.list_pages, "dest_lists": c.dest_lists, "probes": c.probes,
        "copy_batches": c.records, "keys": keys, "lister_ms": c.lister_ms, "copy_queue_looks": c.looks,
    }  # fmt: skip
