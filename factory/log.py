"""Progress lines of a build, on stderr (stdout is kept for the result: the version folder)."""

from __future__ import annotations

from typing import Any

from rich.console import Console


class Reporter:
    """Prints one line per step: rows in -> out, drops by reason, cached or not, wall time."""

    def __init__(self, console: Console | None = None, quiet: bool = False):
        self.console = console or Console(stderr=True, highlight=False)
        self.quiet = quiet

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(f"[dim]·[/dim] {text}", soft_wrap=True)

    def step(self, name: str, stats: dict[str, Any], cached: bool) -> None:
        if self.quiet:
            return
        dropped = stats.get("dropped", {})
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(dropped.items(), key=lambda kv: -kv[1]))
        tag = "[cyan]cached[/cyan]" if cached else f"{stats.get('wall_s', 0):.2f}s"
        line = f"[green]✓[/green] {name:<24} {stats['rows_in']:>8} → {stats['rows_out']:<8} {tag}"
        if reasons:
            line += f"  [yellow]dropped: {reasons}[/yellow]"
        self.console.print(line, soft_wrap=True)
