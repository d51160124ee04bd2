"""Every test runs against moto only: fake credentials, no real endpoint, a shared moto server."""

import os
import tempfile
from collections.abc import Iterator

import pytest

from s3fanout.motoserver import EmbeddedMoto

# Set before any boto3 client exists, so no test can reach a real account.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_SERVICE_NAME="s3fanout-test",
    POWERTOOLS_METRICS_NAMESPACE="S3FanoutTest",
    # Local mode's message key and job records: never the developer's own ~/.s3fanout.
    S3FANOUT_HOME=tempfile.mkdtemp(prefix="s3fanout-home-"),
)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[EmbeddedMoto]:
    """One moto server (`python -m moto.server`) on a free loopback port for the whole session.

    Starting one takes about a second; tests that need a clean slate call ``reset()``.
    """
    with EmbeddedMoto() as server:
        yield server


@pytest.fixture(scope="session")
def moto_endpoint(moto_server: EmbeddedMoto) -> str:
    return moto_server.url
