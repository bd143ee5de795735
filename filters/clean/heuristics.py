"""Rule-based quality filters (Gopher / C4 style), each rule with its own bound and drop reason.

``heuristic_filter`` reads one text per row (by default the response: QA answer, assistant turns, the
chosen side of a preference pair; rows without one are judged on their prompt side: an MCQA row on its
context and question, since options repeat each other by design) and applies the rules below in order.
The first rule that fails drops the row with its reason and a detail ``<measure>=<value> > <bound>``.
Set a bound to ``null`` to switch its rule off.

| param | reason | measure | default |
|---|---|---|---|
| ``min_response_words`` | ``short_response`` | words of the shortest response (MCQA and prompts exempt) | 3 |
| ``max_non_alpha_fraction`` | ``non_alpha`` | non-letter share of the non-space characters | 0.5 |
| ``max_symbol_word_ratio`` | ``symbol_ratio`` | runs of symbols (``# @ $ ^ & * ~ | < > = + _ { } [ ] \\ ` ...``) per word | 0.5 |
| ``max_digit_fraction`` | ``digit_ratio`` | digit share of the non-space characters | 0.35 |
| ``max_mean_word_length`` | ``word_length`` | mean characters per word | 15 |
| ``max_dup_line_fraction`` | ``repeated_lines`` | characters in lines that repeat an earlier line | 0.3 |
| ``max_dup_ngram_fraction`` | ``repeated_ngrams`` | word characters covered by repeated word ``dup_ngram_n``-grams | 0.7 |
| ``max_top_ngram_fraction`` | ``top_ngram`` | characters of the most repeated word ``top_ngram_n``-gram | 0.3 |

The two n-gram rules judge only texts of at least ``ngram_min_words`` words (30): in a short answer a
disease name said twice is most of its bigrams.

Defaults were set on real medical data (MedQuAD answers, MedMCQA, ChatDoctor: every rule drops well under
1% there, see BENCHMARKS.md, "Quality filter") and catch the junk planted in the quickstart data (symbol soup,
long repeated filler, one-word answers). Gopher's own bounds (0.15 for 5-grams, 0.2 for the top 2-gram)
are tighter: they were set for web pages. MedQuAD's NCI summaries repeat their "Key Points" as section
headings (5-gram repetition 0.3-0.6) and are normal text; the 57 MedQuAD answers above 0.8 (all
NIHSeniorHealth) hold the same passage twice.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from factory.rows import RESPONSE_FIELDS, iter_texts, main_text
from factory.stage import DROP, DROP_DETAIL, Stage

SYMBOL_RUN = re.compile(r"[#@$^&*~|<>=+_{}\[\]\\`…]+|\.\.\.+")
NO_RESPONSE_KINDS = ("mcqa", "prompt")
_NOT_LETTER = re.compile(r"[\W\d_]+")
_NOT_DIGIT = re.compile(r"\D+")
# Drop reason -> the param bounding that rule (None turns the rule off).
RULE_PARAMS = {
    "short_response": "min_response_words",
    "non_alpha": "max_non_alpha_fraction",
    "symbol_ratio": "max_symbol_word_ratio",
    "digit_ratio": "max_digit_fraction",
    "word_length": "max_mean_word_length",
    "repeated_lines": "max_dup_line_fraction",
    "repeated_ngrams": "max_dup_ngram_fraction",
    "top_ngram": "max_top_ngram_fraction",
}
PROMPT_FIELDS = {"mcqa": ("context", "question", "explanation"), "prompt": ("question",)}


def response_texts(row: dict[str, Any]) -> list[str]:
    """What the row teaches the model to say: answer, assistant turns, the chosen side of a pair."""
    kind = row.get("kind")
    if kind in ("chat", "preference"):
        turns = row.get("messages" if kind == "chat" else "chosen") or []
        return [m["content"] for m in turns if m.get("role") == "assistant" and m.get("content")]
    return list(iter_texts(row, RESPONSE_FIELDS.get(kind, ())))


def judged_text(row: dict[str, Any], on: str = "response") -> str:
    """The text the rules (and the quality classifier) read: ``all`` text of the row, or its ``response``
    (for MCQA and prompts, which have none: context, question and explanation, without options)."""
    if on == "response":
        texts = response_texts(row)
        if not texts and row.get("kind") in PROMPT_FIELDS:
            texts = list(iter_texts(row, PROMPT_FIELDS[row["kind"]]))
        if texts:
            return "\n".join(texts)
    return main_text(row)


# -- measures: each a pure function of a text (or its words), 0 for an empty text ------------------------
def non_alpha_fraction(text: str) -> float:
    compact = "".join(text.split())
    return 1 - len(_NOT_LETTER.sub("", compact)) / len(compact) if compact else 0.0


def symbol_word_ratio(text: str, words: list[str]) -> float:
    """Runs of symbol characters (``____`` or ``#@!$`` count once) per word."""
    return len(SYMBOL_RUN.findall(text)) / len(words) if words else 0.0


def digit_fraction(text: str) -> float:
    compact = "".join(text.split())
    return len(_NOT_DIGIT.sub("", compact)) / len(compact) if compact else 0.0


def mean_word_length(words: list[str]) -> float:
    return sum(map(len, words)) / len(words) if words else 0.0


def dup_line_fraction(text: str) -> float:
    """Share of characters in (non-blank) lines that repeat an earlier line."""
    seen: set[str] = set()
    dup = total = 0
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        total += len(line)
        if line in seen:
            dup += len(line)
        seen.add(line)
    return dup / total if total else 0.0


def dup_ngram_fraction(words: list[str], n: int) -> float:
    """Share of word characters inside word n-grams that occur more than once (Gopher)."""
    if len(words) < n + 1:
        return 0.0
    lowered = [w.lower() for w in words]
    grams = list(zip(*(lowered[i:] for i in range(n)), strict=False))
    counts = Counter(grams)
    if len(counts) == len(grams):
        return 0.0
    covered = bytearray(len(words))
    for i, gram in enumerate(grams):
        if counts[gram] > 1:
            covered[i : i + n] = b"\x01" * n
    total = sum(map(len, words))
    return sum(len(w) for w, c in zip(words, covered, strict=True) if c) / total if total else 0.0


def top_ngram_fraction(words: list[str], n: int) -> float:
    """Share of word characters taken by the most frequent word n-gram, when it occurs more than once."""
    if len(words) < 2 * n:
        return 0.0
    lowered = [w.lower() for w in words]
    gram, count = Counter(zip(*(lowered[i:] for i in range(n)), strict=False)).most_common(1)[0]
    if count < 2:
        return 0.0
    total = sum(map(len, words))
    return sum(map(len, gram)) * count / total if total else 0.0


class HeuristicFilter(Stage):
    """Drops rows failing a cheap text rule (repetition, symbols, digits, short answers...); each rule has
    its own reason (table in the module docstring) and bound; ``null`` switches a rule off. Rows are kept
    unchanged; no column is added."""

    type: Literal["heuristic_filter"] = "heuristic_filter"
    on: Literal["response", "all"] = Field(
        "response", description="text judged: the response (fallback: all text) or all text"
    )
    min_response_words: int | None = Field(3, ge=1, le=1000)
    max_non_alpha_fraction: float | None = Field(0.5, gt=0, le=1)
    max_symbol_word_ratio: float | None = Field(0.5, gt=0, le=100)
    max_digit_fraction: float | None = Field(0.35, gt=0, le=1)
    max_mean_word_length: float | None = Field(15.0, ge=2, le=1000)
    max_dup_line_fraction: float | None = Field(0.3, gt=0, le=1)
    max_dup_ngram_fraction: float | None = Field(0.7, gt=0, le=1)
    dup_ngram_n: int = Field(5, ge=2, le=20)
    max_top_ngram_fraction: float | None = Field(0.3, gt=0, le=1)
    top_ngram_n: int = Field(2, ge=1, le=10)
    ngram_min_words: int = Field(30, ge=0, le=100_000, description="shorter texts skip the n-gram rules")

    def check(self, row: dict[str, Any]) -> tuple[str, str] | None:
        """``(reason, detail)`` of the first failing rule, or None when the row passes."""
        if self.min_response_words is not None and row.get("kind") not in NO_RESPONSE_KINDS:
            texts = response_texts(row)
            shortest = min((len(t.split()) for t in texts), default=None)
            if shortest is not None and shortest < self.min_response_words:
                return "short_response", f"response_words={shortest} < {self.min_response_words}"
        text = judged_text(row, self.on)
        words = text.split()
        long_enough = len(words) >= self.ngram_min_words
        checks = (
            ("non_alpha", "non_alpha_fraction", self.max_non_alpha_fraction, lambda: non_alpha_fraction(text)),
            ("symbol_ratio", "symbols_per_word", self.max_symbol_word_ratio, lambda: symbol_word_ratio(text, words)),
            ("digit_ratio", "digit_fraction", self.max_digit_fraction, lambda: digit_fraction(text)),
            ("word_length", "mean_word_length", self.max_mean_word_length, lambda: mean_word_length(words)),
            ("repeated_lines", "dup_line_fraction", self.max_dup_line_fraction, lambda: dup_line_fraction(text)),
            (
                "repeated_ngrams",
                f"dup_{self.dup_ngram_n}gram_fraction",
                self.max_dup_ngram_fraction,
                lambda: dup_ngram_fraction(words, self.dup_ngram_n) if long_enough else 0.0,
            ),
            (
                "top_ngram",
                f"top_{self.top_ngram_n}gram_fraction",
                self.max_top_ngram_fraction,
                lambda: top_ngram_fraction(words, self.top_ngram_n) if long_enough else 0.0,
            ),
        )  # fmt: skip
        for reason, measure, bound, value in checks:
            if bound is None:
                continue
            v = value()
            if v > bound:
                return reason, f"{measure}={v:.3g} > {bound}"
        return None

    filter_only: ClassVar[bool] = True
    min_batch_size: ClassVar[int] = 4096

    def process_table(self, table: pa.Table) -> pa.Table:
        """``check`` on every row at once (``filters.clean.heuristics_table``): the same reasons and details."""
        from factory.columns import kind_mask
        from filters.clean import heuristics_table as ht

        texts = ht.judged_texts(table, self.on)
        b = ht.basic(texts)
        long_enough = b["words"] >= self.ngram_min_words
        rules: list[tuple[str, str, float | None, Any]] = [
            ("non_alpha", "non_alpha_fraction", self.max_non_alpha_fraction,
             lambda: np.where(b["chars"] > 0, 1 - ht.ratio(b["letters"], b["chars"]), 0.0)),
            ("symbol_ratio", "symbols_per_word", self.max_symbol_word_ratio, lambda: ht.ratio(b["symbols"], b["words"])),
            ("digit_ratio", "digit_fraction", self.max_digit_fraction, lambda: ht.ratio(b["digits"], b["chars"])),
            ("word_length", "mean_word_length", self.max_mean_word_length, lambda: ht.ratio(b["chars"], b["words"])),
            ("repeated_lines", "dup_line_fraction", self.max_dup_line_fraction, lambda: ht.dup_lines(texts)),
        ]  # fmt: skip
        python = np.zeros(table.num_rows, bool)
        if self.max_dup_ngram_fraction is not None or self.max_top_ngram_fraction is not None:
            grams = ht.ngram_rules(texts, self.dup_ngram_n, self.top_ngram_n, long_enough)
            rules.append(
                (
                    "repeated_ngrams",
                    f"dup_{self.dup_ngram_n}gram_fraction",
                    self.max_dup_ngram_fraction,
                    lambda: grams[0],
                )
            )
            rules.append(("top_ngram", f"top_{self.top_ngram_n}gram_fraction", self.max_top_ngram_fraction, lambda: grams[1]))  # fmt: skip
            python = ht.python_rows(texts) & long_enough
        reasons: list[str | None] = [None] * table.num_rows
        details: list[str | None] = [None] * table.num_rows
        if self.min_response_words is not None:
            shortest = ht.shortest_response_words(table)
            judged = ~kind_mask(table, NO_RESPONSE_KINDS) & (shortest >= 0)
            for i in np.flatnonzero(judged & (shortest < self.min_response_words)).tolist():
                reasons[i], details[i] = (
                    "short_response",
                    f"response_words={shortest[i]} < {self.min_response_words}",
                )
        for reason, measure, bound, value in rules:
            if bound is None:
                continue
            v = value()
            for i in np.flatnonzero(v > bound).tolist():
                if reasons[i] is None:
                    reasons[i], details[i] = reason, f"{measure}={float(v[i]):.3g} > {bound}"
        for i, row in zip(
            np.flatnonzero(python).tolist(), table.take(np.flatnonzero(python)).to_pylist(), strict=True
        ):
            failed = self.check(row)
            reasons[i], details[i] = failed if failed is not None else (None, None)
        return table.append_column(DROP, pa.array(reasons, pa.string())).append_column(
            DROP_DETAIL, pa.array(details, pa.string())
        )
