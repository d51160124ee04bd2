"""The dry run's plan and cost: uploads in parts counted for streamed copies, what AWS bills of a
streamed run priced line by line, and which endpoints are AWS S3's own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

from s3fanout.copying.stream import DEFAULT_THRESHOLD_BYTES, MAX_PARTS, MIB, StreamSettings
from s3fanout.estimate import JobPlan, Prices, estimate_cost, estimate_stream_cost, is_aws_endpoint, plan_job, upload_parts
from tests.unit.fake_aws import FakeS3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SMALL = StreamSettings(threshold_bytes=10, chunk_bytes=4)


@pytest.mark.parametrize(
    ("size", "settings", "parts"),
    [
        (0, SMALL, 0),
        (9, SMALL, 0),
        (10, SMALL, 3),  # s3transfer uploads in parts from the threshold on
        (17, SMALL, 5),
        (DEFAULT_THRESHOLD_BYTES - 1, StreamSettings(), 0),
        (DEFAULT_THRESHOLD_BYTES, StreamSettings(), 2),
        (100 * MIB, StreamSettings(), 13),
        # Parts grow to stay within 10,000.
        (200_000 * MIB, StreamSettings(), MAX_PARTS),
    ],
)
def test_a_streamed_object_is_one_put_below_the_threshold_and_parts_from_it(size: int, settings: StreamSettings, parts: int) -> None:
    assert upload_parts(size, settings) == parts


def test_the_plan_counts_uploads_in_parts_only_for_streamed_copies() -> None:
    # FakeS3 objects are as large as their keys are long.
    s3 = FakeS3(["a", "abcdefghij", "abcdefghijklmnopq", "skipped-key"], buckets={"dst": ["skipped-key"]})
    client = cast("S3Client", s3)

    streamed = plan_job(client, "src", "dst", "", 4, stream=SMALL)
    copied = plan_job(client, "src", "dst", "", 4)

    assert (streamed.to_copy, streamed.bytes_to_copy, streamed.to_skip) == (3, 1 + 10 + 17, 1)
    assert (streamed.multipart_uploads, streamed.upload_parts) == (2, 3 + 5)
    assert (copied.to_copy, copied.multipart_uploads, copied.upload_parts) == (3, 0, 0)


PLAN = JobPlan(ranges=4, source_pages=6, dest_pages=5, to_copy=1000, bytes_to_copy=50 * 10**9, orphans=1500, multipart_uploads=10, upload_parts=70)


def lines_of(plan: JobPlan, prices: Prices, **sides: bool) -> dict[str, tuple[int, float]]:
    cost = estimate_stream_cost(plan, prices, **sides)
    return {line.item: (line.quantity, line.usd) for line in cost.lines}


def test_a_source_on_aws_is_billed_for_its_lists_gets_and_data_transfer_out() -> None:
    lines = lines_of(PLAN, Prices(), delete=False, source_on_aws=True, dest_on_aws=False)

    assert set(lines) == {"S3 LIST requests (source)", "S3 GET requests (source)", "S3 data transfer out (source)"}
    assert lines["S3 LIST requests (source)"] == (6, pytest.approx(6 / 1000 * 0.005))
    # A GetObjectTagging and a GetObject per object.
    assert lines["S3 GET requests (source)"] == (2000, pytest.approx(2000 / 1000 * 0.0004))
    assert lines["S3 data transfer out (source)"] == (50, pytest.approx(50 * 0.09))


def test_a_destination_on_aws_is_billed_a_put_per_object_and_create_parts_complete_above_the_threshold() -> None:
    lines = lines_of(PLAN, Prices(), delete=False, source_on_aws=False, dest_on_aws=True)

    assert set(lines) == {"S3 LIST requests (destination)", "S3 PUT requests (destination)", "S3 DELETE requests (destination)"}
    puts = (1000 - 10) + 70 + 2 * 10
    assert lines["S3 PUT requests (destination)"] == (puts, pytest.approx(puts / 1000 * 0.005))
    assert lines["S3 DELETE requests (destination)"] == (0, 0)
    assert "S3 data transfer out (source)" not in lines


def test_delete_lists_both_sides_again_and_deletes_in_thousands() -> None:
    lines = lines_of(PLAN, Prices(), delete=True, source_on_aws=True, dest_on_aws=True)

    assert lines["S3 LIST requests (source)"][0] == 12
    assert lines["S3 LIST requests (destination)"][0] == 5 + 5
    assert lines["S3 DELETE requests (destination)"][0] == 2


def test_two_other_providers_cost_nothing_at_aws() -> None:
    cost = estimate_stream_cost(PLAN, Prices(), delete=True, source_on_aws=False, dest_on_aws=False)
    assert cost.lines == [] and cost.total == 0


def test_the_transfer_out_price_can_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"transfer_out_per_gb": 0.05, "s3_get_per_1000": 0.001}), encoding="utf-8")
    prices = Prices.from_file(path)

    lines = lines_of(PLAN, prices, delete=False, source_on_aws=True, dest_on_aws=False)

    assert lines["S3 data transfer out (source)"][1] == pytest.approx(50 * 0.05)
    assert lines["S3 GET requests (source)"][1] == pytest.approx(2000 / 1000 * 0.001)
    path.write_text(json.dumps({"transfer_out_per_gb": -1}), encoding="utf-8")
    with pytest.raises(ValueError, match="transfer_out_per_gb must be at least 0"):
        Prices.from_file(path)


def test_the_deployed_estimate_has_no_transfer_out() -> None:
    items = [line.item for line in estimate_cost(PLAN, Prices(), delete=False, cross_region=True).lines]
    assert "S3 COPY requests" in items and "data transfer between regions" in items
    assert not any("out" in item for item in items)


@pytest.mark.parametrize(
    ("url", "aws"),
    [
        ("https://s3.amazonaws.com", True),
        ("https://s3.eu-west-1.amazonaws.com", True),
        ("https://s3.dualstack.us-east-2.amazonaws.com/", True),
        ("https://s3.cn-north-1.amazonaws.com.cn", True),
        ("https://ACCOUNT.r2.cloudflarestorage.com", False),
        ("https://storage.googleapis.com", False),
        ("http://127.0.0.1:9000", False),
        ("https://amazonaws.com.example.org", False),
        ("https://notamazonaws.com", False),
        (None, False),
    ],
)
def test_only_aws_s3_endpoints_are_priced_as_aws(url: str | None, aws: bool) -> None:
    assert is_aws_endpoint(url) is aws
