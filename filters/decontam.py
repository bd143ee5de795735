"""Benchmark decontamination: drop training rows that copy a benchmark item (``decontaminate``)."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
import yaml
from pydantic import Field, PrivateAttr, TypeAdapter, model_validator

from factory.sources import SourceConfig, fingerprint_source, load_source
from factory.stage import GlobalStage, is_dropped
from factory.store import stable_hash
from filters.decontam_index import BenchmarkIndex, Rules, tokens

SHIPPED = Path(__file__).resolve().parents[1] / "recipes" / "benchmarks"
REASON = "benchmark_contamination"
_ENTRIES = TypeAdapter(list[SourceConfig])


def read_benchmark_list(name: str) -> list[SourceConfig]:
    """A benchmark list: a shipped name (``medical`` = ``recipes/benchmarks/medical.yaml``) or a YAML path."""
    path = SHIPPED / f"{name}.yaml" if "/" not in name and not name.endswith(".yaml") else Path(name)
    if not path.is_file():
        shipped = sorted(p.stem for p in SHIPPED.glob("*.yaml"))
        raise ValueError(f"benchmark list '{name}' not found ({path}); shipped lists: {shipped}")
    return _ENTRIES.validate_python(yaml.safe_load(path.read_text()) or [])


@functools.lru_cache(maxsize=4)
def _cached_index(key: str, entries_json: str, data_dir: str, rules: Rules) -> BenchmarkIndex:
    index = BenchmarkIndex(rules)
    for cfg in _ENTRIES.validate_json(entries_json):
        for row in load_source(cfg, Path(data_dir)):
            if is_dropped(row) or not row.get("question"):
                continue
            index.add(cfg.name, row["id"], row["question"], row.get("context"), row.get("options") or [])
    index.finish()
    return index


class Decontaminate(GlobalStage):
    """Drops training rows that copy a benchmark item (reason ``benchmark_contamination``).

    In: any rows; their prompt side (MCQA context, question and options; QA/prompt question; chat user
    turns; preference prompt; text) or, with ``fields: all``, every text. Out: the rows that match no
    benchmark item. Benchmarks are recipe-style source entries (``benchmarks``) and/or shipped lists
    (``include: [medical]``), read with the source adapters. Drop detail:
    ``benchmark=<name> item=<id> match=<ngram|question|options> <evidence>``. The manifest report has
    hits per benchmark and per match kind. See ``filters.decontam_index`` for the matching rules."""

    type: Literal["decontaminate"] = "decontaminate"
    benchmarks: list[SourceConfig] = Field(default_factory=list, description="benchmark source entries")
    include: list[str] = Field(
        default_factory=list,
        description="shipped benchmark lists (recipes/benchmarks/<name>.yaml) or YAML paths",
    )
    fields: Literal["prompt", "all"] = Field("prompt", description="prompt side only, or answers too")
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
    batch_size: int = Field(2048, ge=1, le=1_000_000)

    key_columns: ClassVar[dict[str, pa.DataType]] = {"match": pa.string(), "hit_benchmarks": pa.string()}
    _index: BenchmarkIndex | None = PrivateAttr(None)
    _report: dict[str, Any] = PrivateAttr(default_factory=dict)

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

    def rules(self) -> Rules:
        keep = Rules.__dataclass_fields__
        return Rules(**{k: v for k, v in self.model_dump().items() if k in keep})

    def input_fingerprint(self) -> Any:
        return {
            cfg.name: [cfg.model_dump(mode="json"), fingerprint_source(cfg, self.data_dir)["hash"]]
            for cfg in self.all_benchmarks()
        }

    def setup(self) -> None:
        entries = self.all_benchmarks()
        entries_json = _ENTRIES.dump_json(entries).decode()
        key = stable_hash([entries_json, str(self.data_dir), self.input_fingerprint()])
        self._index = _cached_index(key, entries_json, str(self.data_dir), self.rules())

    def _texts(self, row: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
        """The row's tokens on the checked side, and the tokens of each option (MCQA rows)."""
        kind, parts, opts = row.get("kind"), [], []
        if kind == "mcqa":
            parts = [row.get("context"), row.get("question")]
            opts = [t for t in (tokens(o) for o in row.get("options") or [] if o) if t]
            if self.fields == "all":
                parts.append(row.get("explanation"))
        elif kind in ("qa", "prompt"):
            parts = [row.get("question"), row.get("answer") if self.fields == "all" else None]
        elif kind == "text":
            parts = [row.get("text")]
        else:
            names = ("messages",) if kind == "chat" else ("prompt", "chosen", "rejected")
            for name in names if self.fields == "all" else names[:1]:
                parts += [
                    m.get("content")
                    for m in row.get(name) or []
                    if self.fields == "all" or m.get("role") == "user"
                ]
        toks = [t for p in parts if p for t in tokens(p)]
        for o in opts:
            toks += o
        return toks, opts

    def keys(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        matches = self._index.match_batch([self._texts(r) for r in rows])
        out = []
        for row, m in zip(rows, matches, strict=True):
            if m is None:
                out.append({"id": row["id"], "match": None, "hit_benchmarks": None})
                continue
            members = self._index.groups[m.group].members
            bench, item = members[0]
            also = f" also={','.join(i for _, i in members[1:4])}" if len(members) > 1 else ""
            detail = f"benchmark={bench} item={item} match={m.kind} {m.evidence}{also}"
            benches = ",".join(sorted({b for b, _ in members}))
            out.append({"id": row["id"], "match": detail, "hit_benchmarks": f"{m.kind}|{benches}"})
        return out

    def decide(self, keys: pa.Table) -> dict[str, tuple[str, str | None]]:
        drops: dict[str, tuple[str, str | None]] = {}
        per_bench: Counter[str] = Counter()
        per_kind: Counter[str] = Counter()
        for row_id, detail, hit in zip(
            keys.column("id").to_pylist(),
            keys.column("match").to_pylist(),
            keys.column("hit_benchmarks").to_pylist(),
            strict=True,
        ):
            if detail is None:
                continue
            drops[row_id] = (REASON, detail)
            kind, benches = hit.split("|", 1)
            per_kind[kind] += 1
            per_bench.update(benches.split(","))
        self._report = {
            "rows_checked": keys.num_rows,
            "rows_dropped": len(drops),
            "hits_per_benchmark": {
                b: per_bench.get(b, 0) for b in sorted(b.name for b in self.all_benchmarks())
            },
            "hits_per_match_kind": dict(sorted(per_kind.items())),
        }
        return drops

    def report(self) -> dict[str, Any]:
        return self._report
