"""The pieces of report.html: ``Section`` and ``Table`` (what callers add through ``extra_sections``), and the
sections read from stage reports: each stage's figures and charts (declared under ``charts`` plus built-in
readings of the keys stages give today) and the mixture against its target."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from factory.report import facts as facts

_share = facts.share_text


@dataclass
class Table:
    """A table of a section: column names and rows of cells (numbers are right-aligned and formatted)."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Section:
    """One section of the page. ``charts``: ``(chart_id, spec)`` pairs, spec as in the stages' ``charts``
    convention (title, kind, data, xlabel, ylabel). ``html`` is trusted markup placed after the tables."""

    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    html: str = ""
    warnings: list[str] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "section"


def flat_figures(report: dict[str, Any], skip: set[str]) -> list[list[Any]]:
    """Scalar figures of a stage report as (key, value) rows, one level of nesting spelled ``a.b``."""
    rows = []
    for key, value in report.items():
        if key in skip or key in ("charts", "warnings"):
            continue
        if isinstance(value, dict):
            if all(not isinstance(v, dict | list) for v in value.values()):
                rows += [[f"{key}.{k}", v] for k, v in value.items()]
            else:
                rows.append([key, json.dumps(value, ensure_ascii=False)[:200]])
        elif isinstance(value, list):
            rows.append([key, json.dumps(value, ensure_ascii=False)[:200]])
        else:
            rows.append([key, value])
    return rows[:40]


def builtin_charts(stage: dict[str, Any]) -> tuple[list[tuple[str, dict]], set[str]]:
    """Charts read from report keys stages give today (decontamination, near-dedup, generation); the keys
    they cover."""
    r, name = stage.get("report") or {}, stage["name"]
    charts: list[tuple[str, dict]] = []
    if isinstance(r.get("hits_per_benchmark"), dict):
        charts.append(
            (
                "hits_per_benchmark",
                {
                    "title": f"{name}: contaminated rows per benchmark (a row can hit several)",
                    "kind": "bar",
                    "data": r["hits_per_benchmark"],
                    "xlabel": "benchmark",
                    "ylabel": "rows",
                },
            )
        )
    if isinstance(r.get("hits_per_match_kind"), dict) and r["hits_per_match_kind"]:
        charts.append(
            (
                "hits_per_match_kind",
                {
                    "title": f"{name}: hits by kind of match",
                    "kind": "bar",
                    "data": r["hits_per_match_kind"],
                    "ylabel": "rows",
                },
            )
        )
    if isinstance(r.get("cluster_sizes"), dict) and any(r["cluster_sizes"].values()):
        charts.append(
            (
                "cluster_sizes",
                {
                    "title": f"{name}: near-duplicate clusters by size",
                    "kind": "bar",
                    "data": r["cluster_sizes"],
                    "xlabel": "rows in cluster",
                    "ylabel": "clusters",
                },
            )
        )
    if isinstance(r.get("rows_by_attempt"), dict) and (r["rows_by_attempt"] or r.get("rows_out_of_attempts")):
        data = {f"passed at attempt {k}": v for k, v in r["rows_by_attempt"].items()}
        data["failed every attempt"] = r.get("rows_out_of_attempts", 0)
        charts.append(
            (
                "rows_by_attempt",
                {"title": f"{name}: outcome per attempt", "kind": "bar", "data": data, "ylabel": "rows"},
            )
        )
    if isinstance(r.get("retry_reasons"), dict) and r["retry_reasons"]:
        charts.append(
            (
                "retry_reasons",
                {
                    "title": f"{name}: why an attempt was retried",
                    "kind": "bar",
                    "data": r["retry_reasons"],
                    "ylabel": "attempts",
                },
            )
        )
    covered = {
        "hits_per_benchmark",
        "hits_per_match_kind",
        "cluster_sizes",
        "rows_by_attempt",
        "retry_reasons",
    }
    return charts, covered


def stage_charts(stage: dict[str, Any]) -> list[tuple[str, dict]]:
    """Declared charts first, then built-in ones a declared chart does not already show (same id or data)."""
    declared = list(((stage.get("report") or {}).get("charts") or {}).items())
    builtin, _ = builtin_charts(stage)
    seen_ids = {cid for cid, _ in declared}
    seen_data = [json.dumps(s.get("data"), sort_keys=True) for _, s in declared if isinstance(s, dict)]
    extra = [
        (cid, s)
        for cid, s in builtin
        if cid not in seen_ids and json.dumps(s["data"], sort_keys=True) not in seen_data
    ]
    return declared + extra


def mixture_section(m: dict[str, Any], funnel: dict[str, Any]) -> Section:
    outputs = list(m["outputs"])
    composition = [
        [
            name,
            *(f["by_output"].get(o, 0) for o in outputs),
            *(_share(f["by_output"].get(o, 0), m["outputs"][o]["rows"]) for o in outputs),
        ]
        for name, f in funnel["sources"].items()
        if f["kept"]
    ]
    section = Section(
        "Mixture",
        text="The final outputs by source, and each mix stage's groups against the recipe's target.",
        tables=[
            Table(
                ["source", *(f"{o} rows" for o in outputs), *(f"{o} share" for o in outputs)],
                composition,
                "final composition of the outputs",
            )
        ],
    )
    section.subsections += [_mix_subsection(m, mix) for mix in facts.mixtures(m)]
    return section


def _mix_subsection(m: dict[str, Any], mix: dict[str, Any]) -> Section:
    """One mix stage: its groups against the recipe's targets, its figures and charts."""
    has_target = any(g["target"] is not None for g in mix["groups"])
    rows = [
        [
            g["group"],
            g["available"],
            g["kept"],
            _share(g["share"] or 0, 1),
            "-" if g["target"] is None else _share(g["target"], 1),
            "-" if g["achieved"] is None else _share(g["achieved"], 1),
            "-" if g["cap"] is None else g["cap"],
        ]
        for g in mix["groups"]
    ]
    columns = [mix["by"], "available", "kept", "share of all kept", "target share", "achieved", "cap"]
    sub = Section(
        mix["stage"] if mix["stage"] == "mix" else f"{mix['stage']} (mix)",
        text=f"groups by {mix['by']}, measured in {mix['measure']}; "
        + (
            "a target share is a share of the weighted groups, and so is the achieved one"
            if has_target
            else "the recipe sets no target shares (no `weights`), only caps"
        ),
        tables=[Table(columns, rows)],
    )
    figures = flat_figures(mix["extra"], {"measure"})
    if figures:
        sub.tables.append(Table(["figure", "value"], figures))
    sub.charts.append((f"{mix['stage']}/mixture", _mix_chart(mix, has_target)))
    stage = next(s for s in m["stages"] if s["name"] == mix["stage"])
    sub.charts += [
        (f"{mix['stage']}/{cid}", spec) for cid, spec in ((stage.get("report") or {}).get("charts") or {}).items()
    ]
    return sub


def _mix_chart(mix: dict[str, Any], has_target: bool) -> dict[str, Any]:
    if has_target:
        targeted = [g for g in mix["groups"] if g["target"] is not None]
        data = {
            "achieved": {g["group"]: 100 * (g["achieved"] or 0) for g in targeted},
            "target": {g["group"]: 100 * g["target"] for g in targeted},
        }
        title = f"{mix['stage']}: achieved vs target share (%)"
        return {"title": title, "kind": "grouped_bar", "data": data, "ylabel": "share (%)"}
    return {
        "title": f"{mix['stage']}: share of each {mix['by']} after mixing (%)",
        "kind": "bar",
        "data": {g["group"]: round(100 * (g["share"] or 0), 2) for g in mix["groups"]},
        "ylabel": "share (%)",
    }


def stage_sections(manifest: dict[str, Any]) -> list[Section]:
    """One subsection per stage that reports figures or charts (mix is in the Mixture section)."""
    subs = []
    for st in manifest["stages"]:
        report = st.get("report") or {}
        if st["type"] == "mix" or not report:
            continue
        _, covered = builtin_charts(st)
        figures = flat_figures(report, covered)
        subs.append(
            Section(
                st["name"] if st["name"] == st["type"] else f"{st['name']} ({st['type']})",
                tables=[Table(["figure", "value"], figures)] if figures else [],
                charts=[(f"{st['name']}/{cid}", spec) for cid, spec in stage_charts(st)],
                warnings=list(report.get("warnings") or []),
            )
        )
    return (
        [Section("Stages", text="What each stage reported: its figures and charts.", subsections=subs)]
        if subs
        else []
    )
