"""Cached boto3 clients, configured once for the whole process.

boto3 reads the standard endpoint variables itself (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3,
AWS_ENDPOINT_URL_SQS, ...), so the tool can be pointed at moto or any S3-compatible store without
code changes. ``reset()`` forgets the clients, for tests that change the environment or start mocks.
"""

from __future__ import annotations

import functools
import os
import platform
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import boto3
import botocore.session
import botocore.utils
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, CredentialProvider, DeferredRefreshableCredentials
from botocore.loaders import Loader

from s3fanout.keypairs import KeyPair, key_pair_from_secret

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

# Enough pooled connections for a copier's thread pool plus the listing and queue calls around it.
MAX_POOL_CONNECTIONS = 64
# One User-Agent for every request, which names this tool in S3's access logs and CloudTrail.
# botocore otherwise builds its own for each request, sanitizing every component character by
# character: about a sixth of a local copier's CPU (a profile of 2,000 copies).
USER_AGENT = f"s3-fanout/0.1 botocore/{botocore.__version__} Python/{platform.python_version()}"
_CREATING = threading.Lock()


@dataclass(frozen=True, slots=True)
class Access:
    """How one side (source or destination) is reached: as an IAM role (local mode's
    --source-role-arn), at another endpoint (--source-endpoint-url, or a stack's SourceEndpointUrl:
    MinIO, R2, GCS, ...), with a named profile's credentials (--source-profile) or with the access
    key pair a Secrets Manager secret holds (a stack's SourceCredentialsSecretArn); None for each:
    this process's own. It holds names only, never a secret: it is put in the workers'
    environment and in the job record."""

    role_arn: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    credentials_secret_arn: str | None = None

    # Each field's environment variable, after SOURCE_ or DEST_.
    _ENV = (("role_arn", "ROLE_ARN"), ("endpoint_url", "ENDPOINT_URL"), ("profile", "PROFILE"), ("credentials_secret_arn", "CREDENTIALS_SECRET_ARN"))

    @classmethod
    def from_env(cls, side: str) -> Access:
        """A side's access as the functions' or workers' environment names it (SIDE_ROLE_ARN,
        SIDE_ENDPOINT_URL, SIDE_PROFILE, SIDE_CREDENTIALS_SECRET_ARN; ``side`` is SOURCE or DEST;
        empty means unset, as a template parameter left empty gives)."""
        return cls(**{field: os.environ.get(f"{side}_{name}") or None for field, name in cls._ENV})

    def to_env(self, side: str) -> dict[str, str]:
        return {f"{side}_{name}": value for field, name in self._ENV if (value := getattr(self, field))}

    def to_record(self, side: str) -> dict[str, str | None]:
        """The job record's options for this side (``side`` is source or dest)."""
        return {f"{side}_{field}": getattr(self, field) for field, _ in self._ENV}

    def same_store(self, other: Access) -> bool:
        """Whether one server-side copy can read this side and write the other: the same endpoint
        and the same credentials. A role differs only in who asks, so it does not count."""
        return (self.endpoint_url, self.profile, self.credentials_secret_arn) == (other.endpoint_url, other.profile, other.credentials_secret_arn)


OWN_ACCESS = Access()


def _config(service: str, probe: bool, endpoint_url: str | None = None) -> Config:
    options: dict[str, Any] = {
        # Standard mode: retries with exponential backoff for throttling, 5xx and connection
        # errors. Not adaptive mode: its client-side rate limiter would react to the same
        # SlowDown signal the copier's own concurrency limit (copier.ConcurrencyLimit) answers,
        # and two controllers on one signal fight; the copier's limit sees every throttled
        # attempt through a needs-retry hook and sets how many copies are in flight.
        "retries": {"mode": "standard", "max_attempts": 8},
        "max_pool_connections": MAX_POOL_CONNECTIONS,
        "connect_timeout": 10,
        # S3 keeps a long CopyObject alive with whitespace, so a read stalls only if something broke.
        "read_timeout": 120,
        "user_agent": USER_AGENT,
    }
    if probe:
        # The CLI's pre-flight: an endpoint that does not answer must fail in seconds (eight
        # attempts of 10 s took 35-50 s), and a person is waiting, not a pipeline.
        options |= {"retries": {"mode": "standard", "max_attempts": 2}, "connect_timeout": 3, "read_timeout": 20}
    if service == "s3" and (endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")):
        # S3-compatible endpoints (moto, MinIO, ...) rarely serve virtual-hosted bucket names.
        options["s3"] = {"addressing_style": "path"}
    return Config(**options)


@functools.cache
def _client(
    service: str,
    probe: bool,
    region: str | None = None,
    role_arn: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    credentials_secret_arn: str | None = None,
) -> BaseClient:
    if credentials_secret_arn:
        keys = _secret_keys(credentials_secret_arn)
        session = _session(None, keys.access_key_id, keys.secret_access_key, keys.session_token)
    elif role_arn:
        session = _assumed_role_session(role_arn, profile)
    else:
        session = _session(profile)
    config = _config(service, probe, endpoint_url)
    # A session is not safe for two threads creating clients at once (a copier's threads may).
    with _CREATING:
        return session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)  # type: ignore[call-overload,no-any-return]


@functools.cache
def _loader() -> Loader:
    """botocore's loader of service models and endpoint data, one for the whole process: every
    session below reads each model once (a client of a new session would read and parse it again,
    the S3 model alone in about 0.1 s), and a process forked after ``load_models`` reads none."""
    return cast(Loader, botocore.session.Session().get_component("data_loader"))


def _core_session(profile: str | None = None) -> botocore.session.Session:
    core = botocore.session.Session(profile=profile)
    core.register_component("data_loader", _loader())
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    return core


def parse_timestamp(value: str | int | float) -> datetime:
    """A timestamp of a response, as botocore reads it: ISO 8601 (S3's XML, every LastModified of
    a listing) by the standard library, anything else by botocore's own parser, dateutil's, which
    took a tenth of a local copier's CPU."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    return botocore.utils.parse_timestamp(value)  # type: ignore[arg-type]  # epoch numbers too, whatever its stubs say


@functools.cache
def _session(profile: str | None = None, access_key_id: str | None = None, secret_access_key: str | None = None, session_token: str | None = None) -> boto3.session.Session:
    """The session of a profile (or of a key pair), one per process as boto3's default session
    is: a new session registers some 400 event handlers (about 20 ms) before its first client."""
    return boto3.session.Session(
        botocore_session=_core_session(profile), aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, aws_session_token=session_token
    )


def load_models(services: tuple[str, ...] = ("s3", "sqs", "dynamodb")) -> None:
    """Read the models of ``services`` into the process's loader, exactly as creating their
    clients does, without looking up credentials or sending a request (the clients of a session
    of its own, with placeholder keys, are dropped). Local mode's fork server does this once, so
    that its workers create their clients without reading a model."""
    session = boto3.session.Session(botocore_session=_core_session())
    for service in services:
        session.client(service, region_name="us-east-1", aws_access_key_id="load-models", aws_secret_access_key="load-models")  # type: ignore[call-overload]


ROLE_SESSION_NAME = "s3fanout-local"


class _AssumedRole(CredentialProvider):
    """The credentials of an IAM role, assumed (STS AssumeRole) with this process's own and assumed
    again before they expire: botocore's own fetcher and refreshing credentials."""

    METHOD = "s3fanout-assume-role"

    def __init__(self, base: botocore.session.Session, role_arn: str) -> None:
        super().__init__()
        self._fetcher = AssumeRoleCredentialFetcher(
            client_creator=base.create_client,
            source_credentials=base.get_credentials(),
            role_arn=role_arn,
            extra_args={"RoleSessionName": ROLE_SESSION_NAME},
        )

    def load(self) -> DeferredRefreshableCredentials:
        return DeferredRefreshableCredentials(method=self.METHOD, refresh_using=self._fetcher.fetch_credentials)


@functools.cache
def _assumed_role_session(role_arn: str, profile: str | None = None) -> boto3.session.Session:
    """A session acting as ``role_arn``, assumed with this process's credentials (or ``profile``'s)."""
    assumed = _core_session(profile)
    assumed.get_component("credential_provider").insert_before("env", _AssumedRole(_core_session(profile), role_arn))
    return boto3.session.Session(botocore_session=assumed)


def s3(
    region: str | None = None, role_arn: str | None = None, endpoint_url: str | None = None, profile: str | None = None, credentials_secret_arn: str | None = None
) -> S3Client:
    """The S3 client of ``region`` (a bucket's own, so that no request needs a redirect; None:
    the configured region), acting as ``role_arn`` when given (local mode's --source-role-arn and
    --dest-role-arn), else with this process's credentials, or ``profile``'s (a named profile of
    the AWS config and credentials files), or the key pair in the secret ``credentials_secret_arn``;
    at ``endpoint_url`` (another S3-compatible store, with path-style addressing) when given. One
    client per combination, for the whole process."""
    return cast("S3Client", _client("s3", False, region, role_arn, endpoint_url, profile, credentials_secret_arn))


def s3_for(access: Access, region: str | None = None) -> S3Client:
    """The S3 client of one side: ``s3`` with that side's role, endpoint and credentials."""
    return s3(region, access.role_arn, access.endpoint_url, access.profile, access.credentials_secret_arn)


def probe_s3(access: Access = OWN_ACCESS) -> S3Client:
    """An S3 client for the CLI's checks before a job: few retries, short connect timeout."""
    return cast("S3Client", _client("s3", True, None, access.role_arn, access.endpoint_url, access.profile, access.credentials_secret_arn))


def profile_exists(profile: str) -> bool:
    """Whether the AWS config or credentials files name this profile."""
    return profile in botocore.session.Session().available_profiles


def sqs() -> SQSClient:
    return cast("SQSClient", _client("sqs", False))


def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", _client("dynamodb", False))


def secretsmanager() -> SecretsManagerClient:
    return cast("SecretsManagerClient", _client("secretsmanager", False))


def cloudformation() -> CloudFormationClient:
    # Only the CLI reads stacks, once per command: fail fast on an endpoint that does not answer.
    return cast("CloudFormationClient", _client("cloudformation", True))


def cloudwatch() -> Any:
    # Only the CLI reads metrics (replicate status); no type stubs for CloudWatch are installed.
    return _client("cloudwatch", True)


def use_region(region: str | None) -> None:
    """--region: every client made from now on uses it (clients made for a bucket's own region
    keep theirs)."""
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region
        reset()


def reset() -> None:
    """Forget every client and session (the loader stays: it holds models, no configuration)."""
    _client.cache_clear()
    _session.cache_clear()
    _assumed_role_session.cache_clear()
    _secret_keys.cache_clear()


@functools.cache
def _secret_keys(secret_arn: str) -> KeyPair:
    """The access key pair in ``secret_arn``, read once per process (so once per Lambda execution
    environment) with this process's own credentials, from the secret's own region."""
    region = secret_arn.split(":")[3] if secret_arn.count(":") >= 6 else None
    client = cast("SecretsManagerClient", _client("secretsmanager", False, region or None))
    return key_pair_from_secret(client, secret_arn)


_OWNER_HOOK = "s3fanout-expected-bucket-owners"
# Each client's {bucket: account that must own it}, read by its hook on every request.
_EXPECTED_OWNERS: weakref.WeakKeyDictionary[BaseClient, dict[str, str]] = weakref.WeakKeyDictionary()
_OWNERS_LOCK = threading.Lock()


class OwnerConflict(ValueError):
    """A bucket named with another owner than the one a client already expects for it."""


def expect_bucket_owners(s3: S3Client, owners: dict[str, str]) -> None:
    """From now on, every request of ``s3`` naming one of these buckets carries the account that
    must own it: ExpectedBucketOwner for the bucket it addresses, ExpectedSourceBucketOwner for a
    copy source. S3 then answers 403 instead of reading or writing a bucket of the same name in
    another account (deleted and re-created by someone else, or a typo that exists elsewhere).

    The mappings of all calls add up: one client serves a copier's records at once and a lister's
    every destination, and each must keep its checks while the others run. A bucket named again
    with another account raises OwnerConflict (no bucket has two owners, so the job naming it
    must fail) and changes nothing."""

    def add_owners(params: dict[str, Any], model: Any, **_: Any) -> None:
        expected = _EXPECTED_OWNERS.get(s3, {})
        members = model.input_shape.members if model.input_shape is not None else {}
        bucket = params.get("Bucket")
        if "ExpectedBucketOwner" in members and bucket in expected:
            params.setdefault("ExpectedBucketOwner", expected[bucket])
        source = params.get("CopySource")
        source_bucket = source.get("Bucket") if isinstance(source, dict) else str(source or "").lstrip("/").split("/", 1)[0]
        if "ExpectedSourceBucketOwner" in members and source_bucket in expected:
            params.setdefault("ExpectedSourceBucketOwner", expected[source_bucket])

    if not owners:
        return
    with _OWNERS_LOCK:
        expected = _EXPECTED_OWNERS.get(s3)
        if expected is None:
            expected = _EXPECTED_OWNERS[s3] = {}
            s3.meta.events.register("before-parameter-build.s3", add_owners, unique_id=_OWNER_HOOK)
        clashes = sorted(bucket for bucket, owner in owners.items() if expected.get(bucket, owner) != owner)
        if clashes:
            found = ", ".join(f"{bucket} (account {expected[bucket]} or {owners[bucket]})" for bucket in clashes)
            raise OwnerConflict(f"a bucket is expected to be owned by two accounts: {found}")
        expected.update(owners)
