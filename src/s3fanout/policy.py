"""What another account must grant the stack's roles, as policy documents ready to paste: the
source bucket's policy, each destination bucket's when the destinations belong to another account
(a job of several destinations, a stack's MoreDestinationBuckets: one policy per bucket, naming
the prefix its keys are written under: --dest-prefix, DestinationPrefix), and the KMS key policy
statements for customer-managed keys, with advice on what no policy can say (who owns
the copies, AWS managed keys). A job's copy options (messages.CopyOptions) add the grants they need:
s3:PutObjectAcl for --acl, the Object Lock reads and writes for --copy-object-lock, and a key
policy statement for an --sse-kms-key-id of another account.

The S3 and KMS actions are exactly those template.yaml grants ListObjectsFunctionRole and
CopyObjectsFunctionRole on the two buckets and keys (tests/unit/test_policy.py holds the two
together): a bucket policy that grants less fails a job key by key, one that grants more gives
another account's roles powers the functions never use. Pure: ``seed/policy.py`` reads the stack
and the buckets, and prints."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from s3fanout.messages import DEFAULT_COPY_OPTIONS, CopyOptions

POLICY_VERSION = "2012-10-17"

# arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME (IAM's characters for paths and names).
_ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/([\w+=,.@/-]{1,576})$")
# A KMS key or alias ARN: its account (a key id or alias name has none; S3 looks it up in the
# account of the caller, the roles').
_KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:(\d{12}):(key|alias)/")
# The host suffix of S3 endpoints per partition, for kms:ViaService (template.yaml's
# s3.*.${AWS::URLSuffix}).
_URL_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn"}

# Every statement this module writes starts its Sid with this, so that they can be found (and
# replaced) among the statements a bucket or key policy already has.
SID_PREFIX = "S3Fanout"

# What each function does to each bucket, as template.yaml's role statements grant it.
# The lister lists both buckets (it compares them by listing); with AllowDelete it confirms each
# orphan with a HeadObject on the source and deletes it from the destination.
LISTER_SOURCE_BUCKET = ("s3:ListBucket",)
LISTER_SOURCE_OBJECTS_TO_DELETE = ("s3:GetObject",)
LISTER_DEST_BUCKET = ("s3:ListBucket",)
LISTER_DEST_OBJECTS_TO_DELETE = ("s3:DeleteObject",)
# The copier reads the current version of each object and its tags, lists the source only so
# that a key deleted meanwhile fails as NoSuchKey (not AccessDenied), writes objects and tags,
# aborts a failed multipart copy, and lists the parts of a split one (then reads its size).
COPIER_SOURCE_BUCKET = ("s3:ListBucket",)
COPIER_SOURCE_OBJECTS = ("s3:GetObject", "s3:GetObjectTagging")
COPIER_DEST_WRITES = ("s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload")
COPIER_DEST_MULTIPART = ("s3:ListMultipartUploadParts", "s3:GetObject")
# Only with --versions (a stack deployed with CopyVersions=true; local --all-versions and --as-of
# runs): listers and copiers list versions of both buckets; the copier reads source versions and
# their tags; both read which source version a destination version copies (HeadObject of a
# version); the copier reproduces delete markers (DeleteObject without a version id: in a
# versioned destination it destroys nothing; s3:DeleteObjectVersion is never asked for).
VERSION_LISTING = ("s3:ListBucketVersions",)
COPIER_SOURCE_VERSIONS = ("s3:GetObjectVersion", "s3:GetObjectVersionTagging")
DEST_VERSION_READ = ("s3:GetObjectVersion",)
COPIER_DEST_DELETE_MARKERS = ("s3:DeleteObject",)
# KMS: only the copier reads or writes object data (the lister's HeadObject needs no data key).
COPIER_SOURCE_KMS = ("kms:Decrypt",)
COPIER_DEST_KMS = ("kms:GenerateDataKey", "kms:Decrypt")
# The copy options' grants (template.yaml's conditional copier statements of the same Sids), each
# only when the job's options ask for it: --acl sets a canned ACL on every copy (S3 authorises the
# header as s3:PutObjectAcl); --copy-object-lock reads the source's retention and legal hold and
# writes them on the copy; --sse aws:kms --sse-kms-key-id encrypts the copies with that key.
COPIER_DEST_ACL = ("s3:PutObjectAcl",)
COPIER_SOURCE_OBJECT_LOCK = ("s3:GetObjectRetention", "s3:GetObjectLegalHold")
COPIER_DEST_OBJECT_LOCK = ("s3:PutObjectRetention", "s3:PutObjectLegalHold")
COPIER_COPY_KMS = ("kms:GenerateDataKey", "kms:Decrypt")

# S3's AWS managed key: its key policy cannot be changed, so no other account can use it.
AWS_MANAGED_KEY = "aws/s3"


class PolicyInputError(ValueError):
    """An input no policy can be written for; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class RoleArn:
    arn: str
    partition: str
    account: str


def parse_role_arn(text: str) -> RoleArn:
    """An IAM role's ARN (not an assumed-role session, a user or a role name)."""
    match = _ROLE_ARN.match(text)
    if not match:
        raise PolicyInputError(f"'{text}' is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    return RoleArn(text, match[1], match[2])


@dataclass(frozen=True, slots=True)
class Principals:
    """The roles that list (the lister's) and copy (the copier's); in local mode the same roles
    do both."""

    lister: tuple[RoleArn, ...]
    copier: tuple[RoleArn, ...]

    def __post_init__(self) -> None:
        if not self.lister or not self.copier:
            raise PolicyInputError("a policy needs at least one role to grant")
        if len({role.partition for role in self.all()}) > 1:
            raise PolicyInputError("the roles are in different AWS partitions: no one policy can name them all")

    @classmethod
    def of(cls, lister: str | list[str], copier: str | list[str]) -> Principals:
        def roles(arns: str | list[str]) -> tuple[RoleArn, ...]:
            return tuple(parse_role_arn(arn) for arn in ([arns] if isinstance(arns, str) else arns))

        return cls(roles(lister), roles(copier))

    def all(self) -> tuple[RoleArn, ...]:
        return _unique(self.lister + self.copier)

    @property
    def partition(self) -> str:
        return self.lister[0].partition

    def accounts(self) -> list[str]:
        return sorted({role.account for role in self.all()})

    def to_json(self) -> dict[str, str | list[str]]:
        """{"lister": ARN, "copier": ARN}; a list of ARNs where several roles play one part."""

        def arns(roles: tuple[RoleArn, ...]) -> str | list[str]:
            return roles[0].arn if len(roles) == 1 else [role.arn for role in roles]

        return {"lister": arns(self.lister), "copier": arns(self.copier)}


@dataclass(frozen=True, slots=True)
class Grants:
    """What to grant, and the facts that decide where: the buckets and key prefix, the roles, the
    accounts owning the buckets (None: not known), whether the stack may delete, the
    customer-managed KMS keys the buckets' objects are (or by default will be) encrypted with, and
    the copy options of the jobs (a job's own, or the stack's for jobs without).

    ``dest_prefix`` is where the destination's keys are written (--dest-prefix, a stack's
    DestinationPrefix; None: under ``prefix``, as they are); ``more_dests`` are the other
    destinations, each a bucket and such a prefix, owned by ``dest_owner`` too. The versions
    grants are the first destination's alone, under ``prefix``."""

    source_bucket: str
    dest_bucket: str
    principals: Principals
    prefix: str = ""
    source_owner: str | None = None
    dest_owner: str | None = None
    delete_allowed: bool = False
    versions: bool = False
    source_kms_keys: tuple[str, ...] = ()
    dest_kms_keys: tuple[str, ...] = ()
    copy_options: CopyOptions = DEFAULT_COPY_OPTIONS
    # A stack that reads its source with the key pair in a secret (SourceCredentialsSecretArn) at
    # another endpoint or not (SourceEndpointUrl): the roles then need nothing on the source.
    source_keys_secret: str | None = None
    source_endpoint: str | None = None
    dest_prefix: str | None = None
    more_dests: tuple[tuple[str, str | None], ...] = ()

    def __post_init__(self) -> None:
        for key in self.source_kms_keys + self.dest_kms_keys:
            if is_aws_managed_key(key):
                raise PolicyInputError(f"'{key}' is S3's AWS managed key, whose policy cannot be changed: no statement can be added to it")

    @property
    def dest_buckets(self) -> dict[str, tuple[str, ...]]:
        """{destination bucket: the prefixes its keys are written under}, the first destination's
        bucket first: one bucket policy each."""
        found: dict[str, dict[str, None]] = {}
        for bucket, prefix in ((self.dest_bucket, self.dest_prefix), *self.more_dests):
            found.setdefault(bucket, {})[self.prefix if prefix is None else prefix] = None
        return {bucket: tuple(prefixes) for bucket, prefixes in found.items()}

    @property
    def source_elsewhere(self) -> bool | None:
        return elsewhere(self.source_owner, self.principals)

    @property
    def dest_elsewhere(self) -> bool | None:
        return elsewhere(self.dest_owner, self.principals)

    @property
    def dest_default_kms_keys(self) -> tuple[str, ...]:
        """The destination's default keys, when the copies use its default encryption: with --sse
        they are encrypted as the option says, and its default key is never asked for."""
        return () if self.copy_options.sse else self.dest_kms_keys

    @property
    def copy_kms_key(self) -> str | None:
        """--sse aws:kms --sse-kms-key-id: the key the copies are encrypted with (None: aws/s3)."""
        return self.copy_options.sse_kms_key_id if self.copy_options.sse == "aws:kms" else None

    @property
    def copy_kms_keys(self) -> tuple[str, ...]:
        """The copies' key when its policy must name the copier: a customer-managed key (an ARN)
        of another account than the roles'. One of the roles' account is theirs to use by their
        IAM policy; a key id or alias name is one of the roles' account."""
        key = self.copy_kms_key
        if key is None or is_aws_managed_key(key) or not elsewhere(kms_key_account(key), self.principals):
            return ()
        return (key,)


def elsewhere(owner: str | None, principals: Principals) -> bool | None:
    """Whether a bucket owned by ``owner`` is in another account than (one of) the roles; None
    when its owner is not known."""
    if owner is None:
        return None
    return any(role.account != owner for role in principals.all())


def is_aws_managed_key(key: str) -> bool:
    return key.endswith(f"alias/{AWS_MANAGED_KEY}") or key == AWS_MANAGED_KEY


def kms_key_account(key: str) -> str | None:
    """The account of a KMS key or alias ARN; None for a key id or alias name."""
    match = _KMS_ARN.match(key)
    return match[1] if match else None


# ---------------------------------------------------------------------------------- documents


def iam_literal(text: str) -> str:
    """``text`` as a literal in an IAM resource or StringLike value: *, ? and $ written as the
    policy variables ${*}, ${?} and ${$}, which IAM would otherwise read as wildcards or the start
    of a variable."""
    return re.sub(r"[*?$]", lambda match: "${" + match[0] + "}", text)


def bucket_arn(partition: str, bucket: str) -> str:
    return f"arn:{partition}:s3:::{bucket}"


def objects_arn(partition: str, bucket: str, prefix: str) -> str:
    return f"arn:{partition}:s3:::{bucket}/{iam_literal(prefix)}*"


def statement(sid: str, roles: tuple[RoleArn, ...], actions: tuple[str, ...], resource: str | list[str], condition: dict[str, Any] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "Sid": SID_PREFIX + sid,
        "Effect": "Allow",
        "Principal": {"AWS": [role.arn for role in _unique(roles)]},
        "Action": list(dict.fromkeys(actions)),
        "Resource": resource,
    }
    if condition:
        found["Condition"] = condition
    return found


def _conditions(grants: Grants, *, listing: bool, prefixes: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Conditions every request of the functions meets: they reach S3 over TLS only, and list
    only under the prefix (``prefixes``: a destination's, where its keys are written; IfExists,
    as template.yaml: S3 also checks s3:ListBucket, with no prefix, to answer 404 instead of 403
    for a missing key, and the functions rely on that 404)."""
    conditions: dict[str, Any] = {"Bool": {"aws:SecureTransport": "true"}}
    listed = (grants.prefix,) if prefixes is None else prefixes
    if listing and all(listed):
        values = [iam_literal(prefix) + "*" for prefix in listed]
        conditions["StringLikeIfExists"] = {"s3:prefix": values[0] if len(values) == 1 else values}
    return conditions


def _one_or_list(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def source_statements(grants: Grants) -> list[dict[str, Any]]:
    """The source bucket policy's statements: the listers' and copiers' listing, the copiers'
    reads, and (with delete) the listers' look at an orphan before it is deleted."""
    roles, partition = grants.principals, grants.principals.partition
    bucket, objects = bucket_arn(partition, grants.source_bucket), objects_arn(partition, grants.source_bucket, grants.prefix)
    listers = _unique(roles.lister + roles.copier)
    statements = [
        statement("ListSourceBucket", listers, LISTER_SOURCE_BUCKET + COPIER_SOURCE_BUCKET + (VERSION_LISTING if grants.versions else ()), bucket, _conditions(grants, listing=True)),
        statement("ReadSourceObjects", roles.copier, COPIER_SOURCE_OBJECTS + (COPIER_SOURCE_VERSIONS if grants.versions else ()), objects, _conditions(grants, listing=False)),
    ]
    if grants.delete_allowed:
        statements.append(statement("ConfirmOrphansInSource", roles.lister, LISTER_SOURCE_OBJECTS_TO_DELETE, objects, _conditions(grants, listing=False)))
    if grants.copy_options.object_lock:
        statements.append(statement("ReadSourceObjectLock", roles.copier, COPIER_SOURCE_OBJECT_LOCK, objects, _conditions(grants, listing=False)))
    return statements


def dest_statements(grants: Grants, dest_bucket: str | None = None) -> list[dict[str, Any]]:
    """A destination bucket policy's statements (``dest_bucket``: one of the destinations; the
    first by default): the listers' listing, the copiers' writes and multipart clean-up, (with
    delete) the listers' deletes of orphans, and what the copy options add: the copies' ACL
    (--acl) and their Object Lock retention and legal hold (--copy-object-lock); all under the
    prefixes the bucket's keys are written under. The versions grants only in the first
    destination's bucket, under ``grants.prefix`` (template.yaml's versions statements).

    No condition on the objects' ACL or encryption: a plain copy sends neither, and the part
    requests of a multipart copy carry neither even with --acl or --sse, so such a condition would
    refuse copies (who owns the copies is the bucket's Object Ownership, and --acl)."""
    roles, partition = grants.principals, grants.principals.partition
    name = grants.dest_bucket if dest_bucket is None else dest_bucket
    prefixes = grants.dest_buckets[name]
    bucket, objects = bucket_arn(partition, name), _one_or_list([objects_arn(partition, name, prefix) for prefix in prefixes])
    statements = [
        statement("ListDestinationBucket", roles.lister, LISTER_DEST_BUCKET, bucket, _conditions(grants, listing=True, prefixes=prefixes)),
        statement("WriteDestinationObjects", roles.copier, COPIER_DEST_WRITES, objects, _conditions(grants, listing=False)),
        statement("FinishSplitMultipartCopies", roles.copier, COPIER_DEST_MULTIPART, objects, _conditions(grants, listing=False)),
    ]
    if grants.delete_allowed:
        statements.append(statement("DeleteDestinationOrphans", roles.lister, LISTER_DEST_OBJECTS_TO_DELETE, objects, _conditions(grants, listing=False)))
    if grants.copy_options.acl:
        statements.append(statement("SetCopyAcl", roles.copier, COPIER_DEST_ACL, objects, _conditions(grants, listing=False)))
    if grants.copy_options.object_lock:
        statements.append(statement("WriteDestinationObjectLock", roles.copier, COPIER_DEST_OBJECT_LOCK, objects, _conditions(grants, listing=False)))
    if grants.versions and name == grants.dest_bucket:
        both = _unique(roles.lister + roles.copier)
        versions = objects_arn(partition, name, grants.prefix)
        statements.append(statement("ListDestinationVersions", both, VERSION_LISTING, bucket, _conditions(grants, listing=True)))
        statements.append(statement("ReadDestinationVersions", both, DEST_VERSION_READ, versions, _conditions(grants, listing=False)))
        statements.append(statement("WriteDeleteMarkers", roles.copier, COPIER_DEST_DELETE_MARKERS, versions, _conditions(grants, listing=False)))
    return statements


SOURCE_KMS_SID = SID_PREFIX + "DecryptSourceObjects"
DEST_KMS_SID = SID_PREFIX + "EncryptDestinationObjects"
COPY_KMS_SID = SID_PREFIX + "EncryptCopiesWithSseKmsKeyId"


def kms_keys(grants: Grants) -> dict[str, tuple[str, ...]]:
    """{Sid: keys}: the keys whose policies each KMS statement goes into."""
    return {SOURCE_KMS_SID: grants.source_kms_keys, DEST_KMS_SID: grants.dest_default_kms_keys, COPY_KMS_SID: grants.copy_kms_keys}


def kms_statements(grants: Grants) -> list[dict[str, Any]]:
    """The statements for the keys' policies (Resource "*": in a key policy, the key itself),
    only through S3 (kms:ViaService), as template.yaml's grants."""
    roles = grants.principals
    via_s3 = {"StringLike": {"kms:ViaService": f"s3.*.{_URL_SUFFIX.get(roles.partition, 'amazonaws.com')}"}}
    statements = []
    if grants.source_kms_keys and not grants.source_keys_secret:
        statements.append(statement("DecryptSourceObjects", roles.copier, COPIER_SOURCE_KMS, "*", via_s3))
    if grants.dest_default_kms_keys:
        statements.append(statement("EncryptDestinationObjects", roles.copier, COPIER_DEST_KMS, "*", via_s3))
    if grants.copy_kms_keys:
        statements.append(statement("EncryptCopiesWithSseKmsKeyId", roles.copier, COPIER_COPY_KMS, "*", via_s3))
    return statements


def bucket_policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": statements}


# ------------------------------------------------------------------------------------ answer


@dataclass(frozen=True, slots=True)
class DestinationFindings:
    """What the CLI could find out about one more destination bucket (several destinations): why
    its default encryption was not read, whether it is S3's AWS managed key, its Object Ownership."""

    bucket: str
    encryption_unread: str | None = None
    managed_key: bool = False
    object_ownership: str | None = None


@dataclass(frozen=True, slots=True)
class Findings:
    """What the CLI could (or could not) find out, for the advice: why a bucket's default
    encryption was not read, whether it is S3's AWS managed key, the destination's Object
    Ownership, the keys the roles' own policies allow (None: not known, as in local mode), the
    stack's name, the copy options its parameters grant the copier (None without a stack), and
    where the copy options came from ("flags", "stack" or "none")."""

    source_encryption_unread: str | None = None
    dest_encryption_unread: str | None = None
    source_managed_key: bool = False
    dest_managed_key: bool = False
    dest_object_ownership: str | None = None
    role_source_kms_key: str | None = None
    role_dest_kms_key: str | None = None
    stack_name: str | None = None
    role_copy_options: CopyOptions | None = None
    copy_options_from: str = "none"
    more_dests: tuple[DestinationFindings, ...] = ()

    def of_destination(self, bucket: str) -> DestinationFindings:
        """What was found of one of the other destination buckets (nothing, when not asked)."""
        return next((found for found in self.more_dests if found.bucket == bucket), DestinationFindings(bucket))


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """The bucket policy of one more destination bucket (None: in the roles' account, nothing to
    grant), and the prefixes its keys are written under."""

    bucket: str
    key_prefixes: tuple[str, ...]
    policy: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class GrantAnswer:
    grants: Grants
    # None when the roles do not read the source (the stack reads it with a secret's keys).
    source_bucket_policy: dict[str, Any] | None
    # The first destination's bucket; the others' (several destinations) in more_dest_bucket_policies.
    dest_bucket_policy: dict[str, Any] | None
    kms_key_policy_statements: list[dict[str, Any]]
    advice: list[str] = field(default_factory=list)
    copy_options_from: str = "none"
    more_dest_bucket_policies: tuple[DestinationPolicy, ...] = ()

    def to_json(self) -> dict[str, Any]:
        grants = self.grants
        where = {"owner": grants.dest_owner, "another_account": grants.dest_elsewhere}
        return {
            "source_bucket_policy": self.source_bucket_policy,
            "dest_bucket_policy": self.dest_bucket_policy,
            "kms_key_policy_statements": self.kms_key_policy_statements,
            "principals": grants.principals.to_json(),
            "advice": self.advice,
            "source": {"bucket": grants.source_bucket, "owner": grants.source_owner, "another_account": grants.source_elsewhere},
            "destination": {"bucket": grants.dest_bucket, **where, "key_prefixes": list(grants.dest_buckets[grants.dest_bucket])},
            # Every other destination bucket, with the policy it needs (null: the roles' account).
            "more_destinations": [
                {"bucket": more.bucket, **where, "key_prefixes": list(more.key_prefixes), "bucket_policy": more.policy} for more in self.more_dest_bucket_policies
            ],
            "prefix": grants.prefix,
            "kms_keys": {side: [{"key": arn, "sid": sid} for arn in kms_keys(grants)[sid]] for side, sid in (("source", SOURCE_KMS_SID), ("destination", DEST_KMS_SID))},
            "copy_options": copy_options_json(grants.copy_options) | {"kms_key_sid": COPY_KMS_SID if grants.copy_kms_keys else None, "from": self.copy_options_from},
            "source_read_with": {"credentials_secret_arn": grants.source_keys_secret, "endpoint_url": grants.source_endpoint} if grants.source_keys_secret else None,
        }


def copy_options_json(options: CopyOptions) -> dict[str, Any]:
    """The options that decide grants and how copies are written, every one named (None: unset)."""
    return {
        "storage_class": options.storage_class,
        "sse": options.sse,
        "sse_kms_key_id": options.sse_kms_key_id,
        "checksum_algorithm": options.checksum_algorithm,
        "acl": options.acl,
        "metadata_directive": options.metadata_directive,
        "object_lock": options.object_lock,
    }


def grant_answer(grants: Grants, findings: Findings | None = None) -> GrantAnswer:
    """The documents and the advice. The destination's policy is left out (None) only when the
    destination is known to be in the roles' account: their own IAM policies grant that."""
    findings = findings or Findings()
    dest = None if grants.dest_elsewhere is False else bucket_policy(dest_statements(grants))
    more = tuple(
        DestinationPolicy(bucket, prefixes, None if grants.dest_elsewhere is False else bucket_policy(dest_statements(grants, bucket)))
        for bucket, prefixes in list(grants.dest_buckets.items())[1:]
    )
    source = None if grants.source_keys_secret else bucket_policy(source_statements(grants))
    return GrantAnswer(grants, source, dest, kms_statements(grants), advice(grants, findings), findings.copy_options_from, more)


def advice(grants: Grants, findings: Findings) -> list[str]:
    roles = " and ".join(grants.principals.accounts())
    src = f"s3://{grants.source_bucket}"
    more = list(grants.dest_buckets)[1:]
    lines = []
    sides = [(f"s3://{bucket}", grants.dest_owner, grants.dest_elsewhere, "--dest-owner") for bucket in (grants.dest_bucket, *more)]
    if grants.source_keys_secret:
        lines.append(source_keys_advice(grants))
    else:
        sides.insert(0, (src, grants.source_owner, grants.source_elsewhere, "--source-owner"))
    for name, owner, where, flag in sides:
        if where is None:
            lines.append(f"cannot tell whether {name} belongs to another account than the roles' ({roles}; give {flag} ACCOUNT): its statements are printed in case it does")
        elif where:
            lines.append(f"{name} belongs to account {owner}, not the roles' ({roles}): that account must add these statements to its bucket policy")
        else:
            lines.append(f"{name} belongs to the roles' account ({owner}): their own IAM policies already grant this, so its bucket policy needs nothing unless it denies them")
    if grants.dest_elsewhere is not False:
        lines.append(_ownership_advice(grants, grants.dest_bucket, findings.dest_object_ownership, roles))
        lines += [_ownership_advice(grants, bucket, findings.of_destination(bucket).object_ownership, roles) for bucket in more]
    lines += _kms_advice(grants, findings)
    lines += _copy_options_advice(grants, findings, roles)
    if grants.versions:
        lines.append(
            "versions (--all-versions, --as-of) add s3:ListBucketVersions on both buckets, s3:GetObjectVersion and s3:GetObjectVersionTagging on the source's "
            "objects, s3:GetObjectVersion on the destination's, and s3:DeleteObject there for the copier (delete markers only: never s3:DeleteObjectVersion)"
        )
    lines.append(
        "the statements name the roles by ARN: if they are deleted and created again (the stack deleted and deployed anew), "
        "the policies no longer name them; run this again and replace the statements whose Sid starts with " + SID_PREFIX
    )
    return lines


def source_keys_advice(grants: Grants) -> str:
    """What a source read with a secret's key pair needs: nothing from the roles, a read grant
    for the keys' own identity where the source is kept."""
    where = f"at {grants.source_endpoint}" if grants.source_endpoint else "at AWS S3"
    reads = ", ".join(("list the bucket", "get its objects and their tags") + (("their retention and legal hold",) if grants.copy_options.object_lock else ()))
    return (
        f"the stack reads s3://{grants.source_bucket} {where} with the access keys in {grants.source_keys_secret}, not as its roles: "
        f"no source bucket policy for them; those keys must be allowed to {reads}"
        + (f" under '{grants.prefix}'" if grants.prefix else "")
    )


def _ownership_advice(grants: Grants, bucket: str, ownership: str | None, roles: str) -> str:
    """Who owns the copies in a destination of another account: its Object Ownership, and the
    copies' ACL (--acl)."""
    dst, acl = f"s3://{bucket}", grants.copy_options.acl
    enforce = f"aws s3api put-bucket-ownership-controls --bucket {bucket} --ownership-controls 'Rules=[{{ObjectOwnership=BucketOwnerEnforced}}]'"
    no_condition = "a condition (or a Deny) requiring that ACL would refuse the part requests of multipart copies, which carry no ACL"
    if ownership == "BucketOwnerEnforced":
        return f"{dst}'s Object Ownership is BucketOwnerEnforced: its account owns every copy" + (f"; their ACL {acl} (--acl) is accepted there and changes nothing" if acl else "")
    if not acl:
        return (
            f"copies are owned by the account that writes them ({roles}) unless {dst}'s Object Ownership is BucketOwnerEnforced (recommended: {enforce}); "
            "otherwise copy with --acl bucket-owner-full-control, and give this command that option too (the copier then needs s3:PutObjectAcl). "
            "The policy demands no ACL: copies without --acl carry none, and such a condition would refuse every copy"
        )
    if ownership == "BucketOwnerPreferred":
        return f"{dst}'s Object Ownership is BucketOwnerPreferred: its account owns every copy, as the copies carry the ACL {acl} (--acl). The policy demands no ACL: {no_condition}"
    if ownership == "ObjectWriter":
        return (
            f"{dst}'s Object Ownership is ObjectWriter: copies are owned by the account that writes them ({roles}), and their ACL {acl} (--acl) gives {dst}'s account "
            f"full control of them; for it to own them, set BucketOwnerPreferred, or BucketOwnerEnforced (recommended: {enforce}). The policy demands no ACL: {no_condition}"
        )
    return (
        f"copies carry the ACL {acl} (--acl): {dst}'s account owns them if its Object Ownership is BucketOwnerPreferred or BucketOwnerEnforced (recommended: {enforce}), "
        f"and has full control of them, owned by the account that writes them ({roles}), if it is ObjectWriter. The policy demands no ACL: {no_condition}"
    )


def _copy_options_advice(grants: Grants, findings: Findings, roles: str) -> list[str]:
    """What the copy options need beyond the printed statements: the stack's own grants (its
    parameters), and a key the destination's account can use."""
    options, stack, granted, dst = grants.copy_options, findings.stack_name, findings.role_copy_options, f"s3://{grants.dest_bucket}"
    lines = []
    if stack is not None and granted is not None:
        if options.acl and not granted.acl:
            lines.append(f"--acl {options.acl} needs s3:PutObjectAcl in the copier's own policy too: deploy stack '{stack}' with CopyAcl={options.acl}")
        if options.object_lock and not granted.object_lock:
            lines.append(
                "--copy-object-lock needs s3:GetObjectRetention, s3:GetObjectLegalHold, s3:PutObjectRetention and s3:PutObjectLegalHold "
                f"in the copier's own policy too: deploy stack '{stack}' with CopyObjectLock=true"
            )
    key = grants.copy_kms_key
    if options.sse != "aws:kms":
        return lines
    if key is None or is_aws_managed_key(key):
        if grants.dest_elsewhere is not False:
            lines.append(
                f"--sse aws:kms without a customer-managed --sse-kms-key-id encrypts the copies with S3's AWS managed key aws/s3 of the account that writes them ({roles}), "
                f"whose policy no one can change: {dst}'s account could not read them; give --sse-kms-key-id a customer-managed key's ARN"
            )
        return lines
    if grants.copy_kms_keys:
        line = f"add the statement {COPY_KMS_SID} to the key policy of {kms_key_name(key)} (copies, --sse-kms-key-id)"
    else:
        line = f"the copies' key {key} (--sse-kms-key-id) is in the roles' account ({roles}): its policy needs no statement for them"
        if grants.dest_elsewhere is not False:
            line += f", but {dst}'s account can read the copies only if that key's policy lets it decrypt"
    if stack is not None and key not in (granted.sse_kms_key_id if granted else None, findings.role_dest_kms_key):
        target = f"SseKmsKeyId={key}" if ":key/" in key else "SseKmsKeyId set to its key ARN (unless the stack's SseKmsKeyId or DestinationKmsKeyArn is that key)"
        line += f"; the copier's own policy must allow the key too: deploy stack '{stack}' with {target}"
    elif stack is None and grants.copy_kms_keys:
        line += "; the role's own IAM policy must allow the key too"
    lines.append(line)
    return lines


def kms_key_name(key: str) -> str:
    """How to name the key whose policy a statement goes into: an alias ARN names a key."""
    return f"the key {key} names" if ":alias/" in key else key


def _kms_advice(grants: Grants, findings: Findings) -> list[str]:
    lines = []
    if grants.copy_options.sse and grants.dest_kms_keys:
        lines.append(
            f"copies are encrypted as --sse {grants.copy_options.sse} says, not with s3://{grants.dest_bucket}'s default key "
            f"{' or '.join(grants.dest_kms_keys)}: its policy needs no statement for them"
        )
    sides = [
        ("source", grants.source_bucket, grants.source_kms_keys, grants.source_elsewhere, findings.source_encryption_unread, findings.source_managed_key, findings.role_source_kms_key),
        ("destination", grants.dest_bucket, grants.dest_default_kms_keys, grants.dest_elsewhere, findings.dest_encryption_unread, findings.dest_managed_key, findings.role_dest_kms_key),
    ]
    # The other destination buckets: their default keys are among dest_kms_keys (one statement
    # per key, named once above); what could not be read, or is aws/s3, is said of each.
    for bucket in list(grants.dest_buckets)[1:]:
        found = findings.of_destination(bucket)
        sides.append(("destination", bucket, (), grants.dest_elsewhere, found.encryption_unread, found.managed_key, findings.role_dest_kms_key))
    for side, bucket, keys, where, unread, managed, role_key in sides:
        if side == "destination" and grants.copy_options.sse:
            continue  # the copies do not use the destination's default encryption
        sid = SOURCE_KMS_SID if side == "source" else DEST_KMS_SID
        parameter = "SourceKmsKeyArn" if side == "source" else "DestinationKmsKeyArn"
        for key in keys:
            line = f"add the statement {sid} to the key policy of {key} ({side} objects)"
            if findings.stack_name is not None and role_key != key:
                line += f"; the copier's own policy must allow the key too: deploy stack '{findings.stack_name}' with {parameter}={key}"
            elif findings.stack_name is None:
                line += "; the role's own IAM policy must allow the key too"
            lines.append(line)
        if managed and where is not False:
            lines.append(
                f"s3://{bucket} encrypts with S3's AWS managed key aws/s3, whose policy no one can change: another account's roles cannot "
                + (
                    "decrypt objects under it; re-encrypt them with a customer-managed key (or SSE-S3) first"
                    if side == "source"
                    else "write copies its account can read; give it a customer-managed key or SSE-S3 as default encryption"
                )
            )
        if unread and not keys:
            flag = "--source-kms-key-arn" if side == "source" else "--dest-kms-key-arn"
            lines.append(f"could not read s3://{bucket}'s default encryption ({unread}): if it uses a customer-managed KMS key, run again with {flag} ARN for that key's policy statement")
    return lines


def _unique(roles: tuple[RoleArn, ...]) -> tuple[RoleArn, ...]:
    return tuple(dict.fromkeys(roles))
