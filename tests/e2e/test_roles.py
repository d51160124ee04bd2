"""Local mode acting as other accounts' roles, end to end: the real CLI against a moto server
(whose STS hands out the roles' credentials; moto does not check what a role may do, so the
identity each request is made as is checked in tests/integration/test_roles.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from s3fanout.motoserver import EmbeddedMoto
from tests.e2e.conftest import fresh_buckets
from tests.e2e.test_local_mode import DEST, SOURCE, fill, listing, run_cli
from tests.keys import AWKWARD_KEYS

pytestmark = pytest.mark.e2e

SOURCE_ROLE = "arn:aws:iam::111111111111:role/source-reader"
DEST_ROLE = "arn:aws:iam::222222222222:role/dest-writer"


@pytest.fixture
def s3(moto_server: EmbeddedMoto) -> Any:
    return fresh_buckets(moto_server, SOURCE, DEST)


def test_a_local_run_as_two_roles_copies_every_key(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path) -> None:
    fill(s3, AWKWARD_KEYS[:12])
    result = run_cli(
        moto_server, tmp_path, "--bucket", SOURCE, "--dest", DEST, "--local", "--workers", "2", "--no-progress", "--json",
        "--source-role-arn", SOURCE_ROLE, "--dest-role-arn", DEST_ROLE,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["objects_copied"] == 12
    assert listing(s3, DEST) == listing(s3, SOURCE)
    summary = json.loads(next(tmp_path.glob("s3fanout-runs/*/summary.json")).read_text(encoding="utf-8"))
    assert (summary["options"]["source_role_arn"], summary["options"]["dest_role_arn"]) == (SOURCE_ROLE, DEST_ROLE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source-role-arn", SOURCE_ROLE], "are for local mode's own runs"),
        (["--local", "--stack-name", "any", "--dest-role-arn", DEST_ROLE], "are for local mode's own runs"),
        (["--local", "--source-role-arn", "arn:aws:iam::111111111111:user/someone"], "is not an IAM role ARN"),
    ],
)
def test_roles_outside_local_mode_or_not_roles_are_refused(moto_server: EmbeddedMoto, s3: Any, tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(moto_server, tmp_path, "--bucket", SOURCE, "--dest", DEST, *args)
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
