"""Keys and object headers that S3 allows and tools get wrong, for every test that copies them.

One list instead of a copy per test file: a key added here is tried by the unit, end-to-end and
deployed-mode tests alike. Every key is valid UTF-8 of at most 1,024 bytes, as S3 requires. None
holds a newline: the moto server the end-to-end tests run against cannot route such a key.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlencode

from s3fanout.keyspace import seed_ranges

# First characters outside ASCII: the design this project grew from seeded one key range per
# printable ASCII character and never listed these.
NON_ASCII_FIRST = [
    "é-first",
    "é-accent.txt",
    "é/first",
    "éé/nested/deeper.bin",
    "日本",
    "日本/x",
    "日本/データ.csv",
    "日本語/ファイル.txt",
    "日本/é😀",
    "😀 emoji",
    "😀 emoji first",
]
# Legal in a key, refused by SQS in a message body (messages must escape them), and a control
# character sorts before every printable one.
CONTROL_AND_NONCHARACTER = ["\x01control", "\ufffe-noncharacter"]
SPACES = ["with space", "with space.txt", "  two leading spaces", "trailing space "]
# "+" means a space in form encoding; "%" starts an escape, or looks as if it had been decoded.
PLUS_AND_PERCENT = [
    "plus+sign",
    "a+b",
    "a+b+c.txt",
    "+plus-first",
    "percent%41",
    "100%",
    "100%.txt",
    "%41%42 looks encoded",
    "%2F+ ?#",
]
# "?" starts a URL's query and "#" its fragment.
QUESTION_AND_HASH = [
    "question?mark=1",
    "what?",
    "what?.txt",
    "?question-first",
    "hash#tag",
    "#hash",
    "#hash-first",
    "dir#1/file#2",
]
# Keys that file systems and path-joining code normalise away.
SLASHES = ["/leading-slash", "/leading/slash", "double//slash", "//double/slash"]
# The rest of printable ASCII, and keys around the seeding boundaries' alphabet (0-9A-Za-z).
PUNCTUATION = [
    "semi;colon,comma=equals&amp",
    "quote'double\"back`tick",
    "brackets[1]{2}(3)<4>",
    "tilde~caret^pipe|backslash\\",
    "!bang",
    "-dash",
    ".dot",
    "~tilde-first",
    "{brace-first",
    "zzz-last-ascii",
    "Z-upper",
]
# The longest keys S3 allows, 1,024 bytes of UTF-8: one byte, two bytes and mixed per character.
# (A 1,024-byte key of control characters is six times longer once JSON-escaped.)
LONG_KEY = "long-" + "ü" * 509 + "x"
LONG_KEYS = ["x" * 1024, "é" * 512, LONG_KEY]
# Keys of zero-byte objects: tests that fill a bucket with AWKWARD_KEYS write these with no body.
ZERO_BYTE_KEYS = ["empty-object", "folder/"]

AWKWARD_KEYS = [
    *NON_ASCII_FIRST,
    *CONTROL_AND_NONCHARACTER,
    *SPACES,
    *PLUS_AND_PERCENT,
    *QUESTION_AND_HASH,
    *SLASHES,
    *PUNCTUATION,
    *LONG_KEYS,
    *ZERO_BYTE_KEYS,
]


def boundary_keys(ranges: int = 32) -> list[str]:
    """Keys equal to the seeding boundaries of ``ranges`` ranges (a range is after < key <= until)
    and keys right after them."""
    boundaries = [r.until for r in seed_ranges("", ranges) if r.until is not None]
    return boundaries[:4] + [b + " just after" for b in boundaries[-3:]]


# What a copy must carry over unchanged, as put_object's keyword arguments and as head_object
# answers them. User metadata is ASCII: S3 refuses anything else in its headers.
METADATA = {"owner": "e2e", "purpose": "metadata must survive"}
CONTENT_HEADERS = {
    "ContentType": "application/json",
    "CacheControl": "no-cache",
    "ContentDisposition": 'attachment; filename="x.json"',
    "ContentEncoding": "identity",
    "ContentLanguage": "de",
    "Expires": dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
}
HEADERS = {"Metadata": METADATA, **CONTENT_HEADERS}
# Tags with a space in a value: put_object takes them URL-encoded, get_object_tagging answers TAGS.
TAGS = {"team": "data", "stage": "e2e test"}
TAGGING = urlencode(TAGS, quote_via=quote)
