"""Where evaluation results live, what every results file starts with, and how a version's report finds them.

Each evaluation writes ``<model>/eval/<kind>/results.json`` plus one ``<benchmark>.jsonl`` of per-question
records beside it (``loglik``, the lm-eval zero-shot scores and keyword refusal rate, keeps its historical
place: ``<model>/eval/results.json`` and ``<model>/eval/<benchmark>.jsonl``). The schema is in
docs/EVAL.md. Every results file has the same header (``header``) and ``benchmarks: {name: entry}``; each
entry carries ``charts`` in the version report's convention (``{"<id>": {"title", "kind", "data", ...}}``).

``version_evals(version, models_roots)`` is what the report calls: every model folder whose
``factory_train.json`` names the version (as the run's ``dataset_version`` or as the version of the data
of the step), with its results per kind; ``version_eval_report`` turns them into one report section:
a chart per benchmark (models x methods) and one per safety-under-attack style table.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from factory.llm.models import TRAIN_RECORD

SCHEMA = "factory-eval/1"
KINDS = ("loglik", "medprompt", "openended", "attack", "human")


def results_path(out_dir: Path, kind: str) -> Path:
    """``<out_dir>/results.json`` for ``loglik``, ``<out_dir>/<kind>/results.json`` otherwise."""
    return out_dir / "results.json" if kind == "loglik" else out_dir / kind / "results.json"


def provenance(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / TRAIN_RECORD
    return json.loads(path.read_text()) if path.exists() else {}


def header(
    kind: str, model_dir: Path, system_prompt: str | None, system_prompt_source: str
) -> dict[str, Any]:
    """The fields every results file starts with."""
    prov = provenance(model_dir)
    return {
        "schema": SCHEMA,
        "eval": kind,
        "model": str(model_dir),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "system_prompt": system_prompt,
        "system_prompt_source": system_prompt_source,
        "trained_on": {
            k: prov.get(k) for k in ("dataset_version", "recipe_hash", "train_hash", "trl_version", "step")
        },
    }


# What must match for an earlier run's benchmarks to stay beside a new run's in one results file.
_SAME_RUN = ("model", "system_prompt", "settings", "generator", "judge", "trained_on", "backend")


def keep_earlier(path: Path, results: dict[str, Any]) -> dict[str, Any]:
    """``results`` plus the benchmarks of the results file already at ``path`` that this run did not score,
    when that file came from the same model and settings (``factory eval mcqa --benchmark medqa``, then
    ``--benchmark medmcqa``, keeps both); otherwise ``results`` alone."""
    if not path.exists() or not isinstance(results.get("benchmarks"), dict):
        return results
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return results
    if not isinstance(old.get("benchmarks"), dict) or any(old.get(k) != results.get(k) for k in _SAME_RUN):
        return results
    earlier = {name: b for name, b in old["benchmarks"].items() if name not in results["benchmarks"]}
    if not earlier:
        return results
    runs = dict(old.get("earlier_runs") or {})
    runs.update({name: runs.get(name, old.get("created_at")) for name in earlier})
    return {**results, "benchmarks": {**earlier, **results["benchmarks"]}, "earlier_runs": runs}


def write_results(out_dir: Path, kind: str, results: dict[str, Any], rows: dict[str, list[dict]]) -> Path:
    """Write ``results.json`` and one JSONL of per-question records per benchmark; return the results path.
    Benchmarks of an earlier run with the same model and settings stay (``earlier_runs``: when each was run)."""
    path = results_path(out_dir, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    results = keep_earlier(path, results)
    for name, records in rows.items():
        with open(path.parent / f"{name}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return path


def load_results(model_dir: Path, out_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every evaluation's results of a model folder, by kind (kinds never run are absent)."""
    out_dir = out_dir or Path(model_dir) / "eval"
    found = {}
    for kind in KINDS:
        path = results_path(out_dir, kind)
        if path.exists():
            found[kind] = json.loads(path.read_text())
    return found


def _trained_from(prov: dict[str, Any], version: str) -> bool:
    data = prov.get("dataset") or {}
    return version in (prov.get("dataset_version"), data.get("version"))


def version_evals(version: str | Path, models_roots: list[Path]) -> list[dict[str, Any]]:
    """The models trained from a version (id, or its folder) found under ``models_roots`` (each searched
    two levels deep: ``models/<run>/<step>/factory_train.json``), with their evaluation results:
    ``[{"model", "step", "kind", "parent", "results": {kind: results}}]``, in training order per run."""
    vid = Path(version).name if Path(version).is_dir() else str(version)
    out = []
    for root in models_roots:
        for prov_path in sorted(Path(root).glob(f"*/*/{TRAIN_RECORD}")) + sorted(
            Path(root).glob(f"*/{TRAIN_RECORD}")
        ):
            prov = json.loads(prov_path.read_text())
            if not _trained_from(prov, vid):
                continue
            model = prov_path.parent
            out.append(
                {
                    "model": str(model),
                    "step": prov.get("step") or model.name,
                    "kind": prov.get("kind"),
                    "parent": prov.get("parent"),
                    "created_at": prov.get("created_at"),
                    "results": load_results(model),
                }
            )
    return sorted(out, key=lambda m: (str(Path(m["model"]).parent), m.get("created_at") or ""))


def method_scores(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """benchmark -> {method: accuracy} over every evaluation of one model (loglik zero-shot, generation
    zero-shot, CoT, Medprompt, open-ended judge accuracy)."""
    out: dict[str, dict[str, float]] = {}
    for name, b in (results.get("loglik") or {}).get("benchmarks", {}).items():
        if b.get("kind") == "mcqa":
            out.setdefault(name, {})["loglik zero-shot"] = b["accuracy"]
    for name, b in (results.get("medprompt") or {}).get("benchmarks", {}).items():
        for mode, entry in b["modes"].items():
            out.setdefault(name, {})[mode.replace("_", "-")] = entry["accuracy"]
    for name, b in (results.get("openended") or {}).get("benchmarks", {}).items():
        out.setdefault(name, {})["judged correct"] = b["accuracy"]
    for name, b in (results.get("human") or {}).get("benchmarks", {}).items():
        if b.get("preferred") is not None:  # a model folder's view of a human study (train/eval/human)
            out.setdefault(name, {})["preferred by raters"] = b["preferred"]
    return out


def version_eval_report(version: str | Path, models_roots: list[Path]) -> dict[str, Any]:
    """A report section for a version: the evaluated models, a grouped bar chart per benchmark (model ->
    method -> accuracy) and one of attack success rate per style (model -> style -> ASR)."""
    models = version_evals(version, models_roots)
    charts: dict[str, Any] = {}
    warnings = []
    for m in models:
        label = f"{Path(m['model']).parent.name}/{m['step']}"
        for bench, scores in method_scores(m["results"]).items():
            chart = charts.setdefault(
                f"eval_{bench}",
                {"title": f"{bench}: accuracy by model and method", "kind": "grouped_bar", "data": {},
                 "xlabel": "model", "ylabel": "accuracy"},
            )  # fmt: skip
            chart["data"][label] = scores
        attack = (m["results"].get("attack") or {}).get("summary")
        if attack:
            chart = charts.setdefault(
                "eval_attack_asr",
                {"title": "attack success rate by jailbreak style", "kind": "grouped_bar", "data": {},
                 "xlabel": "model", "ylabel": "ASR (judge)"},
            )  # fmt: skip
            chart["data"][label] = {
                s: v["asr"] for s, v in attack["by_style"].items() if v["asr"] is not None
            }
        for kind, res in m["results"].items():
            warnings += [f"{label} {kind}: {w}" for w in res.get("warnings", [])]
    return {
        "models": [{k: m[k] for k in ("model", "step", "kind", "parent")} | {"evals": sorted(m["results"])}
                   for m in models],
        "charts": charts,
        "warnings": warnings,
    }  # fmt: skip
