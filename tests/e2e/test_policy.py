"""`python -m seed policy`, end to end: the real CLI against stacks deployed on a moto server
(tests/deploy/moto_stack.py), and in local mode with --role-arn."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.moto_stack import ACCOUNT_ID, client, deploy_stack, stack_resources_of
from tests.e2e.test_deployed_mode import Result, run_seed, unique

pytestmark = pytest.mark.e2e

KEY = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = "arn:aws:kms:us-east-1:111111111111:key/mrk-0123456789abcdef0123456789abcdef"
LOCAL_ROLE = "arn:aws:iam::333333333333:role/migration/local-copier"
SECOND_ROLE = "arn:aws:iam::333333333333:role/local-lister"


class Stack:
    def __init__(self, endpoint: str, label: str, **parameters: str) -> None:
        self.name = unique(label)
        self.source, self.dest = f"{self.name}-src", f"{self.name}-dst"
        s3 = client("s3", endpoint)
        for bucket in (self.source, self.dest):
            s3.create_bucket(Bucket=bucket)
        self.outputs = deploy_stack(endpoint, self.name, {"SourceBucket": self.source, "DestinationBucket": self.dest, **parameters})
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in stack_resources_of(endpoint, self.name)}
        iam = client("iam", endpoint)
        self.roles = {part: iam.get_role(RoleName=physical[role])["Role"]["Arn"] for part, role in (("lister", "ListObjectsFunctionRole"), ("copier", "CopyObjectsFunctionRole"))}


@pytest.fixture(scope="module")
def cross_account(moto_endpoint: str) -> Stack:
    """Both buckets in other accounts, a prefix, deletes allowed, and a source whose default
    encryption names a customer-managed key."""
    stack = Stack(moto_endpoint, "policy-x", SourceBucketOwner="111111111111", DestinationBucketOwner="222222222222", AllowedPrefix="logs/", AllowDelete="true")
    client("s3", moto_endpoint).put_bucket_encryption(
        Bucket=stack.source,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}}]},
    )
    return stack


@pytest.fixture(scope="module")
def same_account(moto_endpoint: str) -> Stack:
    return Stack(moto_endpoint, "policy-same")


@pytest.fixture
def run_cli(moto_endpoint: str, tmp_path: Path) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        return run_seed(moto_endpoint, tmp_path, "policy", *args)

    return run


def statements(document: dict[str, Any] | None) -> list[dict[str, Any]]:
    assert document is not None
    return list(document["Statement"])


def test_principals_are_exactly_the_stacks_role_arns(cross_account: Stack, run_cli: Callable[..., Result]) -> None:
    stack = cross_account
    assert (stack.outputs["ListObjectsFunctionRoleArn"], stack.outputs["CopyObjectsFunctionRoleArn"]) == (stack.roles["lister"], stack.roles["copier"])

    result = run_cli("--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name, "--json")

    assert result.returncode == 0, result
    answer = result.json()
    assert answer["principals"] == stack.roles
    every = statements(answer["source_bucket_policy"]) + statements(answer["dest_bucket_policy"]) + answer["kms_key_policy_statements"]
    assert {arn for statement in every for arn in statement["Principal"]["AWS"]} == set(stack.roles.values())
    # Both buckets are in other accounts; the stack's prefix and delete permission carry over.
    assert (answer["source"]["another_account"], answer["destination"]["another_account"]) == (True, True)
    assert (answer["source"]["owner"], answer["destination"]["owner"]) == ("111111111111", "222222222222")
    objects = {s["Resource"] for s in every if s["Resource"].startswith("arn:aws:s3:::") and s["Resource"].endswith("*")}
    assert objects == {f"arn:aws:s3:::{stack.source}/logs/*", f"arn:aws:s3:::{stack.dest}/logs/*"}
    delete = [s for s in statements(answer["dest_bucket_policy"]) if "s3:DeleteObject" in s["Action"]]
    assert [s["Principal"]["AWS"] for s in delete] == [[stack.roles["lister"]]]
    # The source's default encryption names a customer-managed key: its key policy statement, for
    # the copier only, and the advice to deploy with SourceKmsKeyArn (this stack was not).
    (kms,) = answer["kms_key_policy_statements"]
    assert (kms["Principal"], kms["Action"]) == ({"AWS": [stack.roles["copier"]]}, ["kms:Decrypt"])
    assert answer["kms_keys"]["source"] == [{"key": KEY, "sid": kms["Sid"]}]
    assert any(f"SourceKmsKeyArn={KEY}" in line for line in answer["advice"])
    assert any("BucketOwnerEnforced" in line for line in answer["advice"])


def test_text_output_is_ready_to_paste(cross_account: Stack, run_cli: Callable[..., Result]) -> None:
    stack = cross_account

    result = run_cli("--bucket", f"s3://{stack.source}", "--dest", stack.dest, "--stack-name", stack.name)

    assert result.returncode == 0, result
    assert result.stderr == ""
    blocks = result.stdout.strip().split("\n\n")
    documents = {}
    for block in blocks:
        line, _, rest = block.partition("\n")
        if rest.startswith("{"):
            documents[line.split(" (")[0]] = json.loads(rest)
    assert set(documents) == {f"Source bucket s3://{stack.source}", f"Destination bucket s3://{stack.dest}", f"Key policy of KMS key {KEY}"}
    json_answer = run_cli("--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name, "--json").json()
    assert documents[f"Source bucket s3://{stack.source}"] == json_answer["source_bucket_policy"]
    assert documents[f"Destination bucket s3://{stack.dest}"] == json_answer["dest_bucket_policy"]
    assert [documents[f"Key policy of KMS key {KEY}"]] == json_answer["kms_key_policy_statements"]
    assert blocks[-1].startswith("Advice:\n  - ")


def test_a_destination_in_the_stacks_account_needs_no_policy(same_account: Stack, run_cli: Callable[..., Result]) -> None:
    stack = same_account

    result = run_cli("--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name, "--json")

    assert result.returncode == 0, result
    answer = result.json()
    assert answer["dest_bucket_policy"] is None
    assert answer["source"] == {"bucket": stack.source, "owner": ACCOUNT_ID, "another_account": False}
    assert answer["principals"] == stack.roles
    assert not any(statement.get("Condition", {}).get("StringLikeIfExists") for statement in statements(answer["source_bucket_policy"]))
    assert not any("s3:DeleteObject" in json.dumps(statement) for statement in statements(answer["source_bucket_policy"]))
    text = run_cli("--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name)
    assert f"Destination bucket s3://{stack.dest} is in the roles' account ({ACCOUNT_ID}): nothing to grant there." in text.stdout


def test_local_mode_grants_the_given_roles_both_parts(moto_endpoint: str, run_cli: Callable[..., Result]) -> None:
    source, dest = unique("policy-local-src"), unique("policy-local-dst")
    s3 = client("s3", moto_endpoint)
    for bucket in (source, dest):
        s3.create_bucket(Bucket=bucket)

    # No stack in sight (a fresh directory, no samconfig.toml, none deployed under the default name).
    result = run_cli(
        "--bucket", source, "--dest", dest, "--role-arn", LOCAL_ROLE, "--role-arn", SECOND_ROLE,
        "--source-owner", "111111111111", "--prefix", "in/", "--delete", "--source-kms-key-arn", OTHER_KEY, "--json",
    )  # fmt: skip

    assert result.returncode == 0, result
    answer = result.json()
    assert answer["principals"] == {"lister": [LOCAL_ROLE, SECOND_ROLE], "copier": [LOCAL_ROLE, SECOND_ROLE]}
    every = statements(answer["source_bucket_policy"]) + statements(answer["dest_bucket_policy"]) + answer["kms_key_policy_statements"]
    assert all(statement["Principal"] == {"AWS": [LOCAL_ROLE, SECOND_ROLE]} for statement in every)
    assert any("s3:DeleteObject" in statement["Action"] for statement in statements(answer["dest_bucket_policy"]))
    # The destination's owner was not given: its statements are printed, and the advice says why.
    assert answer["destination"]["another_account"] is None
    assert any(line.startswith(f"cannot tell whether s3://{dest} belongs to another account") for line in answer["advice"])
    assert answer["kms_keys"]["source"] == [{"key": OTHER_KEY, "sid": "S3FanoutDecryptSourceObjects"}]
    assert {s["Resource"] for s in statements(answer["source_bucket_policy"])} == {f"arn:aws:s3:::{source}", f"arn:aws:s3:::{source}/in/*"}


COPY_KEY = "arn:aws:kms:us-east-1:222222222222:key/0000abcd-12ab-34cd-56ef-1234567890ab"


def test_copy_options_from_the_stacks_parameters_or_the_flags(moto_endpoint: str, run_cli: Callable[..., Result]) -> None:
    """A stack whose parameters set an ACL and Object Lock for copies into another account's
    destination: their grants without any flag; flags replace the stack's options as a job's do."""
    stack = Stack(moto_endpoint, "policy-opts", DestinationBucketOwner="222222222222", AllowedPrefix="in/", CopyAcl="bucket-owner-full-control", CopyObjectLock="true")
    buckets = ("--bucket", stack.source, "--dest", stack.dest, "--stack-name", stack.name, "--json")
    copier = [stack.roles["copier"]]

    answer = run_cli(*buckets).json()

    source, dest = {s["Sid"]: s for s in statements(answer["source_bucket_policy"])}, {s["Sid"]: s for s in statements(answer["dest_bucket_policy"])}
    assert (source["S3FanoutReadSourceObjectLock"]["Principal"]["AWS"], source["S3FanoutReadSourceObjectLock"]["Action"]) == (copier, ["s3:GetObjectRetention", "s3:GetObjectLegalHold"])
    assert (dest["S3FanoutWriteDestinationObjectLock"]["Principal"]["AWS"], dest["S3FanoutWriteDestinationObjectLock"]["Action"]) == (copier, ["s3:PutObjectRetention", "s3:PutObjectLegalHold"])
    assert (dest["S3FanoutSetCopyAcl"]["Principal"]["AWS"], dest["S3FanoutSetCopyAcl"]["Action"]) == (copier, ["s3:PutObjectAcl"])
    assert dest["S3FanoutSetCopyAcl"]["Resource"] == f"arn:aws:s3:::{stack.dest}/in/*"
    assert (answer["copy_options"]["acl"], answer["copy_options"]["object_lock"], answer["copy_options"]["from"]) == ("bucket-owner-full-control", True, "stack")
    assert not any("deploy stack" in line for line in answer["advice"]), "the stack grants its own options"

    flagged = run_cli(*buckets, "--sse", "aws:kms", "--sse-kms-key-id", COPY_KEY).json()

    assert not any(s["Sid"] in ("S3FanoutSetCopyAcl", "S3FanoutWriteDestinationObjectLock") for s in statements(flagged["dest_bucket_policy"]))
    (kms,) = flagged["kms_key_policy_statements"]
    assert (kms["Sid"], kms["Principal"]["AWS"], kms["Action"], kms["Resource"]) == ("S3FanoutEncryptCopiesWithSseKmsKeyId", copier, ["kms:GenerateDataKey", "kms:Decrypt"], "*")
    assert kms["Condition"] == {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}
    assert (flagged["copy_options"]["from"], flagged["copy_options"]["kms_key_sid"]) == ("flags", kms["Sid"])
    assert any(line.endswith(f"deploy stack '{stack.name}' with SseKmsKeyId={COPY_KEY}") for line in flagged["advice"])
    assert_one_line_error(run_cli(*buckets, "--sse-kms-key-id", COPY_KEY), "--sse-kms-key-id needs --sse aws:kms")


def assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(("python -m seed: error: ", "python -m seed policy: error: ")), lines[0]
    assert fragment in lines[0], lines[0]


def test_bad_input_is_one_line_and_exit_2(moto_endpoint: str, same_account: Stack, run_cli: Callable[..., Result]) -> None:
    stack = same_account
    cfn = client("cloudformation", moto_endpoint)
    bare = unique("policy-bare")
    cfn.create_stack(StackName=bare, TemplateBody=json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}, "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}}}))
    buckets = ("--bucket", stack.source, "--dest", stack.dest)
    cases = [
        (("--bucket", "Not_A_Bucket", "--dest", stack.dest, "--role-arn", LOCAL_ROLE), "'Not_A_Bucket' is not a valid S3 bucket name"),
        ((*buckets, "--stack-name", "no-such-stack"), "stack 'no-such-stack' does not exist"),
        ((*buckets, "--stack-name", bare), f"stack '{bare}' has no ListObjectsFunctionRoleArn or CopyObjectsFunctionRoleArn output"),
        ((*buckets, "--role-arn", "arn:aws:iam::123456789012:user/bob"), "is not an IAM role ARN"),
        ((*buckets, "--role-arn", LOCAL_ROLE, "--stack-name", stack.name), "not allowed with argument"),
        (("--bucket", unique("absent"), "--dest", stack.dest, "--role-arn", LOCAL_ROLE), "does not exist"),
        (("--bucket", stack.dest, "--dest", stack.source, "--stack-name", stack.name), f"may only use the source bucket '{stack.source}'"),
        ((*buckets, "--stack-name", stack.name, "--delete"), "without AllowDelete=true"),
        ((*buckets, "--stack-name", stack.name, "--source-owner", "111111111111"), f"serves source buckets of account {ACCOUNT_ID}"),
        ((*buckets, "--role-arn", LOCAL_ROLE, "--source-kms-key-arn", "alias/aws/s3"), "is not a KMS key ARN"),
    ]
    for args, fragment in cases:
        assert_one_line_error(run_cli(*args), fragment)


def test_each_destination_bucket_of_a_stack_gets_its_policy_under_the_destination_prefix(moto_endpoint: str, run_cli: Callable[..., Result]) -> None:
    """MoreDestinationBuckets and DestinationPrefix: one bucket policy per destination bucket of
    another account, its objects and listings under DestinationPrefix (the default of each
    --dest-prefix), the source's under AllowedPrefix."""
    two, three = unique("policy-two"), unique("policy-three")
    s3 = client("s3", moto_endpoint)
    for bucket in (two, three):
        s3.create_bucket(Bucket=bucket)
    stack = Stack(moto_endpoint, "policy-more", DestinationBucketOwner="222222222222", AllowedPrefix="logs/", DestinationPrefix="copies/", MoreDestinationBuckets=f"{two},{three}")

    answer = run_cli("--bucket", stack.source, "--dest", stack.dest, "--dest", two, "--dest", three, "--dest-prefix", "copies/", "--stack-name", stack.name, "--json").json()

    assert [more["bucket"] for more in answer["more_destinations"]] == [two, three]
    assert answer["destination"]["key_prefixes"] == ["copies/"]
    for bucket, document in ((stack.dest, answer["dest_bucket_policy"]), *((more["bucket"], more["bucket_policy"]) for more in answer["more_destinations"])):
        by_sid = {s["Sid"]: s for s in statements(document)}
        assert by_sid["S3FanoutWriteDestinationObjects"]["Resource"] == f"arn:aws:s3:::{bucket}/copies/*"
        assert by_sid["S3FanoutWriteDestinationObjects"]["Principal"]["AWS"] == [stack.roles["copier"]]
        assert by_sid["S3FanoutListDestinationBucket"]["Condition"]["StringLikeIfExists"] == {"s3:prefix": "copies/*"}
    assert {s["Resource"] for s in statements(answer["source_bucket_policy"])} == {f"arn:aws:s3:::{stack.source}", f"arn:aws:s3:::{stack.source}/logs/*"}
    for bucket in (stack.dest, two, three):
        assert any(line.startswith(f"s3://{bucket} belongs to account 222222222222") for line in answer["advice"])

    text = run_cli("--bucket", stack.source, "--dest", stack.dest, "--dest", three, "--stack-name", stack.name)
    assert text.returncode == 0, text
    assert f"Destination bucket s3://{three} (account 222222222222" in text.stdout
    # What the stack does not serve is refused as a job would be.
    other = unique("policy-other")
    s3.create_bucket(Bucket=other)
    assert_one_line_error(run_cli("--bucket", stack.source, "--dest", two, "--dest", other, "--stack-name", stack.name), f"not '{other}'")
    assert_one_line_error(run_cli("--bucket", stack.source, "--dest", two, "--dest-prefix", "else/", "--stack-name", stack.name), "only under 'copies/'")
