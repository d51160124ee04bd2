import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3fanout.keyspace import COMMON_FIRST_CHARACTERS, FirstKeys, KeyRange, _KeyLine, seed_ranges
from tests.keys import AWKWARD_KEYS

# Any key S3 can hold: valid UTF-8 (no surrogates), control characters and non-BMP included.
keys = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
prefixes = st.sampled_from(["", "data/", "logs/2024/", "日本/", "é"]) | keys


@given(prefix=prefixes, count=st.integers(min_value=1, max_value=80), key=keys)
def test_every_key_lies_in_exactly_one_seed_range(prefix, count, key):
    ranges = seed_ranges(prefix, count)
    assert sum(r.contains(key) for r in ranges) == 1
    assert sum(r.contains(prefix + key) for r in ranges) == 1


@given(prefix=prefixes, count=st.integers(min_value=1, max_value=80))
def test_seed_ranges_are_contiguous_and_open_ended(prefix, count):
    ranges = seed_ranges(prefix, count)
    assert ranges[0].after is None and ranges[-1].until is None
    for lower, upper in zip(ranges, ranges[1:]):
        assert lower.until == upper.after
        assert lower.until is not None and lower.until.startswith(prefix)
    assert len(ranges) == min(count, len(COMMON_FIRST_CHARACTERS))


# Keys at the edges of the key space and of the seeding alphabet (0-9A-Za-z), besides the awkward ones.
EDGE_KEYS = ["", "\x00", "\x01ctl", " space", "é", "日本", "😀", "\U0010ffff", "~", "{", "0", "z" * 1024, "\ufffe"]


@pytest.mark.parametrize("key", sorted(set(AWKWARD_KEYS + EDGE_KEYS)))
def test_keys_outside_printable_ascii_are_covered(key):
    # The design this project replaced seeded one range per printable ASCII character and lost these.
    ranges = seed_ranges("", 32)
    assert [r.contains(key) for r in ranges].count(True) == 1


def test_range_is_after_exclusive_until_inclusive():
    r = KeyRange("b", "d")
    assert not r.contains("b") and r.contains("b\x00") and r.contains("d") and not r.contains("d\x00")
    assert r.is_past("da") and not r.is_past("a")


def test_empty_range_is_rejected():
    with pytest.raises(ValueError):
        KeyRange("b", "b")


def test_seed_needs_at_least_one_range():
    with pytest.raises(ValueError):
        seed_ranges("", 0)


def test_a_bound_the_alphabet_cannot_spell_sits_exactly_where_its_keys_would():
    line = _KeyLine("", "0123456789abcdef")
    assert line.position("g", bound=True) == 1.0  # past every hex key
    assert line.position("B", bound=True) == line.position("a")  # where the keys starting with "a" begin
    assert line.position("9z", bound=True) == line.position("a")
    assert line.position("3", bound=True) == line.position("3")
    first = FirstKeys([f"{i:04x}" for i in range(1000)], False, "")
    parts = first.cut(KeyRange("e", "g"), 4)
    assert len(parts) == 4 and parts[0].after == "e" and parts[-1].until == "g"
    assert [p.until for p in parts[:-1]] == sorted(p.until for p in parts[:-1]) and all("e" < p.until < "g" for p in parts[:-1])  # type: ignore[operator]
    assert FirstKeys([f"a/{i:04d}" for i in range(1000)], False, "").cut(KeyRange("b", "d"), 4) == [KeyRange("b", "d")]
