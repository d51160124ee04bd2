"""template.yaml: `sam validate --lint`, an offline `sam build`, and the design rules.

The static checks read the template with aws-sam-translator's YAML loader, which turns
!Ref / !GetAtt / !Sub into {"Ref": ...} / {"Fn::GetAtt": [...]} / {"Fn::Sub": ...}.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from s3fanout.guard import Scope
from s3fanout.messages import CopyOptions
from tests.deploy.moto_stack import (
    ACCOUNT_ID,
    CONDITIONAL_OUTPUTS,
    EXPECTED_OUTPUTS,
    REPO_ROOT,
    TEMPLATE_PATH,
    Intrinsics,
    RuleViolation,
    check_rules,
    load_template,
    pseudo_parameters,
    sam_transform,
    with_code_location,
)

SAM = Path(sys.executable).with_name("sam")

QUEUE_DLQ = {"ListQueue": "ListDeadLetterQueue", "CopyQueue": "CopyDeadLetterQueue"}
DLQ_ALARM = {"ListDeadLetterQueue": "ListDeadLetterQueueAlarm", "CopyDeadLetterQueue": "CopyDeadLetterQueueAlarm"}
QUEUES = [*QUEUE_DLQ, *QUEUE_DLQ.values()]
# Replication=true only: the source bucket's events and those given up on.
EVENT_QUEUE_DLQ = {"EventQueue": "EventDeadLetterQueue"}
FOURTEEN_DAYS = 14 * 24 * 3600
# The key a stack encrypts copies with (SseKmsKeyId).
COPY_KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0000abcd-12ab-34cd-56ef-1234567890ab"
SOURCE_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:minio-keys-AbCdEf"
# Buckets of MoreDestinationBuckets in the tests.
MORE = ("dst-two", "dst-three")
# MoreDestinationBuckets as the template splits it into four slots: joined, padded with
# DestinationBucket, split again (slot i is its item i).
SLOTS = {
    "Fn::Split": [
        ",",
        {"Fn::Join": [",", [{"Fn::Join": [",", {"Ref": "MoreDestinationBuckets"}]}, {"Ref": "DestinationBucket"}, {"Ref": "DestinationBucket"}, {"Ref": "DestinationBucket"}]]},
    ]
}


EXPECTED_PARAMETER_DEFAULTS = {
    "SourceBucket": None,
    "DestinationBucket": None,
    "MoreDestinationBuckets": "",
    "PowertoolsLayerVersion": 38,
    "MaxReceiveCount": 5,
    "ListMaxConcurrency": 100,
    "CopyBatchSize": 10,
    "CopyMaxConcurrency": 100,
    "CopyConcurrency": 16,
    "CopyMaxAttempts": 5,
    "LogLevel": "INFO",
    "AlarmEmail": "",
    "AlarmTopicArn": "",
    "AllowDelete": "false",
    "MultipartThresholdBytes": 1073741824,
    "MultipartPartSizeBytes": 67108864,
    "AllowedPrefix": "",
    "DestinationPrefix": "",
    "SourceBucketOwner": "",
    "DestinationBucketOwner": "",
    "MaxHops": 1000,
    "SourceKmsKeyArn": "",
    "DestinationKmsKeyArn": "",
    "StorageClass": "",
    "ServerSideEncryption": "",
    "SseKmsKeyId": "",
    "ChecksumAlgorithm": "",
    "CopyAcl": "",
    "CopyObjectLock": "false",
    "CopyVersions": "false",
    "LogRetentionDays": 30,
    "JobRecordDays": 90,
    "ReportBucket": "",
    "ReportPrefix": "s3fanout-reports/",
    "SourceEndpointUrl": "",
    "SourceCredentialsSecretArn": "",
    "ManifestBucket": "",
    "ManifestPrefix": "",
    "PyarrowLayerArn": "",
    "Replication": "false",
    "ReplicationLagAlarmSeconds": 900,
}
# The values CloudWatch Logs accepts for RetentionInDays.
LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]
FUNCTION_ROLE_LOG_GROUP = {
    "ListObjectsFunction": ("ListObjectsFunctionRole", "ListObjectsLogGroup"),
    "CopyObjectsFunction": ("CopyObjectsFunctionRole", "CopyObjectsLogGroup"),
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


# ------------------------------------------------------------------ SAM CLI --


def sam_env(tmp: Path) -> dict[str, str]:
    """Environment for the sam subprocess: a region, dummy credentials, no network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        # `sam build` picks a python3.12 builder only if python3.12 is on PATH: the
        # venv's interpreter is one.
        PATH=os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]),
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=str(tmp / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-aws-credentials"),
        SAM_CLI_TELEMETRY="0",
        # Proof that the build is offline: pip may not reach an index, and any HTTP(S)
        # call goes to a closed local port and fails at once.
        PIP_NO_INDEX="1",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
    )
    return env


def run_sam(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    assert SAM.exists(), f"sam CLI not found next to {sys.executable}"
    # cwd is the temporary dir: sam writes .aws-sam/ (e.g. .aws-sam/deps) into its cwd.
    result = subprocess.run(
        [str(SAM), *args],
        cwd=tmp,
        env=sam_env(tmp),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"sam {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_sam_validate_lint(tmp_path: Path) -> None:
    result = run_sam(["validate", "--lint", "--template-file", str(TEMPLATE_PATH)], tmp_path)
    assert "is a valid SAM Template" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("sam")
    build = tmp / "build"
    run_sam(
        [
            "build",
            "--template-file",
            str(TEMPLATE_PATH),
            "--build-dir",
            str(build),
            # As in samconfig.toml, with the cache in the temporary dir.
            "--cached",
            "--cache-dir",
            str(tmp / "cache"),
            "--parallel",
        ],
        tmp,
    )
    return build


@pytest.mark.parametrize(
    ("function", "module"),
    [("ListObjectsFunction", "list_objects"), ("CopyObjectsFunction", "copy_objects"), ("ReplicateEventsFunction", "replicate_events")],
)
def test_sam_build_packages_both_handlers(build_dir: Path, function: str, module: str) -> None:
    artifact = build_dir / function
    assert (artifact / module / "app.py").is_file()
    # One shared code folder: every function carries both handlers and the core package.
    assert (artifact / "list_objects" / "app.py").is_file()
    assert (artifact / "copy_objects" / "app.py").is_file()
    # Nothing was installed: boto3 is the runtime's and Powertools the layer's.
    installed = sorted(p.name for p in artifact.iterdir() if p.name.endswith((".dist-info", ".egg-info")))
    assert installed == []
    assert not (artifact / "boto3").exists()
    assert not (artifact / "aws_lambda_powertools").exists()


def test_built_template_points_at_the_artifacts(build_dir: Path) -> None:
    built = yaml_parse((build_dir / "template.yaml").read_text())
    for function in ("ListObjectsFunction", "CopyObjectsFunction", "ReplicateEventsFunction"):
        assert built["Resources"][function]["Properties"]["CodeUri"] == function


def test_requirements_list_no_packages() -> None:
    lines = (REPO_ROOT / "src" / "requirements.txt").read_text().splitlines()
    packages = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert packages == []


# ------------------------------------------------------------------ queues --


@pytest.mark.parametrize(("queue", "dlq"), [*QUEUE_DLQ.items(), *EVENT_QUEUE_DLQ.items()])
def test_main_queue_redrives_to_its_dlq(resources: dict[str, Any], queue: str, dlq: str) -> None:
    redrive = resources[queue]["Properties"]["RedrivePolicy"]
    assert redrive == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }


@pytest.mark.parametrize("queue", [*QUEUES, *EVENT_QUEUE_DLQ, *EVENT_QUEUE_DLQ.values()])
def test_queues_are_encrypted(resources: dict[str, Any], queue: str) -> None:
    assert resources[queue]["Type"] == "AWS::SQS::Queue"
    assert resources[queue]["Properties"]["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize(("queue", "dlq"), [*QUEUE_DLQ.items(), *EVENT_QUEUE_DLQ.items()])
def test_retention(resources: dict[str, Any], queue: str, dlq: str) -> None:
    dlq_retention = resources[dlq]["Properties"]["MessageRetentionPeriod"]
    queue_retention = resources[queue]["Properties"]["MessageRetentionPeriod"]
    assert dlq_retention == FOURTEEN_DAYS
    # A standard queue's DLQ counts age from the first enqueue: it must keep messages longer.
    assert 3 * 24 * 3600 <= queue_retention < dlq_retention
    assert "RedrivePolicy" not in resources[dlq]["Properties"]


def sqs_consumers(resources: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(function, queue, event properties) for every SQS event of every function."""
    found = []
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                queue_ref = event["Properties"]["Queue"]
                assert queue_ref == {"Fn::GetAtt": [queue_ref["Fn::GetAtt"][0], "Arn"]}
                found.append((name, queue_ref["Fn::GetAtt"][0], event["Properties"]))
    return found


def test_each_main_queue_has_one_consumer(resources: dict[str, Any]) -> None:
    consumers = {(f, q) for f, q, _ in sqs_consumers(resources)}
    assert consumers == {("ListObjectsFunction", "ListQueue"), ("CopyObjectsFunction", "CopyQueue"), ("ReplicateEventsFunction", "EventQueue")}


def test_visibility_timeout_is_six_times_the_consumer_timeout(resources: dict[str, Any]) -> None:
    for function, queue, _ in sqs_consumers(resources):
        timeout = resources[function]["Properties"]["Timeout"]
        assert resources[queue]["Properties"]["VisibilityTimeout"] == 6 * timeout, queue


def test_event_sources(resources: dict[str, Any]) -> None:
    events = {queue: props for _, queue, props in sqs_consumers(resources)}
    assert events["ListQueue"]["BatchSize"] == 1
    assert events["ListQueue"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "ListMaxConcurrency"}}
    assert events["CopyQueue"]["BatchSize"] == {"Ref": "CopyBatchSize"}
    assert events["CopyQueue"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "CopyMaxConcurrency"}}
    assert events["EventQueue"]["BatchSize"] == 10
    assert events["EventQueue"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "CopyMaxConcurrency"}}
    for props in events.values():
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


# --------------------------------------------------------------- functions --


def test_globals(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]
    assert function["CodeUri"] == "src/"
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]
    (layer,) = function["Layers"]
    assert layer == {
        "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:017000801446:layer:"
        "AWSLambdaPowertoolsPythonV3-python312-arm64:${PowertoolsLayerVersion}"
    }
    assert function["Environment"]["Variables"] == {
        "POWERTOOLS_METRICS_NAMESPACE": "S3Fanout",
        "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
        "MULTIPART_THRESHOLD_BYTES": {"Ref": "MultipartThresholdBytes"},
        "MULTIPART_PART_SIZE_BYTES": {"Ref": "MultipartPartSizeBytes"},
        # What both functions accept (s3fanout.guard reads exactly these names).
        "SOURCE_BUCKET": {"Ref": "SourceBucket"},
        "DEST_BUCKET": {"Ref": "DestinationBucket"},
        "ALLOWED_PREFIX": {"Ref": "AllowedPrefix"},
        # The other destinations, the four slots of the grants (test_more_destinations_*), and
        # the destination prefix, absent unless set: then keys as they are, no --dest-prefix.
        "MORE_DEST_BUCKETS": {"Fn::If": ["HasMoreDestinations", {"Fn::Join": [",", [{"Fn::Select": [slot, SLOTS]} for slot in range(4)]]}, ""]},
        "DEST_PREFIX": {"Fn::If": ["HasDestinationPrefix", {"Ref": "DestinationPrefix"}, {"Ref": "AWS::NoValue"}]},
        "DEST_KEYS_AS_THEY_ARE": {"Fn::If": ["HasDestinationPrefix", "false", "true"]},
        "ALLOW_DELETE": {"Ref": "AllowDelete"},
        "SOURCE_BUCKET_OWNER": {"Fn::If": ["CheckSourceOwnerHere", {"Ref": "AWS::AccountId"}, {"Ref": "SourceBucketOwner"}]},
        "DEST_BUCKET_OWNER": {"Fn::If": ["DestinationOwnedHere", {"Ref": "AWS::AccountId"}, {"Ref": "DestinationBucketOwner"}]},
        "MAX_HOPS": {"Ref": "MaxHops"},
        "MESSAGE_KEY_SECRET_ARN": {"Ref": "MessageKeySecret"},
        # Jobs you can watch: the job table, how long a finished job is kept, which
        # delivery is a message's last, and both DLQs (each function dead-letters to
        # its own and reads both for the failure report).
        "JOB_TABLE": {"Ref": "JobTable"},
        "JOB_RECORD_DAYS": {"Ref": "JobRecordDays"},
        "MAX_RECEIVE_COUNT": {"Ref": "MaxReceiveCount"},
        "LIST_DLQ_URL": {"Ref": "ListDeadLetterQueue"},
        "COPY_DLQ_URL": {"Ref": "CopyDeadLetterQueue"},
        "REPORT_BUCKET": {"Ref": "ReportBucket"},
        "REPORT_PREFIX": {"Fn::If": ["HasReportBucket", {"Ref": "ReportPrefix"}, ""]},
        # A source at another store or read with other keys (clients.Access.from_env).
        "SOURCE_ENDPOINT_URL": {"Ref": "SourceEndpointUrl"},
        "SOURCE_CREDENTIALS_SECRET_ARN": {"Ref": "SourceCredentialsSecretArn"},
        # Where list tasks may read manifest parts.
        "MANIFEST_LOCATION": {"Fn::If": ["ReadsManifests", {"Fn::Sub": "s3://${ManifestBucket}/${ManifestPrefix}"}, ""]},
    }


@pytest.mark.parametrize(
    ("owners", "expected"),
    [
        ({}, ("123456789012", "123456789012")),  # empty: the stack's own account
        ({"SourceBucketOwner": "111111111111"}, ("111111111111", "123456789012")),
        ({"SourceBucketOwner": "111111111111", "DestinationBucketOwner": "222222222222"}, ("111111111111", "222222222222")),
        # A source read with another's keys belongs to whoever gave them: checked only when named.
        ({"SourceCredentialsSecretArn": SOURCE_SECRET_ARN}, ("", "123456789012")),
        ({"SourceCredentialsSecretArn": SOURCE_SECRET_ARN, "SourceBucketOwner": "111111111111"}, ("111111111111", "123456789012")),
    ],
)
def test_bucket_owners_resolve_to_the_stacks_account_when_empty(
    template: dict[str, Any], owners: dict[str, str], expected: tuple[str, str]
) -> None:
    intrinsics = Intrinsics(template, {**pseudo_parameters("s3-fanout"), **owners})
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert (intrinsics.resolve(variables["SOURCE_BUCKET_OWNER"]), intrinsics.resolve(variables["DEST_BUCKET_OWNER"])) == expected
    outputs = template["Outputs"]
    assert (intrinsics.resolve(outputs["SourceBucketOwner"]["Value"]), intrinsics.resolve(outputs["DestinationBucketOwner"]["Value"])) == expected


def test_functions(resources: dict[str, Any]) -> None:
    lister = resources["ListObjectsFunction"]["Properties"]
    assert lister["Handler"] == "list_objects.app.lambda_handler"
    assert (lister["Timeout"], lister["MemorySize"]) == (900, 512)
    # Both DLQ URLs come from Globals.
    assert lister["Environment"]["Variables"] == {
        "POWERTOOLS_SERVICE_NAME": "s3fanout-lister",
        "LIST_QUEUE_URL": {"Ref": "ListQueue"},
        "COPY_QUEUE_URL": {"Ref": "CopyQueue"},
        # The copy spread's pace (copyspread.py).
        "COPY_MAX_CONCURRENCY": {"Ref": "CopyMaxConcurrency"},
    }
    copier = resources["CopyObjectsFunction"]["Properties"]
    assert copier["Handler"] == "copy_objects.app.lambda_handler"
    assert (copier["Timeout"], copier["MemorySize"]) == (300, 1024)
    assert copier["Environment"]["Variables"] == {
        "POWERTOOLS_SERVICE_NAME": "s3fanout-copier",
        "COPY_QUEUE_URL": {"Ref": "CopyQueue"},
        "COPY_CONCURRENCY": {"Ref": "CopyConcurrency"},
        "COPY_MAX_ATTEMPTS": {"Ref": "CopyMaxAttempts"},
        # The stack's copy options, for messages that carry none (CopyOptions.from_env).
        "COPY_STORAGE_CLASS": {"Ref": "StorageClass"},
        "COPY_SSE": {"Ref": "ServerSideEncryption"},
        "COPY_SSE_KMS_KEY_ID": {"Ref": "SseKmsKeyId"},
        "COPY_CHECKSUM_ALGORITHM": {"Ref": "ChecksumAlgorithm"},
        "COPY_ACL": {"Ref": "CopyAcl"},
        "COPY_OBJECT_LOCK": {"Ref": "CopyObjectLock"},
    }


JOB_ENVIRONMENT = {
    "JOB_TABLE": "<JobTable>",
    "JOB_RECORD_DAYS": "90",
    "MAX_RECEIVE_COUNT": "5",
    "LIST_DLQ_URL": "<ListDeadLetterQueue>",
    "COPY_DLQ_URL": "<CopyDeadLetterQueue>",
}


@pytest.mark.parametrize("function", FUNCTION_ROLE_LOG_GROUP)
@pytest.mark.parametrize(
    ("parameters", "report"),
    [
        # No report bucket: both variables empty, never a prefix without a bucket.
        ({}, {"REPORT_BUCKET": "", "REPORT_PREFIX": ""}),
        ({"ReportBucket": "report-bucket"}, {"REPORT_BUCKET": "report-bucket", "REPORT_PREFIX": "s3fanout-reports/"}),
        (
            {"ReportBucket": "report-bucket", "ReportPrefix": "jobs/", "JobRecordDays": "7", "MaxReceiveCount": "9"},
            {"REPORT_BUCKET": "report-bucket", "REPORT_PREFIX": "jobs/", "JOB_RECORD_DAYS": "7", "MAX_RECEIVE_COUNT": "9"},
        ),
    ],
    ids=["no-reports", "reports", "reports-prefix"],
)
def test_both_functions_get_the_job_environment(function: str, parameters: dict[str, str], report: dict[str, str]) -> None:
    """What SAM merges from Globals into each function, resolved: the job table, the
    queues' maxReceiveCount, both DLQs and the report location, the same for both."""
    variables = deployed_resources(**parameters)[function]["Properties"]["Environment"]["Variables"]
    expected = {**JOB_ENVIRONMENT, **report}
    assert {name: str(variables[name]) for name in expected} == expected
    # MAX_RECEIVE_COUNT is the value the queues' RedrivePolicy uses.
    redrive = deployed_resources(**parameters)["ListQueue"]["Properties"]["RedrivePolicy"]
    assert str(redrive["maxReceiveCount"]) == expected["MAX_RECEIVE_COUNT"]


@pytest.mark.parametrize(
    ("parameters", "options"),
    [
        ({}, CopyOptions()),
        (
            {"StorageClass": "DEEP_ARCHIVE", "ServerSideEncryption": "aws:kms", "SseKmsKeyId": COPY_KMS_KEY_ARN, "ChecksumAlgorithm": "CRC32C"},
            CopyOptions(storage_class="DEEP_ARCHIVE", sse="aws:kms", sse_kms_key_id=COPY_KMS_KEY_ARN, checksum_algorithm="CRC32C"),
        ),
        ({"CopyAcl": "bucket-owner-full-control", "CopyObjectLock": "true"}, CopyOptions(acl="bucket-owner-full-control", object_lock=True)),
    ],
    ids=["defaults", "storage-encryption-checksum", "acl-object-lock"],
)
def test_copier_gets_the_stacks_copy_options(parameters: dict[str, str], options: CopyOptions) -> None:
    """The copy option parameters reach the copier's environment as CopyOptions.from_env reads
    them (empty = as today); the lister, which writes nothing, gets none."""
    resources = deployed_resources(**parameters)
    variables = {name: str(value) for name, value in resources["CopyObjectsFunction"]["Properties"]["Environment"]["Variables"].items()}
    assert CopyOptions.from_env(variables) == options
    assert not any(name.startswith("COPY_S") or name.startswith("COPY_OBJECT") for name in resources["ListObjectsFunction"]["Properties"]["Environment"]["Variables"])


@pytest.mark.parametrize(("function", "role_and_log_group"), FUNCTION_ROLE_LOG_GROUP.items())
def test_function_role_logs_and_recursion(resources: dict[str, Any], function: str, role_and_log_group: tuple[str, str]) -> None:
    role, log_group = role_and_log_group
    props = resources[function]["Properties"]
    # The template's own role, so SAM neither creates one nor attaches a managed policy.
    assert props["Role"] == {"Fn::GetAtt": [role, "Arn"]}
    assert "Policies" not in props
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": log_group}}
    # Each function sends to its own trigger queue; MAX_HOPS bounds a chain instead.
    assert props["RecursiveLoop"] == "Allow"


@pytest.mark.parametrize(("function", "role_and_log_group"), FUNCTION_ROLE_LOG_GROUP.items())
def test_sam_passes_logging_and_recursion_through(function: str, role_and_log_group: tuple[str, str]) -> None:
    translated = translate()["Resources"]
    lambda_function = translated[function]
    assert lambda_function["Type"] == "AWS::Lambda::Function"
    props = lambda_function["Properties"]
    assert props["Role"] == {"Fn::GetAtt": [role_and_log_group[0], "Arn"]}
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": role_and_log_group[1]}}
    assert props["RecursiveLoop"] == "Allow"
    # No role of SAM's own beside the template's own (the replicator's under its condition).
    roles = {name for name, r in translated.items() if r["Type"] == "AWS::IAM::Role"}
    assert roles == {role for role, _ in FUNCTION_ROLE_LOG_GROUP.values()} | {"ReplicateEventsFunctionRole"}


@pytest.mark.parametrize("log_group", [group for _, group in FUNCTION_ROLE_LOG_GROUP.values()])
def test_log_groups_keep_logs_for_log_retention_days(template: dict[str, Any], resources: dict[str, Any], log_group: str) -> None:
    resource = resources[log_group]
    assert resource["Type"] == "AWS::Logs::LogGroup"
    assert resource["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Delete", "Delete")
    name = Intrinsics(template, pseudo_parameters("my-stack")).resolve(resource["Properties"]["LogGroupName"])
    assert name == {"ListObjectsLogGroup": "/aws/lambda/my-stack-list-objects", "CopyObjectsLogGroup": "/aws/lambda/my-stack-copy-objects"}[log_group]
    parameter = template["Parameters"]["LogRetentionDays"]
    assert (parameter["Type"], parameter["Default"], parameter["AllowedValues"]) == ("Number", 30, LOG_RETENTION_DAYS)


def test_message_key_secret(resources: dict[str, Any], template: dict[str, Any]) -> None:
    secret = resources["MessageKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"] == {"PasswordLength": 64, "ExcludePunctuation": True}
    # Not an output of the secret itself: only its ARN, which the CLI reads it by.
    assert template["Outputs"]["MessageKeySecretArn"]["Value"] == {"Ref": "MessageKeySecret"}


# --------------------------------------------------------------- job table --


def test_job_table(resources: dict[str, Any]) -> None:
    table = resources["JobTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert "Condition" not in table
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in props
    # No fixed name: a new stack of the same name must not collide with a retained table.
    assert "TableName" not in props
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "id", "AttributeType": "S"},
        {"AttributeName": "listing", "AttributeType": "S"},
        {"AttributeName": "started", "AttributeType": "S"},
    ]
    # Sparse: only job items carry "listing", so the index holds jobs and no markers.
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "recent",
            "KeySchema": [{"AttributeName": "listing", "KeyType": "HASH"}, {"AttributeName": "started", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]
    assert "LocalSecondaryIndexes" not in props
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    # The jobs' record outlives the stack and a replacement (see the template).
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_job_table_output_and_record_days(template: dict[str, Any]) -> None:
    assert template["Outputs"]["JobTableName"]["Value"] == {"Ref": "JobTable"}
    parameter = template["Parameters"]["JobRecordDays"]
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 90, 1)


@pytest.mark.parametrize(
    ("function", "module"),
    [("ListObjectsFunction", "list_objects"), ("CopyObjectsFunction", "copy_objects")],
)
def test_handler_modules_exist(resources: dict[str, Any], function: str, module: str) -> None:
    handler = resources[function]["Properties"]["Handler"]
    assert handler == f"{module}.app.lambda_handler"
    source = (REPO_ROOT / "src" / module / "app.py").read_text()
    assert re.search(r"^def lambda_handler\(", source, re.MULTILINE), f"no lambda_handler in {module}/app.py"


def test_parameters(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert {name: p.get("Default") for name, p in parameters.items()} == EXPECTED_PARAMETER_DEFAULTS
    for name in ("ListMaxConcurrency", "CopyMaxConcurrency"):
        # Lambda's bounds for ScalingConfig.MaximumConcurrency.
        assert (parameters[name]["MinValue"], parameters[name]["MaxValue"]) == (2, 1000)


@pytest.mark.parametrize("value", ["my-bucket", "a.b-c.123", "*"])
def test_bucket_pattern_accepts(template: dict[str, Any], value: str) -> None:
    for name in ("SourceBucket", "DestinationBucket"):
        assert re.fullmatch(template["Parameters"][name]["AllowedPattern"], value)


@pytest.mark.parametrize("value", ["", "My-Bucket", "arn:aws:s3:::b", "b/*", "s3://b", "**"])
def test_bucket_pattern_rejects(template: dict[str, Any], value: str) -> None:
    for name in ("SourceBucket", "DestinationBucket"):
        assert not re.fullmatch(template["Parameters"][name]["AllowedPattern"], value)


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert set(outputs) == EXPECTED_OUTPUTS | set(CONDITIONAL_OUTPUTS)
    assert {name: o["Condition"] for name, o in outputs.items() if "Condition" in o} == CONDITIONAL_OUTPUTS


@pytest.mark.parametrize(("prefix", "present"), [("", False), ("logs/2026/", True)])
def test_allowed_prefix_output_only_for_a_prefix(template: dict[str, Any], prefix: str, present: bool) -> None:
    intrinsics = Intrinsics(template, {**pseudo_parameters("s3-fanout"), "AllowedPrefix": prefix})
    assert intrinsics.condition(CONDITIONAL_OUTPUTS["AllowedPrefix"]) is present
    assert intrinsics.resolve(template["Outputs"]["AllowedPrefix"]["Value"]) == prefix


@pytest.mark.parametrize("name", ["AllowedPrefix", "DestinationPrefix"])
@pytest.mark.parametrize("value", ["", "logs/", "a b/ü/2026-01-01T00:00/", "x" * 1024, "s3/", "/abs"])
def test_allowed_prefix_pattern_accepts(template: dict[str, Any], name: str, value: str) -> None:
    assert re.fullmatch(template["Parameters"][name]["AllowedPattern"], value)


@pytest.mark.parametrize(
    "value",
    [
        "s3://bucket/logs/",  # a URL, not a prefix
        "x" * 1025,  # longer than any S3 key
        "logs/*",  # IAM wildcards would widen the grants
        "logs/?/",
        "${aws:username}/",  # an IAM policy variable
    ],
)
def test_allowed_prefix_pattern_rejects(template: dict[str, Any], value: str) -> None:
    # DestinationPrefix goes into the destination grants as AllowedPrefix goes into all.
    for name in ("AllowedPrefix", "DestinationPrefix"):
        assert not re.fullmatch(template["Parameters"][name]["AllowedPattern"], value), name


@pytest.mark.parametrize(("value", "accepted"), [("", True), ("my-bucket", True), ("a.b-c.123", True), ("*", False), ("My-Bucket", False), ("b/*", False), ("s3://b", False), ("ab", False)])
def test_more_destination_buckets_pattern(template: dict[str, Any], value: str, accepted: bool) -> None:
    """CloudFormation matches a CommaDelimitedList's pattern against each name: a bucket, never
    "*" (DestinationBucket alone may be any bucket), or empty for none."""
    parameter = template["Parameters"]["MoreDestinationBuckets"]
    assert parameter["Type"] == "CommaDelimitedList"
    assert bool(re.fullmatch(parameter["AllowedPattern"], value)) is accepted


@pytest.mark.parametrize(
    ("more", "slots", "served"),
    [
        ("", "", ()),
        ("dst-two", "dst-two,dst-bucket,dst-bucket,dst-bucket", ("dst-two",)),
        ("dst-two,dst-three", "dst-two,dst-three,dst-bucket,dst-bucket", MORE),
        # Four slots: a 5th bucket reaches neither the functions nor the CLI (which refuse it).
        ("b-1,b-2,b-3,b-4,b-5", "b-1,b-2,b-3,b-4", ("b-1", "b-2", "b-3", "b-4")),
    ],
    ids=["none", "one", "two", "five"],
)
@pytest.mark.parametrize("dest_prefix", ["", "copies/"])
def test_more_destinations_and_the_destination_prefix_reach_the_functions(template: dict[str, Any], more: str, slots: str, served: tuple[str, ...], dest_prefix: str) -> None:
    """Both functions' environment, resolved as SAM and CloudFormation make it, read back by
    guard.Scope.from_env: every destination with the prefix its keys are written under."""
    resources = deployed_resources(MoreDestinationBuckets=more, DestinationPrefix=dest_prefix)
    written = dest_prefix or None
    for function in FUNCTION_ROLE_LOG_GROUP:
        variables = {name: str(value) for name, value in resources[function]["Properties"]["Environment"]["Variables"].items()}
        assert variables["MORE_DEST_BUCKETS"] == slots
        assert variables.get("DEST_PREFIX") == written
        scope = Scope.from_env(variables)
        assert scope.destinations == (("dst-bucket", written), *((bucket, written) for bucket in served))
        # Without a DestinationPrefix the functions take keys as they are only (no --dest-prefix).
        assert scope.keys_as_they_are is not bool(dest_prefix)
    intrinsics = Intrinsics(template, {**pseudo_parameters("s3-fanout"), **NAMED, "MoreDestinationBuckets": more, "DestinationPrefix": dest_prefix})
    outputs = template["Outputs"]
    assert intrinsics.resolve(outputs["MoreDestinations"]["Value"]) == slots
    assert intrinsics.condition(CONDITIONAL_OUTPUTS["DestinationPrefix"]) is bool(dest_prefix)
    assert intrinsics.resolve(outputs["DestinationPrefix"]["Value"]) == dest_prefix


@pytest.mark.parametrize("name", ["SourceBucketOwner", "DestinationBucketOwner"])
def test_bucket_owner_pattern(template: dict[str, Any], name: str) -> None:
    pattern = template["Parameters"][name]["AllowedPattern"]
    for value in ("", "123456789012", "000000000001"):
        assert re.fullmatch(pattern, value), value
    for value in ("12345678901", "1234567890123", "arn:aws:iam::123456789012:root", "12345678901a"):
        assert not re.fullmatch(pattern, value), value


@pytest.mark.parametrize("value", ["", "my-reports", "a.b-c.123"])
def test_report_bucket_pattern_accepts(template: dict[str, Any], value: str) -> None:
    assert re.fullmatch(template["Parameters"]["ReportBucket"]["AllowedPattern"], value)


@pytest.mark.parametrize("value", ["*", "My-Reports", "arn:aws:s3:::b", "b/reports/", "s3://b", "ab"])
def test_report_bucket_pattern_rejects(template: dict[str, Any], value: str) -> None:
    # "*" too: reports go to one named bucket, never "any bucket".
    assert not re.fullmatch(template["Parameters"]["ReportBucket"]["AllowedPattern"], value)


@pytest.mark.parametrize("value", ["", "s3fanout-reports/", "jobs/2026 ü/", "x" * 1024])
def test_report_prefix_pattern_accepts(template: dict[str, Any], value: str) -> None:
    assert re.fullmatch(template["Parameters"]["ReportPrefix"]["AllowedPattern"], value)


@pytest.mark.parametrize("value", ["s3://bucket/reports/", "x" * 1025, "reports/*", "reports/?/", "${aws:username}/"])
def test_report_prefix_pattern_rejects(template: dict[str, Any], value: str) -> None:
    # The prefix goes into an IAM resource: no wildcard, no policy variable.
    assert not re.fullmatch(template["Parameters"]["ReportPrefix"]["AllowedPattern"], value)


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("SourceEndpointUrl", "", True),
        ("SourceEndpointUrl", "https://minio.example.com:9000", True),
        ("SourceEndpointUrl", "https://storage.googleapis.com", True),
        ("SourceEndpointUrl", "https://0123abcd.r2.cloudflarestorage.com/", True),
        ("SourceEndpointUrl", "http://[::1]:9000/s3", True),
        ("SourceEndpointUrl", "minio.example.com", False),
        ("SourceEndpointUrl", "ftp://minio.example.com", False),
        ("SourceEndpointUrl", "https://a b", False),
        ("SourceCredentialsSecretArn", "", True),
        ("SourceCredentialsSecretArn", SOURCE_SECRET_ARN, True),
        ("SourceCredentialsSecretArn", "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:team/minio-AbCdEf", True),
        ("SourceCredentialsSecretArn", "minio-keys", False),
        ("SourceCredentialsSecretArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:*", False),
        ("SourceCredentialsSecretArn", "arn:aws:kms:us-east-1:123456789012:key/abc", False),
    ],
)
def test_source_access_patterns(template: dict[str, Any], name: str, value: str, accepted: bool) -> None:
    # The secret's ARN goes into an IAM resource: no wildcard.
    assert bool(re.fullmatch(template["Parameters"][name]["AllowedPattern"], value)) is accepted


@pytest.mark.parametrize(("bucket", "present"), [("", False), ("report-bucket", True)])
def test_report_outputs_only_with_a_report_bucket(template: dict[str, Any], bucket: str, present: bool) -> None:
    intrinsics = Intrinsics(template, {**pseudo_parameters("s3-fanout"), "ReportBucket": bucket, "ReportPrefix": "jobs/"})
    assert template["Conditions"]["HasReportBucket"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ReportBucket"}, ""]}]}
    for output in ("ReportBucket", "ReportPrefix"):
        assert intrinsics.condition(CONDITIONAL_OUTPUTS[output]) is present
    assert intrinsics.resolve(template["Outputs"]["ReportBucket"]["Value"]) == bucket
    assert intrinsics.resolve(template["Outputs"]["ReportPrefix"]["Value"]) == "jobs/"


KMS_KEY_ARN = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KMS_MRK_ARN = "arn:aws:kms:eu-west-1:222222222222:key/mrk-1234abcd12ab34cd56ef1234567890ab"


@pytest.mark.parametrize("name", ["SourceKmsKeyArn", "DestinationKmsKeyArn", "SseKmsKeyId"])
def test_kms_key_arn_pattern(template: dict[str, Any], name: str) -> None:
    pattern = template["Parameters"][name]["AllowedPattern"]
    for value in ("", KMS_KEY_ARN, KMS_MRK_ARN, "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"):
        assert re.fullmatch(pattern, value), value
    rejected = (
        "1234abcd-12ab-34cd-56ef-1234567890ab",  # a key ID: IAM needs the ARN
        "arn:aws:kms:us-east-1:111111111111:alias/my-key",  # IAM grants on an alias ARN do not cover the key
        "arn:aws:kms:us-east-1:111111111111:key/*",
        "alias/aws/s3",
    )
    for value in rejected:
        assert not re.fullmatch(pattern, value), value


def test_max_hops_parameter(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["MaxHops"]
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 1000, 10)


# ------------------------------------------------------------------- rules --

MINIO, SECRET = "https://minio.example.com:9000", "arn:aws:secretsmanager:us-east-1:123456789012:secret:minio-keys-AbCdEf"


@pytest.mark.parametrize(
    ("parameters", "refused_by"),
    [
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket"}, None),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "AllowDelete": "true"}, None),
        ({"SourceBucket": "*", "DestinationBucket": "*"}, None),
        ({"SourceBucket": "*", "DestinationBucket": "dst-bucket", "AllowDelete": "true"}, None),
        # Deleting in any bucket of the account.
        ({"SourceBucket": "src-bucket", "DestinationBucket": "*", "AllowDelete": "true"}, "DeleteOnlyInANamedBucket"),
        ({"SourceBucket": "*", "DestinationBucket": "*", "AllowDelete": "true"}, "DeleteOnlyInANamedBucket"),
        # A bucket copied onto itself.
        ({"SourceBucket": "same-bucket", "DestinationBucket": "same-bucket"}, "SourceIsNotTheDestination"),
        ({"SourceBucket": "same-bucket", "DestinationBucket": "same-bucket", "AllowDelete": "true"}, "SourceIsNotTheDestination"),
        # Another store may hold a bucket of the destination's name.
        ({"SourceBucket": "same-bucket", "DestinationBucket": "same-bucket", "SourceEndpointUrl": MINIO, "SourceCredentialsSecretArn": SECRET}, None),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "SourceCredentialsSecretArn": SECRET}, None),
        # The role's own credentials must never be sent to another store.
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "SourceEndpointUrl": MINIO}, "OtherEndpointNeedsItsOwnKeys"),
        (
            {"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "SourceEndpointUrl": MINIO, "SourceCredentialsSecretArn": SECRET, "SourceBucketOwner": "111111111111"},
            "OtherEndpointNeedsItsOwnKeys",
        ),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "ReportBucket": "reports"}, None),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "ReportBucket": "src-bucket"}, "ReportsGoElsewhere"),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "ReportBucket": "dst-bucket"}, "ReportsGoElsewhere"),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "ServerSideEncryption": "aws:kms", "SseKmsKeyId": KMS_KEY_ARN}, None),
        # A KMS key for the copies without SSE-KMS.
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "SseKmsKeyId": KMS_KEY_ARN}, "KmsKeyOnlyForSseKms"),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "ServerSideEncryption": "AES256", "SseKmsKeyId": KMS_KEY_ARN}, "KmsKeyOnlyForSseKms"),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "Replication": "true"}, None),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "Replication": "true", "AllowDelete": "true"}, None),
        # S3 sends the events of one named bucket, applied to one destination.
        ({"SourceBucket": "*", "DestinationBucket": "dst-bucket", "Replication": "true"}, "ReplicationNeedsNamedBucketsInS3"),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "*", "Replication": "true"}, "ReplicationNeedsNamedBucketsInS3"),
        # Another store sends no S3 events; a source read with other keys cannot be copied server-side.
        (
            {"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "Replication": "true", "SourceEndpointUrl": MINIO, "SourceCredentialsSecretArn": SECRET},
            "ReplicationNeedsNamedBucketsInS3",
        ),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "Replication": "true", "SourceCredentialsSecretArn": SECRET}, "ReplicationNeedsNamedBucketsInS3"),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "MoreDestinationBuckets": "dst-two,dst-three"}, None),
        ({"SourceBucket": "*", "DestinationBucket": "dst-bucket", "MoreDestinationBuckets": "dst-two", "AllowDelete": "true"}, None),
        # A more destination that is the source, or an empty name (a slot must be a bucket).
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "MoreDestinationBuckets": "dst-two,src-bucket"}, "MoreDestinationsAreOtherBuckets"),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "MoreDestinationBuckets": "dst-two,,dst-three"}, "MoreDestinationsAreOtherBuckets"),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "MoreDestinationBuckets": ",dst-two"}, "MoreDestinationsAreOtherBuckets"),
        # Another store may hold a bucket of a destination's name.
        (
            {"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "MoreDestinationBuckets": "src-bucket", "SourceEndpointUrl": MINIO, "SourceCredentialsSecretArn": SECRET},
            None,
        ),
        # "*" already serves any bucket: a list beside it would only confuse.
        ({"SourceBucket": "src-bucket", "DestinationBucket": "*", "MoreDestinationBuckets": "dst-two"}, "MoreDestinationsBesideANamedBucket"),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "MoreDestinationBuckets": "reports", "ReportBucket": "reports"}, "ReportsGoElsewhere"),
        ({"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket", "DestinationPrefix": "copies/", "MoreDestinationBuckets": "dst-two"}, None),
    ],
)
def test_rules(template: dict[str, Any], parameters: dict[str, str], refused_by: str | None) -> None:
    if refused_by is None:
        check_rules(template, parameters)
    else:
        with pytest.raises(RuleViolation, match=f"^{refused_by}: ") as refused:
            check_rules(template, parameters)
        # CloudFormation shows the AssertDescription: it must say what to change.
        assert any(name in str(refused.value) for name in ("Bucket", "SseKmsKeyId", "SourceCredentialsSecretArn", "SourceEndpointUrl"))


def test_rules_survive_the_transform() -> None:
    assert translate()["Rules"] == load_template()["Rules"]


# ------------------------------------------------------------------ alarms --


@pytest.mark.parametrize(("dlq", "alarm"), DLQ_ALARM.items())
def test_dead_letter_queue_alarm(resources: dict[str, Any], dlq: str, alarm: str) -> None:
    resource = resources[alarm]
    assert resource["Type"] == "AWS::CloudWatch::Alarm"
    assert "Condition" not in resource  # always there, notifying or not
    props = resource["Properties"]
    assert props["Namespace"] == "AWS/SQS"
    # Depth, not NumberOfMessagesSent: SQS does not count messages it moves by redrive.
    assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert props["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}]
    assert props["Statistic"] == "Maximum"
    # 300 s bridges the moment `seed dlq list` hides what it reads (see the template).
    assert props["Period"] == 300
    assert (props["EvaluationPeriods"], props.get("DatapointsToAlarm", 1)) == (1, 1)
    # One message is enough.
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert props["TreatMissingData"] == "notBreaching"
    assert "ActionsEnabled" not in props or props["ActionsEnabled"] is True


@pytest.mark.parametrize(("dlq", "alarm"), DLQ_ALARM.items())
def test_alarm_description_tells_the_operator_what_to_run(resources: dict[str, Any], dlq: str, alarm: str) -> None:
    props = resources[alarm]["Properties"]
    description = Intrinsics(load_template(), pseudo_parameters("my-stack")).resolve(props["AlarmDescription"])
    which = "list" if dlq.startswith("List") else "copy"
    assert f"the {which} dead-letter queue" in description
    lines = [line.strip() for line in description.splitlines()]
    # Ready to paste: the stack and its region, whatever the operator's default region is.
    assert lines.index("python -m seed dlq list --stack-name my-stack --region us-east-1") < lines.index(
        "python -m seed dlq redrive --stack-name my-stack --region us-east-1"
    )
    assert len(description) <= 1024  # CloudWatch's limit


def test_alarm_names_are_the_stacks_own(resources: dict[str, Any]) -> None:
    intrinsics = Intrinsics(load_template(), pseudo_parameters("my-stack"))
    names = {intrinsics.resolve(resources[alarm]["Properties"]["AlarmName"]) for alarm in DLQ_ALARM.values()}
    assert names == {"my-stack-list-dead-letter-queue-not-empty", "my-stack-copy-dead-letter-queue-not-empty"}


def test_alarm_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    for alarm in DLQ_ALARM.values():
        assert outputs[f"{alarm}Name"]["Value"] == {"Ref": alarm}


TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:on-call"


@pytest.mark.parametrize(
    ("email", "topic_arn", "actions"),
    [
        ("", "", None),  # no topic: no actions at all (the property is left out)
        ("ops@example.com", "", ["<AlarmTopic>"]),
        ("", TOPIC_ARN, [TOPIC_ARN]),
        ("ops@example.com", TOPIC_ARN, ["<AlarmTopic>", TOPIC_ARN]),  # both: nobody is dropped
    ],
)
def test_alarm_actions_follow_the_parameters(
    template: dict[str, Any], email: str, topic_arn: str, actions: list[str] | None
) -> None:
    intrinsics = Intrinsics(template, {**pseudo_parameters("my-stack"), "AlarmEmail": email, "AlarmTopicArn": topic_arn})
    for alarm in DLQ_ALARM.values():
        props = intrinsics.resolve(template["Resources"][alarm]["Properties"])
        assert props.get("AlarmActions") == actions, alarm
        # The same topics hear when the queue is empty again.
        assert props.get("OKActions") == actions, alarm
        assert "InsufficientDataActions" not in props
    assert intrinsics.condition("CreateAlarmTopic") == bool(email)
    # The output names a topic exactly when there is one: the stack's own, if any.
    assert intrinsics.condition(CONDITIONAL_OUTPUTS["AlarmTopicArn"]) == (actions is not None)
    if actions is not None:
        assert intrinsics.resolve(template["Outputs"]["AlarmTopicArn"]["Value"]) == actions[0]


def test_alarm_topic_only_for_an_email(resources: dict[str, Any], template: dict[str, Any]) -> None:
    topic = resources["AlarmTopic"]
    assert topic["Type"] == "AWS::SNS::Topic"
    assert topic["Condition"] == "CreateAlarmTopic"
    assert template["Conditions"]["CreateAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert topic["Properties"]["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]
    # CloudWatch cannot publish to a topic under the AWS managed key alias/aws/sns.
    assert "KmsMasterKeyId" not in topic["Properties"]
    # Nothing else subscribes, and nothing else in the stack is an SNS resource.
    sns = {name for name, r in resources.items() if r["Type"].startswith("AWS::SNS::")}
    assert sns == {"AlarmTopic"}


@pytest.mark.parametrize("value", ["", "ops@example.com", "first.last+s3@sub.example.co.uk"])
def test_alarm_email_pattern_accepts(template: dict[str, Any], value: str) -> None:
    assert re.fullmatch(template["Parameters"]["AlarmEmail"]["AllowedPattern"], value)


@pytest.mark.parametrize("value", ["ops", "ops@example", "ops @example.com", "a@b@example.com", " "])
def test_alarm_email_pattern_rejects(template: dict[str, Any], value: str) -> None:
    assert not re.fullmatch(template["Parameters"]["AlarmEmail"]["AllowedPattern"], value)


@pytest.mark.parametrize(
    "value", ["", TOPIC_ARN, "arn:aws-us-gov:sns:us-gov-west-1:123456789012:ops_alerts-2"]
)
def test_alarm_topic_arn_pattern_accepts(template: dict[str, Any], value: str) -> None:
    assert re.fullmatch(template["Parameters"]["AlarmTopicArn"]["AllowedPattern"], value)


@pytest.mark.parametrize(
    "value",
    [
        "on-call",  # a name, not an ARN
        "arn:aws:sqs:us-east-1:123456789012:on-call",
        "arn:aws:sns:us-east-1:123456789012:on-call.fifo",  # CloudWatch publishes to standard topics
        "arn:aws:sns:us-east-1:1234:on-call",
    ],
)
def test_alarm_topic_arn_pattern_rejects(template: dict[str, Any], value: str) -> None:
    assert not re.fullmatch(template["Parameters"]["AlarmTopicArn"]["AllowedPattern"], value)


# --------------------------------------------------------------- dashboard --

# (metric, the service that emits it) for every function metric on the dashboard.
DASHBOARD_FUNCTION_METRICS = {
    # throughput
    ("ObjectsCopied", "s3fanout-copier"),
    ("BytesCopied", "s3fanout-copier"),
    ("KeysListed", "s3fanout-lister"),
    ("KeysSkipped", "s3fanout-lister"),
    # failures; a message either handler refuses, drops or cannot read, from both
    ("KeysFailed", "s3fanout-copier"),
    ("CopyBatchesFailed", "s3fanout-copier"),
    ("ListTasksFailed", "s3fanout-lister"),
    ("RangesFailed", "s3fanout-lister"),
    *((metric, service) for metric in ("InvalidMessages", "MessagesRefused", "MessagesDropped") for service in ("s3fanout-lister", "s3fanout-copier")),
    # throttling (the copier's requests)
    ("KeysThrottled", "s3fanout-copier"),
    ("ThrottledAttempts", "s3fanout-copier"),
}
# (metric, queue) for every SQS metric on the dashboard.
DASHBOARD_QUEUE_METRICS = {
    *(
        (metric, f"<{queue}.QueueName>")
        for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible", "ApproximateAgeOfOldestMessage")
        for queue in QUEUE_DLQ
    ),
    *(("ApproximateNumberOfMessagesVisible", f"<{dlq}.QueueName>") for dlq in QUEUE_DLQ.values()),
}


def dashboard_widgets(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's widgets, its body substituted as CloudFormation would (queue names
    as "<Queue.QueueName>")."""
    body = Intrinsics(template, pseudo_parameters("my-stack")).resolve(template["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    assert isinstance(body, str)
    widgets: list[dict[str, Any]] = json.loads(body)["widgets"]
    return widgets


def test_dashboard(template: dict[str, Any], resources: dict[str, Any]) -> None:
    dashboard = resources["Dashboard"]
    assert dashboard["Type"] == "AWS::CloudWatch::Dashboard"
    assert "Condition" not in dashboard
    assert Intrinsics(template, pseudo_parameters("my-stack")).resolve(dashboard["Properties"]["DashboardName"]) == "my-stack"
    assert template["Outputs"]["DashboardName"]["Value"] == {"Ref": "Dashboard"}


def test_dashboard_body_names_the_metrics_and_the_queues(template: dict[str, Any], resources: dict[str, Any]) -> None:
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    services = {resources[f]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] for f in FUNCTION_ROLE_LOG_GROUP}
    function_metrics, queue_metrics = set(), set()
    for widget in dashboard_widgets(template):
        props = widget["properties"]
        assert widget["type"] == "metric"
        assert props["region"] == "us-east-1"
        assert props["period"] == 60
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24  # CloudWatch's grid
        for metric in props["metrics"]:
            if isinstance(metric[-1], dict):  # rendering options (label, axis)
                metric = metric[:-1]
            match metric:
                case [source, name, "service", service] if source == namespace:
                    # Powertools' one dimension: the function's POWERTOOLS_SERVICE_NAME.
                    assert service in services, metric
                    assert props["stat"] == "Sum", props["title"]
                    function_metrics.add((name, service))
                case ["AWS/SQS", name, "QueueName", queue]:
                    assert props["stat"] == "Maximum", props["title"]
                    queue_metrics.add((name, queue))
                case _:
                    raise AssertionError(f"unexpected metric {metric}")
    assert function_metrics == DASHBOARD_FUNCTION_METRICS
    assert queue_metrics == DASHBOARD_QUEUE_METRICS


# --------------------------------------------------- the transformed stack --

NAMED = {"SourceBucket": "src-bucket", "DestinationBucket": "dst-bucket"}


@functools.cache
def _translate(parameters: frozenset[tuple[str, str]]) -> dict[str, Any]:
    # The transform wants code in S3 (`sam package` puts it there); any location will do.
    packaged = with_code_location(load_template(), "artifacts", "code.zip")
    return sam_transform(packaged, dict(parameters))


def translate(**parameters: str) -> dict[str, Any]:
    """The template as SAM transforms it for these parameters (named buckets unless given)."""
    return copy.deepcopy(_translate(frozenset({**NAMED, **parameters}.items())))


def deployed_resources(**parameters: str) -> dict[str, Any]:
    """{logical id: resource with every intrinsic resolved} of what CloudFormation would
    create from the transformed template: resources whose Condition is false are left out.

    Resources resolve to placeholders: Ref -> "<Name>", GetAtt -> "<Name.Attr>".
    """
    values = {**NAMED, **parameters}
    cfn = translate(**values)
    intrinsics = Intrinsics(cfn, {**pseudo_parameters("s3-fanout"), **values})
    return {
        name: intrinsics.resolve(resource)
        for name, resource in cfn["Resources"].items()
        if "Condition" not in resource or intrinsics.condition(resource["Condition"])
    }


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def policy_statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every statement of every policy document anywhere in `node`."""
    if isinstance(node, dict):
        if isinstance(node.get("Statement"), list):
            yield from node["Statement"]
        for value in node.values():
            yield from policy_statements(value)
    elif isinstance(node, list):
        for item in node:
            yield from policy_statements(item)


# --------------------------------------------------------------------- IAM --

ROLES = ("ListObjectsFunctionRole", "CopyObjectsFunctionRole")
# Services whose grants must always name their resources.
SCOPED_SERVICES = ("s3:", "sqs:", "kms:", "logs:", "secretsmanager:", "dynamodb:")
OTHER_OWNERS = {"SourceBucketOwner": "111111111111", "DestinationBucketOwner": "222222222222"}
EVERYTHING = {
    "AllowDelete": "true",
    "AllowedPrefix": "logs/",
    "SourceKmsKeyArn": KMS_KEY_ARN,
    "DestinationKmsKeyArn": KMS_MRK_ARN,
    "ServerSideEncryption": "aws:kms",
    "SseKmsKeyId": COPY_KMS_KEY_ARN,
    "CopyAcl": "bucket-owner-full-control",
    "CopyObjectLock": "true",
    "CopyVersions": "true",
    "AlarmEmail": "ops@example.com",
    "ReportBucket": "report-bucket",
    "ReportPrefix": "jobs/reports/",
    "MoreDestinationBuckets": "dst-two,dst-three",
    "DestinationPrefix": "copies/",
    **OTHER_OWNERS,
}


def role_statements(**parameters: str) -> dict[str, list[dict[str, Any]]]:
    """{role: its resolved inline statements} of the deployed stack."""
    statements = {}
    for name, resource in deployed_resources(**parameters).items():
        if resource["Type"] == "AWS::IAM::Role":
            statements[name] = [s for p in resource["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    return statements


Grant = tuple[str, str, str | None]  # (action, resource, the account that must own an S3 resource)


def grants(statements: list[dict[str, Any]]) -> set[Grant]:
    found = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        owner = statement.get("Condition", {}).get("StringEquals", {}).get("s3:ResourceAccount")
        found |= {(a, r, owner) for a in as_list(statement["Action"]) for r in as_list(statement["Resource"])}
    return found


def expected_grants(
    *,
    prefix: str = "",
    delete: bool = False,
    kms: bool = False,
    report_prefix: str | None = None,
    source_owner: str = ACCOUNT_ID,
    dest_owner: str = ACCOUNT_ID,
    source: str = "src-bucket",
    dest: str = "dst-bucket",
    copy_kms: bool = False,
    acl: bool = False,
    object_lock: bool = False,
    source_secret: str | None = None,
    manifests: str | None = None,
    versions: bool = False,
    more: tuple[str, ...] = (),
    dest_prefix: str | None = None,
) -> dict[str, set[Grant]]:
    """Every grant of both roles; `report_prefix` is ReportPrefix with ReportBucket
    "report-bucket", None without a report bucket; `source_secret` is
    SourceCredentialsSecretArn (the source read with its keys, not as the roles); `more` are
    the buckets of MoreDestinationBuckets that get grants, `dest_prefix` is DestinationPrefix
    (None: destination keys under `prefix`, as they are)."""
    src, dst = f"arn:aws:s3:::{source}", f"arn:aws:s3:::{dest}"
    # Where destination keys are written (and listed, and deleted); the versions grants keep `prefix`.
    keys = prefix if dest_prefix is None else dest_prefix
    poll = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
    write_logs = ("logs:CreateLogStream", "logs:PutLogEvents")
    # Both functions record jobs: items of the table, not its index. TransactWriteItems
    # is authorised through the per-item actions.
    jobs: set[Grant] = {
        (a, "<JobTable.Arn>", None)
        for a in ("dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
    }
    # With a report bucket, whichever function ends a job writes its report under the
    # prefix, in a bucket of the stack's account, and reads both DLQs without deleting.
    reports: set[Grant] = set()
    if report_prefix is not None:
        reports = {
            ("s3:PutObject", f"arn:aws:s3:::report-bucket/{report_prefix}*", ACCOUNT_ID),
            *(
                (a, f"<{dlq}.Arn>", None)
                for a in ("sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes")
                for dlq in ("ListDeadLetterQueue", "CopyDeadLetterQueue")
            ),
        }
    lister: set[Grant] = {
        *jobs,
        *reports,
        # Lambda's SQS poller, on the function's own queue only.
        *((a, "<ListQueue.Arn>", None) for a in poll),
        ("sqs:SendMessage", "<ListQueue.Arn>", None),
        ("sqs:SendMessage", "<CopyQueue.Arn>", None),
        # How many copy batches wait: the lister spreads its own over that time (copyspread.py).
        ("sqs:GetQueueAttributes", "<CopyQueue.Arn>", None),
        # A malformed or refused list task goes to the list DLQ with its reason.
        ("sqs:SendMessage", "<ListDeadLetterQueue.Arn>", None),
        # The function's own log group (its streams), nothing else.
        *((a, f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:<ListObjectsLogGroup>:*", None) for a in write_logs),
        ("secretsmanager:GetSecretValue", "<MessageKeySecret>", None),
        ("s3:ListBucket", src, source_owner),
        # The lister compares by listing the destination over the same range.
        ("s3:ListBucket", dst, dest_owner),
    }
    if delete:
        lister |= {
            ("s3:DeleteObject", f"{dst}/{keys}*", dest_owner),
            # The delete pass confirms each orphan with a HeadObject on the source.
            ("s3:GetObject", f"{src}/{prefix}*", source_owner),
        }
    copier: set[Grant] = {
        *jobs,
        *reports,
        *((a, "<CopyQueue.Arn>", None) for a in poll),
        ("sqs:SendMessage", "<CopyQueue.Arn>", None),
        ("sqs:SendMessage", "<CopyDeadLetterQueue.Arn>", None),
        # The function's own log group (its streams), nothing else.
        *((a, f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:<CopyObjectsLogGroup>:*", None) for a in write_logs),
        ("secretsmanager:GetSecretValue", "<MessageKeySecret>", None),
        # The current version and its tags, never an older version.
        ("s3:GetObject", f"{src}/{prefix}*", source_owner),
        ("s3:GetObjectTagging", f"{src}/{prefix}*", source_owner),
        # So that a key deleted since the listing fails as NoSuchKey, not AccessDenied.
        ("s3:ListBucket", src, source_owner),
        ("s3:PutObject", f"{dst}/{keys}*", dest_owner),
        ("s3:PutObjectTagging", f"{dst}/{keys}*", dest_owner),
        ("s3:AbortMultipartUpload", f"{dst}/{keys}*", dest_owner),
        # A split multipart copy lists its parts to complete, and reads the object once completed.
        ("s3:ListMultipartUploadParts", f"{dst}/{keys}*", dest_owner),
        ("s3:GetObject", f"{dst}/{keys}*", dest_owner),
    }
    if kms:
        copier |= {
            ("kms:Decrypt", KMS_KEY_ARN, None),
            # A multipart upload needs both on the destination's key.
            ("kms:GenerateDataKey", KMS_MRK_ARN, None),
            ("kms:Decrypt", KMS_MRK_ARN, None),
        }
    # Copy options: CopyObject and CreateMultipartUpload with SSEKMSKeyId need both on its key.
    if copy_kms:
        copier |= {("kms:GenerateDataKey", COPY_KMS_KEY_ARN, None), ("kms:Decrypt", COPY_KMS_KEY_ARN, None)}
    if acl:
        copier |= {("s3:PutObjectAcl", f"{dst}/{keys}*", dest_owner)}
    if object_lock:
        copier |= {
            ("s3:GetObjectRetention", f"{src}/{prefix}*", source_owner),
            ("s3:GetObjectLegalHold", f"{src}/{prefix}*", source_owner),
            ("s3:PutObjectRetention", f"{dst}/{keys}*", dest_owner),
            ("s3:PutObjectLegalHold", f"{dst}/{keys}*", dest_owner),
        }
    if versions:
        # CopyVersions: the lister lists versions of both buckets and reads which source version
        # a destination version copies; the copier reads source versions and their tags, lists
        # versions of both buckets, reads destination versions and writes delete markers.
        lister |= {
            ("s3:ListBucketVersions", src, source_owner),
            ("s3:ListBucketVersions", dst, dest_owner),
            ("s3:GetObjectVersion", f"{dst}/{prefix}*", dest_owner),
        }
        copier |= {
            ("s3:GetObjectVersion", f"{src}/{prefix}*", source_owner),
            ("s3:GetObjectVersionTagging", f"{src}/{prefix}*", source_owner),
            ("s3:ListBucketVersions", src, source_owner),
            ("s3:ListBucketVersions", dst, dest_owner),
            ("s3:GetObjectVersion", f"{dst}/{prefix}*", dest_owner),
            # Delete markers only: DeleteObject without a version id; never s3:DeleteObjectVersion.
            ("s3:DeleteObject", f"{dst}/{prefix}*", dest_owner),
        }
    for bucket in more:
        # Each more destination gets what the destination gets, under the same prefix and owner;
        # never the versions grants.
        objects = f"arn:aws:s3:::{bucket}/{keys}*"
        lister.add(("s3:ListBucket", f"arn:aws:s3:::{bucket}", dest_owner))
        if delete:
            lister.add(("s3:DeleteObject", objects, dest_owner))
        writes = ["s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:GetObject"]
        writes += ["s3:PutObjectAcl"] if acl else []
        writes += ["s3:PutObjectRetention", "s3:PutObjectLegalHold"] if object_lock else []
        copier |= {(action, objects, dest_owner) for action in writes}
    if manifests is not None:
        # The lister reads manifests under ManifestBucket/ManifestPrefix, in this account only.
        lister |= {("s3:GetObject", f"arn:aws:s3:::{manifests}*", ACCOUNT_ID)}
    if source_secret is not None:
        # Both roles read the one secret; neither gets any grant on the source itself, which
        # the secret's keys read, nor on a KMS key of it.
        read_secret = ("secretsmanager:GetSecretValue", source_secret, None)
        lister = {grant for grant in lister if not grant[1].startswith(src)} | {read_secret}
        copier = {grant for grant in copier if not grant[1].startswith(src) and grant[1] != KMS_KEY_ARN} | {read_secret}
    return {"ListObjectsFunctionRole": lister, "CopyObjectsFunctionRole": copier}


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, expected_grants()),
        ({"AllowDelete": "true"}, expected_grants(delete=True)),
        ({"SourceKmsKeyArn": KMS_KEY_ARN, "DestinationKmsKeyArn": KMS_MRK_ARN}, expected_grants(kms=True)),
        # Copy options that need no grant: storage class, SSE without a key, checksum.
        ({"StorageClass": "GLACIER_IR", "ServerSideEncryption": "aws:kms", "ChecksumAlgorithm": "SHA256"}, expected_grants()),
        ({"ServerSideEncryption": "aws:kms", "SseKmsKeyId": COPY_KMS_KEY_ARN}, expected_grants(copy_kms=True)),
        ({"CopyAcl": "bucket-owner-full-control"}, expected_grants(acl=True)),
        ({"CopyObjectLock": "true"}, expected_grants(object_lock=True)),
        ({"CopyObjectLock": "true", "CopyAcl": "bucket-owner-full-control", "AllowedPrefix": "logs/", **OTHER_OWNERS}, expected_grants(
            object_lock=True, acl=True, prefix="logs/", source_owner="111111111111", dest_owner="222222222222"
        )),
        ({"AllowedPrefix": "logs/2026/"}, expected_grants(prefix="logs/2026/")),
        (
            {"AllowedPrefix": "logs/", "AllowDelete": "true"},
            expected_grants(prefix="logs/", delete=True),
        ),
        (OTHER_OWNERS, expected_grants(source_owner="111111111111", dest_owner="222222222222")),
        ({"ReportBucket": "report-bucket"}, expected_grants(report_prefix="s3fanout-reports/")),
        # The report prefix is the report's own; AllowedPrefix does not narrow it.
        ({"ReportBucket": "report-bucket", "ReportPrefix": "", "AllowedPrefix": "logs/"}, expected_grants(prefix="logs/", report_prefix="")),
        # A prefix without a bucket grants nothing.
        ({"ReportPrefix": "jobs/"}, expected_grants()),
        ({"ManifestBucket": "inventories", "ManifestPrefix": "reports/src-bucket/"}, expected_grants(manifests="inventories/reports/src-bucket/")),
        ({"ManifestBucket": "inventories"}, expected_grants(manifests="inventories/")),
        ({"CopyVersions": "true"}, expected_grants(versions=True)),
        ({"CopyVersions": "true", "AllowedPrefix": "logs/", **OTHER_OWNERS}, expected_grants(versions=True, prefix="logs/", source_owner="111111111111", dest_owner="222222222222")),
        ({"CopyVersions": "true", "SourceCredentialsSecretArn": SOURCE_SECRET_ARN}, expected_grants(versions=True, source_secret=SOURCE_SECRET_ARN)),
        ({"SourceEndpointUrl": "https://minio.example.com:9000", "SourceCredentialsSecretArn": SOURCE_SECRET_ARN}, expected_grants(source_secret=SOURCE_SECRET_ARN)),
        (
            {"SourceCredentialsSecretArn": SOURCE_SECRET_ARN, "AllowDelete": "true", "CopyObjectLock": "true", "SourceKmsKeyArn": KMS_KEY_ARN, "DestinationKmsKeyArn": KMS_MRK_ARN},
            expected_grants(source_secret=SOURCE_SECRET_ARN, delete=True, object_lock=True, kms=True),
        ),
        ({"MoreDestinationBuckets": "dst-two"}, expected_grants(more=("dst-two",))),
        ({"MoreDestinationBuckets": "dst-two,dst-three", "AllowDelete": "true"}, expected_grants(more=MORE, delete=True)),
        # Four slots: a 5th bucket gets no grant (and the functions and the CLI refuse it).
        (
            {"MoreDestinationBuckets": "dst-two,dst-three,dst-four,dst-five,dst-six"},
            expected_grants(more=("dst-two", "dst-three", "dst-four", "dst-five")),
        ),
        # The list naming DestinationBucket again grants nothing more.
        ({"MoreDestinationBuckets": "dst-bucket,dst-two"}, expected_grants(more=("dst-two",))),
        ({"DestinationPrefix": "copies/"}, expected_grants(dest_prefix="copies/")),
        # The source is read under AllowedPrefix; every destination is written under DestinationPrefix.
        (
            {"DestinationPrefix": "copies/", "AllowedPrefix": "logs/", "AllowDelete": "true", "MoreDestinationBuckets": "dst-two", **OTHER_OWNERS},
            expected_grants(dest_prefix="copies/", prefix="logs/", delete=True, more=("dst-two",), source_owner="111111111111", dest_owner="222222222222"),
        ),
        (
            {"MoreDestinationBuckets": "dst-two,dst-three", "CopyAcl": "bucket-owner-full-control", "CopyObjectLock": "true", "DestinationPrefix": "copies/"},
            expected_grants(more=MORE, acl=True, object_lock=True, dest_prefix="copies/"),
        ),
        # Versions stay DestinationBucket's, under AllowedPrefix.
        (
            {"MoreDestinationBuckets": "dst-two", "DestinationPrefix": "copies/", "CopyVersions": "true", "AllowedPrefix": "logs/"},
            expected_grants(more=("dst-two",), dest_prefix="copies/", versions=True, prefix="logs/"),
        ),
        (
            EVERYTHING,
            expected_grants(
                prefix="logs/",
                delete=True,
                kms=True,
                report_prefix="jobs/reports/",
                source_owner="111111111111",
                dest_owner="222222222222",
                copy_kms=True,
                acl=True,
                object_lock=True,
                versions=True,
                more=MORE,
                dest_prefix="copies/",
            ),
        ),
    ],
    ids=[
        "defaults",
        "delete",
        "kms",
        "copy-options-without-grants",
        "copy-kms-key",
        "copy-acl",
        "copy-object-lock",
        "copy-options-elsewhere",
        "prefix",
        "prefix-delete",
        "owners",
        "reports",
        "reports-empty-prefix",
        "no-report-bucket",
        "manifests",
        "manifests-anywhere-in-the-bucket",
        "versions",
        "versions-elsewhere",
        "versions-source-with-other-keys",
        "source-at-another-endpoint",
        "source-with-other-keys",
        "more-destinations",
        "more-destinations-delete",
        "more-than-four-destinations",
        "more-destinations-naming-the-destination",
        "destination-prefix",
        "destination-prefix-elsewhere",
        "more-destinations-copy-options",
        "more-destinations-versions",
        "everything",
    ],
)
def test_iam_grants_exactly_what_the_code_needs(parameters: dict[str, str], expected: dict[str, set[Grant]]) -> None:
    statements = role_statements(**parameters)
    assert set(statements) == set(ROLES)
    for role in ROLES:
        assert grants(statements[role]) == expected[role], role


DESTINATION_LISTINGS = {"ListDestinationBucket", "ListMoreDestinationBuckets"}


@pytest.mark.parametrize(
    "parameters",
    [{}, {"AllowedPrefix": "logs/"}, {"AllowedPrefix": "logs/", "DestinationPrefix": "copies/", "MoreDestinationBuckets": "dst-two"}, EVERYTHING],
    ids=["defaults", "prefix", "destination-prefix", "everything"],
)
def test_iam_conditions(parameters: dict[str, str]) -> None:
    """Every S3 grant requires the bucket's owner; listings stay under the prefix (a
    destination's under DestinationPrefix when set, its versions' under AllowedPrefix); KMS
    keys are usable through S3 only; nothing else carries a condition."""
    prefix = parameters.get("AllowedPrefix", "")
    keys = parameters.get("DestinationPrefix") or prefix
    for role, statements in role_statements(**parameters).items():
        for statement in statements:
            actions = as_list(statement["Action"])
            condition = statement.get("Condition")
            if actions in (["s3:ListBucket"], ["s3:ListBucketVersions"]):
                assert set(condition) == {"StringEquals", "StringLikeIfExists"}, (role, statement)
                # IfExists: S3 also checks ListBucket, without a prefix, to answer 404
                # rather than 403 for a missing key.
                listed = keys if statement["Sid"] in DESTINATION_LISTINGS else prefix
                assert condition["StringLikeIfExists"] == {"s3:prefix": f"{listed}*"}, (role, statement)
            elif actions[0].startswith("s3:"):
                assert set(condition) == {"StringEquals"}, (role, statement)
            elif actions[0].startswith("kms:"):
                assert condition == {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}, (role, statement)
            else:
                assert condition is None, (role, statement)
            if actions[0].startswith("s3:"):
                assert set(condition["StringEquals"]) == {"s3:ResourceAccount"}
            assert all(a.split(":")[0] == actions[0].split(":")[0] for a in actions), statement


@pytest.mark.parametrize("parameters", [{}, EVERYTHING], ids=["defaults", "everything"])
def test_no_managed_policy_and_no_wildcard_resource_with_named_buckets(parameters: dict[str, str]) -> None:
    """No statement anywhere in the stack (roles, queue policies, any policy) grants or
    denies an S3, SQS, KMS, Logs or Secrets Manager action on "*" or on any bucket."""
    resources = deployed_resources(**parameters)
    seen = 0
    for name, resource in resources.items():
        assert "ManagedPolicyArns" not in resource.get("Properties", {}), name
        assert resource["Type"] not in {"AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"}, name
        for statement in policy_statements(resource.get("Properties", {})):
            actions = as_list(statement["Action"])
            assert "*" not in actions, (name, statement)
            if not any(a.startswith(SCOPED_SERVICES) for a in actions):
                continue
            for resource_arn in as_list(statement["Resource"]):
                seen += 1
                assert resource_arn != "*", (name, statement)
                assert not resource_arn.startswith("arn:aws:s3:::*"), (name, statement)
                if resource_arn.startswith("arn:aws:s3:::"):
                    assert resource_arn.removeprefix("arn:aws:s3:::").split("/", 1)[0] in {"src-bucket", "dst-bucket", *MORE, "report-bucket"}
    assert seen > 20  # the walk found the statements


def test_only_a_stack_deployed_for_it_may_delete() -> None:
    for allow, expected in (("false", set()), ("true", {("s3:DeleteObject", "arn:aws:s3:::dst-bucket/*", ACCOUNT_ID)})):
        statements = role_statements(AllowDelete=allow)
        deletes = {g for role in statements.values() for g in grants(role) if "Delete" in g[0] and g[0].startswith("s3:")}
        assert deletes == expected, allow


def test_the_lister_never_decrypts() -> None:
    """Its one object request is a HeadObject, answered from metadata without KMS."""
    lister = grants(role_statements(**EVERYTHING)["ListObjectsFunctionRole"])
    assert not [g for g in lister if g[0].startswith("kms:")]


def test_dead_letters_are_read_for_reports_never_deleted() -> None:
    """The report reads a job's dead letters and leaves them for `seed dlq redrive`: no
    role may delete from a DLQ, and only a stack with a ReportBucket may receive from one."""
    dlqs = {f"<{dlq}.Arn>" for dlq in QUEUE_DLQ.values()}
    for parameters, may_receive in (({}, False), ({"ReportBucket": "report-bucket"}, True)):
        for role, statements in role_statements(**parameters).items():
            on_dlqs = {a for a, r, _ in grants(statements) if r in dlqs}
            expected = {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"} if may_receive else set()
            # Each function still sends to its own DLQ.
            assert on_dlqs - {"sqs:SendMessage"} == expected, (role, parameters)
    # The DLQs' policy restricts nothing the roles' grants allow for reading: only
    # requests without TLS and sends from other accounts are denied (test_queue_policy).


@pytest.mark.parametrize(("source", "destination"), [("*", "dst-bucket"), ("src-bucket", "*"), ("*", "*")])
@pytest.mark.parametrize("dest_prefix", ["", "copies/"])
def test_iam_wildcard_bucket_only_when_asked(source: str, destination: str, dest_prefix: str) -> None:
    statements = role_statements(SourceBucket=source, DestinationBucket=destination, DestinationPrefix=dest_prefix)
    found = {role: grants(s) for role, s in statements.items()}
    # The same grants as for named buckets, the "*" bucket in place of the name, and still
    # only in buckets of the stack's account.
    assert found == expected_grants(source=source, dest=destination, dest_prefix=dest_prefix or None)


# ---------------------------------------------------------- queue policies --

QUEUE_SENDERS = {
    "ListQueue": {"<ListObjectsFunctionRole.Arn>"},
    "CopyQueue": {"<ListObjectsFunctionRole.Arn>", "<CopyObjectsFunctionRole.Arn>"},
    "ListDeadLetterQueue": set(),
    "CopyDeadLetterQueue": set(),
}


def queue_policies(resources: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """{queue: the statements of its queue policy, for that queue}; one policy per queue."""
    found: dict[str, list[dict[str, Any]]] = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::SQS::QueuePolicy":
            continue
        props = resource["Properties"]
        for url in props["Queues"]:
            queue = url.strip("<>")
            assert queue not in found, f"{queue} has two queue policies: SQS keeps only one"
            arn = f"<{queue}.Arn>"
            found[queue] = [s for s in props["PolicyDocument"]["Statement"] if arn in as_list(s["Resource"])]
    return found


@pytest.mark.parametrize("queue", QUEUES)
def test_queue_policy(queue: str) -> None:
    statements = queue_policies(deployed_resources())[queue]
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid.pop("DenyWithoutTls") | {"Resource": None} == {
        "Sid": "DenyWithoutTls",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": None,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert by_sid.pop("DenySendFromOtherAccounts") | {"Resource": None} == {
        "Sid": "DenySendFromOtherAccounts",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:SendMessage",
        "Resource": None,
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT_ID}},
    }
    # What remains: the Allow for the functions that send to this queue, nothing else.
    allowed = {p for s in by_sid.values() for p in as_list(s["Principal"]["AWS"])}
    assert allowed == QUEUE_SENDERS[queue]
    for statement in by_sid.values():
        assert (statement["Effect"], statement["Action"], "Condition" in statement) == ("Allow", "sqs:SendMessage", False)


# ----------------------------------------------------------------- linters --

LINT_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    # Offline: any HTTP(S) call goes to a closed local port and fails at once.
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "",
}


def test_cfn_lint_including_informational_rules() -> None:
    """`sam validate --lint` runs cfn-lint's errors and warnings; this adds its
    informational rules (e.g. an explicit DeletionPolicy on stateful resources)."""
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), "--include-checks", "I", "--", str(TEMPLATE_PATH)],
        env=LINT_ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def run_checkov(path: Path) -> dict[str, Any]:
    """checkov's JSON report on one CloudFormation file. `./run checkov` runs it from a
    virtualenv of its own (its pins clash with aws-sam-cli's), set up on first use."""
    result = subprocess.run(
        [str(REPO_ROOT / "run"), "checkov", "--file", str(path), "--framework", "cloudformation", "--skip-download", "--output", "json"],
        env=LINT_ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    # Exit status 1 means failed checks, which the report lists; anything else is trouble.
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    return report


def findings(report: dict[str, Any], kind: str) -> set[tuple[str, str]]:
    """{(check id, logical id)} of the report's failed_checks or skipped_checks."""
    return {(c["check_id"], c["resource"].rsplit(".", 1)[1]) for c in report["results"][kind]}


@pytest.fixture(scope="module")
def checkov_template() -> dict[str, Any]:
    return run_checkov(TEMPLATE_PATH)


def test_checkov_template(checkov_template: dict[str, Any]) -> None:
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in checkov_template["results"]["failed_checks"]]
    assert failed == []
    # Every suppression is an inline `checkov:skip=ID:reason` comment with a reason, and
    # every such comment still suppresses a finding (none is left over from a fix).
    # checkov drops resources whose condition is false with the parameters' defaults: those of
    # Replication, whose suppressions test_checkov_resolved_stack holds to account.
    assert findings(checkov_template, "skipped_checks") == {(check, resource) for check, resource, _ in skip_comments() if resource not in REPLICATION_RESOURCES}
    assert all(len(reason.strip()) > 20 for _, _, reason in skip_comments())


def skip_comments() -> list[tuple[str, str, str]]:
    """(check id, logical id, reason) of every inline `checkov:skip=ID:reason` comment."""
    found, resource = [], ""
    for line in TEMPLATE_PATH.read_text().splitlines():
        if match := re.fullmatch(r"  (\w+):", line):
            resource = match[1]
        elif match := re.search(r"#\s*checkov:skip=(CKV\w+):(.*)", line):
            found.append((match[1], resource, match[2]))
    return found


def test_checkov_resolved_stack(checkov_template: dict[str, Any], tmp_path: Path) -> None:
    """checkov cannot judge a policy built with Fn::If (the roles' checks come out
    UNKNOWN on template.yaml), nor see what SAM generates: here it reads the stack as
    CloudFormation would create it, with every option on, and may only find what
    template.yaml suppresses, on the same resources."""
    resources = deployed_resources(**EVERYTHING, Replication="true")
    path = tmp_path / "resolved.json"
    path.write_text(json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}))
    report = run_checkov(path)
    assert findings(report, "failed_checks") <= {(check, resource) for check, resource, _ in skip_comments()}
    passed = findings(report, "passed_checks")
    for role in (*ROLES, "ReplicateEventsFunctionRole"):
        # cloudsplaining's checks: credentials exposure, data exfiltration, permissions
        # management, privilege escalation, write access without constraints.
        for check in ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111"):
            assert (check, role) in passed


PANDAS_LAYER = "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python312-Arm64:20"


@pytest.mark.parametrize("layer", ["", PANDAS_LAYER])
def test_a_pyarrow_layer_goes_to_the_lister_only(layer: str) -> None:
    resources = deployed_resources(PyarrowLayerArn=layer)
    powertools = resources["CopyObjectsFunction"]["Properties"]["Layers"]
    assert len(powertools) == 1
    assert resources["ListObjectsFunction"]["Properties"]["Layers"] == powertools + ([layer] if layer else [])


@pytest.mark.parametrize(("bucket", "prefix", "location"), [("", "", None), ("inventories", "", "s3://inventories/"), ("inventories", "daily/src/", "s3://inventories/daily/src/")])
def test_manifest_location(template: dict[str, Any], bucket: str, prefix: str, location: str | None) -> None:
    intrinsics = Intrinsics(template, {**pseudo_parameters("s3-fanout"), "ManifestBucket": bucket, "ManifestPrefix": prefix})
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert intrinsics.resolve(variables["MANIFEST_LOCATION"]) == (location or "")
    assert intrinsics.condition(template["Outputs"]["ManifestLocation"]["Condition"]) is (location is not None)


# ------------------------------------------------------------- replication --

REPLICATION_RESOURCES = {
    "EventQueue",
    "EventDeadLetterQueue",
    "EventQueuePolicy",
    "EventDeadLetterQueuePolicy",
    "ReplicateEventsLogGroup",
    "ReplicateEventsFunctionRole",
    "ReplicateEventsFunction",
    "ReplicationLagAlarm",
    "EventDeadLetterQueueAlarm",
}


def test_replication_resources_only_under_its_condition(resources: dict[str, Any]) -> None:
    assert {name for name, r in resources.items() if r.get("Condition") == "ReplicationEnabled"} == REPLICATION_RESOURCES
    assert not REPLICATION_RESOURCES & set(deployed_resources())
    assert set(deployed_resources(Replication="true")) >= REPLICATION_RESOURCES


def test_replicator_function(resources: dict[str, Any], template: dict[str, Any]) -> None:
    props = resources["ReplicateEventsFunction"]["Properties"]
    assert props["Handler"] == "replicate_events.app.lambda_handler"
    assert (props["Timeout"], props["MemorySize"]) == (300, 512)
    assert props["Role"] == {"Fn::GetAtt": ["ReplicateEventsFunctionRole", "Arn"]}
    assert "Policies" not in props and "RecursiveLoop" not in props
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": "ReplicateEventsLogGroup"}}
    assert props["Environment"]["Variables"] == {"POWERTOOLS_SERVICE_NAME": "s3fanout-replicator", "EVENT_DLQ_URL": {"Ref": "EventDeadLetterQueue"}}
    source = (REPO_ROOT / "src" / "replicate_events" / "app.py").read_text()
    assert re.search(r"^def lambda_handler\(", source, re.MULTILINE)
    log_group = resources["ReplicateEventsLogGroup"]["Properties"]
    assert Intrinsics(template, pseudo_parameters("my-stack")).resolve(log_group["LogGroupName"]) == "/aws/lambda/my-stack-replicate-events"
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_sam_gives_the_replicator_an_event_source_only_under_its_condition() -> None:
    translated = translate(Replication="true")["Resources"]
    mappings = {name: r for name, r in translated.items() if r["Type"] == "AWS::Lambda::EventSourceMapping" and "EventQueue" in json.dumps(r)}
    [mapping] = mappings.values()
    assert mapping["Condition"] == "ReplicationEnabled"
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def replicator_grants(*, prefix: str = "", delete: bool = False, source_owner: str = ACCOUNT_ID, dest_owner: str = ACCOUNT_ID) -> set[Grant]:
    src, dst = "arn:aws:s3:::src-bucket", "arn:aws:s3:::dst-bucket"
    expected: set[Grant] = {
        *((a, "<EventQueue.Arn>", None) for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")),
        # A permanent failure on the last delivery goes to the DLQ with its reason.
        ("sqs:SendMessage", "<EventDeadLetterQueue.Arn>", None),
        *((a, f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:<ReplicateEventsLogGroup>:*", None) for a in ("logs:CreateLogStream", "logs:PutLogEvents")),
        # HeadObject and the tags a copy carries; ListBucket so that a deleted key answers 404.
        ("s3:GetObject", f"{src}/{prefix}*", source_owner),
        ("s3:GetObjectTagging", f"{src}/{prefix}*", source_owner),
        ("s3:ListBucket", src, source_owner),
        # CopyObject with its tags; an object above 5 GiB goes through the multipart path.
        ("s3:PutObject", f"{dst}/{prefix}*", dest_owner),
        ("s3:PutObjectTagging", f"{dst}/{prefix}*", dest_owner),
        ("s3:AbortMultipartUpload", f"{dst}/{prefix}*", dest_owner),
    }
    if delete:
        expected.add(("s3:DeleteObject", f"{dst}/{prefix}*", dest_owner))
    return expected


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, replicator_grants()),
        ({"AllowDelete": "true"}, replicator_grants(delete=True)),
        (
            {"AllowDelete": "true", "AllowedPrefix": "logs/", **OTHER_OWNERS},
            replicator_grants(prefix="logs/", delete=True, source_owner="111111111111", dest_owner="222222222222"),
        ),
        # The copy options and KMS keys change nothing of it (apply copies plainly).
        ({**EVERYTHING, "Replication": "true"}, replicator_grants(prefix="logs/", delete=True, source_owner="111111111111", dest_owner="222222222222")),
    ],
    ids=["defaults", "delete", "prefix-owners", "everything"],
)
def test_replicator_grants_exactly_what_apply_needs(parameters: dict[str, str], expected: set[Grant]) -> None:
    statements = role_statements(**{**parameters, "Replication": "true"})
    assert set(statements) == {*ROLES, "ReplicateEventsFunctionRole"}
    assert grants(statements["ReplicateEventsFunctionRole"]) == expected
    # The other roles are those of a stack without replication.
    without = role_statements(**{**parameters, "Replication": "false"})
    for role in ROLES:
        assert grants(statements[role]) == grants(without[role]), role


@pytest.mark.parametrize("parameters", [{}, {"AllowedPrefix": "logs/", "AllowDelete": "true"}], ids=["defaults", "prefix-delete"])
def test_replicator_iam_conditions(parameters: dict[str, str]) -> None:
    prefix = parameters.get("AllowedPrefix", "")
    for statement in role_statements(**parameters, Replication="true")["ReplicateEventsFunctionRole"]:
        actions = as_list(statement["Action"])
        condition = statement.get("Condition")
        if actions == ["s3:ListBucket"]:
            assert condition["StringLikeIfExists"] == {"s3:prefix": f"{prefix}*"}
            assert set(condition) == {"StringEquals", "StringLikeIfExists"}
        elif actions[0].startswith("s3:"):
            assert set(condition) == {"StringEquals"}
        else:
            assert condition is None, statement
        if actions[0].startswith("s3:"):
            assert set(condition["StringEquals"]) == {"s3:ResourceAccount"}


@pytest.mark.parametrize(("owner", "account"), [("", ACCOUNT_ID), ("111111111111", "111111111111")])
def test_only_the_source_buckets_s3_may_send_events(owner: str, account: str) -> None:
    resources = deployed_resources(Replication="true", SourceBucketOwner=owner)
    policies = queue_policies(resources)
    by_sid = {s["Sid"]: s for s in policies["EventQueue"]}
    assert set(by_sid) == {"DenyWithoutTls", "AllowTheSourceBucketsEvents"}
    assert by_sid["AllowTheSourceBucketsEvents"] == {
        "Sid": "AllowTheSourceBucketsEvents",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": "<EventQueue.Arn>",
        "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::src-bucket"}, "StringEquals": {"aws:SourceAccount": account}},
    }
    # Nobody but the account sends to the DLQ (the replicator gives up on events there).
    assert {s["Sid"] for s in policies["EventDeadLetterQueue"]} == {"DenyWithoutTls", "DenySendFromOtherAccounts"}


def test_replication_alarms(resources: dict[str, Any], template: dict[str, Any]) -> None:
    lag = resources["ReplicationLagAlarm"]["Properties"]
    assert (lag["Namespace"], lag["MetricName"], lag["Statistic"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum")
    assert lag["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["EventQueue", "QueueName"]}}]
    assert lag["Threshold"] == {"Ref": "ReplicationLagAlarmSeconds"}
    assert (lag["ComparisonOperator"], lag["TreatMissingData"]) == ("GreaterThanOrEqualToThreshold", "notBreaching")
    dlq = resources["EventDeadLetterQueueAlarm"]["Properties"]
    assert (dlq["MetricName"], dlq["Threshold"], dlq["Statistic"]) == ("ApproximateNumberOfMessagesVisible", 1, "Maximum")
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["EventDeadLetterQueue", "QueueName"]}}]
    # Notifying like the DLQ alarms.
    for props in (lag, dlq):
        assert props["AlarmActions"] == resources["CopyDeadLetterQueueAlarm"]["Properties"]["AlarmActions"]
        assert props["OKActions"] == resources["CopyDeadLetterQueueAlarm"]["Properties"]["OKActions"]
    intrinsics = Intrinsics(template, {**pseudo_parameters("my-stack"), "SourceBucket": "src", "DestinationBucket": "dst"})
    for props in (lag, dlq):
        description = intrinsics.resolve(props["AlarmDescription"])
        assert "python -m seed replicate status --stack-name my-stack --region us-east-1" in description
        assert len(description) <= 1024
    assert intrinsics.resolve(lag["AlarmName"]) == "my-stack-replication-lag"
    parameter = template["Parameters"]["ReplicationLagAlarmSeconds"]
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 900, 60)


@pytest.mark.parametrize(("replication", "present"), [("false", False), ("true", True)])
def test_event_queue_outputs_only_with_replication(template: dict[str, Any], replication: str, present: bool) -> None:
    intrinsics = Intrinsics(template, {**pseudo_parameters("s3-fanout"), "Replication": replication})
    for name in ("EventQueueArn", "EventQueueUrl", "EventDeadLetterQueueUrl"):
        assert intrinsics.condition(template["Outputs"][name]["Condition"]) is present
    assert template["Outputs"]["EventQueueArn"]["Value"] == {"Fn::GetAtt": ["EventQueue", "Arn"]}
