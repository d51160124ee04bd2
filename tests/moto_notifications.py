"""moto's GetBucketNotificationConfiguration, made to say whether EventBridge delivery is on, as S3
does (``patch()``/``unpatch()``, or ``patched()`` as a context manager), for in-process moto.

moto 5.2 keeps the switch a PutBucketNotificationConfiguration turned on (and sends the bucket's
events to EventBridge), but its answer to GetBucketNotificationConfiguration leaves the
``EventBridgeConfiguration`` out. A read-modify-write of the document against moto then always
finds the switch off and turns it off with the next write; S3 answers an empty
``<EventBridgeConfiguration/>`` element when it is on. With the patch, tests can check that the
switch survives our writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.s3.responses import S3Response

_ORIGINAL = S3Response.get_bucket_notification
_ELEMENT = "<EventBridgeConfiguration></EventBridgeConfiguration>"
_ROOT = "NotificationConfiguration"


def _get_bucket_notification(self: Any) -> Any:
    status, headers, body = _ORIGINAL(self)
    configuration = self.backend.get_bucket_notification_configuration(self.bucket_name)
    if configuration is None or configuration.event_bridge is None or _ELEMENT in body:
        return status, headers, body
    start = body.index(f"<{_ROOT}")
    end = body.index(">", start)
    if body[end - 1] == "/":  # <NotificationConfiguration xmlns="..."/>: nothing else on
        opening = body[start : end - 1].rstrip() + ">"
        return status, headers, body[:start] + opening + _ELEMENT + f"</{_ROOT}>" + body[end + 1 :]
    closing = body.rindex(f"</{_ROOT}>")
    return status, headers, body[:closing] + _ELEMENT + body[closing:]


def patch() -> None:
    S3Response.get_bucket_notification = _get_bucket_notification  # type: ignore[method-assign]


def unpatch() -> None:
    S3Response.get_bucket_notification = _ORIGINAL  # type: ignore[method-assign]


@contextmanager
def patched() -> Iterator[None]:
    patch()
    try:
        yield
    finally:
        unpatch()
