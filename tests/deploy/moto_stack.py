"""Deploy template.yaml to a moto server, offline: no AWS account, no Docker, no network.

`sam deploy` needs a real account (it calls the CloudFormation transform and uploads
to S3), so this does what it does by hand against a moto server:

1. transform the SAM template into plain CloudFormation with aws-sam-translator,
   locally (the transform AWS would run server-side);
2. point both functions at a tiny placeholder zip uploaded to the moto server, as
   `sam package` would point them at the built code (moto never runs them here);
3. drop what moto cannot host (see `_fit_for_moto`);
4. create the stack through moto's CloudFormation and return its outputs.
"""

from __future__ import annotations

import copy
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
REGION = "us-east-1"
# Every output the template promises; the CLI reads the queue URLs and bucket parameters.
EXPECTED_OUTPUTS = {
    "ListQueueUrl",
    "ListQueueArn",
    "CopyQueueUrl",
    "CopyQueueArn",
    "ListDeadLetterQueueUrl",
    "ListDeadLetterQueueArn",
    "CopyDeadLetterQueueUrl",
    "CopyDeadLetterQueueArn",
    "SourceBucket",
    "DestinationBucket",
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
    and only when a function's Policies name one (ours use inline statements; the SQS
    event adds AWSLambdaSQSQueueExecutionRole by ARN). The real loader calls IAM."""

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


def _fit_for_moto(cfn_template: dict[str, Any]) -> dict[str, Any]:
    """Remove what a moto server cannot host from the transformed template."""
    tpl = copy.deepcopy(cfn_template)
    resources = tpl["Resources"]
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
    return tpl


def deploy_stack(endpoint_url: str, stack_name: str, parameters: dict[str, str]) -> dict[str, str]:
    """Create `stack_name` from template.yaml on the moto server; return {OutputKey: OutputValue}.

    `parameters` are the template's parameters (SourceBucket and DestinationBucket are
    required). The queue URLs in the outputs name the real SQS host
    (https://sqs.us-east-1.amazonaws.com/123456789012/...), not the server's: use them
    with a client made with endpoint_url=<the server>, which sends every call there.
    """
    s3 = client("s3", endpoint_url)
    cfn = client("cloudformation", endpoint_url)

    artifacts_bucket = f"{stack_name.lower()}-artifacts"[:63]
    code_key = "code/placeholder.zip"
    s3.create_bucket(Bucket=artifacts_bucket)
    s3.put_object(Bucket=artifacts_bucket, Key=code_key, Body=placeholder_zip())

    sam_template = with_code_location(load_template(), artifacts_bucket, code_key)
    cfn_template = _fit_for_moto(sam_transform(sam_template, parameters))

    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(cfn_template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = _wait_for_create(cfn, stack_name)
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


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
        time.sleep(0.2)
