"""Benchmark decontamination, cheap tiers: ``decontaminate`` writes every row's benchmark candidates and
drops the confident ones. Uncertain candidates go to ``contamination_judge`` (``filters.contam_judge``).
Design and figures: docs/DECONTAM.md."""

from __future__ import annotations

import functools
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, PrivateAttr, TypeAdapter, model_validator

from factory.figures import Figures
from factory.hashing import stable_hash
from factory.mcqa.options import option_lines, split_options
from factory.sources import SourceConfig, fingerprint_source
from factory.stage import Stage, drop
from filters.decontam.index import BenchmarkIndex, Candidate, Rules, read_benchmark_list, rules_from
from filters.decontam.semantic import SemanticConfig

REASON = "benchmark_contamination"
COLUMN = "contam_candidates"
CANDIDATE = pa.struct([("benchmark", pa.string()), ("item", pa.string()), ("kind", pa.string()),
                       ("score", pa.float64()), ("confident", pa.bool_()), ("evidence", pa.string())])  # fmt: skip
_ENTRIES = TypeAdapter(list[SourceConfig])
__all__ = ["COLUMN", "REASON", "Decontaminate", "SemanticConfig", "read_benchmark_list"]


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

    @property
    def adds(self) -> dict[str, pa.DataType]:
        return {COLUMN: pa.list_(CANDIDATE)}

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
        return "\n".join(parts + option_lines(opts))

    def candidates(self, rows: list[dict[str, Any]]) -> list[list[Candidate]]:
        """Each row's candidates, best first (confident ones first)."""
        parts = [self._parts(r) for r in rows]
        found = self._index.match_rows(parts)
        if self._semantic is not None:
            found = self._semantic.add([self.prompt_text(r) for r in rows], found, self.max_candidates, parts)
        return found

    # -- the stage ---------------------------------------------------------------------------------
    def process_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        self.figures.add("rows", len(rows))
        for row, cands in zip(rows, self.candidates(rows), strict=True):
            structs = [{"benchmark": c.benchmark, "item": c.item, "kind": c.kind, "score": c.score,
                        "confident": c.confident, "evidence": c.evidence} for c in cands]  # fmt: skip
            row = {**row, COLUMN: structs or None}
            sure = [c for c in cands if c.confident]
            dropped = bool(sure) and self.action == "drop"
            out.append(drop(row, REASON, detail(sure[0])) if dropped else row)
            self._count(row, structs, dropped)
        return out

    def _count(self, row: dict[str, Any], cands: list[dict[str, Any]], dropped: bool) -> None:
        """A checked row's figures: its source, and for a row with candidates its fate (dropped / left to
        the judge), its best candidate's benchmark and kind, and the first examples of each kind."""
        figures = self.figures
        figures.add("sources", {row["source"]: 1})
        if not cands:
            return
        fate = "dropped" if dropped else "candidates"
        best = next((c for c in cands if c["confident"]), cands[0]) if dropped else cands[0]
        figures.add("dropped_by_source", {row["source"]: int(dropped)})
        figures.add("to_judge", int(not any(c["confident"] for c in cands)))  # the judge asks about it
        figures.add(f"hits:{fate}", {best["benchmark"]: 1})
        figures.add(f"kinds:{fate}", {best["kind"]: 1})
        example = {"row": row["id"], "item": best["item"], "score": float(best["score"]),
                   "evidence": best["evidence"][:160]}  # fmt: skip
        figures.extend(f"examples:{fate}:{best['kind']}", [example], limit=3)

    def report(self, figures: Figures) -> dict[str, Any]:
        """Rows checked and dropped, the judge load (rows with candidates but no confident one, which
        ``contamination_judge`` asks about, and their share of the rows checked), hits per benchmark and match
        kind, examples, charts, and a warning per source that copies benchmark items."""
        if "rows" not in figures:
            return {}
        benchmarks = sorted(b.name for b in self.all_benchmarks())
        sources = figures.get("sources", {})
        hits = {fate: figures.get(f"hits:{fate}", {}) for fate in ("dropped", "candidates")}
        kinds = {fate: figures.get(f"kinds:{fate}", {}) for fate in ("dropped", "candidates")}
        examples = {
            k.removeprefix("examples:"): v for k, v in figures.as_dict().items() if k.startswith("examples:")
        }
        warnings = [
            f"source '{s}': {n} of {sources[s]} rows copy benchmark items (dropped)"
            for s, n in sorted(figures.get("dropped_by_source", {}).items())
            if n >= max(10, 0.2 * sources[s])
        ]
        return {
            "rows_checked": figures.get("rows"),
            "rows_dropped": sum(kinds["dropped"].values()),
            "rows_with_candidates_kept": sum(kinds["candidates"].values()),
            "rows_to_judge": figures.get("to_judge", 0),
            "judge_load": round(figures.get("to_judge", 0) / max(figures.get("rows"), 1), 4),
            "hits_per_benchmark": {b: hits["dropped"].get(b, 0) for b in benchmarks},
            "hits_per_match_kind": dict(sorted(kinds["dropped"].items())),
            "candidates_per_benchmark": dict(sorted(hits["candidates"].items())),
            "candidates_per_match_kind": dict(sorted(kinds["candidates"].items())),
            "examples": dict(sorted(examples.items())),
            "charts": {
                "hits_per_benchmark": {
                    "title": "Rows dropped as benchmark copies, per benchmark",
                    "kind": "bar",
                    "data": {b: hits["dropped"].get(b, 0) for b in benchmarks},
                    "ylabel": "rows",
                },
                "matches_per_kind": {
                    "title": "Benchmark matches per kind (dropped / left to the judge)",
                    "kind": "grouped_bar",
                    "data": {k: dict(sorted(v.items())) for k, v in kinds.items()},
                    "ylabel": "rows",
                },
            },  # fmt: skip
            "warnings": warnings,
        }
