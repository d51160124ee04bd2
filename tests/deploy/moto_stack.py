"""Deploy template.yaml to a moto server, offline: no AWS account, no Docker, no network.

`sam deploy` needs a real account (it calls the CloudFormation transform and uploads
to S3), so this does what it does by hand against a moto server:

1. on request, refuse parameters the template's Rules refuse, as CloudFormation does
   (`check_rules`);
2. transform the SAM template into plain CloudFormation with aws-sam-translator,
   locally (the transform AWS would run server-side);
3. point both functions at a tiny placeholder zip uploaded to the moto server, as
   `sam package` would point them at the built code (moto never runs them here);
4. set aside what moto cannot host (see `_fit_for_moto`) and create its secrets through
   moto's Secrets Manager API;
5. create the stack through moto's CloudFormation, then create the CloudWatch alarms
   and SQS queue policies it cannot create through moto's CloudWatch and SQS APIs,
   with their intrinsics resolved against the stack (see `Intrinsics`), give the
   DynamoDB tables the time to live and point-in-time recovery its CloudFormation
   ignores (see `_complete_tables`), and return the stack's outputs.
"""

from __future__ import annotations

import copy
import io
import json
import re
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
# Every output the template promises; the CLI reads the queue URLs, the bucket parameters,
# the message key's secret and (`seed policy`) the functions' role ARNs.
EXPECTED_OUTPUTS = {
    "ListQueueUrl",
    "ListQueueArn",
    "CopyQueueUrl",
    "CopyQueueArn",
    "ListDeadLetterQueueUrl",
    "ListDeadLetterQueueArn",
    "CopyDeadLetterQueueUrl",
    "CopyDeadLetterQueueArn",
    "ListDeadLetterQueueAlarmName",
    "CopyDeadLetterQueueAlarmName",
    "SourceBucket",
    "DestinationBucket",
    # The other destinations' buckets: empty without MoreDestinationBuckets.
    "MoreDestinations",
    "DeleteAllowed",
    "VersionsAllowed",
    "SourceBucketOwner",
    "DestinationBucketOwner",
    "ListObjectsFunctionRoleArn",
    "CopyObjectsFunctionRoleArn",
    "MessageKeySecretArn",
    "JobTableName",
    "DashboardName",
}
# Outputs that exist only under a condition: {output: the template's condition}.
CONDITIONAL_OUTPUTS = {
    "AlarmTopicArn": "NotifyOnAlarm",
    "AllowedPrefix": "RestrictedToPrefix",
    "DestinationPrefix": "HasDestinationPrefix",
    "ReportBucket": "HasReportBucket",
    "ReportPrefix": "HasReportBucket",
    "SourceEndpointUrl": "SourceReadWithSecret",
    "SourceCredentialsSecretArn": "SourceReadWithSecret",
    "ManifestLocation": "ReadsManifests",
    "EventQueueArn": "ReplicationEnabled",
    "EventQueueUrl": "ReplicationEnabled",
    "EventDeadLetterQueueUrl": "ReplicationEnabled",
}

# Dummy credentials: moto accepts anything, and boto3 must never find real ones.
FAKE_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


def client(service: str, endpoint_url: str) -> Any:
    """A boto3 client bound to the moto server, whatever the caller's environment."""
    return boto3.session.Session(region_name=REGION, **FAKE_CREDENTIALS).client(
        service, endpoint_url=endpoint_url
    )


# --------------------------------------------------------------- the stack --


class _OfflinePolicyLoader:
    """aws-sam-translator asks this for the name -> ARN map of AWS managed policies,
    and only when a function's Policies name one (ours name none: each function has a
    role of the template's own). The real loader calls IAM."""

    def load(self) -> dict[str, str]:
        return {}


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The SAM template as plain dicts, with !Ref/!GetAtt/!Sub as {"Ref": ...} etc."""
    # A JSON round trip leaves plain dicts, lists and strings only.
    return json.loads(json.dumps(yaml_parse(path.read_text())))


def sam_transform(
    sam_template: dict[str, Any], parameters: dict[str, str], region: str = REGION
) -> dict[str, Any]:
    """What the AWS::Serverless-2016-10-31 transform produces, computed offline.

    This is `samtranslator.translator.transform.transform` with one change: that
    function builds its Translator without a boto3 session, and the translator then
    wants a region from the environment. A session with an explicit region makes the
    result independent of the caller's AWS config.
    """
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        boto_session=boto3.session.Session(region_name=region, **FAKE_CREDENTIALS),
    )
    loader = _OfflinePolicyLoader()
    cfn_template = translator.translate(
        copy.deepcopy(sam_template),
        parameter_values=dict(parameters),
        get_managed_policy_map=loader.load,
    )
    # The translator times itself into a Metrics object with a no-op publisher; flush
    # it, or it logs "There are unpublished metrics" when garbage-collected.
    translator.metrics.publish()
    return cfn_template


# ------------------------------------------------------------- intrinsics --


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


# The value of AWS::NoValue: a key or list item that resolves to it is left out.
NO_VALUE = _NoValue()


def pseudo_parameters(stack_name: str, region: str = REGION) -> dict[str, str]:
    return {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


@dataclass
class Intrinsics:
    """Evaluates the intrinsic functions the (transformed) template uses, CloudFormation style.

    Parameters resolve to their given values, else their defaults (a CommaDelimitedList to
    its list of names: "" to [""], as CloudFormation splits it); `ref_resource(name)` and
    `get_att(name, attribute)` answer for resources. Fn::Join, Fn::Split, Fn::Select and
    both forms of Fn::Sub resolve as CloudFormation resolves them; anything else
    (Fn::FindInMap, ...) fails loudly instead of guessing.
    """

    template: dict[str, Any]
    parameters: Mapping[str, str]
    ref_resource: Callable[[str], Any] = lambda name: f"<{name}>"
    get_att: Callable[[str, str], Any] = lambda name, attribute: f"<{name}.{attribute}>"
    _conditions: dict[str, bool] = field(default_factory=dict)

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        declared = self.template.get("Parameters", {}).get(name)
        if name in self.parameters:
            value: Any = self.parameters[name]
        elif declared is not None:
            assert "Default" in declared, f"parameter {name} has no value and no default"
            value = str(declared["Default"])
        else:
            assert name in self.template["Resources"], f"Ref to unknown {name}"
            return self.ref_resource(name)
        if declared is not None and declared.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            return value.split(",")
        return value

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = self._test(self.template["Conditions"][name])
        return self._conditions[name]

    def holds(self, expression: Any) -> bool:
        """The value of a condition expression (Fn::Equals, Fn::Not, Fn::Or, Fn::And,
        Condition), as in Conditions and in Rules."""
        return self._test(expression)

    def _test(self, expression: Any) -> bool:
        ((key, value),) = expression.items()
        if key == "Condition":
            return self.condition(value)
        if key == "Fn::Equals":
            left, right = (self.resolve(v) for v in value)
            return bool(left == right)
        if key == "Fn::Not":
            (inner,) = value
            return not self._test(inner)
        if key == "Fn::Or":
            return any(self._test(v) for v in value)
        if key == "Fn::And":
            return all(self._test(v) for v in value)
        # Rules only: a list parameter against one value.
        if key == "Fn::Contains":
            names, wanted = (self.resolve(v) for v in value)
            return wanted in names
        if key == "Fn::EachMemberEquals":
            names, wanted = (self.resolve(v) for v in value)
            return all(name == wanted for name in names)
        raise AssertionError(f"unexpected condition function {key}")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                name, attribute = value.split(".", 1) if isinstance(value, str) else value
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else value
                names = {name: self.resolve(node) for name, node in variables.items()}
                return re.sub(
                    r"\$\{([^}!]+)\}",
                    lambda m: str(names[m[1]] if m[1] in names else self.resolve({"Fn::GetAtt": m[1]} if "." in m[1] else {"Ref": m[1]})),
                    text,
                )
            if key == "Fn::Join":
                delimiter, items = value
                assert isinstance(delimiter, str), "Fn::Join takes a literal delimiter"
                return delimiter.join(str(item) for item in self.resolve(items))
            if key == "Fn::Split":
                delimiter, text = value
                assert isinstance(delimiter, str), "Fn::Split takes a literal delimiter"
                return str(self.resolve(text)).split(delimiter)
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::If":
                condition, if_true, if_false = value
                return self.resolve(if_true if self.condition(condition) else if_false)
            assert not key.startswith("Fn::"), f"unexpected intrinsic {key}"
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}


# ------------------------------------------------------------------ rules --


class RuleViolation(ValueError):
    """Parameters the template's Rules refuse; CloudFormation answers a ValidationError."""


def check_rules(template: dict[str, Any], parameters: Mapping[str, str], stack_name: str = "s3-fanout") -> None:
    """Raise RuleViolation with the AssertDescription of the first failed assertion of a
    rule whose RuleCondition holds, as CloudFormation does before creating anything."""
    intrinsics = Intrinsics(template, {**pseudo_parameters(stack_name), **parameters})
    for name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not intrinsics.holds(rule["RuleCondition"]):
            continue
        for assertion in rule["Assertions"]:
            if not intrinsics.holds(assertion["Assert"]):
                raise RuleViolation(f"{name}: {assertion.get('AssertDescription', 'assertion failed')}")


# -------------------------------------------------------------- deploying --


def placeholder_zip() -> bytes:
    """A minimal deployment package. moto stores it and never runs it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for handler in ("list_objects", "copy_objects"):
            zf.writestr(f"{handler}/__init__.py", "")
            zf.writestr(f"{handler}/app.py", "def lambda_handler(event, context):\n    return {}\n")
    return buf.getvalue()


def with_code_location(sam_template: dict[str, Any], bucket: str, key: str) -> dict[str, Any]:
    """Replace CodeUri (Globals and per function) with an S3 location, as `sam package` does."""
    tpl = copy.deepcopy(sam_template)
    location = {"Bucket": bucket, "Key": key}
    globals_function = tpl.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_function:
        globals_function["CodeUri"] = location
    for resource in tpl["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = location
    return tpl


# Resource types moto's CloudFormation cannot create, which `deploy_stack` creates through
# moto's service APIs instead, as CloudFormation would.
SET_ASIDE_TYPES = ("AWS::CloudWatch::Alarm", "AWS::SQS::QueuePolicy", "AWS::SecretsManager::Secret")


def _fit_for_moto(cfn_template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split the transformed template into what moto's CloudFormation can create, and
    {logical id: resource} of what it cannot (SET_ASIDE_TYPES), which `deploy_stack`
    creates through the service APIs: secrets before the stack, the rest after it."""
    tpl = copy.deepcopy(cfn_template)
    resources = tpl["Resources"]
    # moto's CloudFormation has no AWS::CloudWatch::Alarm, AWS::SQS::QueuePolicy or
    # AWS::SecretsManager::Secret: it would skip them with a warning and leave nothing
    # to check (and a Ref to a skipped secret would vanish from the functions'
    # environment and the outputs). Its CloudWatch, SQS and Secrets Manager APIs have
    # put_metric_alarm, set_queue_attributes(Policy) and create_secret, so these come
    # out of the template here and are created with the same properties, resolved
    # against the stack. An output's Ref to an alarm (the alarm's name) becomes the
    # alarm's AlarmName expression, which is what CloudFormation would return for
    # that Ref; a Ref to a secret (its ARN) is filled in by `_create_secrets`.
    set_aside = {n: r for n, r in resources.items() if r["Type"] in SET_ASIDE_TYPES}
    for name in set_aside:
        del resources[name]
    alarms = {n for n, r in set_aside.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    for output_name, output in tpl.get("Outputs", {}).items():
        value = output["Value"]
        if isinstance(value, dict) and value.get("Ref") in alarms:
            alarm_name = set_aside[value["Ref"]]["Properties"].get("AlarmName")
            assert alarm_name is not None, f"{value['Ref']} needs an AlarmName for {output_name} on moto"
            output["Value"] = alarm_name
        assert not any(f'"{a}"' in json.dumps(output["Value"]) for a in alarms), (
            f"output {output_name} uses an alarm other than by Ref: moto_stack cannot reproduce it"
        )
    for name in [n for n, r in resources.items() if r["Type"] == "AWS::Lambda::EventSourceMapping"]:
        # A moto event source mapping polls its queue and invokes the function in a
        # Docker container, which this machine lacks (and the placeholder code would
        # do nothing). In the e2e tests local workers play the event source's role.
        del resources[name]
    for resource in resources.values():
        if resource["Type"] == "AWS::Lambda::Function":
            # The Powertools layer lives in AWS's account 017000801446; moto only knows
            # layers published to it and rejects the function otherwise.
            resource["Properties"].pop("Layers", None)
    return tpl, set_aside


def _replace_refs(node: Any, values: Mapping[str, str]) -> Any:
    """`node` with every {"Ref": name} of `values` replaced by its value."""
    if isinstance(node, list):
        return [_replace_refs(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in values:
        return values[node["Ref"]]
    return {k: _replace_refs(v, values) for k, v in node.items()}


def _create_secrets(
    endpoint_url: str, stack_name: str, fit_template: dict[str, Any], parameters: dict[str, str], set_aside: dict[str, Any]
) -> dict[str, Any]:
    """Create the set-aside secrets before the stack, as CloudFormation would create them
    before what refers to them, and return `fit_template` with every Ref to one replaced
    by the secret's ARN (the value of Ref for an AWS::SecretsManager::Secret).

    A generated secret string comes from GetRandomPassword, whose parameters are those
    of GenerateSecretString. The secret is not a stack resource on moto: deleting the
    stack leaves it.
    """
    secretsmanager = client("secretsmanager", endpoint_url)
    intrinsics = Intrinsics(fit_template, {**pseudo_parameters(stack_name), **parameters})
    arns = {}
    for name, secret in set_aside.items():
        if secret["Type"] != "AWS::SecretsManager::Secret":
            continue
        if "Condition" in secret and not intrinsics.condition(secret["Condition"]):
            continue
        props = intrinsics.resolve(secret["Properties"])
        generate = dict(props.pop("GenerateSecretString"))
        assert not {"SecretStringTemplate", "GenerateStringKey"} & set(generate), "only a plain generated string is supported"
        value = secretsmanager.get_random_password(**generate)["RandomPassword"]
        created = secretsmanager.create_secret(Name=f"{stack_name}-{name}", SecretString=value, **props)
        arns[name] = created["ARN"]
    tpl = _replace_refs(fit_template, arns)
    text = json.dumps(tpl)
    leftover = [name for name in arns if f'"{name}"' in text or f"${{{name}" in text]
    assert not leftover, f"{leftover} used other than by Ref: moto_stack cannot reproduce it"
    return tpl


def _create_after_the_stack(
    endpoint_url: str, stack_name: str, cfn_template: dict[str, Any], parameters: dict[str, str], set_aside: dict[str, Any]
) -> None:
    """Do CloudFormation's part for the alarms and queue policies moto's CloudFormation
    cannot create."""
    cloudwatch = client("cloudwatch", endpoint_url)
    sqs = client("sqs", endpoint_url)
    iam = client("iam", endpoint_url)
    stack_resources = stack_resources_of(endpoint_url, stack_name)
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in stack_resources}
    types = {r["LogicalResourceId"]: r["ResourceType"] for r in stack_resources}

    def get_att(name: str, attribute: str) -> str:
        kind = types.get(name)
        if (kind, attribute) == ("AWS::SQS::Queue", "QueueName"):
            return physical[name].rsplit("/", 1)[-1]  # the physical id is the queue URL
        if (kind, attribute) == ("AWS::SQS::Queue", "Arn"):
            attributes = sqs.get_queue_attributes(QueueUrl=physical[name], AttributeNames=["QueueArn"])
            return str(attributes["Attributes"]["QueueArn"])
        if (kind, attribute) == ("AWS::IAM::Role", "Arn"):
            return str(iam.get_role(RoleName=physical[name])["Role"]["Arn"])
        raise NotImplementedError(f"GetAtt {name}.{attribute} in a resource moto_stack creates")

    intrinsics = Intrinsics(
        cfn_template, {**pseudo_parameters(stack_name), **parameters}, ref_resource=physical.__getitem__, get_att=get_att
    )
    for resource in set_aside.values():
        if "Condition" in resource and not intrinsics.condition(resource["Condition"]):
            continue
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            # The properties of AWS::CloudWatch::Alarm are PutMetricAlarm's parameters, so
            # botocore's validation also catches a misspelt or mistyped property.
            # A Threshold from a Number parameter resolves to its string, which CloudFormation
            # turns into the number PutMetricAlarm wants.
            alarm = intrinsics.resolve(resource["Properties"])
            alarm["Threshold"] = float(alarm["Threshold"])
            cloudwatch.put_metric_alarm(**alarm)
        elif resource["Type"] == "AWS::SQS::QueuePolicy":
            props = intrinsics.resolve(resource["Properties"])
            for queue_url in props["Queues"]:
                sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})


def _complete_tables(endpoint_url: str, stack_name: str, fit_template: dict[str, Any]) -> None:
    """Do CloudFormation's part for the DynamoDB table properties moto's CloudFormation
    ignores: it creates a table with its keys, indexes, billing mode and encryption, but
    drops TimeToLiveSpecification and PointInTimeRecoverySpecification. Its DynamoDB API
    has UpdateTimeToLive and UpdateContinuousBackups, whose parameters these properties
    are; no intrinsic is expected in them."""
    dynamodb = client("dynamodb", endpoint_url)
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in stack_resources_of(endpoint_url, stack_name)}
    for name, resource in fit_template["Resources"].items():
        if resource["Type"] != "AWS::DynamoDB::Table" or name not in physical:
            continue
        props = resource["Properties"]
        if "TimeToLiveSpecification" in props:
            dynamodb.update_time_to_live(TableName=physical[name], TimeToLiveSpecification=props["TimeToLiveSpecification"])
        if "PointInTimeRecoverySpecification" in props:
            dynamodb.update_continuous_backups(
                TableName=physical[name], PointInTimeRecoverySpecification=props["PointInTimeRecoverySpecification"]
            )


def deploy_stack(
    endpoint_url: str, stack_name: str, parameters: dict[str, str], *, enforce_rules: bool = False
) -> dict[str, str]:
    """Create `stack_name` from template.yaml on the moto server; return {OutputKey: OutputValue}.

    `parameters` are the template's parameters (SourceBucket and DestinationBucket are
    required). The queue URLs in the outputs name the real SQS host
    (https://sqs.us-east-1.amazonaws.com/123456789012/...), not the server's: use them
    with a client made with endpoint_url=<the server>, which sends every call there.
    With `enforce_rules`, parameters the template's Rules refuse raise RuleViolation
    before anything is made, as CloudFormation refuses them. Off by default for now:
    tests/e2e deploys a stack whose source is its destination, which the Rules forbid,
    to see the CLI refuse such a job.
    """
    if enforce_rules:
        check_rules(load_template(), parameters, stack_name)
    s3 = client("s3", endpoint_url)
    cfn = client("cloudformation", endpoint_url)

    artifacts_bucket = f"{stack_name.lower()}-artifacts"[:63]
    code_key = "code/placeholder.zip"
    s3.create_bucket(Bucket=artifacts_bucket)
    s3.put_object(Bucket=artifacts_bucket, Key=code_key, Body=placeholder_zip())

    sam_template = with_code_location(load_template(), artifacts_bucket, code_key)
    cfn_template = sam_transform(sam_template, parameters)
    fit_template, set_aside = _fit_for_moto(cfn_template)
    fit_template = _create_secrets(endpoint_url, stack_name, fit_template, parameters, set_aside)

    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(fit_template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = _wait_for_create(cfn, stack_name)
    _create_after_the_stack(endpoint_url, stack_name, cfn_template, parameters, set_aside)
    _complete_tables(endpoint_url, stack_name, fit_template)
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def stack_resources_of(endpoint_url: str, stack_name: str) -> list[dict[str, Any]]:
    """describe_stack_resources, without moto's entries for resources it did not create.

    moto lists a resource whose Condition is false (e.g. AlarmTopic without AlarmEmail)
    as an entry with no LogicalResourceId, PhysicalResourceId or ResourceType;
    CloudFormation does not list it at all.
    """
    resources = client("cloudformation", endpoint_url).describe_stack_resources(StackName=stack_name)
    return [r for r in resources["StackResources"] if "LogicalResourceId" in r]


def _wait_for_create(cfn: Any, stack_name: str, timeout: float = 60.0) -> dict[str, Any]:
    # moto creates stacks synchronously, so this usually returns on the first look; a
    # hand-rolled loop (not the boto3 waiter) fails fast with the failure reasons.
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return stack
        if not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
            reasons = [
                f"{e['LogicalResourceId']}: {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
                for e in events
                if "FAILED" in e["ResourceStatus"]
            ]
            raise RuntimeError(f"stack {stack_name} is {status}: {reasons}")
        # CloudFormation offers nothing to wait on but polling; bounded by the deadline above.
        time.sleep(0.2)
