"""template.yaml: `sam validate --lint`, an offline `sam build`, and the design rules.

The static checks read the template with aws-sam-translator's YAML loader, which turns
!Ref / !GetAtt / !Sub into {"Ref": ...} / {"Fn::GetAtt": [...]} / {"Fn::Sub": ...}.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.moto_stack import (
    CONDITIONAL_OUTPUTS,
    EXPECTED_OUTPUTS,
    REPO_ROOT,
    TEMPLATE_PATH,
    Intrinsics,
    load_template,
    pseudo_parameters,
    sam_transform,
    with_code_location,
)
from samtranslator.yaml_helper import yaml_parse

SAM = Path(sys.executable).with_name("sam")

QUEUE_DLQ = {"ListQueue": "ListDeadLetterQueue", "CopyQueue": "CopyDeadLetterQueue"}
DLQ_ALARM = {"ListDeadLetterQueue": "ListDeadLetterQueueAlarm", "CopyDeadLetterQueue": "CopyDeadLetterQueueAlarm"}
QUEUES = [*QUEUE_DLQ, *QUEUE_DLQ.values()]
FOURTEEN_DAYS = 14 * 24 * 3600


EXPECTED_PARAMETER_DEFAULTS = {
    "SourceBucket": None,
    "DestinationBucket": None,
    "PowertoolsLayerVersion": 38,
    "MaxReceiveCount": 5,
    "ListMaxConcurrency": 50,
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
    [("ListObjectsFunction", "list_objects"), ("CopyObjectsFunction", "copy_objects")],
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
    for function in ("ListObjectsFunction", "CopyObjectsFunction"):
        assert built["Resources"][function]["Properties"]["CodeUri"] == function


def test_requirements_list_no_packages() -> None:
    lines = (REPO_ROOT / "src" / "requirements.txt").read_text().splitlines()
    packages = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert packages == []


# ------------------------------------------------------------------ queues --


@pytest.mark.parametrize(("queue", "dlq"), QUEUE_DLQ.items())
def test_main_queue_redrives_to_its_dlq(resources: dict[str, Any], queue: str, dlq: str) -> None:
    redrive = resources[queue]["Properties"]["RedrivePolicy"]
    assert redrive == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }


@pytest.mark.parametrize("queue", QUEUES)
def test_queues_are_encrypted(resources: dict[str, Any], queue: str) -> None:
    assert resources[queue]["Type"] == "AWS::SQS::Queue"
    assert resources[queue]["Properties"]["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize(("queue", "dlq"), QUEUE_DLQ.items())
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
    assert consumers == {("ListObjectsFunction", "ListQueue"), ("CopyObjectsFunction", "CopyQueue")}


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
    }


def test_functions(resources: dict[str, Any]) -> None:
    lister = resources["ListObjectsFunction"]["Properties"]
    assert lister["Handler"] == "list_objects.app.lambda_handler"
    assert (lister["Timeout"], lister["MemorySize"]) == (900, 512)
    assert lister["Environment"]["Variables"] == {
        "POWERTOOLS_SERVICE_NAME": "s3fanout-lister",
        "LIST_QUEUE_URL": {"Ref": "ListQueue"},
        "COPY_QUEUE_URL": {"Ref": "CopyQueue"},
        # Malformed list tasks go to the list DLQ with their reason.
        "LIST_DLQ_URL": {"Ref": "ListDeadLetterQueue"},
    }
    copier = resources["CopyObjectsFunction"]["Properties"]
    assert copier["Handler"] == "copy_objects.app.lambda_handler"
    assert (copier["Timeout"], copier["MemorySize"]) == (300, 1024)
    assert copier["Environment"]["Variables"] == {
        "POWERTOOLS_SERVICE_NAME": "s3fanout-copier",
        "COPY_QUEUE_URL": {"Ref": "CopyQueue"},
        "COPY_DLQ_URL": {"Ref": "CopyDeadLetterQueue"},
        "COPY_CONCURRENCY": {"Ref": "CopyConcurrency"},
        "COPY_MAX_ATTEMPTS": {"Ref": "CopyMaxAttempts"},
    }


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


# --------------------------------------------------------------------- IAM --


def role_statements(source: str, destination: str, allow_delete: str = "false") -> dict[str, list[dict[str, Any]]]:
    """{role: resolved inline statements} of the template as SAM transforms it.

    Resources resolve to placeholders: Ref -> "<Name>", GetAtt -> "<Name.Attr>".
    """
    # The transform wants code in S3 (`sam package` puts it there); any location will do.
    packaged = with_code_location(load_template(), "artifacts", "code.zip")
    parameters = {"SourceBucket": source, "DestinationBucket": destination, "AllowDelete": allow_delete}
    cfn = sam_transform(packaged, parameters)
    intrinsics = Intrinsics(cfn, {**pseudo_parameters("s3-fanout"), **parameters})
    statements: dict[str, list[dict[str, Any]]] = {}
    for name, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        props = intrinsics.resolve(resource["Properties"])
        # Only AWS's own execution-role policies are attached: logs, and the SQS poller.
        assert set(props.get("ManagedPolicyArns", [])) <= {
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
        }
        statements[name] = [s for p in props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    return statements


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_iam_with_named_buckets_has_no_wildcard_resource() -> None:
    statements = role_statements("src-bucket", "dst-bucket")
    assert set(statements) == {"ListObjectsFunctionRole", "CopyObjectsFunctionRole"}
    for role, role_statements_ in statements.items():
        for statement in role_statements_:
            assert statement["Effect"] == "Allow"
            for resource in as_list(statement["Resource"]):
                assert resource != "*", (role, statement)
                if resource.startswith("arn:aws:s3:::"):
                    bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
                    assert bucket in {"src-bucket", "dst-bucket"}, (role, statement)
                    assert "*" not in bucket


def grants(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(a, r) for s in statements for a in as_list(s["Action"]) for r in as_list(s["Resource"])}


def test_iam_least_privilege_with_named_buckets() -> None:
    statements = role_statements("src-bucket", "dst-bucket")
    assert grants(statements["ListObjectsFunctionRole"]) == {
        ("s3:ListBucket", "arn:aws:s3:::src-bucket"),
        # The lister compares by listing the destination over the same range.
        ("s3:ListBucket", "arn:aws:s3:::dst-bucket"),
        ("sqs:SendMessage", "<ListQueue.Arn>"),
        ("sqs:SendMessage", "<CopyQueue.Arn>"),
        # A malformed list task goes to the list DLQ with its reason.
        ("sqs:SendMessage", "<ListDeadLetterQueue.Arn>"),
    }
    source_reads = {"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"}
    destination_writes = {"s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"}
    # A split multipart copy lists its parts to complete, and reads the object once completed.
    destination_finish = {"s3:ListMultipartUploadParts", "s3:GetObject"}
    assert grants(statements["CopyObjectsFunctionRole"]) == {
        *((a, "arn:aws:s3:::src-bucket/*") for a in source_reads),
        *((a, "arn:aws:s3:::dst-bucket/*") for a in destination_writes | destination_finish),
        ("sqs:SendMessage", "<CopyQueue.Arn>"),
        ("sqs:SendMessage", "<CopyDeadLetterQueue.Arn>"),
    }


def test_only_a_stack_deployed_for_it_may_delete() -> None:
    for allow, expected in (("false", set()), ("true", {("s3:DeleteObject", "arn:aws:s3:::dst-bucket/*")})):
        statements = role_statements("src-bucket", "dst-bucket", allow)
        deletes = {(a, r) for role in statements.values() for a, r in grants(role) if "Delete" in a}
        assert deletes == expected, allow


@pytest.mark.parametrize(("source", "destination"), [("*", "dst-bucket"), ("src-bucket", "*"), ("*", "*")])
def test_iam_wildcard_bucket_only_when_asked(source: str, destination: str) -> None:
    statements = role_statements(source, destination)
    lister = grants(statements["ListObjectsFunctionRole"])
    copier = grants(statements["CopyObjectsFunctionRole"])
    assert ("s3:ListBucket", f"arn:aws:s3:::{source}") in lister
    assert ("s3:GetObject", f"arn:aws:s3:::{source}/*") in copier
    assert ("s3:PutObject", f"arn:aws:s3:::{destination}/*") in copier
    s3_buckets = {r.removeprefix("arn:aws:s3:::").split("/")[0] for _, r in lister | copier if ":s3:::" in r}
    assert s3_buckets == {source, destination}
