"""What bench/peers asks of a counting server, moto's (countingmoto.py) or LocalStack's
(countinglocalstack.py): its requests by operation, a reset of them, and its CPU time. Standard
library only: countinglocalstack.py runs in LocalStack's own virtualenv too."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

COUNTS_PATH = "/__bench__/counts"
RESET_PATH = "/__bench__/reset"


class CountingClient:
    """A counting server's handle: ``url`` it answers on, ``pid`` of its process."""

    url: str
    pid: int

    def counts(self) -> dict[str, dict[str, Any]]:
        """Requests and error answers by operation since the last reset, with the wall clock of
        each operation's first and last request."""
        with urllib.request.urlopen(self.url + COUNTS_PATH, timeout=10) as answer:
            result: dict[str, dict[str, Any]] = json.load(answer)
            return result

    def reset_counts(self) -> None:
        with urllib.request.urlopen(urllib.request.Request(self.url + RESET_PATH, method="POST"), timeout=10):
            pass

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far, all its threads (fields 14 and 15
        of /proc/PID/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
