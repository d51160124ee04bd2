"""An embedded moto server on a free loopback port, for the demo, local mode, the tests and the
benchmarks.

It runs as a separate process so that its request handling does not compete with the workers for
this interpreter's GIL (and, for bench/peers, so that its CPU time is its own). By default the
process is ``python -m moto.server``; bench/countingmoto.py starts its own server (moto's app
wrapped to count requests) through the same class.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from types import TracebackType
from typing import Self

STARTUP_SECONDS = 30
MOTO_SERVER = ("-m", "moto.server")


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
        self._process = subprocess.Popen(
            [sys.executable, *self._server, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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
