"""A stack whose source is read with the key pair in a Secrets Manager secret (its parameters
SourceEndpointUrl and SourceCredentialsSecretArn), through the copier's and lister's handlers
against in-process moto: the secret is read once per execution environment, the source's client
signs with its keys, and every object is streamed, large ones in parts (in this invocation or as
part tasks), with its metadata and tags.

In-process moto is one store whatever the keys, so "another store" here is the same moto with
other credentials: what differs is only how the copier reaches it, which is what is tested.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from copy_objects import app
from list_objects import app as list_app
from s3fanout import clients
from s3fanout.copying.limit import forget_environment_limits
from s3fanout.handling import must_stream
from s3fanout.messages import CopyBatch, CopyItem, ListTask
from tests.integration.conftest import DEST, SOURCE, Aws, context
from tests.integration.test_multipart_copy import HEADERS, TAGGING, UnknownUploadIsNoSuchUpload, assert_copied, uploads_left

MiB = 1024**2
SOURCE_KEYS = {"aws_access_key_id": "AKIASOURCEKEYS000001", "aws_secret_access_key": "secret-of-the-source"}


@pytest.fixture
def source_secret(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The stack's SourceCredentialsSecretArn, holding the source's keys; parts of 5 MiB."""
    arn = clients.secretsmanager().create_secret(Name="source-keys", SecretString=json.dumps(SOURCE_KEYS))["ARN"]
    monkeypatch.setenv("SOURCE_CREDENTIALS_SECRET_ARN", arn)
    monkeypatch.setenv("MULTIPART_THRESHOLD_BYTES", str(5 * MiB + 1))
    monkeypatch.setenv("STREAM_CHUNK_BYTES", str(5 * MiB))
    forget_environment_limits()
    clients.reset()
    yield arn
    forget_environment_limits()
    clients.reset()


def put(aws: Aws, key: str, size: int, **extra: Any) -> tuple[CopyItem, bytes]:
    body = os.urandom(size)
    etag = aws.s3.put_object(Bucket=SOURCE, Key=key, Body=body, **extra)["ETag"]
    return CopyItem(key, size, etag), body


def batch(*items: CopyItem) -> str:
    return CopyBatch("job-secret", SOURCE, DEST, tuple(items)).to_json()


def signing_key(s3: Any) -> str:
    return str(s3._request_signer._credentials.get_frozen_credentials().access_key)


def test_the_source_is_read_with_the_secrets_keys_read_once(source_secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real = clients.key_pair_from_secret
    monkeypatch.setattr(clients, "key_pair_from_secret", lambda client, arn: reads.append(arn) or real(client, arn))
    source = clients.Access.from_env("SOURCE")
    assert source == clients.Access(credentials_secret_arn=source_secret)
    assert must_stream()

    assert signing_key(clients.s3_for(source, "us-east-1")) == SOURCE_KEYS["aws_access_key_id"]
    assert signing_key(clients.s3_for(source, "eu-west-1")) == SOURCE_KEYS["aws_access_key_id"]
    # The destination is written as the function itself.
    assert signing_key(clients.s3_for(clients.Access.from_env("DEST"))) != SOURCE_KEYS["aws_access_key_id"]
    assert reads == [source_secret]


def test_objects_are_streamed_small_and_large(aws: Aws, source_secret: str) -> None:
    large, body = put(aws, "big/é 日本+%.bin", 12 * MiB, Tagging=TAGGING, **HEADERS)
    little, little_body = put(aws, "little #?", 100, Tagging=TAGGING, **HEADERS)
    empty, _ = put(aws, "empty", 0)

    assert app.lambda_handler(aws.event(aws.queues.copy_url, batch(large, little, empty)), context()) == {"batchItemFailures": []}

    # Read and uploaded in parts of 5 MiB, with the source's metadata and tags.
    assert_copied(aws, large.key, body)
    assert aws.s3.get_object(Bucket=DEST, Key=little.key)["Body"].read() == little_body
    head = aws.s3.head_object(Bucket=DEST, Key=little.key)
    assert {name: head.get(name) for name in HEADERS} == HEADERS
    assert aws.s3.head_object(Bucket=DEST, Key="empty")["ContentLength"] == 0
    assert uploads_left(aws) == []
    assert aws.drain(aws.queues.copy_url) == [] and aws.drain(aws.queues.copy_dlq_url) == []


def test_a_large_streamed_object_is_split_into_part_tasks(aws: Aws, source_secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # One part per task: the estimate of a part (5 MiB at 20 MiB/s) exceeds a task's budget.
    monkeypatch.setattr("s3fanout.copying.multipart.PART_TASK_SECONDS", 0.01)
    monkeypatch.setenv("COPY_CONCURRENCY", "1")
    large, body = put(aws, "huge/streamed", 12 * MiB, Tagging=TAGGING, **HEADERS)

    assert app.lambda_handler(aws.event(aws.queues.copy_url, batch(large)), context()) == {"batchItemFailures": []}

    tasks = [CopyBatch.from_json(b) for b in aws.drain(aws.queues.copy_url)]
    assert sorted((t.items[0].parts.first, t.items[0].parts.last, t.items[0].parts.part_size) for t in tasks) == [  # type: ignore[union-attr]
        (1, 1, 5 * MiB),
        (2, 2, 5 * MiB),
        (3, 3, 5 * MiB),
    ]
    for task in sorted(tasks, key=lambda t: -t.items[0].parts.first):  # type: ignore[union-attr]
        assert "Contents" not in aws.s3.list_objects_v2(Bucket=DEST)
        assert app.lambda_handler(aws.event(aws.queues.copy_url, task.to_json()), context()) == {"batchItemFailures": []}

    assert_copied(aws, large.key, body)
    assert uploads_left(aws) == []
    assert aws.drain(aws.queues.copy_url) == [] and aws.drain(aws.queues.copy_dlq_url) == []


class ChangedBeforeItsParts(UnknownUploadIsNoSuchUpload):
    """The source object is overwritten after the copier read its attributes, before its parts."""

    def __getattr__(self, name: str) -> Any:
        if name == "get_object":
            self._real.put_object(Bucket=SOURCE, Key="changed", Body=b"new")
        return super().__getattr__(name)


def test_a_streamed_part_of_a_changed_source_fails_its_key_and_aborts_the_upload(aws: Aws, source_secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPY_MAX_ATTEMPTS", "1")
    large, _ = put(aws, "changed", 12 * MiB)
    real = clients.s3()
    monkeypatch.setattr(clients, "s3", lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: ChangedBeforeItsParts(real))

    assert app.lambda_handler(aws.event(aws.queues.copy_url, batch(large)), context()) == {"batchItemFailures": []}

    # The ranged read is pinned to the listed ETag (IfMatch): nothing of the new object is copied.
    [letter] = aws.dead_letters(aws.queues.copy_dlq_url)
    assert (letter.key, letter.code) == ("changed", "PreconditionFailed"), letter
    assert uploads_left(aws) == []
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=DEST)


def test_the_lister_lists_the_source_with_the_secrets_keys(aws: Aws, source_secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("a", "b", "c"):
        aws.s3.put_object(Bucket=SOURCE, Key=key, Body=key.encode())
    listed_with: list[str] = []
    real = clients.s3_for

    def recording(access: clients.Access, region: str | None = None) -> Any:
        client = real(access, region)
        listed_with.append(signing_key(client))
        return client

    monkeypatch.setattr(clients, "s3_for", recording)

    assert list_app.lambda_handler(aws.event(aws.queues.list_url, ListTask("job-secret", SOURCE, DEST).to_json()), context()) == {"batchItemFailures": []}

    [copy_batch] = [CopyBatch.from_json(b) for b in aws.drain(aws.queues.copy_url)]
    assert [item.key for item in copy_batch.items] == ["a", "b", "c"]
    assert listed_with[0] == SOURCE_KEYS["aws_access_key_id"]
