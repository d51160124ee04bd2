"""Local mode acting as other accounts' roles (in-process moto STS): clients made for a role carry
the role's assumed credentials, and each handler reaches each bucket as that side's role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from copy_objects import app as copy_app
from list_objects import app as list_app
from s3fanout import clients
from s3fanout.messages import CopyBatch, ListTask
from tests.integration.conftest import DEST, KEY, SOURCE, Aws, context

SOURCE_ROLE = "arn:aws:iam::111111111111:role/source-reader"
DEST_ROLE = "arn:aws:iam::222222222222:role/dest-writer"


def access_key(s3: Any) -> str:
    return str(s3._request_signer._credentials.get_frozen_credentials().access_key)


def test_a_role_client_acts_with_the_roles_assumed_credentials(aws: Aws) -> None:
    own, assumed = clients.s3(), clients.s3(None, SOURCE_ROLE)
    assert access_key(assumed) != access_key(own)
    # STS hands out temporary keys; botocore renews them before they expire.
    assert access_key(assumed).startswith("ASIA")
    assert clients.s3(None, SOURCE_ROLE) is assumed and clients.s3(None, DEST_ROLE) is not assumed


def test_each_side_is_reached_as_its_role(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_ROLE_ARN", SOURCE_ROLE)
    monkeypatch.setenv("DEST_ROLE_ARN", DEST_ROLE)
    aws.s3.put_object(Bucket=SOURCE, Key="k", Body=b"x")
    calls: list[tuple[str | None, str, str]] = []
    real: Callable[..., Any] = clients.s3

    class AsRole:
        def __init__(self, client: Any, role: str | None) -> None:
            self._client, self._role = client, role

        def __getattr__(self, name: str) -> Any:
            attribute = getattr(self._client, name)
            if name in ("list_objects_v2", "copy_object"):

                def call(**request: Any) -> Any:
                    calls.append((self._role, name, request["Bucket"]))
                    return attribute(**request)

                return call
            return attribute

    monkeypatch.setattr(clients, "s3", lambda region=None, role_arn=None, endpoint_url=None, profile=None, credentials_secret_arn=None: AsRole(real(region, role_arn), role_arn))

    list_app.lambda_handler(aws.event(aws.queues.list_url, ListTask("job-1", SOURCE, DEST).to_json()), context())
    [body] = aws.drain(aws.queues.copy_url)
    copy_app.lambda_handler(aws.event(aws.queues.copy_url, CopyBatch.from_json(KEY.open(body)).to_json()), context())

    assert sorted(set(calls)) == sorted({(SOURCE_ROLE, "list_objects_v2", SOURCE), (DEST_ROLE, "list_objects_v2", DEST), (DEST_ROLE, "copy_object", DEST)})
