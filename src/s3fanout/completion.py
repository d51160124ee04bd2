"""A finished job's completion report, shaped like S3 Batch Operations': ``summary.json`` (the
record's counts, duration, options and what the job cost) and ``failed.csv`` (one row per key or
key range that failed: bucket, URL-encoded key, version, error code, message, attempts).

Written under the local run folder, to ``s3://BUCKET/PREFIX/JOB/`` for ``--report``, and by the
function that ends a deployed job when the stack names a ReportBucket.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from s3fanout.dlq import DeadLetter, dead_letters, peek
from s3fanout.estimate import Prices, incurred_cost
from s3fanout.jobrecord import JobRecord
from s3fanout.signing import MessageKey

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

SUMMARY_FILE = "summary.json"
FAILED_FILE = "failed.csv"
FAILED_COLUMNS = ("bucket", "key", "version_id", "error_code", "message", "attempts")
REPORT_VERSION = 1


def summary(record: JobRecord, failures: int) -> dict[str, Any]:
    ranges = int(record.options.get("ranges") or 0)
    cost = incurred_cost(record.counts, ranges, Prices())
    return {
        "report_version": REPORT_VERSION,
        **record.to_status(),
        "failures_reported": failures,
        "cost_usd": round(cost.total, 6),
        "cost": cost.to_dict() | {"basis": "list prices (us-east-1) applied to the requests this job's record counted"},
    }


def failed_csv(letters: Iterable[DeadLetter]) -> str:
    """The failures as CSV; keys URL-encoded (as S3 Batch Operations' reports and S3 Inventory
    write them), a failed key range named in the key column as its range."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FAILED_COLUMNS)
    for letter in letters:
        key = quote(letter.key, safe="/") if letter.key is not None else f"range: {letter.key_range}"
        writer.writerow((letter.source_bucket or "", key, "", letter.code, letter.message, letter.attempts or ""))
    return out.getvalue()


def write_local(folder: Path, record: JobRecord, letters: list[DeadLetter]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SUMMARY_FILE).write_text(json.dumps(summary(record, len(letters)), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (folder / FAILED_FILE).write_text(failed_csv(letters), encoding="utf-8")
    return folder


def parse_report_uri(uri: str) -> tuple[str, str]:
    """``s3://BUCKET/PREFIX`` as (bucket, prefix ending in "/" or empty); ValueError otherwise."""
    if not uri.startswith("s3://") or not uri[len("s3://") :].split("/", 1)[0]:
        raise ValueError(f"--report must look like s3://BUCKET/PREFIX, not {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return bucket, (prefix.rstrip("/") + "/") if prefix.strip("/") else ""


def write_to_s3(s3: S3Client, bucket: str, prefix: str, record: JobRecord, letters: list[DeadLetter]) -> str:
    """Both files under ``s3://bucket/prefix<job id>/``; that folder's URI."""
    folder = f"{prefix}{record.job_id}/"
    body = json.dumps(summary(record, len(letters)), ensure_ascii=False, indent=2) + "\n"
    s3.put_object(Bucket=bucket, Key=folder + SUMMARY_FILE, Body=body.encode("utf-8"), ContentType="application/json")
    s3.put_object(Bucket=bucket, Key=folder + FAILED_FILE, Body=failed_csv(letters).encode("utf-8"), ContentType="text/csv")
    return f"s3://{bucket}/{folder}"


def job_letters(sqs: SQSClient, dead_letter_urls: dict[str, str], job_id: str, key: MessageKey | None) -> list[DeadLetter]:
    """The job's failures on the DLQs, read without consuming them."""
    letters: list[DeadLetter] = []
    for name, url in dead_letter_urls.items():
        letters += [letter for letter in dead_letters(name, peek(sqs, url), key) if letter.job_id == job_id]
    return letters
