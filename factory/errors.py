"""User-facing errors. Each names where the problem is: recipe path and line, or input file, line, field."""

from __future__ import annotations


class FactoryError(Exception):
    """An error the CLI prints as a message, without a traceback."""


class RecipeError(FactoryError):
    """A recipe that failed validation; ``problems`` are ``(where, message)`` pairs."""

    def __init__(self, file: str, problems: list[tuple[str, str]]):
        self.file = file
        self.problems = problems
        lines = [f"{file}: {len(problems)} problem(s) in the recipe"]
        lines += [f"  {where}: {message}" for where, message in problems]
        super().__init__("\n".join(lines))


class InputError(FactoryError):
    """A bad input row: names the source, file, line (or record) and field."""

    def __init__(self, source: str, file: str, line: int | str | None, field: str | None, message: str):
        self.source, self.file, self.line, self.field, self.message = source, file, line, field, message
        where = file if line is None else f"{file}:{line}"
        what = f"field '{field}': " if field else ""
        super().__init__(
            f"source '{source}': {where}: {what}{message}\n"
            f"  (set `on_error: skip` on this source to log such rows in the drop log instead)"
        )


class SourceError(FactoryError):
    """A source that cannot be read at all (missing files, unreachable hub)."""


class StageError(FactoryError):
    """A stage that broke the contract (lost rows, missing columns)."""


class SettingError(FactoryError):
    """A stage setting that passed validation but cannot be used (a model that cannot be found), raised
    before any row is read. ``loc``: the setting's path inside the stage (``("backend", "model")``), so the
    runner can name its recipe line."""

    def __init__(self, message: str, loc: tuple[str, ...] = ()):
        self.loc = loc
        super().__init__(message)
