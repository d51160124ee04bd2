"""src/s3fanout/functions.py (what local mode runs) says what template.yaml deploys."""

from __future__ import annotations

from typing import Any

import pytest

from s3fanout.functions import FUNCTIONS, Function
from tests.deploy.moto_stack import load_template


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.name)
def test_each_function_drains_its_queue_as_the_template_deploys_it(template: dict[str, Any], function: Function) -> None:
    properties = template["Resources"][function.name]["Properties"]
    assert properties["Handler"] == function.handler
    [event] = properties["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": [f"{function.queue.capitalize()}Queue", "Arn"]}
    batch_size = event["Properties"]["BatchSize"]
    if isinstance(batch_size, dict):
        batch_size = template["Parameters"][batch_size["Ref"]]["Default"]
    assert batch_size == function.batch_size
