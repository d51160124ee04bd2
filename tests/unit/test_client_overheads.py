"""What the clients do instead of botocore's per-request overheads: a fixed User-Agent and the
standard library's ISO 8601 parser, each giving what botocore's own would."""

from __future__ import annotations

from typing import Any

import botocore.utils
import pytest
from moto import mock_aws

from s3fanout import clients


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-02T16:35:17.000Z",
        "2026-12-02T16:35:17Z",
        "2026-12-02T16:35:17.123456789Z",
        "2026-12-02T18:35:17+02:00",
        "Wed, 02 Dec 2026 16:35:17 GMT",
        "2026-12-02",
        1764693317,
        1764693317.5,
    ],
)
def test_timestamps_read_as_botocore_reads_them(value: str | int | float) -> None:
    parsed, expected = clients.parse_timestamp(value), botocore.utils.parse_timestamp(value)  # type: ignore[arg-type]
    assert parsed == expected
    assert (parsed.tzinfo is None) == (expected.tzinfo is None)


def test_requests_name_the_tool_and_listings_keep_their_times(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        clients.reset()
        s3 = clients.s3()
        agents: list[str] = []

        def record(request: Any, **_: Any) -> None:
            agent = request.headers["User-Agent"]
            agents.append(agent.decode() if isinstance(agent, bytes) else agent)

        s3.meta.events.register("before-send.s3", record)
        s3.create_bucket(Bucket="agents")
        s3.put_object(Bucket="agents", Key="k", Body=b"x")
        listed = s3.list_objects_v2(Bucket="agents")["Contents"][0]["LastModified"]
        headed = s3.head_object(Bucket="agents", Key="k")["LastModified"]
    clients.reset()

    assert agents and all(agent.startswith(clients.USER_AGENT) for agent in agents)
    assert "s3-fanout/" in clients.USER_AGENT
    # The listing's ISO 8601 time and HeadObject's HTTP date are the same moment (to the second).
    assert listed.tzinfo is not None and listed.replace(microsecond=0) == headed
