"""Job progress as the handlers report it: a tiny in-process publish/subscribe of Counts.

The handlers publish the counts of every record next to their Powertools metrics. In Lambda
nobody listens; in local mode each worker process forwards them to the CLI, which adds them up
for the progress bar and the job report.
"""

from __future__ import annotations

from collections.abc import Callable

from s3fanout.counts import Counts

# listener(job_id, counts of one record)
Listener = Callable[[str, Counts], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    _listeners.remove(listener)


def publish(job_id: str, counts: Counts) -> None:
    for listener in _listeners:
        listener(job_id, counts)
