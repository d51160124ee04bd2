"""Reading the environment variables a function (or local worker) is configured by: a whole number
or a required string, with a one-line error otherwise. The settings themselves live with what
they configure (guard.Scope, copying.multipart.MultipartSettings, the handlers)."""

from __future__ import annotations

import os
from collections.abc import Mapping


def env_int(name: str, default: int, env: Mapping[str, str] = os.environ) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        parsed = int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None
    if parsed < 1:
        raise ValueError(f"environment variable {name} must be at least 1, got {parsed}")
    return parsed


def env_str(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ValueError(f"environment variable {name} is not set")
    return value
