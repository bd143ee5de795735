"""Real contamination: rows of the training files in ../shared/data that copy a benchmark item.

Runs the cheap tiers of the ``decontaminate`` stage (default params, ``include: [medical]``) over every
train-usable MCQA / open-QA file of ../shared/data, prints a markdown table (rows, rows dropped, by match
kind, rows left to the judge, top benchmarks) and a sample of dropped pairs (spread over the files with
hits) side by side (training row | benchmark item) to check by hand, with the verdict of the difflib
oracle of bench/decontam_eval.py beside each.

    python bench/real_contamination.py [--pairs 12] [--ngram 13]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from decontam_eval import DATA, candidates, load, oracle_copy, prompt_tokens  # noqa: E402

from factory.sources import load_source  # noqa: E402
from factory.stage import is_dropped  # noqa: E402
from filters.decontam.decontaminate import Decontaminate  # noqa: E402

TRAIN = [
    ("medmcqa_train_10k", "A_medical_mcqa/hpai_prompt_engine/medmcqa_val.json", "hpai_mcqa"),
    ("medqa_dev", "A_medical_mcqa/hpai_prompt_engine/medqa_4opt_val.json", "hpai_mcqa"),
    ("headqa_en_train", "A_medical_mcqa/headqa/train_HEAD_EN.json", "headqa"),
    ("headqa_en_dev", "A_medical_mcqa/headqa/dev_HEAD_EN.json", "headqa"),
    ("pubmedqa_train", "A_medical_mcqa/medagents_benchmark/pubmedqa/train.jsonl", "medagents"),
    ("pubmedqa_val", "A_medical_mcqa/hpai_prompt_engine/pubmedqa_val.json", "hpai_mcqa"),
    ("pubmedqa_pqal_all", "A_medical_mcqa/pubmedqa/ori_pqal.json", "pubmedqa"),
    ("mmlu_medical_dev_val", ["A_medical_mcqa/mmlu_medical/*_dev.csv", "A_medical_mcqa/mmlu_medical/*_val.csv"], "mmlu_csv"),
    ("afrimedqa_train", "A_medical_mcqa/medagents_benchmark/afrimedqa/train.jsonl", "medagents"),
    ("medexqa_train", "A_medical_mcqa/medagents_benchmark/medexqa/train.jsonl", "medagents"),
    ("medquad", "B_medical_openqa/medquad/medquad.jsonl", "medquad"),
    ("medicationqa", "B_medical_openqa/medicationqa/medicationqa.jsonl", "medicationqa"),
    ("chatdoctor_5k", "B_medical_openqa/chatdoctor/chatdoctor5k.json", "alpaca"),
    ("alpaca_en_demo", "D_instruction_pref/llama_factory_demo/alpaca_en_demo.json", "alpaca"),
]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--ngram", type=int, default=13)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    stage = Decontaminate(include=["medical"], ngram=args.ngram)
    stage.bind_runtime({"data_dir": str(DATA)})
    items = {
        r["id"]: r for cfg in stage.all_benchmarks() for r in load_source(cfg, DATA) if not is_dropped(r)
    }
    kinds = ("ngram", "question", "options", "terms")
    print(
        f"| training file | rows | dropped | {' | '.join(kinds)} | oracle-confirmed | to the judge | top benchmarks |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    flagged_all = []
    for name, path, adapter in TRAIN:
        rows = load(name, path, adapter)
        cands, _ = candidates(stage, rows)
        hits = [(r, next(c for c in cs if c.confident)) for r, cs in zip(rows, cands, strict=True)
                if any(c.confident for c in cs)]  # fmt: skip
        judge = sum(1 for cs in cands if cs and not any(c.confident for c in cs))
        per_kind = Counter(c.kind for _, c in hits)
        benches = Counter(b for _, c in hits for b in [c.benchmark, *(i.split(":")[0] for i in c.also)])
        confirmed = sum(oracle_copy(r, items[c.item]) for r, c in hits)
        top = ", ".join(f"{b} {n}" for b, n in benches.most_common(3))
        cells = " | ".join(str(per_kind[k]) for k in kinds)
        print(f"| {name} | {len(rows)} | {len(hits)} | {cells} | {confirmed} | {judge} | {top} |")
        flagged_all += [(name, r, c) for r, c in hits]
    rng = random.Random(args.seed)
    by_file: dict[str, list] = {}
    for entry in flagged_all:
        by_file.setdefault(entry[0], []).append(entry)
    per_file = -(-args.pairs // max(len(by_file), 1))  # spread the sample over the files with hits
    sample = [e for entries in by_file.values() for e in rng.sample(entries, min(per_file, len(entries)))]
    print(f"\nSample of {len(sample)} dropped pairs (training row | benchmark item):\n")
    for _name, row, cand in sample:
        item = items[cand.item]
        print(f"### {row['id']}  ->  {item['id']}  [{cand.kind}: {cand.evidence[:90]}]")
        print(f"- oracle: {'copy' if oracle_copy(row, item) else 'NOT a copy'}")
        print(f"- train: {' '.join(prompt_tokens(row))[:400]}")
        print(f"- bench: {' '.join(prompt_tokens(item))[:400]}\n")


if __name__ == "__main__":
    main()
