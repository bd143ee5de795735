"""Progress of long steps (``factory.pipeline.progress``): stderr only, a plain line per interval off a terminal, a
live bar on one, silent when disabled."""

from __future__ import annotations

import io

from rich.console import Console

from factory.pipeline.progress import RowProgress


def test_progress_lines_off_a_terminal_say_rows_rate_and_time_left():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with RowProgress("cot", total=400, every_s=0, console=console) as progress:
        for _ in range(4):
            progress.advance(50)
        progress.note(verified=120)
        progress.advance(100)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 5 and lines[0].startswith("· cot: 50/400 rows (12%)")
    assert "rows/s" in lines[-1] and "left" in lines[-1] and lines[-1].endswith("verified 120")
    assert "300/400 rows (75%)" in lines[-1]


def test_progress_bar_on_a_terminal_and_silence_when_disabled():
    out = io.StringIO()
    with RowProgress(
        "judge", total=10, console=Console(file=out, force_terminal=True, width=120)
    ) as progress:
        progress.advance(10)
        progress.note(readable=10)
    assert progress.done == 10  # the live bar drew and removed itself (transient)
    quiet = io.StringIO()
    with RowProgress("judge", total=10, enabled=False, every_s=0, console=Console(file=quiet)) as progress:
        progress.advance(10)
    assert quiet.getvalue() == ""
