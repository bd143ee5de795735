"""Progress of a long step on stderr: rows done of a total, their rate and the time left.

    with RowProgress("cot", total=10_000) as progress:
        for ... :
            progress.advance(1)
            progress.note(verified=412)          # extra figures shown beside the bar

On a terminal it is a live ``rich`` bar that disappears when the step ends (the build then prints its
one-line summary); elsewhere (a log file, CI) one plain line every ``every_s`` seconds. Always on the factory's terminal
(``factory.log.terminal``: stderr, kept when a build sends the libraries' output to its log): stdout stays
for the build's result (its last line is the version folder).
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from factory.log import terminal


class _Rate(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- rows/s" if speed is None else f"{speed:,.1f} rows/s", style="cyan")


def _eta(left: float, rate: float) -> str:
    seconds = left / rate if rate > 0 else float("inf")
    if seconds == float("inf"):
        return "?"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m" if seconds >= 120 else f"{seconds:.0f}s"


class RowProgress:
    """Rows done / ``total`` with rate and time left (see the module docstring). ``enabled=False``: silent."""

    def __init__(
        self,
        label: str,
        total: int,
        enabled: bool = True,
        every_s: float = 30.0,
        console: Console | None = None,
    ):
        self.label, self.total, self.enabled, self.every_s = label, total, enabled, every_s
        self.console = console or terminal()
        self.done = 0
        self.fields: dict[str, Any] = {}
        self._bar: Progress | None = None
        self._task = None
        self._start = self._last = time.monotonic()

    def __enter__(self) -> RowProgress:
        self._start = self._last = time.monotonic()
        if self.enabled and self.console.is_terminal:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _Rate(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[extra]}"),
                console=self.console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total or None, extra="")
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, advance=n)
        elif self.enabled and time.monotonic() - self._last >= self.every_s:
            self._line()

    def note(self, **fields: Any) -> None:
        """Figures shown beside the count (e.g. ``verified=412``)."""
        self.fields.update(fields)
        if self._bar is not None:
            self._bar.update(self._task, extra=self._extra())

    def _extra(self) -> str:
        return "  ".join(f"{k} {v}" for k, v in self.fields.items())

    def _line(self) -> None:
        self._last = time.monotonic()
        elapsed = max(self._last - self._start, 1e-9)
        rate = self.done / elapsed
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        left = f", ~{_eta(self.total - self.done, rate)} left" if self.total else ""
        extra = f"  {self._extra()}" if self.fields else ""
        self.console.print(
            f"[dim]·[/dim] {self.label}: {self.done:,}/{self.total:,} rows{share}, {rate:,.1f} rows/s{left}{extra}",
            soft_wrap=True,
        )
