"""``factory eval compare A B ...``: the evaluations of several models side by side, with honest deltas.

Each folder is a model folder (its results in ``eval/``) or a results folder an ``--output-dir`` run wrote
(``results_folder`` finds which; a folder holding neither is an error). Its results
(``train.eval.results.load_results``) are read back to per-question scores from their JSONL logs: loglikelihood accuracy and keyword refusal rate, generation accuracy per mode
(zero-shot, CoT, Medprompt), open-ended judge accuracy, and attack success rate per jailbreak style.
For every metric the first model that has it is the reference; each other model gets its score, its 95%
interval, and its difference from the reference with the difference's 95% interval: a paired bootstrap
over the questions when both models answered the same questions (the usual case: same benchmark files,
same limit), else Newcombe's interval for two independent proportions. ``significant`` means that
interval excludes 0. ``plot_comparison`` draws the table as grouped bars with the intervals (matplotlib).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from train.eval.results import KINDS, load_results, results_path
from train.eval.stats import newcombe, paired_bootstrap, wilson

Metric = tuple[str, str, str]  # (evaluation, benchmark or style, method)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def results_folder(folder: Path) -> Path:
    """Where ``folder``'s results are: ``folder/eval`` for a model folder, ``folder`` itself for a folder an
    ``--output-dir`` run wrote; a FactoryError naming ``folder`` when neither holds results."""
    folder = Path(folder)
    for out in (folder / "eval", folder):
        if any(results_path(out, kind).exists() for kind in KINDS):
            return out
    raise FactoryError(
        f"no evaluation results in {folder}: expected a model folder with eval/results.json or "
        f"eval/<kind>/results.json, or a folder an --output-dir run wrote (kinds: {', '.join(KINDS)})"
    )


def item_scores(out_dir: Path) -> dict[Metric, dict[str, float]]:
    """metric -> {question key: score (0/1)} for every evaluation found in the results folder ``out_dir``."""
    res = load_results(out_dir, out_dir)
    found: dict[Metric, dict[str, float]] = {}
    for name, b in (res.get("loglik") or {}).get("benchmarks", {}).items():
        key = "correct" if b["kind"] == "mcqa" else "refusal"
        method = "loglik accuracy" if key == "correct" else "keyword refusal rate"
        found[("loglik", name, method)] = {
            str(r["id"]): float(r[key]) for r in _jsonl(out_dir / f"{name}.jsonl")
        }
    for name in (res.get("medprompt") or {}).get("benchmarks", {}):
        for r in _jsonl(out_dir / "medprompt" / f"{name}.jsonl"):
            for mode, m in r["modes"].items():
                found.setdefault(("medprompt", name, f"{mode} accuracy"), {})[str(r["id"])] = float(
                    m["correct"]
                )
    for name in (res.get("openended") or {}).get("benchmarks", {}):
        rows = _jsonl(out_dir / "openended" / f"{name}.jsonl")
        found[("openended", name, "judged correct")] = {
            str(r["id"]): float(r["verdict"] == "correct") for r in rows
        }
    for name in (res.get("human") or {}).get("benchmarks", {}):
        for r in _jsonl(out_dir / "human" / f"{name}.jsonl"):
            if r.get("outcome") is not None:  # a model's decisive votes in a human study (train/eval/human)
                found.setdefault(("human", name, "preferred by raters"), {})[r["id"]] = float(r["outcome"])
    attack = res.get("attack")
    if attack:
        for source in attack["settings"]["prompts"]:
            for r in _jsonl(out_dir / "attack" / f"{source['name']}.jsonl"):
                if r["unsafe"] is not None:
                    metric = ("attack", r["style"], "ASR (judge)")
                    found.setdefault(metric, {})[f"{r['source']}:{r['id']}"] = float(r["unsafe"])
    return found


def label(folder: Path) -> str:
    folder = Path(folder).resolve()
    return f"{folder.parent.name}/{folder.name}"


def compare(folders: list[Path], bootstrap_iters: int = 2000) -> dict[str, Any]:
    """The comparison of ``folders`` (model or results folders; first = reference): ``{"models": [labels],
    "paths", "results": [results folders], "rows": [...]}``, one row per metric with, per model, ``n``,
    ``score``, ``ci95``, and ``delta``, ``delta_ci95``, ``paired``, ``significant`` against the reference."""
    outs = [results_folder(f) for f in folders]
    scores = [item_scores(out) for out in outs]
    metrics = sorted({k for s in scores for k in s}, key=lambda k: (k[0] != "loglik", k))
    rows = []
    for metric in metrics:
        cells: list[dict[str, Any] | None] = []
        ref: dict[str, float] | None = None
        for s in scores:
            items = s.get(metric)
            if not items:
                cells.append(None)
                continue
            n, k = len(items), sum(items.values())
            low, high = wilson(k, n)
            cell: dict[str, Any] = {"n": n, "score": k / n, "ci95": [round(low, 4), round(high, 4)]}
            if ref is None:
                ref = items
            elif set(items) == set(ref):
                keys = sorted(items)
                lo, hi = paired_bootstrap([items[q] for q in keys], [ref[q] for q in keys], bootstrap_iters)
                cell.update(
                    delta=cell["score"] - sum(ref.values()) / len(ref), delta_ci95=[lo, hi], paired=True
                )
            else:
                lo, hi = newcombe(k, n, sum(ref.values()), len(ref))
                cell.update(
                    delta=cell["score"] - sum(ref.values()) / len(ref), delta_ci95=[lo, hi], paired=False
                )
            if "delta" in cell:
                cell["delta_ci95"] = [round(x, 4) for x in cell["delta_ci95"]]
                cell["significant"] = cell["delta_ci95"][0] > 0 or cell["delta_ci95"][1] < 0
            cells.append(cell)
        rows.append({"eval": metric[0], "benchmark": metric[1], "method": metric[2], "cells": cells})
    return {
        "models": [label(f) for f in folders],
        "paths": [str(f) for f in folders],
        "results": [str(out) for out in outs],
        "rows": rows,
    }


def comparison_table(comparison: dict[str, Any]) -> Any:
    """A rich table: a line per metric, a column per model (score [CI], then delta vs the first)."""
    from rich.table import Table

    table = Table(title="eval comparison (delta vs the first model; * = its 95% interval excludes 0)")
    table.add_column("evaluation")
    table.add_column("benchmark / style")
    table.add_column("metric")
    for name in comparison["models"]:
        table.add_column(name, justify="right")
    for row in comparison["rows"]:
        out = []
        for cell in row["cells"]:
            if cell is None:
                out.append("-")
                continue
            text = f"{cell['score']:.3f} [{cell['ci95'][0]:.2f}, {cell['ci95'][1]:.2f}] n={cell['n']}"
            if "delta" in cell:
                mark = "*" if cell["significant"] else ""
                text += f"\n{cell['delta']:+.3f} [{cell['delta_ci95'][0]:+.3f}, {cell['delta_ci95'][1]:+.3f}]{mark}"
            out.append(text)
        table.add_row(row["eval"], row["benchmark"], row["method"], *out)
    return table


def plot_comparison(comparison: dict[str, Any], path: Path) -> Path:
    """Grouped bars (one group per metric, one bar per model) with 95% intervals; written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, names = comparison["rows"], comparison["models"]
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(rows) * max(len(names), 1) * 0.6), 4.5))
    for j, name in enumerate(names):
        xs, ys, err = [], [], [[], []]
        for i, row in enumerate(rows):
            cell = row["cells"][j]
            if cell is None:
                continue
            xs.append(i + (j - (len(names) - 1) / 2) * width)
            ys.append(cell["score"])
            err[0].append(cell["score"] - cell["ci95"][0])
            err[1].append(cell["ci95"][1] - cell["score"])
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=name)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(
        [f"{r['benchmark']}\n{r['method']}" for r in rows], rotation=45, ha="right", fontsize=7
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("score (95% interval)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
