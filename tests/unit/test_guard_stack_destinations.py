"""A deployed stack's destinations: guard.Scope read from the functions' environment
(MORE_DEST_BUCKETS, DEST_PREFIX, DEST_KEYS_AS_THEY_ARE, as template.yaml sets them), the CLI's
scope from the stack's outputs, and what each admits or refuses."""

from __future__ import annotations

import pytest

from s3fanout.guard import Scope
from s3fanout.job import DestinationSpec, JobError, JobSpec
from s3fanout.jobqueues import QueueSet, more_destinations
from s3fanout.messages import CopyBatch, CopyItem, Destination, InvalidMessage, KeyRewrite, ListTask
from seed.runner import check_stack_allows, stack_scope

BASE = {"SOURCE_BUCKET": "src", "DEST_BUCKET": "dst", "ALLOWED_PREFIX": ""}


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        # No more destinations: the template's empty value.
        ({"MORE_DEST_BUCKETS": ""}, ()),
        ({}, ()),
        # The four slots, padded with DEST_BUCKET: the padding is no destination.
        ({"MORE_DEST_BUCKETS": "two,three,dst,dst"}, (("two", None), ("three", None))),
        ({"MORE_DEST_BUCKETS": "two,dst,dst,dst", "DEST_PREFIX": "copies/"}, (("two", "copies/"),)),
        # Empty names and repeats are left out; the order is the stack's.
        ({"MORE_DEST_BUCKETS": ",three,,two,three,"}, (("three", None), ("two", None))),
        # Local workers' JSON list comes first, each with its own prefix; a bucket of both is named once.
        (
            {"MORE_DESTINATIONS": '[["local", "x/"], ["two", null]]', "MORE_DEST_BUCKETS": "two,four"},
            (("local", "x/"), ("two", None), ("four", None)),
        ),
    ],
    ids=["empty", "absent", "padded", "padded-prefix", "empty-names-and-repeats", "with-local-destinations"],
)
def test_more_dest_buckets_are_destinations_written_as_dest_bucket_is(variables: dict[str, str], expected: tuple[tuple[str, str | None], ...]) -> None:
    scope = Scope.from_env(BASE | variables)
    assert scope.more_dests == expected
    assert scope.dest_prefix == variables.get("DEST_PREFIX")
    # What local workers playing the stack's functions get is the same scope.
    assert Scope.from_env(scope.to_env()) == scope


def test_a_stack_scope_with_a_destination_prefix_admits_writes_under_it_only() -> None:
    scope = Scope.from_env(BASE | {"ALLOWED_PREFIX": "logs/", "MORE_DEST_BUCKETS": "two,dst,dst,dst", "DEST_PREFIX": "copies/"})
    scope.check(ListTask("job", "src", "dst", "logs/", dest_prefix="copies/", more_dests=(Destination("job-d2", "two", None, "copies/logs/"),)))
    scope.check(CopyBatch("job", "src", "two", (CopyItem("logs/a", 1),), rekey=KeyRewrite("logs/", "copies/")))
    refusals = {
        # Keys as they are: under logs/, not copies/.
        ListTask("job", "src", "two", "logs/"): "only under 'copies/' (its DestinationPrefix; a job gives --dest-prefix copies/), not as they are",
        CopyBatch("job", "src", "dst", (CopyItem("logs/a", 1),)): "not as they are",
        ListTask("job", "src", "two", "logs/", dest_prefix="elsewhere/"): "not under 'elsewhere/'",
        ListTask("job", "src", "three", "logs/", dest_prefix="copies/"): "destination bucket 'three' is not one this stack serves ('dst', 'two')",
    }
    for message, reason in refusals.items():
        with pytest.raises(InvalidMessage) as refused:
            scope.check(message)
        assert reason in str(refused.value)


def test_a_stack_scope_without_a_destination_prefix_writes_keys_as_they_are() -> None:
    scope = Scope.from_env(BASE | {"ALLOWED_PREFIX": "logs/", "MORE_DEST_BUCKETS": "two,dst,dst,dst", "DEST_KEYS_AS_THEY_ARE": "true"})
    assert Scope.from_env(scope.to_env()) == scope
    scope.check(ListTask("job", "src", "dst", "logs/2026/", more_dests=(Destination("job-d2", "two"),)))
    # A --dest-prefix that is the task's own prefix rewrites nothing.
    scope.check(ListTask("job", "src", "two", "logs/", dest_prefix="logs/"))
    scope.check(CopyBatch("job", "src", "two", (CopyItem("logs/a", 1),)))
    for message in (
        ListTask("job", "src", "two", "logs/", dest_prefix="logs/new/"),
        CopyBatch("job", "src", "two", (CopyItem("logs/a", 1),), rekey=KeyRewrite("logs/", "logs/new/")),
    ):
        with pytest.raises(InvalidMessage, match=r"writes keys to 'two' as they are \(its DestinationPrefix is empty, so no --dest-prefix\), not under 'logs/new/'"):
            scope.check(message)
    # Configured so only where keys are written as they are: elsewhere (hand-written, or before
    # DEST_KEYS_AS_THEY_ARE) a destination without a prefix takes keys anywhere under the allowed one.
    lax = Scope.from_env(BASE | {"ALLOWED_PREFIX": "logs/", "MORE_DEST_BUCKETS": "two"})
    assert not lax.keys_as_they_are
    lax.check(ListTask("job", "src", "two", "logs/", dest_prefix="logs/new/"))
    with pytest.raises(InvalidMessage, match=r"writes keys to 'two' only under 'logs/', not under 'other/'"):
        lax.check(ListTask("job", "src", "two", "logs/", dest_prefix="other/"))


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        ({"DestinationBucket": "dst"}, ()),
        ({"DestinationBucket": "dst", "MoreDestinations": ""}, ()),
        ({"DestinationBucket": "dst", "MoreDestinations": "two,three,dst,dst"}, ("two", "three")),
        ({"DestinationBucket": "dst", "MoreDestinations": "two,three,four,five"}, ("two", "three", "four", "five")),
    ],
)
def test_more_destinations_of_a_stacks_outputs(outputs: dict[str, str], expected: tuple[str, ...]) -> None:
    assert more_destinations(outputs) == expected


def queues(**fields: object) -> QueueSet:
    return QueueSet("list", "copy", "list-dlq", "copy-dlq", source_bucket="src", dest_bucket="dst", **fields)  # type: ignore[arg-type]


def test_the_cli_gives_local_workers_the_stacks_destinations() -> None:
    scope = stack_scope(queues(more_dest_buckets=("two", "three"), dest_prefix="copies/", allowed_prefix="logs/"), "s")
    assert scope.destinations == (("dst", "copies/"), ("two", "copies/"), ("three", "copies/"))
    assert scope.prefix == "logs/"
    # As the functions read the stack's own environment.
    assert scope == Scope.from_env(BASE | {"ALLOWED_PREFIX": "logs/", "MORE_DEST_BUCKETS": "two,three,dst,dst", "DEST_PREFIX": "copies/", "DEST_KEYS_AS_THEY_ARE": "false"})
    # Without a DestinationPrefix: keys as they are, as the functions' DEST_KEYS_AS_THEY_ARE says.
    plain = stack_scope(queues(more_dest_buckets=("two",)), "s")
    assert plain == Scope.from_env(BASE | {"MORE_DEST_BUCKETS": "two,dst,dst,dst", "DEST_KEYS_AS_THEY_ARE": "true"})


def job(*dests: tuple[str, str | None]) -> JobSpec:
    (bucket, prefix), *more = dests
    return JobSpec("src", bucket, dest_prefix=prefix, more_dests=tuple(DestinationSpec(b, p) for b, p in more))


@pytest.mark.parametrize(
    ("fields", "spec", "fragments"),
    [
        ({"dest_prefix": "copies/", "more_dest_buckets": ("two",)}, job(("two", "copies/"), ("three", "copies/")), ["may only use the destination bucket 'dst' or 'two', not 'three'"]),
        ({"dest_prefix": "copies/", "more_dest_buckets": ("two",)}, job(("two", "copies/"), ("dst", None)), ["writes keys to 'dst' only under 'copies/'", "DestinationPrefix", "not as they are"]),
        ({"more_dest_buckets": ("two",)}, job(("two", "copies/")), ["writes keys to 'two' as they are", "DestinationPrefix is empty", "not under 'copies/'"]),
    ],
    ids=["bucket-outside-the-list", "without-dest-prefix", "dest-prefix-on-a-stack-without-one"],
)
def test_the_cli_refuses_a_job_the_stack_does_not_serve_in_one_line(fields: dict[str, object], spec: JobSpec, fragments: list[str]) -> None:
    with pytest.raises(JobError) as refused:
        check_stack_allows(spec, stack_scope(queues(**fields), "my-stack"), "my-stack", delete=False)
    message = str(refused.value)
    assert message.startswith("stack 'my-stack' ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_the_cli_accepts_a_job_within_the_stacks_destinations() -> None:
    scope = stack_scope(queues(dest_prefix="copies/", more_dest_buckets=("two", "three")), "my-stack")
    check_stack_allows(job(("three", "copies/"), ("two", "copies/sub/"), ("dst", "copies/")), scope, "my-stack", delete=False)
    check_stack_allows(job(("two", None)), stack_scope(queues(more_dest_buckets=("two",)), "my-stack"), "my-stack", delete=False)
