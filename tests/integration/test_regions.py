"""Buckets in two regions (in-process moto): the pre-flight finds each bucket's region once, the
messages carry them, and each handler reaches each bucket through a client of its region."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from copy_objects import app as copy_app
from list_objects import app as list_app
from s3fanout import clients
from s3fanout.job import JobSpec
from s3fanout.messages import CopyBatch, ListTask
from s3fanout.preflight import check_buckets
from tests.integration.conftest import DEST, KEY, SOURCE, Aws, context

SOURCE_REGION, DEST_REGION = "us-west-1", "eu-central-1"


@pytest.fixture
def regional(aws: Aws) -> Aws:
    """SOURCE in us-west-1 and DEST in eu-central-1 (re-created there)."""
    for bucket, region in ((SOURCE, SOURCE_REGION), (DEST, DEST_REGION)):
        aws.s3.delete_bucket(Bucket=bucket)
        aws.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    return aws


class Recording:
    """A client that notes (its region, operation, bucket) of every call."""

    def __init__(self, real: Any, region: str | None, calls: list[tuple[str | None, str, str]]) -> None:
        self._real, self._region, self._calls = real, region, calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if not callable(attribute) or name.startswith("_") or name in ("meta", "exceptions", "get_paginator"):
            return attribute

        def call(**request: Any) -> Any:
            self._calls.append((self._region, name, str(request.get("Bucket"))))
            return attribute(**request)

        return call


def record_regions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, str, str]]:
    calls: list[tuple[str | None, str, str]] = []
    real: Callable[..., Any] = clients.s3
    monkeypatch.setattr(clients, "s3", lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: Recording(real(region, role_arn), region, calls))
    return calls


def test_the_preflight_finds_each_buckets_region(regional: Aws) -> None:
    assert check_buckets(clients.probe_s3(), JobSpec(SOURCE, DEST)) == (SOURCE_REGION, DEST_REGION)


def test_listing_and_copying_use_each_buckets_own_region(regional: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    source = clients.s3(SOURCE_REGION)
    for index in range(5):
        source.put_object(Bucket=SOURCE, Key=f"k{index}", Body=b"x" * index)
    calls = record_regions(monkeypatch)
    task = ListTask("job-1", SOURCE, DEST, source_region=SOURCE_REGION, dest_region=DEST_REGION)

    list_app.lambda_handler(regional.event(regional.queues.list_url, task.to_json()), context())
    [body] = regional.drain(regional.queues.copy_url)
    batch = CopyBatch.from_json(KEY.open(body))
    assert batch.regions == (SOURCE_REGION, DEST_REGION)
    copy_app.lambda_handler(regional.event(regional.queues.copy_url, batch.to_json()), context())

    assert {(region, bucket) for region, operation, bucket in calls if operation == "list_objects_v2"} == {(SOURCE_REGION, SOURCE), (DEST_REGION, DEST)}
    # S3 serves a copy in the destination's region.
    assert {region for region, operation, _ in calls if operation == "copy_object"} == {DEST_REGION}
    dest = clients.s3(DEST_REGION).list_objects_v2(Bucket=DEST)
    assert sorted(o["Key"] for o in dest["Contents"]) == [f"k{index}" for index in range(5)]
