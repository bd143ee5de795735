"""``factory eval open-ended``: OpenMedQA (MedQA rephrased without options) judged by an LLM.

The model answers each question in free text (its system prompt, greedy, ``max_tokens``). The judge sees
the question, the reference answer and the model's answer, and gives a structured verdict: one of
``correct`` / ``partially_correct`` / ``incorrect`` (a choice constraint where the backend enforces
structured output; otherwise the first verdict word or ``{"verdict": ...}`` in its text is read; an
unreadable verdict is recorded as such and counts as not correct). Accuracy is the share judged
``correct`` (95% Wilson interval); ``score`` counts ``partially_correct`` as 0.5. The judge is named in
the results, and ``self_judged`` says when the evaluated model judged itself.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import Any

from factory.llm.types import Guide, Request, SamplingConfig
from train.eval.benchmarks import load_docs
from train.eval.generative import EvalContext, system_turn
from train.eval.results import header, write_results
from train.eval.stats import wilson

VERDICTS = ("correct", "partially_correct", "incorrect")
JUDGE_SYSTEM = (
    "You grade answers to medical questions against a reference answer written by experts. An answer is "
    "correct when it reaches the same conclusion as the reference (other wording, extra correct detail "
    "and synonyms are fine); partially_correct when it names the reference's conclusion among others or "
    "gets part of it right; incorrect when it reaches another conclusion, or none. Reply with one word: "
    "correct, partially_correct or incorrect."
)
_WORD = re.compile(r"\b(partially[ _]correct|partly[ _]correct|incorrect|not correct|wrong|correct)\b", re.I)
_MAP = {"partly correct": "partially_correct", "not correct": "incorrect", "wrong": "incorrect"}


def parse_verdict(text: str | None) -> str | None:
    """``correct`` / ``partially_correct`` / ``incorrect`` from a judge's text (JSON ``verdict`` first,
    then the first verdict word); None when there is none."""
    if not text:
        return None
    for match in re.finditer(r"\{[^{}]*\}", text):
        try:
            value = json.loads(match.group(0)).get("verdict")
        except (json.JSONDecodeError, AttributeError):
            continue
        if isinstance(value, str) and value.strip().lower().replace(" ", "_") in VERDICTS:
            return value.strip().lower().replace(" ", "_")
    match = _WORD.search(text)
    if not match:
        return None
    word = match.group(1).lower().replace("_", " ")
    return _MAP.get(word, word.replace(" ", "_"))


def judge_messages(question: str, reference: str, answer: str) -> list[dict[str, str]]:
    user = (
        f"Question:\n{question}\n\nReference answer:\n{reference}\n\nAnswer to grade:\n{answer}\n\nVerdict:"
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def evaluate_openended(ctx: EvalContext, limit: int | None) -> dict[str, Any]:
    """Answer and judge the open-ended benchmark; write ``<out>/openended/``; return the results."""
    spec = ctx.spec.openended
    docs = load_docs(spec.benchmark, ctx.data_dir, limit)
    started = time.perf_counter()
    asks = [
        Request(
            f"{spec.benchmark.name}:{d['id']}",
            [*system_turn(ctx.system_prompt), {"role": "user", "content": d["question"]}],
            SamplingConfig(temperature=0.0, max_tokens=spec.max_tokens, seed=0),
            tag="answer",
        )
        for d in docs
    ]
    answers = ctx.generator.ask(asks)
    texts = [a.first_text for a in answers]
    judged = [i for i, t in enumerate(texts) if t.strip()]
    verdict_req = [
        Request(
            f"{spec.benchmark.name}:{docs[i]['id']}",
            judge_messages(docs[i]["question"], docs[i]["reference"], texts[i]),
            SamplingConfig(temperature=0.0, max_tokens=8, seed=0),
            tag="judge",
            guide=Guide(choice=list(VERDICTS)),
        )
        for i in judged
    ]
    raw = dict(zip(judged, (r.first_text for r in ctx.judge.ask(verdict_req)), strict=True))
    wall = time.perf_counter() - started
    rows = []
    for i, d in enumerate(docs):
        verdict = parse_verdict(raw.get(i)) if i in raw else "no_answer"
        rows.append(
            {
                "id": d["id"],
                "question": d["question"],
                "reference": d["reference"],
                "answer": texts[i],
                "finish_reason": (answers[i].finish_reasons or [None])[0],
                "verdict": verdict,
                "judge_raw": raw.get(i),
            }
        )
    counts = Counter(r["verdict"] or "unreadable" for r in rows)
    n, k = len(rows), counts["correct"]
    low, high = wilson(k, n)
    entry = {
        "n": n,
        "kind": "open",
        "accuracy": k / n if n else 0.0,
        "ci95": [round(low, 4), round(high, 4)],
        "score": (k + 0.5 * counts["partially_correct"]) / n if n else 0.0,
        "verdicts": {v: counts[v] for v in (*VERDICTS, "no_answer", "unreadable")},
        "answers_cut": sum(r["finish_reason"] == "length" for r in rows),
        "charts": {
            "verdicts": {
                "title": f"{spec.benchmark.name}: judge verdicts", "kind": "bar",
                "data": {v: counts[v] for v in (*VERDICTS, "no_answer", "unreadable")}, "ylabel": "questions",
            }
        },
    }  # fmt: skip
    results = {
        **header("openended", ctx.model_dir, ctx.system_prompt, ctx.system_prompt_source),
        "settings": spec.model_dump(mode="json"),
        "generator": ctx.generator.info,
        "judge": ctx.judge_info(),
        "judge_prompt": JUDGE_SYSTEM,
        "warnings": ["the evaluated model judged its own answers"] if ctx.self_judged else [],
        "benchmarks": {spec.benchmark.name: entry},
        "wall_s": round(wall, 3),
        "questions_per_s": round(n / wall, 3) if wall > 0 else None,
    }
    write_results(ctx.out_dir, "openended", results, {spec.benchmark.name: rows})
    return results
