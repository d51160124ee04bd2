"""s3ops' version listing as S3 answers it (not as moto 5.2 does; tests/moto_versions.py says
where they differ): ListObjectVersions pages with KeyMarker and VersionIdMarker, versions and
delete markers interleaved, URL-encoded keys, and the checks that refuse a listing that breaks
S3's rules.

Two stand-ins: a real botocore client whose HTTP answers are S3's XML, given before any request is
sent (so botocore's own parsing and URL decoding run, and the order hook with them), and a small
fake client for paging."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from s3fanout.keyspace import KeyRange
from s3fanout.s3errors import ListingError
from s3fanout.s3ops import ENTRY_KINDS, ListedVersion, key_version_entries, list_version_pages, version_entries

T0 = datetime(2026, 11, 1, tzinfo=UTC)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def entry_xml(key: str, vid: str, marker: bool, url: bool) -> str:
    name = quote(key, safe="") if url else key
    common = f"<Key>{name}</Key><VersionId>{vid}</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-01T00:00:00.000Z</LastModified>"
    if marker:
        return f"<DeleteMarker>{common}<Owner><ID>o</ID></Owner></DeleteMarker>"
    return f'<Version>{common}<ETag>"{vid}"</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass><Owner><ID>o</ID></Owner></Version>'


def answering_client(pages: list[list[tuple[str, str, bool]]]) -> tuple[Any, list[dict[str, list[str]]]]:
    """A botocore S3 client that answers each ListObjectVersions with the next of ``pages`` (as S3
    would: entries interleaved, keys URL-encoded when asked), and the query of every request."""
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    queries: list[dict[str, list[str]]] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        query = parse_qs(urlsplit(request.url).query, keep_blank_values=True)
        queries.append(query)
        url = query.get("encoding-type") == ["url"]
        entries = pages[len(queries) - 1]
        truncated = len(queries) < len(pages)
        body = ['<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">']
        body.append(f"<Name>b</Name><Prefix></Prefix><MaxKeys>3</MaxKeys>{'<EncodingType>url</EncodingType>' if url else ''}<IsTruncated>{str(truncated).lower()}</IsTruncated>")
        if truncated:
            key, vid, _ = entries[-1]
            body.append(f"<NextKeyMarker>{quote(key, safe='') if url else key}</NextKeyMarker><NextVersionIdMarker>{vid}</NextVersionIdMarker>")
        body += [entry_xml(key, vid, marker, url) for key, vid, marker in entries]
        body.append("</ListVersionsResult>")
        return AWSResponse(request.url, 200, {"Content-Type": "application/xml"}, _Raw("".join(body).encode()))

    client.meta.events.register("before-send.s3.ListObjectVersions", answer)
    return client, queries


def test_entries_come_in_s3s_order_with_their_keys_decoded() -> None:
    # One second, one key: a version, a delete marker above it, a version above that. botocore
    # parses them into two lists; the order comes from the raw answer.
    pages = [
        [("a+b", "v3", False), ("a+b", "d2", True), ("a+b", "v1", False)],
        [("é\x01ctl %41", "d9", True), ("é\x01ctl %41", "v8", False)],
    ]
    client, queries = answering_client(pages)
    listed = [entry for page in list_version_pages(client, "b", "", KeyRange(), page_size=3) for entry in page]
    assert [(e.key, e.version_id, e.delete_marker) for e in listed] == [entry for page in pages for entry in page]
    # botocore asked for URL-encoded keys; the second page resumed after the first's last entry.
    assert queries[0]["encoding-type"] == ["url"]
    assert (queries[1]["key-marker"], queries[1]["version-id-marker"]) == (["a+b"], ["v1"])


def test_a_listing_resumed_inside_a_key_names_the_version() -> None:
    client, queries = answering_client([[("k", "v1", False), ("l", "v9", False)]])
    listed = [entry for page in list_version_pages(client, "b", "", KeyRange(None, None), resume_at=("k", "v2")) for entry in page]
    assert [(e.key, e.version_id) for e in listed] == [("k", "v1"), ("l", "v9")]
    assert (queries[0]["key-marker"], queries[0]["version-id-marker"]) == (["k"], ["v2"])


def test_a_key_marker_alone_lists_after_the_key() -> None:
    # moto 5.2 lists the marker key's older versions here; S3 does not, and the check refuses it.
    client, _ = answering_client([[("k", "v1", False), ("l", "v9", False)]])
    with pytest.raises(ListingError, match="key 'k' is not after 'k'"):
        list(list_version_pages(client, "b", "", KeyRange("k", None)))


def test_a_range_ends_at_its_until() -> None:
    client, _ = answering_client([[("a", "v1", False), ("b", "v2", True), ("c", "v3", False)]])
    listed = [entry.key for page in list_version_pages(client, "b", "", KeyRange(None, "b")) for entry in page]
    assert listed == ["a", "b"]


def test_one_keys_entries() -> None:
    client, queries = answering_client([[("k", "v2", False), ("k", "v1", True), ("k/sub", "v9", False)]])
    assert [e.version_id for e in key_version_entries(client, "b", "k")] == ["v2", "v1"]
    assert queries[0]["prefix"] == ["k"]


class PagingS3:
    """list_object_versions over fixed entries, as S3 pages them, or broken as asked."""

    def __init__(self, entries: list[ListedVersion], repeat_markers: bool = False) -> None:
        self.entries = entries
        self.repeat_markers = repeat_markers
        self.requests: list[dict[str, Any]] = []

    def list_object_versions(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        start = 0
        if "KeyMarker" in request:
            marker = (request["KeyMarker"], request.get("VersionIdMarker"))
            start = next(
                (i + 1 for i, e in enumerate(self.entries) if (e.key, e.version_id) == marker)
                if marker[1]
                else (i for i, e in enumerate(self.entries) if e.key > marker[0]),
                len(self.entries),
            )
        page = [e for e in self.entries[start:] if e.key.startswith(request.get("Prefix", ""))][: request["MaxKeys"]]
        truncated = start + len(page) < len(self.entries)
        answer: dict[str, Any] = {
            "Versions": [{"Key": e.key, "VersionId": e.version_id, "Size": e.size, "ETag": e.etag, "LastModified": e.last_modified} for e in page if not e.delete_marker],
            "DeleteMarkers": [{"Key": e.key, "VersionId": e.version_id, "LastModified": e.last_modified} for e in page if e.delete_marker],
            ENTRY_KINDS: "".join("D" if e.delete_marker else "V" for e in page),
            "IsTruncated": truncated,
        }
        if truncated:
            last = self.entries[0] if self.repeat_markers else page[-1]
            answer |= {"NextKeyMarker": last.key, "NextVersionIdMarker": last.version_id}
        return answer


def entry(key: str, vid: str, seconds: int = 0, marker: bool = False) -> ListedVersion:
    return ListedVersion(key, vid, 0 if marker else 1, "" if marker else f'"{vid}"', T0 + timedelta(seconds=seconds), marker)


def test_pages_cover_every_entry_once_whatever_the_page_size() -> None:
    entries = [entry("a", "a3"), entry("a", "a2", marker=True), entry("a", "a1"), entry("b", "b1"), entry("c", "c2", marker=True), entry("c", "c1")]
    for size in range(1, 8):
        s3 = PagingS3(entries)
        assert [e for page in list_version_pages(s3, "b", "", KeyRange(), page_size=size) for e in page] == entries


def test_the_last_page_of_a_range_is_marked_last_though_more_keys_follow() -> None:
    entries = [entry("a", "a2"), entry("a", "a1"), entry("b", "b2"), entry("b", "b1"), entry("c", "c1")]
    pages = list(list_version_pages(PagingS3(entries), "b", "", KeyRange(None, "b"), page_size=2))
    # The second page ends the range exactly; the third (c) lies beyond it.
    assert [(len(page), page.last) for page in pages] == [(2, False), (2, True)]


def test_a_listing_resumed_inside_the_ranges_last_key() -> None:
    entries = [entry("a", "a1"), entry("b", "b3"), entry("b", "b2"), entry("b", "b1"), entry("c", "c1")]
    pages = list(list_version_pages(PagingS3(entries), "b", "", KeyRange(None, "b"), resume_at=("b", "b3"), page_size=1))
    assert [e.version_id for page in pages for e in page] == ["b2", "b1"] and pages[-1].last


def test_repeated_markers_are_a_broken_listing() -> None:
    s3 = PagingS3([entry("a", "a2"), entry("a", "a1"), entry("b", "b1"), entry("c", "c1")], repeat_markers=True)
    with pytest.raises(ListingError):
        list(list_version_pages(s3, "b", "", KeyRange(), page_size=1))


def test_without_the_raw_order_entries_merge_by_key_then_newest_first() -> None:
    response = {
        "Versions": [
            {"Key": "a", "VersionId": "a1", "Size": 1, "ETag": '"a1"', "LastModified": T0},
            {"Key": "b", "VersionId": "b2", "Size": 1, "ETag": '"b2"', "LastModified": T0 + timedelta(seconds=2)},
        ],
        "DeleteMarkers": [{"Key": "a", "VersionId": "a2", "LastModified": T0 + timedelta(seconds=1)}],
    }
    assert [e.version_id for e in version_entries(response)] == ["a2", "a1", "b2"]
    # With the raw order (the hook's), the answer's interleaving is kept.
    assert [e.version_id for e in version_entries(response | {ENTRY_KINDS: "VDV"})] == ["a1", "a2", "b2"]
