"""``factory eval medprompt``: zero-shot, CoT and Medprompt accuracy side by side, per MCQA benchmark.

Steps: load the benchmark questions; load the CoT database (``train.cotdb``) and leave out the examples
that match any item of the evaluated benchmarks (whole files, not only the questions asked); index the
rest (``train.retrieval``); pick the ``k`` nearest examples per question, dropping the least similar
while the prompt is over budget (``max_prompt_tokens``, default: the generator's context minus the
answer's tokens, counted with the model's tokenizer); ask every mode (``train.eval.medprompt``); write
``<out>/medprompt/results.json`` and ``<out>/medprompt/<benchmark>.jsonl``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from train.eval.benchmarks import BenchmarkSpec, load_docs, mcqa_prompt
from train.eval.cotdb import Example, decontaminate, load_cot_db
from train.eval.generative import EvalContext, system_turn
from train.eval.medprompt import (
    COT_INSTRUCTION,
    DIRECT_TOKENS,
    FOLLOW_UP,
    records,
    run_questions,
    shot_turns,
    summarise,
)
from train.eval.results import header, write_results
from train.eval.retrieval import make_retriever


def _count(tokenizer, messages: list[dict[str, str]]) -> int:
    if tokenizer is None:  # no tokenizer in the folder: about 4 characters a token
        return sum(len(m["content"]) for m in messages) // 4 + 8 * len(messages)
    return len(tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True))


def pick_shots(
    ctx: EvalContext, docs: dict[str, list[dict[str, Any]]], examples: list[Example], budget: int
) -> tuple[dict[tuple[str, int], list[tuple[Example, float]]], str]:
    """(bench, item) -> [(example, similarity)] least similar first, within the token budget; the
    retriever's name."""
    s = ctx.spec.medprompt
    retriever = make_retriever(s.retriever, s.embed_model)
    retriever.fit([mcqa_prompt(ex.as_doc()) for ex in examples])
    keys = [(bench, i) for bench, items in docs.items() for i in range(len(items))]
    found = retriever.search([mcqa_prompt(docs[b][i]) for b, i in keys], s.k)
    tokenizer = ctx.tokenizer()
    out = {}
    for (bench, i), hits in zip(keys, found, strict=True):
        chosen = [(examples[j], score) for j, score in hits]  # best first
        question = {"role": "user", "content": mcqa_prompt(docs[bench][i])}
        while chosen:
            shots = [ex for ex, _ in reversed(chosen)]
            messages = [*system_turn(ctx.system_prompt), *shot_turns(shots, s.shot_max_chars), question]
            if _count(tokenizer, messages) <= budget:
                break
            chosen.pop()  # the least similar goes first
        out[(bench, i)] = list(reversed(chosen))
    return out, retriever.name


def evaluate_medprompt(
    ctx: EvalContext, benchmarks: list[BenchmarkSpec], limit: int | None
) -> dict[str, Any]:
    """Run the modes of ``ctx.spec.medprompt`` on the MCQA ``benchmarks``; write and return the results."""
    from factory.storage.store import Store

    s = ctx.spec.medprompt
    mcqa = [b for b in benchmarks if b.kind == "mcqa"]
    if not mcqa:
        raise FactoryError("medprompt: no MCQA benchmark selected")
    docs = {b.name: load_docs(b, ctx.data_dir, limit) for b in mcqa}
    results: dict[str, Any] = {
        **header("medprompt", ctx.model_dir, ctx.system_prompt, ctx.system_prompt_source),
        "settings": s.model_dump(mode="json"),
        "generator": ctx.generator.info,
        "warnings": [],
        "benchmarks": {},
    }
    shots: dict[tuple[str, int], list[tuple[Example, float]]] = {}
    if "medprompt" in s.modes:
        if not s.cot_db:
            raise FactoryError("medprompt needs a CoT database: --cot-db VERSION (a version with `cot` rows)")
        path = Path(s.cot_db)
        if not (path / "manifest.json").exists():
            root = Path(ctx.store or "store")
            if not (root / "versions").is_dir():
                raise FactoryError(f"CoT database '{s.cot_db}': not a version folder, and no store at {root} (--store)")
            path = Store(root).resolve(s.cot_db)
        examples, info = load_cot_db(path, s.cot_db_output)
        excluded: list[dict[str, str]] = []
        if s.decontaminate:
            every_item = {b.name: load_docs(b, ctx.data_dir) for b in mcqa}
            examples, excluded = decontaminate(examples, every_item)
        if not examples:
            raise FactoryError(f"CoT database {info['version']}: no usable example left ({info})")
        answer_tokens = DIRECT_TOKENS if s.answer == "direct" else s.reasoning_tokens
        budget = s.max_prompt_tokens or ctx.spec.max_model_len - answer_tokens
        shots, results["retriever"] = pick_shots(ctx, docs, examples, budget)
        results["cot_db"] = {**info, "examples_used": len(examples), "excluded_contaminated": len(excluded),
                             "excluded": excluded[:200], "prompt_token_budget": budget}  # fmt: skip
        if excluded:
            results["warnings"].append(
                f"{len(excluded)} CoT examples matched benchmark items and were left out"
            )
    results["prompts"] = {"cot_instruction": COT_INSTRUCTION, "follow_up": FOLLOW_UP}
    started = time.perf_counter()
    slots = run_questions(
        ctx.generator, s, ctx.system_prompt, docs, {k: [ex for ex, _ in v] for k, v in shots.items()}
    )
    wall = time.perf_counter() - started
    rows = {}
    for b in mcqa:
        recs = records(b.name, docs[b.name], slots, s.modes, shots)
        rows[b.name] = recs
        results["benchmarks"][b.name] = summarise(recs, s.modes)
    results["wall_s"] = round(wall, 3)
    # every benchmark is asked in one round: throughput is over all of them (answers from the cache count)
    results["questions_per_s"] = round(sum(len(v) for v in docs.values()) / wall, 3) if wall > 0 else None
    results["generation"] = dict(ctx.generator.stats)
    write_results(ctx.out_dir, "medprompt", results, rows)
    return results
