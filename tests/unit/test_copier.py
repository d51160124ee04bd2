import pytest
from botocore.exceptions import EndpointConnectionError
from hypothesis import given, settings
from hypothesis import strategies as st

from s3fanout.copying.batch import MAX_RETRY_DELAY_SECONDS, CopyOutcome, copy_batch, dispatch_failures, retry_delay_seconds
from s3fanout.messages import CopyBatch, CopyItem, KeyFailure
from s3fanout.outbox import Outbox
from s3fanout.s3ops import MAX_SINGLE_COPY_BYTES
from tests.unit.fake_aws import KEY, FakeS3, FakeSQS, client_error

NOW = "2026-05-01T12:00:00+00:00"
EARLIER = "2026-05-01T11:00:00+00:00"
COPY_URL, DLQ_URL = "https://sqs.test/copy", "https://sqs.test/copy-dlq"

ERRORS = {
    "slow": client_error("SlowDown", "Please reduce your request rate.", 503),
    "internal": client_error("InternalError", "We encountered an internal error.", 500),
    "offline": EndpointConnectionError(endpoint_url="https://s3.test"),
    "crash": RuntimeError("unexpected"),
    "denied": client_error("AccessDenied", "Access Denied", 403),
    "missing": client_error("NoSuchKey", "The specified key does not exist.", 404),
    "changed": client_error("PreconditionFailed", "At least one of the pre-conditions failed", 412),
}
TRANSIENT = ["slow", "internal", "offline", "crash"]
PERMANENT = ["denied", "missing", "changed"]


def previous(attempts: int) -> KeyFailure | None:
    return KeyFailure("SlowDown", "earlier", attempts, EARLIER, EARLIER) if attempts else None


def run(items, failures, max_attempts=5):
    s3 = FakeS3(failures={key: ERRORS[name] for key, name in failures.items()})
    batch = CopyBatch("job", "src", "dst", tuple(items))
    return copy_batch(batch, s3=s3, max_attempts=max_attempts, now=lambda: NOW), s3


def keys(items):
    return [item.key for item in items]


def test_keys_are_split_into_copied_retry_and_dead():
    items = [CopyItem(k, 1, '"e"') for k in ("ok-1", "slow", "denied", "ok-2", "missing")]
    outcome, s3 = run(items, {"slow": "slow", "denied": "denied", "missing": "missing"})
    assert keys(outcome.copied) == ["ok-1", "ok-2"]
    assert keys(outcome.retry) == ["slow"]
    assert keys(outcome.dead) == ["denied", "missing"]
    assert sorted(s3.copied_keys()) == sorted(keys(items))
    assert outcome.copied_bytes == 2


@pytest.mark.parametrize("error", TRANSIENT)
def test_transient_errors_go_to_retry(error):
    outcome, _ = run([CopyItem("k", 1)], {"k": error})
    assert keys(outcome.retry) == ["k"] and not outcome.dead


@pytest.mark.parametrize("error", PERMANENT)
def test_permanent_errors_go_to_dead_at_once(error):
    outcome, _ = run([CopyItem("k", 1)], {"k": error})
    assert keys(outcome.dead) == ["k"] and not outcome.retry
    assert outcome.dead[0].failure.attempts == 1


def test_an_object_over_5_gib_is_never_given_to_copy_object():
    # It is copied in parts (tests/unit/test_multipart.py), starting with a HeadObject of the
    # source, which this fake (holding no "huge") answers 404.
    outcome, s3 = run([CopyItem("huge", MAX_SINGLE_COPY_BYTES + 1)], {})
    assert keys(outcome.dead) == ["huge"] and outcome.dead[0].failure.code == "404"
    assert s3.copy_requests == [] and s3.head_requests == [{"Bucket": "src", "Key": "huge"}]


@pytest.mark.parametrize(
    "before, max_attempts, verdict",
    [(0, 5, "retry"), (3, 5, "retry"), (4, 5, "dead"), (7, 5, "dead"), (0, 1, "dead"), (1, 3, "retry")],
)
def test_a_key_reaching_max_attempts_goes_to_dead(before, max_attempts, verdict):
    outcome, _ = run([CopyItem("k", 1, None, previous(before))], {"k": "slow"}, max_attempts)
    [item] = getattr(outcome, verdict)
    assert item.failure.attempts == before + 1


def test_a_failure_counts_on_from_the_previous_and_keeps_first_failed():
    outcome, _ = run([CopyItem("k", 1, '"e"', previous(2))], {"k": "internal"})
    [item] = outcome.retry
    assert item.failure == KeyFailure("InternalError", "We encountered an internal error.", 3, EARLIER, NOW)
    assert (item.key, item.size, item.etag) == ("k", 1, '"e"')


def test_a_first_failure_is_recorded_as_first_and_last():
    outcome, _ = run([CopyItem("k", 1)], {"k": "slow"})
    assert outcome.retry[0].failure == KeyFailure("SlowDown", "Please reduce your request rate.", 1, NOW, NOW)


def test_a_retried_key_that_copies_loses_its_failure():
    outcome, _ = run([CopyItem("k", 1, None, previous(3))], {})
    assert outcome.copied == (CopyItem("k", 1),)


@settings(max_examples=50, deadline=None)
@given(
    plan=st.lists(
        st.tuples(st.sampled_from([None, *ERRORS]), st.integers(min_value=0, max_value=6)), min_size=1, max_size=30
    ),
    max_attempts=st.integers(min_value=1, max_value=6),
)
def test_every_key_lands_in_exactly_one_outcome(plan, max_attempts):
    items = [CopyItem(f"key-{i}", i, None, previous(before)) for i, (_, before) in enumerate(plan)]
    failures = {f"key-{i}": error for i, (error, _) in enumerate(plan) if error is not None}
    outcome, _ = run(items, failures, max_attempts)
    assert sorted(keys(outcome.copied) + keys(outcome.retry) + keys(outcome.dead)) == sorted(keys(items))
    assert set(keys(outcome.copied)) == {k for k in keys(items) if k not in failures}
    assert all(item.failure is None for item in outcome.copied)
    assert all(item.failure.attempts < max_attempts for item in outcome.retry)
    assert all(item.failure.code for item in outcome.retry + outcome.dead)


@pytest.mark.parametrize("attempts", [0, 1, 2, 5, 8, 9, 10, 30, 1000])
def test_retry_delay_stays_within_sqs_bounds(attempts):
    ceiling = min(MAX_RETRY_DELAY_SECONDS, 2 ** (attempts + 1))
    delays = {retry_delay_seconds(attempts) for _ in range(200)}
    assert all(1 <= d <= ceiling for d in delays)
    assert MAX_RETRY_DELAY_SECONDS == 900


def test_retry_delay_grows_with_attempts():
    assert min(retry_delay_seconds(20) for _ in range(100)) >= MAX_RETRY_DELAY_SECONDS // 2


def failed(key, code, attempts):
    return CopyItem(key, 5, '"e"', KeyFailure(code, f"{code} happened", attempts, EARLIER, NOW))


def test_dispatch_sends_retry_delayed_to_copy_queue_and_dead_to_dlq():
    batch = CopyBatch("job-7", "src", "dst", (CopyItem("ok", 1), CopyItem("r1", 5), CopyItem("r2", 5), CopyItem("d", 5)))
    outcome = CopyOutcome(
        copied=(CopyItem("ok", 1),),
        retry=(failed("r1", "SlowDown", 1), failed("r2", "InternalError", 3)),
        dead=(failed("d", "AccessDenied", 1),),
    )
    sqs = FakeSQS()
    dispatch_failures(batch, outcome, outbox=Outbox(sqs, KEY, None, COPY_URL), dead_letter_url=DLQ_URL)

    [retry_body] = sqs.bodies(COPY_URL)
    [delay] = sqs.delays(COPY_URL)
    assert 1 <= delay <= 2 ** (3 + 1)  # backoff of the most-tried key
    # Sealed, and one hop further down the chain than the batch it came from.
    assert CopyBatch.from_json(KEY.open(retry_body)) == CopyBatch("job-7", "src", "dst", outcome.retry, hops=1)

    [dead_body] = sqs.bodies(DLQ_URL)
    assert sqs.delays(DLQ_URL) == [0]
    assert CopyBatch.from_json(dead_body).items == outcome.dead
    assert CopyBatch.from_json(dead_body).items[0].failure.code == "AccessDenied"


def test_dispatch_sends_nothing_when_all_keys_copied():
    batch = CopyBatch("job", "src", "dst", (CopyItem("ok", 1),))
    sqs = FakeSQS()
    dispatch_failures(batch, CopyOutcome((CopyItem("ok", 1),), (), ()), outbox=Outbox(sqs, KEY, None, COPY_URL), dead_letter_url=DLQ_URL)
    assert sqs.batch_requests == []


def test_dispatch_packs_many_retry_keys_into_batches_of_100():
    retry = tuple(failed(f"k{i:03d}", "SlowDown", 1) for i in range(250))
    batch = CopyBatch("job", "src", "dst", tuple(CopyItem(i.key, i.size) for i in retry))
    sqs = FakeSQS()
    dispatch_failures(batch, CopyOutcome((), retry, ()), outbox=Outbox(sqs, KEY, None, COPY_URL), dead_letter_url=DLQ_URL)
    parsed = [CopyBatch.from_json(b) for b in sqs.bodies(COPY_URL)]
    assert [len(b.items) for b in parsed] == [100, 100, 50]
    assert tuple(item for b in parsed for item in b.items) == retry
    assert len(set(sqs.delays(COPY_URL))) == 1
