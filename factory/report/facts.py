"""Facts about a built version for its reports (report.html and ``factory show``): warnings, the funnel per
source (from the drop log), examples of drops, the mixture against its target (what the outputs hold, lengths
and sample rows, is in factory/report/outputs.py). Everything is read from the version folder and its
manifest, so a report can be (re)made for any version.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

NEARLY_ALL = 0.9  # a step that drops at least this share of its rows (and >= MIN_ROWS_TO_WARN) is a warning
MIN_ROWS_TO_WARN = 10
EXAMPLES_PER_REASON = 3
CHART_KINDS = ("bar", "hist", "grouped_bar")
LOAD_STEP, OUTPUT_STEP = "load", "outputs"


def share_text(part: float, whole: float) -> str:
    """``part`` as a percentage of ``whole`` for people: "-" without a whole, "<0.1%" rather than "0.0%"."""
    if not whole:
        return "-"
    if part == 0:
        return "0%"
    return "<0.1%" if 0 < part / whole < 0.001 else f"{100 * part / whole:.1f}%"


def reasons_text(dropped: dict[str, int]) -> str:
    return ", ".join(f"{r} {n}" for r, n in sorted(dropped.items(), key=lambda kv: -kv[1]))


def chart_problem(spec: Any) -> str | None:
    """Why a stage's chart spec (the ``charts`` convention) cannot be drawn, or None when it can."""
    if not isinstance(spec, dict):
        return "a chart must be a dict with title, kind and data"
    kind, data = spec.get("kind"), spec.get("data")
    if kind not in CHART_KINDS:
        return f"kind {kind!r} is not one of {', '.join(CHART_KINDS)}"
    if not isinstance(spec.get("title"), str) or not spec["title"]:
        return "title must be a non-empty string"

    def number(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool) and np.isfinite(x)

    if kind == "hist":
        if not isinstance(data, list) or not all(number(x) for x in data):
            return "a hist's data must be a list of finite numbers"
    elif kind == "bar":
        if not isinstance(data, dict) or not all(number(v) for v in data.values()):
            return "a bar chart's data must be {label: number}"
    elif not isinstance(data, dict) or not all(
        isinstance(g, dict) and all(number(v) for v in g.values()) for g in data.values()
    ):
        return "a grouped_bar chart's data must be {group: {label: number}}"
    return None


def collect_warnings(manifest: dict[str, Any], version_dir: Path | None = None) -> list[str]:
    """Everything about a build a user must see: sources without rows, steps that drop (nearly) all their
    rows, empty outputs, rows no output took, charts that cannot be drawn, and every stage's own
    ``warnings``. With ``version_dir``, also sources none of whose rows reached an output (from the drop log).
    """
    out: list[str] = []
    for s in manifest.get("sources", []):
        read, kept = s.get("rows_read", 0), s.get("rows_kept", 0)
        if read == 0:
            out.append(f"source '{s['name']}' yielded no rows (check its path, filters and limit)")
        elif kept == 0:
            out.append(
                f"source '{s['name']}': all {read} rows were dropped while loading ({reasons_text(s['dropped'])})"
            )
        elif read >= MIN_ROWS_TO_WARN and kept <= (1 - NEARLY_ALL) * read:
            out.append(
                f"source '{s['name']}': {read - kept} of {read} rows ({share_text(read - kept, read)}) were dropped "
                f"while loading ({reasons_text(s['dropped'])})"
            )
        if not s.get("licence"):
            out.append(f"source '{s['name']}' has no licence in the recipe")
    for st in manifest.get("stages", []):
        rows_in, rows_out = st.get("rows_in", 0), st.get("rows_out", 0)
        lost = rows_in - rows_out
        if rows_in and rows_out == 0:
            out.append(
                f"stage '{st['name']}' dropped all {rows_in} rows ({reasons_text(st.get('dropped', {}))})"
            )
        elif rows_in >= MIN_ROWS_TO_WARN and lost >= NEARLY_ALL * rows_in:
            out.append(
                f"stage '{st['name']}' dropped {lost} of {rows_in} rows ({share_text(lost, rows_in)}; "
                f"{reasons_text(st.get('dropped', {}))})"
            )
        report = st.get("report") or {}
        out += [f"stage '{st['name']}': {w}" for w in report.get("warnings", []) or []]
        for chart_id, spec in (report.get("charts") or {}).items():
            problem = chart_problem(spec)
            if problem:
                out.append(f"stage '{st['name']}': chart '{chart_id}' cannot be drawn: {problem}")
    for name, o in manifest.get("outputs", {}).items():
        if o.get("rows", 0) == 0:
            out.append(f"output '{name}' is empty")
    for kind, n in (manifest.get("no_output_by_kind") or {}).items():
        out.append(f"{n} row(s) of kind '{kind}' matched no output and were dropped (no_output)")
    if version_dir is not None:
        funnel = source_funnel(version_dir, manifest)
        for source, f in funnel["sources"].items():
            if f["read"] and f["kept"] == 0 and f["read"] > f["dropped"].get(LOAD_STEP, 0):
                steps = reasons_text({k: v for k, v in f["dropped"].items() if v})
                out.append(
                    f"source '{source}': none of its {f['read']} rows reached an output (dropped by {steps})"
                )
    return out


def _drop_files(version_dir: Path, manifest: dict[str, Any]) -> list[Path]:
    return [version_dir / f["path"] for f in manifest.get("drop_log", {}).get("files", [])]


def output_files(version_dir: Path, manifest: dict[str, Any], name: str) -> list[Path]:
    return [version_dir / f["path"] for f in manifest["outputs"][name].get("files", [])]


def _step_of(stage: str) -> str:
    return LOAD_STEP if stage.startswith("source:") else stage


def source_funnel(version_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Rows of each source through the build: ``{"steps": [load, stage..., outputs], "sources": {source:
    {"read", "dropped": {step: n}, "kept", "by_output": {output: n}}}}``; ``kept`` counts the source's rows in
    the outputs (read from their Parquet files), ``dropped`` comes from the drop log."""
    steps = [LOAD_STEP, *(s["name"] for s in manifest.get("stages", [])), OUTPUT_STEP]
    dropped: dict[str, Counter[str]] = defaultdict(Counter)
    for path in _drop_files(version_dir, manifest):
        t = pq.read_table(path, columns=["source", "stage"])
        for row in t.group_by(["source", "stage"]).aggregate([([], "count_all")]).to_pylist():
            dropped[row["source"] or "?"][_step_of(row["stage"])] += row["count_all"]
    by_output: dict[str, Counter[str]] = defaultdict(Counter)
    for name in manifest.get("outputs", {}):
        for path in output_files(version_dir, manifest, name):
            t = pq.read_table(path, columns=["source"])
            for row in t.group_by("source").aggregate([([], "count_all")]).to_pylist():
                by_output[row["source"] or "?"][name] += row["count_all"]
    read = {s["name"]: s.get("rows_read", 0) for s in manifest.get("sources", [])}
    names = list(read) + sorted((set(dropped) | set(by_output)) - set(read))
    sources = {}
    for name in names:
        kept = sum(by_output[name].values())
        sources[name] = {
            "read": read.get(name, kept + sum(dropped[name].values())),
            "dropped": {step: dropped[name].get(step, 0) for step in steps},
            "kept": kept,
            "by_output": dict(by_output[name]),
        }
    return {"steps": steps, "sources": sources}


def drop_examples(version_dir: Path, manifest: dict[str, Any], per_reason: int = EXAMPLES_PER_REASON) -> dict:
    """``{(step, reason): [{"id", "source", "detail"}, ...]}``: the first few drops of each reason (grouped in
    Arrow; only the example rows become Python objects, so a drop log of millions of rows stays cheap)."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    columns = ["id", "source", "stage", "reason", "detail"]
    for path in _drop_files(version_dir, manifest):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536, columns=columns):
            t = pa.Table.from_batches([batch])
            groups = t.group_by(["stage", "reason"], use_threads=False).aggregate([([], "count_all")])
            wanted = []
            for stage, reason in zip(
                *(groups.column(c).to_pylist() for c in ("stage", "reason")), strict=True
            ):
                if len(out[(_step_of(stage), reason)]) < per_reason:
                    mask = pc.and_(pc.equal(t.column("stage"), stage), pc.equal(t.column("reason"), reason))
                    wanted += pc.indices_nonzero(mask).to_pylist()[:per_reason]
            for row in t.take(sorted(wanted)).to_pylist() if wanted else []:
                key = (_step_of(row["stage"]), row["reason"])
                if len(out[key]) < per_reason:
                    detail = row["detail"] or ""
                    short = detail[:160] + ("…" if len(detail) > 160 else "")
                    out[key].append({"id": row["id"], "source": row["source"], "detail": short})
    return dict(out)


def drop_reasons(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per (step, reason): rows dropped and the step's input rows, in pipeline order."""
    out = []
    load_reasons: Counter[str] = Counter()
    load_in = 0
    for s in manifest.get("sources", []):
        load_reasons.update(s.get("dropped", {}))
        load_in += s.get("rows_read", 0)
    steps = [(LOAD_STEP, "load", load_in, load_reasons)]
    steps += [
        (s["name"], s["type"], s.get("rows_in", 0), s.get("dropped", {})) for s in manifest.get("stages", [])
    ]
    no_output = sum((manifest.get("no_output_by_kind") or {}).values())
    if no_output:
        stages = manifest.get("stages", [])
        routed = (
            stages[-1].get("rows_out", 0)
            if stages
            else sum(s.get("rows_kept", 0) for s in manifest["sources"])
        )
        steps.append((OUTPUT_STEP, "outputs", routed, {"no_output": no_output}))
    for step, kind, rows_in, reasons in steps:
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            out.append(
                {
                    "step": step,
                    "type": kind,
                    "reason": reason,
                    "rows": n,
                    "rows_in": rows_in,
                }
            )
    return out


def mixtures(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Each mix stage's groups: available, kept, share of everything kept, and, for groups with a target
    share, the share ``achieved`` within the weighted groups (what the target is a share of: groups left out
    of ``weights`` are kept on top), from the stage's report and params. ``target_share`` and
    ``achieved_share`` keys in a mix report win over what is computed here from ``weights``."""
    out = []
    for st in manifest.get("stages", []):
        report = st.get("report") or {}
        if st.get("type") != "mix" or not report.get("groups"):
            continue
        params = st.get("params") or {}
        weights = params.get("weights") or {}
        total_w = sum(weights.values())
        weighted_kept = sum(g.get("kept") or 0 for name, g in report["groups"].items() if name in weights)
        rows = []
        for group, g in report["groups"].items():
            share = g.get("share")
            target, achieved = g.get("target_share", g.get("target")), g.get("achieved_share")
            if target is None and group in weights and total_w:
                target = weights[group] / total_w
                achieved = (g.get("kept") or 0) / weighted_kept if weighted_kept else 0.0
            if target is not None and achieved is None:
                achieved = share
            rows.append(
                {
                    "group": group,
                    "available": g.get("available"),
                    "kept": g.get("kept"),
                    "share": share,
                    "target": target,
                    "achieved": achieved,
                    "cap": (params.get("caps") or {}).get(group),
                }
            )
        extra = {k: v for k, v in report.items() if k not in ("groups", "charts", "warnings")}
        out.append(
            {
                "stage": st["name"],
                "by": params.get("by", "source"),
                "measure": report.get("measure", "rows"),
                "groups": rows,
                "extra": extra,
            }
        )
    return out
