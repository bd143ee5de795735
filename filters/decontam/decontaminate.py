"""Benchmark decontamination, cheap tiers: ``decontaminate`` writes every row's benchmark candidates and
drops the confident ones. Uncertain candidates go to ``contamination_judge`` (``filters.contam_judge``).
Design and figures: docs/DECONTAM.md."""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import Field, PrivateAttr, TypeAdapter, model_validator

from factory.hashing import stable_hash
from factory.sources import SourceConfig, fingerprint_source
from factory.stage import DROP, DROP_DETAIL, Stage, drop
from filters.decontam.index import BenchmarkIndex, Candidate, Rules, read_benchmark_list, rules_from
from filters.decontam.semantic import SemanticConfig

REASON = "benchmark_contamination"
COLUMN = "contam_candidates"
CANDIDATE = pa.struct([("benchmark", pa.string()), ("item", pa.string()), ("kind", pa.string()),
                       ("score", pa.float64()), ("confident", pa.bool_()), ("evidence", pa.string())])  # fmt: skip
_ENTRIES = TypeAdapter(list[SourceConfig])
__all__ = ["COLUMN", "REASON", "Decontaminate", "SemanticConfig", "read_benchmark_list"]


_OPTION_LINE = re.compile(r"^[ \t]*[(\[]?([A-Ja-j])[.):\]][ \t]+(\S[^\n]*?)[ \t]*$", re.M)
_OPTION_INLINE = re.compile(r"(?:^|\s)\(([A-Ja-j])\)\s*([^()\n]+?)(?=\s*\([A-Ja-j]\)|\n|$)")


def split_options(text: str) -> tuple[str, list[str]]:
    """A prompt holding a multiple-choice question -> (the text without its options, the options):
    3+ options labelled A, B, C... in order, one per line (``A. x``, ``b) y``, ``[C] z``) or inline
    (``(A) x (B) y (C) z``). Anything else: (text, [])."""
    patterns = [_OPTION_LINE] if "\n" in text else []
    if "(B)" in text or "(b)" in text:
        patterns.append(_OPTION_INLINE)
    for pattern in patterns:
        run: list[re.Match] = []
        for m in pattern.finditer(text):
            if m.group(1).lower() == chr(97 + len(run)) and (
                not run or not text[run[-1].end() : m.start()].strip()
            ):
                run.append(m)
            elif len(run) >= 3:
                break
            else:
                run = [m] if m.group(1).lower() == "a" else []
        if len(run) >= 3:
            stem = text[: run[0].start()] + text[run[-1].end() :]
            return stem, [m.group(2) for m in run]
    return text, []


@functools.lru_cache(maxsize=4)
def _cached_index(key: str, entries_json: str, data_dir: str, rules: Rules) -> BenchmarkIndex:
    return BenchmarkIndex.build(list(_ENTRIES.validate_json(entries_json)), data_dir, rules)


def detail(c: Candidate) -> str:
    """The drop detail of a candidate: ``benchmark=<b> item=<id> match=<kind> score=<s> <evidence>``."""
    also = f" also={','.join(c.also[:3])}" if c.also else ""
    return f"benchmark={c.benchmark} item={c.item} match={c.kind} score={c.score:.2f} {c.evidence}{also}"


class Decontaminate(Stage):
    """Finds the benchmark items each training row may copy, and drops the rows that surely do (reason
    ``benchmark_contamination``, detail naming the item, see ``detail``).

    In: any rows; their prompt side (MCQA context, question and options; QA/prompt question; chat user
    turns; preference prompt; text) or, with ``fields: all``, every text. Benchmarks are recipe-style source
    entries (``benchmarks``) and/or shipped lists (``include: [medical]``). Out: the rows without a
    confident match, each with ``contam_candidates`` (up to ``max_candidates`` structs: benchmark, item,
    kind, score, confident, evidence; null when none), for ``contamination_judge``. ``action: mark`` drops
    nothing (scores only). Tiers and their knobs: ``filters.decontam_index``; ``semantic`` adds embedding
    neighbours. The report has hits and candidates per benchmark and per kind, examples, and charts."""

    type: Literal["decontaminate"] = "decontaminate"
    benchmarks: list[SourceConfig] = Field(default_factory=list, description="benchmark source entries")
    include: list[str] = Field(
        default_factory=list,
        description="shipped benchmark lists (filters/decontam/benchmarks/<name>.yaml) or YAML paths",
    )
    fields: Literal["prompt", "all"] = Field("prompt", description="prompt side only, or answers too")
    action: Literal["drop", "mark"] = Field("drop", description="drop confident matches, or only mark rows")
    ngram: int = Field(13, ge=4, le=50, description="n-gram size in words")
    min_ngram_matches: int = Field(1, ge=1, le=100, description="shared n-grams with one item to match")
    min_ngram_share: float = Field(0.2, ge=0, le=1, description="share of the item's n-grams to match")
    max_ngram_df: int = Field(3, ge=1, description="n-grams in more distinct items are boilerplate")
    min_rare_tokens: int = Field(1, ge=0, le=50, description="rare tokens an indexed n-gram must hold")
    rare_token_df: float = Field(
        0.01, gt=0, le=1, description="a token in at most this share of items is rare"
    )
    question_match: bool = Field(True, description="match whole normalised questions (and option sets)")
    min_question_tokens: int = Field(4, ge=1, le=50, description="shorter questions never match")
    question_alone_tokens: int = Field(
        8, ge=1, le=100, description="a unique question this long matches alone"
    )
    min_option_matches: int = Field(2, ge=0, le=10, description="options confirming a short question")
    option_rule_min: int = Field(3, ge=2, le=10, description="shared options for the edited-question rule")
    min_question_overlap: float = Field(0.6, ge=0, le=1, description="question coverage for that rule")
    min_row_overlap: float = Field(
        0.4, ge=0, le=1, description="... and share of the row's question from the item"
    )
    typos: bool = Field(True, description="map unknown tokens to the benchmark token one typo away")
    terms: bool = Field(True, description="the distinctive-term coverage tier")
    term_max_df: float = Field(0.02, gt=0, le=1, description="tokens in more items are not terms")
    term_drop: float = Field(0.75, ge=0, le=1, description="item term coverage for a confident match")
    term_question: float = Field(0.6, ge=0, le=1, description="... with this coverage of its question terms")
    term_row: float = Field(0.3, ge=0, le=1, description="... and this share of the row's terms")
    term_min_count: int = Field(5, ge=1, le=100, description="shared terms a confident terms match needs")
    term_partial_row: float = Field(0.9, ge=0, le=1, description="partial copy: row terms from the item")
    term_partial_item: float = Field(0.5, ge=0, le=1, description="partial copy: item coverage")
    term_partial_question: float = Field(0.3, ge=0, le=1, description="partial copy: question coverage")
    candidate_cover: float = Field(0.5, ge=0, le=1, description="item term coverage for a candidate")
    verify_pairs: float = Field(
        0.45,
        ge=0,
        le=1,
        description="share of the item's word pairs a confident non-n-gram match needs (0: off)",
    )
    max_candidates: int = Field(3, ge=1, le=20, description="candidates kept per row")
    semantic: SemanticConfig | None = Field(None, description="embedding neighbours (slower; optional)")
    batch_size: int = Field(2048, ge=1, le=1_000_000)

    adds: ClassVar[dict[str, pa.DataType]] = {COLUMN: pa.list_(CANDIDATE)}
    _index: BenchmarkIndex | None = PrivateAttr(None)
    _semantic: Any = PrivateAttr(None)

    @model_validator(mode="after")
    def _check_lists(self) -> Decontaminate:
        names = [b.name for b in self.all_benchmarks()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"benchmark names must be unique: {dupes}")
        if not names:
            raise ValueError("name at least one benchmark (`benchmarks:` entries or `include: [medical]`)")
        return self

    def all_benchmarks(self) -> list[SourceConfig]:
        return [cfg for name in self.include for cfg in read_benchmark_list(name)] + list(self.benchmarks)

    def input_fingerprint(self) -> Any:
        return {
            cfg.name: [cfg.model_dump(mode="json"), fingerprint_source(cfg, self.data_dir)["hash"]]
            for cfg in self.all_benchmarks()
        }

    def setup(self) -> None:
        entries_json = _ENTRIES.dump_json(self.all_benchmarks()).decode()
        key = stable_hash([entries_json, str(self.data_dir), self.input_fingerprint()])
        self._index = _cached_index(key, entries_json, str(self.data_dir), rules_from(self.model_dump()))
        if self.semantic is not None:
            from filters.decontam.semantic import semantic_index

            self._semantic = semantic_index(self.semantic, self._index, key, self.store_dir)

    # -- what a row says ---------------------------------------------------------------------------
    def _parts(self, row: dict[str, Any]) -> tuple[list[str], list[str]]:
        """The row's texts on the checked side, and its options (MCQA rows)."""
        kind, parts, opts = row.get("kind"), [], []
        if kind == "mcqa":
            parts = [row.get("context"), row.get("question")]
            opts = [o for o in row.get("options") or [] if o]
            if self.fields == "all":
                parts.append(row.get("explanation"))
            return [p for p in parts if p], opts
        if kind in ("qa", "prompt"):
            parts = [row.get("question"), row.get("answer") if self.fields == "all" else None]
        elif kind == "text":
            parts = [row.get("text")]
        else:
            names = ("messages",) if kind == "chat" else ("prompt", "chosen", "rejected")
            for name in names if self.fields == "all" else names[:1]:
                parts += [m.get("content") for m in row.get(name) or []
                          if self.fields == "all" or m.get("role") == "user"]  # fmt: skip
        parts = [p for p in parts if p]
        if parts:  # an MCQ inside a prompt: its labelled options are options too
            parts[0], opts = split_options(parts[0])
        return [p for p in parts if p], opts

    def prompt_text(self, row: dict[str, Any]) -> str:
        """The checked side as one text (options labelled A., B., ...), as the judge and encoder see it."""
        parts, opts = self._parts(row)
        return "\n".join(parts + [f"{chr(65 + i)}. {o}" for i, o in enumerate(opts)])

    def candidates(self, rows: list[dict[str, Any]]) -> list[list[Candidate]]:
        """Each row's candidates, best first (confident ones first)."""
        found = self._index.match_rows([self._parts(r) for r in rows])
        if self._semantic is not None:
            found = self._semantic.add([self.prompt_text(r) for r in rows], found, self.max_candidates)
        return found

    # -- the stage ---------------------------------------------------------------------------------
    def process_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row, cands in zip(rows, self.candidates(rows), strict=True):
            structs = [{"benchmark": c.benchmark, "item": c.item, "kind": c.kind, "score": c.score,
                        "confident": c.confident, "evidence": c.evidence} for c in cands]  # fmt: skip
            row = {**row, COLUMN: structs or None}
            sure = [c for c in cands if c.confident]
            out.append(drop(row, REASON, detail(sure[0])) if sure and self.action == "drop" else row)
        return out

    def tally(self, table: pa.Table) -> _Tally:
        figures = _Tally()
        figures.add(table)
        return figures

    def report_from(self, tallies: list[_Tally]) -> dict[str, Any]:
        total = _Tally()
        for figures in tallies:
            total.merge(figures)
        return total.report(sorted(b.name for b in self.all_benchmarks()))


class _Tally:
    """Counts over the stage's output tables -> the manifest report (figures, examples, charts)."""

    def __init__(self):
        self.rows = 0
        self.sources: Counter[str] = Counter()
        self.dropped_by_source: Counter[str] = Counter()
        self.hits: dict[str, Counter[str]] = {"dropped": Counter(), "candidates": Counter()}
        self.kinds: dict[str, Counter[str]] = {"dropped": Counter(), "candidates": Counter()}
        self.examples: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def add(self, table: pa.Table) -> None:
        cols = ["id", "source", DROP, DROP_DETAIL, COLUMN]
        for row in table.select(cols).to_pylist():
            self.rows += 1
            self.sources[row["source"]] += 1
            cands = row[COLUMN] or []
            if not cands:
                continue
            fate = "dropped" if row[DROP] == REASON else "candidates"
            best = next((c for c in cands if c["confident"]), cands[0]) if fate == "dropped" else cands[0]
            self.dropped_by_source[row["source"]] += fate == "dropped"
            self.hits[fate][best["benchmark"]] += 1
            self.kinds[fate][best["kind"]] += 1
            shown = self.examples[f"{fate}:{best['kind']}"]
            if len(shown) < 3:
                shown.append({"row": row["id"], "item": best["item"], "score": best["score"],
                              "evidence": best["evidence"][:160]})  # fmt: skip

    def merge(self, other: _Tally) -> None:
        self.rows += other.rows
        self.sources.update(other.sources)
        self.dropped_by_source.update(other.dropped_by_source)
        for fate in self.hits:
            self.hits[fate].update(other.hits[fate])
            self.kinds[fate].update(other.kinds[fate])
        for key, shown in other.examples.items():
            self.examples[key] = (self.examples[key] + shown)[:3]

    def report(self, benchmarks: list[str]) -> dict[str, Any]:
        dropped = sum(self.kinds["dropped"].values())
        warnings = [
            f"source '{s}': {n} of {self.sources[s]} rows copy benchmark items (dropped)"
            for s, n in sorted(self.dropped_by_source.items())
            if n >= max(10, 0.2 * self.sources[s])
        ]
        return {
            "rows_checked": self.rows,
            "rows_dropped": dropped,
            "rows_with_candidates_kept": sum(self.kinds["candidates"].values()),
            "hits_per_benchmark": {b: self.hits["dropped"].get(b, 0) for b in benchmarks},
            "hits_per_match_kind": dict(sorted(self.kinds["dropped"].items())),
            "candidates_per_benchmark": {b: n for b, n in sorted(self.hits["candidates"].items())},
            "candidates_per_match_kind": dict(sorted(self.kinds["candidates"].items())),
            "examples": dict(sorted(self.examples.items())),
            "charts": {
                "hits_per_benchmark": {
                    "title": "Rows dropped as benchmark copies, per benchmark",
                    "kind": "bar",
                    "data": {b: self.hits["dropped"].get(b, 0) for b in benchmarks},
                    "ylabel": "rows",
                },
                "matches_per_kind": {
                    "title": "Benchmark matches per kind (dropped / left to the judge)",
                    "kind": "grouped_bar",
                    "data": {k: dict(sorted(v.items())) for k, v in self.kinds.items()},
                    "ylabel": "rows",
                },
            },  # fmt: skip
            "warnings": warnings,
        }
