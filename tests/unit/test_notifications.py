"""The bucket notification document shared with others: S3's overlap rule, and enable/disable
against a stand-in that answers and refuses as S3 does (moto neither checks overlaps nor reports
the EventBridge switch; tests/integration/test_notifications_moto.py runs the same against moto).
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from s3fanout.notifications import (
    DEFAULT_CONFIG_ID,
    EVENTS,
    Delivery,
    Enabled,
    NotificationError,
    OverlapError,
    Rule,
    config_id_for,
    current,
    disable,
    enable,
    event_types_overlap,
    eventbridge_users,
    filter_prefix,
    overlapping,
    queue_configuration,
)

QUEUE = "arn:aws:sqs:us-east-1:123456789012:replica-events"
OTHER_QUEUE = "arn:aws:sqs:us-east-1:123456789012:someone-elses"
TOPIC = "arn:aws:sns:us-east-1:123456789012:someone-elses-topic"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:thumbnails"
BUCKET = "source-bucket"

# Every concrete event type S3 notifications know (the User Guide's "Supported event types").
CONCRETE_EVENTS = [
    "s3:TestEvent",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:Replication:OperationNotTracked",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
]
PATTERNS = sorted({*CONCRETE_EVENTS, *(":".join(event.split(":")[:2]) + ":*" for event in CONCRETE_EVENTS if event.count(":") == 2)})


def rule(events: tuple[str, ...] | str, prefix: str = "", suffix: str = "", kind: str = "queue", id: str = "x") -> Rule:
    return Rule(kind, id, (events,) if isinstance(events, str) else events, prefix, suffix, "arn")


# The S3 User Guide's own examples ("Configuring event notifications using object key name
# filtering"), then the cases around them.
OVERLAP_CASES = [
    # valid: non-overlapping prefixes, suffixes, and a shared prefix with different suffixes
    (rule("s3:ObjectCreated:Put", prefix="images/"), rule("s3:ObjectCreated:Put", prefix="logs/"), False),
    (rule("s3:ObjectCreated:Put", suffix=".jpg"), rule("s3:ObjectCreated:Put", suffix=".png"), False),
    (rule("s3:ObjectCreated:Put", "images", ".jpg"), rule("s3:ObjectCreated:Put", "images", ".png"), False),
    # valid: the same filter for different event types
    (rule("s3:ObjectCreated:Put", prefix="image/"), rule("s3:ObjectRemoved:*", prefix="image/"), False),
    # invalid: the root prefix overlaps every prefix; a wildcard and a type it covers
    (rule("s3:ObjectCreated:*"), rule("s3:ObjectCreated:*", prefix="images"), True),
    (rule("s3:ObjectCreated:*", suffix="jpg"), rule("s3:ObjectCreated:Put", suffix="pg"), True),
    (rule("s3:ObjectCreated:*", "images", "jpg"), rule("s3:ObjectCreated:Put", suffix="jpg"), True),
    # no filters at all, same and different types
    (rule("s3:ObjectCreated:*"), rule("s3:ObjectCreated:*"), True),
    (rule("s3:ObjectCreated:Put"), rule("s3:ObjectCreated:Post"), False),
    (rule("s3:ObjectCreated:*"), rule("s3:ObjectRemoved:*"), False),
    (rule("s3:ObjectRemoved:*"), rule("s3:ObjectRemoved:DeleteMarkerCreated"), True),
    (rule("s3:ObjectRemoved:*"), rule("s3:LifecycleExpiration:*"), False),
    (rule("s3:ReducedRedundancyLostObject"), rule("s3:ReducedRedundancyLostObject"), True),
    (rule("s3:LifecycleTransition"), rule("s3:ObjectCreated:*"), False),
    # lists of events: one shared type is enough
    (rule(("s3:ObjectCreated:Put", "s3:ObjectRemoved:*")), rule(("s3:ObjectRestore:*", "s3:ObjectRemoved:Delete")), True),
    (rule(EVENTS), rule(("s3:ObjectTagging:*", "s3:ObjectAcl:Put")), False),
    # "ObjectCreated:Put" (no "s3:") is the same type
    (rule("ObjectCreated:Put"), rule("s3:ObjectCreated:*"), True),
    # a prefix of one and a suffix of the other: "images/" + ".jpg" matches both
    (rule("s3:ObjectCreated:*", prefix="images/"), rule("s3:ObjectCreated:*", suffix=".jpg"), True),
    # prefixes: one a prefix of the other, or neither
    (rule(EVENTS, prefix="data/"), rule("s3:ObjectCreated:Put", prefix="data/2024/"), True),
    (rule(EVENTS, prefix="data/"), rule("s3:ObjectCreated:Put", prefix="dat"), True),
    (rule(EVENTS, prefix="data/"), rule("s3:ObjectCreated:Put", prefix="database/"), False),
    # different kinds of destination overlap just the same
    (rule(EVENTS, kind="queue"), rule("s3:ObjectCreated:Put", kind="topic", prefix="x"), True),
    (rule(EVENTS, kind="queue"), rule("s3:ObjectRemoved:*", kind="lambda", suffix=".gz"), True),
    # filter values are URL-encoded: "a+b" is the prefix "a b", which "a bc/" starts with
    (rule(EVENTS, prefix="a+b"), rule(EVENTS, prefix="a%20bc/"), True),
    (rule(EVENTS, prefix="a%2Bb"), rule(EVENTS, prefix="a+b"), False),
]


@pytest.mark.parametrize(("a", "b", "expected"), OVERLAP_CASES)
def test_overlap_rule(a: Rule, b: Rule, expected: bool) -> None:
    assert overlapping(a, b) is expected
    assert overlapping(b, a) is expected


def _witness_overlap(a: Rule, b: Rule) -> bool:
    """The rule restated as its meaning: some concrete event type both configurations send, and a
    key both filters let through (the longer prefix followed by the longer suffix is the only
    candidate needed)."""

    def sends(configuration: Rule, event: str) -> bool:
        return any(fnmatch.fnmatchcase(event, pattern if pattern.startswith("s3:") else "s3:" + pattern) for pattern in configuration.events)

    if not any(sends(a, event) and sends(b, event) for event in CONCRETE_EVENTS):
        return False
    key = max(a.prefix, b.prefix, key=len) + max(a.suffix, b.suffix, key=len)
    return all(key.startswith(r.prefix) and key.endswith(r.suffix) for r in (a, b))


filters = st.text(alphabet="ab/.", max_size=4)
rules_strategy = st.builds(
    lambda events, prefix, suffix: rule(tuple(events), prefix, suffix),
    st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3),
    filters,
    filters,
)


@given(rules_strategy, rules_strategy)
def test_overlap_rule_means_one_event_can_match_both(a: Rule, b: Rule) -> None:
    assert overlapping(a, b) is _witness_overlap(a, b)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("s3:ObjectCreated:*", "s3:ObjectCreated:Put", True),
        ("s3:ObjectCreated:Put", "s3:ObjectCreated:Put", True),
        ("s3:ObjectCreated:Put", "s3:ObjectCreated:Copy", False),
        ("s3:ObjectCreated:*", "s3:ObjectRemoved:*", False),
        ("s3:ObjectRestore:*", "s3:ObjectRestore:Completed", True),
        ("s3:LifecycleTransition", "s3:LifecycleExpiration:*", False),
        ("s3:IntelligentTiering", "s3:IntelligentTiering", True),
        ("s3:ObjectCreated", "s3:ObjectCreated:Put", False),
    ],
)
def test_event_types_overlap(a: str, b: str, expected: bool) -> None:
    assert event_types_overlap(a, b) is expected
    assert event_types_overlap(b, a) is expected


@pytest.mark.parametrize(
    ("prefix", "written"),
    [
        ("", ""),
        ("logs/2024/", "logs/2024/"),
        ("a-b_c.d/", "a-b_c.d/"),
        ("with space/", "with"),
        ("plus+sign", "plus"),
        ("100%", "100"),
        ("é-first", ""),
        ("dir#1/", "dir"),
    ],
)
def test_filter_prefix_keeps_what_needs_no_encoding(prefix: str, written: str) -> None:
    assert filter_prefix(prefix) == written
    assert prefix.startswith(written)


def test_queue_configuration_is_ours() -> None:
    assert queue_configuration("s3fanout-job", QUEUE) == {"Id": "s3fanout-job", "QueueArn": QUEUE, "Events": list(EVENTS)}
    assert queue_configuration("s3fanout-job", QUEUE, "logs/x y")["Filter"] == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "logs/x"}]}}
    assert config_id_for("my-stack") == "s3fanout-my-stack"
    assert config_id_for("s3fanout-my-stack") == "s3fanout-my-stack"


def test_rule_reads_s3s_capitalised_filter_names() -> None:
    configuration = {"Id": "t", "TopicArn": TOPIC, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "in/"}, {"Name": "Suffix", "Value": ".csv"}]}}}
    found = Rule.from_document("TopicConfigurations", configuration)
    assert (found.kind, found.id, found.prefix, found.suffix, found.destination) == ("topic", "t", "in/", ".csv", TOPIC)
    assert "topic configuration 't'" in found.describe() and "prefix 'in/'" in found.describe() and TOPIC in found.describe()


def test_enabled_round_trips() -> None:
    enabled = Enabled(BUCKET, "s3fanout-x", Delivery.EVENTBRIDGE, QUEUE, "p/", True, ("queue configuration 'a'",))
    assert Enabled.from_dict(enabled.to_dict()) == enabled
    with pytest.raises(NotificationError):
        Enabled.from_dict({"bucket": BUCKET})


class FakeNotificationS3:
    """One bucket's notification document, read and written as S3 does: the answer carries
    ResponseMetadata and an empty EventBridgeConfiguration when that is on; a document with two
    overlapping configurations (by ``_witness_overlap``, not the code under test), or with a
    destination that does not validate, is refused."""

    def __init__(self, document: dict[str, Any] | None = None, *, broken: set[str] | None = None) -> None:
        self.document: dict[str, Any] = copy.deepcopy(document or {})
        self.broken = broken or set()
        self.puts: list[dict[str, Any]] = []
        self.gets: list[dict[str, Any]] = []
        self.interfere: list[dict[str, Any]] = []  # documents another writer puts right after ours

    def get_bucket_notification_configuration(self, **request: Any) -> dict[str, Any]:
        self.gets.append(request)
        return copy.deepcopy(self.document) | {"ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "r"}}

    def put_bucket_notification_configuration(self, **request: Any) -> dict[str, Any]:
        self.puts.append(copy.deepcopy(request))
        document = request["NotificationConfiguration"]
        if "ResponseMetadata" in document:
            raise ClientError({"Error": {"Code": "MalformedXML", "Message": "ResponseMetadata"}}, "PutBucketNotificationConfiguration")
        found = [(kind, Rule.from_document(kind, c)) for kind in ("QueueConfigurations", "TopicConfigurations", "LambdaFunctionConfigurations") for c in document.get(kind, [])]
        for (_, a), (_, b) in itertools.combinations(found, 2):
            if _witness_overlap(a, b):
                message = "Configuration is ambiguously defined. Cannot have overlapping suffixes in two rules if the prefixes are overlapping for the same event type."
                raise ClientError({"Error": {"Code": "InvalidArgument", "Message": message}}, "PutBucketNotificationConfiguration")
        if not request.get("SkipDestinationValidation") and any(r.destination in self.broken for _, r in found):
            raise ClientError({"Error": {"Code": "InvalidArgument", "Message": "Unable to validate the following destination configurations"}}, "PutBucketNotificationConfiguration")
        self.document = copy.deepcopy(document)
        if self.interfere:
            self.document = self.interfere.pop(0)
        return {}


SOMEONE_ELSES = {
    "TopicConfigurations": [
        {"Id": "audit", "TopicArn": TOPIC, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "audit/"}]}}},
    ],
    "QueueConfigurations": [
        {"Id": "restores", "QueueArn": OTHER_QUEUE, "Events": ["s3:ObjectRestore:Completed"]},
    ],
    "LambdaFunctionConfigurations": [
        {
            "Id": "thumbs",
            "LambdaFunctionArn": FUNCTION,
            "Events": ["s3:ObjectCreated:Put"],
            "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "img/"}, {"Name": "Suffix", "Value": ".jpg"}]}},
        },
    ],
    "EventBridgeConfiguration": {},
}


def test_enable_adds_ours_and_keeps_everything_else() -> None:
    s3 = FakeNotificationS3(SOMEONE_ELSES)
    enabled = enable(s3, BUCKET, QUEUE, prefix="data/", config_id="s3fanout-job")  # type: ignore[arg-type]
    assert enabled == Enabled(BUCKET, "s3fanout-job", Delivery.QUEUE, QUEUE, "data/", False)
    written = s3.puts[-1]["NotificationConfiguration"]
    assert "ResponseMetadata" not in written
    for kind in ("TopicConfigurations", "LambdaFunctionConfigurations"):
        assert written[kind] == SOMEONE_ELSES[kind]
    assert written["QueueConfigurations"] == [*SOMEONE_ELSES["QueueConfigurations"], queue_configuration("s3fanout-job", QUEUE, "data/")]
    assert written["EventBridgeConfiguration"] == {}
    assert "SkipDestinationValidation" not in s3.puts[-1]
    assert current(s3, BUCKET, "s3fanout-job").same_as(Rule.from_document("QueueConfigurations", queue_configuration("s3fanout-job", QUEUE, "data/")))  # type: ignore[arg-type, union-attr]


def test_enable_twice_leaves_one_and_writes_once() -> None:
    s3 = FakeNotificationS3(SOMEONE_ELSES)
    first = enable(s3, BUCKET, QUEUE, prefix="data/")  # type: ignore[arg-type]
    second = enable(s3, BUCKET, QUEUE, prefix="data/")  # type: ignore[arg-type]
    assert first == second
    assert len(s3.puts) == 1
    assert [c["Id"] for c in s3.document["QueueConfigurations"]] == ["restores", DEFAULT_CONFIG_ID]


def test_enable_again_with_another_prefix_replaces_ours() -> None:
    s3 = FakeNotificationS3()
    enable(s3, BUCKET, QUEUE, prefix="data/")  # type: ignore[arg-type]
    enable(s3, BUCKET, QUEUE, prefix="logs/")  # type: ignore[arg-type]
    assert s3.document["QueueConfigurations"] == [queue_configuration(DEFAULT_CONFIG_ID, QUEUE, "logs/")]


def test_expected_owner_goes_with_every_request() -> None:
    s3 = FakeNotificationS3()
    enable(s3, BUCKET, QUEUE, expected_owner="111122223333")  # type: ignore[arg-type]
    disable(s3, BUCKET, expected_owner="111122223333")  # type: ignore[arg-type]
    assert {r.get("ExpectedBucketOwner") for r in s3.gets + s3.puts} == {"111122223333"}


OVERLAPPING = {
    "QueueConfigurations": [
        {"Id": "etl", "QueueArn": OTHER_QUEUE, "Events": ["s3:ObjectCreated:Put"], "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "data/in/"}]}}},
    ],
    "TopicConfigurations": SOMEONE_ELSES["TopicConfigurations"],
}


def test_an_overlapping_configuration_stops_enable_with_one_line_naming_it() -> None:
    s3 = FakeNotificationS3(OVERLAPPING)
    with pytest.raises(OverlapError) as raised:
        enable(s3, BUCKET, QUEUE, prefix="data/")  # type: ignore[arg-type]
    message = str(raised.value)
    assert "\n" not in message
    assert "queue configuration 'etl'" in message and "s3:ObjectCreated:Put" in message and "prefix 'data/in/'" in message and OTHER_QUEUE in message
    assert "audit" not in message  # not in the way: another prefix
    assert [r.id for r in raised.value.blocking] == ["etl"]
    assert s3.puts == []


def test_an_overlapping_configuration_falls_back_to_eventbridge_when_allowed() -> None:
    s3 = FakeNotificationS3(OVERLAPPING)
    enabled = enable(s3, BUCKET, QUEUE, prefix="data/", allow_eventbridge=True)  # type: ignore[arg-type]
    assert enabled.delivery is Delivery.EVENTBRIDGE and enabled.turned_on_eventbridge
    assert len(enabled.blocking) == 1 and "'etl'" in enabled.blocking[0]
    assert s3.document == OVERLAPPING | {"EventBridgeConfiguration": {}}
    # Again: nothing to write, and what we turned on stays ours when the caller passes it back.
    again = enable(s3, BUCKET, QUEUE, prefix="data/", allow_eventbridge=True, previous=enabled)  # type: ignore[arg-type]
    assert again == enabled and len(s3.puts) == 1
    # Without that record, the switch now looks like someone else's.
    assert not enable(s3, BUCKET, QUEUE, prefix="data/", allow_eventbridge=True).turned_on_eventbridge  # type: ignore[arg-type]


def test_eventbridge_already_on_is_not_ours_to_turn_off() -> None:
    s3 = FakeNotificationS3(OVERLAPPING | {"EventBridgeConfiguration": {}})
    enabled = enable(s3, BUCKET, QUEUE, prefix="data/", allow_eventbridge=True)  # type: ignore[arg-type]
    assert enabled.delivery is Delivery.EVENTBRIDGE and not enabled.turned_on_eventbridge
    assert s3.puts == []
    result = disable(s3, BUCKET, enabled=enabled, events=FakeEvents([]))  # type: ignore[arg-type]
    assert not result.removed and not result.eventbridge_turned_off
    assert s3.document == OVERLAPPING | {"EventBridgeConfiguration": {}}


def test_moving_from_a_queue_to_eventbridge_removes_our_queue_configuration() -> None:
    s3 = FakeNotificationS3()
    enable(s3, BUCKET, QUEUE, prefix="data/")  # type: ignore[arg-type]
    s3.document["QueueConfigurations"].append(OVERLAPPING["QueueConfigurations"][0])  # as if S3 had taken it
    enabled = enable(s3, BUCKET, QUEUE, prefix="data/", allow_eventbridge=True)  # type: ignore[arg-type]
    assert enabled.delivery is Delivery.EVENTBRIDGE
    assert [c["Id"] for c in s3.document["QueueConfigurations"]] == ["etl"] and "EventBridgeConfiguration" in s3.document


def test_our_id_on_someone_elses_topic_is_an_error() -> None:
    s3 = FakeNotificationS3({"TopicConfigurations": [{"Id": DEFAULT_CONFIG_ID, "TopicArn": TOPIC, "Events": ["s3:ObjectTagging:*"]}]})
    with pytest.raises(NotificationError, match="its Id is the one this tool uses"):
        enable(s3, BUCKET, QUEUE)  # type: ignore[arg-type]


def test_a_destination_that_does_not_validate_is_named() -> None:
    s3 = FakeNotificationS3(broken={QUEUE})
    with pytest.raises(NotificationError, match="queue's policy must let s3.amazonaws.com send"):
        enable(s3, BUCKET, QUEUE)  # type: ignore[arg-type]
    # Told to skip validation (or disabling), S3 does not send the test messages.
    assert enable(s3, BUCKET, QUEUE, skip_destination_validation=True).delivery is Delivery.QUEUE  # type: ignore[arg-type]
    assert s3.puts[-1]["SkipDestinationValidation"] is True


def test_disable_removes_only_ours_even_when_others_do_not_validate() -> None:
    s3 = FakeNotificationS3(SOMEONE_ELSES, broken={FUNCTION})
    enable(s3, BUCKET, QUEUE, prefix="data/", skip_destination_validation=True)  # type: ignore[arg-type]
    result = disable(s3, BUCKET)  # type: ignore[arg-type]
    assert result.removed and not result.eventbridge_turned_off
    assert s3.document == SOMEONE_ELSES
    assert s3.puts[-1]["SkipDestinationValidation"] is True
    assert current(s3, BUCKET) is None  # type: ignore[arg-type]
    # Nothing of ours left: disabling again writes nothing.
    puts = len(s3.puts)
    assert not disable(s3, BUCKET).removed  # type: ignore[arg-type]
    assert len(s3.puts) == puts


class FakeEvents:
    """EventBridge's ListRules on the default bus, two rules a page."""

    def __init__(self, rules: list[dict[str, Any]]) -> None:
        self.rules = rules

    def list_rules(self, *, EventBusName: str, NextToken: str | None = None) -> dict[str, Any]:
        assert EventBusName == "default"
        start = int(NextToken or 0)
        page: dict[str, Any] = {"Rules": self.rules[start : start + 2]}
        if start + 2 < len(self.rules):
            page["NextToken"] = str(start + 2)
        return page


def test_disable_turns_off_the_eventbridge_switch_we_turned_on_when_no_one_else_reads_it() -> None:
    s3 = FakeNotificationS3(OVERLAPPING)
    enabled = enable(s3, BUCKET, QUEUE, prefix="data/", allow_eventbridge=True)  # type: ignore[arg-type]
    ours = {"Name": "s3fanout-replication", "EventPattern": '{"source": ["aws.s3"], "detail": {"bucket": {"name": ["source-bucket"]}}}'}
    unrelated = [
        {"Name": "nightly", "ScheduleExpression": "rate(1 day)"},
        {"Name": "other-bucket", "EventPattern": '{"source": ["aws.s3"], "detail": {"bucket": {"name": ["another-bucket"]}}}'},
        {"Name": "ec2", "EventPattern": '{"source": ["aws.ec2"]}'},
    ]
    result = disable(s3, BUCKET, enabled=enabled, events=FakeEvents([ours, *unrelated]), own_rules={"s3fanout-replication"})  # type: ignore[arg-type]
    assert result.eventbridge_turned_off and not result.removed
    assert s3.document == OVERLAPPING


@pytest.mark.parametrize(
    "pattern",
    [
        '{"source": ["aws.s3"]}',
        '{"detail-type": ["Object Created"]}',
        '{"source": [{"prefix": "aws."}], "detail": {"bucket": {"name": ["source-bucket"]}}}',
        '{"source": ["aws.s3"], "detail": {"bucket": {"name": [{"prefix": "source-"}]}}}',
        "not json",
    ],
)
def test_eventbridge_stays_on_while_another_rule_may_read_the_bucket(pattern: str) -> None:
    s3 = FakeNotificationS3(OVERLAPPING)
    enabled = enable(s3, BUCKET, QUEUE, prefix="data/", allow_eventbridge=True)  # type: ignore[arg-type]
    events = FakeEvents([{"Name": "theirs", "EventPattern": pattern}])
    assert eventbridge_users(events, BUCKET) == ["theirs"]
    result = disable(s3, BUCKET, enabled=enabled, events=events)  # type: ignore[arg-type]
    assert not result.eventbridge_turned_off and "theirs" in result.eventbridge_kept
    assert "EventBridgeConfiguration" in s3.document


def test_without_an_eventbridge_client_the_switch_stays_on() -> None:
    s3 = FakeNotificationS3(OVERLAPPING)
    enabled = enable(s3, BUCKET, QUEUE, prefix="data/", allow_eventbridge=True)  # type: ignore[arg-type]
    result = disable(s3, BUCKET, enabled=enabled)  # type: ignore[arg-type]
    assert not result.eventbridge_turned_off and result.eventbridge_kept
    assert "EventBridgeConfiguration" in s3.document


def test_enable_reads_again_when_another_writer_dropped_ours() -> None:
    s3 = FakeNotificationS3(SOMEONE_ELSES)
    s3.interfere = [copy.deepcopy(SOMEONE_ELSES)]  # their read-modify-write raced ours
    enable(s3, BUCKET, QUEUE, prefix="data/")  # type: ignore[arg-type]
    assert len(s3.puts) == 2
    assert current(s3, BUCKET) is not None  # type: ignore[arg-type]
    s3.interfere = [copy.deepcopy(SOMEONE_ELSES) for _ in range(5)]
    with pytest.raises(NotificationError, match="kept changing"):
        enable(s3, BUCKET, QUEUE, prefix="logs/", config_id="s3fanout-other")  # type: ignore[arg-type]


def test_errors_are_one_line_naming_the_bucket() -> None:
    class Denied(FakeNotificationS3):
        def get_bucket_notification_configuration(self, **request: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetBucketNotificationConfiguration")

    with pytest.raises(NotificationError) as raised:
        enable(Denied(), BUCKET, QUEUE)  # type: ignore[arg-type]
    assert str(raised.value) == "cannot read the notification configuration of bucket 'source-bucket': AccessDenied: Access Denied"
