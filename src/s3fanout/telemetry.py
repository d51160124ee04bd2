"""A tiny in-process publish/subscribe of job progress.

The handlers publish what they did (keys listed, objects copied, keys failed) next to their
Powertools metrics. In Lambda nobody listens; in local mode the worker process forwards every event
to the CLI, which turns them into the progress bar and the summary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Listener = Callable[[str, dict[str, Any]], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    _listeners.remove(listener)


def publish(event: str, **fields: Any) -> None:
    for listener in _listeners:
        listener(event, fields)
