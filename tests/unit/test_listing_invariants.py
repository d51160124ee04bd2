"""Listings are checked, not trusted: every page against the rules the merge-join relies on.

A second S3 implementation (LocalStack) once served the same page with the same token forever,
and left 484 of 1,928 keys out of a listing that ended as if complete; a gap in a source listing
makes a key the source has look like an orphan to the delete pass. Each broken rule must raise
ListingError naming the bucket, the page and what was wrong, after a bounded number of requests.
"""

from __future__ import annotations

from typing import Any

import pytest

from s3fanout.keyspace import KeyRange
from s3fanout.s3errors import ListingError, S3Failure
from s3fanout.s3ops import MAX_EMPTY_PAGES, key_exists_after, list_pages


def page(*keys: str, token: str | None = None, truncated: bool | None = None) -> dict[str, Any]:
    """A ListObjectsV2 response; truncated when it has a token unless told otherwise."""
    response: dict[str, Any] = {"KeyCount": len(keys), "IsTruncated": token is not None if truncated is None else truncated}
    if keys:
        response["Contents"] = [{"Key": key, "Size": 1, "ETag": '"e"'} for key in keys]
    if token is not None:
        response["NextContinuationToken"] = token
    return response


class ScriptedStore:
    """Answers ListObjectsV2 from a script, one response per request whatever is asked; the last
    response is served again and again once the script runs out (a store stuck on a page)."""

    def __init__(self, *responses: dict[str, Any]) -> None:
        self.responses = list(responses) or [page()]
        self.requests: list[dict[str, Any]] = []

    def list_objects_v2(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        assert len(self.requests) < 10_000, "the listing never stopped"
        return self.responses[min(len(self.requests), len(self.responses)) - 1]


def listed(store: ScriptedStore, prefix: str = "", key_range: KeyRange | None = None) -> list[list[str]]:
    return [[obj.key for obj in p] for p in list_pages(store, "src", prefix, key_range or KeyRange())]


class EndlessEmptyPages(ScriptedStore):
    """Answers empty truncated pages, each with a token it never gave before, for ever."""

    def list_objects_v2(self, **request: Any) -> dict[str, Any]:
        super().list_objects_v2(**request)
        return page(token=f"t{len(self.requests)}")


# ---------------------------------------------------------------------------- violations --


@pytest.mark.parametrize(
    "store, prefix, key_range, problem, requests",
    [
        pytest.param(ScriptedStore(page("a", "c", "b")), "", KeyRange(), "page 1: key 'b' after 'c'", 1, id="out of order in a page"),
        pytest.param(ScriptedStore(page("a", "b", "b", "c")), "", KeyRange(), "page 1: key 'b' listed twice", 1, id="repeated in a page"),
        pytest.param(
            ScriptedStore(page("k", "n"), page()), "", KeyRange("m", None), "page 1: key 'k' is not after 'm', the StartAfter asked for", 1, id="before StartAfter"
        ),
        pytest.param(ScriptedStore(page("m", "n")), "", KeyRange("m", None), "page 1: key 'm' is not after 'm', the StartAfter asked for", 1, id="StartAfter itself"),
        pytest.param(
            ScriptedStore(page("a", "b", token="t1"), page("b", "c")), "", KeyRange(), "page 2: key 'b' is not after 'b', the last key of page 1", 2, id="page repeats a key"
        ),
        pytest.param(
            ScriptedStore(page("c", "d", token="t1"), page("a", "b")), "", KeyRange(), "page 2: key 'a' is not after 'd', the last key of page 1", 2, id="page goes back"
        ),
        pytest.param(
            ScriptedStore(page("c", "d", token="t1"), page(token="t2"), page("b")), "", KeyRange(), "page 3: key 'b' is not after 'd', the last key of page 1", 3, id="back after an empty page"
        ),
        pytest.param(ScriptedStore(page("p/1", "q/2")), "p/", KeyRange(), "page 1: key 'q/2' is not under the prefix 'p/'", 1, id="outside the prefix"),
        # A store sorting by UTF-16 code units puts U+1F600 (a surrogate pair, D83D DE00) before
        # U+FFFF. Keys appear as repr shows them, so invisible characters are escaped.
        pytest.param(ScriptedStore(page("\U0001f600", "\uffff")), "", KeyRange(), "page 1: key '\\uffff' after '\U0001f600'", 1, id="UTF-16 order"),
        pytest.param(ScriptedStore(page("b", "a")), "", KeyRange(None, "a"), "page 1: key 'a' after 'b'", 1, id="out of order past the range"),
        # LocalStack: the same page with the same token, forever.
        pytest.param(ScriptedStore(page("a", "b", token="t")), "", KeyRange(), "page 2: key 'a' is not after 'b', the last key of page 1", 2, id="same page forever"),
        pytest.param(ScriptedStore(page(token="t")), "", KeyRange(), "page 2: continuation token repeated (page 1 returned it before)", 2, id="same empty page forever"),
        pytest.param(
            ScriptedStore(page("a", token="t1"), page("b", token="t1")), "", KeyRange(), "page 2: continuation token repeated (page 1 returned it before)", 2, id="token repeated"
        ),
        pytest.param(
            ScriptedStore(page(token="t1"), page(token="t2"), page(token="t1")),
            "",
            KeyRange(),
            "page 3: continuation token repeated (page 1 returned it before)",
            3,
            id="tokens in a cycle",
        ),
        pytest.param(
            ScriptedStore(page("a", "b", truncated=True)), "", KeyRange(), "page 1: the page is truncated but has no continuation token", 1, id="truncated without a token"
        ),
        pytest.param(ScriptedStore(page(truncated=True)), "", KeyRange(), "page 1: the page is truncated but has no continuation token", 1, id="empty, truncated, no token"),
        pytest.param(
            EndlessEmptyPages(),
            "",
            KeyRange(),
            f"page {MAX_EMPTY_PAGES}: {MAX_EMPTY_PAGES} truncated pages in a row without a key",
            MAX_EMPTY_PAGES,
            id="empty pages with fresh tokens forever",
        ),
    ],
)
def test_a_page_breaking_a_rule_raises_listing_error(store, prefix, key_range, problem, requests):
    with pytest.raises(ListingError) as raised:
        listed(store, prefix, key_range)
    error = raised.value
    assert isinstance(error, S3Failure) and (error.code, error.permanent) == ("ListingError", True)
    assert error.message == f"listing of bucket 'src' (prefix {prefix!r}), {problem}"
    assert len(store.requests) == requests


def test_pages_before_the_broken_one_are_yielded_first():
    # The lister acts on what it has been given; a later page's error stops it there.
    store = ScriptedStore(page("a", "b", token="t1"), page("c", token="t2"), page("b"))
    pages = list_pages(store, "src", "", KeyRange())
    assert [o.key for o in next(pages)] == ["a", "b"]
    assert [o.key for o in next(pages)] == ["c"]
    with pytest.raises(ListingError, match="page 3: key 'b' is not after 'c', the last key of page 2"):
        next(pages)


# --------------------------------------------------------------------------- normal paths --


def test_keys_in_utf8_binary_order_pass():
    keys = ["\x01", "/a", "A", "a", "a\x00", "é", "日本", "\uffff", "\U0001f600"]
    assert keys == sorted(keys, key=lambda k: k.encode("utf-8"))
    store = ScriptedStore(page(*keys[:4], token="t1"), page(*keys[4:]))
    assert listed(store) == [keys[:4], keys[4:]]
    assert [r.get("ContinuationToken") for r in store.requests] == [None, "t1"]


def test_empty_truncated_pages_are_followed():
    # S3 may answer a page without a key that is still truncated; the listing goes on.
    store = ScriptedStore(page("a", token="t1"), page(token="t2"), page(token="t3"), page("b"))
    assert listed(store) == [["a"], ["b"]]
    assert len(store.requests) == 4


def test_fewer_empty_pages_in_a_row_than_the_limit_are_followed():
    store = ScriptedStore(*[page(token=f"t{i}") for i in range(MAX_EMPTY_PAGES - 1)], page("z"))
    assert listed(store) == [["z"]]


@pytest.mark.parametrize(
    "response, key_range, expected",
    [
        # The range ends at the page's last key: no token needed to know the listing is done.
        (page("a", "b", truncated=True), KeyRange(None, "b"), [["a", "b"]]),
        # A key past the range's end ends it too.
        (page("a", "c", truncated=True), KeyRange(None, "b"), [["a"]]),
        (page("c", truncated=True), KeyRange(None, "b"), []),
        # A token on the last page is ignored.
        (page("a", token="t", truncated=False), KeyRange(), [["a"]]),
        (page(), KeyRange(), []),
    ],
)
def test_a_listing_that_ends_needs_no_token(response, key_range, expected):
    store = ScriptedStore(response)
    assert listed(store, key_range=key_range) == expected
    assert len(store.requests) == 1


def test_start_after_and_prefix_are_checked_only_as_asked():
    store = ScriptedStore(page("p/n", "p/o"))
    assert listed(store, "p/", KeyRange("p/m", None)) == [["p/n", "p/o"]]
    assert store.requests == [{"Bucket": "src", "Prefix": "p/", "MaxKeys": 1000, "StartAfter": "p/m"}]


# ---------------------------------------------------------------------------------- probes --


@pytest.mark.parametrize(
    "response, prefix, problem",
    [
        (page("k"), "", "key 'k' is not after 'm', the StartAfter asked for"),
        (page("m"), "", "key 'm' is not after 'm', the StartAfter asked for"),
        (page("q/x"), "m", "key 'q/x' is not under the prefix 'm'"),
        (page(token="t"), "", "an empty page that says more keys follow"),
    ],
)
def test_a_probe_answered_wrongly_raises_listing_error(response, prefix, problem):
    with pytest.raises(ListingError) as raised:
        key_exists_after(ScriptedStore(response), "src", prefix, "m", None)
    assert raised.value.message == f"probe of bucket 'src' (prefix {prefix!r}) for a key after 'm': {problem}"


@pytest.mark.parametrize(
    "response, until, exists",
    [(page("n"), None, True), (page("n", token="t"), "n", True), (page("o"), "n", False), (page(), None, False), (page(), "z", False)],
)
def test_a_probe_says_whether_a_key_follows(response, until, exists):
    store = ScriptedStore(response)
    assert key_exists_after(store, "src", "", "m", until) is exists
    assert store.requests == [{"Bucket": "src", "Prefix": "", "StartAfter": "m", "MaxKeys": 1}]
