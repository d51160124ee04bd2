"""s3fanout.policy: the bucket and key policy documents another account pastes, checked as IAM
policy JSON, and held to exactly what template.yaml grants the two roles."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from s3fanout.job import JobError, JobSpec
from s3fanout.policy import (
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
from tests.deploy.moto_stack import Intrinsics, load_template, pseudo_parameters

LISTER = "arn:aws:iam::123456789012:role/s3-fanout-ListObjectsFunctionRole-ABC"
COPIER = "arn:aws:iam::123456789012:role/s3-fanout-CopyObjectsFunctionRole-DEF"
ROLES = Principals.of(LISTER, COPIER)
HERE, ELSEWHERE = "123456789012", "111111111111"
SOURCE_KEY = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DEST_KEY = "arn:aws:kms:us-east-1:222222222222:key/mrk-0123456789abcdef0123456789abcdef"
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
    assert isinstance(statement["Resource"], str)


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


@pytest.mark.parametrize("delete_allowed", [False, True])
@pytest.mark.parametrize("dest_owner", [None, ELSEWHERE])
def test_documents_are_valid_iam_policies(delete_allowed: bool, dest_owner: str | None) -> None:
    answer = grant_answer(grants(delete_allowed=delete_allowed, dest_owner=dest_owner, source_kms_keys=(SOURCE_KEY,), dest_kms_keys=(DEST_KEY,)))
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
    assert document["principals"] == {"lister": LISTER, "copier": COPIER}
    assert isinstance(document["advice"], list) and all(isinstance(line, str) for line in document["advice"])
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


def test_versions_add_get_object_version_only() -> None:
    plain = grant_answer(grants()).source_bucket_policy
    versions = grant_answer(grants(versions=True)).source_bucket_policy
    actions = {statement["Sid"]: statement["Action"] for statement in statements_of(versions)}
    assert actions.pop("S3FanoutReadSourceObjects") == ["s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectVersion"]
    assert actions == {statement["Sid"]: statement["Action"] for statement in statements_of(plain) if statement["Sid"] != "S3FanoutReadSourceObjects"}


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
    """The same map from the documents `seed policy` prints, for the same stack; a KMS statement
    counts for each key it goes into."""
    answer = grant_answer(
        grants(
            prefix=parameters.get("AllowedPrefix", ""),
            delete_allowed=parameters.get("AllowDelete") == "true",
            source_kms_keys=tuple(filter(None, [parameters.get("SourceKmsKeyArn")])),
            dest_kms_keys=tuple(filter(None, [parameters.get("DestinationKmsKeyArn")])),
        )
    )
    keys_of = {entry["sid"]: [] for side in answer.to_json()["kms_keys"].values() for entry in side}
    for side in answer.to_json()["kms_keys"].values():
        for entry in side:
            keys_of[entry["sid"]].append(entry["key"])
    found: dict[str, dict[str, set[str]]] = {}
    for statement in statements_of(answer.source_bucket_policy) + statements_of(answer.dest_bucket_policy) + answer.kms_key_policy_statements:
        targets = keys_of[statement["Sid"]] if statement["Resource"] == "*" else [statement["Resource"]]
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
]


@pytest.mark.parametrize("parameters", STACKS, ids=lambda p: ",".join(p) or "defaults")
def test_every_action_the_template_grants_on_a_bucket_or_key_is_in_its_policy_and_nothing_more(parameters: dict[str, str]) -> None:
    named = {"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", **parameters}
    assert policy_grants(named) == template_grants(named)


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
