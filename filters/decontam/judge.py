"""``contamination_judge``: an LLM decides, for the rows ``decontaminate`` left with uncertain candidates,
whether the row IS the benchmark item (copied, reworded, translated or embedded in a longer prompt), the
way Aloe Beta decontaminates (an LLM judge over training instructions; LMSYS "rephrased samples" study).

Only rows with candidates are judged (the others pass untouched: ``build_requests`` returns None), one
request per candidate (up to ``max_candidates``, best first), through the generation backends and the
request cache. ``judge_all: true`` judges every row, as Aloe Beta did: a row without candidates is judged
against its nearest benchmark items by the MiniLM encoder (``nearest``; candidate kind ``nearest``).
The answer is asked as JSON ``{"reason": ..., "same": true|false}`` (a ``Guide``: enforced
where the backend supports structured output) and read from free text too (``verdict.parse_verdict``).

How sure the judge was: the requests ask for the top ``logprobs`` of each token, and each verdict carries
the probability of its true/false token (``verdict.verdict_probability``; null where the backend returned no
logprobs: a sampled verdict has no probability). A weak judge's "copy" can be made to need agreement
(``require``: a verdict probability and a tier similarity floor): a row the judge would drop that fails it
is kept and counted as overruled. The report lists the judge's drops and overrulings with their evidence
(benchmark item, candidate kind and similarity, verdict probability, reason), apart from the tiers' drops.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter

from factory.figures import Figures
from factory.llm.stage import GenerationStage
from factory.llm.types import Guide, Request, Response, Retry
from factory.mcqa.options import option_lines
from factory.sources import SourceConfig, fingerprint_source, load_source
from factory.stage import drop, is_dropped
from filters.decontam.decontaminate import COLUMN, REASON, Decontaminate, read_benchmark_list
from filters.decontam.semantic import SemanticConfig
from filters.decontam.verdict import parse_verdict, verdict_probability

VERDICTS = "contam_verdicts"
VERDICT = pa.struct([("benchmark", pa.string()), ("item", pa.string()), ("same", pa.bool_()),
                     ("reason", pa.string()), ("judge_model", pa.string()), ("raw", pa.string()),
                     ("probability", pa.float64()), ("kind", pa.string()), ("similarity", pa.float64())])  # fmt: skip
SCHEMA = {
    "type": "object",
    "properties": {"reason": {"type": "string", "maxLength": 300}, "same": {"type": "boolean"}},
    "required": ["reason", "same"],
    "additionalProperties": False,
}
SYSTEM = (
    "You check training data for benchmark contamination: you say whether a training example is the same "
    "question as a benchmark test item."
)
USER = """Benchmark test item:
<<<
{item}
>>>

Training example:
<<<
{row}
>>>

The training example counts as the same question when it is the benchmark item copied, reworded, \
paraphrased, translated, shortened, with its options reordered or reworded, or embedded in a longer \
prompt. A different question on the same topic does not count.
Is the training example the same question as the benchmark item? Reply with JSON only: \
{{"reason": "<one sentence>", "same": true or false}}"""
_ENTRIES = TypeAdapter(list[SourceConfig])
@functools.lru_cache(maxsize=4)
def _items(entries_json: str, data_dir: str) -> dict[str, dict[str, Any]]:
    out = {}
    for cfg in _ENTRIES.validate_json(entries_json):
        for row in load_source(cfg, Path(data_dir)):
            if not is_dropped(row) and row.get("question"):
                out[row["id"]] = {"question": row["question"], "context": row.get("context"),
                                  "options": row.get("options") or []}  # fmt: skip
    return out


class JudgeRequirement(BaseModel):
    """What a judge's "copy" verdict needs besides itself before its row is dropped (``require``). Each floor
    left null is not checked; a row whose verdicts all fail is kept and counted as overruled."""

    model_config = ConfigDict(extra="forbid")

    min_probability: float | None = Field(
        None,
        ge=0.5,
        le=1,
        description="the verdict's probability (from logprobs); a verdict without one (sampled) fails it",
    )
    min_similarity: float | None = Field(
        None,
        ge=0,
        le=1,
        description="the candidate's tier score (n-gram share, term coverage, cosine... of contam_candidates)",
    )

    def met(self, verdict: dict[str, Any]) -> bool:
        p, sim = verdict.get("probability"), verdict.get("similarity")
        if self.min_probability is not None and (p is None or p < self.min_probability):
            return False
        return self.min_similarity is None or (sim is not None and sim >= self.min_similarity)


class ContaminationJudge(GenerationStage):
    """Judges the uncertain benchmark candidates ``decontaminate`` wrote (``contam_candidates``).

    In: rows with ``contam_candidates``; benchmarks named as in ``decontaminate`` (to show the judge each
    item). Out: rows whose judge found no copy, with ``contam_verdicts`` (benchmark, item, same, reason,
    judge_model, raw, probability, candidate kind and similarity; null for rows not judged); rows it found to
    copy an item are dropped (reason ``benchmark_contamination``, detail ``benchmark=<b> item=<id>
    match=judge ... p=<probability>``), or only marked with ``action: mark``; with ``require``, only when a
    "copy" verdict meets it (else kept, overruled). An answer that cannot be read is asked again while
    attempts remain, then recorded with ``same`` null (the row is kept)."""

    code_version: ClassVar[int] = 2  # 2: verdict probability, kind and similarity; require
    type: Literal["contamination_judge"] = "contamination_judge"
    benchmarks: list[SourceConfig] = Field(default_factory=list, description="as in decontaminate")
    include: list[str] = Field(default_factory=list, description="as in decontaminate")
    action: Literal["drop", "mark"] = Field("drop", description="drop rows judged copies, or only mark them")
    max_candidates: int = Field(2, ge=1, le=10, description="candidates judged per row, best first")
    min_score: float = Field(0.0, ge=0, le=1, description="candidates scored lower are not judged")
    judge_confident: bool = Field(False, description="also judge candidates the cheap tiers were sure of")
    judge_all: bool = Field(
        False, description="judge every row: one without candidates against its `nearest` benchmark items"
    )
    nearest: SemanticConfig = Field(
        SemanticConfig(min_cosine=0.0, top_k=1),
        description="judge_all: the encoder, and the nearest items (top_k) a row without candidates gets",
    )
    max_chars: int = Field(4000, ge=200, le=100_000, description="item and row texts are cut to this")
    max_attempts: int = Field(2, ge=1, le=10)
    logprobs: int = Field(
        5, ge=0, le=20, description="top logprobs asked per token for the verdict's probability (0: none)"
    )
    require: JudgeRequirement | None = Field(
        None, description="drop a row only when a copy verdict also meets these floors (else: overruled)"
    )

    @property
    def requires(self) -> tuple[str, ...]:
        return (COLUMN,)

    @property
    def adds(self) -> dict[str, pa.DataType]:
        return {VERDICTS: pa.list_(VERDICT)}

    _lookup: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)
    _reader: Any = PrivateAttr(None)
    _nearest: dict[str, list[dict[str, Any]]] = PrivateAttr(default_factory=dict)  # row id -> nearest items

    def params(self) -> dict[str, Any]:
        """The base's params; ``judge_all`` and ``nearest`` only when on (other cache keys unchanged)."""
        out = super().params()
        if not self.judge_all:
            out.pop("judge_all")
            out.pop("nearest")
        return out

    def all_benchmarks(self) -> list[SourceConfig]:
        return [cfg for name in self.include for cfg in read_benchmark_list(name)] + list(self.benchmarks)

    def input_fingerprint(self) -> Any:
        benches = {cfg.name: fingerprint_source(cfg, self.data_dir)["hash"] for cfg in self.all_benchmarks()}
        return {"model": super().input_fingerprint(), "benchmarks": benches}

    def setup(self) -> None:
        entries = self.all_benchmarks()
        if not entries:
            raise ValueError(
                f"stage '{self.stage_name}': name the benchmarks (`include: [medical]` or entries)"
            )
        self._lookup = _items(_ENTRIES.dump_json(entries).decode(), str(self.data_dir))
        self._reader = Decontaminate(benchmarks=entries, semantic=self.nearest if self.judge_all else None)
        if self.judge_all:  # the benchmark index and its item embeddings, for rows without candidates
            self._reader.bind_runtime({"data_dir": str(self.data_dir), "store_dir": self.store_dir})
            self._reader.setup()

    def _judged(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        cands = [c for c in row.get(COLUMN) or [] if c["score"] >= self.min_score]
        cands = [c for c in cands if self.judge_confident or not c["confident"]]
        missing = [c["item"] for c in cands if c["item"] not in self._lookup]
        if missing:
            raise ValueError(f"stage '{self.stage_name}': row {row.get('id')} names benchmark items {missing[:3]} "
                             "that its benchmarks lack: give it the same `include`/`benchmarks` as decontaminate")  # fmt: skip
        if not cands and self.judge_all and not any(c["confident"] for c in row.get(COLUMN) or []):
            cands = self._nearest_items(row)
        return cands[: self.max_candidates]

    def _nearest_items(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """``judge_all``: the row's nearest benchmark items by the encoder, as candidates of kind ``nearest``
        (kept until the row is parsed, so that its requests and its verdicts name the same items)."""
        key = str(row.get("id"))
        if key not in self._nearest:
            sem = self._reader._semantic
            groups, cosines = sem.neighbours([self._reader.prompt_text(row)])
            found = []
            for g, cos in zip(groups[0].tolist(), cosines[0].tolist(), strict=True):
                if cos >= self.nearest.min_cosine:
                    bench, item = sem.index.groups[g].members[0]
                    found.append({"benchmark": bench, "item": item, "kind": "nearest", "score": round(cos, 4),
                                  "confident": False, "evidence": f"nearest item, cosine {cos:.3f} (MiniLM)"})  # fmt: skip
            self._nearest[key] = found
        return self._nearest[key]

    def _messages(self, row: dict[str, Any], cand: dict[str, Any]) -> list[dict[str, str]]:
        it = self._lookup[cand["item"]]
        item = "\n".join([*(p for p in (it["context"], it["question"]) if p), *option_lines(it["options"])])
        text = self._reader.prompt_text(row)
        user = USER.format(item=item[: self.max_chars], row=text[: self.max_chars])
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def build_requests(self, row: dict[str, Any], attempt: int) -> list[Request] | None:
        cands = self._judged(row)
        if not cands:
            return None
        guide = Guide(json_schema=SCHEMA)
        return [
            self.request(row, self._messages(row, c), tag=c["item"], guide=guide, logprobs=self.logprobs or None)
            for c in cands
        ]

    def parse(self, row: dict[str, Any], responses: list[Response], attempt: int) -> dict[str, Any] | Retry:
        verdicts, judged = [], self._judged(row)
        self._nearest.pop(str(row.get("id")), None)
        for cand, response in zip(judged, responses, strict=True):
            raw = response.texts[0] if response.texts else ""
            same, reason = parse_verdict(raw)
            p = verdict_probability(response.logprobs[0] if response.logprobs else None, same)
            verdicts.append({"benchmark": cand["benchmark"], "item": cand["item"], "same": same,
                             "reason": (reason or "")[:300] or None, "judge_model": response.model,
                             "raw": raw[:1000], "probability": p, "kind": cand["kind"],
                             "similarity": float(cand["score"])})  # fmt: skip
        unread = [v["item"] for v in verdicts if v["same"] is None]
        if unread and attempt + 1 < self.max_attempts:
            return Retry("judge_unparsed", f"no verdict for {', '.join(unread)}")
        out = {**row, VERDICTS: verdicts}
        copies = [v for v in verdicts if v["same"]]
        hit = next((v for v in copies if self.require is None or self.require.met(v)), None)
        self._count(row, verdicts, copies, hit, judged[0])
        if hit is None or self.action == "mark":
            return out
        p = "none (sampled)" if hit["probability"] is None else f"{hit['probability']:.3f}"
        why = f" reason={hit['reason']}" if hit["reason"] else ""
        detail = (f"benchmark={hit['benchmark']} item={hit['item']} match=judge judge={hit['judge_model']} "
                  f"candidate={hit['kind']}:{hit['similarity']:.2f} p={p}{why}")  # fmt: skip
        return drop(out, REASON, detail)

    def _count(self, row: dict[str, Any], verdicts: list[dict], copies: list[dict], hit: dict | None,
               best: dict[str, Any]) -> None:  # fmt: skip
        """A judged row's figures: verdicts said, with or without probability; its side (a copy acted on /
        cleared / overruled) per benchmark and candidate kind; the evidence of each drop and overruling."""
        said = Counter({True: "same", False: "different", None: "unreadable"}[v["same"]] for v in verdicts)
        self.figures.add("verdicts", dict(said))
        read = [v for v in verdicts if v["same"] is not None]
        self.figures.add("probabilities", {"logprobs": sum(v["probability"] is not None for v in read),
                                           "none (sampled)": sum(v["probability"] is None for v in read)})  # fmt: skip
        self.figures.extend("copy_probabilities", [v["probability"] for v in copies if v["probability"] is not None],
                            limit=5000)  # fmt: skip
        side = "confirmed" if hit else "overruled" if copies else "cleared"
        shown = hit or (copies[0] if copies else None)
        self.figures.add(side, {shown["benchmark"] if shown else best["benchmark"]: 1})
        self.figures.add(f"kinds_{side}", {shown["kind"] if shown else best["kind"]: 1})
        if shown is not None:
            evidence = {"row": row.get("id"), "source": row.get("source"),
                        **{k: shown[k] for k in ("benchmark", "item", "kind", "similarity", "probability", "reason")}}  # fmt: skip
            self.figures.extend("drops" if hit else "overruled_rows", [evidence], limit=50)

    def report(self, figures: Figures) -> dict[str, Any]:
        """Rows judged, acted on (``rows_confirmed``: dropped, or marked with ``action: mark``) and overruled by
        ``require``; verdicts said and how many carry a probability; per benchmark and kind; the evidence of
        the first 50 drops and overrulings (``drops``, ``overruled_rows``); charts; warnings."""
        keys = ("verdicts", "confirmed", "cleared", "overruled", "kinds_confirmed", "kinds_cleared", "kinds_overruled",
                "probabilities")  # fmt: skip
        t = {k: Counter(figures.get(k, {})) for k in keys}
        judged = sum(t["confirmed"].values()) + sum(t["cleared"].values()) + sum(t["overruled"].values())
        base = super().report(figures)
        warnings = list(base.pop("warnings", []))
        n_verdicts = sum(t["verdicts"].values())
        if t["verdicts"]["unreadable"] > 0.2 * max(n_verdicts, 1):
            warnings.append(f"contamination judge: {t['verdicts']['unreadable']} of {n_verdicts} "
                            "verdicts unreadable (a model this weak needs structured output)")  # fmt: skip
        if self.logprobs and t["probabilities"]["none (sampled)"]:
            warnings.append(f"contamination judge: {t['probabilities']['none (sampled)']} verdicts carry no "
                            "probability (the backend returned no logprobs, or the verdict token was not found)")  # fmt: skip
        return {
            **base,
            "rows_judged": judged,
            "rows_confirmed": sum(t["confirmed"].values()),
            "rows_overruled": sum(t["overruled"].values()),
            "require": None if self.require is None else self.require.model_dump(exclude_none=True),
            "verdicts": dict(sorted(t["verdicts"].items())),
            "verdict_probabilities": dict(sorted(t["probabilities"].items())),
            "confirmed_per_benchmark": dict(sorted(t["confirmed"].items())),
            "drops": figures.get("drops", []),
            "overruled_rows": figures.get("overruled_rows", []),
            "charts": _charts(t, figures.get("copy_probabilities", [])),
            "warnings": warnings,
        }


def _charts(t: dict[str, Counter], probabilities: list[float]) -> dict[str, Any]:
    sides = {"copy": "confirmed", "copy, overruled": "overruled", "not a copy": "cleared"}
    charts = {
        "judge_per_benchmark": {
            "title": "Judged rows per benchmark (copy / overruled copy / not a copy)",
            "kind": "grouped_bar",
            "data": {label: dict(sorted(t[key].items())) for label, key in sides.items()},
            "ylabel": "rows",
        },
        "judge_per_kind": {
            "title": "Judged rows per candidate kind (copy / overruled copy / not a copy)",
            "kind": "grouped_bar",
            "data": {label: dict(sorted(t[f"kinds_{key}"].items())) for label, key in sides.items()},
            "ylabel": "rows",
        },
    }
    if probabilities:
        charts["copy_probability"] = {
            "title": "Probability of the judge's 'copy' verdicts (logprobs)",
            "kind": "hist",
            "data": probabilities,
            "xlabel": "probability of the verdict token",
        }
    return charts
