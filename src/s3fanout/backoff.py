"""The one backoff of the project: how long to wait before trying something again.

Used for a SendMessageBatch entry SQS did not accept (queues.py), a key that failed transiently and
goes back on the copy queue delayed (copying/batch.py), and a record local mode hands back to its queue
(local.py). S3 and SQS requests themselves are retried by botocore (standard mode, clients.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable

# Deliveries of a key before it is dead-lettered (MAX_ATTEMPTS, --max-attempts).
DEFAULT_MAX_ATTEMPTS = 5


def backoff_seconds(attempt: int, *, base: float, cap: float, draw: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: ``base * 2**attempt``, at most ``cap``, and a random half
    of it to spread retries that failed together (AWS's "equal jitter")."""
    ceiling: float = min(cap, base * 2.0 ** max(0, attempt))
    return ceiling / 2 + ceiling / 2 * draw()
