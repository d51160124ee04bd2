"""The command line's argument types: each turns text into a valid value or says, in one line,
why it cannot."""

from __future__ import annotations

import argparse

from s3fanout.completion import parse_report_uri
from s3fanout.keyspace import COMMON_FIRST_CHARACTERS
from seed.console import UsageError

# Each worker is a process with its own clients and thread pool: more than this only thrashes.
MAX_WORKERS = 64
# A local function timeout is also its queue's visibility timeout (plus as much again, up to 30 s):
# with 1 s, messages reappeared while still being worked on and every object was copied two or
# three times. 30 s is the handlers' own stop margin; Lambda allows at most 900 s.
MIN_FUNCTION_TIMEOUT_SECONDS = 30
MAX_FUNCTION_TIMEOUT_SECONDS = 900
MAX_PREFIX_BYTES = 1024
MAX_SEED_RANGES = len(COMMON_FIRST_CHARACTERS)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def bounded_int(text: str, low: int, high: int) -> int:
    value = positive_int(text)
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be {low} to {high}, got {value}")
    return value


def worker_count(text: str) -> int:
    return bounded_int(text, 1, MAX_WORKERS)


def function_timeout(text: str) -> int:
    return bounded_int(text, MIN_FUNCTION_TIMEOUT_SECONDS, MAX_FUNCTION_TIMEOUT_SECONDS)


def account_id(text: str) -> str:
    if not (len(text) == 12 and text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"'{text}' is not a 12-digit AWS account id")
    return text


def prefix_argument(text: str) -> str:
    """A key prefix: valid UTF-8 (argv bytes that are not arrive as surrogates), at most S3's
    1,024-byte key length, and not an s3:// URL (the bucket goes in --bucket)."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("is not valid UTF-8 (S3 keys are UTF-8)") from None
    if size > MAX_PREFIX_BYTES:
        raise argparse.ArgumentTypeError(f"is {size} bytes long; S3 keys are at most {MAX_PREFIX_BYTES} bytes")
    if text.lower().startswith("s3://"):
        raise argparse.ArgumentTypeError(f"'{text}' is a URL: give the bucket with --bucket and the key prefix alone")
    return text


def range_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_SEED_RANGES:
        raise argparse.ArgumentTypeError(f"at most {MAX_SEED_RANGES} ranges can be seeded, got {value}")
    return value


def bucket_argument(text: str) -> str:
    name = text.removeprefix("s3://").rstrip("/")
    if "/" in name:
        raise UsageError(f"'{text}' names a path; give the bucket alone and the path with --prefix")
    return name


def report_argument(value: str) -> str:
    """--report s3://BUCKET/PREFIX."""
    try:
        parse_report_uri(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value
