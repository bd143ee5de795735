"""The "Decontamination" section of report.html: who dropped which rows as benchmark copies, on what evidence.

In: the manifest's stage reports of ``decontaminate`` (the cheap tiers: rows checked and dropped, match
kinds, the first examples of each kind) and ``contamination_judge`` (rows judged, the judge's drops and the
"copy" verdicts its ``require`` overruled, each with the benchmark item, candidate kind, tier similarity,
verdict probability and the judge's reason). Out: one ``Section`` (none when the recipe has neither stage),
so a reader tells a tier's evidence from a model's verdict, and a sure verdict from an unsure one.
"""

from __future__ import annotations

from typing import Any

from factory.report.sections import Section, Table

TIERS = "decontaminate"
JUDGE = "contamination_judge"
EVIDENCE = ["row", "source", "benchmark item", "candidate kind", "tier similarity", "verdict probability",
            "judge's reason"]  # fmt: skip


def _probability(p: float | None) -> str:
    return "- (sampled: no logprobs)" if p is None else f"{p:.3f}"


def _evidence_rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [e.get("row"), e.get("source"), e.get("item"), e.get("kind"),
         "-" if e.get("similarity") is None else f"{e['similarity']:.2f}", _probability(e.get("probability")),
         e.get("reason") or "-"]
        for e in items
    ]  # fmt: skip


def decontamination_sections(manifest: dict[str, Any]) -> list[Section]:
    """``[Section]`` of the version's decontamination, or ``[]`` when no stage decontaminates."""
    stages = [s for s in manifest.get("stages", []) if s.get("type") in (TIERS, JUDGE) and s.get("report")]
    if not stages:
        return []
    summary, tables, warnings = [], [], []
    for st in stages:
        r, name = st["report"], st["name"]
        if st["type"] == TIERS:
            summary.append([name, "cheap tiers (a confident match)", r.get("rows_checked", 0),
                            r.get("rows_dropped", 0), "-"])  # fmt: skip
            examples = [
                [
                    e.get("row"),
                    e.get("item"),
                    fate.split(":", 1)[1],
                    f"{e.get('score', 0):.2f}",
                    e.get("evidence"),
                ]
                for fate, items in (r.get("examples") or {}).items()
                if fate.startswith("dropped:")
                for e in items
            ]
            if examples:
                tables.append(Table(["row", "benchmark item", "match kind", "score", "evidence"], examples,
                                    f"{name}: the tiers' drops, first examples of each match kind"))  # fmt: skip
            continue
        acts = (st.get("params") or {}).get("action", "drop") == "drop"
        model = (r.get("backend") or {}).get("model", "?")
        summary.append([name, f"LLM judge ({model})", r.get("rows_judged", 0),
                        r.get("rows_confirmed", 0) if acts else 0, r.get("rows_overruled", 0)])  # fmt: skip
        drops, overruled = r.get("drops") or [], r.get("overruled_rows") or []
        what = "drops" if acts else "copies marked (action: mark, nothing dropped)"
        if drops:
            tables.append(Table(EVIDENCE, _evidence_rows(drops), f"{name}: the judge's {what} (first 50)"))
        if overruled or r.get("require"):
            floors = ", ".join(f"{k} {v}" for k, v in (r.get("require") or {}).items()) or "none"
            tables.append(Table(EVIDENCE, _evidence_rows(overruled),
                                f"{name}: judge overruled, kept: a 'copy' verdict below the floors ({floors})"))  # fmt: skip
        unsure = sum(1 for d in drops if d.get("probability") is None)
        if acts and unsure:
            warnings.append(f"{name}: {unsure} of the judge's drops carry no verdict probability (the backend "
                            "returned no logprobs): nothing says how sure the judge was")  # fmt: skip
    table = Table(["stage", "who decides", "rows checked or judged", "dropped", "judge overruled (kept)"],
                  summary, "rows dropped as benchmark copies, by who decided")  # fmt: skip
    text = (
        "The cheap tiers drop a row on a confident match (the evidence is the match itself); the LLM judge "
        "drops a row it calls a copy of an uncertain candidate. A verdict's probability is the judge model's "
        "probability of its true/false token (from logprobs; '-' where the backend returned none). With "
        "`require`, a 'copy' verdict below its floors keeps the row (judge overruled)."
    )
    return [Section("Decontamination", text=text, tables=[table, *tables], warnings=warnings)]
