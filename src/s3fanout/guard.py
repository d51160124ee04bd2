"""What the functions accept: the checks every message passes before any S3 request is made.

A handler is told in its configuration (template.yaml's environment, or local mode's) which
buckets and key prefix its stack serves, whether it may delete, and how long a chain of re-queued
tasks may grow. A message is refused, and goes to its dead-letter queue with the reason, when:

- its seal does not match the stack's message key (signing.py): not sent by the stack or its
  operator;
- it names a bucket other than the configured source or destinations ("*" allows any), reads keys
  outside the allowed prefix, or writes keys where its destination does not take them: one
  configured with a prefix (DestinationPrefix, --dest-prefix) takes keys under it, one configured
  without takes them under the allowed prefix, and only as they are on a stack deployed without
  DestinationPrefix (DEST_KEYS_AS_THEY_ARE);
- it is a delete-mode task and the stack may not delete;
- it reads a manifest part outside the manifests the stack may read (ManifestBucket and
  ManifestPrefix; a local run's own manifest);
- it was re-queued more than ``MAX_HOPS`` times in one chain (hand-ons, split-offs, retries, part
  tasks). Lambda's recursive-loop detection would stop such a chain after 16 invocations and
  drop the message; the template turns that detection off for both functions (a 100M-key range
  is legitimately handed on more often) and this bound takes its place, with a reason in the DLQ.
"""

from __future__ import annotations

import json
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
    # The prefix writes to ``dest_bucket`` go under (--dest-prefix); None: the allowed prefix,
    # keys as they are. ``more_dests``: the other destinations of a job of several, each a bucket
    # and such a prefix.
    dest_prefix: str | None = None
    more_dests: tuple[tuple[str, str | None], ...] = ()
    # A deployed stack without DestinationPrefix writes keys as they are: a destination configured
    # without a prefix then takes no rewritten keys (--dest-prefix), not even under the allowed
    # prefix, which it takes otherwise.
    keys_as_they_are: bool = False

    @property
    def destinations(self) -> tuple[tuple[str, str | None], ...]:
        return ((self.dest_bucket, self.dest_prefix), *self.more_dests)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Scope:
        """SOURCE_BUCKET, DEST_BUCKET (both required), ALLOWED_PREFIX, ALLOW_DELETE, MAX_HOPS,
        SOURCE_BUCKET_OWNER, DEST_BUCKET_OWNER, MANIFEST_LOCATION, DEST_PREFIX (where writes to
        DEST_BUCKET go; absent: under the allowed prefix), DEST_KEYS_AS_THEY_ARE ("true": only as
        they are, a stack deployed without DestinationPrefix), MORE_DESTINATIONS (a JSON list of
        [bucket, prefix or null]: local workers') and MORE_DEST_BUCKETS (a deployed stack's: its
        other buckets, comma-separated, each written as DEST_BUCKET is, under DEST_PREFIX; empty
        names and repeats, as the template's padding of its four slots with DEST_BUCKET, are left
        out)."""
        missing = [name for name in ("SOURCE_BUCKET", "DEST_BUCKET") if not env.get(name)]
        if missing:
            raise ValueError(f"{' and '.join(missing)} not set: the function does not know which buckets it serves")
        dest_bucket, dest_prefix = env["DEST_BUCKET"], env.get("DEST_PREFIX")
        more: list[tuple[str, str | None]] = [(str(bucket), None if prefix is None else str(prefix)) for bucket, prefix in json.loads(env.get("MORE_DESTINATIONS") or "[]")]
        for name in (env.get("MORE_DEST_BUCKETS") or "").split(","):
            bucket = name.strip()
            if bucket and bucket != dest_bucket and (bucket, dest_prefix) not in more:
                more.append((bucket, dest_prefix))
        return cls(
            source_bucket=env["SOURCE_BUCKET"],
            dest_bucket=dest_bucket,
            prefix=env.get("ALLOWED_PREFIX", ""),
            allow_delete=env.get("ALLOW_DELETE", "false").lower() == "true",
            max_hops=env_int("MAX_HOPS", DEFAULT_MAX_HOPS, env),
            source_owner=env.get("SOURCE_BUCKET_OWNER") or None,
            dest_owner=env.get("DEST_BUCKET_OWNER") or None,
            manifests=env.get("MANIFEST_LOCATION") or None,
            dest_prefix=dest_prefix,
            more_dests=tuple(more),
            keys_as_they_are=env.get("DEST_KEYS_AS_THEY_ARE", "false").lower() == "true",
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
            "MORE_DESTINATIONS": json.dumps([list(dest) for dest in self.more_dests]),
            "DEST_KEYS_AS_THEY_ARE": "true" if self.keys_as_they_are else "false",
        } | ({} if self.dest_prefix is None else {"DEST_PREFIX": self.dest_prefix})

    def check(self, message: Message) -> None:
        """Raise InvalidMessage (or HopLimitExceeded) unless the message is within this scope."""
        if self.source_bucket != ANY_BUCKET and message.source_bucket != self.source_bucket:
            raise InvalidMessage(f"source bucket {message.source_bucket!r} is not the one this stack serves ({self.source_bucket!r})")
        if isinstance(message, ListTask):
            if not message.prefix.startswith(self.prefix):
                raise InvalidMessage(f"prefix {message.prefix!r} is outside the allowed prefix {self.prefix!r}")
            for dest in message.destinations:
                self.check_destination(message.source_bucket, message.prefix, dest.bucket, dest.prefix)
            if message.dest_prefix is not None or message.more_dests:
                # Keys are rewritten from the task's bounds: they must lie under its prefix.
                outside = next((bound for bound in (message.after, message.until) if bound is not None and not bound.startswith(message.prefix)), None)
                if outside is not None:
                    raise InvalidMessage(f"range bound {outside!r} is outside the task's prefix {message.prefix!r}")
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
            rekey = message.rekey
            read_prefix = self.prefix if rekey is None else rekey.source_prefix
            outside = next((item.key for item in message.items if not item.key.startswith(read_prefix)), None)
            if outside is not None:
                raise InvalidMessage(f"key {outside!r} is outside the rewritten prefix {read_prefix!r}")
            self.check_destination(message.source_bucket, read_prefix, message.dest_bucket, None if rekey is None else rekey.dest_prefix)
        if message.hops > self.max_hops:
            raise HopLimitExceeded(
                f"re-queued {message.hops} times in one chain, more than the limit of {self.max_hops} (MAX_HOPS): "
                "a range handed on or split without end, or a copy retried in a loop; redrive it to start the count again",
                message,
            )

    def check_destination(self, source_bucket: str, read_prefix: str, bucket: str, prefix: str | None) -> None:
        """A destination a message writes to (``prefix``: where the keys read under
        ``read_prefix`` go; None: as they are): a configured bucket, its keys written where it takes
        them (under its prefix; without one, under the allowed prefix, or as they are with
        ``keys_as_they_are``), and never over what is read (the same bucket only with prefixes
        apart)."""
        writes = read_prefix if prefix is None else prefix
        configured = list(dict.fromkeys(dest_prefix for name, dest_prefix in self.destinations if name in (ANY_BUCKET, bucket)))
        if not configured:
            served = ", ".join(repr(name) for name, _ in self.destinations)
            raise InvalidMessage(f"destination bucket {bucket!r} is not one this stack serves ({served})")
        if not any(self._takes(dest_prefix, read_prefix, writes) for dest_prefix in configured):
            ways = " or ".join(self._where(dest_prefix) for dest_prefix in configured)
            asked = "as they are" if prefix is None else f"under {prefix!r}"
            raise InvalidMessage(f"this stack writes keys to {bucket!r} {ways}, not {asked}")
        if bucket == source_bucket and (writes.startswith(read_prefix) or read_prefix.startswith(writes)):
            raise InvalidMessage(f"source and destination are the same bucket {bucket!r}" + (f" and the prefixes {read_prefix!r} and {writes!r} overlap" if prefix is not None else ""))

    def _takes(self, dest_prefix: str | None, read_prefix: str, writes: str) -> bool:
        """Whether a destination configured with ``dest_prefix`` takes keys read under
        ``read_prefix`` written under ``writes``."""
        if dest_prefix is not None:
            return writes.startswith(dest_prefix)
        return writes == read_prefix if self.keys_as_they_are else writes.startswith(self.prefix)

    def _where(self, dest_prefix: str | None) -> str:
        """Where a destination configured with ``dest_prefix`` takes keys, for a refusal."""
        if dest_prefix is not None:
            return f"only under {dest_prefix!r} (its DestinationPrefix; a job gives --dest-prefix {dest_prefix})"
        if self.keys_as_they_are:
            return "as they are (its DestinationPrefix is empty, so no --dest-prefix)"
        return f"only under {self.prefix!r}"

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
