"""An embedded moto server on a free loopback port, for the demo, local mode, the tests and the
benchmarks.

It runs as a separate process so that its request handling does not compete with the workers for
this interpreter's GIL (and, for bench/peers, so that its CPU time is its own). By default the
process is this module, ``python -m s3fanout.motoserver``: moto's own server with one difference,
its DynamoDB made atomic (``atomic_dynamodb``). bench/countingmoto.py and tests/moto_versions.py
start their own servers (moto's app wrapped to count requests, or answering version listings as S3
does) through the same class, on the same atomic DynamoDB.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Self

STARTUP_SECONDS = 30
MOTO_SERVER = ("-m", "s3fanout.motoserver")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedMoto:
    """``with EmbeddedMoto() as moto:`` a moto server answering on ``moto.url`` until the block ends.

    ``server`` is what the interpreter runs: moto's own server by default, or a script that takes
    moto.server's ``-H HOST -p PORT`` and serves moto's API (``/moto-api/``) on them.
    """

    name = "the embedded moto server"

    def __init__(self, server: Sequence[str] = MOTO_SERVER) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = tuple(server)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process id (it must be running)."""
        if self._process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._process.pid

    def start(self) -> Self:
        return self.launch().wait_ready()

    def launch(self) -> Self:
        """Start the server's process without waiting for it to answer (``wait_ready`` does): the
        caller does other work meanwhile (``url`` is known already)."""
        self._process = subprocess.Popen(
            [sys.executable, *self._server, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def wait_ready(self) -> Self:
        """Wait until the launched server answers (at most STARTUP_SECONDS)."""
        if self._process is None:
            raise RuntimeError(f"{self.name} is not started")
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with status {self._process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer on {self.url} within {STARTUP_SECONDS} s")

    def reset(self) -> None:
        """Forget every bucket and queue (moto's own reset API)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


# Local mode keeps its queues and job records on these services' configured endpoints, and on an
# embedded moto server where none is configured.
LOCAL_MODE_SERVICES = ("SQS", "DYNAMODB")
_launched_early: list[EmbeddedMoto] = []


def services_without_endpoint() -> list[str]:
    """Local mode's services that no AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL names."""
    return [service for service in LOCAL_MODE_SERVICES if not (os.environ.get(f"AWS_ENDPOINT_URL_{service}") or os.environ.get("AWS_ENDPOINT_URL"))]


def launch_early() -> None:
    """Launch the embedded server that a local run will need (``take_early``) as the command
    starts: it starts in about half a second, as long as the command's own imports, and both then
    happen at once. Stopped at exit if no run took it."""
    server = EmbeddedMoto().launch()
    atexit.register(server.stop)
    _launched_early.append(server)


def take_early() -> EmbeddedMoto | None:
    """The server ``launch_early`` launched, once (None if it did not)."""
    return _launched_early.pop() if _launched_early else None


def atomic_dynamodb(app: WsgiApp) -> WsgiApp:
    """moto's WSGI app with its DynamoDB requests served one at a time.

    DynamoDB applies each write, and each transaction, atomically. moto 5.2's server does not: it
    serves requests on threads, an UpdateItem reads, changes and stores the item without a lock,
    and a TransactWriteItems that fails (a settled message's marker found again) puts back a copy of
    the whole table taken when it began, undoing every write that other requests made meanwhile.
    Job-record settles from several workers then lose counts: 318 of 320 kept in a test of 8
    processes. One lock around DynamoDB (a few requests per copy batch) restores DynamoDB's
    guarantees and leaves S3 and SQS concurrent.
    """
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            # The body read inside the lock too: a lazy response must not do its work after it.
            return [b"".join(app(environ, start_response))]

    return serve


# The services the project's clients use, made ready before their first request (``warm``).
WARM_SERVICES = ("sqs", "dynamodb", "s3")


def moto_app() -> WsgiApp:
    """moto's own server app (as ``python -m moto.server`` builds it), DynamoDB made atomic, its
    services made ready (``warm``) on a thread of their own as the server starts."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]  # as moto.server sets it
    threading.Thread(target=warm, args=(app,), name="warm-moto", daemon=True).start()
    return atomic_dynamodb(app)


def warm(app: Any, services: Sequence[str] = WARM_SERVICES) -> None:
    """Make ``services``' apps in moto's dispatcher ``app`` now. moto makes a service's app (its
    modules imported, its URL map built) on the service's first request, under a lock that every
    other request waits on: 30-70 ms of CPU for each of SQS, DynamoDB and S3, paid by each local
    run that starts a server, on its first requests. Made here under that lock, while the run
    checks the buckets."""
    for service in services:
        with app.lock:
            if service not in app.app_instances:
                app.app_instances[service] = app.create_app(service)


def serve(argv: Sequence[str] | None = None, wrap: Callable[[WsgiApp], WsgiApp] = lambda app: app) -> None:
    """Serve ``moto_app()`` (``wrap``ped) on moto.server's ``-H HOST -p PORT`` until killed."""
    parser = argparse.ArgumentParser(description="moto server, DynamoDB atomic")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto.server sets it (presigned URLs etc.)

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import run_simple

    # One line to say where, not one per request (its cost is not moto's).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(f"moto server (DynamoDB atomic) on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    run_simple(args.host, args.port, wrap(moto_app()), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    serve()
