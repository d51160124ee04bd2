import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from hypothesis import given
from hypothesis import strategies as st

from s3fanout.copying.single import copy_object
from s3fanout.keyspace import KeyRange
from s3fanout.messages import CopyItem
from s3fanout.s3errors import ListingError, S3Failure, describe_error
from s3fanout.s3ops import MAX_SINGLE_COPY_BYTES, confirm_absent, list_pages
from tests.keys import AWKWARD_KEYS
from tests.unit.fake_aws import FakeS3, client_error


@pytest.mark.parametrize(
    "code, status, permanent",
    [
        ("AccessDenied", 403, True),
        ("NoSuchKey", 404, True),
        ("ObjectNotInActiveTierError", 403, True),
        ("PreconditionFailed", 412, True),
        ("SlowDown", 503, False),
        ("InternalError", 500, False),
        ("ServiceUnavailable", 503, False),
        (None, 503, False),
        (None, 404, True),
    ],
)
def test_client_errors_are_translated_with_a_verdict(code, status, permanent):
    failure = describe_error(client_error(code, "details", status))
    assert failure.code == (code or str(status))
    assert failure.permanent is permanent
    assert failure.message == "details"


@pytest.mark.parametrize(
    "error, code",
    [
        (EndpointConnectionError(endpoint_url="https://s3.test"), "EndpointConnectionError"),
        (ReadTimeoutError(endpoint_url="https://s3.test"), "ReadTimeoutError"),
        (RuntimeError("boom"), "RuntimeError"),
        (KeyError(), "KeyError"),
    ],
)
def test_connection_and_unknown_errors_are_transient(error, code):
    failure = describe_error(error)
    assert (failure.code, failure.permanent) == (code, False)
    assert failure.message


SSE_C_COPY = "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."


@pytest.mark.parametrize(
    "error, message",
    [
        # HeadObject has no error body: botocore names the error by its status.
        (
            client_error(None, "Bad Request", 400, "HeadObject"),
            "Bad Request: the object is probably encrypted with a customer-provided key (SSE-C), "
            "which a server-side copy cannot read without the key",
        ),
        (
            client_error("InvalidRequest", SSE_C_COPY, 400, "CopyObject"),
            f"{SSE_C_COPY} The source is encrypted with a customer-provided key (SSE-C), which a server-side copy cannot read without the key.",
        ),
        (
            client_error("InvalidRequest", SSE_C_COPY, 400, "UploadPartCopy"),
            f"{SSE_C_COPY} The source is encrypted with a customer-provided key (SSE-C), which a server-side copy cannot read without the key.",
        ),
    ],
)
def test_an_sse_c_source_fails_permanently_with_the_reason(error, message):
    failure = describe_error(error)
    assert (failure.code, failure.permanent, failure.message) == (error.response["Error"].get("Code", "400"), True, message)


@pytest.mark.parametrize(
    "error, code, permanent, message",
    [
        # Other InvalidRequests keep S3's message.
        (client_error("InvalidRequest", "The specified copy source is larger than the maximum", 400, "CopyObject"), "InvalidRequest", True, None),
        # A bare 400 elsewhere says nothing about SSE-C.
        (client_error(None, "Bad Request", 400, "ListObjectsV2"), "400", False, "Bad Request"),
    ],
)
def test_other_bad_requests_are_not_taken_for_sse_c(error, code, permanent, message):
    failure = describe_error(error)
    assert (failure.code, failure.permanent) == (code, permanent)
    assert failure.message == (message or error.response["Error"]["Message"])
    assert "SSE-C" not in failure.message


def test_an_s3_failure_is_returned_as_is():
    failure = S3Failure("EntityTooLarge", "too big", permanent=True)
    assert describe_error(failure) is failure


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_copy_request_carries_the_key_unchanged(key):
    s3 = FakeS3()
    copy_object(s3, "src", "dst", CopyItem(key, 10, '"e1"'), key)
    assert s3.copy_requests == [
        {
            "Bucket": "dst",
            "Key": key,
            "CopySource": {"Bucket": "src", "Key": key},
            "MetadataDirective": "COPY",
            "TaggingDirective": "COPY",
            "CopySourceIfMatch": '"e1"',
        }
    ]


def test_copy_without_etag_has_no_precondition():
    s3 = FakeS3()
    copy_object(s3, "src", "dst", CopyItem("k", 10, None), "k")
    assert "CopySourceIfMatch" not in s3.copy_requests[0]


def test_copy_over_5_gib_fails_permanently_without_calling_s3():
    s3 = FakeS3()
    with pytest.raises(S3Failure) as raised:
        copy_object(s3, "src", "dst", CopyItem("huge", MAX_SINGLE_COPY_BYTES + 1, '"e"'), "huge")
    assert (raised.value.code, raised.value.permanent) == ("EntityTooLarge", True)
    assert s3.copy_requests == []


def test_copy_of_exactly_5_gib_is_attempted():
    s3 = FakeS3()
    copy_object(s3, "src", "dst", CopyItem("big", MAX_SINGLE_COPY_BYTES, '"e"'), "big")
    assert s3.copied_keys() == ["big"]


def test_copy_errors_are_raised_as_s3_failures():
    s3 = FakeS3(failures={"k": client_error("PreconditionFailed", "At least one of the pre-conditions failed", 412)})
    with pytest.raises(S3Failure) as raised:
        copy_object(s3, "src", "dst", CopyItem("k", 1, '"old"'), "k")
    assert (raised.value.code, raised.value.permanent) == ("PreconditionFailed", True)


KEYS = [f"k{i:02d}" for i in range(25)]


def listed_keys(pages):
    return [o.key for page in pages for o in page]


def test_pages_follow_the_continuation_token():
    s3 = FakeS3(KEYS, max_page=10)
    pages = list(list_pages(s3, "src", "", KeyRange()))
    assert [len(p) for p in pages] == [10, 10, 5]
    assert listed_keys(pages) == KEYS
    tokens = [r["ContinuationToken"] for r in s3.list_requests]
    assert tokens == [None, "opaque-0", "opaque-1"]
    assert {r["MaxKeys"] for r in s3.list_requests} == {1000}


def test_a_range_expected_small_is_listed_in_a_page_of_that_size():
    s3 = FakeS3(KEYS)
    pages = list(list_pages(s3, "src", "", KeyRange(None, "k04"), page_keys=6))
    assert listed_keys(pages) == KEYS[:5]
    assert [r["MaxKeys"] for r in s3.list_requests] == [6]


def test_a_range_fuller_than_expected_goes_on_in_full_pages():
    s3 = FakeS3(KEYS)
    pages = list(list_pages(s3, "src", "", KeyRange(None, "k20"), page_keys=5))
    assert listed_keys(pages) == KEYS[:21]
    assert [r["MaxKeys"] for r in s3.list_requests] == [5, 1000]


def test_a_page_size_function_is_asked_before_each_request():
    s3 = FakeS3(KEYS, max_page=4)
    sizes = iter([7, 2])
    pages = list(list_pages(s3, "src", "", KeyRange(None, "k12"), page_keys=lambda: next(sizes)))
    assert listed_keys(pages) == KEYS[:13]
    # A page the server cut short (4 of 7) says nothing of the range; a full one (2 of 2) says it
    # holds more than expected.
    assert [r["MaxKeys"] for r in s3.list_requests] == [7, 2, 1000, 1000]


def test_listed_objects_carry_size_and_etag():
    s3 = FakeS3(["a/é"])
    [[listed]] = list(list_pages(s3, "src", "", KeyRange()))
    assert (listed.key, listed.size, listed.etag) == ("a/é", FakeS3.size_of("a/é"), FakeS3.etag_of("a/é"))


@pytest.mark.parametrize("after", [None, "k07"])
def test_start_after_is_the_ranges_after(after):
    s3 = FakeS3(KEYS)
    pages = list(list_pages(s3, "src", "k", KeyRange(after, None), page_keys=10))
    assert s3.list_requests[0]["StartAfter"] == after
    assert s3.list_requests[0]["Prefix"] == "k"
    assert listed_keys(pages) == [k for k in KEYS if after is None or k > after]


# A page ending exactly at `until` needs no further request to know the range is done.
@pytest.mark.parametrize("until, pages_requested", [("k12", 2), ("k12a", 2), ("k09", 1), ("k08", 1), ("k00", 1)])
def test_listing_stops_at_until_inclusive(until, pages_requested):
    s3 = FakeS3(KEYS)
    pages = list(list_pages(s3, "src", "", KeyRange(None, until), page_keys=10))
    assert listed_keys(pages) == [k for k in KEYS if k <= until]
    assert len(s3.list_requests) == pages_requested
    assert [page.last for page in pages] == [False] * (len(pages) - 1) + [True]


def test_an_empty_range_yields_no_pages():
    s3 = FakeS3(KEYS)
    assert list(list_pages(s3, "src", "", KeyRange("k30", None))) == []


# Keys drawn from a small alphabet so that ranges often cut inside the key set.
small_keys = st.text(alphabet="ab/é\x00日", min_size=1, max_size=5)


@given(
    keys=st.lists(small_keys, max_size=40, unique=True),
    bounds=st.lists(st.none() | small_keys, min_size=2, max_size=2),
    page_size=st.integers(min_value=1, max_value=7),
    page_keys=st.integers(min_value=1, max_value=9),
)
def test_listing_yields_exactly_the_keys_in_the_range(keys, bounds, page_size, page_keys):
    after, until = bounds
    if after is not None and until is not None and after >= until:
        after, until = (until, after) if until < after else (None, until)
    key_range = KeyRange(after, until)
    s3 = FakeS3(keys, max_page=page_size)
    pages = list(list_pages(s3, "src", "", key_range, page_keys=page_keys))
    assert listed_keys(pages) == sorted(k for k in keys if key_range.contains(k))
    assert all(0 < len(page) <= page_size for page in pages)


# ------------------------------------------------------------------ confirming orphans --


class HeadAnswers(FakeS3):
    """FakeS3 whose HeadObject raises a chosen error for chosen keys."""

    def __init__(self, *args, head_errors=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_errors = dict(head_errors or {})

    def head_object(self, *, Bucket, Key):
        response = super().head_object(Bucket=Bucket, Key=Key)
        if Key in self.head_errors:
            raise self.head_errors[Key]
        return response


def test_keys_the_bucket_lacks_are_confirmed_with_a_head_each():
    s3 = FakeS3(["other"])
    confirm_absent(s3, "src", ["gone/1", "gone/2", "日本/é"])
    assert sorted(s3.head_requests, key=lambda r: r["Key"]) == [{"Bucket": "src", "Key": k} for k in ["gone/1", "gone/2", "日本/é"]]


def test_nothing_to_confirm_makes_no_request():
    s3 = FakeS3()
    confirm_absent(s3, "src", [])
    assert s3.head_requests == []


@pytest.mark.parametrize("code", ["NoSuchKey", "NotFound"])
def test_other_names_for_not_found_confirm_too(code):
    s3 = HeadAnswers(["k"], head_errors={"k": client_error(code, "gone", 404, "HeadObject")})
    confirm_absent(s3, "src", ["k"])


def test_a_key_the_bucket_still_has_is_a_listing_error():
    s3 = FakeS3(["b", "d"])
    with pytest.raises(ListingError) as raised:
        confirm_absent(s3, "src", ["a", "b", "c", "d"])
    assert raised.value.message == "key 'b' is missing from the listing of bucket 'src', but HeadObject finds it there: the listing is wrong"
    assert (raised.value.code, raised.value.permanent) == ("ListingError", True)


@pytest.mark.parametrize(
    "error, code, permanent",
    [
        (client_error("AccessDenied", "Access Denied", 403, "HeadObject"), "AccessDenied", True),
        (client_error(None, "Forbidden", 403, "HeadObject"), "403", True),
        (client_error("InternalError", "try again", 500, "HeadObject"), "InternalError", False),
        (client_error(None, "Bad Request", 400, "HeadObject"), "400", True),
        (EndpointConnectionError(endpoint_url="https://s3.test"), "EndpointConnectionError", False),
    ],
)
def test_any_other_answer_confirms_nothing(error, code, permanent):
    s3 = HeadAnswers(["k"], head_errors={"k": error})
    with pytest.raises(S3Failure) as raised:
        confirm_absent(s3, "src", ["j", "k", "l"])
    failure = raised.value
    assert not isinstance(failure, ListingError)
    assert (failure.code, failure.permanent) == (code, permanent)
    assert failure.message.startswith("HeadObject of 'k' in bucket 'src', to confirm that it is gone: ")


def test_a_key_found_outweighs_other_failures():
    s3 = HeadAnswers(["a", "b"], head_errors={"a": client_error("InternalError", "try again", 500, "HeadObject")})
    with pytest.raises(ListingError, match="key 'b' is missing"):
        confirm_absent(s3, "src", ["a", "b"])
