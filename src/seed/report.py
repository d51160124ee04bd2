"""What a finished job (or redrive) reports: counts, failures, where the files are; as text or JSON."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from s3fanout.counts import Counts
from s3fanout.dlq import DeadLetter
from seed.progress import human_bytes


@dataclass
class JobReport:
    job_id: str
    source: str
    destination: str
    mode: str
    seconds: float
    # None where this command cannot know them: a deployed job counts in CloudWatch metrics.
    keys_listed: int | None
    bytes_listed: int | None
    objects_copied: int | None
    bytes_copied: int | None
    keys_skipped: int | None
    bytes_skipped: int | None
    orphans_found: int | None
    objects_deleted: int | None
    keys_retried: int | None
    # Of the bytes copied, those read and uploaded through the copiers (another endpoint or profile).
    bytes_streamed: int | None
    failed_keys: int
    failed_ranges: int
    failures_file: str | None
    log_file: str | None
    # Messages on the job's own queues that it did not send (unsigned, forged, outside its
    # buckets), refused untouched and kept in its DLQs; not failures of the job.
    refused_messages: int = 0
    # The job record's final state (succeeded, failed, cancelled); None without a record.
    state: str | None = None
    # Where the completion report (summary.json, failed.csv) was written.
    completion_report: str | None = None
    # The buckets' regions, as the pre-flight checks found them (None where the store does not say).
    source_region: str | None = None
    dest_region: str | None = None
    # The failed keys and ranges themselves (the counts above are theirs); not part of the JSON,
    # which names the failures file instead.
    failures: list[DeadLetter] = field(default_factory=list, repr=False)
    # Versions (--all-versions): object versions copied (in objects_copied too), delete markers
    # written, and source versions found already copied by an earlier run.
    versions_copied: int | None = None
    delete_markers_written: int | None = None
    versions_skipped: int | None = None
    # A job of several destinations: the other destinations' reports (this one is the first's).
    more_destinations: list[JobReport] = field(default_factory=list)

    @property
    def objects_per_second(self) -> float | None:
        if self.objects_copied is None:
            return None
        return self.objects_copied / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        rate = self.objects_per_second
        values = {name: getattr(self, name) for name in _FIELDS if name not in ("failures", "more_destinations")}
        more = {"more_destinations": [report.to_dict() for report in self.more_destinations]} if self.more_destinations else {}
        return values | {"objects_per_second": None if rate is None else round(rate, 1)} | more

    @property
    def all_destinations(self) -> list[JobReport]:
        """This report and those of the job's other destinations."""
        return [self, *self.more_destinations]

    def text(self) -> str:
        ended = "was cancelled after" if self.state == "cancelled" else "finished in"
        lines = [f"job {self.job_id}: {self.source} -> {self.destination} ({self.mode}) {ended} {self.seconds:.1f} s"]
        if self.source_region or self.dest_region:
            lines.append(f"  regions {flow(self.source_region, self.dest_region)}")
        if self.keys_listed is None or self.objects_copied is None or self.bytes_listed is None or self.bytes_copied is None:
            lines.append("  counts  in the stack's CloudWatch metrics (namespace S3Fanout); this command watched the queues")
        else:
            lines += [
                f"  listed  {self.keys_listed:,} keys ({human_bytes(self.bytes_listed)})",
                f"  copied  {self.objects_copied:,} objects ({human_bytes(self.bytes_copied)}), {self.objects_per_second:,.1f} objects/s",
                f"  skipped {self.keys_skipped or 0:,} objects already identical ({human_bytes(self.bytes_skipped or 0)})",
            ]
            if self.objects_deleted:
                lines.append(f"  deleted {self.objects_deleted:,} orphans (destination objects not in the source)")
            elif self.orphans_found:
                lines.append(f"  orphans {self.orphans_found:,} destination objects not in the source, kept (--delete removes them)")
        if self.versions_copied or self.delete_markers_written or self.versions_skipped:
            lines.append(f"  versions {self.versions_copied or 0:,} copied, {self.delete_markers_written or 0:,} delete markers written, {self.versions_skipped or 0:,} already in the destination")
        if self.bytes_streamed:
            lines.append(f"  streamed {human_bytes(self.bytes_streamed)} through this machine (the sides are not one store; the source's provider bills the transfer out)")
        if self.keys_retried:
            lines.append(f"  retried {self.keys_retried:,} key copies after transient errors")
        failed = f"  failed  {self.failed_keys:,} keys"
        if self.failed_ranges:
            failed += f" and {self.failed_ranges:,} key ranges that could not be listed"
        if self.failures_file and (self.failed_keys or self.failed_ranges):
            failed += f" (written to {self.failures_file})"
        lines.append(failed)
        if self.refused_messages:
            lines.append(f"  refused {self.refused_messages:,} messages this job did not send, touching nothing (see 'dlq list --local')")
        if self.completion_report:
            lines.append(f"  report  {self.completion_report} (summary.json, failed.csv)")
        if self.log_file:
            lines.append(f"  logs    {self.log_file}")
        return "\n".join([*lines, *(report.text() for report in self.more_destinations)])


def flow(source_region: str | None, dest_region: str | None) -> str:
    """Which way the bytes go, region to region."""
    source, dest = source_region or "the configured region", dest_region or "the configured region"
    if source_region == dest_region:
        return f"both buckets in {source}: copies stay in the region"
    return f"{source} -> {dest}: every byte copied crosses regions and is billed as transfer between them"


_FIELDS = [item.name for item in fields(JobReport)]


def build_report(
    job_id: str,
    source: str,
    destination: str,
    mode: str,
    seconds: float,
    counters: Counts | None,
    letters: list[DeadLetter],
    failures_file: str | None,
    log_file: str | None,
) -> JobReport:
    counted: dict[str, Any] = {name: getattr(counters, name) if counters else None for name in REPORTED_COUNTS + VERSION_COUNTS}
    return JobReport(
        job_id=job_id,
        source=source,
        destination=destination,
        mode=mode,
        seconds=round(seconds, 2),
        **counted,
        failed_keys=sum(1 for letter in letters if letter.key is not None),
        failed_ranges=sum(1 for letter in letters if letter.key is None),
        failures_file=failures_file,
        log_file=log_file,
        failures=letters,
    )


# The Counts a report shows (None for each where the job's counts are not known here).
REPORTED_COUNTS = ("keys_listed", "bytes_listed", "objects_copied", "bytes_copied", "keys_skipped", "bytes_skipped", "orphans_found", "objects_deleted", "keys_retried", "bytes_streamed")
# The Counts of versions (--all-versions) a report shows too.
VERSION_COUNTS = ("versions_copied", "delete_markers_written", "versions_skipped")


def print_report(report: JobReport, as_json: bool) -> None:
    print(json.dumps(report.to_dict(), indent=2) if as_json else report.text())


def describe_letters(letters: list[DeadLetter]) -> str:
    if not letters:
        return "the dead-letter queues are empty"
    counts = Counter(letter.code for letter in letters)
    lines = [f"{len(letters):,} failures: " + ", ".join(f"{code} {count:,}" for code, count in counts.most_common())]
    for letter in sorted(letters, key=lambda item: (item.code, item.subject)):
        attempts = f", {letter.attempts} attempts" if letter.attempts else ""
        when = f", last {letter.last_failed}" if letter.last_failed else ""
        lines.append(f"  [{letter.queue}] {letter.code}: {letter.subject!r}: {letter.message} (job {letter.job_id}{attempts}{when})")
    return "\n".join(lines)
