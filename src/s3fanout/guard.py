"""What the functions accept: the checks every message passes before any S3 request is made.

A handler is told in its configuration (template.yaml's environment, or local mode's) which
buckets and key prefix its stack serves, whether it may delete, and how long a chain of re-queued
tasks may grow. A message is refused, and goes to its dead-letter queue with the reason, when:

- its seal does not match the stack's message key (signing.py): not sent by the stack or its
  operator;
- it names a bucket other than the configured source or destination ("*" allows any), or keys
  outside the allowed prefix;
- it is a delete-mode task and the stack may not delete;
- it reads a manifest part outside the manifests the stack may read (ManifestBucket and
  ManifestPrefix; a local run's own manifest);
- it was re-queued more than ``MAX_HOPS`` times in one chain (hand-ons, split-offs, retries, part
  tasks). Lambda's recursive-loop detection would stop such a chain after 16 invocations and
  drop the message; the template turns that detection off for both functions (a 100M-key range
  is legitimately handed on more often) and this bound takes its place, with a reason in the DLQ.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from s3fanout import clients
from s3fanout.envvars import env_int
from s3fanout.messages import CopyBatch, InvalidMessage, ListTask, Message, parse_message
from s3fanout.signing import BadSeal, MessageKey, secret_key

ANY_BUCKET = "*"
DEFAULT_MAX_HOPS = 1000


class HopLimitExceeded(Exception):
    """A message re-queued more often than the configured bound allows (``message``, which is
    otherwise within scope)."""

    code = "HopLimitExceeded"

    def __init__(self, text: str, message: Message) -> None:
        super().__init__(text)
        self.message = message


@dataclass(frozen=True, slots=True)
class Scope:
    """The buckets, prefix and powers a stack (or a local run) was configured with."""

    source_bucket: str
    dest_bucket: str
    prefix: str = ""
    allow_delete: bool = False
    max_hops: int = DEFAULT_MAX_HOPS
    # Accounts that must own the buckets (ExpectedBucketOwner); None leaves it unchecked.
    source_owner: str | None = None
    dest_owner: str | None = None
    # Where the manifest parts a list task may read are: an s3://bucket/prefix or a local path
    # prefix; None reads none.
    manifests: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Scope:
        """SOURCE_BUCKET, DEST_BUCKET (both required), ALLOWED_PREFIX, ALLOW_DELETE, MAX_HOPS,
        SOURCE_BUCKET_OWNER, DEST_BUCKET_OWNER, MANIFEST_LOCATION."""
        missing = [name for name in ("SOURCE_BUCKET", "DEST_BUCKET") if not env.get(name)]
        if missing:
            raise ValueError(f"{' and '.join(missing)} not set: the function does not know which buckets it serves")
        return cls(
            source_bucket=env["SOURCE_BUCKET"],
            dest_bucket=env["DEST_BUCKET"],
            prefix=env.get("ALLOWED_PREFIX", ""),
            allow_delete=env.get("ALLOW_DELETE", "false").lower() == "true",
            max_hops=env_int("MAX_HOPS", DEFAULT_MAX_HOPS, env),
            source_owner=env.get("SOURCE_BUCKET_OWNER") or None,
            dest_owner=env.get("DEST_BUCKET_OWNER") or None,
            manifests=env.get("MANIFEST_LOCATION") or None,
        )

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``from_env`` return this scope (for local workers)."""
        return {
            "SOURCE_BUCKET": self.source_bucket,
            "DEST_BUCKET": self.dest_bucket,
            "ALLOWED_PREFIX": self.prefix,
            "ALLOW_DELETE": "true" if self.allow_delete else "false",
            "MAX_HOPS": str(self.max_hops),
            "SOURCE_BUCKET_OWNER": self.source_owner or "",
            "DEST_BUCKET_OWNER": self.dest_owner or "",
            "MANIFEST_LOCATION": self.manifests or "",
        }

    def check(self, message: Message) -> None:
        """Raise InvalidMessage (or HopLimitExceeded) unless the message is within this scope."""
        for role, allowed, named in (("source", self.source_bucket, message.source_bucket), ("destination", self.dest_bucket, message.dest_bucket)):
            if allowed != ANY_BUCKET and named != allowed:
                raise InvalidMessage(f"{role} bucket {named!r} is not the one this stack serves ({allowed!r})")
        if message.source_bucket == message.dest_bucket:
            raise InvalidMessage(f"source and destination are the same bucket {message.source_bucket!r}")
        if isinstance(message, ListTask):
            if not message.prefix.startswith(self.prefix):
                raise InvalidMessage(f"prefix {message.prefix!r} is outside the allowed prefix {self.prefix!r}")
            if message.mode == "delete" and not self.allow_delete:
                raise InvalidMessage("a delete pass, but this stack may not delete (AllowDelete is false, or the job did not ask for --delete)")
            if message.manifest is not None:
                self.check_manifest(message.manifest.uri)
                if message.mode != "copy":
                    raise InvalidMessage("a manifest part in a delete pass: orphans are found by listing, never from a manifest")
        else:
            outside = next((item.key for item in message.items if not item.key.startswith(self.prefix)), None)
            if outside is not None:
                raise InvalidMessage(f"key {outside!r} is outside the allowed prefix {self.prefix!r}")
        if message.hops > self.max_hops:
            raise HopLimitExceeded(
                f"re-queued {message.hops} times in one chain, more than the limit of {self.max_hops} (MAX_HOPS): "
                "a range handed on or split without end, or a copy retried in a loop; redrive it to start the count again",
                message,
            )

    def check_manifest(self, uri: str) -> None:
        """Refuse a manifest data file outside the manifests this stack (or run) may read."""
        if self.manifests is None:
            raise InvalidMessage(f"reads the manifest part {uri!r}, but this stack reads no manifests (ManifestBucket is empty)")
        # A local path is compared once normalised, so that "allowed/../elsewhere" is elsewhere.
        target = uri if uri.startswith("s3://") else os.path.normpath(uri)
        if not target.startswith(self.manifests):
            raise InvalidMessage(f"manifest part {uri!r} is outside the manifests this stack may read ({self.manifests!r})")

    def owners(self, source_bucket: str, dest_bucket: str) -> dict[str, str]:
        """{bucket: expected owner account} for a job's buckets, where configured."""
        pairs = ((source_bucket, self.source_owner), (dest_bucket, self.dest_owner))
        return {bucket: owner for bucket, owner in pairs if owner}


Kind = TypeVar("Kind", ListTask, CopyBatch)


def admit(body: str, key: MessageKey, scope: Scope, kind: type[Kind]) -> Kind:
    """The message in ``body`` if its seal, kind and scope allow it; else InvalidMessage or
    HopLimitExceeded with the reason."""
    try:
        message = parse_message(key.open(body))
    except BadSeal as error:
        raise InvalidMessage(str(error)) from None
    if not isinstance(message, kind):
        expected = "list task" if kind is ListTask else "copy batch"
        raise InvalidMessage(f"expected a {expected}, got a {message.kind} message")
    scope.check(message)
    return message


def function_key() -> MessageKey:
    """The key a function opens and seals messages with: MESSAGE_KEY (local workers, given by the
    CLI), else the Secrets Manager secret MESSAGE_KEY_SECRET_ARN names (deployed)."""
    if os.environ.get("MESSAGE_KEY"):
        return MessageKey(os.environ["MESSAGE_KEY"].encode("utf-8"))
    secret_arn = os.environ.get("MESSAGE_KEY_SECRET_ARN")
    if not secret_arn:
        raise ValueError("neither MESSAGE_KEY nor MESSAGE_KEY_SECRET_ARN is set: the function cannot check who sent its messages")
    return secret_key(clients.secretsmanager(), secret_arn)
