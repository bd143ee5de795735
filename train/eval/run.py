"""Evaluations of one model with one ``EvalSpec``: what ``factory eval <task>`` runs for each model.

``run_evals(model, spec, which, ...)`` runs, in order, the lm-eval loglikelihood scores (``loglik``, the
``mcqa`` command: zero-shot MCQA accuracy and keyword refusal rate), then the generative evaluations
(``medprompt``, ``openended``, ``attack``) sharing one ``EvalContext`` (one generator, one judge). Results
go to ``<out_dir>`` (default ``<model>/eval``). ``generative_tables`` renders the generative results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from train.eval.generative import EvalContext, system_prompt_for
from train.eval.specs import EvalSpec

GENERATIVE = ("medprompt", "openended", "attack")


def run_evals(
    model_dir: Path,
    spec: EvalSpec,
    which: list[str],
    data_dir: Path,
    recipe_prompt: str | None = None,
    store: Path | None = None,
    out_dir: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the evaluations named in ``which`` (``loglik`` and/or ``GENERATIVE``); results by kind."""
    model_dir = Path(model_dir).resolve()
    out_dir = Path(out_dir or model_dir / "eval")
    system = system_prompt_for(model_dir, spec.system_prompt, recipe_prompt)
    done: dict[str, dict[str, Any]] = {}
    if "loglik" in which:
        from train.eval.mcqa import evaluate_model

        done["loglik"] = evaluate_model(model_dir, spec, data_dir, system=system, out_dir=out_dir)
    todo = [w for w in GENERATIVE if w in which]
    if not todo:
        return done
    ctx = EvalContext(
        model_dir=model_dir,
        out_dir=out_dir,
        data_dir=Path(data_dir),
        spec=spec.generative,
        system_prompt=system[0],
        system_prompt_source=system[1],
        device=spec.device,
        store=store,
    )
    try:
        if "medprompt" in todo:
            from train.eval.medprompt_eval import evaluate_medprompt

            done["medprompt"] = evaluate_medprompt(ctx, spec.benchmarks, spec.limit)
        if "openended" in todo:
            from train.eval.openended import evaluate_openended

            done["openended"] = evaluate_openended(ctx, spec.limit)
        if "attack" in todo:
            from train.eval.safety import evaluate_attack

            done["attack"] = evaluate_attack(ctx, spec.limit)
    finally:
        ctx.close()
    return done


def _ci(entry: dict[str, Any]) -> str:
    return "{:.3f}-{:.3f}".format(*entry["ci95"]) if entry.get("ci95") else ""


def generative_tables(results: dict[str, dict[str, Any]]) -> list[Any]:
    """Rich tables of the generative results (medprompt modes side by side, open-ended, attack)."""
    from rich.table import Table

    tables = []
    med = results.get("medprompt")
    if med:
        modes = med["settings"]["modes"]
        t = Table(
            title=f"generation accuracy ({med['generator']['kind']}: {Path(med['generator']['model']).name})"
        )
        t.add_column("benchmark")
        t.add_column("n", justify="right")
        for mode in modes:
            t.add_column(f"{mode} [95% CI]", justify="right")
        t.add_column("baseline", justify="right")
        t.add_column("predicted letters (last mode)")
        for name, b in med["benchmarks"].items():
            cells = [f"{b['modes'][m]['accuracy']:.3f} [{_ci(b['modes'][m])}]" for m in modes]
            last = b["modes"][modes[-1]]
            base = last["majority_baseline"]
            letters = " ".join(f"{k}:{v}" for k, v in last["pred_letters"].items())
            t.add_row(name, str(b["n"]), *cells, f"{base['accuracy']:.3f} ({base['letter']})", letters)
        tables.append(t)
    oe = results.get("openended")
    if oe:
        judge = oe["judge"]
        t = Table(
            title=f"open-ended (judge: {Path(judge['model']).name}{', self-judged' if judge['self_judged'] else ''})"
        )
        for col in ("benchmark", "n", "correct [95% CI]", "score", "verdicts"):
            t.add_column(col, justify="left" if col in ("benchmark", "verdicts") else "right")
        for name, b in oe["benchmarks"].items():
            verdicts = " ".join(f"{k}:{v}" for k, v in b["verdicts"].items() if v)
            t.add_row(name, str(b["n"]), f"{b['accuracy']:.3f} [{_ci(b)}]", f"{b['score']:.3f}", verdicts)
        tables.append(t)
    at = results.get("attack")
    if at:
        judge = at["judge"]
        t = Table(
            title=f"attack success rate: {at['prompts']} held-out prompts "
            f"({at['excluded_seen_in_training']} seen in training left out; judge: {Path(judge['model']).name}"
            f"{', self-judged' if judge['self_judged'] else ''})"
        )
        for col in ("style", "attacks", "judged", "ASR (judge) [95% CI]", "ASR (keyword)"):
            t.add_column(col, justify="left" if col == "style" else "right")
        rows = [*at["summary"]["by_style"].items(), ("all jailbreak styles", at["summary"]["overall"])]
        for style, v in rows:
            asr = "-" if v["asr"] is None else f"{v['asr']:.3f} [{_ci(v)}]"
            kw = "-" if v["asr_keyword"] is None else f"{v['asr_keyword']:.3f}"
            t.add_row(style, str(v["attacks"]), str(v["judged"]), asr, kw)
        tables.append(t)
    return tables
