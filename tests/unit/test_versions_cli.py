"""The command line's --all-versions and --as-of: the time's reading (UTC when it says no offset),
what they refuse together with other flags, the tasks they seed, and a stack without CopyVersions."""

from __future__ import annotations

import argparse

import pytest

from s3fanout.job import JobError, JobSpec, list_tasks
from s3fanout.jobqueues import QueueSet
from seed.arguments import as_of_argument
from seed.cli import seed_parser, versions_spec
from seed.console import UsageError
from seed.runner import check_stack_versions


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-30T18:00:00Z", "2026-11-30T18:00:00+00:00"),
        ("2026-11-30T18:00", "2026-11-30T18:00:00+00:00"),
        ("2026-11-30", "2026-11-30T00:00:00+00:00"),
        ("2026-11-30T19:30:00+01:00", "2026-11-30T18:30:00+00:00"),
        ("2026-11-30T18:00:00.250000Z", "2026-11-30T18:00:00.250000+00:00"),
    ],
)
def test_as_of_is_read_in_utc(text: str, utc: str) -> None:
    assert as_of_argument(text) == utc


def test_as_of_that_is_no_time_is_refused() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not an ISO 8601 time"):
        as_of_argument("yesterday")


def spec_of(*flags: str) -> JobSpec:
    args = seed_parser().parse_args(["--bucket", "src", "--dest", "dst", *flags])
    return versions_spec(JobSpec("src", "dst"), args)


def test_the_flags_make_the_spec_and_every_task_carries_them() -> None:
    every = spec_of("--all-versions")
    assert every.all_versions and every.as_of is None
    assert all(task.all_versions and task.as_of is None for task in list_tasks("job", every))
    then = spec_of("--as-of", "2026-11-30T18:00")
    assert all(task.as_of == "2026-11-30T18:00:00+00:00" and not task.all_versions for task in list_tasks("job", then))
    assert spec_of() == JobSpec("src", "dst")


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--all-versions", "--as-of", "2026-11-30"], "choose one"),
        (["--all-versions", "--delete"], "--delete is not supported with --all-versions"),
        (["--as-of", "2026-11-30", "--delete"], "--delete is not supported with --as-of"),
    ],
)
def test_flags_that_do_not_go_together_are_refused(flags: list[str], reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        spec_of(*flags)


def test_a_stack_without_copy_versions_is_refused() -> None:
    queues = QueueSet("l", "c", "ld", "cd", versions_allowed=False)
    with pytest.raises(JobError, match="deployed without CopyVersions=true"):
        check_stack_versions(JobSpec("src", "dst", all_versions=True), queues, "s3-fanout")
    check_stack_versions(JobSpec("src", "dst"), queues, "s3-fanout")
    check_stack_versions(JobSpec("src", "dst", as_of="2026-11-30T18:00:00+00:00"), QueueSet("l", "c", "ld", "cd", versions_allowed=True), "s3-fanout")
