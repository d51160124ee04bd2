"""A listing that cannot be trusted fails its task for good, and a delete pass deletes nothing.

Through the lister's handler against in-process moto, with the S3 client wrapped to misbehave as
a second S3 implementation did (LocalStack): a source listing that leaves out a key the source
holds, and pagination that serves the same page with the same token forever.
"""

from __future__ import annotations

from typing import Any

import pytest

from list_objects import app
from s3fanout import clients
from s3fanout.messages import ListTask
from tests.integration.conftest import DEST, SOURCE, Aws, context


class MisbehavingListings:
    """The real client, but ListObjectsV2 on the source leaves out ``unlisted`` keys, or (with
    ``stuck``) answers its first page again and again, token and all."""

    def __init__(self, real: Any, *, unlisted: frozenset[str] = frozenset(), stuck: bool = False) -> None:
        self._real = real
        self._unlisted = unlisted
        self._stuck = stuck
        self._first: dict[str, Any] | None = None
        self.source_pages = 0  # pages asked for; one-key probes (of how far keys go) not counted

    def list_objects_v2(self, **request: Any) -> Any:
        if request["Bucket"] != SOURCE:
            return self._real.list_objects_v2(**request)
        self.source_pages += request["MaxKeys"] > 1
        if self._stuck and self._first is not None:
            return self._first
        response = self._real.list_objects_v2(**request)
        response["Contents"] = [entry for entry in response.get("Contents", []) if entry["Key"] not in self._unlisted]
        self._first = self._first or response
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def fill(aws: Aws, bucket: str, keys: list[str]) -> None:
    for key in keys:
        aws.s3.put_object(Bucket=bucket, Key=key, Body=b"x")


def dest_keys(aws: Aws) -> list[str]:
    return [o["Key"] for o in aws.s3.list_objects_v2(Bucket=DEST).get("Contents", [])]


def test_a_key_the_source_listing_left_out_is_not_deleted(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(aws, SOURCE, ["a", "b", "c"])
    fill(aws, DEST, ["a", "b", "b-orphan", "c"])
    real = clients.s3()
    monkeypatch.setattr(clients, "s3", lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: MisbehavingListings(real, unlisted=frozenset({"b"})))

    event = aws.event(aws.queues.list_url, ListTask("job-1", SOURCE, DEST, mode="delete").to_json())
    assert app.lambda_handler(event, context()) == {"batchItemFailures": []}

    # Neither "b" (the source has it) nor the real orphan of the same group was deleted.
    assert dest_keys(aws) == ["a", "b", "b-orphan", "c"]
    [letter] = aws.dead_letters(aws.queues.list_dlq_url)
    assert (letter.job_id, letter.code) == ("job-1", "ListingError")
    assert "key 'b' is missing from the listing of bucket 'source-bucket'" in letter.message


def test_real_orphans_are_deleted_after_moto_answers_404(aws: Aws) -> None:
    fill(aws, SOURCE, ["a", "c"])
    fill(aws, DEST, ["a", "b-orphan", "c", "z-orphan"])

    event = aws.event(aws.queues.list_url, ListTask("job-1", SOURCE, DEST, mode="delete").to_json())
    assert app.lambda_handler(event, context()) == {"batchItemFailures": []}

    assert dest_keys(aws) == ["a", "c"]
    assert aws.drain(aws.queues.list_dlq_url) == []


def test_pagination_stuck_on_one_page_fails_the_task_after_two_requests(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(aws, SOURCE, [f"k{i:04d}" for i in range(1500)])
    real = clients.s3()
    stuck = MisbehavingListings(real, stuck=True)
    monkeypatch.setattr(clients, "s3", lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: stuck)

    event = aws.event(aws.queues.list_url, ListTask("job-1", SOURCE, DEST).to_json())
    assert app.lambda_handler(event, context()) == {"batchItemFailures": []}

    assert stuck.source_pages == 2
    [letter] = aws.dead_letters(aws.queues.list_dlq_url)
    assert letter.code == "ListingError"
    assert "page 2: key 'k0000' is not after 'k0999', the last key of page 1" in letter.message
