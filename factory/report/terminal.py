"""Terminal reports of versions: the list, one version's summary (warnings, funnel, mixture, stage highlights,
lengths), the difference between two; and the two calls a build makes at its end: ``collect_warnings``
and ``write_report`` (report.html, drawn by factory/report/html.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from factory.report import facts
from factory.report import outputs as outs
from factory.report.facts import collect_warnings
from factory.report.lengths import length_stats

__all__ = [
    "collect_warnings",
    "print_warnings",
    "write_report",
    "version_report",
    "versions_table",
    "diff_report",
]


def _row(table: Table, *cells: Any) -> None:
    """Add a row of plain text: recipe keys like ``stages[mix]`` must not be read as Rich markup."""
    table.add_row(*(Text(str(c)) for c in cells))


def _reasons(dropped: dict[str, int]) -> str:
    return ", ".join(f"{r}={n}" for r, n in sorted(dropped.items(), key=lambda kv: -kv[1])) or "-"


def versions_table(manifests: list[dict[str, Any]]) -> Table:
    table = Table(title="versions", title_justify="left")
    for col in ("version", "recipe", "created", "rows in", "outputs", "dropped", "wall s"):
        table.add_column(col)
    for m in manifests:
        outs = ", ".join(f"{k}={v['rows']}" for k, v in m["outputs"].items())
        t = m["totals"]
        _row(
            table,
            m["version"],
            m["recipe_name"],
            m["created_at"],
            str(t["rows_in"]),
            outs,
            str(t["rows_dropped"]),
            f"{t['wall_s']:.1f}",
        )
    return table


def print_warnings(warnings: list[str], console: Console | None = None) -> None:
    """Each warning on its own line (stderr by default), plain text: stage names like ``[mix]`` stay as they are."""
    console = console or Console(stderr=True, highlight=False)
    for w in warnings:
        console.print(Text("warning: ", style="bold yellow") + Text(w), soft_wrap=True)


def write_report(version_dir: Path, manifest: dict[str, Any], extra_sections: list | None = None) -> Path:
    """Write ``report.html`` into the version folder (see factory/report/html.py); returns its path."""
    from factory.report.html import write_report as write

    return write(Path(version_dir), manifest, extra_sections)


def _figures(report: dict[str, Any], limit: int = 6) -> str:
    flat = [
        f"{k}={v}"
        for k, v in report.items()
        if not isinstance(v, dict | list) and k not in ("charts", "warnings")
    ]
    return ", ".join(flat[:limit])


def _top(counts: dict[str, int], limit: int = 5) -> str:
    items = sorted(((k, v) for k, v in counts.items() if v), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v}" for k, v in items[:limit]) or "none"


def stage_highlight(stage: dict[str, Any]) -> str:
    """One line on what a stage reported: contamination hits, generation attempts, clusters, charts..."""
    r = stage.get("report") or {}
    parts = []
    if "hits_per_benchmark" in r:
        parts.append(f"{r.get('rows_dropped', '?')} rows hit benchmarks: {_top(r['hits_per_benchmark'])}")
        if r.get("hits_per_match_kind"):
            parts.append(f"by match: {_top(r['hits_per_match_kind'])}")
    elif "rows_by_attempt" in r:
        attempts = ", ".join(f"attempt {k}: {v}" for k, v in r["rows_by_attempt"].items()) or "no row passed"
        parts.append(f"passed {attempts}; failed every attempt: {r.get('rows_out_of_attempts', 0)}")
        if r.get("retry_reasons"):
            parts.append(f"retries: {_top(r['retry_reasons'])}")
        req = r.get("requests") or {}
        if req:
            parts.append(
                f"requests sent {req.get('sent', 0)}, cached {req.get('cached', 0)}, failed {req.get('failed', 0)}"
            )
    elif "groups" in r and stage.get("type") == "mix":
        parts.append(f"{len(r['groups'])} groups by {stage.get('params', {}).get('by', 'source')}")
    elif "clusters" in r:
        parts.append(
            f"{r['clusters']} clusters, {r.get('duplicates', 0)} duplicates, largest {r.get('largest_cluster', 0)}"
        )
    else:
        figures = _figures(r)
        if figures:
            parts.append(figures)
    charts = [c.get("title", cid) for cid, c in (r.get("charts") or {}).items() if isinstance(c, dict)]
    if charts:
        parts.append(f"charts in report.html: {'; '.join(charts)}")
    return "; ".join(parts)


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="left" if col in _LEFT else "right")
    return table


_LEFT = {
    "source",
    "adapter",
    "licence",
    "stage",
    "type",
    "reason",
    "examples",
    "output",
    "part",
    "group",
    "highlights",
}


def version_report(m: dict[str, Any], version_dir: Path | None = None) -> Group:
    """The terminal summary of a version; with ``version_dir`` also the per-source funnel and lengths (read from
    the drop log and the outputs), as in report.html."""
    parts: list[Any] = [_warnings(m, version_dir), _header(m), _sources(m), _stages(m)]
    if version_dir is not None:
        parts.append(_funnel(m, version_dir))
    parts += _mixtures(m)
    highlights = _table("stage highlights", ["stage", "highlights"])
    for s in m["stages"]:
        line = stage_highlight(s)
        if line:
            _row(highlights, s["name"], line)
    if highlights.row_count:
        parts.append(highlights)
    parts.append(_outputs(m))
    if version_dir is not None:
        parts.append(_lengths(m, version_dir))
        page = Path(version_dir) / "report.html"
        parts.append(
            Text(
                f"report: {page}" if page.is_file() else "report: none yet (factory report VERSION writes it)"
            )
        )
    return Group(*parts)


def _warnings(m: dict[str, Any], version_dir: Path | None) -> Any:
    warnings = facts.collect_warnings(m, version_dir)
    if not warnings:
        return Text("no warnings", style="green")
    box = Text("\n").join(Text(f"• {w}") for w in warnings)
    return Panel(box, title=f"warnings ({len(warnings)})", title_align="left", border_style="yellow")


def _header(m: dict[str, Any]) -> Table:
    head = Table.grid(padding=(0, 2))
    totals = m["totals"]
    for key, value in (
        ("version", m["version"]),
        ("recipe", f"{m['recipe_name']} (hash {m['recipe_hash']})"),
        ("created", m["created_at"]),
        ("factory", m["factory_version"]),
        ("executor", f"{m['executor']}, {totals.get('wall_s', 0):.1f} s"),
        ("rows", f"{totals['rows_in']} in → {totals['rows_out']} out, {totals['rows_dropped']} dropped"),
    ):
        head.add_row(Text(key, style="bold"), Text(str(value)))
    return head


def _sources(m: dict[str, Any]) -> Table:
    table = _table("sources", ["source", "adapter", "licence", "read", "kept", "dropped", "fingerprint", "cached"])
    for s in m["sources"]:
        _row(
            table,
            s["name"],
            s["adapter"],
            s["licence"] or "?",
            str(s["rows_read"]),
            str(s["rows_kept"]),
            _reasons(s["dropped"]),
            s["fingerprint"]["hash"][:12],
            "yes" if s["cached"] else "no",
        )
    return table


def _stages(m: dict[str, Any]) -> Table:
    table = _table("stages", ["stage", "type", "in", "out", "dropped %", "reason", "cached", "wall s"])
    for s in m["stages"]:
        lost = s["rows_in"] - s["rows_out"]
        _row(
            table,
            s["name"],
            s["type"],
            str(s["rows_in"]),
            str(s["rows_out"]),
            facts.share_text(lost, s["rows_in"]),
            _reasons(s["dropped"]),
            "yes" if s["cached"] else "no",
            f"{s['wall_s']:.2f}",
        )
    return table


def _funnel(m: dict[str, Any], version_dir: Path) -> Table:
    funnel = facts.source_funnel(version_dir, m)
    steps = [st for st in funnel["steps"] if any(f["dropped"][st] for f in funnel["sources"].values())]
    table = _table("funnel per source (rows dropped at each step)", ["source", "read", *steps, "in outputs", "kept %"])
    for name, f in funnel["sources"].items():
        cells = [str(f["dropped"][st] or "") for st in steps]
        _row(table, name, str(f["read"]), *cells, str(f["kept"]), facts.share_text(f["kept"], f["read"]))
    return table


def _mixtures(m: dict[str, Any]) -> list[Table]:
    tables = []
    for mix in facts.mixtures(m):
        table = _table(
            f"mixture: {mix['stage']} (by {mix['by']}, in {mix['measure']})",
            ["group", "available", "kept", "share", "target", "achieved", "cap"],
        )
        for g in mix["groups"]:
            target = "-" if g["target"] is None else facts.share_text(g["target"], 1)
            achieved = "-" if g["achieved"] is None else facts.share_text(g["achieved"], 1)
            share = facts.share_text(g["share"] or 0, 1)
            _row(table, g["group"], str(g["available"]), str(g["kept"]), share, target, achieved, str(g["cap"] or "-"))
        tables.append(table)
    return tables


def _outputs(m: dict[str, Any]) -> Table:
    table = _table("outputs", ["output", "rows", "files", "bytes"])
    for name, o in m["outputs"].items():
        _row(table, name, str(o["rows"]), str(len(o["files"])), str(sum(f["bytes"] for f in o["files"])))
    log = m["drop_log"]
    _row(table, "drops", str(log["rows"]), str(len(log["files"])), str(sum(f["bytes"] for f in log["files"])))
    return table


def _lengths(m: dict[str, Any], version_dir: Path) -> Table:
    table = _table("lengths (words per row)", ["output", "part", "rows", "median", "p90", "p99", "max"])
    for name, o in outs.output_lengths(version_dir, m).items():
        for part, values in o["series"].items():
            st = length_stats(values)
            _row(table, name, part, str(st["n"]), *(f"{st[k]:.0f}" for k in ("p50", "p90", "p99", "max")))
    return table


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, list) and obj and all(isinstance(x, dict) for x in obj):
        out = {}
        for i, v in enumerate(obj):
            label = v.get("name") or v.get("type") or str(i)
            out.update(_flatten(v, f"{prefix}[{label}]"))
        return out
    return {prefix: obj}


def diff_report(a: dict[str, Any], b: dict[str, Any]) -> Group:
    recipe = Table(title="recipe changes", title_justify="left")
    for col in ("key", a["version"][:12], b["version"][:12]):
        recipe.add_column(col)
    fa, fb = _flatten(a["recipe"]), _flatten(b["recipe"])
    for key in sorted(set(fa) | set(fb)):
        if fa.get(key) != fb.get(key):
            _row(recipe, key, repr(fa.get(key, "—")), repr(fb.get(key, "—")))
    for sa in a["sources"]:
        sb = next((s for s in b["sources"] if s["name"] == sa["name"]), None)
        if sb and sa["fingerprint"]["hash"] != sb["fingerprint"]["hash"]:
            _row(
                recipe,
                f"source {sa['name']} data",
                sa["fingerprint"]["hash"][:12],
                sb["fingerprint"]["hash"][:12],
            )
    stages = Table(title="stage funnel", title_justify="left")
    for col in ("stage", "out (a)", "out (b)", "Δ", "dropped (a)", "dropped (b)"):
        stages.add_column(col)
    sb_by_name = {s["name"]: s for s in b["stages"]}
    names = [s["name"] for s in a["stages"]] + [
        s["name"] for s in b["stages"] if s["name"] not in {x["name"] for x in a["stages"]}
    ]
    sa_by_name = {s["name"]: s for s in a["stages"]}
    for name in names:
        x, y = sa_by_name.get(name), sb_by_name.get(name)
        ox, oy = (x or {}).get("rows_out"), (y or {}).get("rows_out")
        delta = f"{oy - ox:+d}" if ox is not None and oy is not None else ""
        _row(
            stages,
            name,
            str(ox if ox is not None else "—"),
            str(oy if oy is not None else "—"),
            delta,
            _reasons((x or {}).get("dropped", {})),
            _reasons((y or {}).get("dropped", {})),
        )
    outputs = Table(title="outputs", title_justify="left")
    for col in ("output", "rows (a)", "rows (b)", "Δ"):
        outputs.add_column(col)
    for name in sorted(set(a["outputs"]) | set(b["outputs"])):
        ra, rb = a["outputs"].get(name, {}).get("rows", 0), b["outputs"].get(name, {}).get("rows", 0)
        _row(outputs, name, str(ra), str(rb), f"{rb - ra:+d}")
    return Group(recipe, stages, outputs)


def print_renderable(renderable: Any) -> None:
    Console(highlight=False, width=200).print(renderable)
