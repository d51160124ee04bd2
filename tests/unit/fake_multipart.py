"""A hand-written S3 stand-in for multipart copies: no bytes stored, only sizes, ranges and parts.

Objects of any size (terabytes) cost nothing, so the tests can use real S3 limits. The fake checks
what S3 would: part numbers 1-10,000, byte ranges inside the source, CopySourceIfMatch and IfMatch
against the source's ETag, every part but the last at least 5 MiB, parts 1..N all present at
completion. ``fail`` maps (operation, part number or None) to an exception raised ``times`` times.

Checksums as S3 keeps them (moto does not): HeadObject reports a source's checksum only with
ChecksumMode ENABLED; an upload created with a ChecksumAlgorithm answers every UploadPartCopy and
ListParts with each part's checksum, and CompleteMultipartUpload refuses a part without it.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.unit.fake_aws import client_error

MiB = 1024**2


@dataclass
class SourceObject:
    size: int
    etag: str = '"source-etag"'
    headers: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    tags: list[tuple[str, str]] = field(default_factory=list)
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm -> value, e.g. {"CRC32": "..."}
    checksum_type: str | None = None  # FULL_OBJECT or COMPOSITE
    retention: dict[str, Any] | None = None  # GetObjectRetention's Retention, e.g. {"Mode": "GOVERNANCE", "RetainUntilDate": ...}
    legal_hold: str | None = None  # "ON" or "OFF"


@dataclass
class Upload:
    key: str
    args: dict[str, Any]
    parts: dict[int, tuple[str, int, int]] = field(default_factory=dict)  # number -> (etag, start, end)
    checksums: dict[int, str] = field(default_factory=dict)  # number -> the part's checksum

    @property
    def checksum_field(self) -> str | None:
        algorithm = self.args.get("ChecksumAlgorithm")
        return f"Checksum{algorithm}" if algorithm else None


class FakeMultipartS3:
    def __init__(self, sources: dict[str, SourceObject], source_bucket: str = "src", dest_bucket: str = "dst") -> None:
        self.sources = sources
        self.source_bucket = source_bucket
        self.dest_bucket = dest_bucket
        self.uploads: dict[str, Upload] = {}
        self.completed: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[tuple[str, int | None], tuple[Exception, int]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- helpers for tests --

    def fail_on(self, operation: str, error: Exception, part: int | None = None, times: int = 10**9) -> None:
        self.fail[(operation, part)] = (error, times)

    def requests(self, operation: str) -> list[dict[str, Any]]:
        return [request for name, request in self.calls if name == operation]

    def _record(self, operation: str, request: dict[str, Any], part: int | None = None) -> None:
        with self._lock:
            self.calls.append((operation, request))
            scripted = self.fail.get((operation, part))
            if scripted is not None:
                error, times = scripted
                if times > 0:
                    self.fail[(operation, part)] = (error, times - 1)
                    raise error

    def _upload(self, upload_id: str, operation: str) -> Upload:
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise client_error("NoSuchUpload", "The specified upload does not exist.", 404, operation)
        return upload

    # -- the S3 calls --

    def head_object(self, *, Bucket: str, Key: str, IfMatch: str | None = None, ChecksumMode: str | None = None) -> dict[str, Any]:
        self._record("HeadObject", {"Bucket": Bucket, "Key": Key, "IfMatch": IfMatch, "ChecksumMode": ChecksumMode})
        if Bucket == self.dest_bucket:
            if Key not in self.completed:
                raise client_error("404", "Not Found", 404, "HeadObject")
            return dict(self.completed[Key])
        source = self.sources.get(Key)
        if source is None:
            raise client_error("404", "Not Found", 404, "HeadObject")
        if IfMatch is not None and IfMatch != source.etag:
            raise client_error("412", "Precondition Failed", 412, "HeadObject")
        head = {"ContentLength": source.size, "ETag": source.etag, "Metadata": dict(source.metadata), **source.headers}
        if ChecksumMode == "ENABLED":
            head.update({f"Checksum{algorithm}": value for algorithm, value in source.checksums.items()})
            if source.checksum_type:
                head["ChecksumType"] = source.checksum_type
        return head

    def get_object_tagging(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self._record("GetObjectTagging", {"Bucket": Bucket, "Key": Key})
        return {"TagSet": [{"Key": k, "Value": v} for k, v in self.sources[Key].tags]}

    def get_object_retention(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self._record("GetObjectRetention", {"Bucket": Bucket, "Key": Key})
        retention = self.sources[Key].retention
        if retention is None:
            raise client_error("NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration", 404, "GetObjectRetention")
        return {"Retention": dict(retention)}

    def get_object_legal_hold(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self._record("GetObjectLegalHold", {"Bucket": Bucket, "Key": Key})
        status = self.sources[Key].legal_hold
        if status is None:
            raise client_error("NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration", 404, "GetObjectLegalHold")
        return {"LegalHold": {"Status": status}}

    def copy_object(self, **request: Any) -> dict[str, Any]:
        self._record("CopyObject", request)
        return {"CopyObjectResult": {"ETag": '"copied"'}}

    def create_multipart_upload(self, *, Bucket: str, Key: str, **args: Any) -> dict[str, Any]:
        self._record("CreateMultipartUpload", {"Bucket": Bucket, "Key": Key, **args})
        upload_id = f"upload-{next(self._ids)}"
        with self._lock:
            self.uploads[upload_id] = Upload(Key, args)
        return {"UploadId": upload_id}

    def upload_part_copy(self, **request: Any) -> dict[str, Any]:
        number = request["PartNumber"]
        self._record("UploadPartCopy", request, number)
        assert 1 <= number <= 10_000
        source = self.sources[request["CopySource"]["Key"]]
        if request.get("CopySourceIfMatch") not in (None, source.etag):
            raise client_error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412, "UploadPartCopy")
        start, end = map(int, request["CopySourceRange"].removeprefix("bytes=").split("-"))
        assert 0 <= start <= end < source.size, request["CopySourceRange"]
        with self._lock:
            upload = self._upload(request["UploadId"], "UploadPartCopy")
            etag = '"' + hashlib.md5(f"{start}-{end}".encode()).hexdigest() + '"'
            upload.parts[number] = (etag, start, end)
            result = {"ETag": etag}
            if upload.checksum_field:
                upload.checksums[number] = base64.b64encode(hashlib.sha256(f"{upload.checksum_field} {start}-{end}".encode()).digest()[:8]).decode()
                result[upload.checksum_field] = upload.checksums[number]
        return {"CopyPartResult": result}

    def list_parts(self, *, Bucket: str, Key: str, UploadId: str, MaxParts: int = 1000, PartNumberMarker: int = 0) -> dict[str, Any]:
        self._record("ListParts", {"UploadId": UploadId, "PartNumberMarker": PartNumberMarker})
        with self._lock:
            upload = self._upload(UploadId, "ListParts")
            numbers = sorted(n for n in upload.parts if n > PartNumberMarker)
            page = numbers[:MaxParts]
            response: dict[str, Any] = {
                "Parts": [
                    {"PartNumber": n, "ETag": upload.parts[n][0], "Size": upload.parts[n][2] - upload.parts[n][1] + 1}
                    | ({upload.checksum_field: upload.checksums[n]} if upload.checksum_field else {})
                    for n in page
                ],
                "IsTruncated": len(numbers) > len(page),
            }
        if response["IsTruncated"]:
            response["NextPartNumberMarker"] = page[-1]
        return response

    def complete_multipart_upload(self, *, Bucket: str, Key: str, UploadId: str, MultipartUpload: dict[str, Any]) -> dict[str, Any]:
        self._record("CompleteMultipartUpload", {"UploadId": UploadId, "MultipartUpload": MultipartUpload})
        with self._lock:
            upload = self._upload(UploadId, "CompleteMultipartUpload")
            given = MultipartUpload["Parts"]
            numbers = [p["PartNumber"] for p in given]
            assert numbers == list(range(1, len(numbers) + 1)), "parts must be 1..N in order"
            for part in given:
                etag, start, end = upload.parts[part["PartNumber"]]
                if part["ETag"] != etag:
                    raise client_error("InvalidPart", "wrong ETag", 400, "CompleteMultipartUpload")
                checksum_field = upload.checksum_field
                if checksum_field and checksum_field not in part:
                    raise client_error(
                        "InvalidRequest",
                        f"The upload was created using a {upload.args['ChecksumAlgorithm'].lower()} checksum. The complete request must include "
                        f"the checksum for each part. It was missing for part {part['PartNumber']} in the request.",
                        400,
                        "CompleteMultipartUpload",
                    )
                if checksum_field and part[checksum_field] != upload.checksums[part["PartNumber"]]:
                    raise client_error("InvalidPart", "wrong checksum", 400, "CompleteMultipartUpload")
                if any(name.startswith("Checksum") and name != checksum_field for name in part):
                    raise client_error("InvalidPart", "a checksum of another algorithm than the upload's", 400, "CompleteMultipartUpload")
            ranges = [upload.parts[n][1:] for n in numbers]
            for (_, end), (start, _) in zip(ranges, ranges[1:]):
                assert start == end + 1, "parts must be contiguous"
            for start, end in ranges[:-1]:
                assert end - start + 1 >= 5 * MiB, "EntityTooSmall"
            size = ranges[-1][1] + 1
            assert ranges[0][0] == 0 and size == self.sources[Key].size
            self.completed[Key] = {"ContentLength": size, "ETag": f'"combined-{len(numbers)}"', "args": upload.args}
            del self.uploads[UploadId]
        return {"ETag": self.completed[Key]["ETag"]}

    def abort_multipart_upload(self, *, Bucket: str, Key: str, UploadId: str) -> dict[str, Any]:
        self._record("AbortMultipartUpload", {"UploadId": UploadId})
        with self._lock:
            self._upload(UploadId, "AbortMultipartUpload")
            del self.uploads[UploadId]
        return {}
