"""Where a build's words go: the factory's own lines to the terminal, everything else to a log file.

``Reporter`` prints the build's progress lines (stdout is kept for the result: the version folder).
``third_party_to_log(path)`` is the CLI's wrapper around a build: in it, what libraries and child processes
write (Python warnings, ``logging`` records, tqdm and safetensors progress bars, C++ warnings of torch, the
lines of vLLM's engine processes) lands in ``path``, at the file-descriptor level, so output of C code and
of processes started during the build is caught too; the factory's own lines keep the terminal through
``terminal()``, the console every factory line is printed on (``Reporter``, ``RowProgress``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from rich.console import Console

# Set (where unset) while output is captured, before the libraries read them: their progress bars and
# informational lines would only fill the log (child processes inherit them too).
QUIET_ENV = {
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
}

_TERMINALS: list[Console] = []


def terminal() -> Console:
    """The console for the factory's own lines: the terminal a ``third_party_to_log`` kept, else stderr."""
    return _TERMINALS[-1] if _TERMINALS else Console(stderr=True, highlight=False)


class Reporter:
    """Prints one line per step: rows in -> out, drops by reason, cached or not, wall time."""

    def __init__(self, console: Console | None = None, quiet: bool = False):
        self.console = console or terminal()
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


def _keep_terminal(stream: IO[str], fd: int, saved: int) -> IO[str]:
    """A stream to the terminal ``stream`` writes to: a new one on the saved copy of ``fd`` when ``stream``
    is that descriptor (about to be redirected), else ``stream`` itself (a test runner's capture)."""
    try:
        on_fd = stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        on_fd = False
    if not on_fd:
        return stream
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return open(os.dup(saved), "w", buffering=1, encoding=encoding, errors="replace")  # noqa: SIM115


@contextmanager
def third_party_to_log(log_path: Path, verbose: bool = False) -> Iterator[Console]:
    """Within: file descriptors 1 and 2 (and ``sys.stdout`` / ``sys.stderr``) write to ``log_path``
    (appended), ``QUIET_ENV`` is set where unset; yields the console of the terminal, which ``terminal()``
    returns meanwhile. ``verbose``: nothing is redirected or set (everything reaches the terminal).
    Everything is restored on the way out, an exception included."""
    if verbose:
        _TERMINALS.append(Console(stderr=True, highlight=False))
        try:
            yield _TERMINALS[-1]
        finally:
            _TERMINALS.pop()
        return
    set_env = {k: v for k, v in QUIET_ENV.items() if k not in os.environ}
    os.environ.update(set_env)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    streams = sys.stdout, sys.stderr
    term = _keep_terminal(sys.stderr, 2, saved[2])
    # left open: a handler made during the build (vLLM's logger) may write to it after; it is the log file
    log_stream = open(os.dup(log_fd), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    for fd in (1, 2):
        os.dup2(log_fd, fd)
    os.close(log_fd)
    sys.stdout = sys.stderr = log_stream
    _TERMINALS.append(Console(file=term, highlight=False))
    try:
        yield _TERMINALS[-1]
    finally:
        _TERMINALS.pop()
        log_stream.flush()
        sys.stdout, sys.stderr = streams
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        if term is not streams[1]:
            term.close()
        for key in set_env:
            os.environ.pop(key, None)


def log_lines(log_path: Path) -> int:
    """Lines in a build's log (0 when there is none)."""
    path = Path(log_path)
    if not path.is_file():
        return 0
    with path.open("rb") as fh:
        return sum(1 for _ in fh)
