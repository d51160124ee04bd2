"""What a job's CopyOptions add to the requests that write a copy, the same for CopyObject
(s3ops.copy_object) and CreateMultipartUpload (multipart.py): storage class, encryption, checksum
algorithm, canned ACL, replaced user metadata, and the source's Object Lock retention and legal
hold."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from s3fanout.messages import CopyOptions
from s3fanout.s3errors import S3Failure

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Headers CopyObject's MetadataDirective COPY carries over, as HeadObject names them and
# CopyObject and CreateMultipartUpload take them. The storage class is not among them: CopyObject
# without a StorageClass writes STANDARD whatever the source's class, and the multipart copy does
# the same. Encryption is the destination bucket's default in both cases too.
COPIED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "ContentType", "Expires", "WebsiteRedirectLocation")

# What S3 answers GetObjectRetention / GetObjectLegalHold for an object that has none, or in a
# bucket without Object Lock ("Bucket is missing Object Lock Configuration", InvalidRequest).
NO_OBJECT_LOCK_CODES = frozenset({"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError", "InvalidRequest"})


def write_arguments(options: CopyOptions) -> dict[str, Any]:
    """The request arguments the options set (besides metadata and Object Lock)."""
    pairs = (
        ("StorageClass", options.storage_class),
        ("ServerSideEncryption", options.sse),
        ("SSEKMSKeyId", options.sse_kms_key_id),
        ("ChecksumAlgorithm", options.checksum_algorithm),
        ("ACL", options.acl),
    )
    return {name: value for name, value in pairs if value is not None}


def content_headers(head: Mapping[str, Any]) -> dict[str, Any]:
    """The content headers of a HeadObject answer, as CopyObject and CreateMultipartUpload take
    them. botocore gives Expires as a datetime, or only ExpiresString when the header is not a
    valid date: such a header cannot be passed on, and is left out."""
    return {name: head[name] for name in COPIED_HEADERS if head.get(name) is not None}


def object_lock_arguments(
    s3: S3Client, bucket: str, key: str, now: Callable[[], datetime] = lambda: datetime.now(UTC), version_id: str | None = None
) -> dict[str, Any]:
    """ObjectLockMode, ObjectLockRetainUntilDate and ObjectLockLegalHoldStatus giving a copy the
    source object's retention and legal hold (GetObjectRetention, GetObjectLegalHold); none for
    what the source does not have. A retention that has expired is not carried (S3 refuses a date
    in the past). With ``version_id``, that version's (each version has its own)."""
    args: dict[str, Any] = {}
    which: dict[str, Any] = {"Bucket": bucket, "Key": key} | ({"VersionId": version_id} if version_id is not None else {})
    retention = cast("dict[str, Any]", _lock_answer(lambda: s3.get_object_retention(**which)).get("Retention", {}))
    until = retention.get("RetainUntilDate")
    if retention.get("Mode") and isinstance(until, datetime) and until > now():
        args["ObjectLockMode"] = retention["Mode"]
        args["ObjectLockRetainUntilDate"] = until
    hold = cast("dict[str, Any]", _lock_answer(lambda: s3.get_object_legal_hold(**which)).get("LegalHold", {}))
    if hold.get("Status"):
        args["ObjectLockLegalHoldStatus"] = hold["Status"]
    return args


def _lock_answer(call: Callable[[], Any]) -> Mapping[str, Any]:
    try:
        return cast("Mapping[str, Any]", call())
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in NO_OBJECT_LOCK_CODES:
            return {}
        raise


# S3 allows 2 KB of user metadata per object: the UTF-8 bytes of every name and value.
MAX_USER_METADATA_BYTES = 2048


def check_metadata_size(key: str, metadata: Mapping[str, str]) -> None:
    """Refuse (permanently) a copy whose user metadata S3 would refuse: when --all-versions adds
    the source version id to a source's metadata that leaves no room for it, the key's failure
    says so instead of S3's bare MetadataTooLarge."""
    size = sum(len(name.encode("utf-8")) + len(value.encode("utf-8")) for name, value in metadata.items())
    if size > MAX_USER_METADATA_BYTES:
        reason = f"the copy of {key!r} would have {size} bytes of user metadata (the source's and what the copy records); S3 allows {MAX_USER_METADATA_BYTES}"
        raise S3Failure("MetadataTooLarge", reason, permanent=True)
