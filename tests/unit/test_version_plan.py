"""The dry run's prices of a versions job (s3fanout.version_plan): a COPY per version, and for
--all-versions a HeadObject per version copied and per destination record read, a DeleteObject
per delete marker."""

from __future__ import annotations

from s3fanout.estimate import Prices
from s3fanout.version_plan import VersionPlan, estimate_versions_cost


def test_all_versions_prices_copies_heads_and_markers() -> None:
    plan = VersionPlan(ranges=2, source_pages=3, dest_pages=2, head_requests=5, to_copy=2000, bytes_to_copy=10**9, markers_to_write=300, keys_to_copy=900)
    lines = {line.item: line for line in estimate_versions_cost(plan, Prices(), all_versions=True, cross_region=False).lines}
    assert lines["S3 COPY requests"].quantity == 2000
    assert lines["S3 LIST requests"].quantity == 5
    assert lines["S3 HEAD requests (versions' metadata)"].quantity == 2005
    assert lines["S3 DeleteObject requests (markers)"].quantity == 300


def test_as_of_is_priced_as_a_plain_copy_of_its_objects() -> None:
    plan = VersionPlan(ranges=1, source_pages=1, dest_pages=1, to_copy=10, bytes_to_copy=100)
    lines = {line.item for line in estimate_versions_cost(plan, Prices(), all_versions=False, cross_region=True).lines}
    assert "S3 COPY requests" in lines and "data transfer between regions" in lines
    assert not any(item.startswith("S3 HEAD") for item in lines)


def test_plans_add_up() -> None:
    total = VersionPlan()
    total.add(VersionPlan(ranges=1, to_copy=2, copy_sample=["b"]))
    total.add(VersionPlan(ranges=1, to_copy=3, copy_sample=["a"]))
    assert (total.ranges, total.to_copy, total.copy_sample) == (2, 5, ["a", "b"])
