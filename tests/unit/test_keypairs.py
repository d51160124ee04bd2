"""The key pair a stack's SourceCredentialsSecretArn holds: the JSON shapes it may take, and
errors that say what is wrong without ever showing a key."""

from __future__ import annotations

import json
import re

import pytest

from s3fanout.clients import Access
from s3fanout.keypairs import CredentialsSecretError, KeyPair, parse_key_pair

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:minio-keys-AbCdEf"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"aws_access_key_id": "AKID", "aws_secret_access_key": "SECRET"}, KeyPair("AKID", "SECRET")),
        ({"AccessKeyId": "AKID", "SecretAccessKey": "SECRET", "SessionToken": "TOKEN"}, KeyPair("AKID", "SECRET", "TOKEN")),
        ({"access_key_id": "AKID", "secret_access_key": "SECRET", "note": "R2 read-only key"}, KeyPair("AKID", "SECRET")),
        ({"aws_access_key_id": "AKID", "aws_secret_access_key": "SECRET", "aws_session_token": ""}, KeyPair("AKID", "SECRET")),
    ],
)
def test_the_shapes_a_secret_may_take(value: dict[str, str], expected: KeyPair) -> None:
    assert parse_key_pair(json.dumps(value), ARN) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AKID:SECRET", "must hold a JSON object"),
        ('["AKID", "SECRET"]', "must hold a JSON object"),
        ('{"aws_access_key_id": "AKID"}', "lacks aws_secret_access_key (its JSON has: aws_access_key_id)"),
        ("{}", "lacks aws_access_key_id and aws_secret_access_key (its JSON has: nothing)"),
        ('{"aws_access_key_id": 12, "aws_secret_access_key": "SECRET"}', "aws_access_key_id must be a string"),
    ],
)
def test_a_secret_without_a_pair_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(CredentialsSecretError, match=re.escape(message)) as raised:
        parse_key_pair(text, ARN)
    assert ARN in str(raised.value)
    assert "SECRET" not in str(raised.value)


def test_a_pair_never_shows_its_secret() -> None:
    shown = repr(KeyPair("AKID", "SECRET", "TOKEN"))
    assert "AKID" in shown and "SECRET" not in shown and "TOKEN" not in shown


def test_access_from_and_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_ENDPOINT_URL", "https://minio.example.com")
    monkeypatch.setenv("SOURCE_CREDENTIALS_SECRET_ARN", ARN)
    # Empty, as a template parameter left empty gives: unset.
    monkeypatch.setenv("SOURCE_PROFILE", "")
    source = Access.from_env("SOURCE")
    assert source == Access(endpoint_url="https://minio.example.com", credentials_secret_arn=ARN)
    assert source.to_env("SOURCE") == {"SOURCE_ENDPOINT_URL": "https://minio.example.com", "SOURCE_CREDENTIALS_SECRET_ARN": ARN}
    assert source.to_record("source") == {
        "source_role_arn": None,
        "source_endpoint_url": "https://minio.example.com",
        "source_profile": None,
        "source_credentials_secret_arn": ARN,
    }


@pytest.mark.parametrize(
    ("source", "same"),
    [
        (Access(), True),
        (Access(role_arn="arn:aws:iam::123456789012:role/reader"), True),
        (Access(credentials_secret_arn=ARN), False),  # another account's keys at AWS S3
        (Access(endpoint_url="https://minio.example.com", credentials_secret_arn=ARN), False),
    ],
)
def test_other_keys_are_another_store(source: Access, same: bool) -> None:
    assert source.same_store(Access()) is same
