"""Real contamination: rows of the training files in ../shared/data that copy a benchmark item.

Runs the ``decontaminate`` stage (default params, ``include: [medical]``) over every train-usable MCQA /
open-QA file of ../shared/data, prints a markdown table (rows, rows flagged, by match kind, top benchmarks)
and a sample of flagged pairs (spread over the files with hits) side by side (training row | benchmark item) to check by hand, with the
verdict of the difflib oracle of bench/decontam_eval.py beside each.

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

from decontam_eval import DATA, load, oracle_copy, prompt_tokens, run_stage_keys  # noqa: E402

from factory.sources import load_source  # noqa: E402
from factory.stage import is_dropped  # noqa: E402
from filters.decontam import Decontaminate  # noqa: E402

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
    items = {
        r["id"]: r for cfg in stage.all_benchmarks() for r in load_source(cfg, DATA) if not is_dropped(r)
    }
    print(
        "| training file | rows | flagged | ngram | question | options | oracle-confirmed | top benchmarks |"
    )
    print("|---|---|---|---|---|---|---|---|")
    flagged_all = []
    for name, path, adapter in TRAIN:
        rows = load(name, path, adapter)
        keys, _, _ = run_stage_keys(stage, rows)
        hits = [(r, k) for r, k in zip(rows, keys, strict=True) if k["match"]]
        kinds = Counter(k["hit_benchmarks"].split("|")[0] for _, k in hits)
        benches = Counter(b for _, k in hits for b in k["hit_benchmarks"].split("|")[1].split(","))
        confirmed = sum(oracle_copy(r, items[_item(k)]) for r, k in hits)
        top = ", ".join(f"{b} {c}" for b, c in benches.most_common(3))
        print(f"| {name} | {len(rows)} | {len(hits)} | {kinds['ngram']} | {kinds['question']} | "
              f"{kinds['options']} | {confirmed} | {top} |")  # fmt: skip
        flagged_all += [(name, r, k) for r, k in hits]
    rng = random.Random(args.seed)
    by_file: dict[str, list] = {}
    for entry in flagged_all:
        by_file.setdefault(entry[0], []).append(entry)
    per_file = -(-args.pairs // max(len(by_file), 1))  # spread the sample over the files with hits
    sample = [e for entries in by_file.values() for e in rng.sample(entries, min(per_file, len(entries)))]
    print(f"\nSample of {len(sample)} flagged pairs (training row | benchmark item):\n")
    for _name, row, key in sample:
        item = items[_item(key)]
        print(f"### {row['id']}  ->  {item['id']}  [{key['match'].split(' match=')[1][:90]}]")
        print(f"- oracle: {'copy' if oracle_copy(row, item) else 'NOT a copy'}")
        print(f"- train: {' '.join(prompt_tokens(row))[:400]}")
        print(f"- bench: {' '.join(prompt_tokens(item))[:400]}\n")


def _item(key: dict) -> str:
    return key["match"].split(" item=", 1)[1].split(" ", 1)[0]


if __name__ == "__main__":
    main()
