"""Signed message bodies: only holders of the stack's message key can give the functions work.

The queues are the functions' only input, and a message names the buckets to read, write and
delete in. Anyone allowed ``sqs:SendMessage`` could otherwise make the stack copy or delete in
buckets nobody configured (a confused deputy). Every body the tool sends is sealed with an
HMAC-SHA256 under a key that only the stack (its Secrets Manager secret, readable by the two
function roles) and the operator (who reads it with their own IAM credentials to seed a job) hold;
a handler opens a body only when its seal matches. A delete pass is seeded by the operator's CLI
only after the job's copy pass ended without a failure, and a lister seals only the rest of a
range it was given, so a sealed delete-mode task proves that its job asked for ``--delete`` and
that its copies all succeeded.

The seal is appended to the compact JSON object as its last member, ``,"sig":"<64 hex>"}``, and
covers every byte before it, so verifying needs no re-serialisation: parsers that ignore unknown
members read a sealed body as they read an unsealed one.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

_SEAL = re.compile(r',"sig":"([0-9a-f]{64})"\}$')
# What sealing adds to a body: ,"sig":"<64 hex digits>"
SEAL_BYTES = len(',"sig":""') + 64

# Local mode keeps its key in a file of the operator's, like ~/.aws/credentials.
LOCAL_KEY_FILE = "message-key"


class BadSeal(ValueError):
    """A body without a seal, or with one that this key did not make."""


@dataclass(frozen=True, slots=True)
class MessageKey:
    secret: bytes = field(repr=False)

    def seal(self, body: str) -> str:
        if not (body.startswith("{") and body.endswith("}") and len(body) > 2):
            raise ValueError("only a non-empty JSON object can be sealed")
        return f'{body[:-1]},"sig":"{self._mac(body)}"}}'

    def open(self, body: str) -> str:
        """The body as it was before sealing; BadSeal unless this key sealed it."""
        match = _SEAL.search(body)
        if match is None:
            raise BadSeal("the message is not signed: only the stack and its operator may send work to its queues")
        unsealed = body[: match.start()] + "}"
        if not hmac.compare_digest(match.group(1), self._mac(unsealed)):
            raise BadSeal("the message's signature does not match this stack's message key: it was not sent by the stack or its operator")
        return unsealed

    def _mac(self, body: str) -> str:
        return hmac.new(self.secret, body.encode("utf-8"), hashlib.sha256).hexdigest()

    @classmethod
    def generate(cls) -> MessageKey:
        return cls(secrets.token_hex(32).encode("ascii"))


def local_state_dir() -> Path:
    """Where local mode keeps its key and the records of its jobs: $S3FANOUT_HOME, else ~/.s3fanout."""
    return Path(os.environ.get("S3FANOUT_HOME") or Path.home() / ".s3fanout")


def local_key() -> MessageKey:
    """Local mode's key, created (readable by this user only) on first use."""
    path = local_state_dir() / LOCAL_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Written aside and renamed: a concurrent run reads either no file or the whole key.
        draft = path.with_name(f".{LOCAL_KEY_FILE}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(MessageKey.generate().secret.decode("ascii"))
        try:
            os.link(draft, path)  # fails if another run made the key first; then that one counts
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return MessageKey(path.read_text(encoding="ascii").strip().encode("ascii"))


@functools.cache
def secret_key(secretsmanager: SecretsManagerClient, secret_id: str) -> MessageKey:
    """The stack's key from its Secrets Manager secret, read once per process."""
    return MessageKey(secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"].encode("utf-8"))
