"""A fault-injecting S3/SQS endpoint for end-to-end tests.

moto's server application (the one ``python -m moto.server`` serves) runs in this process behind a
small WSGI middleware, served by werkzeug on a free loopback port in a daemon thread. The test
decides, at any time and from any thread, which requests are answered by the middleware instead of
moto: a rule matches an S3 operation, a bucket, a key (prefix, set or predicate) or any predicate
on the parsed request, and answers with an S3 error (503 SlowDown, 500 InternalError, 403
AccessDenied, ...) always, for the first N matching requests (overall or per key), or for a seeded
random share of them; it may also delay a request, or hold it until the test releases it. Every
request is counted by operation.

Only path-style S3 requests are understood (what the tool sends to a custom endpoint), and SQS
requests in the JSON protocol (``X-Amz-Target``), which is what current botocore sends.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

# Seconds a test waits by default for a held request to arrive.
HOLD_WAIT_SECONDS = 120

STATUS_OF = {
    "SlowDown": 503,
    "ServiceUnavailable": 503,
    "InternalError": 500,
    "AccessDenied": 403,
    "NoSuchKey": 404,
    "NoSuchBucket": 404,
    "PreconditionFailed": 412,
}
MESSAGE_OF = {
    "SlowDown": "Please reduce your request rate.",
    "ServiceUnavailable": "Service is unable to handle request.",
    "InternalError": "We encountered an internal error. Please try again.",
    "AccessDenied": "Access Denied",
}


@dataclass(frozen=True, slots=True)
class Call:
    """One request to the endpoint, as far as the rules care."""

    service: str  # "s3", "sqs", "moto-api", or "" when unknown
    operation: str  # "CopyObject", "ListObjectsV2", "PutObject", "ReceiveMessage", ...
    method: str
    bucket: str | None = None
    key: str | None = None  # percent-decoded, everything after "/bucket/"
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names

    @property
    def copy_source(self) -> tuple[str, str] | None:
        """(bucket, key) of a CopyObject's source."""
        source = self.headers.get("x-amz-copy-source")
        if source is None:
            return None
        bucket, _, key = source.lstrip("/").partition("/")
        return unquote(bucket), unquote(key.split("?versionId=")[0])


def parse_call(environ: dict[str, Any]) -> Call:
    method = environ["REQUEST_METHOD"]
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
    if "://" in raw:  # an absolute request target
        raw = "/" + raw.split("://", 1)[1].partition("/")[2]
    raw_path, _, raw_query = raw.partition("?")
    query = parse_qs(raw_query, keep_blank_values=True)
    headers = {name[5:].replace("_", "-").lower(): str(value) for name, value in environ.items() if name.startswith("HTTP_")}
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.replace("_", "-").lower()] = str(environ[name])
    if raw_path.startswith("/moto-api"):
        return Call("moto-api", raw_path, method, query=query, headers=headers)
    service = _service(headers, query)
    if service == "sqs":
        target = headers.get("x-amz-target", "")
        return Call("sqs", target.rpartition(".")[2] or "SQS", method, query=query, headers=headers)
    if service != "s3":
        return Call(service, service or "Unknown", method, query=query, headers=headers)
    bucket_part, slash, key_part = raw_path[1:].partition("/")
    bucket = unquote(bucket_part) or None
    key = unquote(key_part, errors="surrogateescape") if slash and key_part else None
    operation = _s3_operation(method, bucket, key, query, headers)
    return Call("s3", operation, method, bucket, key, query, headers)


def _service(headers: dict[str, str], query: dict[str, list[str]]) -> str:
    """The service a SigV4 request was signed for (its credential scope names it)."""
    credential = ""
    authorization = headers.get("authorization", "")
    if "Credential=" in authorization:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    elif "X-Amz-Credential" in query:
        credential = query["X-Amz-Credential"][0]
    parts = credential.split("/")
    return parts[3] if len(parts) >= 5 else ""


def _s3_operation(method: str, bucket: str | None, key: str | None, query: dict[str, list[str]], headers: dict[str, str]) -> str:
    if bucket is None:
        return "ListBuckets"
    if key is None:
        if method == "GET":
            if query.get("list-type") == ["2"]:
                return "ListObjectsV2"
            if "uploads" in query:
                return "ListMultipartUploads"
            if "versions" in query:
                return "ListObjectVersions"
            if "location" in query:
                return "GetBucketLocation"
            return "ListObjects" if not query or "prefix" in query or "marker" in query else "GetBucketSubresource"
        if method == "HEAD":
            return "HeadBucket"
        if method == "PUT":
            return "CreateBucket" if not query else "PutBucketSubresource"
        if method == "DELETE":
            return "DeleteBucket" if not query else "DeleteBucketSubresource"
        if method == "POST" and "delete" in query:
            return "DeleteObjects"
        return f"{method}Bucket"
    if method == "PUT":
        if "x-amz-copy-source" in headers:
            return "UploadPartCopy" if "partNumber" in query else "CopyObject"
        if "partNumber" in query:
            return "UploadPart"
        if "tagging" in query:
            return "PutObjectTagging"
        if "acl" in query:
            return "PutObjectAcl"
        return "PutObject"
    if method == "GET":
        if "tagging" in query:
            return "GetObjectTagging"
        if "acl" in query:
            return "GetObjectAcl"
        return "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "DELETE":
        if "uploadId" in query:
            return "AbortMultipartUpload"
        return "DeleteObjectTagging" if "tagging" in query else "DeleteObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
    return f"{method}Object"


KeyMatch = str | Collection[str] | Callable[[str], bool] | None


class Rule:
    """Which requests to interfere with, how often, and how.

    ``operation``, ``bucket``, ``key`` and ``when`` narrow the requests a rule matches (all given
    ones must hold). ``key`` is a prefix (str), a collection of exact keys, or a predicate.

    Of the matching requests, the rule fires on: all of them; the first ``times``; the first
    ``times_per_key`` of each key; and/or (with ``probability``) a share drawn from a
    ``random.Random(seed)``. A rule that does not fire lets the request go on to the next rule.

    A firing rule first waits ``delay`` seconds, then (with ``hold``) until ``release()``, then
    answers with ``status`` and the S3 error ``code``, or, without a code, passes the request on
    to moto.
    """

    def __init__(
        self,
        operation: str | None = None,
        *,
        bucket: str | None = None,
        key: KeyMatch = None,
        when: Callable[[Call], bool] | None = None,
        code: str | None = None,
        status: int | None = None,
        message: str | None = None,
        times: int | None = None,
        times_per_key: int | None = None,
        probability: float | None = None,
        seed: int = 0,
        delay: float = 0.0,
        hold: bool = False,
    ) -> None:
        if code is None and status is not None:
            raise ValueError("an error status needs an error code")
        self.operation = operation
        self.bucket = bucket
        self.key = key
        self.when = when
        self.code = code
        self.status = status if status is not None else (STATUS_OF.get(code, 500) if code else None)
        self.message = message if message is not None else MESSAGE_OF.get(code or "", code or "")
        self.times = times
        self.times_per_key = times_per_key
        self.probability = probability
        self.delay = delay
        self.hold = hold
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._per_key: Counter[str | None] = Counter()
        self.matched = 0  # requests that matched
        self.fired = 0  # requests the rule acted on
        self.fired_keys: Counter[str | None] = Counter()
        self._released = threading.Event()
        self._arrived = threading.Condition(self._lock)
        self.held: list[Call] = []  # requests held so far (released or not)

    def matches(self, call: Call) -> bool:
        if call.service != "s3" and self.operation is None:
            return False
        if self.operation is not None and call.operation != self.operation:
            return False
        if self.bucket is not None and call.bucket != self.bucket:
            return False
        if self.key is not None:
            if call.key is None:
                return False
            if isinstance(self.key, str):
                if not call.key.startswith(self.key):
                    return False
            elif callable(self.key):
                if not self.key(call.key):
                    return False
            elif call.key not in self.key:
                return False
        return self.when is None or bool(self.when(call))

    def fire(self, call: Call) -> bool:
        """Whether the rule acts on this matching request (counts it either way)."""
        with self._lock:
            self.matched += 1
            if self.times is not None and self.fired >= self.times:
                return False
            if self.times_per_key is not None and self._per_key[call.key] >= self.times_per_key:
                return False
            if self.probability is not None and self._random.random() >= self.probability:
                return False
            self.fired += 1
            self.fired_keys[call.key] += 1
            self._per_key[call.key] += 1
            return True

    def wait_before_answering(self, call: Call) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.hold:
            with self._arrived:
                self.held.append(call)
                self._arrived.notify_all()
            self._released.wait()

    def wait_held(self, count: int = 1, timeout: float = HOLD_WAIT_SECONDS) -> list[Call]:
        """Block until ``count`` requests are being held; return them."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.held) >= count, timeout=timeout):
                raise TimeoutError(f"{len(self.held)} of {count} requests held after {timeout} s ({self!r})")
            return list(self.held)

    def release(self) -> None:
        """Let every held request (and any later one) go on."""
        self._released.set()

    def __repr__(self) -> str:
        what = ", ".join(f"{name}={value!r}" for name, value in vars(self).items() if not name.startswith("_") and value not in (None, False, 0.0, [], Counter()))
        return f"Rule({what})"


def s3_error(call: Call, status: int, code: str, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    request_id = uuid.uuid4().hex[:16].upper()
    resource = "/" + "/".join(part for part in (call.bucket, call.key) if part)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()
    if call.method == "HEAD":
        body = b""
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body))), ("x-amz-request-id", request_id)]
    reason = {403: "Forbidden", 404: "Not Found", 412: "Precondition Failed", 500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Error")
    return f"{status} {reason}", headers, body


class QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without a log line per request."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass


class FaultyEndpoint:
    """moto behind rules that fail, delay or hold chosen requests; use as a context manager."""

    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- rules ------------------------------------------------------------------------------

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def fail(self, operation: str | None = None, *, code: str = "InternalError", **options: Any) -> Rule:
        """Answer matching requests with an S3 error (see Rule for the options)."""
        return self.add(Rule(operation, code=code, **options))

    def hold(self, operation: str | None = None, *, times: int | None = 1, **options: Any) -> Rule:
        """Hold matching requests (the first one, by default) until the rule is released; then
        pass them on to moto, or answer with ``code`` if given."""
        return self.add(Rule(operation, hold=True, times=times, **options))

    def remove(self, rule: Rule) -> None:
        with self._lock:
            self._rules.remove(rule)
        rule.release()

    def clear(self) -> None:
        """Remove every rule, releasing whatever they hold."""
        with self._lock:
            rules, self._rules = self._rules, []
        for rule in rules:
            rule.release()

    # -- counts -----------------------------------------------------------------------------

    def count(self, operation: str) -> int:
        with self._lock:
            return self._counts[operation]

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    # -- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        call = parse_call(environ)
        with self._lock:
            self._counts[call.operation] += 1
            rules = list(self._rules)
        for rule in rules:
            if rule.matches(call) and rule.fire(call):
                rule.wait_before_answering(call)
                if rule.code is None:
                    break
                _drain(environ)
                status, headers, body = s3_error(call, rule.status or 500, rule.code, rule.message)
                start_response(status, headers)
                return [body]
        return self._moto(environ, start_response)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FaultyEndpoint:
        moto_api_backend.reset()
        self._server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=QuietRequestHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="faulty-endpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        moto_api_backend.reset()

    def __enter__(self) -> FaultyEndpoint:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _drain(environ: dict[str, Any]) -> None:
    """Read the request body we answer without, so the connection stays in step."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    while length > 0 and stream is not None:
        chunk = stream.read(min(length, 65536))
        if not chunk:
            break
        length -= len(chunk)
