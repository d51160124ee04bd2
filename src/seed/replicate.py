"""python -m seed replicate --local: bring every destination in sync, then follow the source.

The source bucket is told to send its object events to an event queue of this run (one queue
configuration added to its notification document, every other configuration kept: see
s3fanout/notifications.py) before the first sync starts, so that nothing written meanwhile is
missed. Each destination then gets an ordinary sync job (local workers), and from then on every
event is applied to every destination by replication.apply_batch, whose rule keeps a destination
from ever going back in time whatever the order of the events. SIGINT or SIGTERM finishes the
events in hand, removes our configuration and the queue, prints what was done and exits 0.

The event queue is on the configured SQS endpoint, where the source's S3 can deliver to it: AWS's
for a bucket in AWS, the same server for moto or LocalStack.

Deployed (a stack with Replication=true): `replicate enable --stack-name S` adds our queue
configuration, pointing at the stack's EventQueue, to the source bucket's notification document
(the stack's ReplicateEventsFunction applies the events); `disable` removes only ours; `status`
says whether ours is there, how many events wait and how old the oldest is, and how many failed.
Enabling runs no first sync: an ordinary job (`python -m seed ... --wait`) does that.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

from s3fanout import clients
from s3fanout.copying.batch import copy_batch
from s3fanout.job import DestinationSpec, JobSpec
from s3fanout.jobqueues import default_stack_name, describe_stack, queue_depths
from s3fanout.messages import CopyBatch, CopyItem
from s3fanout.notifications import NotificationError, config_id_for, current, disable, enable
from s3fanout.preflight import check_names
from s3fanout.replication import InvalidEvent, ObjectEvent, Outcome, apply_batch, parse_message
from s3fanout.s3errors import S3Failure
from seed.arguments import bucket_argument, prefix_argument
from seed.console import PROG, ExitStatus, OneLineParser, UsageError, progress_wanted, say
from seed.report import print_report
from seed.runner import JobOptions, WorkerOptions, run_local_job

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# How long one receive waits for events: also the longest a signal waits for the loop to notice.
RECEIVE_WAIT_SECONDS = 2
# An event whose application failed transiently is delivered again after this long.
EVENT_VISIBILITY_SECONDS = 30


def replicate_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=f"{PROG} replicate",
        description=(
            "Bring each destination in sync with the source, then copy every object created or overwritten in the source "
            "to each destination (and, with --delete, delete there each object deleted in the source) until interrupted."
        ),
        epilog="exit status: 0 stopped by SIGINT/SIGTERM after finishing the events in hand, 1 the first sync failed, 2 bad input",
    )
    parser.add_argument("--bucket", required=True, metavar="SRC", help="source bucket (name or s3://name)")
    parser.add_argument("--dest", required=True, action="append", metavar="DST", help="destination bucket; repeat for several")
    parser.add_argument("--prefix", type=prefix_argument, default="", help="replicate only keys starting with this prefix (default: all keys)")
    parser.add_argument("--delete", action="store_true", help="delete in each destination what the source deletes (and, in the first sync, its orphans)")
    parser.add_argument("--local", action="store_true", help="run on this machine (a deployed stack's replication: replicate enable|disable|status --stack-name S)")
    parser.add_argument("--workers", type=int, default=4, metavar="N", help="local workers of the first sync (default: 4)")
    parser.add_argument("--region", help="AWS region (default: the usual AWS configuration)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress display, even on a terminal")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parser


@dataclass
class Tally:
    """What the run did: events received, and per destination each outcome."""

    events: int = 0
    invalid: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    # Seconds from an event's time to its application, the largest so far.
    max_lag: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "invalid_messages": self.invalid, "outcomes": dict(self.outcomes), "failed": len(self.failures), "max_lag_seconds": round(self.max_lag, 3)}


def replicate_main(argv: list[str]) -> int:
    if argv and argv[0] in DEPLOYED_ACTIONS:
        return deployed_main(argv[0], argv[1:])
    args = replicate_parser().parse_args(argv)
    if not args.local:
        raise UsageError(f"replicate --bucket runs with --local; for a stack deployed with Replication=true: {PROG} replicate enable|disable|status --stack-name S")
    clients.use_region(args.region)
    source = bucket_argument(args.bucket)
    dests = list(dict.fromkeys(bucket_argument(dest) for dest in args.dest))
    for dest in dests:
        check_names(JobSpec(source, dest))
    stop = threading.Event()
    tally = Tally()
    with ExitStack() as stack:
        stack.enter_context(stop_on_signals(stop))
        queue_url, queue_arn = stack.enter_context(event_queue(clients.sqs(), source))
        config_id = config_id_for("replicate-" + queue_url.rsplit("-", 1)[-1])
        stack.enter_context(notifications(clients.s3(), source, queue_arn, args.prefix, config_id))
        say(f"{PROG}: events of s3://{source}/{args.prefix} go to {queue_arn} (notification configuration {config_id})")
        # The first sync: one job of every destination, the source listed once for all.
        spec = JobSpec(source, dests[0], args.prefix, more_dests=tuple(DestinationSpec(dest) for dest in dests[1:]), fit_ranges=True)
        options = JobOptions(spec, delete=args.delete, workers=WorkerOptions(workers=args.workers), progress=progress_wanted(args.no_progress or args.json))
        with ExitStack() as job_stack:
            first = run_local_job(options, job_stack)
        if not args.json:
            print_report(first, False)
        for report in first.all_destinations:
            if report.failed_keys or report.failed_ranges:
                say(
                    f"{PROG}: the first sync of {report.destination} left {report.failed_keys} keys and {report.failed_ranges} ranges failed "
                    f"('{PROG} dlq list --local --job {report.job_id}'); following the source anyway"
                )
        say(f"{PROG}: following s3://{source}/{args.prefix} into {', '.join(f's3://{d}' for d in dests)}; Ctrl-C to stop")
        follow(clients.sqs(), queue_url, source, dests, args.prefix, args.delete, stop, tally)
    summary = {"source": f"s3://{source}/{args.prefix}", "destinations": [f"s3://{d}/{args.prefix}" for d in dests], **tally.to_dict()}
    if args.json:
        print(json.dumps(summary | {"failures": tally.failures}, indent=2, ensure_ascii=False))
    else:
        outcomes = ", ".join(f"{name} {count:,}" for name, count in sorted(tally.outcomes.items())) or "nothing applied"
        print(f"replication stopped: {tally.events:,} events; {outcomes}; {len(tally.failures):,} failed; largest lag {tally.max_lag:.1f} s")
        for line in tally.failures[:20]:
            print(f"  {line}", file=sys.stderr)
    return ExitStatus.SUCCESS


def follow(sqs: SQSClient, queue_url: str, source: str, dests: list[str], prefix: str, allow_delete: bool, stop: threading.Event, tally: Tally) -> None:
    """Apply the queue's events to every destination until ``stop`` is set. A message is deleted
    once every destination has it applied (or failed for good); a transient failure leaves it to
    be delivered again, and a delivery after the first reconciles (replication.apply)."""
    source_s3 = clients.s3()
    while not stop.is_set():
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=RECEIVE_WAIT_SECONDS, AttributeNames=["ApproximateReceiveCount"])
        for message in answer.get("Messages", []):
            try:
                events = parse_message(message["Body"])
            except InvalidEvent as error:
                tally.invalid += 1
                tally.failures.append(f"InvalidEvent: {error}")
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                continue
            redelivered = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")) > 1
            done = all([apply_to(dest, events, source_s3, source, prefix, allow_delete, redelivered, tally) for dest in dests])
            if done:
                tally.events += len(events)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def apply_to(dest: str, events: list[ObjectEvent], source_s3: S3Client, source: str, prefix: str, allow_delete: bool, redelivered: bool, tally: Tally) -> bool:
    """Apply a message's events to one destination; False when it must be delivered again."""
    dest_s3 = clients.s3()
    try:
        results = apply_batch(events, source_s3=source_s3, dest_s3=dest_s3, source_bucket=source, dest_bucket=dest, prefix=prefix, allow_delete=allow_delete, reconcile=redelivered)
    except S3Failure as failure:
        if not failure.permanent:
            say(f"{PROG}: {failure.code} applying events to s3://{dest}; they are delivered again in {EVENT_VISIBILITY_SECONDS} s: {failure.message}")
            return False
        tally.failures.append(f"{failure.code}: s3://{dest}: {', '.join(repr(e.key) for e in events)}: {failure.message}")
        return True
    for applied in results:
        applied_outcome = copy_large_object(applied.event, source, dest, source_s3, dest_s3, tally) if applied.outcome is Outcome.NEEDS_MULTIPART else applied.outcome.value
        tally.outcomes[applied_outcome] += 1
        if applied.event.time is not None and applied.outcome is not Outcome.SKIPPED_STALE:
            tally.max_lag = max(tally.max_lag, (datetime.now(UTC) - applied.event.time).total_seconds())
    return True


def copy_large_object(event: ObjectEvent, source: str, dest: str, source_s3: S3Client, dest_s3: S3Client, tally: Tally) -> str:
    """An object above CopyObject's 5 GiB, copied in parts by the copiers' own path, pinned to the
    event's ETag (a newer write fails it as PreconditionFailed: its own event copies it)."""
    item = CopyItem(event.key, event.size or 0, event.etag)
    outcome = copy_batch(CopyBatch("replicate", source, dest, (item,)), s3=dest_s3, source_s3=source_s3)
    if outcome.copied:
        return Outcome.COPIED.value
    failure = (outcome.dead or outcome.retry)[0].failure if (outcome.dead or outcome.retry) else None
    if failure is not None and failure.code in ("412", "PreconditionFailed", "404", "NoSuchKey"):
        return Outcome.SKIPPED_STALE.value
    tally.failures.append(f"{failure.code if failure else 'CopyFailed'}: s3://{dest}/{event.key}: {failure.message if failure else 'not copied'}")
    return "failed"


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (the loop finishes what it holds); a second one stops at once."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        say(f"{PROG}: stopping: finishing the events in hand (again to stop at once)")
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def event_queue(sqs: SQSClient, source: str) -> Iterator[tuple[str, str]]:
    """An SQS queue of this run that the source bucket's S3 may send to (and nothing else), deleted
    at the end: (its URL, its ARN)."""
    name = f"s3fanout-replicate-{secrets.token_hex(4)}"
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(EVENT_VISIBILITY_SECONDS), "SqsManagedSseEnabled": "true"})["QueueUrl"]
    try:
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "SourceBucketEvents",
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:{arn.split(':')[1]}:s3:::{source}"}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        yield url, arn
    finally:
        sqs.delete_queue(QueueUrl=url)


@contextmanager
def notifications(s3: S3Client, bucket: str, queue_arn: str, prefix: str, config_id: str) -> Iterator[None]:
    """Our queue configuration on the source bucket for the run; every other one kept."""
    try:
        enable(s3, bucket, queue_arn, prefix=prefix, config_id=config_id)
    except NotificationError as error:
        raise UsageError(str(error)) from None
    try:
        yield
    finally:
        disable(s3, bucket, config_id)


# Deployed ------------------------------------------------------------------------------------

DEPLOYED_ACTIONS = {
    "enable": "point the source bucket's object events at the stack's event queue (our one configuration; every other one kept)",
    "disable": "remove our configuration from the source bucket's notifications (every other one kept)",
    "status": "whether the bucket sends us its events, how many wait, how old the oldest is, how many failed",
}
# How far back status looks for the event queue's ApproximateAgeOfOldestMessage.
AGE_WINDOW = timedelta(minutes=5)


def deployed_parser(action: str) -> OneLineParser:
    parser = OneLineParser(prog=f"{PROG} replicate {action}", description=f"Deployed replication: {DEPLOYED_ACTIONS[action]}.")
    parser.add_argument("--stack-name", metavar="NAME", help="stack deployed with Replication=true (default: samconfig.toml's stack_name, else s3-fanout)")
    parser.add_argument("--region", help="AWS region (default: the usual AWS configuration)")
    if action == "status":
        parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parser


@dataclass(frozen=True, slots=True)
class StackReplication:
    """What a stack deployed with Replication=true says about its replication (its outputs)."""

    stack_name: str
    source_bucket: str
    dest_bucket: str
    prefix: str
    event_queue_arn: str
    event_queue_url: str
    dead_letter_url: str
    source_owner: str | None

    @property
    def config_id(self) -> str:
        return config_id_for(self.stack_name)

    @classmethod
    def of(cls, stack_name: str) -> StackReplication:
        outputs, _ = describe_stack(clients.cloudformation(), stack_name)
        if not outputs.get("EventQueueArn") or not outputs.get("EventQueueUrl"):
            raise UsageError(f"stack '{stack_name}' has no event queue: redeploy it with Replication=true (sam deploy --parameter-overrides Replication=true)")
        return cls(
            stack_name=stack_name,
            source_bucket=outputs["SourceBucket"],
            dest_bucket=outputs["DestinationBucket"],
            prefix=outputs.get("AllowedPrefix", ""),
            event_queue_arn=outputs["EventQueueArn"],
            event_queue_url=outputs["EventQueueUrl"],
            dead_letter_url=outputs.get("EventDeadLetterQueueUrl", ""),
            source_owner=outputs.get("SourceBucketOwner") or None,
        )


def deployed_main(action: str, argv: list[str]) -> int:
    args = deployed_parser(action).parse_args(argv)
    clients.use_region(args.region)
    stack = StackReplication.of(args.stack_name or default_stack_name())
    if action == "enable":
        return enable_stack(stack)
    if action == "disable":
        return disable_stack(stack)
    return print_status(stack, args.json)


def enable_stack(stack: StackReplication) -> int:
    try:
        enable(clients.s3(), stack.source_bucket, stack.event_queue_arn, prefix=stack.prefix, config_id=stack.config_id, expected_owner=stack.source_owner)
    except NotificationError as error:
        raise UsageError(str(error)) from None
    print(
        f"replication enabled: events of s3://{stack.source_bucket}/{stack.prefix} go to {stack.event_queue_arn} "
        f"(notification configuration {stack.config_id}); stack '{stack.stack_name}' applies them to s3://{stack.dest_bucket}"
    )
    say(
        f"{PROG}: this runs no first sync: objects already in the source are copied by a job, "
        f"'python -m seed --bucket {stack.source_bucket} --dest {stack.dest_bucket} --stack-name {stack.stack_name} --wait'"
    )
    return ExitStatus.SUCCESS


def disable_stack(stack: StackReplication) -> int:
    try:
        done = disable(clients.s3(), stack.source_bucket, stack.config_id, expected_owner=stack.source_owner)
    except NotificationError as error:
        raise UsageError(str(error)) from None
    if done.removed:
        print(f"replication disabled: s3://{stack.source_bucket} no longer sends events to stack '{stack.stack_name}' (its other notification configurations kept)")
    else:
        print(f"replication was not enabled: s3://{stack.source_bucket} has no notification configuration {stack.config_id}")
    return ExitStatus.SUCCESS


def replication_status(stack: StackReplication) -> dict[str, Any]:
    """{enabled, events_waiting, oldest_event_age_seconds (None: no datapoint), failed_events}."""
    sqs = clients.sqs()
    ours = current(clients.s3(), stack.source_bucket, stack.config_id, expected_owner=stack.source_owner)
    waiting = sum(queue_depths(sqs, stack.event_queue_url))
    failed = sum(queue_depths(sqs, stack.dead_letter_url)) if stack.dead_letter_url else 0
    return {"enabled": ours is not None, "events_waiting": waiting, "oldest_event_age_seconds": oldest_event_age(stack.event_queue_url), "failed_events": failed}


def oldest_event_age(queue_url: str) -> float | None:
    """The event queue's ApproximateAgeOfOldestMessage over the last minutes (the largest), from
    CloudWatch; None when it has no datapoint (a queue SQS publishes nothing for yet, moto)."""
    now = datetime.now(UTC)
    answer = clients.cloudwatch().get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_url.rstrip("/").rsplit("/", 1)[-1]}],
        StartTime=now - AGE_WINDOW,
        EndTime=now,
        Period=60,
        Statistics=["Maximum"],
    )
    points = [float(point["Maximum"]) for point in answer.get("Datapoints", []) if "Maximum" in point]
    return max(points) if points else None


def print_status(stack: StackReplication, as_json: bool) -> int:
    status = replication_status(stack)
    if as_json:
        print(json.dumps(status, indent=2))
        return ExitStatus.SUCCESS
    age = status["oldest_event_age_seconds"]
    print(f"replication of s3://{stack.source_bucket}/{stack.prefix} to s3://{stack.dest_bucket} (stack '{stack.stack_name}')")
    print(f"  enabled:            {'yes' if status['enabled'] else f'no ({PROG} replicate enable --stack-name {stack.stack_name})'}")
    print(f"  events waiting:     {status['events_waiting']:,}")
    print(f"  oldest event's age: {'unknown' if age is None else f'{age:.0f} s'}")
    print(f"  failed events:      {status['failed_events']:,}")
    return ExitStatus.SUCCESS
