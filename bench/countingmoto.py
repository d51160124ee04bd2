"""A moto server that counts the requests it serves, by service and API operation.

    python bench/countingmoto.py [-H 127.0.0.1] [-p PORT]

or, from Python, ``with CountingMoto() as server:`` (s3fanout.motoserver.EmbeddedMoto running this
script instead of moto's): ``server.counts()``, ``server.reset_counts()``, ``server.cpu_seconds()``.

It is the embedded moto server (`s3fanout.motoserver.serve`: moto's own WSGI app, werkzeug server
and request handler, DynamoDB atomic) wrapped in
a small WSGI middleware, in its own process so that its CPU time can be read from /proc and its
request handling does not share a GIL with the clients it measures. `GET /__bench__/counts`
answers the counts since the start or the last `POST /__bench__/reset` as JSON, with the wall
clock (time.time()) and this process's CPU time (time.process_time(), all threads) at the first
and at the last request of each operation (neither request is counted), and the CPU seconds
the request threads spent in moto's app on each operation (time.thread_time(); the server's
own work of accepting connections and parsing requests is left out):

    {"requests": {"s3:CopyObject": 2000, "sqs:ReceiveMessage": 57, ...},
     "errors": {"s3:HeadObject 404": 3, ...},
     "first": {"s3:CopyObject": [1764031234.5, 12.3], ...}, "last": {...},
     "cpu": {"s3:CopyObject": 7.93, "s3:ListObjectsV2": 0.88, ...}}

Operations are told apart as S3 and SQS route them: SQS by its X-Amz-Target header (JSON
protocol) or its Action parameter (query protocol); S3 by method, path and sub-resource, e.g. a
PUT of a key with an x-amz-copy-source header is CopyObject, a GET of a bucket with list-type=2 is
ListObjectsV2.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

try:
    from bench.countingclient import COUNTS_PATH, RESET_PATH, CountingClient
except ModuleNotFoundError:  # run as a script from bench/ (the server's own process, bench/peers)
    from countingclient import COUNTS_PATH, RESET_PATH, CountingClient  # type: ignore[no-redef]

from s3fanout.motoserver import EmbeddedMoto, serve

_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_LOOPBACK_HOSTS = ("127.", "localhost", "[::1]")

# Bucket sub-resources whose operation name is not simply Get/Put/Delete + Bucket + the name.
_BUCKET_GET = {"list-type": "ListObjectsV2", "location": "GetBucketLocation", "versions": "ListObjectVersions", "uploads": "ListMultipartUploads"}


def classify(environ: dict[str, Any]) -> str:
    """'service:Operation' for one WSGI request, e.g. 's3:CopyObject' or 'sqs:SendMessageBatch'.

    May replace environ['wsgi.input'] (a query-protocol SQS request's form body is read here).
    """
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("AmazonSQS."):
        return "sqs:" + target.partition(".")[2]
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = scope.group(1) if scope else ("moto-api" if environ.get("PATH_INFO", "").startswith("/moto-api") else "s3")
    if service == "s3":
        return "s3:" + s3_operation(environ)
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    action = query.get("Action", [""])[0]
    if not action and environ.get("REQUEST_METHOD") == "POST" and "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    if not action and target:
        action = target.rpartition(".")[2]
    return f"{service}:{action or 'other'}"


def s3_operation(environ: dict[str, Any]) -> str:
    method = environ.get("REQUEST_METHOD", "GET")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    path = unquote(environ.get("PATH_INFO", "/")).lstrip("/")
    host = environ.get("HTTP_HOST", "")
    if host.startswith(_LOOPBACK_HOSTS) or not host:
        bucket, _, key = path.partition("/")  # path-style addressing
    else:
        bucket, key = host.split(".", 1)[0], path  # virtual-hosted style
    if not bucket:
        return "ListBuckets" if method == "GET" else "other"
    if not key:
        return bucket_operation(method, query)
    return object_operation(method, query, environ)


def bucket_operation(method: str, query: dict[str, list[str]]) -> str:
    if method == "GET":
        for name, operation in _BUCKET_GET.items():
            if name in query:
                return operation
        sub = next(iter(query), None)
        return f"GetBucket{sub.title().replace('-', '')}" if sub and sub not in ("prefix", "marker", "max-keys", "delimiter", "encoding-type") else "ListObjects"
    if method == "HEAD":
        return "HeadBucket"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    sub = next(iter(query), "")
    verb = {"PUT": "Put", "DELETE": "Delete"}.get(method, method.title())
    if not sub:
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, f"{verb}Bucket")
    return f"{verb}Bucket{sub.title().replace('-', '')}"


def object_operation(method: str, query: dict[str, list[str]], environ: dict[str, Any]) -> str:
    if method == "PUT":
        if environ.get("HTTP_X_AMZ_COPY_SOURCE"):
            return "UploadPartCopy" if "partNumber" in query else "CopyObject"
        if "tagging" in query:
            return "PutObjectTagging"
        return "UploadPart" if "partNumber" in query else "PutObject"
    if method == "GET":
        for sub, operation in (("tagging", "GetObjectTagging"), ("acl", "GetObjectAcl"), ("attributes", "GetObjectAttributes"), ("uploadId", "ListParts")):
            if sub in query:
                return operation
        return "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else ("DeleteObjectTagging" if "tagging" in query else "DeleteObject")
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in query else ("CompleteMultipartUpload" if "uploadId" in query else "PostObject")
    return "other"


# Milliseconds every S3 listing is held before it is answered, in this server's environment: an
# endpoint that lists slowly (a large bucket, a far region, an S3-compatible store) without its
# CPU (bench/peers --list-latency-ms).
LIST_LATENCY_ENV = "COUNTING_MOTO_LIST_LATENCY_MS"
# The same for every server-side copy (CopyObject, UploadPartCopy): S3 answers a copy after tens
# to hundreds of milliseconds, more as the object grows, while it serves many at once, so the
# copies a client keeps in flight decide its pace (bench/peers --copy-latency-ms).
COPY_LATENCY_ENV = "COUNTING_MOTO_COPY_LATENCY_MS"
LISTINGS = ("s3:ListObjects", "s3:ListObjectsV2")
COPIES = ("s3:CopyObject", "s3:UploadPartCopy")


class CountingMiddleware:
    """Counts every request (and every 4xx/5xx answer) by operation; serves the counts; holds
    each listing ``list_latency_s`` and each copy ``copy_latency_s`` before answering it."""

    def __init__(self, app: Callable[..., Iterable[bytes]], list_latency_s: float = 0.0, copy_latency_s: float = 0.0) -> None:
        self.app = app
        self.latency_s = dict.fromkeys(LISTINGS, list_latency_s) | dict.fromkeys(COPIES, copy_latency_s)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.first: dict[str, tuple[float, float]] = {}
        self.last: dict[str, tuple[float, float]] = {}
        self.cpu: Counter[str] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in (COUNTS_PATH, RESET_PATH):
            with self.lock:
                if environ["PATH_INFO"] == RESET_PATH:
                    self.reset()
                body = json.dumps({"requests": self.requests, "errors": self.errors, "first": self.first, "last": self.last, "cpu": self.cpu}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        operation = classify(environ)
        now = (time.time(), time.process_time())
        with self.lock:
            self.requests[operation] += 1
            self.first.setdefault(operation, now)
            self.last[operation] = now

        def counting_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status[:1] in ("4", "5"):
                with self.lock:
                    self.errors[f"{operation} {status.split()[0]}"] += 1
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        if self.latency_s.get(operation):
            time.sleep(self.latency_s[operation])  # this request's thread only: the server goes on
        started = time.thread_time()
        try:
            return self.app(environ, counting_start_response)
        finally:
            with self.lock:
                self.cpu[operation] += time.thread_time() - started


class CountingMoto(CountingClient, EmbeddedMoto):
    """This server in its own process, started and stopped as EmbeddedMoto does moto's own."""

    name = "the counting moto server"

    def __init__(self) -> None:
        super().__init__(server=[str(Path(__file__).resolve())])



def main() -> None:
    list_latency, copy_latency = (float(os.environ.get(name) or 0) / 1000 for name in (LIST_LATENCY_ENV, COPY_LATENCY_ENV))
    serve(wrap=lambda app: CountingMiddleware(app, list_latency, copy_latency))


if __name__ == "__main__":
    main()
