"""How the CLI talks to a person: exit statuses, one-line errors, the argument parser that keeps
them one line, and whether to draw progress."""

from __future__ import annotations

import argparse
import sys
import traceback
from enum import IntEnum
from typing import NoReturn

PROG = "python -m seed"


class ExitStatus(IntEnum):
    SUCCESS = 0
    FAILURES = 1
    ERROR = 2
    INTERRUPTED = 130


class UsageError(ValueError):
    """A problem with the command line or environment, reported in one line."""


class JobInterrupted(Exception):
    """Ctrl-C during a local run; the message says what was done and what was still queued."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (with a pointer to --help), not the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitStatus.ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def fail(message: str, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return ExitStatus.ERROR


def say(line: str) -> None:
    """A line for the person running the command (stderr: stdout is for the result)."""
    print(line, file=sys.stderr)


def progress_wanted(quiet: bool) -> bool:
    """Draw progress only for a person at a terminal, and not when told to be quiet (--json,
    --no-progress)."""
    return not quiet and sys.stderr.isatty()
