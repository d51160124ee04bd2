"""verify() against in-process moto: every key missing, different or extra is named exactly, by
the rule a sync skips keys with, whatever the keys, the prefix, the ranges or the threads."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from s3fanout import clients
from s3fanout.keyspace import seed_ranges
from s3fanout.s3errors import S3Failure
from s3fanout.s3ops import ListedObject
from s3fanout.verification import Difference, VerifyResult, verify
from tests.keys import AWKWARD_KEYS, ZERO_BYTE_KEYS, boundary_keys

SRC = "verify-source"
DST = "verify-dest"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        clients.reset()
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=SRC)
        client.create_bucket(Bucket=DST)
        yield client
    clients.reset()


def put(s3: Any, bucket: str, keys: list[str], body: bytes = b"same") -> None:
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def run(s3: Any, prefix: str = "", ranges: int = 32, threads: int = 4) -> VerifyResult:
    return verify(s3, SRC, DST, prefix, ranges, threads)


def kinds(result: VerifyResult) -> tuple[list[str], list[str], list[str]]:
    return [o.key for o in result.missing], [d.key for d in result.different], [o.key for o in result.extra]


def wait_out_the_second(s3: Any, bucket: str, key: str) -> None:
    """LastModified has one-second resolution: make what is written next look newer than ``key``."""
    written = s3.head_object(Bucket=bucket, Key=key)["LastModified"]
    time.sleep(max(0.0, written.timestamp() + 1.05 - time.time()))


def test_identical_buckets_are_identical(s3: Any) -> None:
    keys = [f"data/{i:03d}" for i in range(30)]
    put(s3, SRC, keys)
    put(s3, DST, keys)

    result = run(s3)

    assert result.identical
    assert kinds(result) == ([], [], [])
    assert (result.source_keys, result.dest_keys, result.identical_keys) == (30, 30, 30)
    assert result.to_dict()["counts"] == {"source_keys": 30, "dest_keys": 30, "identical": 30, "missing": 0, "different": 0, "extra": 0}


def test_missing_different_and_extra_are_each_named(s3: Any) -> None:
    put(s3, SRC, ["same", "only-in-source", "recopied"])
    put(s3, SRC, ["grown"], b"longer body")
    put(s3, DST, ["same", "grown", "only-in-destination"])
    s3.put_object(Bucket=DST, Key="stale", Body=b"old!")
    wait_out_the_second(s3, DST, "stale")
    # Same size, another ETag, the destination older: the source changed after it was copied.
    s3.put_object(Bucket=SRC, Key="stale", Body=b"new!")
    # Same size, another ETag, the destination newer: a copy that changed the ETag (multipart,
    # SSE-KMS). The sync rule skips it, so verify must call it identical.
    s3.put_object(Bucket=DST, Key="recopied", Body=b"SAME")

    result = run(s3)

    assert not result.identical
    assert kinds(result) == (["only-in-source"], ["grown", "stale"], ["only-in-destination"])
    grown, stale = result.different
    assert grown.differs == ["size", "etag"] and grown.reason == "size differs"
    assert (grown.source.size, grown.dest.size) == (11, 4)
    assert stale.differs == ["etag"] and stale.reason == "changed since it was copied"
    assert stale.dest.last_modified is not None and stale.source.last_modified is not None
    assert stale.dest.last_modified < stale.source.last_modified
    assert (result.source_keys, result.dest_keys, result.identical_keys) == (5, 5, 2)

    body = json.loads(json.dumps(result.to_dict()))
    assert body["source"] == f"s3://{SRC}/" and body["destination"] == f"s3://{DST}/"
    assert body["identical"] is False and body["checked"] == 5
    assert body["missing"] == [{"key": "only-in-source", "size": 4, "etag": result.missing[0].etag}]
    assert body["extra"] == [{"key": "only-in-destination", "size": 4, "etag": result.extra[0].etag}]
    assert body["different"][1] == {
        "key": "stale",
        "differs": ["etag"],
        "reason": "changed since it was copied",
        "source": {"size": 4, "etag": stale.source.etag, "last_modified": stale.source.last_modified.isoformat()},
        "destination": {"size": 4, "etag": stale.dest.etag, "last_modified": stale.dest.last_modified.isoformat()},
    }
    assert body["counts"] == {"source_keys": 5, "dest_keys": 5, "identical": 2, "missing": 1, "different": 2, "extra": 1}


def test_awkward_keys_across_ranges_are_named_exactly(s3: Any) -> None:
    keys = sorted(set(AWKWARD_KEYS + boundary_keys()))
    # One zero-byte object missing, one grown from zero bytes.
    empty_missing, empty_grown = ZERO_BYTE_KEYS
    missing = sorted({*keys[::5], empty_missing} - {empty_grown})
    different = sorted({*keys[1::5], empty_grown} - {empty_missing})
    extra = sorted([f"{k} extra" for k in keys[2::7]] + ["\x02 only in dest", "😀😀 only in dest"])
    put(s3, SRC, [k for k in keys if k not in ZERO_BYTE_KEYS])
    put(s3, SRC, ZERO_BYTE_KEYS, b"")
    put(s3, DST, [k for k in keys if k not in missing and k not in different and k not in ZERO_BYTE_KEYS])
    put(s3, DST, [k for k in ZERO_BYTE_KEYS if k not in missing and k not in different], b"")
    put(s3, DST, different, b"other length")
    put(s3, DST, extra)
    # The keys spread over several of the 32 seeded ranges, the first and the last included.
    ranges = seed_ranges("", 32)
    used = {i for k in keys for i, r in enumerate(ranges) if r.contains(k)}
    assert len(used) > 5 and {0, len(ranges) - 1} <= used

    result = run(s3, threads=8)

    assert kinds(result) == (missing, different, extra)
    assert next(o.size for o in result.missing if o.key == empty_missing) == 0
    grown = next(d for d in result.different if d.key == empty_grown)
    assert (grown.source.size, grown.dest.size, grown.differs) == (0, 12, ["size", "etag"])
    assert result.source_keys == len(keys) and result.dest_keys == len(keys) - len(missing) + len(extra)
    assert result.identical_keys == len(keys) - len(missing) - len(different)
    # The keys survive JSON unchanged (control characters, noncharacters, emoji, 1,024 bytes).
    body = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert [e["key"] for e in body["missing"]] == missing
    assert [e["key"] for e in body["different"]] == different
    assert [e["key"] for e in body["extra"]] == extra


def test_a_prefix_verifies_only_the_keys_under_it(s3: Any) -> None:
    put(s3, SRC, ["logs/a", "logs/b", "logs/é", "logsx", "other/missing"])
    put(s3, DST, ["logs/a", "logs/é", "logs/extra", "other/extra"])

    result = run(s3, prefix="logs/")

    assert kinds(result) == (["logs/b"], [], ["logs/extra"])
    assert (result.source_keys, result.dest_keys) == (3, 3)
    assert result.to_dict()["source"] == f"s3://{SRC}/logs/"


def test_the_result_does_not_depend_on_threads_or_ranges(s3: Any) -> None:
    keys = [f"{c}{i}" for c in "09AZaz" for i in range(8)] + AWKWARD_KEYS[:12]
    put(s3, SRC, keys)
    put(s3, DST, keys[::2])
    put(s3, DST, keys[1::6], b"changed size")
    put(s3, DST, ["zz-extra", "00-extra"])

    results = [run(s3, ranges=ranges, threads=threads).to_dict() for ranges, threads in ((32, 1), (32, 3), (32, 32), (1, 1), (62, 64))]

    assert all(result == results[0] for result in results[1:])
    assert results[0]["counts"]["missing"] > 0 and results[0]["counts"]["different"] > 0 and results[0]["counts"]["extra"] == 2


def test_progress_counts_up_to_every_source_key(s3: Any) -> None:
    # Five keys in each of the four ranges (..F], (F..U], (U..j], (j..).
    keys = [f"{c}{i}" for c in "0Mdz" for i in range(5)]
    assert [sum(r.contains(k) for k in keys) for r in seed_ranges("", 4)] == [5, 5, 5, 5]
    put(s3, SRC, keys)
    seen: list[int] = []

    result = verify(s3, SRC, DST, "", 4, 2, on_progress=seen.append)

    assert len(result.missing) == 20
    # One call per page of each range, each with the total so far.
    assert seen == sorted(seen) and seen[-1] == 20 and len(seen) == 4


def test_a_listing_that_fails_names_its_bucket(s3: Any) -> None:
    s3.delete_bucket(Bucket=DST)

    with pytest.raises(S3Failure) as failure:
        run(s3)

    assert failure.value.code == "NoSuchBucket"
    assert f"cannot list the destination bucket '{DST}'" in str(failure.value)


def test_without_etags_a_same_size_difference_is_its_time() -> None:
    source, dest = ListedObject("k", 3, ""), ListedObject("k", 3, "")
    assert Difference(source, dest, "changed since it was copied").differs == ["last_modified"]


def test_threads_must_be_at_least_one(s3: Any) -> None:
    with pytest.raises(ValueError):
        run(s3, threads=0)
