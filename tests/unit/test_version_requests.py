"""A version's copy names the version on every request of every copy path (CopyObject, the
multipart path's reads and part copies, a streamed copy's reads, Object Lock), and records the
source version id where --all-versions asks for it. Checked with a recording fake: moto 5.2 has
no GetObjectRetention or GetObjectLegalHold (see test_copy_options.py)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from s3fanout.copying.multipart import source_attributes
from s3fanout.copying.single import copy_object
from s3fanout.copying.stream import StreamSettings, stream_object
from s3fanout.messages import CopyItem, CopyOptions
from s3fanout.s3errors import S3Failure
from s3fanout.s3ops import SOURCE_VERSION_METADATA

UNTIL = datetime.now(UTC) + timedelta(days=30)


class Recording:
    """Answers the reads of a source version and records every request."""

    def __init__(self, metadata: dict[str, str] | None = None) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.metadata = metadata if metadata is not None else {"owner": "me"}

    def _record(self, name: str, request: dict[str, Any]) -> None:
        self.requests.append((name, request))

    def head_object(self, **request: Any) -> dict[str, Any]:
        self._record("HeadObject", request)
        return {"ContentLength": 3, "ETag": '"e"', "ContentType": "text/x", "Metadata": dict(self.metadata)}

    def get_object(self, **request: Any) -> dict[str, Any]:
        self._record("GetObject", request)
        return {"Body": io.BytesIO(b"abc"), "ContentType": "text/x", "Metadata": dict(self.metadata)}

    def get_object_tagging(self, **request: Any) -> dict[str, Any]:
        self._record("GetObjectTagging", request)
        return {"TagSet": [{"Key": "t", "Value": "1"}]}

    def get_object_retention(self, **request: Any) -> dict[str, Any]:
        self._record("GetObjectRetention", request)
        return {"Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": UNTIL}}

    def get_object_legal_hold(self, **request: Any) -> dict[str, Any]:
        self._record("GetObjectLegalHold", request)
        return {"LegalHold": {"Status": "ON"}}

    def copy_object(self, **request: Any) -> dict[str, Any]:
        self._record("CopyObject", request)
        return {"VersionId": "new"}

    def upload_fileobj(self, body: Any, bucket: str, key: str, ExtraArgs: dict[str, Any], Config: Any) -> None:  # noqa: N803
        self._record("Upload", {"Bucket": bucket, "Key": key, "ExtraArgs": ExtraArgs, "Body": body.read()})

    def named(self, name: str) -> list[dict[str, Any]]:
        return [request for found, request in self.requests if found == name]


ITEM = CopyItem("k", 3, version_id="v1")
RECORD = {SOURCE_VERSION_METADATA: "v1"}


def test_copy_object_of_a_version_records_it_with_the_sources_metadata() -> None:
    s3 = Recording()
    assert copy_object(s3, "src", "dst", ITEM, ITEM.key, CopyOptions(object_lock=True), extra_metadata=RECORD) == "new"  # type: ignore[arg-type]
    [copy] = s3.named("CopyObject")
    assert copy["CopySource"] == {"Bucket": "src", "Key": "k", "VersionId": "v1"}
    assert (copy["MetadataDirective"], copy["TaggingDirective"]) == ("REPLACE", "COPY")
    assert copy["Metadata"] == {"owner": "me", SOURCE_VERSION_METADATA: "v1"} and copy["ContentType"] == "text/x"
    assert (copy["ObjectLockMode"], copy["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", "ON")
    for read in ("HeadObject", "GetObjectRetention", "GetObjectLegalHold"):
        assert [request["VersionId"] for request in s3.named(read)] == ["v1"], read


def test_copy_object_of_a_version_as_of_a_time_is_a_plain_copy() -> None:
    s3 = Recording()
    copy_object(s3, "src", "dst", CopyItem("k", 3, '"e"', version_id="v1"), "k")  # type: ignore[arg-type]
    [copy] = s3.named("CopyObject")
    assert copy["CopySource"]["VersionId"] == "v1" and copy["CopySourceIfMatch"] == '"e"' and copy["MetadataDirective"] == "COPY"
    assert s3.named("HeadObject") == []


def test_the_multipart_path_reads_the_version() -> None:
    s3 = Recording()
    size, _, args = source_attributes(s3, "src", ITEM, extra_metadata=RECORD)  # type: ignore[arg-type]
    assert size == 3 and args["Metadata"] == {"owner": "me", SOURCE_VERSION_METADATA: "v1"}
    assert s3.named("HeadObject")[0]["VersionId"] == "v1" and s3.named("GetObjectTagging")[0]["VersionId"] == "v1"


def test_a_streamed_copy_reads_the_version() -> None:
    s3 = Recording()
    stream_object(s3, s3, "src", "dst", ITEM, ITEM.key, CopyOptions(object_lock=True), StreamSettings(), RECORD)  # type: ignore[arg-type]
    assert s3.named("GetObject")[0]["VersionId"] == "v1" and s3.named("GetObjectTagging")[0]["VersionId"] == "v1"
    assert s3.named("GetObjectRetention")[0]["VersionId"] == "v1"
    [upload] = s3.named("Upload")
    assert upload["Body"] == b"abc" and upload["ExtraArgs"]["Metadata"] == {"owner": "me", SOURCE_VERSION_METADATA: "v1"}


def test_metadata_without_room_for_the_record_fails_permanently_with_the_reason() -> None:
    s3 = Recording(metadata={"big": "x" * 2030})
    with pytest.raises(S3Failure) as refused:
        copy_object(s3, "src", "dst", ITEM, ITEM.key, extra_metadata=RECORD)  # type: ignore[arg-type]
    assert refused.value.code == "MetadataTooLarge" and refused.value.permanent
    assert s3.named("CopyObject") == []
