"""Zero-shot, zero-shot CoT and Medprompt accuracy on the MCQA benchmarks, through a generation backend.

Medprompt (Nori et al. 2023; the Aloe papers' "RAG" numbers, HPAI prompt_engine): for each question, the
``k`` examples nearest to it in a CoT database (a dataset version's own verified CoT rows, checked
against the benchmark items) are shown as few-shot turns, least similar first, each as the factory
trains it (user = question + options, assistant = reasoning + "The answer is X. <option>"); the question
is asked ``ensemble`` times with its options in a different order (run 0: the original order, then
seeded shuffles), each answer is mapped back to the original option, and the majority wins (a tie goes
to the tied option answered first, in run order).

Answers: ``direct`` asks for "The answer is X" (a regex guide, enforced where the backend supports
structured output); ``reasoning`` lets the model reason first (``reasoning_tokens``) and reads the
conclusion with ``synth.cot.parse_answer``; when none can be read (or the text was cut), one follow-up
turn asks for the answer with the guide. Every raw text is logged, so the vote and the accuracy can be
recomputed from ``<model>/eval/medprompt/<benchmark>.jsonl``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from factory.llm.types import Guide, Request, SamplingConfig
from factory.mcqa.options import option_label, option_line
from synth.cot import parse_answer
from train.eval.benchmarks import mcqa_prompt
from train.eval.cotdb import Example
from train.eval.generative import system_turn
from train.eval.specs import MedpromptSpec
from train.eval.stats import accuracy_entry

COT_INSTRUCTION = 'Think step by step about each option, then conclude with "The answer is X".'
FOLLOW_UP = 'Which option is correct? Reply with "The answer is X" only.'
DIRECT_TOKENS = 16


def answer_guide(n_options: int) -> Guide:
    """The structured final answer: "The answer is " and one of the question's letters."""
    return Guide(regex=f"The answer is [A-{option_label(n_options - 1)}]")


def shuffles(doc_id: str, n_options: int, runs: int, seed: int) -> list[list[int]]:
    """Option orders of the ensemble runs (``order[j]``: the original index shown at position ``j``): run 0
    keeps the original order, later runs are shuffles seeded by the question id (reproducible)."""
    orders = [list(range(n_options))]
    rng = random.Random(f"{seed}\x00{doc_id}")
    for _ in range(1, runs):
        order = list(range(n_options))
        rng.shuffle(order)
        orders.append(order)
    return orders


def vote(preds: list[int | None]) -> tuple[int | None, dict[int, int]]:
    """Majority of the readable answers; a tie goes to the tied option answered first. ``(None, {})`` when
    no run gave a readable answer."""
    counts = Counter(p for p in preds if p is not None)
    if not counts:
        return None, {}
    best = max(counts.values())
    winner = next(p for p in preds if p is not None and counts[p] == best)
    return winner, dict(counts)


def shot_turns(shots: list[Example], max_chars: int | None) -> list[dict[str, str]]:
    """Few-shot turns, in the given order, in the layout ``to_chat`` trains on."""
    turns = []
    for ex in shots:
        reasoning = ex.explanation
        if max_chars is not None and len(reasoning) > max_chars:
            reasoning = reasoning[:max_chars].rsplit(" ", 1)[0] + " ..."
        answer = option_line(ex.answer_idx, ex.options[ex.answer_idx])
        turns.append({"role": "user", "content": mcqa_prompt(ex.as_doc())})
        turns.append({"role": "assistant", "content": f"{reasoning}\n\nThe answer is {answer}"})
    return turns


@dataclass
class Slot:
    """One question asked once: the request, and what its answer means."""

    bench: str
    item: int
    mode: str
    run: int
    order: list[int]
    request: Request
    texts: list[str] = field(default_factory=list)
    pred: int | None = None
    how: str = "none"
    answer_from: str = "first"
    cut: bool = False


def _read(slot: Slot, text: str, options: list[str]) -> None:
    shown = [options[i] for i in slot.order]
    parsed = parse_answer(text, len(shown), shown)
    slot.texts.append(text)
    slot.how = parsed.how
    slot.pred = slot.order[parsed.index] if parsed.index is not None else None


class MedpromptRun:
    """Builds the requests of every mode for a set of benchmark questions and reads their answers."""

    def __init__(
        self, spec: MedpromptSpec, system_prompt: str | None, shots: dict[tuple[str, int], list[Example]]
    ):
        self.spec, self.system = spec, system_prompt
        self.shots = shots  # (bench, item) -> examples, least similar first

    def _sampling(self, run: int, max_tokens: int) -> SamplingConfig:
        return SamplingConfig(
            temperature=self.spec.temperature, top_p=1.0, max_tokens=max_tokens, seed=self.spec.seed + run
        )

    def slots(self, bench: str, item: int, doc: dict[str, Any]) -> list[Slot]:
        s, n = self.spec, len(doc["options"])
        out = []
        for mode in s.modes:
            orders = (
                shuffles(str(doc["id"]), n, s.ensemble, s.seed) if mode == "medprompt" else [list(range(n))]
            )
            for run, order in enumerate(orders):
                shown = mcqa_prompt({**doc, "options": [doc["options"][i] for i in order]})
                direct = mode == "zero_shot" or (mode == "medprompt" and s.answer == "direct")
                if mode == "cot":
                    shown = f"{shown}\n\n{COT_INSTRUCTION}"
                fewshot = (
                    shot_turns(self.shots.get((bench, item), []), s.shot_max_chars)
                    if mode == "medprompt"
                    else []
                )
                messages = [*system_turn(self.system), *fewshot, {"role": "user", "content": shown}]
                request = Request(
                    row_id=f"{bench}:{doc['id']}",
                    messages=messages,
                    sampling=self._sampling(run, DIRECT_TOKENS if direct else s.reasoning_tokens),
                    tag=f"{mode}:{run}",
                    guide=answer_guide(n) if direct else None,
                )
                out.append(Slot(bench, item, mode, run, order, request))
        return out

    def follow_up(self, slot: Slot, n_options: int) -> Request:
        """Ask for the answer after a reasoning text that gave none readable."""
        messages = [
            *slot.request.messages,
            {"role": "assistant", "content": slot.texts[-1]},
            {"role": "user", "content": FOLLOW_UP},
        ]
        return Request(
            slot.request.row_id,
            messages,
            self._sampling(slot.run, DIRECT_TOKENS),
            f"{slot.mode}:{slot.run}:follow_up",
            answer_guide(n_options),
        )


def run_questions(
    generator, spec: MedpromptSpec, system_prompt: str | None, docs: dict[str, list[dict[str, Any]]],
    shots: dict[tuple[str, int], list[Example]],
) -> list[Slot]:  # fmt: skip
    """Ask every question in every mode (one backend round, plus one for follow-ups); the answered slots."""
    runner = MedpromptRun(spec, system_prompt, shots)
    slots = [
        sl
        for bench, items in docs.items()
        for i, doc in enumerate(items)
        for sl in runner.slots(bench, i, doc)
    ]
    for slot, response in zip(slots, generator.ask([sl.request for sl in slots]), strict=True):
        slot.answer_from = "first" if response.error is None else f"error: {response.error[:200]}"
        _read(slot, response.first_text, docs[slot.bench][slot.item]["options"])
        slot.cut = bool(response.finish_reasons) and response.finish_reasons[0] == "length"
    again = [sl for sl in slots if sl.request.guide is None and (sl.pred is None or sl.cut) and sl.texts[-1]]
    if again:
        asks = [runner.follow_up(sl, len(docs[sl.bench][sl.item]["options"])) for sl in again]
        for slot, response in zip(again, generator.ask(asks), strict=True):
            before = slot.pred, slot.how
            _read(slot, response.first_text, docs[slot.bench][slot.item]["options"])
            if slot.pred is None and before[0] is not None:  # the cut text's own conclusion stands
                slot.pred, slot.how = before
            else:
                slot.answer_from = "follow_up"
    return slots


def records(bench: str, items: list[dict[str, Any]], slots: list[Slot], modes: list[str],
            shots: dict[tuple[str, int], list[tuple[Example, float]]]) -> list[dict[str, Any]]:  # fmt: skip
    """One JSON record per question: gold, every run of every mode (order shown, texts, reading), the
    vote, the prediction and whether it is right, per mode."""
    by_item: dict[int, list[Slot]] = {}
    for sl in slots:
        if sl.bench == bench:
            by_item.setdefault(sl.item, []).append(sl)
    out = []
    for i, doc in enumerate(items):
        rec: dict[str, Any] = {
            "id": doc["id"],
            "subject": doc["subject"],
            "gold": doc["answer_idx"],
            "modes": {},
        }
        for mode in modes:
            runs = sorted((sl for sl in by_item.get(i, []) if sl.mode == mode), key=lambda sl: sl.run)
            pred, votes = vote([sl.pred for sl in runs])
            entry: dict[str, Any] = {
                "pred": pred,
                "correct": pred == doc["answer_idx"],
                "runs": [
                    {
                        "order": sl.order,
                        "pred": sl.pred,
                        "how": sl.how,
                        "answer_from": sl.answer_from,
                        "texts": sl.texts,
                    }
                    for sl in runs
                ],
            }
            if mode == "medprompt":
                entry["votes"] = {str(k): v for k, v in sorted(votes.items())}
                entry["shots"] = [
                    {"id": ex.id, "score": round(score, 4)} for ex, score in shots.get((bench, i), [])
                ]
            rec["modes"][mode] = entry
        out.append(rec)
    return out


def summarise(recs: list[dict[str, Any]], modes: list[str]) -> dict[str, Any]:
    """Per mode: accuracy, 95% interval, letter distributions, commonest-letter baseline, unreadable
    answers; and the report charts (accuracy by mode; predicted letters by mode vs gold)."""
    golds = [r["gold"] for r in recs]
    entry: dict[str, Any] = {"n": len(recs), "modes": {}}
    for mode in modes:
        preds = [r["modes"][mode]["pred"] for r in recs]
        m = accuracy_entry([r["modes"][mode]["correct"] for r in recs], preds, golds)
        runs = [run for r in recs for run in r["modes"][mode]["runs"]]
        m["unreadable_runs"] = sum(run["pred"] is None for run in runs)
        m["follow_ups"] = sum(run["answer_from"] == "follow_up" for run in runs)
        if mode == "medprompt":
            m["mean_shots"] = round(sum(len(r["modes"][mode]["shots"]) for r in recs) / max(len(recs), 1), 3)
        entry["modes"][mode] = m
    first = entry["modes"][modes[0]]
    entry["charts"] = {
        "accuracy_by_mode": {
            "title": "accuracy by method (95% interval in results.json)", "kind": "bar",
            "data": {mode: v["accuracy"] for mode, v in entry["modes"].items()}, "ylabel": "accuracy",
        },
        "answer_letters": {
            "title": "predicted answer letters by method, and the gold letters", "kind": "grouped_bar",
            "data": {**{mode: v["pred_letters"] for mode, v in entry["modes"].items()}, "gold": first["gold_letters"]},
            "xlabel": "letter", "ylabel": "questions",
        },
    }  # fmt: skip
    return entry
