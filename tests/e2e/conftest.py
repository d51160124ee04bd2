"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.faults import FaultyEndpoint


@pytest.fixture
def faulty() -> Iterator[FaultyEndpoint]:
    """A fault-injecting S3/SQS endpoint (moto in this process) with fresh state and no rules."""
    with FaultyEndpoint() as endpoint:
        yield endpoint
