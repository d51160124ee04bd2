"""Objects copied in one CopyObject request (up to 5 GiB), read from the source under their key and
written to the destination under theirs: the same key, or the key under another prefix
(--dest-prefix, ``CopyBatch.dest_key``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from s3fanout.copying.options import check_metadata_size, content_headers, object_lock_arguments, write_arguments
from s3fanout.messages import DEFAULT_COPY_OPTIONS, CopyItem, CopyOptions
from s3fanout.s3errors import S3Failure, describe_error
from s3fanout.s3ops import MAX_SINGLE_COPY_BYTES

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def copy_object(
    s3: S3Client,
    source_bucket: str,
    dest_bucket: str,
    item: CopyItem,
    dest_key: str,
    options: CopyOptions = DEFAULT_COPY_OPTIONS,
    source_s3: S3Client | None = None,
    extra_metadata: Mapping[str, str] | None = None,
) -> str | None:
    """Server-side copy of the source object ``item.key`` to ``dest_key``, keeping its metadata and tags.

    CopyObject with the COPY directives carries over user metadata, Content-Type, Cache-Control,
    Content-Encoding/Disposition/Language, Expires and the tag set. The listed ETag pins the source
    version: an object that changed since it was listed fails with PreconditionFailed.

    ``options`` add storage class, encryption, checksum algorithm and ACL; with REPLACE the user
    metadata is theirs and the content headers are read from the source first (HeadObject, pinned
    to the same ETag); with Object Lock the source's retention and legal hold are read first.
    ``source_s3`` (the source region's client, ``s3`` when None) makes those reads, every one of
    them of the source's key.

    With ``item.version_id`` that version of the source is copied (CopySource's VersionId; the
    reads name it too). ``extra_metadata`` is added to the copy's user metadata (the source's, or
    the options'), which takes MetadataDirective REPLACE and so the HeadObject first: --all-versions
    records the source version id this way. Returns the new version's id (None where the
    destination is not versioned).
    """
    if item.size > MAX_SINGLE_COPY_BYTES:
        raise S3Failure(
            "EntityTooLarge",
            f"object is {item.size} bytes; CopyObject copies at most {MAX_SINGLE_COPY_BYTES} bytes and this version has no multipart copy",
            permanent=True,
        )
    request: dict[str, Any] = {
        "Bucket": dest_bucket,
        "Key": dest_key,
        "CopySource": {"Bucket": source_bucket, "Key": item.key},
        "MetadataDirective": options.metadata_directive,
        "TaggingDirective": "COPY",
    } | write_arguments(options)
    if item.version_id is not None:
        request["CopySource"]["VersionId"] = item.version_id
    if item.etag:
        request["CopySourceIfMatch"] = item.etag
    reader = source_s3 or s3
    try:
        if options.replace_metadata or extra_metadata:
            head_request: dict[str, Any] = {"Bucket": source_bucket, "Key": item.key}
            if item.etag:
                head_request["IfMatch"] = item.etag
            if item.version_id is not None:
                head_request["VersionId"] = item.version_id
            head = cast("dict[str, Any]", reader.head_object(**head_request))
            request |= content_headers(head)
            request["MetadataDirective"] = "REPLACE"
            request["Metadata"] = (dict(options.metadata) if options.replace_metadata else dict(head.get("Metadata") or {})) | dict(extra_metadata or {})
            check_metadata_size(item.key, request["Metadata"])
        if options.object_lock:
            request |= object_lock_arguments(reader, source_bucket, item.key, version_id=item.version_id)
        response = s3.copy_object(**request)
    except (ClientError, BotoCoreError) as error:
        raise describe_error(error) from error
    return response.get("VersionId")
