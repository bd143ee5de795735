"""Preference pairs from judged candidates, in TRL's conversational ``prompt``/``chosen``/``rejected`` form.

- ``rubric`` (Aloe DPO stage 1): candidates in one or more columns (a string or a list of strings each),
  scored by a ``judge`` stage; chosen = best, rejected = worst, kept only when best - worst >= ``margin``.
- ``guard`` (Aloe DPO stage 2, red team): a safe answer and an unsafe one; the guard must call the
  chosen side safe and the rejected side unsafe, else the pair is dropped with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, model_validator

from factory.rows import CANONICAL_FIELDS
from factory.stage import Stage, drop


@dataclass(frozen=True)
class Candidate:
    """One answer: where it came from (``column``, ``index``, ``model``) and its judgement."""

    text: str
    model: str
    column: str
    index: int = 0
    score: float | None = None
    verdict: str | None = None
    categories: str | None = None


@dataclass(frozen=True)
class PairOutcome:
    """A kept pair (``chosen``, ``rejected``, ``why``) or a drop (``reason``, ``detail``)."""

    chosen: Candidate | None = None
    rejected: Candidate | None = None
    why: str | None = None
    reason: str | None = None
    detail: str | None = None


def choose_by_score(
    candidates: list[Candidate],
    margin: float,
    min_chosen_score: float | None = None,
    tie_break: Literal["first", "shorter"] = "first",
) -> PairOutcome:
    """Best vs worst scored candidate. Ties among the best (worst) go to the first in column order, or
    with ``shorter`` to the shortest chosen and longest rejected (a check on length bias)."""
    scored = [c for c in candidates if c.score is not None and c.text.strip()]
    if len(scored) < 2:
        return PairOutcome(reason="too_few_scored", detail=f"{len(scored)} of {len(candidates)} scored")
    best, worst = max(c.score for c in scored), min(c.score for c in scored)  # type: ignore[type-var]
    if best == worst:
        return PairOutcome(reason="tie", detail=f"all {len(scored)} candidates scored {best:g}")
    if best - worst < margin:
        return PairOutcome(reason="below_margin", detail=f"best {best:g} - worst {worst:g} < {margin:g}")
    if min_chosen_score is not None and best < min_chosen_score:
        return PairOutcome(reason="chosen_below_min", detail=f"best {best:g} < {min_chosen_score:g}")
    tops = [c for c in scored if c.score == best]
    bottoms = [c for c in scored if c.score == worst]
    if tie_break == "shorter":
        chosen, rejected = min(tops, key=lambda c: len(c.text)), max(bottoms, key=lambda c: len(c.text))
    else:
        chosen, rejected = tops[0], bottoms[0]
    if chosen.text.strip() == rejected.text.strip():
        return PairOutcome(reason="identical_sides", detail=f"same text scored {best:g} and {worst:g}")
    why = (
        f"rubric: {chosen.model} ({chosen.column}[{chosen.index}]) scored {best:g}, "
        f"{rejected.model} ({rejected.column}[{rejected.index}]) {worst:g}; margin {best - worst:g} >= "
        f"{margin:g} over {len(scored)} scored candidates"
    )
    return PairOutcome(chosen, rejected, why)


def choose_by_guard(chosen: Candidate | None, rejected: Candidate | None) -> PairOutcome:
    """Keep the pair only when the guard judged ``chosen`` safe and ``rejected`` unsafe."""
    missing = [n for n, c in (("chosen", chosen), ("rejected", rejected)) if c is None or not c.text.strip()]
    if missing:
        return PairOutcome(reason="missing_answer", detail=f"no {' / '.join(missing)} answer")
    assert chosen is not None and rejected is not None
    unread = [
        n for n, c in (("chosen", chosen), ("rejected", rejected)) if c.verdict not in ("safe", "unsafe")
    ]
    if unread:
        return PairOutcome(reason="judge_unparsed", detail=f"no guard verdict for {' / '.join(unread)}")
    if chosen.text.strip() == rejected.text.strip():
        return PairOutcome(reason="identical_sides", detail="chosen and rejected answers are the same text")
    chosen_ok, rejected_ok = chosen.verdict == "safe", rejected.verdict == "unsafe"
    if not chosen_ok and not rejected_ok:
        return PairOutcome(reason="sides_swapped", detail="guard: chosen unsafe, rejected safe")
    if not chosen_ok:
        return PairOutcome(
            reason="chosen_unsafe", detail=f"guard: {chosen.model} unsafe {chosen.categories or ''}".strip()
        )
    if not rejected_ok:
        return PairOutcome(reason="rejected_safe", detail=f"guard: {rejected.model} answer judged safe")
    why = f"guard: {chosen.model} judged safe, {rejected.model} judged unsafe"
    return PairOutcome(chosen, rejected, why + (f" ({rejected.categories})" if rejected.categories else ""))


class SelectPair(Stage):
    """Turns judged rows into ``preference`` rows.

    In: the prompt (``prompt_column``), the answer columns (``candidates`` for ``rubric``; ``chosen`` and
    ``rejected`` for ``guard``) and a ``judge`` stage's ``judgements`` column. Out: ``kind: preference``
    with ``prompt`` = [user], ``chosen`` / ``rejected`` = [assistant], and ``chosen_model``,
    ``rejected_model``, ``chosen_score``, ``rejected_score``, ``pair_reason`` (why this pair). The model of
    a column is ``models[column]``, else the row's ``<column>_model``, else ``dataset:<source>`` for a
    canonical column (the dataset's own answer), else the column name. Failing rows are dropped with the
    reason of ``choose_by_score`` / ``choose_by_guard``."""

    type: Literal["select_pair"] = "select_pair"
    mode: Literal["rubric", "guard"]
    candidates: list[str] = Field(default_factory=list, description="rubric: candidate answer columns")
    chosen: str | None = Field(None, description="guard: the column of the safe answer")
    rejected: str | None = Field(None, description="guard: the column of the unsafe answer")
    judgements: str = "judgements"
    prompt_column: str = "question"
    margin: float = Field(1.0, ge=0, description="rubric: least best - worst score to keep a pair")
    min_chosen_score: float | None = Field(None, ge=0)
    tie_break: Literal["first", "shorter"] = "first"
    models: dict[str, str] = Field(default_factory=dict, description="column -> model name")

    @property
    def adds(self) -> dict[str, pa.DataType]:
        return {
            "chosen_model": pa.string(),
            "rejected_model": pa.string(),
            "chosen_score": pa.float64(),
            "rejected_score": pa.float64(),
            "pair_reason": pa.string(),
        }

    @model_validator(mode="after")
    def _columns_for_mode(self):
        if self.mode == "rubric" and not self.candidates:
            raise ValueError("mode 'rubric' needs `candidates` (the columns holding the answers)")
        if self.mode == "guard" and (not self.chosen or not self.rejected):
            raise ValueError("mode 'guard' needs `chosen` and `rejected` columns")
        return self

    @property
    def requires(self) -> tuple[str, ...]:
        answer_columns = self.candidates if self.mode == "rubric" else [self.chosen, self.rejected]
        return tuple(dict.fromkeys([self.judgements, self.prompt_column, *answer_columns]))  # type: ignore[list-item]

    def _model(self, row: dict[str, Any], column: str) -> str:
        if column in self.models:
            return self.models[column]
        if row.get(f"{column}_model"):
            return str(row[f"{column}_model"])
        return f"dataset:{row.get('source')}" if column in CANONICAL_FIELDS else column

    def _candidates(self, row: dict[str, Any], column: str, by_key: dict) -> list[Candidate]:
        value = row.get(column)
        texts = value if isinstance(value, list) else [value]
        out = []
        for i, text in enumerate(texts):
            if text is None:
                continue
            judged = by_key.get((column, i), {})
            out.append(
                Candidate(
                    text,
                    self._model(row, column),
                    column,
                    i,
                    judged.get("score"),
                    judged.get("verdict"),
                    judged.get("categories"),
                )  # fmt: skip
            )
        return out

    def process_row(self, row: dict[str, Any]) -> dict[str, Any]:
        prompt = row.get(self.prompt_column)
        if not prompt or not str(prompt).strip():
            return drop(row, "no_prompt", f"empty {self.prompt_column}")
        by_key = {(j["column"], j["index"]): j for j in row.get(self.judgements) or []}
        if self.mode == "rubric":
            pool = [c for col in self.candidates for c in self._candidates(row, col, by_key)]
            outcome = choose_by_score(pool, self.margin, self.min_chosen_score, self.tie_break)
        else:
            chosen = self._candidates(row, self.chosen, by_key)  # type: ignore[arg-type]
            rejected = self._candidates(row, self.rejected, by_key)  # type: ignore[arg-type]
            outcome = choose_by_guard(chosen[0] if chosen else None, rejected[0] if rejected else None)
        if outcome.reason is not None:
            return drop(row, outcome.reason, outcome.detail)
        assert outcome.chosen is not None and outcome.rejected is not None
        return {
            **row,
            "kind": "preference",
            "prompt": [{"role": "user", "content": str(prompt)}],
            "chosen": [{"role": "assistant", "content": outcome.chosen.text}],
            "rejected": [{"role": "assistant", "content": outcome.rejected.text}],
            "chosen_model": outcome.chosen.model,
            "rejected_model": outcome.rejected.model,
            "chosen_score": outcome.chosen.score,
            "rejected_score": outcome.rejected.score,
            "pair_reason": outcome.why,
        }
