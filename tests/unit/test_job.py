import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3fanout.job import JobError, JobSpec, list_tasks
from s3fanout.keyspace import KeyRange
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
    tasks = list_tasks("job-1", JobSpec("src-bucket", "dst-bucket", prefix, ranges))
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
