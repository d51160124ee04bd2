"""Cached boto3 clients, configured once for the whole process.

boto3 reads the standard endpoint variables itself (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3,
AWS_ENDPOINT_URL_SQS, ...), so the tool can be pointed at moto or any S3-compatible store without
code changes. ``reset()`` forgets the clients, for tests that change the environment or start mocks.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from botocore.config import Config

# Enough pooled connections for a copier's thread pool plus the listing and queue calls around it.
MAX_POOL_CONNECTIONS = 64


def _config(service: str) -> Config:
    options: dict[str, Any] = {
        # Adaptive mode adds client-side rate limiting on top of the standard retries, which is what
        # S3's 503 SlowDown asks for while a prefix partition scales.
        "retries": {"mode": "adaptive", "max_attempts": 8},
        "max_pool_connections": MAX_POOL_CONNECTIONS,
        "connect_timeout": 10,
        # S3 keeps a long CopyObject alive with whitespace, so a read stalls only if something broke.
        "read_timeout": 120,
    }
    if service == "s3" and (os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")):
        # S3-compatible endpoints (moto, MinIO, ...) rarely serve virtual-hosted bucket names.
        options["s3"] = {"addressing_style": "path"}
    return Config(**options)


@functools.cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_config(service))


def s3() -> Any:
    return client("s3")


def sqs() -> Any:
    return client("sqs")


def cloudformation() -> Any:
    return client("cloudformation")


def reset() -> None:
    client.cache_clear()
