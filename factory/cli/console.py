"""The CLI's stderr console and its one way to fail: ``fail(exc)`` prints ``error: ...`` and exits 2 for a
recipe or settings error (``RecipeError``), 1 for any other ``FactoryError``."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from factory.errors import RecipeError

err = Console(stderr=True, highlight=False)


def fail(exc: Exception) -> NoReturn:
    err.print(f"[red]error:[/red] {exc}", markup=True, soft_wrap=True)
    raise typer.Exit(2 if isinstance(exc, RecipeError) else 1)
