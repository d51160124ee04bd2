"""The shared test keys (tests/keys.py) are what their names claim, so a test using them covers it."""

from urllib.parse import parse_qsl

from tests.keys import AWKWARD_KEYS, LONG_KEYS, NON_ASCII_FIRST, TAGGING, TAGS, ZERO_BYTE_KEYS, boundary_keys


def test_every_key_is_one_s3_can_hold_and_the_moto_server_can_route() -> None:
    for key in AWKWARD_KEYS + boundary_keys():
        assert 1 <= len(key.encode("utf-8")) <= 1024, key
        assert "\n" not in key, key


def test_no_key_is_listed_twice() -> None:
    keys = AWKWARD_KEYS + boundary_keys()
    assert len(set(keys)) == len(keys)
    # Tests that fill a bucket with AWKWARD_KEYS write these empty.
    assert set(ZERO_BYTE_KEYS) <= set(AWKWARD_KEYS)


def test_the_long_keys_are_the_longest_s3_allows() -> None:
    assert {len(key.encode("utf-8")) for key in LONG_KEYS} == {1024}
    assert {max(len(c.encode("utf-8")) for c in key) for key in LONG_KEYS} == {1, 2}


def test_first_characters_outside_ascii_of_every_width() -> None:
    assert all(ord(key[0]) > 127 for key in NON_ASCII_FIRST)
    assert {len(key[0].encode("utf-8")) for key in NON_ASCII_FIRST} == {2, 3, 4}


def test_the_tagging_string_encodes_the_tags() -> None:
    assert dict(parse_qsl(TAGGING, strict_parsing=True)) == TAGS
