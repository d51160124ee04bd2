"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from s3fanout.motoserver import EmbeddedMoto
from tests.e2e.faults import FaultyEndpoint


def fresh_buckets(server: EmbeddedMoto, *buckets: str) -> Any:
    """An S3 client of the session's moto server, wiped, with these buckets created empty."""
    server.reset()
    client = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1")
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    return client


@pytest.fixture
def faulty() -> Iterator[FaultyEndpoint]:
    """A fault-injecting S3/SQS endpoint (moto in this process) with fresh state and no rules."""
    with FaultyEndpoint() as endpoint:
        yield endpoint
