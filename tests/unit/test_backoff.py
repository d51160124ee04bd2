"""The one backoff: doubles per attempt, capped, jittered within the upper half."""

from __future__ import annotations

import pytest

from s3fanout.backoff import backoff_seconds


@pytest.mark.parametrize(("attempt", "low", "high"), [(0, 0.5, 1.0), (1, 1.0, 2.0), (3, 4.0, 8.0), (10, 30.0, 60.0), (-1, 0.5, 1.0)])
def test_the_wait_doubles_per_attempt_up_to_the_cap(attempt: int, low: float, high: float) -> None:
    assert backoff_seconds(attempt, base=1, cap=60, draw=lambda: 0.0) == low
    assert backoff_seconds(attempt, base=1, cap=60, draw=lambda: 1.0) == high
