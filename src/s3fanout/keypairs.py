"""Access key pairs kept in Secrets Manager: how a deployed stack reads a source outside its own
account's reach (another provider's store, or another AWS account's keys) without the keys ever
being a template parameter, an environment variable or a log line.

The secret's value is a JSON object holding the pair under the names the AWS config files use
(``aws_access_key_id``, ``aws_secret_access_key``, optionally ``aws_session_token``), or the
names IAM's CreateAccessKey answers with (``AccessKeyId``, ``SecretAccessKey``,
``SessionToken``), so that either can be pasted as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

# Each part of the pair and the names it may go by in the secret, the first the usual one.
FIELD_NAMES = {
    "access_key_id": ("aws_access_key_id", "AccessKeyId", "access_key_id"),
    "secret_access_key": ("aws_secret_access_key", "SecretAccessKey", "secret_access_key"),
    "session_token": ("aws_session_token", "SessionToken", "session_token"),
}


class CredentialsSecretError(RuntimeError):
    """The secret cannot be read, or does not hold a key pair; the message never holds a key."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    access_key_id: str
    # Not in repr: a pair that reaches a log or a traceback shows its key id only.
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def parse_key_pair(secret_string: str, secret_arn: str) -> KeyPair:
    """The pair in a secret's string value (the module's JSON shapes)."""
    try:
        value = json.loads(secret_string)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise CredentialsSecretError(f"secret {secret_arn} must hold a JSON object with aws_access_key_id and aws_secret_access_key")
    found: dict[str, str] = {}
    for part, names in FIELD_NAMES.items():
        given = next((value[name] for name in names if value.get(name)), None)
        if given is not None and not isinstance(given, str):
            raise CredentialsSecretError(f"secret {secret_arn}: {names[0]} must be a string")
        if given:
            found[part] = given
    missing = [FIELD_NAMES[part][0] for part in ("access_key_id", "secret_access_key") if part not in found]
    if missing:
        raise CredentialsSecretError(f"secret {secret_arn} lacks {' and '.join(missing)} (its JSON has: {', '.join(sorted(value)) or 'nothing'})")
    return KeyPair(found["access_key_id"], found["secret_access_key"], found.get("session_token"))


def key_pair_from_secret(secretsmanager: SecretsManagerClient, secret_arn: str) -> KeyPair:
    """Read the secret (its current version) and the pair it holds."""
    try:
        answer = secretsmanager.get_secret_value(SecretId=secret_arn)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Error")
        raise CredentialsSecretError(f"cannot read the credentials secret {secret_arn} ({code}): it needs secretsmanager:GetSecretValue on it") from None
    except BotoCoreError as error:
        raise CredentialsSecretError(f"cannot read the credentials secret {secret_arn}: {error}") from None
    if "SecretString" not in answer:
        raise CredentialsSecretError(f"secret {secret_arn} holds binary data, not a JSON key pair")
    return parse_key_pair(answer["SecretString"], secret_arn)
