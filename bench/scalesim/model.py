"""The buckets of bench/scale, modelled: key sets of 1M or 100M keys answered by arithmetic.

A key set is a few segments, each an increasing sequence of UUID-shaped keys under a prefix
(``data/2024/0a1b2c3d-...``): key ``i`` of a segment is a pure function of ``i`` (evenly spaced
128-bit values with a deterministic jitter inside each slot), so that rank(key), key(rank), "the n
keys after X" and "is there a key after X" are answered by arithmetic and bisection, and no list
of 100M strings is ever built.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .assumptions import Assumptions

PAGE_KEYS = 1000  # ListObjectsV2's page (list_pages asks for 1,000)
PRINTABLE_ASCII = [chr(c) for c in range(0x20, 0x7F)]  # the original design's 95 ranges
ETAG = '"' + "0123456789abcdef" * 2 + '"'

_SPACE = 1 << 128
_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _uuid(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Segment:
    """``count`` keys ``prefix + uuid(v_i)``, v_i strictly increasing over the 128-bit space: slot
    i is [i*step, (i+1)*step) and v_i sits in it at a pseudo-random offset (a hash of i), so keys
    look random but key(i) is arithmetic and rank is a bisection over i."""

    def __init__(self, prefix: str, count: int, salt: int = 0) -> None:
        if count < 1:
            raise ValueError("a segment needs at least one key")
        self.prefix = prefix
        self.count = count
        self.salt = salt
        self.step = _SPACE // count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> str:
        if not 0 <= i < self.count:
            raise IndexError(i)
        jitter = ((((i + self.salt) * _GOLDEN) & _MASK64) * self.step) >> 64
        return self.prefix + _uuid(i * self.step + jitter)

    def keys(self, start: int, n: int) -> list[str]:
        step, salt, prefix, out = self.step, self.salt, self.prefix, []
        for i in range(start, min(self.count, start + n)):
            h = f"{i * step + (((((i + salt) * _GOLDEN) & _MASK64) * step) >> 64):032x}"
            out.append(f"{prefix}{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        return out

    def rank(self, key: str) -> int:
        """Keys of the segment <= key."""
        return bisect.bisect_right(self, key, 0, self.count)

    def rank_lt(self, key: str) -> int:
        return bisect.bisect_left(self, key, 0, self.count)


def partition_label(key: str) -> str:
    """The S3 partition model: a key's partition is its text up to and including the first '/',
    or its first character when it has no '/'."""
    slash = key.find("/")
    return key[: slash + 1] if slash >= 0 else key[:1]


class KeySet:
    """Sorted, disjoint segments; ranks are 0-based positions in the bucket's listing order."""

    def __init__(self, name: str, segments: list[Segment], description: str) -> None:
        self.name = name
        self.description = description
        self.segments = sorted(segments, key=lambda s: s[0])
        for a, b in zip(self.segments, self.segments[1:]):
            if not a[a.count - 1] < b[0]:
                raise ValueError(f"segments {a.prefix!r} and {b.prefix!r} overlap")
        self.firsts = [s[0] for s in self.segments]
        self.starts = [0]
        for s in self.segments:
            self.starts.append(self.starts[-1] + s.count)
        self.n = self.starts[-1]
        self._partitions()

    def rank(self, key: str | None) -> int:
        """Keys <= key (None: no key, 0)."""
        if key is None:
            return 0
        j = bisect.bisect_right(self.firsts, key) - 1
        return 0 if j < 0 else self.starts[j] + self.segments[j].rank(key)

    def rank_lt(self, key: str) -> int:
        j = bisect.bisect_left(self.firsts, key) - 1
        return 0 if j < 0 else self.starts[j] + self.segments[j].rank_lt(key)

    def upper(self, until: str | None) -> int:
        """Rank bound of a range's end: keys <= until, or all of them for an open end."""
        return self.n if until is None else self.rank(until)

    def key(self, r: int) -> str:
        j = bisect.bisect_right(self.starts, r) - 1
        return self.segments[j][r - self.starts[j]]

    def keys(self, r: int, n: int) -> list[str]:
        out: list[str] = []
        j = bisect.bisect_right(self.starts, r) - 1
        while len(out) < n and j < len(self.segments):
            out += self.segments[j].keys(r - self.starts[j], n - len(out))
            j += 1
            if j < len(self.segments):
                r = self.starts[j]
        return out

    def first_after(self, key: str) -> str | None:
        r = self.rank(key)
        return self.key(r) if r < self.n else None

    def exists_after(self, key: str, until: str | None) -> bool:
        """A survey probe of a range ending at ``until``: is there a key after ``key`` and not past
        ``until``? (ListObjectsV2 with StartAfter=key and MaxKeys=1, as s3ops.key_exists_after asks.)"""
        found = self.first_after(key)
        return found is not None and (until is None or found <= until)

    def _partitions(self) -> None:
        """Contiguous rank runs of one partition label each."""
        runs: list[tuple[int, str]] = []
        for s, start in zip(self.segments, self.starts):
            if "/" in s.prefix or s.prefix:
                cuts = [(start, partition_label(s[0]))]
            else:  # keys at the root: one partition per first character
                cuts = []
                for c in "0123456789abcdef":
                    r = start + s.rank_lt(c)
                    if r < start + s.count and (not cuts or r > cuts[-1][0]) and s[r - start][0] == c:
                        cuts.append((r, c))
            for r, label in cuts:
                if runs and runs[-1][1] == label:
                    continue
                runs.append((r, label))
        self.partition_starts = [r for r, _ in runs]
        self.partition_labels = [label for _, label in runs]

    def partition(self, r: int) -> int:
        return bisect.bisect_right(self.partition_starts, r) - 1

    def unlisted_by_ascii_design(self) -> int:
        """Keys whose first character is not printable ASCII."""
        return self.n - sum(self.rank_lt(chr(ord(c) + 1)) - self.rank_lt(c) for c in PRINTABLE_ASCII)


def _spread(total: int, weights: list[float]) -> list[int]:
    counts = [int(total * w) for w in weights]
    counts[0] += total - sum(counts)
    return counts


def make_keyset(distribution: str, n: int) -> KeySet:
    if distribution == "uniform":
        counts = _spread(n, [0.97, 0.02, 0.01])
        segments = [Segment("", counts[0], 1), Segment("é/", counts[1], 2), Segment("日本/", counts[2], 3)]
        text = "97% UUIDs at the root (16 first characters 0-9a-f), 2% under 'é/', 1% under '日本/'"
    elif distribution == "single":
        segments = [Segment("data/2024/", n, 4)]
        text = "100% under one prefix: data/2024/<uuid>"
    elif distribution == "skewed":
        small = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        counts = _spread(n, [0.90] + [0.07 / len(small)] * len(small) + [0.02, 0.01])
        segments = [Segment("logs/2024/", counts[0], 5)]
        segments += [Segment(c + "/", count, 10 + i) for i, (c, count) in enumerate(zip(small, counts[1:]))]
        segments += [Segment("é/", counts[-2], 6), Segment("日本/", counts[-1], 7)]
        text = "90% under logs/2024/, 7% over 62 prefixes 0/ .. z/, 2% under 'é/', 1% under '日本/'"
    else:
        raise ValueError(f"unknown distribution {distribution!r}")
    return KeySet(distribution, segments, text)


DISTRIBUTIONS = ("uniform", "single", "skewed")


class ModelS3:
    """ListObjectsV2 over a modelled source bucket and a destination that is empty (or, with
    ``dest_full``, holds the same keys), on a simulated clock."""

    def __init__(self, ks: KeySet, a: Assumptions, size: int, dest_full: bool = False) -> None:
        self.ks, self.a, self.size, self.dest_full = ks, a, size, dest_full
        self.clock = 0
        self.pages = self.dest_lists = self.probes = 0

    def list_objects_v2(self, **request: Any) -> dict[str, Any]:
        if request.get("MaxKeys") == 1:
            self.clock += self.a.probe_ms
            self.probes += 1
        elif request["Bucket"] == "dst":
            self.clock += self.a.list_page_ms
            self.dest_lists += 1
        else:
            self.clock += self.a.list_page_ms
            self.pages += 1
        if request["Bucket"] == "dst" and not self.dest_full:
            return {"KeyCount": 0, "IsTruncated": False}
        start = request.get("ContinuationToken") or request.get("StartAfter")
        first = self.ks.rank(start) if start else 0
        keys = self.ks.keys(first, request.get("MaxKeys", PAGE_KEYS))
        truncated = first + len(keys) < self.ks.n
        response: dict[str, Any] = {"Contents": [{"Key": k, "Size": self.size, "ETag": ETAG} for k in keys], "KeyCount": len(keys), "IsTruncated": truncated}
        if truncated:
            response["NextContinuationToken"] = keys[-1]
        return response
