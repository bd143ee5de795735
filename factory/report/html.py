"""``report.html`` of a version: one static file (inline CSS and SVG charts, no script or font fetched) that a
person reads after a build: header, warnings, funnel per stage and per source, drop reasons with examples,
decontamination (the tiers' and the judge's drops apart, with their evidence), the mixture against its target, output lengths, every stage's figures and declared charts, files, recipe.

The page is a Jinja2 template (``report.html.j2``, autoescaped) filled with ``Section`` objects; callers add
their own (e.g. evaluation results of models trained on the version) through ``extra_sections``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import escape

from factory.report import facts as facts
from factory.report import outputs as outs
from factory.report.decontam import decontamination_sections
from factory.report.lengths import length_stats
from factory.report.sections import Section, Table, mixture_section, stage_sections

__all__ = ["Section", "Table", "render_report", "write_report"]

REPORT_FILE = "report.html"


def overview_sections(version_dir: Path, manifest: dict[str, Any]) -> list[Section]:
    """The report's built-in sections for a version (see the module docstring)."""
    funnel = facts.source_funnel(version_dir, manifest)
    return [
        _sources_section(manifest),
        _funnel_section(manifest, funnel),
        _drops_section(version_dir, manifest),
        *decontamination_sections(manifest),
        mixture_section(manifest, funnel),
        _length_section(version_dir, manifest),
        _samples_section(version_dir, manifest),
    ]


def _sources_section(m: dict[str, Any]) -> Section:
    rows = [
        [
            s["name"],
            s["adapter"],
            s.get("licence") or "none given",
            s["rows_read"],
            s["rows_kept"],
            facts.reasons_text(s["dropped"]) or "-",
        ]
        for s in m["sources"]
    ]
    header = ["source", "adapter", "licence", "rows read", "kept after loading", "dropped while loading"]
    return Section("Sources", tables=[Table(header, rows)])


def _funnel_section(m: dict[str, Any], funnel: dict[str, Any]) -> Section:
    read = m["totals"]["rows_in"]
    after = {"read": read, "loaded": sum(s["rows_kept"] for s in m["sources"])}
    after.update({s["name"]: s["rows_out"] for s in m["stages"]})
    after["in outputs"] = m["totals"]["rows_out"]
    stage_rows = [
        [
            s["name"],
            s["type"],
            s["rows_in"],
            s["rows_out"],
            s["rows_in"] - s["rows_out"],
            _share(s["rows_in"] - s["rows_out"], s["rows_in"]),
            "yes" if s.get("cached") else "no",
            s.get("wall_s", 0),
        ]
        for s in m["stages"]
    ]
    steps = [st for st in funnel["steps"] if any(f["dropped"][st] for f in funnel["sources"].values())]
    per_source = [
        [name, f["read"], *(f["dropped"][st] or "" for st in steps), f["kept"], _share(f["kept"], f["read"])]
        for name, f in funnel["sources"].items()
    ]
    stacked = {
        name: {"in outputs": f["kept"], **{f"dropped: {st}": f["dropped"][st] for st in steps}}
        for name, f in funnel["sources"].items()
    }
    return Section(
        "Funnel",
        text="Rows remaining after each step, then each source's rows: where they were dropped and how many reached an output.",
        tables=[
            Table(
                ["stage", "type", "rows in", "rows out", "dropped", "dropped %", "cached", "wall s"],
                stage_rows,
                "per stage",
            ),
            Table(
                ["source", "read", *steps, "in outputs", "kept %"],
                per_source,
                "per source: rows read, rows dropped at each step (from the drop log), rows in the outputs",
            ),
        ],
        charts=[
            (
                "funnel",
                {
                    "title": "Rows remaining after each step",
                    "kind": "funnel",
                    "data": after,
                    "xlabel": "rows",
                },
            ),
            (
                "sources",
                {
                    "title": "Rows of each source (rows read): share in the outputs or dropped, by step",
                    "kind": "stacked_bar",
                    "data": stacked,
                    "share": True,
                    "xlabel": "share of the source's rows read (%)",
                },
            ),
        ],
    )


def _drops_section(version_dir: Path, m: dict[str, Any]) -> Section:
    reasons = facts.drop_reasons(m)
    examples = facts.drop_examples(version_dir, m)
    drop_rows = []
    for r in reasons:
        ex = examples.get((r["step"], r["reason"]), [])
        drop_rows.append(
            [
                r["step"],
                r["reason"],
                r["rows"],
                _share(r["rows"], r["rows_in"]),
                "; ".join(f"{e['id']}: {e['detail']}" if e["detail"] else str(e["id"]) for e in ex),
            ]
        )
    return Section(
        "Drop reasons",
        text=f"{m['totals']['rows_dropped']:,} rows dropped in all; each is in drops/*.parquet with its stage, reason and detail.",
        tables=[Table(["step", "reason", "rows", "% of step input", "examples (id: detail)"], drop_rows)],
        charts=[
            (
                "drop_reasons",
                {
                    "title": "Rows dropped per reason",
                    "kind": "bar",
                    "data": {f"{r['reason']} ({r['step']})": r["rows"] for r in reasons},
                    "ylabel": "rows",
                },
            )
        ]
        if reasons
        else [],
    )


_share = facts.share_text


def _length_section(version_dir: Path, m: dict[str, Any]) -> Section:
    section = Section(
        "Lengths",
        text="Words (whitespace-separated) per row of each output, by part of the conversation; system prompts are not counted.",
    )
    rows, charts = [], []
    for name, o in outs.output_lengths(version_dir, m).items():
        for series, values in o["series"].items():
            st = length_stats(values)
            rows.append(
                [name, series, st["n"], round(st["mean"], 1), st["p50"], st["p90"], st["p99"], st["max"]]
            )
        if o["sampled"]:
            note = "" if o["sampled"] == o["rows"] else f" (sample of {o['sampled']:,} of {o['rows']:,} rows)"
            charts.append(
                (
                    f"lengths/{name}",
                    {
                        "title": f"{name}: words per row{note}",
                        "kind": "hists",
                        "data": o["series"],
                        "xlabel": "words (log scale)",
                    },
                )
            )
    section.tables.append(Table(["output", "part", "rows", "mean", "median", "p90", "p99", "max"], rows))
    section.charts = charts
    return section


def _samples_section(version_dir: Path, m: dict[str, Any]) -> Section:
    """A few rows of each output as a reader sees them in training: one per source, the first open."""
    parts = []
    for name, rows in outs.output_samples(version_dir, m).items():
        for i, row in enumerate(rows):
            turns = "".join(
                f'<div class="turn {escape(part)}"><div class="role">'
                f"{escape(role if part == 'messages' else part if part != 'prompt' else 'prompt · ' + role)}"
                f'</div><div class="text">{escape(text)}</div></div>'
                for part, role, text in row["turns"]
            )
            parts.append(
                f'<details class="sample"{" open" if i == 0 else ""}><summary>{escape(name)} · '
                f"{escape(row['source'])} · <code>{escape(row['id'])}</code></summary>{turns}</details>"
            )
    text = "The first row of each source in each output (system prompts left out; long texts cut)."
    return Section("Samples", text=text if parts else "The outputs have no rows.", html="".join(parts))


def render_report(
    version_dir: Path, manifest: dict[str, Any], extra_sections: list[Section] | None = None
) -> str:
    """The page's HTML for a version folder and its manifest; ``extra_sections`` go after the stages."""
    from factory.report.page import render_page

    version_dir = Path(version_dir)
    sections = (
        overview_sections(version_dir, manifest) + stage_sections(manifest) + list(extra_sections or [])
    )
    warnings = facts.collect_warnings(manifest, version_dir)
    return render_page(version_dir, manifest, sections, warnings)


def write_report(
    version_dir: Path,
    manifest: dict[str, Any],
    extra_sections: list[Section] | None = None,
    out: Path | None = None,
) -> Path:
    """Write ``report.html`` into ``version_dir`` (or to ``out``); returns its path."""
    path = Path(out) if out else Path(version_dir) / REPORT_FILE
    path.write_text(render_report(version_dir, manifest, extra_sections), encoding="utf-8")
    return path
