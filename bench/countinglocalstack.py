"""LocalStack on this machine, counting the requests it serves, by service and API operation.

From Python (the project's virtualenv): ``with CountingLocalStack(python) as server:`` starts
LocalStack's own runtime (``python -m localstack.runtime.main``, S3 and SQS only) from the
virtualenv whose interpreter is ``python``, on a free loopback port, and serves the same
``counts()``, ``reset_counts()`` and ``cpu_seconds()`` as bench/countingmoto.py's CountingMoto.
``localstack_python(venv, base)`` makes that virtualenv on first use (bench/.venv-localstack:
localstack-core 2026.3.0 needs Python 3.13, whatever its metadata says, and older cbor2,
pyOpenSSL and cryptography than pip picks).

Run by that interpreter, this file is the server: it adds two handlers to LocalStack's own
handler chain before starting it. LocalStack has parsed each request by then, so the operation is
its own name for it (``s3:CopyObject``, ``sqs:ReceiveMessage``), with no classification of ours;
no proxy stands between the clients and LocalStack. ``GET /__bench__/counts`` and ``POST
/__bench__/reset`` (routes of LocalStack's edge router) answer and reset the counts in
countingmoto's format: requests and 4xx/5xx answers by operation, and the wall clock and the
process's CPU time at each operation's first and last request.

Nothing is written into the repository and nothing is fetched: LocalStack's files (its S3
objects' bytes included) go to a temporary folder (FILESYSTEM_ROOT, host mode), its DNS server,
certificate download and usage events are off, its request log line is off (as countingmoto's is), and SQS queue URLs name the
loopback address (path strategy) rather than a *.localstack.cloud host that needs DNS.

Only the standard library is imported at the top: the server side runs in LocalStack's
virtualenv, which does not have this project installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any, Self

try:
    from bench.countingclient import COUNTS_PATH, RESET_PATH, CountingClient
except ModuleNotFoundError:  # run as a script from bench/ (the server's own process, bench/peers)
    from countingclient import COUNTS_PATH, RESET_PATH, CountingClient  # type: ignore[no-redef]

LOCALSTACK_VERSION = "2026.3.0"
LOCALSTACK_PACKAGES = (f"localstack-core[runtime]=={LOCALSTACK_VERSION}", "cbor2<6", "pyopenssl<24.3", "cryptography<44", "service-identity")
# Where bench/peers makes LocalStack's virtualenv (ignored by git).
BENCH_VENV = Path(__file__).resolve().parent / ".venv-localstack"
STARTUP_SECONDS = 180
SERVICES = ("s3", "sqs")


# ------------------------------------------------------------------------ the bench's side


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_python(given: str | None = None) -> str:
    """A Python 3.13 for LocalStack's virtualenv: ``given``, else pyenv's 3.13, else python3.13 on
    PATH; the first that runs (a pyenv shim whose version is not selected does not)."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [given] if given else [*map(str, sorted(pyenv_root.glob("versions/3.13*/bin/python3.13"), reverse=True)), shutil.which("python3.13")]
    for candidate in filter(None, candidates):
        check = subprocess.run([candidate, "-c", "import sys, venv; sys.exit(sys.version_info[:2] != (3, 13))"], capture_output=True)
        if check.returncode == 0:
            return candidate
    raise RuntimeError("LocalStack 2026.3.0 needs Python 3.13, and " + (f"{given} is not one" if given else "none runs here (PATH, pyenv)") + ": pass --localstack-python PATH")


def localstack_python(venv: Path, base: str | None = None, say: Any = print) -> Path:
    """The interpreter of LocalStack's virtualenv, made and filled from PyPI on first use."""
    stamp = venv / ".installed"
    wanted = " ".join(LOCALSTACK_PACKAGES)
    python = venv / "bin" / "python"
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    say(f"installing {wanted} into {venv} (first use; about a minute)")
    steps = [] if python.exists() else [[base_python(base), "-m", "venv", str(venv)]]
    steps.append([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *LOCALSTACK_PACKAGES])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"could not install LocalStack into {venv}: {' '.join(step)} exited {done.returncode}: {tail}")
    stamp.write_text(wanted)
    return python


class CountingLocalStack(CountingClient):
    """LocalStack (S3 and SQS) answering on ``url`` until the block ends, counting its requests."""

    name = "LocalStack"

    def __init__(self, python: Path) -> None:
        self.python = Path(os.path.abspath(python))  # it runs in a folder of its own; not resolved: a venv's python is a link
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.version = LOCALSTACK_VERSION
        self._process: subprocess.Popen[bytes] | None = None
        self._root: tempfile.TemporaryDirectory[str] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("LocalStack is not started")
        return self._process.pid

    def environment(self, root: str) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "LOCALSTACK_"))}
        return env | {
            "SERVICES": ",".join(SERVICES),
            "EAGER_SERVICE_LOADING": "1",  # loaded before the first tool's first request, not during it
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",
            "SQS_ENDPOINT_STRATEGY": "path",
            "OVERRIDE_IN_DOCKER": "0",  # host mode: its folders under FILESYSTEM_ROOT, not /var/lib/localstack
            "FILESYSTEM_ROOT": root,
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "LS_LOG": "warn",
        }

    def start(self) -> Self:
        self._root = tempfile.TemporaryDirectory(prefix="peers-localstack-")
        root = self._root.name
        log = open(Path(root) / "localstack.log", "wb")  # noqa: SIM115 - the process writes it until stop()
        self._process = subprocess.Popen([str(self.python), str(Path(__file__).resolve())], env=self.environment(root), cwd=root, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"LocalStack exited with status {self._process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_localstack/health", timeout=2) as answer:
                    health = json.load(answer)
                if all(health.get("services", {}).get(service) == "running" for service in SERVICES):
                    self.version = health.get("version", self.version)
                    return self
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"LocalStack did not serve {' and '.join(SERVICES)} on {self.url} within {STARTUP_SECONDS} s: {self.log_tail()}")

    def log_tail(self) -> str:
        if self._root is None:
            return ""
        try:
            lines = (Path(self._root.name) / "localstack.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-3:])

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)  # LocalStack shuts its services down on SIGTERM
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._root is not None:
            self._root.cleanup()
            self._root = None


    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


# ------------------------------------------------------------------------ LocalStack's side


class Counts:
    """Requests and error answers by operation, with the wall clock and CPU time at each
    operation's first and last request (countingmoto's format)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.first: dict[str, tuple[float, float]] = {}
        self.last: dict[str, tuple[float, float]] = {}

    def request(self, operation: str) -> None:
        now = (time.time(), time.process_time())
        with self.lock:
            self.requests[operation] += 1
            self.first.setdefault(operation, now)
            self.last[operation] = now

    def error(self, operation: str, status: int) -> None:
        with self.lock:
            self.errors[f"{operation} {status}"] += 1

    def document(self, reset: bool = False) -> dict[str, Any]:
        with self.lock:
            if reset:
                self.reset()
            return {"requests": dict(self.requests), "errors": dict(self.errors), "first": dict(self.first), "last": dict(self.last)}


def operation_of(context: Any) -> str:
    service = getattr(context.service, "service_name", None) if context.service else None
    operation = getattr(context.operation, "name", None) if context.operation else None
    return f"{service or 'other'}:{operation or 'other'}"


def main() -> None:
    # LocalStack's own modules, from its virtualenv; its configuration is read from the environment
    # at import, which start() set.
    from localstack.aws.handlers import run_custom_response_handlers, serve_custom_service_request_handlers
    from localstack.runtime.main import main as run_localstack
    from localstack.services.edge import ROUTER
    from localstack.services.s3 import provider as s3_provider

    # S3 keeps objects' bytes under a fixed /tmp/localstack-s3-storage: under FILESYSTEM_ROOT
    # instead, which start() made and stop() removes.
    s3_provider.DEFAULT_S3_TMP_DIR = os.path.join(os.environ["FILESYSTEM_ROOT"], "s3-storage")
    counts = Counts()

    def count_request(chain: Any, context: Any, response: Any) -> None:
        counts.request(operation_of(context))

    def count_error(chain: Any, context: Any, response: Any) -> None:
        if response.status_code >= 400 and context.operation is not None:
            counts.error(operation_of(context), response.status_code)

    # Both run for every AWS request once LocalStack has parsed it (an error answer included),
    # and for nothing else (health checks, these routes).
    serve_custom_service_request_handlers.append(count_request)
    run_custom_response_handlers.append(count_error)
    ROUTER.add(COUNTS_PATH, endpoint=lambda request: counts.document(), methods=["GET"])
    ROUTER.add(RESET_PATH, endpoint=lambda request: counts.document(reset=True), methods=["POST"])
    run_localstack()


if __name__ == "__main__":
    sys.exit(main())
