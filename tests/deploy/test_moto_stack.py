"""Deploy template.yaml to a moto server and check what CloudFormation created.

Known moto differences (so not checked here, but in test_template.py): it ignores
Architectures, LoggingConfig and RecursiveLoop, keeps numeric environment values as
numbers, returns inline policy documents as Python reprs, and reads a table's
SSESpecification by the API's field names, not CloudFormation's (so it shows no
encryption). Its CloudFormation cannot create CloudWatch alarms, SQS queue policies or
Secrets Manager secrets, and ignores a table's time to live and point-in-time recovery:
moto_stack creates and sets them through moto's service APIs, from the template's own
properties (see moto_stack._fit_for_moto and _complete_tables), so what is checked here
of them is what those properties resolve to against a real stack.
"""

from __future__ import annotations

import ast
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deploy.moto_stack import (
    ACCOUNT_ID,
    EXPECTED_OUTPUTS,
    RuleViolation,
    client,
    deploy_stack,
    stack_resources_of,
)

FOURTEEN_DAYS = 14 * 24 * 3600
NAMED = {"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "MaxReceiveCount": "7"}
ALARMS = {"ListDeadLetterQueue": "ListDeadLetterQueueAlarm", "CopyDeadLetterQueue": "CopyDeadLetterQueueAlarm"}
EMAIL = "ops@example.com"


class Stack:
    def __init__(self, endpoint: str, name: str, parameters: dict[str, str]) -> None:
        self.endpoint = endpoint
        self.name = name
        self.outputs = deploy_stack(endpoint, name, parameters, enforce_rules=True)
        resources = stack_resources_of(endpoint, name)
        self.physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        self.types = {r["LogicalResourceId"]: r["ResourceType"] for r in resources}

    def queue_attributes(self, output: str) -> dict[str, str]:
        sqs = client("sqs", self.endpoint)
        return sqs.get_queue_attributes(QueueUrl=self.outputs[output], AttributeNames=["All"])["Attributes"]

    def alarm(self, logical_id: str) -> dict[str, Any]:
        name = self.outputs[f"{logical_id}Name"]
        (alarm,) = client("cloudwatch", self.endpoint).describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return alarm

    def function(self, logical_id: str) -> dict[str, Any]:
        return client("lambda", self.endpoint).get_function_configuration(FunctionName=self.physical[logical_id])

    def statements(self, role_logical_id: str) -> list[dict[str, Any]]:
        iam = client("iam", self.endpoint)
        role = self.physical[role_logical_id]
        found = []
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
            if isinstance(document, str):  # moto: str(dict) of what the template held
                try:
                    document = json.loads(document)
                except json.JSONDecodeError:
                    document = ast.literal_eval(document)
            # moto keeps an `!If [..., ..., !Ref AWS::NoValue]` list item as null where
            # CloudFormation drops it (the optional delete statement).
            found.extend(statement for statement in document["Statement"] if statement is not None)
        return found


@pytest.fixture(scope="module")
def stack(moto_endpoint: str) -> Stack:
    return Stack(moto_endpoint, "s3-fanout-named", NAMED)


@pytest.fixture(scope="module")
def any_bucket_stack(moto_endpoint: str) -> Stack:
    # MaxReceiveCount left out: the template's default applies.
    return Stack(moto_endpoint, "s3-fanout-any", {"SourceBucket": "*", "DestinationBucket": "*"})


KMS_KEY_ARN = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SCOPED = {
    **NAMED,
    "AllowedPrefix": "logs/",
    "AllowDelete": "true",
    "SourceBucketOwner": "111111111111",
    "DestinationBucketOwner": "222222222222",
    "SourceKmsKeyArn": KMS_KEY_ARN,
    "MaxHops": "50",
    "LogRetentionDays": "90",
    "ReportBucket": "report-bucket",
    "ReportPrefix": "jobs/reports/",
    "JobRecordDays": "30",
}


@pytest.fixture(scope="module")
def scoped_stack(moto_endpoint: str) -> Stack:
    """Every new option set: a prefix, deletes, other owners, a KMS key, bounds, reports."""
    return Stack(moto_endpoint, "s3-fanout-scoped", SCOPED)


def test_all_outputs(stack: Stack) -> None:
    assert set(stack.outputs) == EXPECTED_OUTPUTS
    assert stack.outputs["SourceBucket"] == "src-bucket"
    assert stack.outputs["DestinationBucket"] == "dst-bucket"
    assert stack.outputs["DeleteAllowed"] == "false"
    # Empty owner parameters: the stack's own account.
    assert (stack.outputs["SourceBucketOwner"], stack.outputs["DestinationBucketOwner"]) == (ACCOUNT_ID, ACCOUNT_ID)


def test_scoped_outputs(scoped_stack: Stack) -> None:
    assert set(scoped_stack.outputs) == EXPECTED_OUTPUTS | {"AllowedPrefix", "ReportBucket", "ReportPrefix"}
    assert scoped_stack.outputs["AllowedPrefix"] == "logs/"
    assert (scoped_stack.outputs["ReportBucket"], scoped_stack.outputs["ReportPrefix"]) == ("report-bucket", "jobs/reports/")
    assert scoped_stack.outputs["DeleteAllowed"] == "true"
    assert (scoped_stack.outputs["SourceBucketOwner"], scoped_stack.outputs["DestinationBucketOwner"]) == ("111111111111", "222222222222")


def test_message_key_secret(stack: Stack) -> None:
    arn = stack.outputs["MessageKeySecretArn"]
    # The operator's CLI reads it with its own credentials to seal what it seeds.
    key = client("secretsmanager", stack.endpoint).get_secret_value(SecretId=arn)["SecretString"]
    assert len(key) == 64 and key.isalnum()
    for function in ("ListObjectsFunction", "CopyObjectsFunction"):
        assert environment(stack.function(function))["MESSAGE_KEY_SECRET_ARN"] == arn


@pytest.mark.parametrize(
    "parameters",
    [
        {"SourceBucket": "src-bucket", "DestinationBucket": "*", "AllowDelete": "true"},
        {"SourceBucket": "same-bucket", "DestinationBucket": "same-bucket"},
    ],
)
def test_rules_refuse_before_anything_is_created(moto_endpoint: str, parameters: dict[str, str]) -> None:
    with pytest.raises(RuleViolation):
        deploy_stack(moto_endpoint, "s3-fanout-refused", parameters, enforce_rules=True)
    stacks = client("cloudformation", moto_endpoint).list_stacks()["StackSummaries"]
    assert "s3-fanout-refused" not in {s["StackName"] for s in stacks}


@pytest.mark.parametrize("queue", ["ListQueue", "CopyQueue", "ListDeadLetterQueue", "CopyDeadLetterQueue"])
def test_queue_outputs_name_real_queues(stack: Stack, queue: str) -> None:
    url = stack.outputs[f"{queue}Url"]
    listed = client("sqs", stack.endpoint).list_queues(QueueNamePrefix=url.rsplit("/", 1)[1])
    # moto's stack outputs name the real SQS host (https://sqs.us-east-1.amazonaws.com),
    # list_queues the server's own; a client with endpoint_url accepts either.
    assert [urlsplit(u).path for u in listed["QueueUrls"]] == [urlsplit(url).path]
    attributes = stack.queue_attributes(f"{queue}Url")
    assert attributes["QueueArn"] == stack.outputs[f"{queue}Arn"]
    assert attributes["SqsManagedSseEnabled"] == "true"


@pytest.mark.parametrize(("queue", "dlq"), [("ListQueue", "ListDeadLetterQueue"), ("CopyQueue", "CopyDeadLetterQueue")])
def test_redrive_policy(stack: Stack, any_bucket_stack: Stack, queue: str, dlq: str) -> None:
    for deployed, max_receive_count in ((stack, 7), (any_bucket_stack, 5)):
        redrive = json.loads(deployed.queue_attributes(f"{queue}Url")["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == deployed.outputs[f"{dlq}Arn"]
        assert int(redrive["maxReceiveCount"]) == max_receive_count


@pytest.mark.parametrize("dlq", ["ListDeadLetterQueue", "CopyDeadLetterQueue"])
def test_dead_letter_queues(stack: Stack, dlq: str) -> None:
    attributes = stack.queue_attributes(f"{dlq}Url")
    assert int(attributes["MessageRetentionPeriod"]) == FOURTEEN_DAYS
    assert "RedrivePolicy" not in attributes


@pytest.mark.parametrize(
    ("queue", "function"), [("ListQueue", "ListObjectsFunction"), ("CopyQueue", "CopyObjectsFunction")]
)
def test_visibility_timeout_is_six_times_the_function_timeout(stack: Stack, queue: str, function: str) -> None:
    visibility = int(stack.queue_attributes(f"{queue}Url")["VisibilityTimeout"])
    assert visibility == 6 * stack.function(function)["Timeout"]
    assert int(stack.queue_attributes(f"{queue}Url")["MessageRetentionPeriod"]) < FOURTEEN_DAYS


def environment(config: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in config["Environment"]["Variables"].items()}


def shared_environment(stack: Stack) -> dict[str, str]:
    """The variables both functions get, for the named-bucket stack's parameters."""
    return {
        "POWERTOOLS_METRICS_NAMESPACE": "S3Fanout",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "MULTIPART_THRESHOLD_BYTES": "1073741824",
        "MULTIPART_PART_SIZE_BYTES": "67108864",
        "SOURCE_BUCKET": "src-bucket",
        "DEST_BUCKET": "dst-bucket",
        "ALLOWED_PREFIX": "",
        # No MoreDestinationBuckets; no DestinationPrefix, so no DEST_PREFIX: keys as they are.
        "MORE_DEST_BUCKETS": "",
        "DEST_KEYS_AS_THEY_ARE": "true",
        "ALLOW_DELETE": "false",
        "SOURCE_BUCKET_OWNER": ACCOUNT_ID,
        "DEST_BUCKET_OWNER": ACCOUNT_ID,
        "MAX_HOPS": "1000",
        "MESSAGE_KEY_SECRET_ARN": stack.outputs["MessageKeySecretArn"],
        "JOB_TABLE": stack.outputs["JobTableName"],
        "JOB_RECORD_DAYS": "90",
        # The stack's MaxReceiveCount, which its queues' RedrivePolicy uses too.
        "MAX_RECEIVE_COUNT": "7",
        "LIST_DLQ_URL": stack.outputs["ListDeadLetterQueueUrl"],
        "COPY_DLQ_URL": stack.outputs["CopyDeadLetterQueueUrl"],
        # No ReportBucket: no reports.
        "REPORT_BUCKET": "",
        "REPORT_PREFIX": "",
        # The source is read as the roles: no other endpoint, no other keys.
        "SOURCE_ENDPOINT_URL": "",
        "SOURCE_CREDENTIALS_SECRET_ARN": "",
        # No ManifestBucket: no manifests.
        "MANIFEST_LOCATION": "",
    }


@pytest.mark.parametrize("function", ["ListObjectsFunction", "CopyObjectsFunction"])
def test_scoped_environment(scoped_stack: Stack, function: str) -> None:
    found = environment(scoped_stack.function(function))
    assert {k: found[k] for k in ("SOURCE_BUCKET", "DEST_BUCKET", "ALLOWED_PREFIX", "ALLOW_DELETE", "MAX_HOPS")} == {
        "SOURCE_BUCKET": "src-bucket",
        "DEST_BUCKET": "dst-bucket",
        "ALLOWED_PREFIX": "logs/",
        "ALLOW_DELETE": "true",
        "MAX_HOPS": "50",
    }
    assert (found["SOURCE_BUCKET_OWNER"], found["DEST_BUCKET_OWNER"]) == ("111111111111", "222222222222")
    assert {k: found[k] for k in ("JOB_TABLE", "JOB_RECORD_DAYS", "REPORT_BUCKET", "REPORT_PREFIX")} == {
        "JOB_TABLE": scoped_stack.outputs["JobTableName"],
        "JOB_RECORD_DAYS": "30",
        "REPORT_BUCKET": "report-bucket",
        "REPORT_PREFIX": "jobs/reports/",
    }


def test_lister_function(stack: Stack) -> None:
    config = stack.function("ListObjectsFunction")
    assert config["Handler"] == "list_objects.app.lambda_handler"
    assert config["Runtime"] == "python3.12"
    assert (config["Timeout"], config["MemorySize"]) == (900, 512)
    assert config["Role"].endswith(f":role/{stack.physical['ListObjectsFunctionRole']}")
    assert environment(config) == {
        **shared_environment(stack),
        "POWERTOOLS_SERVICE_NAME": "s3fanout-lister",
        "LIST_QUEUE_URL": stack.outputs["ListQueueUrl"],
        "COPY_QUEUE_URL": stack.outputs["CopyQueueUrl"],
        "COPY_MAX_CONCURRENCY": "100",
    }


def test_copier_function(stack: Stack) -> None:
    config = stack.function("CopyObjectsFunction")
    assert config["Handler"] == "copy_objects.app.lambda_handler"
    assert config["Runtime"] == "python3.12"
    assert (config["Timeout"], config["MemorySize"]) == (300, 1024)
    assert config["Role"].endswith(f":role/{stack.physical['CopyObjectsFunctionRole']}")
    assert environment(config) == {
        **shared_environment(stack),
        "POWERTOOLS_SERVICE_NAME": "s3fanout-copier",
        "COPY_QUEUE_URL": stack.outputs["CopyQueueUrl"],
        "COPY_CONCURRENCY": "16",
        "COPY_MAX_ATTEMPTS": "5",
        # The copy options, empty: a plain copy, as before they existed.
        "COPY_STORAGE_CLASS": "",
        "COPY_SSE": "",
        "COPY_SSE_KMS_KEY_ID": "",
        "COPY_CHECKSUM_ALGORITHM": "",
        "COPY_ACL": "",
        "COPY_OBJECT_LOCK": "false",
    }


def resources_by_action(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            found.setdefault(action, set()).update(resources)
    return found


def log_group_arn(stack: Stack, logical_id: str) -> str:
    return f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:{stack.physical[logical_id]}:*"


JOB_TABLE_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")


def table_arn(stack: Stack) -> str:
    return str(client("dynamodb", stack.endpoint).describe_table(TableName=stack.outputs["JobTableName"])["Table"]["TableArn"])


def test_iam_named_buckets(stack: Stack) -> None:
    assert client("iam", stack.endpoint).list_attached_role_policies(RoleName=stack.physical["ListObjectsFunctionRole"])["AttachedPolicies"] == []
    lister = resources_by_action(stack.statements("ListObjectsFunctionRole"))
    # The job table's items, not its index; no report grants without a ReportBucket.
    for action in JOB_TABLE_ACTIONS:
        assert lister.pop(action) == {table_arn(stack)}
    assert lister == {
        "sqs:ReceiveMessage": {stack.outputs["ListQueueArn"]},
        "sqs:DeleteMessage": {stack.outputs["ListQueueArn"]},
        "sqs:GetQueueAttributes": {stack.outputs["ListQueueArn"], stack.outputs["CopyQueueArn"]},
        "sqs:SendMessage": {
            stack.outputs["ListQueueArn"],
            stack.outputs["CopyQueueArn"],
            stack.outputs["ListDeadLetterQueueArn"],
        },
        "logs:CreateLogStream": {log_group_arn(stack, "ListObjectsLogGroup")},
        "logs:PutLogEvents": {log_group_arn(stack, "ListObjectsLogGroup")},
        "secretsmanager:GetSecretValue": {stack.outputs["MessageKeySecretArn"]},
        "s3:ListBucket": {"arn:aws:s3:::src-bucket", "arn:aws:s3:::dst-bucket"},
    }
    assert client("iam", stack.endpoint).list_attached_role_policies(RoleName=stack.physical["CopyObjectsFunctionRole"])["AttachedPolicies"] == []
    copier = resources_by_action(stack.statements("CopyObjectsFunctionRole"))
    for action in JOB_TABLE_ACTIONS:
        assert copier.pop(action) == {table_arn(stack)}
    # GetObject on the destination too: a split multipart copy reads the object it completed.
    assert copier.pop("s3:GetObject") == {"arn:aws:s3:::src-bucket/*", "arn:aws:s3:::dst-bucket/*"}
    assert copier.pop("s3:GetObjectTagging") == {"arn:aws:s3:::src-bucket/*"}
    assert copier.pop("s3:ListBucket") == {"arn:aws:s3:::src-bucket"}
    for action in ("s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"):
        assert copier.pop(action) == {"arn:aws:s3:::dst-bucket/*"}
    assert copier == {
        "sqs:ReceiveMessage": {stack.outputs["CopyQueueArn"]},
        "sqs:DeleteMessage": {stack.outputs["CopyQueueArn"]},
        "sqs:GetQueueAttributes": {stack.outputs["CopyQueueArn"]},
        "sqs:SendMessage": {stack.outputs["CopyQueueArn"], stack.outputs["CopyDeadLetterQueueArn"]},
        "logs:CreateLogStream": {log_group_arn(stack, "CopyObjectsLogGroup")},
        "logs:PutLogEvents": {log_group_arn(stack, "CopyObjectsLogGroup")},
        "secretsmanager:GetSecretValue": {stack.outputs["MessageKeySecretArn"]},
    }


def test_iam_scoped(scoped_stack: Stack) -> None:
    lister = resources_by_action(scoped_stack.statements("ListObjectsFunctionRole"))
    assert lister["s3:DeleteObject"] == {"arn:aws:s3:::dst-bucket/logs/*"}
    assert lister["s3:GetObject"] == {"arn:aws:s3:::src-bucket/logs/*"}
    assert not [action for action in lister if action.startswith("kms:")]
    copier = resources_by_action(scoped_stack.statements("CopyObjectsFunctionRole"))
    assert copier["s3:PutObject"] == {"arn:aws:s3:::dst-bucket/logs/*", "arn:aws:s3:::report-bucket/jobs/reports/*"}
    # Both functions, with a ReportBucket: reports under its prefix, both DLQs read
    # (never deleted from: DeleteMessage stays on each function's own trigger queue).
    dlqs = {scoped_stack.outputs["ListDeadLetterQueueArn"], scoped_stack.outputs["CopyDeadLetterQueueArn"]}
    for role, own_queue in (("ListObjectsFunctionRole", "ListQueueArn"), ("CopyObjectsFunctionRole", "CopyQueueArn")):
        found = resources_by_action(scoped_stack.statements(role))
        assert found["sqs:ReceiveMessage"] == {scoped_stack.outputs[own_queue], *dlqs}
        # The lister also reads the copy queue's backlog (copyspread.py).
        backlog = {scoped_stack.outputs["CopyQueueArn"]} if role == "ListObjectsFunctionRole" else set()
        assert found["sqs:GetQueueAttributes"] == {scoped_stack.outputs[own_queue], *dlqs, *backlog}
        assert found["sqs:ChangeMessageVisibility"] == dlqs
        assert found["sqs:DeleteMessage"] == {scoped_stack.outputs[own_queue]}
        assert "arn:aws:s3:::report-bucket/jobs/reports/*" in found["s3:PutObject"]
    assert copier["kms:Decrypt"] == {KMS_KEY_ARN}
    assert "kms:GenerateDataKey" not in copier  # no destination key given
    # Every S3 grant names the account that must own its bucket.
    for role in ("ListObjectsFunctionRole", "CopyObjectsFunctionRole"):
        for statement in scoped_stack.statements(role):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if not actions[0].startswith("s3:"):
                continue
            owner = statement["Condition"]["StringEquals"]["s3:ResourceAccount"]
            if "report-bucket" in str(statement["Resource"]):
                # The report bucket is the stack's account's, whoever owns the others.
                assert owner == ACCOUNT_ID, statement
                continue
            assert owner == ("111111111111" if "src-bucket" in str(statement["Resource"]) else "222222222222"), statement


# Two more destinations and a destination prefix: what CloudFormation makes of the four slots.
MORE_DESTINATIONS = {**NAMED, "MoreDestinationBuckets": "dst-two,dst-three", "DestinationPrefix": "copies/", "AllowedPrefix": "logs/", "AllowDelete": "true"}


@pytest.fixture(scope="module")
def destinations_stack(moto_endpoint: str) -> Stack:
    return Stack(moto_endpoint, "s3-fanout-destinations", MORE_DESTINATIONS)


def test_more_destinations_outputs_and_environment(destinations_stack: Stack) -> None:
    assert set(destinations_stack.outputs) == EXPECTED_OUTPUTS | {"AllowedPrefix", "DestinationPrefix"}
    # The four slots, padded with DestinationBucket.
    assert destinations_stack.outputs["MoreDestinations"] == "dst-two,dst-three,dst-bucket,dst-bucket"
    assert destinations_stack.outputs["DestinationPrefix"] == "copies/"
    for function in ("ListObjectsFunction", "CopyObjectsFunction"):
        found = environment(destinations_stack.function(function))
        assert (found["MORE_DEST_BUCKETS"], found["DEST_PREFIX"], found["ALLOWED_PREFIX"]) == ("dst-two,dst-three,dst-bucket,dst-bucket", "copies/", "logs/")
        assert found["DEST_KEYS_AS_THEY_ARE"] == "false"


def test_iam_more_destinations_under_the_destination_prefix(destinations_stack: Stack) -> None:
    buckets = ("dst-bucket", "dst-two", "dst-three")
    lister = resources_by_action(destinations_stack.statements("ListObjectsFunctionRole"))
    assert lister["s3:ListBucket"] == {"arn:aws:s3:::src-bucket", *(f"arn:aws:s3:::{bucket}" for bucket in buckets)}
    assert lister["s3:DeleteObject"] == {f"arn:aws:s3:::{bucket}/copies/*" for bucket in buckets}
    copier = resources_by_action(destinations_stack.statements("CopyObjectsFunctionRole"))
    for action in ("s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"):
        assert copier[action] == {f"arn:aws:s3:::{bucket}/copies/*" for bucket in buckets}, action
    # The source is still read under AllowedPrefix.
    assert copier["s3:GetObject"] == {"arn:aws:s3:::src-bucket/logs/*", *(f"arn:aws:s3:::{bucket}/copies/*" for bucket in buckets)}


def test_iam_any_bucket(any_bucket_stack: Stack) -> None:
    lister = resources_by_action(any_bucket_stack.statements("ListObjectsFunctionRole"))
    copier = resources_by_action(any_bucket_stack.statements("CopyObjectsFunctionRole"))
    assert lister["s3:ListBucket"] == {"arn:aws:s3:::*"}
    assert copier["s3:GetObject"] == {"arn:aws:s3:::*/*"}
    assert copier["s3:PutObject"] == {"arn:aws:s3:::*/*"}
    # The queues stay exact even then.
    assert copier["sqs:SendMessage"] == {
        any_bucket_stack.outputs["CopyQueueArn"],
        any_bucket_stack.outputs["CopyDeadLetterQueueArn"],
    }


# ---------------------------------------------------------- queue policies --


@pytest.mark.parametrize("queue", ["ListQueue", "CopyQueue", "ListDeadLetterQueue", "CopyDeadLetterQueue"])
def test_queue_policies(stack: Stack, queue: str) -> None:
    policy = json.loads(stack.queue_attributes(f"{queue}Url")["Policy"])
    arn = stack.outputs[f"{queue}Arn"]
    statements = {s["Sid"]: s for s in policy["Statement"] if arn in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])}
    tls = statements.pop("DenyWithoutTls")
    assert (tls["Effect"], tls["Principal"], tls["Action"]) == ("Deny", "*", "sqs:*")
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    other_accounts = statements.pop("DenySendFromOtherAccounts")
    assert (other_accounts["Effect"], other_accounts["Principal"], other_accounts["Action"]) == ("Deny", "*", "sqs:SendMessage")
    assert other_accounts["Condition"] == {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT_ID}}
    role_arn = {
        name: client("iam", stack.endpoint).get_role(RoleName=stack.physical[name])["Role"]["Arn"]
        for name in ("ListObjectsFunctionRole", "CopyObjectsFunctionRole")
    }
    senders = {
        "ListQueue": {role_arn["ListObjectsFunctionRole"]},
        "CopyQueue": set(role_arn.values()),
    }.get(queue, set())
    allowed = set()
    for statement in statements.values():
        assert (statement["Effect"], statement["Action"]) == ("Allow", "sqs:SendMessage")
        principals = statement["Principal"]["AWS"]
        allowed |= {principals} if isinstance(principals, str) else set(principals)
    assert allowed == senders


# -------------------------------------------------------------------- logs --


def test_log_groups(stack: Stack, scoped_stack: Stack) -> None:
    for deployed, retention in ((stack, 30), (scoped_stack, 90)):
        groups = client("logs", deployed.endpoint).describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{deployed.name}-")["logGroups"]
        assert {g["logGroupName"]: g["retentionInDays"] for g in groups} == {
            f"/aws/lambda/{deployed.name}-list-objects": retention,
            f"/aws/lambda/{deployed.name}-copy-objects": retention,
        }


# ------------------------------------------------------------------ alarms --


@pytest.fixture(scope="module")
def email_stack(moto_endpoint: str) -> Stack:
    return Stack(moto_endpoint, "s3-fanout-alarm-email", {**NAMED, "AlarmEmail": EMAIL})


@pytest.fixture(scope="module")
def existing_topic(moto_endpoint: str) -> str:
    return str(client("sns", moto_endpoint).create_topic(Name="s3-fanout-deploy-test-on-call")["TopicArn"])


def sns_topics_of(stack: Stack) -> dict[str, str]:
    return {name: stack.physical[name] for name, kind in stack.types.items() if kind.startswith("AWS::SNS::")}


@pytest.mark.parametrize(("dlq", "alarm"), ALARMS.items())
def test_alarm_watches_its_dead_letter_queue(stack: Stack, dlq: str, alarm: str) -> None:
    found = stack.alarm(alarm)
    queue_name = stack.outputs[f"{dlq}Arn"].rsplit(":", 1)[1]
    assert found["Dimensions"] == [{"Name": "QueueName", "Value": queue_name}]
    assert stack.outputs[f"{dlq}Url"].endswith(f"/{queue_name}")
    assert (found["Namespace"], found["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert (found["Statistic"], found["Period"], found["EvaluationPeriods"]) == ("Maximum", 300, 1)
    assert (found["ComparisonOperator"], found["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1.0)
    assert found["TreatMissingData"] == "notBreaching"
    assert found["ActionsEnabled"] is True
    assert f"python -m seed dlq list --stack-name {stack.name} --region us-east-1" in found["AlarmDescription"]
    assert f"python -m seed dlq redrive --stack-name {stack.name} --region us-east-1" in found["AlarmDescription"]


@pytest.mark.parametrize("alarm", ALARMS.values())
def test_without_alarm_parameters_no_topic_and_no_actions(stack: Stack, alarm: str) -> None:
    found = stack.alarm(alarm)
    assert (found["AlarmActions"], found["OKActions"], found["InsufficientDataActions"]) == ([], [], [])
    assert sns_topics_of(stack) == {}
    assert set(stack.outputs) == EXPECTED_OUTPUTS


def test_alarm_email_creates_a_subscribed_topic(email_stack: Stack) -> None:
    assert set(email_stack.outputs) == EXPECTED_OUTPUTS | {"AlarmTopicArn"}
    topic = email_stack.outputs["AlarmTopicArn"]
    assert sns_topics_of(email_stack) == {"AlarmTopic": topic}
    sns = client("sns", email_stack.endpoint)
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["TopicArn"] == topic
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", EMAIL)]
    for alarm in ALARMS.values():
        found = email_stack.alarm(alarm)
        assert (found["AlarmActions"], found["OKActions"]) == ([topic], [topic])


@pytest.mark.parametrize("email", ["", EMAIL])
def test_alarm_topic_arn_is_notified_too(moto_endpoint: str, existing_topic: str, email: str) -> None:
    name = "s3-fanout-alarm-topic-and-email" if email else "s3-fanout-alarm-topic"
    deployed = Stack(moto_endpoint, name, {**NAMED, "AlarmEmail": email, "AlarmTopicArn": existing_topic})
    own = sns_topics_of(deployed)
    # A topic of the stack's own only for an email; the existing one is never touched.
    assert list(own) == (["AlarmTopic"] if email else [])
    assert existing_topic not in own.values()
    expected = [*own.values(), existing_topic]
    for alarm in ALARMS.values():
        found = deployed.alarm(alarm)
        assert (found["AlarmActions"], found["OKActions"]) == (expected, expected)
    assert deployed.outputs["AlarmTopicArn"] == expected[0]
    subscriptions = client("sns", moto_endpoint).list_subscriptions_by_topic(TopicArn=existing_topic)
    assert subscriptions["Subscriptions"] == []


# --------------------------------------------------------------- job table --


def test_job_table(stack: Stack) -> None:
    dynamodb = client("dynamodb", stack.endpoint)
    name = stack.outputs["JobTableName"]
    assert stack.physical["JobTable"] == name
    table = dynamodb.describe_table(TableName=name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "recent"
    assert index["KeySchema"] == [{"AttributeName": "listing", "KeyType": "HASH"}, {"AttributeName": "started", "KeyType": "RANGE"}]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires")
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


# --------------------------------------------------------------- dashboard --


def test_dashboard(stack: Stack) -> None:
    assert stack.outputs["DashboardName"] == stack.name
    body = client("cloudwatch", stack.endpoint).get_dashboard(DashboardName=stack.name)["DashboardBody"]
    widgets = json.loads(body)["widgets"]
    metrics = [metric for widget in widgets for metric in widget["properties"]["metrics"]]
    queue_names = {metric[3] for metric in metrics if metric[0] == "AWS/SQS"}
    # The stack's four queues, by their real names.
    queues = ("ListQueue", "CopyQueue", "ListDeadLetterQueue", "CopyDeadLetterQueue")
    assert queue_names == {stack.outputs[f"{queue}Arn"].rsplit(":", 1)[1] for queue in queues}
    assert {widget["properties"]["region"] for widget in widgets} == {"us-east-1"}
    assert {metric[3] for metric in metrics if metric[0] == "S3Fanout"} == {"s3fanout-lister", "s3fanout-copier"}
