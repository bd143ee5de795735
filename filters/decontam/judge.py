"""``contamination_judge``: an LLM decides, for the rows ``decontaminate`` left with uncertain candidates,
whether the row IS the benchmark item (copied, reworded, translated or embedded in a longer prompt), the
way Aloe Beta decontaminates (an LLM judge over training instructions; LMSYS "rephrased samples" study).

Only rows with candidates are judged (the others pass untouched: ``build_requests`` returns None), one
request per candidate (up to ``max_candidates``, best first), through the generation backends and the
request cache. ``judge_all: true`` judges every row, as Aloe Beta did: a row without candidates is judged
against its nearest benchmark items by the MiniLM encoder (``nearest``; candidate kind ``nearest``).
The answer is asked as JSON ``{"reason": ..., "same": true|false}`` (a ``Guide``: enforced
where the backend supports structured output) and read from free text too (``parse_verdict``).
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, PrivateAttr, TypeAdapter

from factory.figures import Figures
from factory.llm.stage import GenerationStage
from factory.llm.types import Guide, Request, Response, Retry
from factory.mcqa.options import option_lines
from factory.sources import SourceConfig, fingerprint_source, load_source
from factory.stage import drop, is_dropped
from filters.decontam.decontaminate import COLUMN, REASON, Decontaminate, read_benchmark_list
from filters.decontam.semantic import SemanticConfig

VERDICTS = "contam_verdicts"
VERDICT = pa.struct([("benchmark", pa.string()), ("item", pa.string()), ("same", pa.bool_()),
                     ("reason", pa.string()), ("judge_model", pa.string()), ("raw", pa.string())])  # fmt: skip
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
_TRUE = re.compile(r'"?(?:same|verdict|answer|contaminated)"?\s*[:=]\s*"?(true|yes|same)\b', re.I)
_FALSE = re.compile(r'"?(?:same|verdict|answer|contaminated)"?\s*[:=]\s*"?(false|no|different|not)\b', re.I)
_LEAD = re.compile(r"^\W*(yes|no|true|false|same|different)\b", re.I)
_SENTENCE = re.compile(
    r"\b(?:(not|n't)\s+(?:\w+\s+){0,3})?(?:the\s+same|a\s+copy|copied|rephras\w*|reword\w*|paraphras\w*)\b",
    re.I,
)


def parse_verdict(text: str | None) -> tuple[bool | None, str | None]:
    """``(same, reason)`` from a judge's answer: JSON (``{"same": true}``, also ``"verdict": "yes"``), a
    labelled value (``Same: false``), a leading yes/no/true/false, or a plain sentence ("they are not the
    same question"). ``(None, None)`` when none is found."""
    if not text or not text.strip():
        return None, None
    clean = text.replace("**", "").replace("`", "").strip()
    for match in reversed(list(re.finditer(r"\{[^{}]*\}", clean))):
        try:
            obj = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        for key in ("same", "verdict", "answer", "contaminated", "is_same"):
            value = obj.get(key) if isinstance(obj, dict) else None
            reason = obj.get("reason") if isinstance(obj.get("reason"), str) else None
            if isinstance(value, bool):
                return value, reason
            if isinstance(value, str) and value.strip().lower() in (
                "true",
                "yes",
                "same",
                "false",
                "no",
                "different",
            ):
                return value.strip().lower() in ("true", "yes", "same"), reason
    for pattern, value in ((_TRUE, True), (_FALSE, False)):
        if pattern.search(clean):
            return value, None
    lead = _LEAD.match(clean)
    if lead:
        return lead.group(1).lower() in ("yes", "true", "same"), None
    said = _SENTENCE.search(clean)
    if said:
        return said.group(1) is None, None
    return None, None


@functools.lru_cache(maxsize=4)
def _items(entries_json: str, data_dir: str) -> dict[str, dict[str, Any]]:
    out = {}
    for cfg in _ENTRIES.validate_json(entries_json):
        for row in load_source(cfg, Path(data_dir)):
            if not is_dropped(row) and row.get("question"):
                out[row["id"]] = {"question": row["question"], "context": row.get("context"),
                                  "options": row.get("options") or []}  # fmt: skip
    return out


class ContaminationJudge(GenerationStage):
    """Judges the uncertain benchmark candidates ``decontaminate`` wrote (``contam_candidates``).

    In: rows with ``contam_candidates``; benchmarks named as in ``decontaminate`` (to show the judge each
    item). Out: rows whose judge found no copy, with ``contam_verdicts`` (benchmark, item, same, reason,
    judge_model, raw; null for rows not judged); rows it found to copy an item are dropped (reason
    ``benchmark_contamination``, detail ``benchmark=<b> item=<id> match=judge ...``), or only marked with
    ``action: mark``. An answer that cannot be read is asked again while attempts remain, then recorded
    with ``same`` null (the row is kept)."""

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
        return [self.request(row, self._messages(row, c), tag=c["item"], guide=guide) for c in cands]

    def parse(self, row: dict[str, Any], responses: list[Response], attempt: int) -> dict[str, Any] | Retry:
        verdicts, judged = [], self._judged(row)
        self._nearest.pop(str(row.get("id")), None)
        for cand, response in zip(judged, responses, strict=True):
            raw = response.texts[0] if response.texts else ""
            same, reason = parse_verdict(raw)
            verdicts.append({"benchmark": cand["benchmark"], "item": cand["item"], "same": same,
                             "reason": (reason or "")[:300] or None, "judge_model": response.model,
                             "raw": raw[:1000]})  # fmt: skip
        unread = [v["item"] for v in verdicts if v["same"] is None]
        if unread and attempt + 1 < self.max_attempts:
            return Retry("judge_unparsed", f"no verdict for {', '.join(unread)}")
        out = {**row, VERDICTS: verdicts}
        hit = next((v for v in verdicts if v["same"]), None)
        said = Counter({True: "same", False: "different", None: "unreadable"}[v["same"]] for v in verdicts)
        self.figures.add("verdicts", dict(said))
        best = judged[0]
        side = "confirmed" if hit else "cleared"
        self.figures.add(side, {hit["benchmark"] if hit else best["benchmark"]: 1})
        self.figures.add(f"kinds_{side}", {best["kind"]: 1})
        if hit is None or self.action == "mark":
            return out
        cand = next(c for c in judged if c["item"] == hit["item"])
        why = f" reason={hit['reason']}" if hit["reason"] else ""
        detail = (f"benchmark={hit['benchmark']} item={hit['item']} match=judge judge={hit['judge_model']} "
                  f"candidate={cand['kind']}:{cand['score']:.2f}{why}")  # fmt: skip
        return drop(out, REASON, detail)

    def report(self, figures: Figures) -> dict[str, Any]:
        keys = ("verdicts", "confirmed", "cleared", "kinds_confirmed", "kinds_cleared")
        t = {k: Counter(figures.get(k, {})) for k in keys}
        judged = sum(t["confirmed"].values()) + sum(t["cleared"].values())
        warnings = []
        if t["verdicts"]["unreadable"] > 0.2 * max(sum(t["verdicts"].values()), 1):
            warnings.append(f"contamination judge: {t['verdicts']['unreadable']} of {sum(t['verdicts'].values())} "
                            "verdicts unreadable (a model this weak needs structured output)")  # fmt: skip
        return {
            **super().report(figures),
            "rows_judged": judged,
            "rows_confirmed": sum(t["confirmed"].values()),
            "verdicts": dict(sorted(t["verdicts"].items())),
            "confirmed_per_benchmark": dict(sorted(t["confirmed"].items())),
            "charts": {
                "judge_per_benchmark": {
                    "title": "Judged rows per benchmark (copy / not a copy)",
                    "kind": "grouped_bar",
                    "data": {
                        "copy": dict(sorted(t["confirmed"].items())),
                        "not a copy": dict(sorted(t["cleared"].items())),
                    },
                    "ylabel": "rows",
                },
                "judge_per_kind": {
                    "title": "Judged rows per candidate kind (copy / not a copy)",
                    "kind": "grouped_bar",
                    "data": {
                        "copy": dict(sorted(t["kinds_confirmed"].items())),
                        "not a copy": dict(sorted(t["kinds_cleared"].items())),
                    },
                    "ylabel": "rows",
                },
            },  # fmt: skip
            "warnings": warnings,
        }
