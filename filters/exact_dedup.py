"""Exact dedup on normalised text: one row per distinct text, the first in pipeline order is kept."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, ClassVar, Literal

import pyarrow as pa
import xxhash
from pydantic import Field

from factory.rows import iter_texts
from factory.stage import GlobalStage

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalised(text: str) -> str:
    """Case, accents of compatibility forms, punctuation and whitespace folded away."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


class ExactDedup(GlobalStage):
    """Drops rows whose normalised text equals an earlier row's (reason ``exact_duplicate``, detail
    ``duplicate_of=<id>``). ``on: all`` compares every text of the row (MCQA: context, question and
    options, in order); ``on: question`` compares the prompt side only."""

    type: Literal["exact_dedup"] = "exact_dedup"
    on: Literal["all", "question"] = "all"
    across_kinds: bool = Field(False, description="compare rows of different kinds too")

    key_columns: ClassVar[dict[str, pa.DataType]] = {"hash": pa.string()}

    def _text(self, row: dict[str, Any]) -> str:
        if self.on == "question":
            fields = ("prompt",) if row["kind"] == "preference" else ("context", "question")
            if row["kind"] == "chat":
                return normalised(
                    " ".join(m["content"] or "" for m in row["messages"] if m["role"] == "user")
                )
            return normalised(" ".join(iter_texts(row, fields)))
        return normalised(" ".join(iter_texts(row)))

    def keys(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            scope = "" if self.across_kinds else row["kind"]
            out.append(
                {"id": row["id"], "hash": xxhash.xxh3_128_hexdigest(f"{scope}\x00{self._text(row)}".encode())}
            )
        return out

    def decide(self, keys: pa.Table) -> dict[str, tuple[str, str | None]]:
        first: dict[str, str] = {}
        drops: dict[str, tuple[str, str | None]] = {}
        for row_id, digest in zip(
            keys.column("id").to_pylist(), keys.column("hash").to_pylist(), strict=True
        ):
            kept = first.setdefault(digest, row_id)
            if kept != row_id:
                drops[row_id] = ("exact_duplicate", f"duplicate_of={kept}")
        self._report = {"distinct": len(first), "duplicates": len(drops)}
        return drops

    def report(self) -> dict[str, Any]:
        return getattr(self, "_report", {})
