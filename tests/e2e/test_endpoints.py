"""Another endpoint with its own credentials, end to end: two moto servers as two "clouds", a
profile per cloud (different keys) in a temporary AWS config and credentials file, the real CLI
in local mode streaming every object from one to the other (its queues and job record on the
embedded moto server local mode starts), then every key, size, metadata and tag compared; verify
across the two calls the copy identical; a second run copies nothing; the dry run across them
plans the streamed copies and changes nothing; verify names a missing key; bad flags are one
line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from s3fanout import clients
from s3fanout.motoserver import EmbeddedMoto
from tests.e2e.conftest import fresh_buckets
from tests.keys import AWKWARD_KEYS, HEADERS, TAGGING, TAGS, ZERO_BYTE_KEYS

pytestmark = pytest.mark.e2e

SOURCE = "cloud-one-source"
DEST = "cloud-two-dest"
MiB = 1024 * 1024
KEYS = {"cloud-one": "AKIACLOUDONE00000001", "cloud-two": "AKIACLOUDTWO00000002"}
# One object above a lowered streaming threshold: uploaded in two parts (moto refuses parts under 5 MiB).
BIG_KEY, BIG_SIZE = "big/multipart.bin", 6 * MiB
STREAMING = {"STREAM_THRESHOLD_BYTES": str(5 * MiB), "STREAM_CHUNK_BYTES": str(5 * MiB)}


@pytest.fixture(scope="module")
def cloud_two() -> Iterator[EmbeddedMoto]:
    with EmbeddedMoto() as server:
        yield server


@pytest.fixture
def profiles(tmp_path: Path) -> dict[str, str]:
    """AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE naming a profile per cloud."""
    config, credentials = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.write_text("".join(f"[profile {name}]\nregion = us-east-1\n" for name in KEYS), encoding="utf-8")
    credentials.write_text("".join(f"[{name}]\naws_access_key_id = {key}\naws_secret_access_key = secret-of-{name}\n" for name, key in KEYS.items()), encoding="utf-8")
    return {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}


@pytest.fixture
def clouds(moto_server: EmbeddedMoto, cloud_two: EmbeddedMoto) -> tuple[Any, Any]:
    return fresh_buckets(moto_server, SOURCE), fresh_buckets(cloud_two, DEST)


def run_cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # No AWS_ENDPOINT_URL: each bucket's endpoint comes from its flag, the queues' from local mode.
    base = {name: value for name, value in os.environ.items() if not name.startswith("AWS_ENDPOINT_URL")}
    return subprocess.run([sys.executable, "-m", "seed", *args], cwd=cwd, env=base | env, capture_output=True, text=True, timeout=300)


def side_flags(moto_server: EmbeddedMoto, cloud_two: EmbeddedMoto) -> list[str]:
    return [
        "--source-endpoint-url", moto_server.url, "--source-profile", "cloud-one",
        "--dest-endpoint-url", cloud_two.url, "--dest-profile", "cloud-two",
    ]  # fmt: skip


def described(s3: Any, bucket: str, key: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    head = s3.head_object(Bucket=bucket, Key=key)
    tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return head["ContentLength"], {name: head.get(name) for name in HEADERS}, {t["Key"]: t["Value"] for t in tags}


def test_objects_are_streamed_between_two_clouds_and_a_second_run_skips_them(
    moto_server: EmbeddedMoto, cloud_two: EmbeddedMoto, clouds: tuple[Any, Any], profiles: dict[str, str], tmp_path: Path
) -> None:
    one, two = clouds
    keys = AWKWARD_KEYS[:12] + ZERO_BYTE_KEYS
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: one.put_object(Bucket=SOURCE, Key=key, Body=b"" if key in ZERO_BYTE_KEYS else key.encode(), Tagging=TAGGING, **HEADERS), keys))
    one.put_object(Bucket=SOURCE, Key=BIG_KEY, Body=b"m" * BIG_SIZE, Tagging=TAGGING, **HEADERS)
    every_key = [*keys, BIG_KEY]
    args = ["--bucket", SOURCE, "--dest", DEST, "--local", "--workers", "2", "--no-progress", "--json", *side_flags(moto_server, cloud_two)]

    first = run_cli(tmp_path, profiles | STREAMING, *args)

    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    total_bytes = sum(len(key.encode()) for key in AWKWARD_KEYS[:12]) + BIG_SIZE
    assert (report["objects_copied"], report["bytes_streamed"], report["failed_keys"]) == (len(every_key), total_bytes, 0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        sources = list(pool.map(lambda key: described(one, SOURCE, key), every_key))
        copies = list(pool.map(lambda key: described(two, DEST, key), every_key))
    assert copies == sources
    assert all(tags == TAGS for _, _, tags in copies)
    assert two.head_object(Bucket=DEST, Key=BIG_KEY)["ETag"].strip('"').endswith("-2")
    summary = json.loads(next(tmp_path.glob("s3fanout-runs/*/summary.json")).read_text(encoding="utf-8"))
    options = summary["options"]
    assert (options["source_endpoint_url"], options["source_profile"], options["dest_endpoint_url"], options["dest_profile"]) == (
        moto_server.url,
        "cloud-one",
        cloud_two.url,
        "cloud-two",
    )
    assert not any(key in json.dumps(summary) for key in KEYS.values()), "no credential is recorded"

    # The multipart copy has a new ETag: the rule's second clause (same size, not older) holds it identical.
    verified = run_cli(tmp_path, profiles, "verify", "--bucket", SOURCE, "--dest", DEST, "--json", *side_flags(moto_server, cloud_two))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["counts"] == {"source_keys": len(every_key), "dest_keys": len(every_key), "identical": len(every_key), "missing": 0, "different": 0, "extra": 0}

    second = run_cli(tmp_path, profiles | STREAMING, *args)

    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert (again["objects_copied"], again["keys_skipped"], again["bytes_streamed"]) == (0, len(every_key), 0)


def test_a_profile_client_has_its_keys_and_endpoint(profiles: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in profiles.items():
        monkeypatch.setenv(name, value)
    clients.reset()
    try:
        s3 = clients.s3(None, None, "http://127.0.0.1:9", "cloud-two")
        assert s3.meta.endpoint_url == "http://127.0.0.1:9"
        assert s3._request_signer._credentials.get_frozen_credentials().access_key == KEYS["cloud-two"]  # type: ignore[attr-defined]
        assert s3.meta.config.s3 == {"addressing_style": "path"}
    finally:
        clients.reset()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source-endpoint-url", "http://127.0.0.1:1"], "are for local mode's own runs"),
        (["--local", "--stack-name", "any", "--dest-profile", "cloud-two"], "are for local mode's own runs"),
        (["--local", "--source-profile", "no-such-profile"], "no profile 'no-such-profile'"),
        (["--local", "--source-endpoint-url", "ftp://example.com"], "is not an endpoint URL"),
        (["--local", "--dest-endpoint-url", "http://"], "is not an endpoint URL"),
        (["--local", "--dest-endpoint-url", "https://host:99999/x"], "is not an endpoint URL"),
        (["--dry-run", "--source-profile", "no-such-profile"], "no profile 'no-such-profile'"),
        (["--dry-run", "--dest-endpoint-url", "ftp://example.com"], "is not an endpoint URL"),
        (["--dry-run", "--dest-role-arn", "not-a-role"], "not-a-role"),
    ],
)
def test_bad_endpoint_and_profile_flags_are_one_line_exit_2(profiles: dict[str, str], tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(tmp_path, profiles, "--bucket", SOURCE, "--dest", DEST, *args)
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source-profile", "no-such-profile"], "no profile 'no-such-profile'"),
        (["--dest-profile", "no-such-profile"], "no profile 'no-such-profile'"),
        (["--source-endpoint-url", "ftp://example.com"], "is not an endpoint URL"),
        (["--dest-role-arn", "arn:aws:iam::123:role/short-account"], "role/short-account"),
    ],
)
def test_bad_flags_of_verify_are_one_line_exit_2(profiles: dict[str, str], tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(tmp_path, profiles, "verify", "--bucket", SOURCE, "--dest", DEST, *args)
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("python -m seed verify: error: ") and "Traceback" not in result.stderr and result.stdout == ""


def test_a_dry_run_across_endpoints_plans_streamed_copies_and_changes_nothing(
    moto_server: EmbeddedMoto, cloud_two: EmbeddedMoto, clouds: tuple[Any, Any], profiles: dict[str, str], tmp_path: Path
) -> None:
    one, two = clouds
    # With a streaming threshold of 20 bytes and parts of 10, "large" (25 bytes) is three parts.
    for key, body in (("large", b"l" * 25), ("small", b"s" * 5), ("same", b"same")):
        one.put_object(Bucket=SOURCE, Key=key, Body=body)
    for key, body in (("same", b"same"), ("orphan", b"o")):
        two.put_object(Bucket=DEST, Key=key, Body=body)
    before = [(o["Key"], o["ETag"], o["Size"]) for o in two.list_objects_v2(Bucket=DEST)["Contents"]]
    env = profiles | {"STREAM_THRESHOLD_BYTES": "20", "STREAM_CHUNK_BYTES": "10"}
    args = ["--bucket", SOURCE, "--dest", DEST, "--dry-run", "--ranges", "4", *side_flags(moto_server, cloud_two)]

    text = run_cli(tmp_path, env, *args)

    assert text.returncode == 0, text.stderr
    assert "would copy   2 objects (30 B)" in text.stdout and "would skip   1 objects" in text.stdout and "would keep   1 orphans" in text.stdout
    assert f"would stream 2 objects (30 B) through this machine, 1 of them in 3 parts: the source ({moto_server.url} as profile cloud-one)" in text.stdout
    assert f"data transfer out of the source provider is billed by that provider: 30 B would leave {moto_server.url}, at its rates" in text.stdout
    assert "requests to the source" in text.stdout and "the destination" in text.stdout

    as_json = run_cli(tmp_path, env, *args, "--json", "--delete")

    assert as_json.returncode == 0, as_json.stderr
    body = json.loads(as_json.stdout)
    assert {"dry_run", "plan", "delete", "seconds", "regions", "cost", "encryption"} <= set(body)
    assert (body["streamed"], body["objects_streamed"], body["bytes_streamed"]) == (True, 2, 30)
    assert (body["plan"]["to_copy"], body["plan"]["to_skip"], body["plan"]["orphans"], body["plan"]["multipart_uploads"], body["plan"]["upload_parts"]) == (2, 1, 1, 1, 3)
    stream = body["stream"]
    assert (stream["source_on_aws"], stream["dest_on_aws"], stream["threshold_bytes"]) == (False, False, 20)
    assert stream["notes"][0].startswith("data transfer out of the source provider is billed by that provider")
    # Neither moto server is AWS S3: AWS bills nothing of it.
    assert body["cost"]["lines"] == [] and body["cost"]["total_usd"] == 0 and body["cost"]["prices"]["transfer_out_per_gb"] == 0.09
    assert [(o["Key"], o["ETag"], o["Size"]) for o in two.list_objects_v2(Bucket=DEST)["Contents"]] == before


def test_verify_across_endpoints_names_a_missing_key(moto_server: EmbeddedMoto, cloud_two: EmbeddedMoto, clouds: tuple[Any, Any], profiles: dict[str, str], tmp_path: Path) -> None:
    one, two = clouds
    for key in ("a", "b", "only-in-source"):
        one.put_object(Bucket=SOURCE, Key=key, Body=key.encode())
    for key in ("a", "b"):
        two.put_object(Bucket=DEST, Key=key, Body=key.encode())
    args = ["verify", "--bucket", SOURCE, "--dest", DEST, "--ranges", "4", *side_flags(moto_server, cloud_two)]

    as_json = run_cli(tmp_path, profiles, *args, "--json")
    text = run_cli(tmp_path, profiles, *args)

    assert as_json.returncode == 1, as_json.stderr
    result = json.loads(as_json.stdout)
    assert result["missing"] == [{"key": "only-in-source", "size": 14, "etag": one.head_object(Bucket=SOURCE, Key="only-in-source")["ETag"]}]
    assert (result["counts"]["identical"], result["different"], result["extra"]) == (2, [], [])
    assert text.returncode == 1 and "NOT identical" in text.stdout and "'only-in-source'" in text.stdout
