"""The few S3 calls the tool makes; their errors are translated at this boundary (s3errors.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from s3fanout.copying.options import content_headers, object_lock_arguments, write_arguments
from s3fanout.keyspace import KeyRange
from s3fanout.messages import DEFAULT_COPY_OPTIONS, CopyItem, CopyOptions
from s3fanout.s3errors import PERMANENT_ERROR_CODES, ListingError, S3Failure, describe_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# CopyObject copies objects up to 5 GiB in one request; larger ones need a multipart copy.
MAX_SINGLE_COPY_BYTES = 5 * 1024**3

def copy_object(
    s3: S3Client, source_bucket: str, dest_bucket: str, item: CopyItem, options: CopyOptions = DEFAULT_COPY_OPTIONS, source_s3: S3Client | None = None
) -> None:
    """Server-side copy of one object to the same key, keeping its metadata and tags.

    CopyObject with the COPY directives carries over user metadata, Content-Type, Cache-Control,
    Content-Encoding/Disposition/Language, Expires and the tag set. The listed ETag pins the source
    version: an object that changed since it was listed fails with PreconditionFailed.

    ``options`` add storage class, encryption, checksum algorithm and ACL; with REPLACE the user
    metadata is theirs and the content headers are read from the source first (HeadObject, pinned
    to the same ETag); with Object Lock the source's retention and legal hold are read first.
    ``source_s3`` (the source region's client, ``s3`` when None) makes those reads.
    """
    if item.size > MAX_SINGLE_COPY_BYTES:
        raise S3Failure(
            "EntityTooLarge",
            f"object is {item.size} bytes; CopyObject copies at most {MAX_SINGLE_COPY_BYTES} bytes "
            "and this version has no multipart copy",
            permanent=True,
        )
    request: dict[str, Any] = {
        "Bucket": dest_bucket,
        "Key": item.key,
        "CopySource": {"Bucket": source_bucket, "Key": item.key},
        "MetadataDirective": options.metadata_directive,
        "TaggingDirective": "COPY",
    } | write_arguments(options)
    if item.etag:
        request["CopySourceIfMatch"] = item.etag
    reader = source_s3 or s3
    try:
        if options.replace_metadata:
            head_request: dict[str, Any] = {"Bucket": source_bucket, "Key": item.key}
            if item.etag:
                head_request["IfMatch"] = item.etag
            request |= content_headers(cast("dict[str, Any]", reader.head_object(**head_request)))
            request["Metadata"] = dict(options.metadata)
        if options.object_lock:
            request |= object_lock_arguments(reader, source_bucket, item.key)
        s3.copy_object(**request)
    except (ClientError, BotoCoreError) as error:
        raise describe_error(error) from error


@dataclass(frozen=True, slots=True)
class ListedObject:
    key: str
    size: int
    etag: str
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class ListedPage:
    """One page of a range's listing; ``last`` says that nothing of the range follows it."""

    objects: list[ListedObject]
    last: bool

    def __iter__(self) -> Iterator[ListedObject]:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)


# S3 may answer a truncated page without a key now and then; this many in a row is a listing going
# round in circles with fresh tokens, and the lister could not even hand on its range meanwhile.
MAX_EMPTY_PAGES = 100


def list_pages(
    s3: S3Client, bucket: str, prefix: str, key_range: KeyRange, page_size: int = 1000, on_request: Callable[[], None] | None = None
) -> Iterator[ListedPage]:
    """Yield the objects of ``key_range`` under ``prefix`` one ListObjectsV2 page at a time
    (pages without a key in the range are not yielded; ``on_request`` hears of every request).

    botocore asks for and decodes URL-encoded keys itself, so keys with characters XML 1.0 cannot
    carry (control characters) arrive intact. The last page is cut at ``key_range.until``.

    Every page is checked against what the merge-join and the delete pass rely on (see
    ``_page_problem``), and the continuation token must be new on every page: a listing that
    breaks a rule raises ListingError naming the bucket, the page and the broken rule, rather
    than skip keys, loop, or make a key the source has look like an orphan.
    """
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
    if key_range.after is not None:
        request["StartAfter"] = key_range.after
    previous, since = key_range.after, "the StartAfter asked for"
    tokens: dict[str, int] = {}  # continuation token -> the page that returned it
    number = empty_pages = 0
    while True:
        number += 1
        if on_request is not None:
            on_request()
        try:
            response = s3.list_objects_v2(**request)
        except (ClientError, BotoCoreError) as error:
            raise describe_error(error) from error
        entries = response.get("Contents", [])
        problem = _page_problem([entry["Key"] for entry in entries], prefix, previous, since)
        if problem is not None:
            raise _broken_page(bucket, prefix, number, problem)
        objects: list[ListedObject] = []
        for entry in entries:
            if key_range.is_past(entry["Key"]):
                if objects:
                    yield ListedPage(objects, last=True)
                return
            objects.append(ListedObject(entry["Key"], entry["Size"], entry.get("ETag", ""), entry.get("LastModified")))
        if not response.get("IsTruncated") or (bool(objects) and objects[-1].key == key_range.until):
            if objects:
                yield ListedPage(objects, last=True)
            return
        token = response.get("NextContinuationToken")
        if not token:
            raise _broken_page(bucket, prefix, number, "the page is truncated but has no continuation token")
        if token in tokens:
            raise _broken_page(bucket, prefix, number, f"continuation token repeated (page {tokens[token]} returned it before)")
        tokens[token] = number
        empty_pages = 0 if objects else empty_pages + 1
        if empty_pages >= MAX_EMPTY_PAGES:
            raise _broken_page(bucket, prefix, number, f"{empty_pages} truncated pages in a row without a key")
        if objects:
            previous, since = objects[-1].key, f"the last key of page {number}"
            yield ListedPage(objects, last=False)
        request["ContinuationToken"] = token


def _broken_page(bucket: str, prefix: str, number: int, problem: str) -> ListingError:
    return ListingError(f"listing of bucket {bucket!r} (prefix {prefix!r}), page {number}: {problem}")


def _page_problem(keys: list[str], prefix: str, previous: str | None, since: str) -> str | None:
    """What is wrong with a page of ``keys`` that follows ``previous`` (``since`` says what that
    is: StartAfter, or the last key of an earlier page), or None. Keys must be under ``prefix``
    and strictly increasing in UTF-8 binary order, which is Python's ``str`` order."""
    for index, key in enumerate(keys):
        if not key.startswith(prefix):
            return f"key {key!r} is not under the prefix {prefix!r}"
        if previous is not None and key <= previous:
            if index == 0:
                return f"key {key!r} is not after {previous!r}, {since}"
            if key == previous:
                return f"key {key!r} listed twice"
            return f"key {key!r} after {previous!r}"
        previous = key
    return None


def key_exists_after(s3: S3Client, bucket: str, prefix: str, key: str, until: str | None) -> bool:
    """Is there a key under ``prefix`` after ``key`` (and not past ``until``)? One small LIST.

    A probe answered with a key not after ``key`` or not under ``prefix``, or with an empty page
    that says more keys follow, raises ListingError, as a page of ``list_pages`` would."""
    try:
        response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, StartAfter=key, MaxKeys=1)
    except (ClientError, BotoCoreError) as error:
        raise describe_error(error) from error
    contents = response.get("Contents", [])
    problem = _page_problem([entry["Key"] for entry in contents], prefix, key, "the StartAfter asked for")
    if problem is None and not contents and response.get("IsTruncated"):
        problem = "an empty page that says more keys follow"
    if problem is not None:
        raise ListingError(f"probe of bucket {bucket!r} (prefix {prefix!r}) for a key after {key!r}: {problem}")
    return bool(contents) and (until is None or contents[0]["Key"] <= until)


# HeadObject requests in flight at once when confirming orphans.
ABSENCE_CHECK_CONCURRENCY = 16
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def confirm_absent(s3: S3Client, bucket: str, keys: list[str]) -> None:
    """Confirm with one HeadObject per key that ``bucket`` lacks each of ``keys``: keys its listing
    did not show, about to be deleted elsewhere as orphans. Only a 404 confirms.

    A key the bucket has after all means its listing was wrong: ListingError, naming the first
    such key. Any other answer (403, a bare 400, 500, a timeout) confirms nothing either: the
    translated S3Failure, naming the key. Either way the caller must delete none of ``keys``.
    """
    if not keys:
        return

    def check(key: str) -> S3Failure | None:
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as error:
            failure = describe_error(error)
            if failure.code in _NOT_FOUND_CODES:
                return None
            return S3Failure(failure.code, f"HeadObject of {key!r} in bucket {bucket!r}, to confirm that it is gone: {failure.message}", failure.permanent)
        return ListingError(f"key {key!r} is missing from the listing of bucket {bucket!r}, but HeadObject finds it there: the listing is wrong")

    with ThreadPoolExecutor(max_workers=min(ABSENCE_CHECK_CONCURRENCY, len(keys))) as pool:
        failures = list(pool.map(check, keys))
    # The first ListingError (the listing is wrong) first, then the first other failure.
    failure = next((f for f in failures if isinstance(f, ListingError)), None) or next((f for f in failures if f is not None), None)
    if failure is not None:
        raise failure


# DeleteObjects takes at most this many keys per request.
MAX_DELETE_KEYS = 1000


def delete_objects(s3: S3Client, bucket: str, keys: list[str]) -> int:
    """Delete the keys in requests of up to 1,000; raise S3Failure naming the first key that failed."""
    for start in range(0, len(keys), MAX_DELETE_KEYS):
        chunk = keys[start : start + MAX_DELETE_KEYS]
        try:
            response = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True})
        except (ClientError, BotoCoreError) as error:
            raise describe_error(error) from error
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            code = str(first.get("Code", "Unknown"))
            raise S3Failure(code, f"{len(errors)} of {len(chunk)} deletes failed, first {first.get('Key')!r}: {first.get('Message', '')}", code in PERMANENT_ERROR_CODES)
    return len(keys)
