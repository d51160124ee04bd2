"""Key ranges and the partition of a bucket's key space into them.

S3 lists keys in UTF-8 binary order, which is the order of Unicode code points and so Python's own
``str`` order. A range is the half-open interval ``after < key <= until`` because ListObjectsV2's
``StartAfter`` is exclusive: a lister starts exactly where its range (or a previous lister) ended.

The published design this project grew from seeded one range per printable ASCII character and so
never listed a key starting with anything else (é, 日本, emoji, control characters). Here the
partition's first and last ranges are open-ended, so every possible key lies in exactly one range.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

# Characters that keys most often start with: boundaries are spread over these. Any other first
# character still falls into some range; it just shares it with its neighbours.
COMMON_FIRST_CHARACTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class KeyRange:
    """Keys k with after < k <= until; None leaves that end open."""

    after: str | None = None
    until: str | None = None

    def __post_init__(self) -> None:
        if self.after is not None and self.until is not None and self.after >= self.until:
            raise ValueError(f"empty key range: after={self.after!r} until={self.until!r}")

    def contains(self, key: str) -> bool:
        return (self.after is None or key > self.after) and not self.is_past(key)

    def is_past(self, key: str) -> bool:
        """True when ``key`` sorts after the range, so a listing in order can stop."""
        return self.until is not None and key > self.until


def seed_ranges(prefix: str, count: int) -> list[KeyRange]:
    """Split the keys under ``prefix`` into ``count`` contiguous ranges that together cover them all.

    Boundaries are ``prefix + c`` for characters ``c`` spread evenly over COMMON_FIRST_CHARACTERS;
    the first range is open below and the last open above.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    # One boundary per common character at most: finer seeding would only add empty ranges.
    count = min(count, len(COMMON_FIRST_CHARACTERS))
    step = len(COMMON_FIRST_CHARACTERS) / count
    boundaries = [prefix + COMMON_FIRST_CHARACTERS[round(step * (i + 1)) - 1] for i in range(count - 1)]
    lows: list[str | None] = [None, *boundaries]
    highs: list[str | None] = [*boundaries, None]
    return [KeyRange(after, until) for after, until in zip(lows, highs)]


# Splitting a range while it is listed. Keys are placed on a line by treating the characters after
# the prefix all remaining keys share as digits in the alphabet the listed keys use (hex for hashes
# and UUIDs, digits and '/' for dates, ...), so that cuts fall where keys are, for flat keys as
# much as for "folders". Where the keys end is found by probing S3 (is there a key after X?), not
# guessed. The estimate only decides where to cut and whether it is worth it: any boundaries
# strictly between the range's ends make a correct partition.
_DIGITS = 12
_END_PROBES = 10
MAX_CODE_POINT = "\U0010ffff"

# exists_after(key) -> is there a key of the range after ``key``? One ListObjectsV2 with MaxKeys=1.
ExistsAfter = Callable[[str], bool]


class _KeyLine:
    """Positions in [0, 1] of the keys under ``prefix``, digit by digit in ``alphabet``."""

    def __init__(self, prefix: str, alphabet: str) -> None:
        self.prefix = prefix
        self.alphabet = alphabet

    def position(self, key: str, *, bound: bool = False) -> float:
        """``key``'s place on the line. A character the alphabet lacks is read as the nearest digit
        it has, unless ``bound``: then the place is exact among the keys the line spells ("g" on a
        hex line sits past every hex key, "B" where the keys starting with "a" begin)."""
        if not key.startswith(self.prefix):
            return 0.0 if key < self.prefix else 1.0
        value, scale = 0.0, 1.0
        base = len(self.alphabet)
        for character in key[len(self.prefix) : len(self.prefix) + _DIGITS]:
            scale /= base
            digit = bisect.bisect_left(self.alphabet, character)
            if bound and (digit == base or self.alphabet[digit] != character):
                return value + scale * digit
            value += scale * min(digit, base - 1)
        return value

    def key_at(self, position: float) -> str:
        base = len(self.alphabet)
        digits = []
        for _ in range(_DIGITS):
            position *= base
            digit = min(int(position), base - 1)
            digits.append(self.alphabet[digit])
            position -= digit
        return self.prefix + "".join(digits).rstrip(self.alphabet[0])


@dataclass(frozen=True, slots=True)
class RemainingKeys:
    """What a lister knows about the rest of its range: roughly how many keys, and a line to cut it on."""

    estimate: float
    line: _KeyLine | None
    low: float
    high: float


def survey(key_range: KeyRange, listed: Sequence[str], exists_after: ExistsAfter) -> RemainingKeys:
    """Estimate the keys left in ``key_range`` (which starts after the last of ``listed``) from the
    density of the keys just listed, over the stretch of key space where probes find keys."""
    if len(listed) < 2 or key_range.after is None:
        return RemainingKeys(0.0, None, 0.0, 0.0)
    # The longest prefix that every remaining key shares: start from the listed keys' common
    # prefix (the range's end says nothing about where keys are) and shorten it while some key of
    # the range lies beyond everything that starts with it. Every key of the range shares its
    # ends' common prefix (``shared`` characters), so none is probed below that; and the probe
    # just above it goes first, because a range whose keys run past one first character (a seed
    # range, most parts) shortens all the way, which that one probe shows.
    prefix = _common_prefix(listed)
    shared = 0 if key_range.until is None else len(_common_prefix([key_range.after, key_range.until]))
    if len(prefix) > shared and exists_after(prefix[: shared + 1] + MAX_CODE_POINT):
        prefix = prefix[:shared]
    while len(prefix) > shared + 1 and exists_after(prefix + MAX_CODE_POINT):
        prefix = prefix[:-1]
    alphabet = "".join(sorted({c for key in listed for c in key[len(prefix) :]}))
    if len(alphabet) < 2:
        return RemainingKeys(0.0, None, 0.0, 0.0)
    line = _KeyLine(prefix, alphabet)
    low = line.position(key_range.after)
    high = 1.0 if key_range.until is None else line.position(key_range.until)
    # Where the keys end: one probe says whether any key lies past the line's end; only if none
    # does, a binary search finds the end on the line.
    if high >= 1.0 and not exists_after(prefix + alphabet[-1] * (_DIGITS + 1)):
        floor, ceiling = low, high
        # Keys that fill their alphabet (hashes, UUIDs) run to the line's end: one probe says so.
        if exists_after(line.key_at(low + (high - low) * 0.99)):
            floor = ceiling
        for _ in range(_END_PROBES if floor < ceiling else 0):
            middle = (floor + ceiling) / 2
            floor, ceiling = (middle, ceiling) if exists_after(line.key_at(middle)) else (floor, middle)
        high = ceiling
    span = line.position(listed[-1]) - line.position(listed[0])
    if span <= 0 or high <= low:
        return RemainingKeys(0.0, line, low, high)
    return RemainingKeys(len(listed) / span * (high - low), line, low, high)


def split_range(key_range: KeyRange, remaining: RemainingKeys, parts: int) -> list[KeyRange]:
    """Cut ``key_range`` into up to ``parts`` contiguous ranges that together are exactly it, with
    boundaries spread evenly over the stretch where its keys lie."""
    line = remaining.line
    if line is None or parts < 2:
        return [key_range]
    boundaries: list[str] = []
    for index in range(1, parts):
        candidate = line.key_at(remaining.low + (remaining.high - remaining.low) * index / parts)
        floor = boundaries[-1] if boundaries else key_range.after
        if (floor is None or candidate > floor) and (key_range.until is None or candidate < key_range.until):
            boundaries.append(candidate)
    lows: list[str | None] = [key_range.after, *boundaries]
    highs: list[str | None] = [*boundaries, key_range.until]
    return [KeyRange(after, until) for after, until in zip(lows, highs)]


class FirstKeys:
    """What the first keys under ``prefix`` (in order; ``complete``: there are no others) say of
    how many keys a range holds: exactly, where they cover the range; else the keys they show in
    it plus their density carried over the rest of it, on a key line of their own alphabet (as
    ``survey`` draws one). None where they say nothing: too few keys, or a range whose bounds
    their alphabet does not spell (the first keys all start with "a/", say: the line knows nothing
    of "b" to "z", nor of what lies between two characters it has). A guess, nothing more: keys
    elsewhere may be far denser or sparser than the first ones."""

    def __init__(self, keys: Sequence[str], complete: bool, prefix: str) -> None:
        self.keys = keys
        self.complete = complete
        self.prefix = prefix
        self.line: _KeyLine | None = None
        self.density = 0.0
        self.alphabet = ""
        if not complete and len(keys) >= 2:
            self.alphabet = "".join(sorted({c for key in keys for c in key[len(prefix) :]}))
            self.line = _KeyLine(prefix, self.alphabet)
            span = self.line.position(keys[-1]) - self.line.position(keys[0])
            self.density = len(keys) / span if span > 0 else 0.0

    def estimate(self, key_range: KeyRange, *, last: bool = False) -> float | None:
        """Roughly how many keys ``key_range`` holds; ``last``: no key lies past it (a probe
        said so), so that a range open above, or ending where the line cannot spell, is judged
        to the line's end."""
        low = 0 if key_range.after is None else bisect.bisect_right(self.keys, key_range.after)
        high = len(self.keys) if key_range.until is None else bisect.bisect_right(self.keys, key_range.until)
        known = float(max(0, high - low))
        final = self.keys[-1] if self.keys else None
        if self.complete or (final is not None and key_range.until is not None and key_range.until <= final):
            return known
        more = self._beyond(key_range, last)
        return None if more is None else known + more

    def _beyond(self, key_range: KeyRange, last: bool) -> float | None:
        """The range's keys past the last first key, at their density; None if it cannot say."""
        if self.line is None or self.density <= 0:
            return None
        final = self.keys[-1]
        start = final if key_range.after is None or key_range.after < final else key_range.after
        if start != final and not self._spelled(start):
            return None
        if last:
            end = 1.0
        elif key_range.until is not None and self._spelled(key_range.until):
            end = self.line.position(key_range.until)
        else:
            return None
        return self.density * max(0.0, end - self.line.position(start))

    def cut(self, key_range: KeyRange, pieces: int) -> list[KeyRange]:
        """``key_range`` in up to ``pieces`` contiguous ranges that together are exactly it, cut
        evenly on the first keys' line between its ends (``_KeyLine.position`` of a bound): fewer, or
        the range whole, where the line has no room between them (the first keys all start with
        "a/", say, and the range is "b" to "d")."""
        if self.line is None or pieces < 2:
            return [key_range]
        low = 0.0 if key_range.after is None else self.line.position(key_range.after, bound=True)
        high = 1.0 if key_range.until is None else self.line.position(key_range.until, bound=True)
        if high <= low:
            return [key_range]
        return split_range(key_range, RemainingKeys(0.0, self.line, low, high), pieces)

    def _spelled(self, bound: str) -> bool:
        return bound.startswith(self.prefix) and all(c in self.alphabet for c in bound[len(self.prefix) :])


def probe_unknown(ranges: Sequence[KeyRange], first: FirstKeys, next_key: Callable[[str], str | None]) -> list[float | None]:
    """Each range's estimated keys (``first.estimate``), with those it cannot judge settled by
    probes where they can be: ``next_key(key)`` is the first key after ``key`` (None: there is
    none). A range with no key up to its end holds 0. One probe at the start of an unknown range
    answers for every later one that lies before the key it found, so a run of empty ranges (the
    capitals between hex digits, say) costs one. A range that does hold keys is judged from its
    first key (the probe found it) up to the key the next range's probe found, or to the line's
    end where that probe found none: no key lies between. The first keys' alphabet spells those
    where it may not spell the range's own ends ("9" to "B" for hex keys is "90..." to "a0...")."""
    settled = [first.estimate(key_range) for key_range in ranges]
    found_after: dict[str, str | None] = {}
    first_in: dict[int, str] = {}  # an unknown range that holds keys: its first key
    asked: str | None = None  # no key lies after ``asked`` and before ``found``
    found: str | None = None
    for index, key_range in enumerate(ranges):
        if settled[index] is not None or key_range.after is None or key_range.until is None:
            continue
        if asked is None or not (asked <= key_range.after and (found is None or found > key_range.after)):
            asked, found = key_range.after, next_key(key_range.after)
            found_after[asked] = found
        if found is None or found > key_range.until:
            settled[index] = 0.0
        else:
            first_in[index] = found
    for index, start in first_in.items():
        until = cast("str", ranges[index].until)
        # (start, end] holds about as many keys as the range: its first key out, one past it in.
        if until in found_after:
            beyond = found_after[until]
            settled[index] = first.estimate(KeyRange(start, beyond), last=beyond is None)
        elif start < until:
            settled[index] = first.estimate(KeyRange(start, until))
    return settled


def join_sparse(estimates: Sequence[float | None], enough: float) -> list[tuple[int, int]]:
    """Runs of adjacent ranges (``first``, ``last`` index pairs, in order), given each range's
    estimated keys, joined while together they are expected to hold at most ``enough`` keys, so
    that ranges expected empty or nearly so do not each cost a lister; a range of unknown size
    (None) stays alone."""
    runs: list[tuple[int, int]] = []
    so_far: float | None = None
    for index, estimate in enumerate(estimates):
        if runs and so_far is not None and estimate is not None and so_far + estimate <= enough:
            runs[-1] = (runs[-1][0], index)
            so_far += estimate
        else:
            runs.append((index, index))
            so_far = estimate
    return runs


def _common_prefix(keys: Sequence[str]) -> str:
    first, last = min(keys), max(keys)
    length = 0
    while length < min(len(first), len(last)) and first[length] == last[length]:
        length += 1
    return first[:length]
