"""Fills ``report.html.j2`` with a version's sections: draws every chart (a chart that cannot be drawn becomes
a visible "broken chart" box and a warning, never a failed build), formats numbers, lists the files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2

from factory.report.charts import ChartError, render_svg

TEMPLATE = "report.html.j2"
PERCENT = re.compile(r"^<?\d[\d.,]*%$")


def fmt_number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def fmt_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def _cells(row: list[Any]) -> list[dict[str, Any]]:
    cells = []
    for c in row:
        text = fmt_number(c)
        num = isinstance(c, int | float) and not isinstance(c, bool) or bool(PERCENT.match(text))
        cells.append({"text": text, "num": num, "long": len(text) > 80})
    return cells


def _view(section, charts_out: list[dict[str, Any]], problems: list[str], level: int = 2) -> dict[str, Any]:
    """The template's view of a Section: tables as formatted cells, charts drawn (or marked broken)."""
    charts = []
    for chart_id, spec in section.charts:
        uid = f"c{len(charts_out)}"
        try:
            entry = {"id": chart_id, "svg": render_svg(spec, uid), "error": None}
        except (ChartError, TypeError, ValueError, KeyError) as exc:  # a bad spec must not sink the report
            title = spec.get("title", chart_id) if isinstance(spec, dict) else chart_id
            entry = {"id": chart_id, "svg": None, "error": f"{title}: {exc}"}
            problems.append(f"chart '{chart_id}' could not be drawn: {exc}")
        charts_out.append(entry)
        charts.append(entry)
    return {
        "title": section.title,
        "anchor": section.anchor,
        "level": level,
        "text": section.text,
        "tables": [
            {"caption": t.caption, "columns": t.columns, "rows": [_cells(r) for r in t.rows]}
            for t in section.tables
        ],
        "charts": charts,
        "html": section.html,
        "warnings": section.warnings,
        "subsections": [_view(s, charts_out, problems, level + 1) for s in section.subsections],
    }


def _files(version_dir: Path, m: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, o in m["outputs"].items():
        rows += [
            [name, f["path"], fmt_number(f["rows"]), fmt_bytes(f["bytes"]), f["sha256"][:16]]
            for f in o["files"]
        ]
    rows += [
        ["drop log", f["path"], fmt_number(f["rows"]), fmt_bytes(f["bytes"]), f["sha256"][:16]]
        for f in m["drop_log"]["files"]
    ]
    for st in m["stages"]:
        rows += [
            [f"artifact of {st['name']}", a["path"], "", fmt_bytes(a["bytes"]), a["sha256"][:16]]
            for a in st.get("artifacts") or []
        ]
    return rows


def render_page(version_dir: Path, m: dict[str, Any], sections: list, warnings: list[str]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_number
    charts: list[dict[str, Any]] = []
    problems: list[str] = []
    views = [_view(s, charts, problems) for s in sections]
    known = set(warnings)
    warnings = warnings + [p for p in problems if not any(p.split(": ", 1)[-1] in w for w in known)]
    recipe_file = version_dir / "recipe.yaml"
    return env.get_template(TEMPLATE).render(
        m=m,
        sections=views,
        warnings=warnings,
        charts_total=len(charts),
        files=_files(version_dir, m),
        recipe_yaml=recipe_file.read_text(encoding="utf-8") if recipe_file.is_file() else "",
        outputs_text=", ".join(f"{name} {fmt_number(o['rows'])}" for name, o in m["outputs"].items()),
        wall=f"{m['totals'].get('wall_s', 0):.1f} s",
    )
