"""Job progress as the handlers report it: a tiny in-process publish/subscribe of Counts.

The handlers publish the counts of every record next to their Powertools metrics. In Lambda
nobody listens; in local mode each worker process forwards them to the CLI, which adds them up
for the progress bar and the job report. Local mode also hears of the messages a handler sends
(``messages_sent``), to wake the workers that wait for work.
"""

from __future__ import annotations

from collections.abc import Callable

from s3fanout.counts import Counts

# listener(job_id, counts of one record)
Listener = Callable[[str, Counts], None]
_listeners: list[Listener] = []
# listener(how many messages were just sent for at once, without a delay)
SentListener = Callable[[int], None]
_sent_listeners: list[SentListener] = []


def subscribe(listener: Listener) -> None:
    _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    _listeners.remove(listener)


def publish(job_id: str, counts: Counts) -> None:
    for listener in _listeners:
        listener(job_id, counts)


def subscribe_sent(listener: SentListener) -> None:
    _sent_listeners.append(listener)


def unsubscribe_sent(listener: SentListener) -> None:
    _sent_listeners.remove(listener)


def messages_sent(count: int) -> None:
    """``count`` messages were put on a queue, visible at once."""
    if count:
        for listener in _sent_listeners:
            listener(count)
