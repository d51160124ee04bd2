"""The copier's Lambda handler against in-process moto: what is copied, retried, dead-lettered."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from copy_objects import app
from s3fanout import clients
from s3fanout.copying.limit import forget_environment_limits
from s3fanout.messages import CopyBatch, CopyItem, KeyFailure, ListTask
from tests.integration.conftest import DEST, SOURCE, Aws, context

AWKWARD = ["é-first", "日本/データ", "😀", "with space", "a+b", "100%", "q?x=1", "frag#ment", "/leading", "\x01ctl", "k" * 1024]
HEADERS = {
    "Metadata": {"owner": "team-a", "note": "plain ascii, as S3 requires"},
    "ContentType": "text/csv",
    "CacheControl": "max-age=60",
    "ContentDisposition": "inline",
    "ContentEncoding": "identity",
    "ContentLanguage": "fr",
}


def put(aws: Aws, key: str, body: bytes = b"data", **extra: Any) -> CopyItem:
    etag = aws.s3.put_object(Bucket=SOURCE, Key=key, Body=body, **extra)["ETag"]
    return CopyItem(key, len(body), etag)


def batch(*items: CopyItem) -> str:
    return CopyBatch("job-1", SOURCE, DEST, tuple(items)).to_json()


def dest_keys(aws: Aws) -> set[str]:
    return {o["Key"] for o in aws.s3.list_objects_v2(Bucket=DEST).get("Contents", [])}


class FailingCopies:
    """An S3 client whose CopyObject fails for chosen keys with a chosen error code."""

    def __init__(self, real: Any, failures: dict[str, str]) -> None:
        self._real = real
        self._failures = failures

    def copy_object(self, **request: Any) -> Any:
        code = self._failures.get(request["Key"])
        if code:
            raise ClientError({"Error": {"Code": code, "Message": f"{code} injected"}}, "CopyObject")
        return self._real.copy_object(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def inject_copy_failures(monkeypatch: pytest.MonkeyPatch, failures: dict[str, str]) -> None:
    real = clients.s3()
    monkeypatch.setattr(clients, "s3", lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: FailingCopies(real, failures))


def test_copies_every_key_with_metadata_and_tags(aws: Aws) -> None:
    items = [put(aws, key, b"" if key == "😀" else b"payload", Tagging="a=1&b=two%20words", **HEADERS) for key in AWKWARD]
    event = aws.event(aws.queues.copy_url, batch(*items))

    assert app.lambda_handler(event, context()) == {"batchItemFailures": []}

    assert dest_keys(aws) == set(AWKWARD)
    for key in AWKWARD:
        head = aws.s3.head_object(Bucket=DEST, Key=key)
        assert {name: head.get(name) for name in HEADERS} == HEADERS
        tags = aws.s3.get_object_tagging(Bucket=DEST, Key=key)["TagSet"]
        assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "two words")]
    assert aws.drain(aws.queues.copy_url) == [] and aws.drain(aws.queues.copy_dlq_url) == []


def test_unreadable_records_go_to_the_dlq_with_their_reason(aws: Aws) -> None:
    good = put(aws, "good")
    event = aws.event(aws.queues.copy_url, batch(good), "not json at all", ListTask("job-1", SOURCE, DEST).to_json(), '{"v": 9, "type": "copy"}')

    # Not failed (they would fail on every delivery): dead-lettered at once, with the reason.
    assert app.lambda_handler(event, context()) == {"batchItemFailures": []}

    assert dest_keys(aws) == {"good"}
    letters = sorted(aws.dead_letters(aws.queues.copy_dlq_url), key=lambda letter: letter.message)
    assert [letter.code for letter in letters] == ["InvalidMessage"] * 3
    assert "expected a copy batch" in letters[0].message
    # Not even a JSON object, so it cannot carry a seal: refused before it is read.
    assert "not signed" in letters[1].message and "not json at all" in letters[1].message
    assert "unsupported message version 9" in letters[2].message


def test_missing_source_key_goes_to_the_dlq_with_its_reason(aws: Aws) -> None:
    present = put(aws, "present")
    event = aws.event(aws.queues.copy_url, batch(present, CopyItem("vanished", 5, None)))

    assert app.lambda_handler(event, context()) == {"batchItemFailures": []}

    assert dest_keys(aws) == {"present"}
    [letter] = aws.dead_letters(aws.queues.copy_dlq_url)
    assert (letter.key, letter.code, letter.attempts) == ("vanished", "NoSuchKey", 1)
    assert aws.drain(aws.queues.copy_url) == []


def test_transient_failure_requeues_only_the_failed_key(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [put(aws, f"key-{i}") for i in range(5)]
    inject_copy_failures(monkeypatch, {"key-3": "SlowDown"})
    event = aws.event(aws.queues.copy_url, batch(*items))

    assert app.lambda_handler(event, context()) == {"batchItemFailures": []}

    assert dest_keys(aws) == {"key-0", "key-1", "key-2", "key-4"}
    [retry] = aws.drain(aws.queues.copy_url)
    [item] = CopyBatch.from_json(retry).items
    assert item.key == "key-3" and item.etag == items[3].etag
    assert item.failure is not None and (item.failure.code, item.failure.attempts) == ("SlowDown", 1)
    assert aws.drain(aws.queues.copy_dlq_url) == []

    # The retry succeeds once S3 recovers, and copies that key alone.
    monkeypatch.setattr(clients, "s3", lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: aws.s3)
    assert app.lambda_handler(aws.event(aws.queues.copy_url, retry), context()) == {"batchItemFailures": []}
    assert dest_keys(aws) == {f"key-{i}" for i in range(5)}


def test_key_that_keeps_failing_goes_to_the_dlq_after_max_attempts(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPY_MAX_ATTEMPTS", "3")
    inject_copy_failures(monkeypatch, {"flaky": "InternalError"})
    failure = KeyFailure("InternalError", "earlier", 2, "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:05+00:00")
    item = CopyItem("flaky", 4, None, failure)

    assert app.lambda_handler(aws.event(aws.queues.copy_url, batch(item)), context()) == {"batchItemFailures": []}

    assert aws.drain(aws.queues.copy_url) == []
    [dead] = aws.drain(aws.queues.copy_dlq_url)
    [item] = CopyBatch.from_json(dead).items
    assert item.failure is not None
    assert (item.failure.attempts, item.failure.first_failed) == (3, "2026-01-01T00:00:00+00:00")


def test_permanent_error_is_not_retried(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [put(aws, "denied"), put(aws, "fine")]
    inject_copy_failures(monkeypatch, {"denied": "AccessDenied"})

    assert app.lambda_handler(aws.event(aws.queues.copy_url, batch(*items)), context()) == {"batchItemFailures": []}

    assert aws.drain(aws.queues.copy_url) == []
    [dead] = aws.drain(aws.queues.copy_dlq_url)
    [item] = CopyBatch.from_json(dead).items
    assert item.key == "denied" and item.failure is not None and item.failure.code == "AccessDenied"


def test_record_fails_when_its_failed_keys_cannot_be_queued(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    # Losing the record of a failed key is not an option: the whole record is retried instead.
    monkeypatch.setenv("COPY_DLQ_URL", aws.queues.copy_dlq_url + "-missing")
    event = aws.event(aws.queues.copy_url, batch(CopyItem("vanished", 1, None)))

    response = app.lambda_handler(event, context())

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_an_invocations_records_are_copied_at_once_sharing_the_copiers_limit(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPY_CONCURRENCY", "3")
    forget_environment_limits()
    records = [[put(aws, f"r{record}/k{i}") for i in range(4)] for record in range(3)]
    event = aws.event(aws.queues.copy_url, *(batch(*items) for items in records))
    # Each record's first copy waits until one copy of every record is in flight: records worked
    # one after another would break the barrier (and their keys would be retried).
    first_of_each = threading.Barrier(3, timeout=20)
    started: set[str] = set()
    in_flight, most = 0, 0
    lock = threading.Lock()

    def before(params: dict[str, Any], **_: Any) -> None:
        nonlocal in_flight, most
        record = params["Key"].split("/")[0]
        with lock:
            in_flight += 1
            most = max(most, in_flight)
            first = record not in started
            started.add(record)
        if first:
            first_of_each.wait()

    def after(**_: Any) -> None:
        nonlocal in_flight
        with lock:
            in_flight -= 1

    s3 = clients.s3()
    s3.meta.events.register("provide-client-params.s3.CopyObject", before)
    s3.meta.events.register("after-call.s3.CopyObject", after)
    try:
        assert app.lambda_handler(event, context()) == {"batchItemFailures": []}
    finally:
        forget_environment_limits()

    assert not first_of_each.broken
    assert dest_keys(aws) == {item.key for items in records for item in items}
    # The three records shared the copier's three slots.
    assert most == 3
    assert aws.drain(aws.queues.copy_url) == [] and aws.drain(aws.queues.copy_dlq_url) == []
