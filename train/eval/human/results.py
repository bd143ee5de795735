"""Study results: what the votes say about the models, with the uncertainty a few hundred votes carry.

In: the ``Study`` and its votes (``StudyDB.votes()``). Out (``study_results``), in the eval results schema
(``factory-eval/1``, kind ``human``; docs/EVAL.md), one benchmark entry named after the study:

- ``pairings``: per model pair, the votes, the decisive ones (A or B), each model's wins, the first model's
  preference share among decisive votes with its exact (Clopper-Pearson) 95% interval and the two-sided
  exact binomial test against 50% (scipy), and the can't-decide share with every reason given;
- ``bradley_terry``: each model's log-strength (choix, ILSR with a small ridge, centred on 0) from all
  decisive votes, with a 95% percentile interval from a bootstrap over votes;
- ``agreement``: on items rated by two or more raters, Krippendorff's alpha (nominal, A/B/can't decide;
  the ``krippendorff`` package), the raw share of agreeing rater pairs, and Cohen's kappa (scikit-learn)
  for each pair of raters sharing 5+ items;
- ``position``: how often the decisive vote went to the answer shown as A (a binomial test against 50%):
  the left/right randomisation makes this a bias check, not a confound;
- ``raters``: each rater's votes, A / B / can't-decide counts, the models they preferred, median seconds.

``write_study_results`` writes it to ``<study>/eval/human/results.json`` (+ one JSONL of votes), and to
``<model>/eval/human/`` of every model folder that exactly one profile used (per-model entry: preference
share over all its decisive votes, Bradley-Terry strength, per opponent), which ``factory eval compare``
and a version's report read like any other evaluation.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from train.eval.human.study import Study
from train.eval.results import SCHEMA, header, write_results

CODES = {"A": 0, "B": 1, "none": 2}


def exact_share(k: int, n: int) -> dict[str, Any]:
    """k of n with its exact 95% interval and the two-sided binomial test p-value against 1/2."""
    if n == 0:
        return {"k": 0, "n": 0, "share": None, "ci95": None, "p_value": None}
    from scipy.stats import binomtest

    test = binomtest(k, n, 0.5)
    ci = test.proportion_ci(confidence_level=0.95, method="exact")
    return {"k": k, "n": n, "share": round(k / n, 4), "ci95": [round(ci.low, 4), round(ci.high, 4)],
            "p_value": round(float(test.pvalue), 6)}  # fmt: skip


def pairings(study: Study, votes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for a, b in study.pairs():
        mine = [v for v in votes if {v["model_a"], v["model_b"]} == {a, b}]
        wins = Counter(v["winner"] for v in mine)
        undecided = [v for v in mine if v["winner"] is None]
        decisive = wins[a] + wins[b]
        la, lb = study.model(a).label, study.model(b).label
        out.append({
            "pair": [la, lb], "votes": len(mine), "decisive": decisive, "wins": {la: wins[a], lb: wins[b]},
            "first_preferred": exact_share(wins[a], decisive),
            "cant_decide": {"n": len(undecided), "share": round(len(undecided) / len(mine), 4) if mine else None,
                            "reasons": [v["reason"] for v in undecided]},
        })  # fmt: skip
    return out


def bradley_terry(study: Study, votes: list[dict[str, Any]], iters: int, seed: int) -> dict[str, Any]:
    """Log-strengths (mean 0) from decisive votes, with bootstrap 95% intervals; None when no vote decided."""
    import choix

    keys = [m.key for m in study.models]
    index = {k: i for i, k in enumerate(keys)}
    pairs = [(index[v["winner"]], index[v["model_b"] if v["winner"] == v["model_a"] else v["model_a"]])
             for v in votes if v["winner"] is not None]  # fmt: skip
    if not pairs:
        return {"n": 0, "models": {}}

    def fit(data: list[tuple[int, int]]) -> np.ndarray:
        params = choix.ilsr_pairwise(len(keys), data, alpha=0.01)
        return params - params.mean()

    point = fit(pairs)
    rng = np.random.default_rng(seed)
    draws = np.array([fit([pairs[i] for i in rng.integers(0, len(pairs), len(pairs))]) for _ in range(iters)])
    models = {}
    for k, i in index.items():
        low, high = np.percentile(draws[:, i], [2.5, 97.5]) if iters else (None, None)
        models[study.model(k).label] = {
            "strength": round(float(point[i]), 4),
            "ci95": [round(float(low), 4), round(float(high), 4)] if iters else None,
        }
    return {"n": len(pairs), "bootstrap": iters, "scale": "log-strength, mean 0 (choix ILSR, alpha 0.01)",
            "models": models}  # fmt: skip


def agreement(votes: list[dict[str, Any]]) -> dict[str, Any]:
    """Krippendorff's alpha, raw pairwise agreement and Cohen's kappa per rater pair, on overlapping items."""
    by_item: dict[str, dict[str, str]] = defaultdict(dict)
    for v in votes:
        by_item[v["item_id"]][v["rater"]] = v["choice"]
    shared = {i: r for i, r in by_item.items() if len(r) >= 2}
    out: dict[str, Any] = {"items": len(shared), "votes": sum(len(r) for r in shared.values()),
                           "krippendorff_alpha": None, "pairwise_agreement": None, "cohen_kappa": []}  # fmt: skip
    if not shared:
        return out
    names = sorted({name for r in shared.values() for name in r})
    matrix = np.full((len(names), len(shared)), np.nan)
    for j, r in enumerate(shared.values()):
        for name, choice in r.items():
            matrix[names.index(name), j] = CODES[choice]
    import krippendorff

    values = matrix[~np.isnan(matrix)]
    if len(set(values.tolist())) > 1:
        out["krippendorff_alpha"] = round(float(krippendorff.alpha(reliability_data=matrix,
                                                                   level_of_measurement="nominal")), 4)  # fmt: skip
    agree = [x == y for r in shared.values() for x, y in combinations(r.values(), 2)]
    out["pairwise_agreement"] = round(sum(agree) / len(agree), 4)
    from sklearn.metrics import cohen_kappa_score

    for x, y in combinations(names, 2):
        both = [r for r in shared.values() if x in r and y in r]
        if len(both) >= 5:
            a, b = [r[x] for r in both], [r[y] for r in both]
            kappa = cohen_kappa_score(a, b) if len(set(a) | set(b)) > 1 else 1.0
            out["cohen_kappa"].append({"raters": [x, y], "items": len(both), "kappa": round(float(kappa), 4)})
    return out


def per_rater(study: Study, votes: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for name in sorted({v["rater"] for v in votes}):
        mine = [v for v in votes if v["rater"] == name]
        choices = Counter(v["choice"] for v in mine)
        seconds = [v["seconds"] for v in mine if v["seconds"] is not None]
        out[name] = {
            "votes": len(mine), "A": choices["A"], "B": choices["B"], "cant_decide": choices["none"],
            "preferred": dict(Counter(study.model(v["winner"]).label for v in mine if v["winner"])),
            "median_seconds": round(statistics.median(seconds), 1) if seconds else None,
        }  # fmt: skip
    return out


def _charts(entry: dict[str, Any]) -> dict[str, Any]:
    charts: dict[str, Any] = {
        "human_pairings": {"title": "share preferred per model pair (decisive votes)", "kind": "grouped_bar",
                           "data": {" vs ".join(p["pair"]): {m: w / p["decisive"] for m, w in p["wins"].items()}
                                    for p in entry["pairings"] if p["decisive"]},
                           "xlabel": "pair", "ylabel": "share preferred"},
        "human_raters": {"title": "votes per rater", "kind": "grouped_bar", "xlabel": "rater", "ylabel": "votes",
                         "data": {n: {"A": r["A"], "B": r["B"], "can't decide": r["cant_decide"]}
                                  for n, r in entry["raters"].items()}},
    }  # fmt: skip
    if entry["bradley_terry"]["models"]:
        charts["human_bradley_terry"] = {
            "title": "Bradley-Terry log-strength", "kind": "bar", "ylabel": "log-strength",
            "data": {m: s["strength"] for m, s in entry["bradley_terry"]["models"].items()},
        }  # fmt: skip
    return charts


def study_results(
    study: Study, votes: list[dict[str, Any]], bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """The study's results file (``factory-eval/1``, eval ``human``)."""
    decisive = [v for v in votes if v["winner"] is not None]
    entry: dict[str, Any] = {
        "kind": "human", "votes": len(votes), "items_rated": len({v["item_id"] for v in votes}),
        "raters_voting": len({v["rater"] for v in votes}), "pairings": pairings(study, votes),
        "bradley_terry": bradley_terry(study, votes, bootstrap, seed), "agreement": agreement(votes),
        "position": {"chose_a": exact_share(sum(v["choice"] == "A" for v in decisive), len(decisive))},
        "raters": per_rater(study, votes),
    }  # fmt: skip
    entry["charts"] = _charts(entry)
    warnings = []
    if len(votes) < 30:
        warnings.append(f"only {len(votes)} votes: intervals are wide")
    if not entry["agreement"]["items"]:
        warnings.append("no item was rated by two raters: agreement not measured")
    one_way = [
        " vs ".join(p["pair"])
        for p in entry["pairings"]
        if p["decisive"] and p["first_preferred"]["share"] in (0, 1)
    ]
    if one_way:
        warnings.append(
            f"decided the same way in every vote: {', '.join(one_way)}; Bradley-Terry strengths there are held by "
            "the ridge (alpha 0.01) and their bootstrap intervals understate the uncertainty: read the exact "
            "binomial intervals of those pairs"
        )
    return {
        "schema": SCHEMA, "eval": "human", "model": [m.label for m in study.models],
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "system_prompt": None, "system_prompt_source": "per model (see models)",
        "study": {"id": study.study_id, "name": study.name, "items": len(study.items),
                  "rater_slots": sum(it.raters for it in study.items), "questions": study.questions},
        "models": [m.model_dump() for m in study.models], "settings": study.design.model_dump() | {"bootstrap": bootstrap},
        "benchmarks": {study.name: entry}, "warnings": warnings,
    }  # fmt: skip


def model_entry(
    study: Study, key: str, res: dict[str, Any], votes: list[dict[str, Any]]
) -> tuple[dict, list]:
    """One model's view of the study: its preference share over all its decisive votes, its strength, and
    per opponent; with one JSONL record per vote it took part in (``outcome`` 1 won, 0 lost, None undecided)."""
    entry = res["benchmarks"][study.name]
    label = study.model(key).label
    rows = []
    for v in votes:
        if key in (v["model_a"], v["model_b"]):
            other = v["model_b"] if v["model_a"] == key else v["model_a"]
            outcome = None if v["winner"] is None else int(v["winner"] == key)
            rows.append({"id": f"{v['item_id']}:{v['rater']}", "question_id": v["question_id"],
                         "opponent": study.model(other).label, "outcome": outcome})  # fmt: skip
    wins = sum(r["outcome"] == 1 for r in rows)
    decisive = sum(r["outcome"] is not None for r in rows)
    share = exact_share(wins, decisive)
    bt = entry["bradley_terry"]["models"].get(label, {})
    out = {
        "kind": "human", "study_id": study.study_id, "n": decisive, "votes": len(rows),
        "preferred": share["share"], "ci95": share["ci95"], "p_value": share["p_value"],
        "cant_decide": len(rows) - decisive, "bt_strength": bt.get("strength"), "bt_ci95": bt.get("ci95"),
        "opponents": {p["pair"][1] if p["pair"][0] == label else p["pair"][0]: p for p in entry["pairings"]
                      if label in p["pair"]},
    }  # fmt: skip
    out["charts"] = {"human_opponents": {"title": f"{label}: share preferred per opponent", "kind": "bar",
                                         "ylabel": "share preferred",
                                         "data": {o: p["wins"][label] / p["decisive"]
                                                  for o, p in out["opponents"].items() if p["decisive"]}}}  # fmt: skip
    return out, rows


def write_study_results(study_dir: Path, study: Study, res: dict[str, Any], votes: list[dict[str, Any]],
                        to_models: bool = True) -> list[Path]:  # fmt: skip
    """Write each model folder's own view (where one folder is one profile), then the study's results."""
    paths = []
    folders = Counter(m.backend["model"] for m in study.models if m.backend.get("kind") == "vllm")
    for m in study.models if to_models else []:
        folder = Path(m.backend["model"])
        if m.backend.get("kind") != "vllm" or not folder.is_dir():
            continue
        if folders[m.backend["model"]] > 1:
            res["warnings"].append(
                f"{m.label}: its model folder serves several profiles: no per-model results"
            )
            continue
        entry, rows = model_entry(study, m.key, res, votes)
        model_res = header("human", folder, m.system_prompt, m.system_prompt_source)
        model_res |= {"settings": {"study": str(Path(study_dir).resolve()), "sampling": m.sampling},
                      "benchmarks": {study.name: entry}, "warnings": res["warnings"]}  # fmt: skip
        paths.append(write_results(folder / "eval", "human", model_res, {study.name: rows}))
    return [write_results(Path(study_dir) / "eval", "human", res, {study.name: votes}), *paths]


def results_table(res: dict[str, Any]) -> Any:
    """A rich table: one line per model pair, then the Bradley-Terry strengths and the agreement."""
    from rich.table import Table

    entry = next(iter(res["benchmarks"].values()))
    table = Table(title=f"human evaluation: {res['study']['name']} ({entry['votes']} votes, "
                        f"{entry['raters_voting']} raters)")  # fmt: skip
    for col in (
        "pair (first vs second)",
        "votes",
        "first preferred [95% exact]",
        "p (binomial)",
        "can't decide",
    ):
        table.add_column(col)
    for p in entry["pairings"]:
        s = p["first_preferred"]
        share = (
            f"{s['share']:.2f} [{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}] ({s['k']}/{s['n']})"
            if s["n"]
            else "-"
        )
        cd = p["cant_decide"]
        table.add_row(" vs ".join(p["pair"]), str(p["votes"]), share, f"{s['p_value']:.3g}" if s["n"] else "-",
                      f"{cd['n']} ({cd['share']:.0%})" if p["votes"] else "-")  # fmt: skip
    for label, s in entry["bradley_terry"]["models"].items():
        ci = s["ci95"]
        table.add_row(f"BT {label}", "", f"{s['strength']:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""),
                      "", "")  # fmt: skip
    ag = entry["agreement"]
    table.add_row("agreement", str(ag["votes"]), f"alpha {ag['krippendorff_alpha']}", "",
                  f"pairs agree {ag['pairwise_agreement']}")  # fmt: skip
    return table
