"""What a long job shows while it runs: a rich progress bar on a terminal, nothing otherwise."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from s3fanout.counts import Counts

if TYPE_CHECKING:
    from rich.progress import Progress


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class ProgressView:
    """Copied of listed keys as a bar (the total grows while listing goes on), plus queue depths."""

    def __init__(self, enabled: bool) -> None:
        self._progress = self._bar() if enabled else None
        self._task: Any = None

    @staticmethod
    def _bar() -> Progress:
        # rich is imported only for a bar to show: a run without one starts sooner.
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        return Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )

    def __enter__(self) -> ProgressView:
        if self._progress:
            self._progress.start()
            self._task = self._progress.add_task("listing", total=None, detail="")
        return self

    def update(self, counters: Counts | None, depths: dict[str, tuple[int, int, int]], seconds: float = 0.0) -> None:
        if not self._progress:
            return
        listing = sum(depths.get("list", (0, 0, 0)))
        copy_messages = sum(depths.get("copy", (0, 0, 0)))
        queues = f"queues: list {listing:,}, copy {copy_messages:,} messages"
        if counters is None:
            self._progress.update(self._task, description="waiting", detail=queues)
            return
        # Skipped keys are done too: the bar is of every key listed.
        settled = counters.objects_copied + counters.keys_skipped + counters.keys_failed
        done = counters.objects_copied + counters.keys_failed
        detail = f"{human_bytes(counters.bytes_copied)} copied, {counters.keys_failed:,} failed"
        # Skipped keys need no copy: the rate and the time left are of the copies.
        to_copy = counters.keys_listed - counters.keys_skipped
        if seconds > 0 and counters.objects_copied:
            rate = counters.objects_copied / seconds
            detail += f", {rate:,.1f} objects/s"
            if to_copy > done:
                detail += f", ETA {format_seconds((to_copy - done) / rate)}" + (" (still listing)" if listing else "")
        detail += f"; {queues}"
        self._progress.update(
            self._task,
            description="listing+copying" if listing else "copying",
            completed=settled,
            total=max(counters.keys_listed, settled) or None,
            detail=detail,
        )

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress:
            self._progress.stop()
