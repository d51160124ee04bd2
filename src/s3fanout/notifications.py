"""The source bucket's notification configuration, shared with whoever else uses it.

A bucket has one notification document: PutBucketNotificationConfiguration replaces it whole, so
a tool that writes only its own configuration silently breaks every other pipeline fed by the
same bucket. ``enable`` reads the document, adds one queue configuration of ours (its Id is ours:
``config_id_for(stack or job)``) and writes the document back with everything else kept as it
was read (topic, queue and Lambda configurations, the EventBridge switch); ``disable`` removes
only ours; ``current`` says whether ours is there.

S3 refuses a document in which two queue, topic or Lambda configurations overlap (``overlapping``
below; moto does not check). When a configuration already on the bucket is in the way, ``enable``
either turns on EventBridge delivery in the same document (``allow_eventbridge``; EventBridge has
no overlap rule, and the caller then creates an EventBridge rule and says so by the returned
``Enabled.delivery``) or stops with a one-line ``OverlapError`` naming the configuration.

Three things of S3's document are handled here and nowhere else:

- ``ResponseMetadata`` (boto3 adds it to the read document) is removed before writing it back.
- ``EventBridgeConfiguration`` is an empty structure: present means on. Whether this tool turned
  it on is not in the document, so ``Enabled.turned_on_eventbridge`` records it for the caller to
  keep, and ``disable`` turns the switch off only with that record and only when no other
  EventBridge rule could be reading the bucket's events (``eventbridge_users``).
- ``SkipDestinationValidation``: S3 checks every destination of the document it is given (a test
  message to each queue, topic and function) and refuses the whole document when one fails, so
  a queue someone else deleted long ago would block us. ``enable`` validates by default (our
  queue's policy must let S3 send; the error names what failed); ``disable`` skips the
  validation, because removing ours must not depend on somebody else's destinations.

Filter values are URL-encoded in S3's document (a space is "+"). Our own prefix filter holds only
the leading run of the job's prefix made of letters, digits and ``-_./``, which need no encoding
and which S3 and moto (which matches filters against raw keys) read alike: events for keys that
run lets through but the prefix does not are refused by ``replication.apply`` as out of scope.
"""

from __future__ import annotations

import json
import string
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

from s3fanout.s3errors import describe_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# What a replica needs to hear about: every object written and every object deleted.
EVENTS = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")
CONFIG_ID_PREFIX = "s3fanout-"
DEFAULT_CONFIG_ID = CONFIG_ID_PREFIX + "replication"
# The document's lists of destination configurations, and the key naming each one's destination.
KINDS = {
    "QueueConfigurations": ("queue", "QueueArn"),
    "TopicConfigurations": ("topic", "TopicArn"),
    "LambdaFunctionConfigurations": ("lambda", "LambdaFunctionArn"),
}
EVENTBRIDGE = "EventBridgeConfiguration"
# Characters a prefix filter of ours may hold: the same whether or not they are URL-encoded.
_FILTER_SAFE = frozenset(string.ascii_letters + string.digits + "-_./")
# Concurrent writers of the same document: how often enable reads and writes again when ours went
# missing between its write and the read that checks it.
WRITE_ATTEMPTS = 3


class NotificationError(Exception):
    """A notification configuration that cannot be read, written or changed; one line."""


class OverlapError(NotificationError):
    """A configuration on the bucket overlaps the one ``enable`` would add (S3 would refuse the
    document), and EventBridge delivery was not allowed."""

    def __init__(self, bucket: str, ours: Rule, blocking: list[Rule]) -> None:
        self.bucket = bucket
        self.ours = ours
        self.blocking = blocking
        others = "; ".join(rule.describe() for rule in blocking)
        super().__init__(
            f"bucket {bucket!r} already has {others}, which overlaps {ours.describe()} "
            "(S3 refuses two configurations whose event types and key filters overlap); "
            "use EventBridge delivery, or narrow one of the two filters"
        )


class Delivery(StrEnum):
    """How the bucket's events reach the replicator."""

    QUEUE = "queue"  # a queue configuration of ours sends them to our queue
    EVENTBRIDGE = "eventbridge"  # the EventBridge switch; the caller's rule sends them on


@dataclass(frozen=True, slots=True)
class Rule:
    """One queue, topic or Lambda configuration of the document, reduced to what the overlap rule
    reads (events and the key filter) and what a person needs to recognise it."""

    kind: str  # queue, topic or lambda
    id: str | None
    events: tuple[str, ...]
    prefix: str = ""  # as the document holds it (URL-encoded)
    suffix: str = ""
    destination: str = ""

    @classmethod
    def from_document(cls, kind: str, configuration: Mapping[str, Any]) -> Rule:
        label, arn_key = KINDS[kind]
        filters: dict[str, str] = {}
        for rule in ((configuration.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []:
            # S3 answers "Prefix"/"Suffix"; it accepts (and moto only accepts) lower case.
            filters[str(rule.get("Name", "")).lower()] = str(rule.get("Value", ""))
        return cls(
            kind=label,
            id=configuration.get("Id"),
            events=tuple(configuration.get("Events") or ()),
            prefix=filters.get("prefix", ""),
            suffix=filters.get("suffix", ""),
            destination=str(configuration.get(arn_key, "")),
        )

    def same_as(self, other: Rule) -> bool:
        """The same configuration, whatever the order of its events."""
        return (self.kind, self.id, sorted(self.events), self.prefix, self.suffix, self.destination) == (
            other.kind,
            other.id,
            sorted(other.events),
            other.prefix,
            other.suffix,
            other.destination,
        )

    def describe(self) -> str:
        name = f"{self.kind} configuration {self.id!r}" if self.id else f"a {self.kind} configuration without an Id"
        scope = ", ".join(part for part in (f"prefix {self.prefix!r}" if self.prefix else "", f"suffix {self.suffix!r}" if self.suffix else "") if part)
        return f"{name} ({' '.join(self.events) or 'no events'}{' on ' + scope if scope else ' on every key'} to {self.destination or '?'})"


# The overlap rule, as the S3 User Guide states it ("Configuring event notifications using object
# key name filtering"): configurations "cannot define filtering rules with overlapping prefixes,
# overlapping suffixes, or overlapping combinations of prefixes and suffixes for the same event
# types"; "two prefixes are considered overlapping if a given string can begin with both", two
# suffixes if a string can end with both; a configuration without a prefix (suffix) has the root
# prefix (suffix), which overlaps every other; overlapping filters are fine with different event
# types (ObjectCreated:Put and ObjectRemoved:* on the same prefix). The guide's own invalid example
# pairs s3:ObjectCreated:* with s3:ObjectCreated:Put, so a wildcard overlaps what it covers.


def event_types_overlap(a: str, b: str) -> bool:
    """Whether two event types of a notification configuration share an event:
    ``s3:ObjectCreated:*`` and ``s3:ObjectCreated:Put`` do, ``s3:ObjectCreated:*`` and
    ``s3:ObjectRemoved:*`` do not. A trailing ``*`` stands for anything from there on."""
    left, right = _event_parts(a), _event_parts(b)
    for x, y in zip(left, right):
        if x == "*" or y == "*":
            return True
        if x != y:
            return False
    return len(left) == len(right)


def _event_parts(event: str) -> list[str]:
    # Both "s3:ObjectCreated:Put" and "ObjectCreated:Put" name the same type.
    return (event[3:] if event.startswith("s3:") else event).split(":")


def events_overlap(a: Iterable[str], b: Iterable[str]) -> bool:
    others = list(b)
    return any(event_types_overlap(x, y) for x in a for y in others)


def prefixes_overlap(a: str, b: str) -> bool:
    """A key can begin with both: one is a prefix of the other ("" is a prefix of all)."""
    return a.startswith(b) or b.startswith(a)


def suffixes_overlap(a: str, b: str) -> bool:
    """A key can end with both: one is a suffix of the other ("" is a suffix of all)."""
    return a.endswith(b) or b.endswith(a)


def overlapping(a: Rule, b: Rule) -> bool:
    """Whether S3 refuses ``a`` and ``b`` in one document: their event types overlap, and so do
    their prefixes and their suffixes (whatever their kinds and destinations). Filter values are
    compared decoded, as the keys they match are; a prefix and a suffix of two configurations can
    always match one key (the prefix followed by the suffix), so they need no rule of their own."""
    return events_overlap(a.events, b.events) and prefixes_overlap(unquote_plus(a.prefix), unquote_plus(b.prefix)) and suffixes_overlap(unquote_plus(a.suffix), unquote_plus(b.suffix))


def filter_prefix(prefix: str) -> str:
    """The prefix filter of ours for a job's prefix: its leading run of characters that need no
    URL encoding (see the module's docstring)."""
    for index, character in enumerate(prefix):
        if character not in _FILTER_SAFE:
            return prefix[:index]
    return prefix


def config_id_for(name: str) -> str:
    """The Id of our configuration for a stack or a local job (S3 allows any string as an Id)."""
    return name if name.startswith(CONFIG_ID_PREFIX) else CONFIG_ID_PREFIX + name


def queue_configuration(config_id: str, queue_arn: str, prefix: str = "", events: Iterable[str] = EVENTS) -> dict[str, Any]:
    """Our queue configuration, as the document holds it."""
    configuration: dict[str, Any] = {"Id": config_id, "QueueArn": queue_arn, "Events": list(events)}
    written = filter_prefix(prefix)
    if written:
        configuration["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": written}]}}
    return configuration


@dataclass(frozen=True, slots=True)
class Enabled:
    """What ``enable`` did, for the caller to keep (``to_dict``) and hand back to ``disable``."""

    bucket: str
    config_id: str
    delivery: Delivery
    queue_arn: str
    prefix: str = ""
    # The document had no EventBridge switch and we turned it on (for our EventBridge delivery).
    turned_on_eventbridge: bool = False
    # What was in the way of a queue configuration (EventBridge delivery only).
    blocking: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "config_id": self.config_id,
            "delivery": self.delivery.value,
            "queue_arn": self.queue_arn,
            "prefix": self.prefix,
            "turned_on_eventbridge": self.turned_on_eventbridge,
            "blocking": list(self.blocking),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Enabled:
        try:
            return cls(
                bucket=str(data["bucket"]),
                config_id=str(data["config_id"]),
                delivery=Delivery(data["delivery"]),
                queue_arn=str(data["queue_arn"]),
                prefix=str(data.get("prefix", "")),
                turned_on_eventbridge=bool(data.get("turned_on_eventbridge", False)),
                blocking=tuple(str(item) for item in data.get("blocking", ())),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise NotificationError(f"not a record of enabled notifications: {error}") from None


@dataclass(frozen=True, slots=True)
class Disabled:
    """What ``disable`` did."""

    removed: bool  # our configuration was there and is gone
    eventbridge_turned_off: bool = False
    # Why the EventBridge switch we turned on was left on (another rule may read the events).
    eventbridge_kept: str = ""


def read_document(s3: S3Client, bucket: str, expected_owner: str | None = None) -> dict[str, Any]:
    """The bucket's notification document, ready to be written back: ResponseMetadata removed."""
    request: dict[str, Any] = {"Bucket": bucket}
    if expected_owner:
        request["ExpectedBucketOwner"] = expected_owner
    try:
        document = dict(cast("Mapping[str, Any]", s3.get_bucket_notification_configuration(**request)))
    except (ClientError, BotoCoreError) as error:
        raise NotificationError(f"cannot read the notification configuration of bucket {bucket!r}: {describe_error(error)}") from None
    document.pop("ResponseMetadata", None)
    return document


def write_document(s3: S3Client, bucket: str, document: Mapping[str, Any], *, expected_owner: str | None = None, skip_destination_validation: bool = False) -> None:
    request: dict[str, Any] = {"Bucket": bucket, "NotificationConfiguration": _writable(document)}
    if skip_destination_validation:
        request["SkipDestinationValidation"] = True
    if expected_owner:
        request["ExpectedBucketOwner"] = expected_owner
    try:
        s3.put_bucket_notification_configuration(**request)
    except (ClientError, BotoCoreError) as error:
        failure = describe_error(error)
        hint = ""
        if "validate the following destination" in failure.message:
            hint = " (S3 sends each destination a test message: the queue's policy must let s3.amazonaws.com send from this bucket, and every other destination must still exist)"
        elif "overlapping" in failure.message.lower() or "ambiguously defined" in failure.message:
            hint = " (two configurations overlap: see notifications.overlapping)"
        raise NotificationError(f"cannot write the notification configuration of bucket {bucket!r}: {failure}{hint}") from None


def _writable(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document as PutBucketNotificationConfiguration takes it: ResponseMetadata dropped,
    empty lists left out, everything else exactly as read."""
    return {name: value for name, value in document.items() if name != "ResponseMetadata" and not (isinstance(value, list) and not value)}


def rules(document: Mapping[str, Any]) -> Iterator[tuple[str, int, Rule]]:
    """Every queue, topic and Lambda configuration of the document: its list, index and rule."""
    for kind in KINDS:
        for index, configuration in enumerate(document.get(kind) or []):
            yield kind, index, Rule.from_document(kind, configuration)


def _without(document: Mapping[str, Any], config_id: str) -> tuple[dict[str, Any], bool]:
    """The document without our queue configuration, and whether it had one."""
    result = dict(document)
    queues = list(document.get("QueueConfigurations") or [])
    kept = [configuration for configuration in queues if configuration.get("Id") != config_id]
    if len(kept) != len(queues):
        result["QueueConfigurations"] = kept
    return result, len(kept) != len(queues)


def enable(
    s3: S3Client,
    bucket: str,
    queue_arn: str,
    *,
    prefix: str = "",
    config_id: str = DEFAULT_CONFIG_ID,
    expected_owner: str | None = None,
    allow_eventbridge: bool = False,
    skip_destination_validation: bool = False,
    previous: Enabled | None = None,
) -> Enabled:
    """Make the bucket send its object events to ``queue_arn`` (a queue configuration of ours) or,
    when another configuration is in the way and ``allow_eventbridge``, to EventBridge; keep
    everything else in the document. Idempotent: enabling again leaves one configuration of ours
    and writes nothing when ours is already as asked. ``previous`` (what an earlier ``enable``
    returned) carries over whether we turned the EventBridge switch on."""
    ours = Rule.from_document("QueueConfigurations", queue_configuration(config_id, queue_arn, prefix))
    inherited = previous is not None and previous.turned_on_eventbridge and (previous.bucket, previous.config_id) == (bucket, config_id)
    for _ in range(WRITE_ATTEMPTS):
        document = read_document(s3, bucket, expected_owner)
        for kind, _index, rule in rules(document):
            if rule.id == config_id and kind != "QueueConfigurations":
                raise NotificationError(f"bucket {bucket!r} has {rule.describe()}: its Id is the one this tool uses; remove it or choose another stack or job name")
        others, had_ours = _without(document, config_id)
        blocking = [rule for _kind, _index, rule in rules(others) if overlapping(ours, rule)]
        if blocking:
            if not allow_eventbridge:
                raise OverlapError(bucket, ours, blocking)
            turned_on = EVENTBRIDGE not in document
            if turned_on or had_ours:
                others[EVENTBRIDGE] = dict(document.get(EVENTBRIDGE) or {})
                write_document(s3, bucket, others, expected_owner=expected_owner, skip_destination_validation=skip_destination_validation)
            # Nothing to read back: moto's GetBucketNotificationConfiguration leaves the switch out.
            return Enabled(bucket, config_id, Delivery.EVENTBRIDGE, queue_arn, prefix, turned_on or inherited, tuple(rule.describe() for rule in blocking))
        existing = next((configuration for configuration in document.get("QueueConfigurations") or [] if configuration.get("Id") == config_id), None)
        if existing is not None and Rule.from_document("QueueConfigurations", existing).same_as(ours):
            return Enabled(bucket, config_id, Delivery.QUEUE, queue_arn, prefix, inherited)
        others["QueueConfigurations"] = [*(others.get("QueueConfigurations") or []), queue_configuration(config_id, queue_arn, prefix)]
        write_document(s3, bucket, others, expected_owner=expected_owner, skip_destination_validation=skip_destination_validation)
        written = current(s3, bucket, config_id, expected_owner=expected_owner)
        if written is not None and written.same_as(ours):
            return Enabled(bucket, config_id, Delivery.QUEUE, queue_arn, prefix, inherited)
        # Someone else wrote the document between our read and our write: read it again.
    raise NotificationError(f"the notification configuration of bucket {bucket!r} kept changing while ours was being added ({WRITE_ATTEMPTS} attempts); try again")


def disable(
    s3: S3Client,
    bucket: str,
    config_id: str = DEFAULT_CONFIG_ID,
    *,
    enabled: Enabled | None = None,
    events: Any = None,
    own_rules: Collection[str] = (),
    expected_owner: str | None = None,
    skip_destination_validation: bool = True,
) -> Disabled:
    """Remove our queue configuration and keep the rest of the document. The EventBridge switch
    is turned off only when ``enabled`` says we turned it on, an EventBridge client ``events`` is
    given, and no rule on the default event bus but ``own_rules`` could read this bucket's
    events; otherwise it stays on and ``Disabled.eventbridge_kept`` says why."""
    document = read_document(s3, bucket, expected_owner)
    result, removed = _without(document, config_id)
    turn_off, kept = False, ""
    if enabled is not None and enabled.turned_on_eventbridge:
        if events is None:
            kept = "no EventBridge client to check whether other rules read the bucket's events"
        else:
            users = eventbridge_users(events, bucket, ignore=own_rules)
            if users:
                kept = f"EventBridge rules {', '.join(users)} may read the bucket's events"
            else:
                # Also when the document read shows no switch: moto's answer never does.
                turn_off = True
    if turn_off:
        result.pop(EVENTBRIDGE, None)
    if removed or turn_off:
        write_document(s3, bucket, result, expected_owner=expected_owner, skip_destination_validation=skip_destination_validation)
    return Disabled(removed, turn_off, kept)


def current(s3: S3Client, bucket: str, config_id: str = DEFAULT_CONFIG_ID, *, expected_owner: str | None = None) -> Rule | None:
    """Our queue configuration as the bucket has it, or None when it has none."""
    document = read_document(s3, bucket, expected_owner)
    return next((rule for kind, _index, rule in rules(document) if kind == "QueueConfigurations" and rule.id == config_id), None)


def eventbridge_on(s3: S3Client, bucket: str, *, expected_owner: str | None = None) -> bool:
    """Whether the bucket sends its events to EventBridge (moto 5.2 never says so)."""
    return EVENTBRIDGE in read_document(s3, bucket, expected_owner)


def eventbridge_users(events: Any, bucket: str, *, ignore: Collection[str] = ()) -> list[str]:
    """The rules on the default event bus (where S3 sends) whose pattern could match an S3 event
    of ``bucket``, except ``ignore``: a pattern that names no source or includes aws.s3, and names
    no bucket or includes this one. Anything the check does not understand counts as a match.
    (``events`` is a boto3 EventBridge client; untyped: the project has no stubs for it.)"""
    users: list[str] = []
    request: dict[str, Any] = {"EventBusName": "default"}
    while True:
        try:
            page = events.list_rules(**request)
        except (ClientError, BotoCoreError) as error:
            raise NotificationError(f"cannot list the EventBridge rules of the default bus: {describe_error(error)}") from None
        for rule in page.get("Rules", []):
            name = str(rule.get("Name", ""))
            if name not in ignore and _pattern_may_match(rule.get("EventPattern"), bucket):
                users.append(name)
        if not page.get("NextToken"):
            return users
        request["NextToken"] = page["NextToken"]


def _pattern_may_match(pattern_text: str | None, bucket: str) -> bool:
    if not pattern_text:
        return False  # a scheduled rule
    try:
        pattern = json.loads(pattern_text)
    except ValueError:
        return True
    if not isinstance(pattern, dict):
        return True
    detail = pattern.get("detail")
    bucket_pattern = detail.get("bucket") if isinstance(detail, dict) else None
    names = bucket_pattern.get("name") if isinstance(bucket_pattern, dict) else None
    return _may_include(pattern.get("source"), "aws.s3") and _may_include(names, bucket)


def _may_include(matcher: Any, value: str) -> bool:
    if matcher is None:
        return True
    if isinstance(matcher, list):
        return any(item == value if isinstance(item, str) else True for item in matcher)
    return True
