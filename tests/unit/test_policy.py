"""s3fanout.policy: the bucket and key policy documents another account pastes, checked as IAM
policy JSON, and held to exactly what template.yaml grants the two roles."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from s3fanout.job import JobError, JobSpec
from s3fanout.jobqueues import StackError
from s3fanout.messages import CopyOptions
from s3fanout.policy import (
    COPY_KMS_SID,
    DEST_KMS_SID,
    POLICY_VERSION,
    SOURCE_KMS_SID,
    Findings,
    Grants,
    PolicyInputError,
    Principals,
    grant_answer,
    iam_literal,
    parse_role_arn,
)
from s3fanout.preflight import check_access, check_buckets
from seed.cli import seed_parser
from seed.console import UsageError
from seed.policy import STACK_COPY_PARAMETERS, StackFacts, policy_main, policy_parser, policy_text, stack_copy_options
from tests.deploy.moto_stack import Intrinsics, load_template, pseudo_parameters

LISTER = "arn:aws:iam::123456789012:role/s3-fanout-ListObjectsFunctionRole-ABC"
COPIER = "arn:aws:iam::123456789012:role/s3-fanout-CopyObjectsFunctionRole-DEF"
ROLES = Principals.of(LISTER, COPIER)
HERE, ELSEWHERE = "123456789012", "111111111111"
SOURCE_KEY = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DEST_KEY = "arn:aws:kms:us-east-1:222222222222:key/mrk-0123456789abcdef0123456789abcdef"
# --sse-kms-key-id: a key of the destination's account, and one of the roles' own.
COPY_KEY = "arn:aws:kms:us-east-1:222222222222:key/0000abcd-12ab-34cd-56ef-1234567890ab"
OWN_COPY_KEY = "arn:aws:kms:us-east-1:123456789012:key/0000abcd-12ab-34cd-56ef-1234567890ab"
ACL = "bucket-owner-full-control"
# Every copy option that adds a grant.
ALL_OPTIONS = CopyOptions(acl=ACL, object_lock=True, sse="aws:kms", sse_kms_key_id=COPY_KEY)
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/\S+$")


def grants(**changes: Any) -> Grants:
    return Grants(**({"source_bucket": "src-bucket", "dest_bucket": "dst-bucket", "principals": ROLES} | changes))


def statements_of(document: dict[str, Any] | None) -> list[dict[str, Any]]:
    assert document is not None
    return list(document["Statement"])


def assert_valid_statement(statement: dict[str, Any]) -> None:
    """What IAM requires of a resource-policy statement, as this module writes them."""
    assert set(statement) <= {"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}
    assert re.fullmatch(r"S3Fanout[A-Za-z0-9]+", statement["Sid"]), statement["Sid"]
    assert statement["Effect"] == "Allow"
    assert set(statement["Principal"]) == {"AWS"}
    principals = statement["Principal"]["AWS"]
    assert principals and len(set(principals)) == len(principals)
    assert all(_ROLE.match(arn) for arn in principals), principals
    assert statement["Action"] and all(re.fullmatch(r"(s3|kms):[A-Za-z]+", action) for action in statement["Action"])
    # One ARN, or (a bucket several destinations write under different prefixes) a list of them.
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    assert resources and all(isinstance(resource, str) for resource in resources) and len(set(resources)) == len(resources)


def assert_valid_policy(document: dict[str, Any]) -> None:
    assert set(document) == {"Version", "Statement"}
    assert document["Version"] == POLICY_VERSION
    assert isinstance(document["Statement"], list) and document["Statement"]
    sids = [statement["Sid"] for statement in document["Statement"]]
    assert len(sids) == len(set(sids)), sids
    for statement in document["Statement"]:
        assert_valid_statement(statement)
        assert statement["Action"][0].startswith("s3:")
    json.loads(json.dumps(document))  # plain JSON, nothing else


# ----------------------------------------------------------------------------- the documents


@pytest.mark.parametrize("options", [CopyOptions(), ALL_OPTIONS], ids=["plain", "copy-options"])
@pytest.mark.parametrize("delete_allowed", [False, True])
@pytest.mark.parametrize("dest_owner", [None, ELSEWHERE])
def test_documents_are_valid_iam_policies(delete_allowed: bool, dest_owner: str | None, options: CopyOptions) -> None:
    answer = grant_answer(grants(delete_allowed=delete_allowed, dest_owner=dest_owner, source_kms_keys=(SOURCE_KEY,), dest_kms_keys=(DEST_KEY,), copy_options=options))
    assert_valid_policy(answer.source_bucket_policy)
    assert answer.dest_bucket_policy is not None
    assert_valid_policy(answer.dest_bucket_policy)
    for statement in answer.kms_key_policy_statements:
        assert_valid_statement(statement)
    every = statements_of(answer.source_bucket_policy) + statements_of(answer.dest_bucket_policy) + answer.kms_key_policy_statements
    sids = [statement["Sid"] for statement in every]
    assert len(sids) == len(set(sids)), "a Sid appears twice: pasting two documents into one would clash"
    assert {arn for statement in every for arn in statement["Principal"]["AWS"]} == {LISTER, COPIER}


def test_json_object_has_the_contract_fields() -> None:
    document = grant_answer(grants()).to_json()
    assert {"source_bucket_policy", "dest_bucket_policy", "kms_key_policy_statements", "principals", "advice"} <= set(document)
    # Grown for several destinations: where the first one's keys go, and the others (none here).
    assert document["destination"] == {"bucket": "dst-bucket", "owner": None, "another_account": None, "key_prefixes": [""]}
    assert document["more_destinations"] == []
    assert document["principals"] == {"lister": LISTER, "copier": COPIER}
    assert isinstance(document["advice"], list) and all(isinstance(line, str) for line in document["advice"])
    assert set(document["kms_keys"]) == {"source", "destination"}
    # Grown, not changed: the copy options the grants are for, every one named.
    assert document["copy_options"] == {
        "storage_class": None,
        "sse": None,
        "sse_kms_key_id": None,
        "checksum_algorithm": None,
        "acl": None,
        "metadata_directive": "COPY",
        "object_lock": False,
        "kms_key_sid": None,
        "from": "none",
    }
    json.dumps(document)


def resources(document: dict[str, Any] | None) -> set[str]:
    return {statement["Resource"] for statement in statements_of(document)}


def test_resources_without_a_prefix() -> None:
    answer = grant_answer(grants(delete_allowed=True))
    assert resources(answer.source_bucket_policy) == {"arn:aws:s3:::src-bucket", "arn:aws:s3:::src-bucket/*"}
    assert resources(answer.dest_bucket_policy) == {"arn:aws:s3:::dst-bucket", "arn:aws:s3:::dst-bucket/*"}
    for statement in statements_of(answer.source_bucket_policy) + statements_of(answer.dest_bucket_policy):
        # Over TLS, always; no prefix condition on the listings when every key is served.
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "true"}}


def test_resources_and_listings_with_a_prefix() -> None:
    answer = grant_answer(grants(prefix="logs/2026/"))
    assert resources(answer.source_bucket_policy) == {"arn:aws:s3:::src-bucket", "arn:aws:s3:::src-bucket/logs/2026/*"}
    assert resources(answer.dest_bucket_policy) == {"arn:aws:s3:::dst-bucket", "arn:aws:s3:::dst-bucket/logs/2026/*"}
    for statement in statements_of(answer.source_bucket_policy) + statements_of(answer.dest_bucket_policy):
        if statement["Action"] == ["s3:ListBucket"]:
            assert statement["Condition"]["StringLikeIfExists"] == {"s3:prefix": "logs/2026/*"}
        else:
            assert "StringLikeIfExists" not in statement["Condition"]


def test_wildcards_and_dollars_in_a_prefix_are_literals() -> None:
    assert iam_literal("a*b?c$d") == "a${*}b${?}c${$}d"
    answer = grant_answer(grants(prefix="x*/"))
    assert "arn:aws:s3:::src-bucket/x${*}/*" in resources(answer.source_bucket_policy)


def test_partition_of_the_roles_names_the_buckets() -> None:
    roles = Principals.of("arn:aws-cn:iam::123456789012:role/lister", "arn:aws-cn:iam::123456789012:role/copier")
    answer = grant_answer(grants(principals=roles, source_kms_keys=("arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",)))
    assert resources(answer.source_bucket_policy) == {"arn:aws-cn:s3:::src-bucket", "arn:aws-cn:s3:::src-bucket/*"}
    (kms,) = answer.kms_key_policy_statements
    assert kms["Condition"] == {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com.cn"}}


def test_versions_add_listing_and_reading_versions_and_delete_markers() -> None:
    plain, versions = grant_answer(grants()), grant_answer(grants(versions=True))
    source = {statement["Sid"]: statement["Action"] for statement in statements_of(versions.source_bucket_policy)}
    assert source.pop("S3FanoutListSourceBucket") == ["s3:ListBucket", "s3:ListBucketVersions"]
    assert source.pop("S3FanoutReadSourceObjects") == ["s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectVersion", "s3:GetObjectVersionTagging"]
    assert source == {s["Sid"]: s["Action"] for s in statements_of(plain.source_bucket_policy) if s["Sid"] not in ("S3FanoutListSourceBucket", "S3FanoutReadSourceObjects")}
    dest = {statement["Sid"]: statement for statement in statements_of(versions.dest_bucket_policy)}
    added = {sid: (dest[sid]["Action"], dest[sid]["Principal"]["AWS"]) for sid in set(dest) - {s["Sid"] for s in statements_of(plain.dest_bucket_policy)}}
    assert added == {
        "S3FanoutListDestinationVersions": (["s3:ListBucketVersions"], [LISTER, COPIER]),
        "S3FanoutReadDestinationVersions": (["s3:GetObjectVersion"], [LISTER, COPIER]),
        # Delete markers only: never s3:DeleteObjectVersion.
        "S3FanoutWriteDeleteMarkers": (["s3:DeleteObject"], [COPIER]),
    }


def test_kms_statements() -> None:
    assert grant_answer(grants()).kms_key_policy_statements == []
    answer = grant_answer(grants(source_kms_keys=(SOURCE_KEY,), dest_kms_keys=(DEST_KEY,)))
    by_sid = {statement["Sid"]: statement for statement in answer.kms_key_policy_statements}
    assert set(by_sid) == {SOURCE_KMS_SID, DEST_KMS_SID}
    assert by_sid[SOURCE_KMS_SID]["Action"] == ["kms:Decrypt"]
    assert by_sid[DEST_KMS_SID]["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    for statement in by_sid.values():
        # The copier only: the lister reads no object data. "*" in a key policy is the key itself.
        assert statement["Principal"] == {"AWS": [COPIER]}
        assert statement["Resource"] == "*"
        assert statement["Condition"] == {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}
    assert answer.to_json()["kms_keys"] == {"source": [{"key": SOURCE_KEY, "sid": SOURCE_KMS_SID}], "destination": [{"key": DEST_KEY, "sid": DEST_KMS_SID}]}


def test_s3s_aws_managed_key_gets_no_statement() -> None:
    with pytest.raises(PolicyInputError, match="AWS managed key"):
        grants(source_kms_keys=("arn:aws:kms:us-east-1:111111111111:alias/aws/s3",))


def test_destination_policy_only_when_it_may_be_in_another_account() -> None:
    same = grant_answer(grants(source_owner=ELSEWHERE, dest_owner=HERE))
    assert same.dest_bucket_policy is None and same.to_json()["dest_bucket_policy"] is None
    assert grant_answer(grants(source_owner=ELSEWHERE, dest_owner="222222222222")).dest_bucket_policy is not None
    unknown = grant_answer(grants())
    assert unknown.dest_bucket_policy is not None
    assert any(line.startswith("cannot tell whether s3://dst-bucket belongs to another account") for line in unknown.advice)
    # The source's policy is always printed; the advice says when it is not needed.
    assert same.source_bucket_policy["Statement"]
    assert any("s3://src-bucket belongs to the roles' account" in line for line in grant_answer(grants(source_owner=HERE)).advice)


def test_object_ownership_advice_for_another_accounts_destination_only() -> None:
    other = grant_answer(grants(dest_owner=ELSEWHERE)).advice
    assert any("BucketOwnerEnforced" in line and "--acl bucket-owner-full-control" in line for line in other)
    enforced = grant_answer(grants(dest_owner=ELSEWHERE), Findings(dest_object_ownership="BucketOwnerEnforced")).advice
    assert any("Object Ownership is BucketOwnerEnforced: its account owns every copy" in line for line in enforced)
    assert not any("BucketOwnerEnforced" in line for line in grant_answer(grants(dest_owner=HERE)).advice)
    # No invented condition: the copier sends no ACL, so none is demanded.
    destination = json.dumps(grant_answer(grants(dest_owner=ELSEWHERE)).dest_bucket_policy)
    assert "x-amz-acl" not in destination and "x-amz-server-side-encryption" not in destination


def test_kms_advice() -> None:
    deployed = grant_answer(grants(source_owner=ELSEWHERE, source_kms_keys=(SOURCE_KEY,)), Findings(stack_name="s3-fanout")).advice
    assert any(f"deploy stack 's3-fanout' with SourceKmsKeyArn={SOURCE_KEY}" in line for line in deployed)
    granted = grant_answer(grants(source_owner=ELSEWHERE, source_kms_keys=(SOURCE_KEY,)), Findings(stack_name="s3-fanout", role_source_kms_key=SOURCE_KEY)).advice
    assert not any("deploy stack" in line for line in granted)
    unread = grant_answer(grants(source_owner=ELSEWHERE), Findings(source_encryption_unread="AccessDenied")).advice
    assert any("could not read s3://src-bucket's default encryption (AccessDenied)" in line and "--source-kms-key-arn" in line for line in unread)
    managed = grant_answer(grants(source_owner=ELSEWHERE), Findings(source_managed_key=True)).advice
    assert any("AWS managed key aws/s3" in line for line in managed)


@pytest.mark.parametrize(
    "text",
    [
        "arn:aws:iam::123456789012:user/bob",
        "arn:aws:sts::123456789012:assumed-role/copier/session",
        "copier",
        "arn:aws:iam::12345:role/copier",
        "arn:aws:iam::123456789012:role/",
    ],
)
def test_only_iam_role_arns_are_principals(text: str) -> None:
    with pytest.raises(PolicyInputError, match="is not an IAM role ARN"):
        parse_role_arn(text)


def test_one_local_role_gets_both_parts() -> None:
    role = "arn:aws:iam::111111111111:role/path/to/migrator"
    answer = grant_answer(grants(principals=Principals.of(role, role), delete_allowed=True))
    assert answer.to_json()["principals"] == {"lister": role, "copier": role}
    for statement in statements_of(answer.source_bucket_policy) + statements_of(answer.dest_bucket_policy):
        assert statement["Principal"] == {"AWS": [role]}
    several = Principals.of([role, LISTER], [role, LISTER])
    assert grant_answer(grants(principals=several)).to_json()["principals"] == {"lister": [role, LISTER], "copier": [role, LISTER]}


def test_roles_of_two_partitions_are_refused() -> None:
    with pytest.raises(PolicyInputError, match="partitions"):
        Principals.of("arn:aws:iam::123456789012:role/a", "arn:aws-cn:iam::123456789012:role/b")


# ------------------------------------------------------------------------------ copy options


def by_sid(document: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in statements_of(document)}


def added_statements(document: dict[str, Any] | None, plain: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The statements an option adds, after checking it leaves the plain copy's alone."""
    found, before = by_sid(document), by_sid(plain)
    assert {sid: found[sid] for sid in before} == before
    assert list(found)[: len(before)] == list(before), "the options' statements come after the plain copy's"
    return {sid: statement for sid, statement in found.items() if sid not in before}


TLS = {"Bool": {"aws:SecureTransport": "true"}}


def test_acl_grants_the_copier_put_object_acl_on_destination_objects() -> None:
    plain = grant_answer(grants(dest_owner=ELSEWHERE, prefix="logs/"))
    answer = grant_answer(grants(dest_owner=ELSEWHERE, prefix="logs/", copy_options=CopyOptions(acl=ACL)))
    assert answer.dest_bucket_policy is not None
    assert_valid_policy(answer.dest_bucket_policy)
    assert added_statements(answer.dest_bucket_policy, plain.dest_bucket_policy) == {
        "S3FanoutSetCopyAcl": {
            "Sid": "S3FanoutSetCopyAcl",
            "Effect": "Allow",
            "Principal": {"AWS": [COPIER]},
            "Action": ["s3:PutObjectAcl"],
            "Resource": "arn:aws:s3:::dst-bucket/logs/*",
            "Condition": TLS,
        }
    }
    assert answer.source_bucket_policy == plain.source_bucket_policy
    assert answer.kms_key_policy_statements == []
    # Still no condition demanding the ACL: a multipart copy's part requests carry none.
    assert "x-amz-acl" not in json.dumps(answer.dest_bucket_policy)


def test_object_lock_grants_the_copier_its_reads_on_the_source_and_writes_on_the_destination() -> None:
    plain = grant_answer(grants(dest_owner=ELSEWHERE, delete_allowed=True))
    answer = grant_answer(grants(dest_owner=ELSEWHERE, delete_allowed=True, copy_options=CopyOptions(object_lock=True)))
    for document in (answer.source_bucket_policy, answer.dest_bucket_policy):
        assert document is not None
        assert_valid_policy(document)
    read = added_statements(answer.source_bucket_policy, plain.source_bucket_policy)
    write = added_statements(answer.dest_bucket_policy, plain.dest_bucket_policy)
    assert {sid: (s["Principal"], s["Action"], s["Resource"], s["Condition"]) for sid, s in read.items()} == {
        "S3FanoutReadSourceObjectLock": ({"AWS": [COPIER]}, ["s3:GetObjectRetention", "s3:GetObjectLegalHold"], "arn:aws:s3:::src-bucket/*", TLS)
    }
    assert {sid: (s["Principal"], s["Action"], s["Resource"], s["Condition"]) for sid, s in write.items()} == {
        "S3FanoutWriteDestinationObjectLock": ({"AWS": [COPIER]}, ["s3:PutObjectRetention", "s3:PutObjectLegalHold"], "arn:aws:s3:::dst-bucket/*", TLS)
    }


def test_a_copy_key_of_another_account_gets_a_key_policy_statement_for_the_copier() -> None:
    answer = grant_answer(grants(dest_owner=ELSEWHERE, copy_options=CopyOptions(sse="aws:kms", sse_kms_key_id=COPY_KEY)))
    (kms,) = answer.kms_key_policy_statements
    assert_valid_statement(kms)
    assert kms == {
        "Sid": COPY_KMS_SID,
        "Effect": "Allow",
        "Principal": {"AWS": [COPIER]},
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
        "Resource": "*",
        "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
    }
    document = answer.to_json()
    assert document["copy_options"]["sse_kms_key_id"] == COPY_KEY and document["copy_options"]["kms_key_sid"] == COPY_KMS_SID
    assert document["kms_keys"] == {"source": [], "destination": []}
    assert any(line.startswith(f"add the statement {COPY_KMS_SID} to the key policy of {COPY_KEY} (copies, --sse-kms-key-id); the role's own IAM policy") for line in answer.advice)
    # The bucket policies are the plain copy's: the key is used through S3, which the copier may write.
    assert answer.dest_bucket_policy == grant_answer(grants(dest_owner=ELSEWHERE)).dest_bucket_policy


@pytest.mark.parametrize(
    ("key", "advised"),
    [
        (OWN_COPY_KEY, "is in the roles' account"),
        ("0000abcd-12ab-34cd-56ef-1234567890ab", "is in the roles' account"),
        ("alias/copies", "is in the roles' account"),
        ("arn:aws:kms:us-east-1:222222222222:alias/aws/s3", "AWS managed key aws/s3"),
        (None, "AWS managed key aws/s3"),
    ],
)
def test_a_copy_key_of_the_roles_account_or_aws_s3_gets_no_statement(key: str | None, advised: str) -> None:
    answer = grant_answer(grants(dest_owner=ELSEWHERE, copy_options=CopyOptions(sse="aws:kms", sse_kms_key_id=key)))
    assert answer.kms_key_policy_statements == []
    assert answer.to_json()["copy_options"]["kms_key_sid"] is None
    # The destination's account must still be able to read the copies: the advice says how.
    assert any(advised in line and "s3://dst-bucket's account" in line for line in answer.advice), answer.advice


def test_an_alias_arn_of_another_account_names_the_key_whose_policy_gets_the_statement() -> None:
    alias = "arn:aws:kms:us-east-1:222222222222:alias/copies"
    answer = grant_answer(grants(copy_options=CopyOptions(sse="aws:kms", sse_kms_key_id=alias)))
    assert [statement["Sid"] for statement in answer.kms_key_policy_statements] == [COPY_KMS_SID]
    assert any(f"to the key policy of the key {alias} names" in line for line in answer.advice)
    assert f"\n\nKey policy of the KMS key {alias} names (copies, --sse-kms-key-id): " in policy_text(answer, None)


def test_sse_replaces_the_destinations_default_key() -> None:
    """With --sse the copies are not encrypted with the destination's default key: its statement
    is left out (and so is the advice about its encryption)."""
    for sse, key in (("AES256", None), ("aws:kms", COPY_KEY)):
        answer = grant_answer(grants(dest_owner=ELSEWHERE, dest_kms_keys=(DEST_KEY,), copy_options=CopyOptions(sse=sse, sse_kms_key_id=key)), Findings(dest_managed_key=True))
        assert DEST_KMS_SID not in {statement["Sid"] for statement in answer.kms_key_policy_statements}
        assert answer.to_json()["kms_keys"]["destination"] == []
        assert any(f"not with s3://dst-bucket's default key {DEST_KEY}" in line for line in answer.advice)
        assert not any("AWS managed key aws/s3, whose policy no one can change: another account's roles cannot write" in line for line in answer.advice)


def test_object_ownership_advice_follows_the_acl() -> None:
    options = CopyOptions(acl=ACL)

    def ownership_line(ownership: str | None) -> str:
        advice = grant_answer(grants(dest_owner=ELSEWHERE, copy_options=options), Findings(dest_object_ownership=ownership)).advice
        (line,) = [line for line in advice if "Object Ownership" in line]
        return line

    assert "its account owns every copy; their ACL bucket-owner-full-control (--acl) is accepted there" in ownership_line("BucketOwnerEnforced")
    assert "BucketOwnerPreferred: its account owns every copy" in ownership_line("BucketOwnerPreferred")
    assert f"ObjectWriter: copies are owned by the account that writes them ({HERE})" in ownership_line("ObjectWriter")
    unknown = ownership_line(None)
    assert unknown.startswith("copies carry the ACL bucket-owner-full-control (--acl): s3://dst-bucket's account owns them if its Object Ownership is BucketOwnerPreferred or BucketOwnerEnforced")
    assert "put-bucket-ownership-controls --bucket dst-bucket" in unknown
    # No word on ownership for a destination in the roles' own account, ACL or not.
    assert not any("Object Ownership" in line for line in grant_answer(grants(dest_owner=HERE, copy_options=options)).advice)


def test_advice_names_the_stack_parameters_the_copiers_own_policy_lacks() -> None:
    def advice(granted: CopyOptions, role_dest_key: str | None = None) -> list[str]:
        return grant_answer(grants(dest_owner=ELSEWHERE, copy_options=ALL_OPTIONS), Findings(stack_name="s3-fanout", role_copy_options=granted, role_dest_kms_key=role_dest_key)).advice

    lacking = advice(CopyOptions())
    assert any(line.endswith("deploy stack 's3-fanout' with CopyAcl=bucket-owner-full-control") for line in lacking)
    assert any(line.endswith("deploy stack 's3-fanout' with CopyObjectLock=true") for line in lacking)
    assert any(line.endswith(f"deploy stack 's3-fanout' with SseKmsKeyId={COPY_KEY}") for line in lacking)
    assert not any("deploy stack" in line for line in advice(ALL_OPTIONS))
    # DestinationKmsKeyArn grants the copier the same actions on its key.
    assert not any("with SseKmsKeyId=" in line for line in advice(CopyOptions(acl=ACL, object_lock=True), role_dest_key=COPY_KEY))


def test_plain_copy_options_add_nothing() -> None:
    for options in (CopyOptions(storage_class="GLACIER_IR", checksum_algorithm="SHA256", sse="AES256"), CopyOptions(replace_metadata=True, metadata=(("project", "atlas"),))):
        answer, plain = grant_answer(grants(dest_owner=ELSEWHERE, copy_options=options)), grant_answer(grants(dest_owner=ELSEWHERE))
        assert (answer.source_bucket_policy, answer.dest_bucket_policy, answer.kms_key_policy_statements) == (plain.source_bucket_policy, plain.dest_bucket_policy, [])


# ------------------------------------------------------------------ the command's copy options

COPY_FLAGS = ("storage_class", "sse", "sse_kms_key_id", "checksum_algorithm", "acl", "metadata_directive", "metadata", "copy_object_lock")


def test_policy_takes_the_main_commands_copy_flags() -> None:
    def actions(parser: Any) -> dict[str, tuple[Any, ...]]:
        return {a.dest: (a.option_strings, a.type, a.default, type(a), a.help) for a in parser._actions if a.dest in COPY_FLAGS}

    assert actions(policy_parser()) == actions(seed_parser())
    assert set(actions(policy_parser())) == set(COPY_FLAGS)
    args = policy_parser().parse_args(["--bucket", "s", "--dest", "d", "--acl", "BUCKET-OWNER-FULL-CONTROL", "--copy-object-lock", "--sse", "AWS:KMS", "--sse-kms-key-id", COPY_KEY])
    assert (args.acl, args.copy_object_lock, args.sse, args.sse_kms_key_id) == (ACL, True, "aws:kms", COPY_KEY)


def test_stack_copy_options_are_the_stacks_parameters() -> None:
    assert stack_copy_options(StackFacts("s3-fanout", {}, {})) == CopyOptions()
    parameters = {"CopyAcl": ACL, "CopyObjectLock": "true", "ServerSideEncryption": "aws:kms", "SseKmsKeyId": COPY_KEY, "StorageClass": "", "AllowDelete": "true"}
    assert stack_copy_options(StackFacts("s3-fanout", {}, parameters)) == ALL_OPTIONS
    with pytest.raises(StackError, match="stack 'odd': copy options from the environment"):
        stack_copy_options(StackFacts("odd", {}, {"StorageClass": "COLD"}))


def test_stack_copy_parameters_are_those_the_template_gives_the_copier() -> None:
    variables = load_template()["Resources"]["CopyObjectsFunction"]["Properties"]["Environment"]["Variables"]
    assert {parameter: variables[variable] for parameter, variable in STACK_COPY_PARAMETERS.items()} == {parameter: {"Ref": parameter} for parameter in STACK_COPY_PARAMETERS}


def test_text_output_names_the_copy_options_and_each_key_policy() -> None:
    answer = grant_answer(grants(dest_owner=ELSEWHERE, copy_options=ALL_OPTIONS, source_kms_keys=(SOURCE_KEY,)), Findings(stack_name="s3-fanout", copy_options_from="flags"))
    blocks = policy_text(answer, "s3-fanout").split("\n\n")
    headings = [block.partition("\n")[0] for block in blocks]
    assert f"Key policy of KMS key {SOURCE_KEY} (source objects): add this statement to the key policy's Statement list." in headings
    assert f"Key policy of KMS key {COPY_KEY} (copies, --sse-kms-key-id): add this statement to the key policy's Statement list." in headings
    assert f"Copy options (flags): --sse aws:kms --sse-kms-key-id {COPY_KEY} --acl bucket-owner-full-control --copy-object-lock" in headings
    # Each pasted document is the JSON one.
    documents = [json.loads(block.partition("\n")[2]) for block in blocks if block.partition("\n")[2].startswith("{")]
    assert documents == [answer.source_bucket_policy, answer.dest_bucket_policy, *answer.kms_key_policy_statements]
    assert not any(line.startswith("Copy options") for line in policy_text(grant_answer(grants()), None).splitlines())
    stacks = grant_answer(grants(copy_options=CopyOptions(acl=ACL)), Findings(stack_name="s3-fanout", copy_options_from="stack"))
    assert "\n\nCopy options (the parameters of stack 's3-fanout'): --acl bucket-owner-full-control\n\n" in policy_text(stacks, "s3-fanout")


def test_copy_flags_are_checked_as_the_main_command_checks_them() -> None:
    with pytest.raises(UsageError, match="--sse-kms-key-id needs --sse aws:kms"):
        policy_main(["--bucket", "src-bucket", "--dest", "dst-bucket", "--role-arn", LISTER, "--sse-kms-key-id", COPY_KEY])


# ----------------------------------------------------------- what the template grants the roles

TEMPLATE_ROLES = {"ListObjectsFunctionRole": LISTER, "CopyObjectsFunctionRole": COPIER}


def template_grants(parameters: dict[str, str]) -> dict[str, dict[str, set[str]]]:
    """{role ARN: {resource: actions}} of every S3 and KMS grant template.yaml gives each role
    on the two buckets and the two keys (not the report bucket: it is the stack's own)."""
    template = load_template()
    intrinsics = Intrinsics(template, {**pseudo_parameters("s3-fanout"), **parameters})
    found: dict[str, dict[str, set[str]]] = {}
    for role, arn in TEMPLATE_ROLES.items():
        for policy in template["Resources"][role]["Properties"]["Policies"]:
            for statement in intrinsics.resolve(policy["PolicyDocument"]["Statement"]):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                for action in actions:
                    for target in targets:
                        if action.startswith("s3:") and not target.startswith("arn:aws:s3:::report-bucket") or action.startswith("kms:"):
                            found.setdefault(arn, {}).setdefault(target, set()).add(action)
    return found


def policy_grants(parameters: dict[str, str]) -> dict[str, dict[str, set[str]]]:
    """The same map from the documents `seed policy` prints, for the same stack (a job to every
    destination it serves: the four slots of MoreDestinationBuckets, under its DestinationPrefix);
    a KMS statement counts for each key it goes into."""
    dest_prefix = parameters.get("DestinationPrefix") or None
    more = [bucket for bucket in parameters.get("MoreDestinationBuckets", "").split(",")[:4] if bucket]
    answer = grant_answer(
        grants(
            dest_prefix=dest_prefix,
            more_dests=tuple((bucket, dest_prefix) for bucket in more),
            prefix=parameters.get("AllowedPrefix", ""),
            delete_allowed=parameters.get("AllowDelete") == "true",
            versions=parameters.get("CopyVersions") == "true",
            source_kms_keys=tuple(filter(None, [parameters.get("SourceKmsKeyArn")])),
            dest_kms_keys=tuple(filter(None, [parameters.get("DestinationKmsKeyArn")])),
            copy_options=stack_copy_options(StackFacts("s3-fanout", {}, parameters)),
        )
    )
    document = answer.to_json()
    keys_of: dict[str, list[str]] = {entry["sid"]: [] for side in document["kms_keys"].values() for entry in side}
    for side in document["kms_keys"].values():
        for entry in side:
            keys_of[entry["sid"]].append(entry["key"])
    if document["copy_options"]["kms_key_sid"]:
        keys_of[document["copy_options"]["kms_key_sid"]] = [document["copy_options"]["sse_kms_key_id"]]
    found: dict[str, dict[str, set[str]]] = {}
    more_policies = [statement for more in answer.more_dest_bucket_policies for statement in statements_of(more.policy)]
    for statement in statements_of(answer.source_bucket_policy) + statements_of(answer.dest_bucket_policy) + more_policies + answer.kms_key_policy_statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        targets = keys_of[statement["Sid"]] if statement["Resource"] == "*" else resources
        for arn in statement["Principal"]["AWS"]:
            for target in targets:
                found.setdefault(arn, {}).setdefault(target, set()).update(statement["Action"])
    return found


STACKS = [
    {},
    {"AllowedPrefix": "logs/"},
    {"AllowDelete": "true"},
    {"AllowDelete": "true", "AllowedPrefix": "data/2026/", "SourceKmsKeyArn": SOURCE_KEY},
    {"SourceKmsKeyArn": SOURCE_KEY, "DestinationKmsKeyArn": DEST_KEY},
    {"ReportBucket": "report-bucket", "AllowDelete": "true"},
    {"CopyAcl": ACL},
    {"CopyObjectLock": "true", "AllowedPrefix": "logs/"},
    {"ServerSideEncryption": "aws:kms", "SseKmsKeyId": COPY_KEY},
    {"CopyAcl": ACL, "CopyObjectLock": "true", "ServerSideEncryption": "aws:kms", "SseKmsKeyId": COPY_KEY, "SourceKmsKeyArn": SOURCE_KEY, "AllowDelete": "true"},
    {"CopyVersions": "true"},
    {"CopyVersions": "true", "AllowDelete": "true", "AllowedPrefix": "logs/"},
    {"MoreDestinationBuckets": "dst-two,dst-three"},
    {"DestinationPrefix": "copies/", "AllowedPrefix": "logs/"},
    {"MoreDestinationBuckets": "dst-two", "DestinationPrefix": "copies/", "AllowDelete": "true", "CopyAcl": ACL, "CopyObjectLock": "true", "DestinationKmsKeyArn": DEST_KEY},
    # Versions stay DestinationBucket's, under AllowedPrefix, beside its writes under DestinationPrefix.
    {"MoreDestinationBuckets": "dst-two", "DestinationPrefix": "copies/", "CopyVersions": "true", "AllowedPrefix": "logs/", "AllowDelete": "true"},
    # Four slots: the template grants a 5th bucket nothing, and the stack serves it no job.
    {"MoreDestinationBuckets": "b-1,b-2,b-3,b-4,b-5"},
]


@pytest.mark.parametrize("parameters", STACKS, ids=lambda p: ",".join(p) or "defaults")
def test_every_action_the_template_grants_on_a_bucket_or_key_is_in_its_policy_and_nothing_more(parameters: dict[str, str]) -> None:
    named = {"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", **parameters}
    assert policy_grants(named) == template_grants(named)


def test_a_copy_key_of_the_roles_account_is_granted_by_their_own_policy_only() -> None:
    """The one grant of the template a policy leaves out: a key of the roles' own account lets
    them use it through their IAM policy, so its key policy needs no statement."""
    named = {"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "ServerSideEncryption": "aws:kms", "SseKmsKeyId": OWN_COPY_KEY}
    expected = template_grants(named)
    assert expected[COPIER].pop(OWN_COPY_KEY) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert policy_grants(named) == expected


def test_listing_conditions_match_the_templates() -> None:
    template = load_template()
    intrinsics = Intrinsics(template, {**pseudo_parameters("s3-fanout"), "SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "AllowedPrefix": "logs/"})
    template_prefixes = {
        statement["Resource"]: statement["Condition"]["StringLikeIfExists"]
        for role in TEMPLATE_ROLES
        for policy in template["Resources"][role]["Properties"]["Policies"]
        for statement in intrinsics.resolve(policy["PolicyDocument"]["Statement"])
        if statement["Action"] == "s3:ListBucket"
    }
    answer = grant_answer(grants(prefix="logs/"))
    printed = {s["Resource"]: s["Condition"]["StringLikeIfExists"] for s in statements_of(answer.source_bucket_policy) + statements_of(answer.dest_bucket_policy) if s["Action"] == ["s3:ListBucket"]}
    assert printed == template_prefixes == {"arn:aws:s3:::src-bucket": {"s3:prefix": "logs/*"}, "arn:aws:s3:::dst-bucket": {"s3:prefix": "logs/*"}}


def test_listing_conditions_of_more_destinations_under_a_destination_prefix_match_the_templates() -> None:
    """The source is listed under AllowedPrefix, every destination under DestinationPrefix."""
    parameters = {"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "AllowedPrefix": "logs/", "DestinationPrefix": "copies/", "MoreDestinationBuckets": "dst-two"}
    intrinsics = Intrinsics(load_template(), {**pseudo_parameters("s3-fanout"), **parameters})
    template_prefixes = {
        resource: statement["Condition"]["StringLikeIfExists"]
        for role in TEMPLATE_ROLES
        for policy in load_template()["Resources"][role]["Properties"]["Policies"]
        for statement in intrinsics.resolve(policy["PolicyDocument"]["Statement"])
        if statement["Action"] == "s3:ListBucket"
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
    }
    answer = grant_answer(grants(prefix="logs/", dest_prefix="copies/", more_dests=(("dst-two", "copies/"),)))
    (more,) = answer.more_dest_bucket_policies
    every = statements_of(answer.source_bucket_policy) + statements_of(answer.dest_bucket_policy) + statements_of(more.policy)
    printed = {s["Resource"]: s["Condition"]["StringLikeIfExists"] for s in every if s["Action"] == ["s3:ListBucket"]}
    assert printed == template_prefixes == {
        "arn:aws:s3:::src-bucket": {"s3:prefix": "logs/*"},
        "arn:aws:s3:::dst-bucket": {"s3:prefix": "copies/*"},
        "arn:aws:s3:::dst-two": {"s3:prefix": "copies/*"},
    }


def test_one_bucket_policy_per_destination_bucket_under_its_prefixes() -> None:
    answer = grant_answer(
        grants(prefix="logs/", dest_prefix="copies/", more_dests=(("dst-two", None), ("dst-bucket", "archive/")), delete_allowed=True, dest_owner=ELSEWHERE, versions=True)
    )
    assert_valid_policy(answer.dest_bucket_policy)
    # The first bucket takes two destinations: each statement names both prefixes, listings too.
    write = {s["Sid"]: s for s in statements_of(answer.dest_bucket_policy)}
    assert write["S3FanoutWriteDestinationObjects"]["Resource"] == ["arn:aws:s3:::dst-bucket/copies/*", "arn:aws:s3:::dst-bucket/archive/*"]
    assert write["S3FanoutListDestinationBucket"]["Condition"]["StringLikeIfExists"] == {"s3:prefix": ["copies/*", "archive/*"]}
    # Versions: the first destination's, under --prefix, as the template grants them.
    assert write["S3FanoutReadDestinationVersions"]["Resource"] == "arn:aws:s3:::dst-bucket/logs/*"
    (two,) = answer.more_dest_bucket_policies
    assert (two.bucket, two.key_prefixes) == ("dst-two", ("logs/",))
    assert two.policy is not None
    assert_valid_policy(two.policy)
    sids = {s["Sid"]: s for s in statements_of(two.policy)}
    assert set(sids) == {"S3FanoutListDestinationBucket", "S3FanoutWriteDestinationObjects", "S3FanoutFinishSplitMultipartCopies", "S3FanoutDeleteDestinationOrphans"}
    assert sids["S3FanoutDeleteDestinationOrphans"]["Resource"] == "arn:aws:s3:::dst-two/logs/*"
    document = answer.to_json()
    assert document["destination"]["key_prefixes"] == ["copies/", "archive/"]
    assert document["more_destinations"] == [{"bucket": "dst-two", "owner": ELSEWHERE, "another_account": True, "key_prefixes": ["logs/"], "bucket_policy": two.policy}]
    assert any(line.startswith("s3://dst-two belongs to account 111111111111") for line in document["advice"])
    text = policy_text(answer, "s3-fanout")
    assert "Destination bucket s3://dst-bucket (account 111111111111" in text and "Destination bucket s3://dst-two (account 111111111111" in text
    # In the roles' own account, no destination needs a policy.
    here = grant_answer(grants(dest_owner=HERE, more_dests=(("dst-two", None),)))
    assert here.dest_bucket_policy is None and [more.policy for more in here.more_dest_bucket_policies] == [None]
    assert "Destination bucket s3://dst-two is in the roles' account (123456789012): nothing to grant there." in policy_text(here, "s3-fanout")


# ---------------------------------------------------------------- the pre-flight points here


def _denied(*_: Any, **__: Any) -> Any:
    raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "op")


class DeniedS3:
    head_bucket = list_objects_v2 = head_object = put_object = staticmethod(_denied)


@pytest.mark.parametrize("check", [check_buckets, check_access])
def test_an_access_denied_pre_flight_points_at_seed_policy(check: Any) -> None:
    with pytest.raises(JobError) as refused:
        check(DeniedS3(), JobSpec("src-bucket", "dst-bucket", "logs/"))
    message = str(refused.value)
    assert message.startswith("no permission to ")
    assert message.endswith("; if the bucket belongs to another account, 'python -m seed policy --bucket src-bucket --dest dst-bucket --prefix logs/' prints what it must grant")
    assert "\n" not in message
    # A destination written under another prefix: the policy for that prefix.
    with pytest.raises(JobError) as refused:
        check(DeniedS3(), JobSpec("src-bucket", "dst-bucket", "logs/", dest_prefix="copies/"))
    assert "'python -m seed policy --bucket src-bucket --dest dst-bucket --dest-prefix copies/ --prefix logs/'" in str(refused.value)


SOURCE_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:minio-keys-AbCdEf"


def test_a_source_read_with_a_secrets_keys_needs_no_grant_for_the_roles() -> None:
    answer = grant_answer(
        grants(source_keys_secret=SOURCE_SECRET, source_endpoint="https://minio.example.com", source_kms_keys=(SOURCE_KEY,), prefix="logs/", copy_options=CopyOptions(object_lock=True))
    )

    assert answer.source_bucket_policy is None
    # Nor the source's KMS key: the keys' own identity decrypts, not the copier.
    assert [s["Sid"] for s in answer.kms_key_policy_statements] == []
    # The destination is granted as for any job.
    assert "S3FanoutWriteDestinationObjectLock" in [s["Sid"] for s in statements_of(answer.dest_bucket_policy)]
    [line] = [line for line in answer.advice if SOURCE_SECRET in line]
    assert "s3://src-bucket at https://minio.example.com" in line and "retention and legal hold under 'logs/'" in line
    document = answer.to_json()
    assert document["source_bucket_policy"] is None
    assert document["source_read_with"] == {"credentials_secret_arn": SOURCE_SECRET, "endpoint_url": "https://minio.example.com"}
    assert grant_answer(grants()).to_json()["source_read_with"] is None
    text = policy_text(answer, "s3-fanout")
    assert f"Source bucket s3://src-bucket is read with the keys in {SOURCE_SECRET}, not by the roles: nothing to grant them there." in text
