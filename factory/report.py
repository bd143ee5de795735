"""Terminal reports of versions: the list, one version's funnel, and the difference between two."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text


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


def version_report(m: dict[str, Any]) -> Group:
    head = Table.grid(padding=(0, 2))
    for key, value in (
        ("version", m["version"]),
        ("recipe", f"{m['recipe_name']} (hash {m['recipe_hash']})"),
        ("created", m["created_at"]),
        ("factory", m["factory_version"]),
        ("executor", m["executor"]),
        (
            "rows",
            f"{m['totals']['rows_in']} in → {m['totals']['rows_out']} out, {m['totals']['rows_dropped']} dropped",
        ),
    ):
        head.add_row(Text(key, style="bold"), Text(str(value)))
    sources = Table(title="sources", title_justify="left")
    for col in ("source", "adapter", "licence", "read", "kept", "dropped", "fingerprint", "cached"):
        sources.add_column(col)
    for s in m["sources"]:
        _row(
            sources,
            s["name"],
            s["adapter"],
            s["licence"] or "?",
            str(s["rows_read"]),
            str(s["rows_kept"]),
            _reasons(s["dropped"]),
            s["fingerprint"]["hash"][:12],
            "yes" if s["cached"] else "no",
        )
    stages = Table(title="stages", title_justify="left")
    for col in ("stage", "type", "in", "out", "dropped", "cached", "wall s"):
        stages.add_column(col)
    for s in m["stages"]:
        _row(
            stages,
            s["name"],
            s["type"],
            str(s["rows_in"]),
            str(s["rows_out"]),
            _reasons(s["dropped"]),
            "yes" if s["cached"] else "no",
            f"{s['wall_s']:.2f}",
        )
    outputs = Table(title="outputs", title_justify="left")
    for col in ("output", "rows", "files", "bytes"):
        outputs.add_column(col)
    for name, o in m["outputs"].items():
        _row(outputs, name, str(o["rows"]), str(len(o["files"])), str(sum(f["bytes"] for f in o["files"])))
    _row(
        outputs,
        "drops",
        str(m["drop_log"]["rows"]),
        str(len(m["drop_log"]["files"])),
        str(sum(f["bytes"] for f in m["drop_log"]["files"])),
    )
    return Group(head, sources, stages, outputs)


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
