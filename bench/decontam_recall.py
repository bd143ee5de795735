"""Candidate recall of decontamination on the project's hand-written rephrasings, and the judge load it costs.

Rephrasings: bench/data/decontam/rephrased_by_hand.jsonl (130 benchmark items of
filters/decontam/benchmarks/medical.yaml, picked by ``sample_items`` with seed 22, each rewritten by hand
to disguise it: see rephrased_by_hand.md). Clean rows: rephrased_by_hand.clean.jsonl, references (source,
row id) to 400 rows of the training sources of recipes/medical_basic.yaml picked by ``sample_clean``, re-read
here from ../shared/data (none is a benchmark item: exact question copies were left out when sampling).

For each configuration the ``decontaminate`` stage (``action: mark``) scores every row, and this prints:

- ``recall``: rephrasings with a candidate of the RIGHT item (any copy of it in another benchmark file
  counts) among the stage's ``contam_candidates``: they are dropped or reach the judge;
- ``reach``: the same, counting only what the judge asks about (its ``max_candidates`` = 2 best);
- ``dropped``: rephrasings with a confident match of the right item (dropped without the judge), and
  ``wrong``: confident matches of another item;
- ``judge load``: clean rows with candidates but no confident one (sent to the judge), and clean rows
  dropped outright; per tier: the rows whose right item a tier found / the clean rows it sends on;
- the same recall and judge load on half A (even positions of the rephrasings and of the clean rows) and
  half B (odd positions): the fused weights and threshold were chosen on half A only.

``--semantic`` adds the MiniLM tier as shipped, the previous recipe setting (``BEFORE``: cheap
``candidate_cover`` 0.4; semantic ``question_view``, ``top_k`` 2, ``min_cosine`` 0.8, ``min_margin`` 1.4) and
the recipe's fused setting (``RECIPE``, recipes/aloe_beta.yaml); ``--only cheap,before,recipe`` keeps the
configurations whose label starts with those words; ``--sweep`` also the previous setting at other floors,
margins and ``top_k`` from one encoding (the stage's own ``SemanticIndex.merge``); ``--fit`` refits the fused
weights on half A and prints recall and judge load per threshold on both halves, the whole set and the
held-out sets; ``--stage`` runs each configuration through ``factory.testing.run_stage`` too and
checks the clean rows it sends to the judge against these counts; ``--held-out`` adds, per configuration, the
recall on the model-written rephrasings (rephrased.jsonl, stems alone) and the judge load on a second clean
sample, neither used to choose the setting. ``--check-sample`` checks the two files against the seeded
samples. Item embeddings are kept in ``--store`` (the first run encodes ~14.6k items, ~27k with
``question_view``: minutes to an hour on a busy CPU).

    flock /work/notes/heavy.lock .venv/bin/python bench/decontam_recall.py --semantic --stage --held-out [--sweep] [--fit]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from factory.rows import make_row  # noqa: E402
from factory.sources import SourceConfig, load_source  # noqa: E402
from factory.stage import is_dropped  # noqa: E402
from filters.decontam.decontaminate import COLUMN, Decontaminate, read_benchmark_list  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
HAND = ROOT / "bench" / "data" / "decontam" / "rephrased_by_hand.jsonl"
CLEAN = ROOT / "bench" / "data" / "decontam" / "rephrased_by_hand.clean.jsonl"
SEED = 22
FAMILIES = {"medqa_test": 26, "medmcqa_dev": 26, "mmlu_medical_test_csv": 26, "careqa_test": 26,
            "pubmedqa_test": 26}  # fmt: skip
CLEAN_SOURCES = {"medmcqa_train_10k": 90, "headqa_en_train": 70, "pubmedqa_train": 50, "medquad": 70,
                 "chatdoctor_5k": 50, "medsafetybench_train": 25, "alpaca_en_demo": 25,
                 "hh_rlhf_harmless": 10, "dpo_en_demo": 10}  # fmt: skip
SKIP_WORDS = ("image", "figure", "shown below", "picture", "graph")  # items that need a picture
TIERS = ("ngram", "question", "options", "terms", "semantic")
JUDGED = 2  # contamination_judge's default max_candidates


def benchmark_items(name: str) -> list[dict]:
    cfg = next(c for c in read_benchmark_list("medical") if c.name == name)
    return [r for r in load_source(cfg, DATA) if not is_dropped(r) and r.get("question")]


def sample_items(seed: int = SEED) -> list[tuple[str, str]]:
    """(benchmark, item id) of the items the hand file rewrites: a seeded shuffle of each family's items,
    the first ones with distinct options and no picture."""
    rng = random.Random(seed)
    out = []
    for cfg in read_benchmark_list("medical"):
        if cfg.name in FAMILIES:
            rows = benchmark_items(cfg.name)
            ok = [r for r in rng.sample(rows, len(rows))
                  if not any(w in r["question"].lower() for w in SKIP_WORDS)
                  and len(set(r.get("options") or [])) == len(r.get("options") or [])]  # fmt: skip
            out += [(cfg.name, r["id"]) for r in ok[: FAMILIES[cfg.name]]]
    return out


@functools.cache
def _sources() -> dict[str, SourceConfig]:
    import yaml

    recipe = yaml.safe_load((ROOT / "recipes" / "medical_basic.yaml").read_text())
    return {s["name"]: SourceConfig(**s) for s in recipe["sources"] if s["name"] in CLEAN_SOURCES}


def sample_clean(seed: int = SEED) -> list[dict[str, str]]:
    """References to clean training rows: per source of ``CLEAN_SOURCES``, a seeded sample of rows whose
    normalised question is no benchmark item's question."""
    from filters.decontam.text import tokens

    questions = {" ".join(tokens(r["question"])) for name in {c.name for c in read_benchmark_list("medical")}
                 for r in benchmark_items(name)}  # fmt: skip
    rng = random.Random(seed)
    out = []
    for name, n in CLEAN_SOURCES.items():
        cfg = _sources()[name]
        rows = [r for r in load_source(cfg, DATA) if not is_dropped(r)]
        ok = [r for r in rng.sample(rows, len(rows)) if " ".join(tokens(r.get("question") or "")) not in questions]
        out += [{"source": name, "path": cfg.path, "adapter": cfg.adapter, "row": r["id"]} for r in ok[:n]]
    return out


def rephrased_rows() -> tuple[list[dict], list[dict]]:
    """The hand file as training rows (ids ``hand:NNN``) and its records."""
    recs = [json.loads(x) for x in HAND.read_text().splitlines() if x.strip()]
    return [make_row(id=r["id"], source="rephrased", **r["row"]) for r in recs], recs


def held_out() -> tuple[list[dict], list[dict], list[dict]]:
    """Rows never used to choose a setting: the model-written rephrasings (bench/data/decontam/rephrased.jsonl,
    question stems alone, as QA rows) with their records, and a second clean sample (seed 99, twice
    ``CLEAN_SOURCES``, none of the rows of the clean file)."""
    model = [json.loads(x) for x in (HAND.parent / "rephrased.jsonl").read_text().splitlines() if x.strip()]
    rows = [make_row(id=f"model:{i}", source="rephrased", kind="qa", question=r["rephrased"], answer="...")
            for i, r in enumerate(model)]  # fmt: skip
    taken = {json.loads(x)["row"] for x in CLEAN.read_text().splitlines() if x.strip()}
    rng, clean = random.Random(99), []
    for name, n in CLEAN_SOURCES.items():
        pool = [r for r in load_source(_sources()[name], DATA) if not is_dropped(r) and r["id"] not in taken]
        clean += rng.sample(pool, min(len(pool), 2 * n))
    return rows, model, clean


def clean_rows() -> list[dict]:
    refs = [json.loads(x) for x in CLEAN.read_text().splitlines() if x.strip()]
    by_source: dict[str, dict[str, dict]] = {}
    for name in {r["source"] for r in refs}:
        by_source[name] = {r["id"]: r for r in load_source(_sources()[name], DATA)}
    return [by_source[r["source"]][r["row"]] for r in refs]


# -- measuring -----------------------------------------------------------------------------------------
def groups_of(stage: Decontaminate) -> dict[str, int]:
    """Item id -> its group in the stage's index (copies of one item in several benchmark files)."""
    return {item: gi for gi, g in enumerate(stage._index.groups) for _, item in g.members}


def score(cands: list[list], recs: list[dict], n_clean: int, group: dict[str, int]) -> dict[str, Any]:
    """The figures of one configuration from every row's candidates (rephrased rows first)."""
    reph, clean = cands[: len(recs)], cands[len(recs) :]
    res: dict[str, Any] = {"n": len(recs), "n_clean": n_clean, "found": [], "reach": 0, "dropped": 0, "wrong": 0}
    for cs, rec in zip(reph, recs, strict=True):
        right = [c for c in cs if c.group == group[rec["item"]]]
        res["found"].append(bool(right))
        res["dropped"] += any(c.confident for c in right)
        res["wrong"] += any(c.confident for c in cs) and not any(c.confident for c in right)
        sure = any(c.confident for c in cs)
        res["reach"] += bool(right) and (right[0].confident or (not sure and right[0] in
                                                                [c for c in cs if not c.confident][:JUDGED]))
    sent = [bool(cs) and not any(c.confident for c in cs) for cs in clean]
    res["judged_clean"] = sum(sent)
    res["halves"] = [(sum(res["found"][h::2]), len(res["found"][h::2]), sum(sent[h::2]), len(sent[h::2])) for h in (0, 1)]
    res["dropped_clean"] = sum(1 for cs in clean if any(c.confident for c in cs))
    res["tiers"] = {t: (sum(any(c.group == group[r["item"]] and t in c.tiers for c in cs) for cs, r in zip(reph, recs, strict=True)),
                        sum(1 for cs in clean if any(t in c.tiers for c in cs) and not any(c.confident for c in cs)))
                    for t in TIERS}  # fmt: skip
    return res


def line(label: str, res: dict) -> str:
    n, m = res["n"], res["n_clean"]
    found = sum(res["found"])
    halves = " | ".join(f"{f / n_:.3f} / {s / m_:.1%}" for f, n_, s, m_ in res["halves"])
    return (f"| {label} | {found}/{n} = {found / n:.3f} | {res['reach'] / n:.3f} | {res['dropped']} | {res['wrong']} | "
            f"{res['judged_clean']}/{m} = {res['judged_clean'] / m:.1%} | {res['dropped_clean']} | {halves} |")  # fmt: skip


HEAD = ["| configuration | candidate recall | reach (judge's 2 best) | dropped (right item) | dropped (other item) "
        "| judge load (clean rows) | clean dropped | half A: recall / load | half B: recall / load |",
        "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip


def breakdown(res: dict, recs: list[dict]) -> list[str]:
    """Recall per benchmark family and per kind of disguise; per-tier figures."""
    out = []
    for key in ("benchmark", "kind"):
        total, hit = Counter(r[key] for r in recs), Counter(r[key] for r, f in zip(recs, res["found"], strict=True) if f)
        out.append(f"  per {key}: " + ", ".join(f"{k} {hit[k]}/{total[k]}" for k in sorted(total)))
    out.append("  per tier (right item found / clean rows sent on): "
               + ", ".join(f"{t} {a}/{b}" for t, (a, b) in res["tiers"].items() if a or b))  # fmt: skip
    missed = [r["id"] for r, f in zip(recs, res["found"], strict=True) if not f]
    out.append(f"  missed ({len(missed)}): {' '.join(missed)}")
    return out


def make_stage(store: Path, **params: Any) -> Decontaminate:
    stage = Decontaminate(include=["medical"], action="mark", **params)
    stage.bind_runtime({"data_dir": str(DATA), "store_dir": str(store)})
    t0 = time.perf_counter()
    stage.setup()
    print(f"  (setup {time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return stage


def check_with_stage(stage: Decontaminate, rows: list[dict], res: dict, store: Path) -> str:
    """Runs the stage through the runner and compares its report's judge load with ``res``."""
    from factory.testing import run_stage

    params = stage.model_dump(exclude={"type"})
    kept, _, stats = run_stage(Decontaminate(**params), rows, data_dir=DATA, store_dir=store)
    clean = [r for r in kept if r["source"] != "rephrased"]
    sent = sum(1 for r in clean if r[COLUMN] and not any(c["confident"] for c in r[COLUMN]))
    report = stats["report"]
    load = report.get("judge_load")
    assert sent == res["judged_clean"], (sent, res["judged_clean"])
    return f"  stage run: {sent} clean rows sent to the judge (as counted here); report judge_load = {load}"


def sweep(stage: Decontaminate, rows: list[dict], recs: list[dict], n_clean: int) -> list[str]:
    """The stage's semantic tier at other floors, margins and top_k (one encoding; the stage's own
    ``SemanticIndex.merge``)."""
    sem = stage._semantic
    texts = [stage.prompt_text(r) for r in rows]
    t0 = time.perf_counter()
    groups, cosines = sem.neighbours(texts)  # the recipe's setting has a margin: MARGIN_K columns
    print(f"  (encoded {len(texts)} rows in {time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    found = stage._index.match_rows([stage._parts(r) for r in rows])
    group = groups_of(stage)
    out = []
    for k, floor, margin in itertools.product((1, 2), (0.7, 0.75, 0.8, 0.85), (None, 1.3, 1.35, 1.4, 1.5)):
        sem.cfg = stage.semantic.model_copy(update={"top_k": k, "min_cosine": floor, "min_margin": margin})
        cands = sem.merge(found, groups, cosines, stage.max_candidates)
        label = f"+ semantic, top_k {k}, min_cosine {floor}, min_margin {margin}"
        out.append(line(label, score(cands, recs, n_clean, group)))
    sem.cfg = stage.semantic
    return out


def fit(stage: Decontaminate, rows: list[dict], recs: list[dict], other: list[dict], other_recs: list[dict]) -> list[str]:
    """The fused weights refitted: logistic regression (C=10, balanced classes) on half A (even positions) of
    the rephrasings (their right item's pool entries are positives) and of the clean rows (every pool entry
    a negative), then recall and judge load per threshold on half A, half B, the whole set and held out."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    def features(rs: list[dict], n_pos: int, right: list[int]):
        parts = [stage._parts(r) for r in rs]
        found = stage._index.match_rows(parts)
        pools, feats = stage._semantic.pair_features([stage.prompt_text(r) for r in rs], parts, found)
        labels = [np.array([g == right[i] for g in p]) if i < n_pos else np.zeros(len(p), bool)
                  for i, p in enumerate(pools)]  # fmt: skip
        sure = [any(c.confident for c in cs) for cs in found]
        hit = [any(c.confident and c.group == right[i] for c in cs) if i < n_pos else False
               for i, cs in enumerate(found)]  # fmt: skip
        return feats, labels, sure, hit

    group = groups_of(stage)
    n = len(recs)
    feats, labels, sure, hit = features(rows, n, [group[r["item"]] for r in recs])
    train = [i for i in range(len(rows)) if (i if i < n else i - n) % 2 == 0]
    model = LogisticRegression(C=10.0, max_iter=5000, class_weight="balanced")
    model.fit(np.concatenate([feats[i] for i in train]), np.concatenate([labels[i] for i in train]))
    o_feats, o_labels, o_sure, o_hit = features(other, len(other_recs), [group[r["item"]] for r in other_recs])
    names = ("cosine", "margin", "bm25", "question_terms", "terms")
    weights = ", ".join(f"{k} {w:.2f}" for k, w in zip(names, model.coef_[0], strict=True))
    out = [f"fused weights fitted on half A: {weights}, bias {model.intercept_[0]:.2f}"]
    scores = [model.decision_function(f) for f in feats]
    o_scores = [model.decision_function(f) for f in o_feats]
    m = len(other_recs)

    def rate(tau: float, sc: list, ls: list, su: list, hi: list, pick: range, positive: bool) -> float:
        if positive:  # a rephrasing: its right item dropped, or sent to the judge
            vals = [hi[i] or bool((sc[i] >= tau)[ls[i]].any()) for i in pick]
        else:  # a clean row sent to the judge
            vals = [not su[i] and bool((sc[i] >= tau).any()) for i in pick]
        return sum(vals) / max(len(vals), 1)

    for tau in (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5):
        mine = (scores, labels, sure, hit)
        a = [rate(tau, *mine, range(h, n, 2), True) for h in (0, 1)]
        a += [rate(tau, *mine, range(n + h, len(rows), 2), False) for h in (0, 1)]
        w = [rate(tau, *mine, range(n), True), rate(tau, *mine, range(n, len(rows)), False)]
        theirs = (o_scores, o_labels, o_sure, o_hit)
        ho = [rate(tau, *theirs, range(m), True), rate(tau, *theirs, range(m, len(other)), False)]
        out.append(f"  threshold {tau:.2f}: half A {a[0]:.3f} / {a[2]:.1%}, half B {a[1]:.3f} / {a[3]:.1%}, "
                   f"whole {w[0]:.3f} / {w[1]:.1%}, held out {ho[0]:.3f} / {ho[1]:.1%} (recall / judge load)")  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--semantic", action="store_true", help="also the MiniLM tier at the shipped recipe's setting")
    ap.add_argument("--sweep", action="store_true", help="the semantic tier at several floors and top_k")
    ap.add_argument("--stage", action="store_true", help="also run each configuration through run_stage")
    ap.add_argument("--store", type=Path, default=Path("/tmp/decontam_recall_store"))
    ap.add_argument("--check-sample", action="store_true", help="check the files against the seeded samples")
    ap.add_argument("--held-out", action="store_true", help="also the model-written set and a 2nd clean sample")
    ap.add_argument("--fit", action="store_true", help="refit the fused weights on half A (needs scikit-learn)")
    ap.add_argument("--only", default="", help="comma-separated first words of the configurations to run")
    args = ap.parse_args()
    reph, recs = rephrased_rows()
    clean = clean_rows()
    if args.check_sample:
        assert [(r["benchmark"], r["item"]) for r in recs] == sample_items(), "items differ from the seeded sample"
        assert [json.loads(x) for x in CLEAN.read_text().splitlines()] == sample_clean(), "clean rows differ"
        print("the hand file's items and the clean rows are the seeded samples")
    rows = reph + clean
    print(f"{len(reph)} rephrasings ({dict(Counter(r['benchmark'] for r in recs))}), {len(clean)} clean rows "
          f"({dict(Counter(r['source'] for r in clean))})\n")  # fmt: skip
    configs: list[tuple[str, dict]] = [("cheap tiers (default)", {}),
                                       ("cheap tiers, candidate_cover 0.4", {"candidate_cover": 0.4})]  # fmt: skip
    if args.semantic or args.sweep:
        configs += [("+ semantic as shipped (min_cosine 0.75, top_k 1)", {"semantic": {}}),
                    ("+ semantic as shipped, min_cosine 0.6, top_k 2", {"semantic": {"min_cosine": 0.6, "top_k": 2}}),
                    ("before: candidate_cover 0.4 + semantic " + json.dumps(BEFORE["semantic"]), BEFORE),
                    ("recipe: candidate_cover 0.4 + fused " + json.dumps(RECIPE["semantic"]), RECIPE)]  # fmt: skip
    if args.only:
        configs = [(label, p) for label, p in configs if label.split()[0].strip(":") in args.only.split(",")]
    table, notes = list(HEAD), []
    for label, params in configs:
        stage = make_stage(args.store, **params)
        cands = stage.candidates(rows)
        res = score(cands, recs, len(clean), groups_of(stage))
        table.append(line(label, res))
        notes += [f"{label}:", *breakdown(res, recs)]
        if args.stage:
            notes.append(check_with_stage(stage, rows, res, args.store))
        if args.held_out:
            m_rows, m_recs, clean2 = held_out()
            other = score(stage.candidates(m_rows + clean2), m_recs, len(clean2), groups_of(stage))
            table.append(line(f"  held out: model-written set ({len(m_rows)}), 2nd clean sample", other))
        if args.sweep and params is BEFORE:
            table += sweep(stage, rows, recs, len(clean))
        if args.fit and params is RECIPE:
            m_rows, m_recs, clean2 = held_out()
            notes += fit(stage, rows, recs, m_rows + clean2, m_recs)
    print("\n".join(table + [""] + notes))


BEFORE: dict[str, Any] = {  # recipes/aloe_beta.yaml's setting before the fused score (issue 22, first pass)
    "candidate_cover": 0.4,
    "semantic": {"min_cosine": 0.8, "min_margin": 1.4, "top_k": 2, "question_view": True},
}
RECIPE: dict[str, Any] = {  # recipes/aloe_beta.yaml's decontaminate setting (see its comment)
    "candidate_cover": 0.4,
    "semantic": {"question_view": True, "top_k": 2, "lexical_top_k": 2, "min_fused": 1.0},
}

if __name__ == "__main__":
    main()
