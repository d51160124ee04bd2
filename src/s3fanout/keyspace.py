"""Key ranges and the partition of a bucket's key space into them.

S3 lists keys in UTF-8 binary order, which is the order of Unicode code points and so Python's own
``str`` order. A range is the half-open interval ``after < key <= until`` because ListObjectsV2's
``StartAfter`` is exclusive: a lister starts exactly where its range (or a previous lister) ended.

The published design this project grew from seeded one range per printable ASCII character and so
never listed a key starting with anything else (é, 日本, emoji, control characters). Here the
partition's first and last ranges are open-ended, so every possible key lies in exactly one range.
"""

from __future__ import annotations

from dataclasses import dataclass

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
