"""How many ranges a job is seeded with: one when one listing page holds everything its ranges
would list (job.fitted_ranges), else as many as it asks for."""

from typing import Any

import pytest
from botocore.exceptions import ClientError

from s3fanout.job import DEFAULT_RANGES, DestinationSpec, JobSpec, describe_tasks, fitted_ranges, list_tasks
from s3fanout.keyspace import KeyRange
from seed.cli import seed_parser


class FakeS3:
    """ListObjectsV2 answering, per (bucket, prefix), whether more than one page of keys follows."""

    def __init__(self, truncated: dict[tuple[str, str], bool], denied: frozenset[str] = frozenset()) -> None:
        self.truncated, self.denied = truncated, denied
        self.calls: list[tuple[str, str, int]] = []

    def list_objects_v2(self, Bucket: str, Prefix: str, MaxKeys: int) -> dict[str, Any]:  # noqa: N803 - boto3's names
        self.calls.append((Bucket, Prefix, MaxKeys))
        if Bucket in self.denied:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectsV2")
        return {"IsTruncated": self.truncated[(Bucket, Prefix)], "KeyCount": 1}


def spec(**fields: Any) -> JobSpec:
    return JobSpec("src", "dst", "data/", **({"fit_ranges": True} | fields))


def test_a_job_one_page_of_each_side_holds_is_one_range_covering_every_key():
    s3 = FakeS3({("src", "data/"): False, ("dst", "data/"): False})

    fitted = fitted_ranges(spec(), s3, [s3])

    assert fitted == spec(ranges=1)
    assert s3.calls == [("src", "data/", 1000), ("dst", "data/", 1000)]
    [task] = list_tasks("job", fitted)
    assert KeyRange(task.after, task.until) == KeyRange(None, None)


def test_a_source_beyond_one_page_keeps_its_ranges_without_listing_the_destination():
    s3 = FakeS3({("src", "data/"): True})

    assert fitted_ranges(spec(), s3, [s3]).ranges == DEFAULT_RANGES
    assert s3.calls == [("src", "data/", 1000)]


def test_a_destination_beyond_one_page_keeps_the_ranges_its_delete_pass_and_comparison_list():
    source, dest = FakeS3({("src", "data/"): False}), FakeS3({("dst", "data/"): True})

    assert fitted_ranges(spec(), source, [dest]).ranges == DEFAULT_RANGES


def test_without_comparing_only_the_source_is_listed():
    s3 = FakeS3({("src", "data/"): False})

    assert fitted_ranges(spec(compare=False), s3, [s3]).ranges == 1
    assert s3.calls == [("src", "data/", 1000)]


def test_each_destination_is_listed_under_the_prefix_its_keys_go_to():
    s3 = FakeS3({("src", "data/"): False, ("dst", "copies/"): False, ("two", "data/"): False, ("three", "other/"): True})
    several = spec(dest_prefix="copies/", more_dests=(DestinationSpec("two"), DestinationSpec("three", "other/")))

    assert fitted_ranges(several, s3, [s3, s3, s3]).ranges == DEFAULT_RANGES
    assert [(bucket, prefix) for bucket, prefix, _ in s3.calls] == [("src", "data/"), ("dst", "copies/"), ("two", "data/"), ("three", "other/")]
    small = FakeS3(dict.fromkeys(s3.truncated, False))
    assert fitted_ranges(several, small, [small, small, small]).ranges == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"fit_ranges": False},  # --ranges given
        {"ranges": 1},
        {"manifest": "s3://m/manifest.json"},
        {"all_versions": True},
        {"as_of": "2026-11-30T18:00:00+00:00"},
    ],
)
def test_jobs_that_do_not_ask_for_it_or_list_otherwise_keep_their_seeding(fields):
    s3 = FakeS3({})

    assert fitted_ranges(spec(**fields), s3, [s3]) == spec(**fields)
    assert s3.calls == []


def test_a_listing_that_fails_keeps_the_ranges():
    s3 = FakeS3({("src", "data/"): False}, denied=frozenset({"dst"}))

    assert fitted_ranges(spec(), s3, [s3]).ranges == DEFAULT_RANGES


def test_the_command_line_fits_the_ranges_only_when_not_told_how_many():
    base = ["--bucket", "src", "--dest", "dst", "--local"]
    assert seed_parser().parse_args(base).ranges is None
    assert seed_parser().parse_args([*base, "--ranges", str(DEFAULT_RANGES)]).ranges == DEFAULT_RANGES


def test_one_range_is_named_in_the_singular():
    assert describe_tasks(JobSpec("src", "dst", "logs/"), 1) == "1 key range of s3://src/logs/"
