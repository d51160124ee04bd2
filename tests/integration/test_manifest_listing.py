"""A lister reading a manifest part instead of listing (--manifest), through its handler against
in-process moto: exactly the keys the manifest names are queued, those already identical in the
destination are skipped, a key the source lacks goes to the copy DLQ as NoSuchKey, a part of
another bucket or outside the stack's manifests is refused, and a part is handed on by row."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from copy_objects import app as copy_app
from list_objects import app
from s3fanout import handling
from s3fanout.counts import Counts
from s3fanout.manifest import ManifestRow, open_manifest
from s3fanout.manifest_listing import LIST_COST_IN_HEADS, destination_objects, list_manifest_part
from s3fanout.messages import CopyBatch, ListTask
from s3fanout.outbox import Outbox
from tests.integration.conftest import DEST, KEY, SOURCE, Aws, context
from tests.keys import AWKWARD_KEYS, ZERO_BYTE_KEYS
from tests.manifests import Bucket, write_csv_manifest, write_inventory

INVENTORIES = "inventory-bucket"
KEYS = sorted(AWKWARD_KEYS[:20] + ZERO_BYTE_KEYS)


@pytest.fixture
def manifests(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    aws.s3.create_bucket(Bucket=INVENTORIES)
    monkeypatch.setenv("MANIFEST_LOCATION", f"s3://{INVENTORIES}/")
    handling.configuration.cache_clear()
    return Bucket(aws.s3, INVENTORIES)


def fill(aws: Aws, keys: list[str]) -> list[ManifestRow]:
    """Put each key in the source; its row as an inventory lists it (size, ETag, time)."""
    rows = []
    for key in keys:
        body = b"" if key in ZERO_BYTE_KEYS else key.encode() * 2
        aws.s3.put_object(Bucket=SOURCE, Key=key, Body=body)
        head = aws.s3.head_object(Bucket=SOURCE, Key=key)
        rows.append(ManifestRow(SOURCE, key, size=head["ContentLength"], etag=head["ETag"], last_modified=head["LastModified"]))
    return rows


def tasks_for(location: str, aws: Aws, **changes: Any) -> list[ListTask]:
    manifest = open_manifest(location, aws.s3, bucket=SOURCE)
    return [ListTask("job-m", SOURCE, DEST, manifest=part, **changes) for part in manifest.parts]


def queued(aws: Aws) -> list[str]:
    return sorted(item.key for body in aws.drain(aws.queues.copy_url) for item in CopyBatch.from_json(body).items)


def run(aws: Aws, *tasks: ListTask) -> None:
    assert app.lambda_handler(aws.event(aws.queues.list_url, *(t.to_json() for t in tasks)), context()) == {"batchItemFailures": []}


@pytest.mark.parametrize("file_format", ["CSV", "Parquet", "ORC"])
def test_an_inventory_queues_exactly_its_keys_and_skips_identical_ones(aws: Aws, manifests: Bucket, file_format: str) -> None:
    rows = fill(aws, KEYS)
    fill(aws, ["not-in-the-manifest"])
    # Identical in the destination already: skipped by the comparison.
    for key in KEYS[:5]:
        aws.s3.copy_object(Bucket=DEST, Key=key, CopySource={"Bucket": SOURCE, "Key": key})
    location = write_inventory(manifests, rows, file_format, source_bucket=SOURCE, files=2, rows_per_group=4)
    tasks = tasks_for(location, aws)
    assert len(tasks) >= 2, "split into parts"

    for task in tasks:
        run(aws, task)

    assert queued(aws) == sorted(KEYS[5:])
    assert aws.drain(aws.queues.list_dlq_url) == [] and aws.drain(aws.queues.copy_dlq_url) == []


def test_a_csv_manifest_heads_its_keys_and_dead_letters_a_missing_one(aws: Aws, manifests: Bucket) -> None:
    rows = fill(aws, KEYS)
    location = write_csv_manifest(manifests, "jobs/keys.csv", [*rows, ManifestRow(SOURCE, "gone/é missing+key")])
    [task] = tasks_for(location, aws)

    run(aws, task)

    assert queued(aws) == sorted(KEYS)
    [letter] = aws.dead_letters(aws.queues.copy_dlq_url)
    assert (letter.key, letter.code) == ("gone/é missing+key", "NoSuchKey")


def test_a_part_naming_another_bucket_is_dead_lettered_with_the_reason(aws: Aws, manifests: Bucket) -> None:
    rows = fill(aws, KEYS[:3])
    location = write_csv_manifest(manifests, "jobs/mixed.csv", [*rows, ManifestRow("someone-elses-bucket", "secret")])
    [task] = tasks_for(location, aws)

    run(aws, task)

    assert queued(aws) == []
    [letter] = aws.dead_letters(aws.queues.list_dlq_url)
    assert letter.code == "ManifestError" and "someone-elses-bucket" in letter.message


def test_a_part_outside_the_stacks_manifests_is_refused(aws: Aws, manifests: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    location = write_csv_manifest(manifests, "jobs/keys.csv", fill(aws, KEYS[:3]))
    [task] = tasks_for(location, aws)
    monkeypatch.setenv("MANIFEST_LOCATION", f"s3://{INVENTORIES}/other/")
    handling.configuration.cache_clear()

    run(aws, task)

    assert queued(aws) == []
    [letter] = aws.dead_letters(aws.queues.list_dlq_url)
    assert "outside the manifests this stack may read" in letter.message


def test_a_part_is_handed_on_by_row_when_time_runs_short(aws: Aws, manifests: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("s3fanout.manifest_listing.CHUNK_ROWS", 4)
    rows = fill(aws, KEYS)
    location = write_csv_manifest(manifests, "jobs/keys.csv", rows)
    [task] = tasks_for(location, aws)
    outbox = Outbox(aws.sqs, KEY, aws.queues.list_url, aws.queues.copy_url)
    seen: list[str] = []

    while True:
        outcome = list_manifest_part(
            task, s3=aws.s3, dest_s3=aws.s3, manifest_s3=aws.s3, outbox=outbox, copy_dead_letter_url=aws.queues.copy_dlq_url, remaining_ms=lambda: 0
        )
        seen += queued(aws)
        if outcome.handed_on is None:
            break
        [body] = aws.drain(aws.queues.list_url)
        task = ListTask.from_json(KEY.open(body))
        assert task == outcome.handed_on and task.skip_rows % 4 == 0

    assert sorted(seen) == sorted(KEYS)


def test_the_destination_is_listed_while_cheaper_than_heads(aws: Aws) -> None:
    names = [f"k{n:05d}" for n in range(3000)]
    for name in names:
        aws.s3.put_object(Bucket=DEST, Key=name, Body=b"")

    def cost(keys: list[str]) -> tuple[int, int]:
        counts = Counts()
        assert sorted(destination_objects(aws.s3, DEST, "", keys, counts)) == keys
        return counts.list_requests, counts.head_requests

    assert LIST_COST_IN_HEADS == 12.5
    # 10 keys over 3,000 are worth less than a page of listing (10 / 12.5): after the first page
    # (which reached 4 of them) the other 6 are asked for by key.
    assert cost(names[::300]) == (1, 6)
    # 40 keys are worth 3.2 pages, and 3 pages reach them all.
    assert cost(names[::75]) == (3, 0)
    # A dense manifest: listed.
    assert cost(names[:2500]) == (3, 0)


def test_without_comparison_every_named_key_is_queued(aws: Aws, manifests: Bucket) -> None:
    rows = fill(aws, KEYS[:6])
    for key in KEYS[:6]:
        aws.s3.copy_object(Bucket=DEST, Key=key, CopySource={"Bucket": SOURCE, "Key": key})
    location = write_inventory(manifests, rows, "CSV", source_bucket=SOURCE, files=1)
    [task] = tasks_for(location, aws)

    run(aws, dataclasses.replace(task, compare=False))

    assert queued(aws) == sorted(KEYS[:6])


def test_a_csv_rows_version_id_names_the_version_copied(aws: Aws, manifests: Bucket) -> None:
    aws.s3.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
    old = aws.s3.put_object(Bucket=SOURCE, Key="report é.csv", Body=b"first")["VersionId"]
    aws.s3.put_object(Bucket=SOURCE, Key="report é.csv", Body=b"second, current")
    location = write_csv_manifest(manifests, "jobs/versions.csv", [ManifestRow(SOURCE, "report é.csv", version_id=old), ManifestRow(SOURCE, "gone", version_id="not-a-version")])
    [task] = tasks_for(location, aws)

    run(aws, task)

    [body] = aws.drain(aws.queues.copy_url)
    [item] = CopyBatch.from_json(KEY.open(body)).items
    assert (item.key, item.version_id, item.size) == ("report é.csv", old, 5)
    [letter] = aws.dead_letters(aws.queues.copy_dlq_url)
    assert (letter.key, letter.code) == ("gone", "NoSuchKey")
    assert copy_app.lambda_handler(aws.event(aws.queues.copy_url, KEY.open(body)), context()) == {"batchItemFailures": []}
    assert aws.s3.get_object(Bucket=DEST, Key="report é.csv")["Body"].read() == b"first"
