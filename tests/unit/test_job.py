from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3fanout.job import JobError, JobSpec, describe_tasks, list_tasks, manifest_location
from s3fanout.keyspace import KeyRange
from s3fanout.manifest import ManifestPart, PartFormat
from s3fanout.preflight import check_bucket_name


@pytest.mark.parametrize(
    "name",
    ["abc", "my-bucket", "my.bucket.name", "bucket-2024", "123", "a1-b2.c3", "a" * 63, "1.2.3", "10.0.0.1a"],
)
def test_valid_bucket_names_are_accepted(name):
    assert check_bucket_name(name) == name


@pytest.mark.parametrize(
    "name, why",
    [
        ("MyBucket", "uppercase"),
        ("my_bucket", "underscore"),
        ("ab", "too short"),
        ("", "empty"),
        ("a" * 64, "too long"),
        ("192.168.5.4", "IP address"),
        ("my..bucket", "two adjacent periods"),
        ("-bucket", "leading hyphen"),
        ("bucket-", "trailing hyphen"),
        (".bucket", "leading period"),
        ("bucket.", "trailing period"),
        ("my bucket", "space"),
        ("s3://bucket", "a URL, not a name"),
        ("bücket", "non-ASCII"),
    ],
)
def test_invalid_bucket_names_raise_job_error(name, why):
    with pytest.raises(JobError, match="not a valid S3 bucket name"):
        check_bucket_name(name)


@given(prefix=st.sampled_from(["", "data/", "日本/"]), ranges=st.integers(min_value=1, max_value=100))
def test_list_tasks_cover_the_key_space_contiguously(prefix, ranges):
    tasks = sorted(list_tasks("job-1", JobSpec("src-bucket", "dst-bucket", prefix, ranges)), key=lambda t: t.after or "")
    assert tasks[0].after is None and tasks[-1].until is None
    assert all(lower.until == upper.after for lower, upper in zip(tasks, tasks[1:]))
    assert all(
        (t.job_id, t.source_bucket, t.dest_bucket, t.prefix, t.resumed) == ("job-1", "src-bucket", "dst-bucket", prefix, 0)
        for t in tasks
    )


@pytest.mark.parametrize("key", ["", "\x00", "data/", "data/0", "data/zzz", "data/é", "data0", "z" * 1024, "😀"])
def test_every_key_falls_in_exactly_one_list_task(key):
    tasks = list_tasks("job", JobSpec("src-bucket", "dst-bucket", "data/", 32))
    assert sum(KeyRange(t.after, t.until).contains(key) for t in tasks) == 1


def test_a_single_range_job_lists_everything_in_one_task():
    [task] = list_tasks("job", JobSpec("src-bucket", "dst-bucket", ranges=1))
    assert (task.after, task.until) == (None, None)


def test_a_manifest_jobs_location_is_the_common_folder_of_its_files(tmp_path: Path) -> None:
    inventory = "s3://inventories/daily/src/config-1/2026-01-02T03-04Z/manifest.json"
    parts = tuple(ManifestPart(f"s3://inventories/daily/src/config-1/data/f{n}.csv.gz", PartFormat.CSV_GZ) for n in range(2))
    assert manifest_location(JobSpec("src", "dst", manifest=inventory, manifest_parts=parts)) == "s3://inventories/daily/src/config-1/"
    local = str(tmp_path / "keys.csv")
    assert manifest_location(JobSpec("src", "dst", manifest=local, manifest_parts=(ManifestPart(local, PartFormat.CSV),))) == str(tmp_path) + "/"
    assert manifest_location(JobSpec("src", "dst")) is None


def test_manifest_tasks_are_one_per_part() -> None:
    parts = tuple(ManifestPart(f"s3://m/f{n}.csv", PartFormat.CSV, start=n * 10, end=n * 10 + 10) for n in range(3))
    tasks = list_tasks("job", JobSpec("src", "dst", "logs/", ranges=16, compare=False, manifest="s3://m/f.csv", manifest_parts=parts))
    assert [(t.manifest, t.after, t.until, t.prefix, t.compare) for t in tasks] == [(part, None, None, "logs/", False) for part in parts]
    assert describe_tasks(JobSpec("src", "dst", manifest="s3://m/f.csv"), 3) == "3 parts of manifest s3://m/f.csv (keys of s3://src/)"
    assert describe_tasks(JobSpec("src", "dst", "logs/"), 16) == "16 key ranges of s3://src/logs/"
