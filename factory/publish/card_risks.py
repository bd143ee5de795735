"""The healthcare section of a dataset card (Aloe Beta ships a healthcare-specific risk assessment with its
models): intended and out-of-scope uses, known risks, and the mitigations this version's recipe really
applied, read from its manifest (which stages ran, with what, and how many rows each removed), plus the
sources whose licence forbids commercial use.

In: a version manifest. Out: Markdown for ``factory.publish.card.dataset_card``.
"""

from __future__ import annotations

import re
from typing import Any

# A licence string that forbids commercial use: CC BY-NC(-SA/-ND), "non-commercial", "research use only".
NON_COMMERCIAL = re.compile(r"(?:\bnc\b|-nc\b|\bnc-|non[- ]?commercial|research[- ]use[- ]only)", re.I)

INTENDED = (
    "Training and evaluating language models for medical and healthcare research (supervised fine-tuning "
    "and preference optimisation), and studying how data recipes change such models."
)
OUT_OF_SCOPE = (
    "Diagnosing, treating or advising real patients, or any clinical decision, without qualified "
    "healthcare professionals in the loop; serving the rows as medical advice or as a reference of medical "
    "fact; deployment in safety-critical settings without a separate validation; any use the source "
    "licences listed above forbid."
)
RISKS = [
    "**Wrong or outdated medical content.** Rows come from public datasets of different dates and quality "
    "(exam questions, consumer health pages, forum-style dialogues); guidelines, drug approvals and dosages "
    "change, and some answers were wrong or incomplete when written.",
    "**Bias.** Most sources are in English and written for US, Indian or Spanish medical exams and services; "
    "populations, conditions and health systems outside them are under-represented, and the sources carry "
    "the demographic and clinical biases of their authors.",
    "**Harmful content.** Safety and red-team rows contain harmful or jailbreak requests on purpose (as the "
    "rejected or the refused side); they are there to teach refusals and must not be used the other way.",
]


def _removed(stage: dict[str, Any]) -> int:
    return sum(int(n) for n in (stage.get("dropped") or {}).values())


def _models(stage: dict[str, Any]) -> list[str]:
    params = stage.get("params") or {}
    backend = params.get("backend") or {}
    return [backend["model"]] if backend.get("model") else []


def mitigations(manifest: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``(applied, not_applied)``: one line per mitigation the version's stages applied, with counts, and
    the usual mitigations no stage of this version applied."""
    stages = manifest.get("stages") or []
    by_type: dict[str, list[dict[str, Any]]] = {}
    for st in stages:
        by_type.setdefault(st.get("type", ""), []).append(st)

    def total(*types: str) -> int:
        return sum(_removed(st) for t in types for st in by_type.get(t, []))

    applied, missing = [], []
    if "decontaminate" in by_type:
        hits = {}
        for st in by_type["decontaminate"]:
            hits.update((st.get("report") or {}).get("hits_per_benchmark") or {})
        names = ", ".join(sorted(hits)) or "the benchmarks the recipe lists"
        applied.append(
            f"Benchmark decontamination: {total('decontaminate'):,} rows that copy an evaluation item removed "
            f"(benchmarks hit: {names})."
        )
    else:
        missing.append("benchmark decontamination (overlap with evaluation sets was not checked)")
    if "exact_dedup" in by_type or "minhash_dedup" in by_type:
        applied.append(
            f"Exact and near-duplicate removal: {total('exact_dedup', 'minhash_dedup'):,} rows removed."
        )
    else:
        missing.append("deduplication")
    if "normalize" in by_type:
        applied.append("Cleaning: URLs, e-mail addresses, odd characters and assistant boilerplate removed.")
    if "irrelevant_filter" in by_type or "answer_format" in by_type:
        applied.append(
            f"Irrelevant questions/answers and answers contradicting their gold option removed: "
            f"{total('irrelevant_filter', 'answer_format'):,} rows."
        )
    if "evol_cut" in by_type or "quality_score" in by_type or "heuristic_filter" in by_type:
        applied.append(
            f"Quality filtering (model scores and rules): "
            f"{total('evol_cut', 'deita_score', 'threshold', 'heuristic_filter'):,} rows removed."
        )
    if "cot" in by_type:
        teachers = sorted({m for st in by_type["cot"] for m in _models(st)})
        applied.append(
            f"Model-written reasoning ({', '.join(teachers)}) kept only when its answer matches the gold "
            f"answer: {total('cot'):,} rows dropped as unverified. The reasoning itself is not checked by a "
            "clinician."
        )
    red_team = [t for t in ("jailbreak_wrap", "select_pair") if t in by_type]
    if red_team or "judge" in by_type:
        guards = sorted({m for st in by_type.get("judge", []) for m in _models(st)})
        applied.append(
            "Safety preference pairs: harmful requests"
            + (" wrapped in jailbreak templates" if "jailbreak_wrap" in by_type else "")
            + ", a safe chosen answer against an unsafe rejected one"
            + (f", each side checked by a guard model ({', '.join(guards)})" if guards else "")
            + "."
        )
    else:
        missing.append("red-team / safety preference pairs (this version has none)")
    return applied, missing


def non_commercial(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """``(source, licence)`` of every source whose licence forbids commercial use."""
    return [
        (s.get("name", "?"), s.get("licence") or "")
        for s in manifest.get("sources") or []
        if s.get("licence") and NON_COMMERCIAL.search(s["licence"])
    ]


def risk_section(manifest: dict[str, Any]) -> str:
    """The card's "Healthcare use and risks" section for this version."""
    applied, missing = mitigations(manifest)
    generated = sorted(
        {
            m
            for st in manifest.get("stages") or []
            for m in _models(st)
            if st.get("type") in ("cot", "generate")
        }
    )
    risks = list(RISKS)
    if generated:
        risks.insert(1, f"**Model-written rows.** Text generated by {', '.join(generated)} inherits that model's "
                        "errors and style, and was not reviewed by clinicians.")  # fmt: skip
    parts = [
        "## Healthcare use and risks",
        f"**Intended use.** {INTENDED}",
        f"**Out of scope.** {OUT_OF_SCOPE}",
        "**Known risks.**\n\n" + "\n".join(f"- {r}" for r in risks),
        "**Mitigations this version's recipe applied** (from `manifest.json`):\n\n"
        + ("\n".join(f"- {m}" for m in applied) if applied else "- none"),
    ]
    if missing:
        parts.append("**Not applied in this version:** " + "; ".join(missing) + ".")
    nc = non_commercial(manifest)
    if nc:
        listed = ", ".join(f"`{name}` ({lic})" for name, lic in nc)
        parts.append(
            f"**Non-commercial sources.** {listed}: their licence forbids commercial use, so this dataset as a "
            "whole may not be used commercially. Rows carry their `source`; filter those out for a "
            "commercial use (and check every other source's licence in the table above)."
        )
    unstated = [s.get("name", "?") for s in manifest.get("sources") or [] if not s.get("licence")]
    if unstated:
        parts.append(
            f"**Licence not stated:** {', '.join(f'`{n}`' for n in unstated)}; check before redistribution."
        )
    return "\n\n".join(parts)
