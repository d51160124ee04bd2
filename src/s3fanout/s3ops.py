"""The few S3 calls the tool makes; their errors are translated at this boundary (s3errors.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from s3fanout.keyspace import KeyRange
from s3fanout.s3errors import PERMANENT_ERROR_CODES, ListingError, S3Failure, describe_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# CopyObject copies objects up to 5 GiB in one request; larger ones need a multipart copy.
MAX_SINGLE_COPY_BYTES = 5 * 1024**3
# Keys in a full ListObjectsV2 page (the most S3 answers).
PAGE_KEYS = 1000


@dataclass(frozen=True, slots=True)
class ListedObject:
    key: str
    size: int
    etag: str
    last_modified: datetime | None = None
    # The version listed, where the listing names one (--as-of: the version current then).
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class ListedPage:
    """One page of a range's listing; ``last`` says that nothing of the range follows it."""

    objects: list[ListedObject]
    last: bool

    def __iter__(self) -> Iterator[ListedObject]:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)


def list_pages_as(
    s3: S3Client,
    bucket: str,
    source_prefix: str,
    dest_prefix: str | None,
    key_range: KeyRange,
    on_request: Callable[[], None] | None = None,
    page_keys: int | Callable[[], int] = PAGE_KEYS,
) -> Iterator[ListedPage]:
    """A destination's listing of a source's ``key_range`` under ``source_prefix``, its keys named
    as the source's: with ``dest_prefix`` (--dest-prefix, keys written as ``dest_prefix + rest``)
    the destination is listed under that prefix over the rewritten range, and each key comes back
    as ``source_prefix + rest``. The rewrite keeps the order, so merge-joins work unchanged. The
    range's bounds must lie under ``source_prefix`` (seeded and split ranges do)."""
    if dest_prefix is None or dest_prefix == source_prefix:
        yield from list_pages(s3, bucket, source_prefix, key_range, page_keys, on_request)
        return

    def rewrite(bound: str | None) -> str | None:
        if bound is None:
            return None
        if not bound.startswith(source_prefix):
            raise ValueError(f"range bound {bound!r} is outside the prefix {source_prefix!r}")
        return dest_prefix + bound[len(source_prefix) :]

    dest_range = KeyRange(rewrite(key_range.after), rewrite(key_range.until))
    for page in list_pages(s3, bucket, dest_prefix, dest_range, page_keys, on_request):
        yield ListedPage([replace(obj, key=source_prefix + obj.key[len(dest_prefix) :]) for obj in page], page.last)


# S3 may answer a truncated page without a key now and then; this many in a row is a listing going
# round in circles with fresh tokens, and the lister could not even hand on its range meanwhile.
MAX_EMPTY_PAGES = 100


def list_pages(
    s3: S3Client, bucket: str, prefix: str, key_range: KeyRange, page_keys: int | Callable[[], int] = PAGE_KEYS, on_request: Callable[[], None] | None = None
) -> Iterator[ListedPage]:
    """Yield the objects of ``key_range`` under ``prefix`` one ListObjectsV2 page at a time
    (pages without a key in the range are not yielded; ``on_request`` hears of every request).

    botocore asks for and decodes URL-encoded keys itself, so keys with characters XML 1.0 cannot
    carry (control characters) arrive intact. The last page is cut at ``key_range.until``.

    ``page_keys`` is the MaxKeys of each request (or a function asked before each): the keys the
    caller expects the range to hold. A page answers up to that many keys whether or not they lie
    in the range, and a server's work (moto's, a self-hosted store's) grows with every key it
    answers, so a small range is better listed in a small page. Once a page comes back full with
    every key in the range, the range holds more than expected and the later pages are full ones.

    Every page is checked against what the merge-join and the delete pass rely on (see
    ``_page_problem``), and the continuation token must be new on every page: a listing that
    breaks a rule raises ListingError naming the bucket, the page and the broken rule, rather
    than skip keys, loop, or make a key the source has look like an orphan.
    """
    expected = page_keys if callable(page_keys) else lambda: page_keys
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if key_range.after is not None:
        request["StartAfter"] = key_range.after
    previous, since = key_range.after, "the StartAfter asked for"
    tokens: dict[str, int] = {}  # continuation token -> the page that returned it
    number = empty_pages = 0
    more_than_expected = False
    while True:
        number += 1
        if on_request is not None:
            on_request()
        request["MaxKeys"] = PAGE_KEYS if more_than_expected else max(1, min(PAGE_KEYS, expected()))
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
            objects.append(listed_object(entry))
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
        more_than_expected = more_than_expected or len(objects) >= request["MaxKeys"]
        if objects:
            previous, since = objects[-1].key, f"the last key of page {number}"
            yield ListedPage(objects, last=False)
        request["ContinuationToken"] = token


def listed_object(entry: Mapping[str, Any]) -> ListedObject:
    """An object of a ListObjectsV2 page's Contents."""
    return ListedObject(entry["Key"], entry["Size"], entry.get("ETag", ""), entry.get("LastModified"))


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
    """Is there a key under ``prefix`` after ``key`` (and not past ``until``)? One small LIST."""
    found = first_key_after(s3, bucket, prefix, key)
    return found is not None and (until is None or found <= until)


def first_key_after(s3: S3Client, bucket: str, prefix: str, key: str) -> str | None:
    """The first key under ``prefix`` after ``key``, or None. One LIST of one key.

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
    return contents[0]["Key"] if contents else None


@dataclass(frozen=True, slots=True)
class FirstPage:
    """The first ListObjectsV2 page under a prefix: its objects, in order, and whether it is the last."""

    objects: list[ListedObject]
    complete: bool

    @property
    def keys(self) -> list[str]:
        return [obj.key for obj in self.objects]


def first_page(s3: S3Client, bucket: str, prefix: str) -> FirstPage:
    """One LIST of up to 1,000 keys from the start of ``prefix``, checked as ``list_pages``
    checks a page (a local run decides its objects as a lister would: ``job.seed_plan``)."""
    try:
        response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=PAGE_KEYS)
    except (ClientError, BotoCoreError) as error:
        raise describe_error(error) from error
    objects = [listed_object(entry) for entry in response.get("Contents", [])]
    problem = _page_problem([obj.key for obj in objects], prefix, None, "")
    if problem is not None:
        raise _broken_page(bucket, prefix, 1, problem)
    return FirstPage(objects, not response.get("IsTruncated"))


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


# ------------------------------------------------------------------------------ versions --


@dataclass(frozen=True, slots=True)
class ListedVersion:
    """One entry of ListObjectVersions: an object version, or a delete marker (size 0, no ETag)."""

    key: str
    version_id: str
    size: int = 0
    etag: str = ""
    last_modified: datetime | None = None
    delete_marker: bool = False


@dataclass(frozen=True, slots=True)
class VersionPage:
    """One page of a range's version listing, in S3's order (keys ascending, each key's entries
    newest first); ``last`` says that nothing of the range follows it."""

    entries: list[ListedVersion]
    last: bool

    def __iter__(self) -> Iterator[ListedVersion]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


# ListObjectVersions answers with <Version> and <DeleteMarker> elements interleaved in S3's order,
# but botocore parses them into two lists (Versions, DeleteMarkers) and the interleaving is lost:
# LastModified has one-second resolution, so a version and a delete marker of one key written in
# the same second could not be put back in order. This hook reads the order of the two kinds of
# element from the raw answer ("V" and "D", one letter per entry) into the parsed response.
ENTRY_KINDS = "S3FanoutEntryKinds"
_ENTRY_ELEMENT = re.compile(rb"<(Version|DeleteMarker)>")


def _record_entry_kinds(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    body = response_dict.get("body")
    if isinstance(body, bytes) and int(response_dict.get("status_code", 200)) < 300:
        customized_response_dict[ENTRY_KINDS] = "".join("V" if match.group(1) == b"Version" else "D" for match in _ENTRY_ELEMENT.finditer(body))


def _watch_entry_order(s3: S3Client) -> None:
    events = getattr(getattr(s3, "meta", None), "events", None)
    if events is not None:
        events.register("before-parse.s3.ListObjectVersions", _record_entry_kinds, unique_id="s3fanout-version-entry-kinds")


def version_entries(response: Mapping[str, Any]) -> list[ListedVersion]:
    """The versions and delete markers of one ListObjectVersions answer, in S3's order: as the
    raw answer interleaved them (``_record_entry_kinds``), else (a client without the hook, such
    as a test's fake) merged by key and then newest first, a version before a delete marker of
    the same second."""
    versions = [ListedVersion(v["Key"], str(v.get("VersionId") or "null"), int(v.get("Size", 0)), str(v.get("ETag", "")), v.get("LastModified")) for v in response.get("Versions", [])]
    markers = [ListedVersion(m["Key"], str(m.get("VersionId") or "null"), last_modified=m.get("LastModified"), delete_marker=True) for m in response.get("DeleteMarkers", [])]
    kinds = response.get(ENTRY_KINDS)
    if isinstance(kinds, str) and kinds.count("V") == len(versions) and kinds.count("D") == len(markers):
        sources = {"V": iter(versions), "D": iter(markers)}
        return [next(sources[kind]) for kind in kinds]
    return sorted(versions + markers, key=lambda e: (e.key, -e.last_modified.timestamp() if e.last_modified else 0.0, e.delete_marker))


def list_version_pages(
    s3: S3Client,
    bucket: str,
    prefix: str,
    key_range: KeyRange,
    resume_at: tuple[str, str] | None = None,
    page_size: int = 1000,
    on_request: Callable[[], None] | None = None,
) -> Iterator[VersionPage]:
    """Yield every version and delete marker of ``key_range`` under ``prefix``, one
    ListObjectVersions page at a time, in S3's order (pages without an entry in the range are not
    yielded; the last page yielded is always marked last, one page being read ahead). The listing
    starts after the key ``key_range.after`` (KeyMarker alone, which S3 treats as exclusive), or
    with ``resume_at`` (key, version id) inside that key, after that version (KeyMarker and
    VersionIdMarker; ``key_range.after`` is then not used, so that the key may be the range's
    ``until``). botocore asks for URL-encoded keys and decodes them.

    Pages are checked as ``list_pages`` checks its own: keys under the prefix and in order, no
    entry listed twice, the markers new on every page. A listing that breaks a rule raises
    ListingError.
    """
    previous: VersionPage | None = None
    for page in _version_pages(s3, bucket, prefix, key_range, resume_at, page_size, on_request):
        if previous is not None:
            yield previous
        previous = page
    if previous is not None:
        yield VersionPage(previous.entries, last=True)


def _version_pages(s3: S3Client, bucket: str, prefix: str, key_range: KeyRange, resume_at: tuple[str, str] | None, page_size: int, on_request: Callable[[], None] | None) -> Iterator[VersionPage]:
    _watch_entry_order(s3)
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
    position: tuple[str, str | None] | None = None
    seen: set[str] = set()  # version ids of the key at ``position``
    if resume_at is not None:
        request["KeyMarker"], request["VersionIdMarker"] = resume_at
        position, seen = resume_at, {resume_at[1]}
    elif key_range.after is not None:
        request["KeyMarker"] = key_range.after
        position = (key_range.after, None)
    markers: dict[tuple[str, str], int] = {}
    number = empty_pages = 0
    while True:
        number += 1
        if on_request is not None:
            on_request()
        try:
            response = s3.list_object_versions(**request)
        except (ClientError, BotoCoreError) as error:
            raise describe_error(error) from error
        entries = version_entries(cast("Mapping[str, Any]", response))
        kept: list[ListedVersion] = []
        for entry in entries:
            problem = _version_problem(entry, prefix, position, seen)
            if problem is not None:
                raise _broken_page(bucket, prefix, number, problem)
            if position is None or entry.key != position[0]:
                seen = set()
            seen.add(entry.version_id)
            position = (entry.key, entry.version_id)
            if key_range.is_past(entry.key):
                if kept:
                    yield VersionPage(kept, last=True)
                return
            kept.append(entry)
        if not response.get("IsTruncated"):
            if kept:
                yield VersionPage(kept, last=True)
            return
        key_marker, version_marker = response.get("NextKeyMarker"), response.get("NextVersionIdMarker")
        if not key_marker:
            raise _broken_page(bucket, prefix, number, "the page is truncated but has no NextKeyMarker")
        marker = (key_marker, version_marker or "")
        if marker in markers:
            raise _broken_page(bucket, prefix, number, f"markers repeated (page {markers[marker]} returned them before)")
        markers[marker] = number
        empty_pages = 0 if kept else empty_pages + 1
        if empty_pages >= MAX_EMPTY_PAGES:
            raise _broken_page(bucket, prefix, number, f"{empty_pages} truncated pages in a row without an entry")
        if kept:
            yield VersionPage(kept, last=False)
        request["KeyMarker"] = key_marker
        if version_marker:
            request["VersionIdMarker"] = version_marker
        else:
            request.pop("VersionIdMarker", None)


def _version_problem(entry: ListedVersion, prefix: str, position: tuple[str, str | None] | None, seen: set[str]) -> str | None:
    """What is wrong with a listed entry that follows ``position`` (the key and version listed or
    asked for last; a version None: after the whole key), or None."""
    if not entry.key.startswith(prefix):
        return f"key {entry.key!r} is not under the prefix {prefix!r}"
    if position is None:
        return None
    key, version = position
    if entry.key < key or (entry.key == key and version is None):
        return f"key {entry.key!r} is not after {key!r}"
    if entry.key == key and entry.version_id in seen:
        return f"version {entry.version_id!r} of key {entry.key!r} listed twice"
    return None


def key_version_entries(s3: S3Client, bucket: str, key: str, page_size: int = 1000, on_request: Callable[[], None] | None = None) -> Iterator[ListedVersion]:
    """Every version and delete marker of exactly ``key``, newest first (ListObjectVersions with
    the key as the prefix, stopping at the first longer key)."""
    for page in _version_pages(s3, bucket, key, KeyRange(None, key), None, page_size, on_request):
        for entry in page:
            if entry.key != key:
                return
            yield entry


# The user metadata a copy made by --all-versions carries: the id of the source version it copies.
SOURCE_VERSION_METADATA = "s3fanout-source-version-id"


def recorded_source_version(s3: S3Client, bucket: str, key: str, version_id: str) -> str | None:
    """The source version id recorded on a version of a destination key (HeadObject of that
    version), None when it records none; S3Failure when it cannot be read."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key, VersionId=version_id)
    except (ClientError, BotoCoreError) as error:
        raise describe_error(error) from error
    value = (head.get("Metadata") or {}).get(SOURCE_VERSION_METADATA)
    return str(value) if value else None


def write_delete_marker(s3: S3Client, bucket: str, key: str) -> str | None:
    """DeleteObject without a version id: in a versioned bucket it adds a delete marker (nothing
    is destroyed); the marker's version id."""
    try:
        response = s3.delete_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as error:
        raise describe_error(error) from error
    return response.get("VersionId")


def object_listed_at(s3: S3Client, bucket: str, key: str) -> ListedObject | None:
    """The current object ``key`` as a listing shows it, or None: one ListObjectsV2 with the key as
    the prefix (the key itself sorts first among the keys it prefixes)."""
    try:
        response = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    except (ClientError, BotoCoreError) as error:
        raise describe_error(error) from error
    contents = response.get("Contents", [])
    if not contents or contents[0]["Key"] != key:
        return None
    return listed_object(contents[0])
