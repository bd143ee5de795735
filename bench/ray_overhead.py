"""Where does Ray pay off? The same recipe built in process and on embedded local Ray, by input size.

Each build runs in a fresh subprocess (so Ray's start-up is counted, as a `factory build` pays it) with a
fresh store (no cache). Rows are synthetic open-QA pairs of ~1 KB made of medical-sounding sentences;
the stages are the CPU cleaning chain of the quickstart: normalize, length_filter, language_id,
threshold, exact_dedup, to_chat.

    python bench/ray_overhead.py --sizes 1000 10000 100000 300000 [--cpus 2]

Prints a markdown table: total wall, stage wall (sum over stages), rows/s, and the Ray/local ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "patient presents with acute chronic pain fever cough dyspnea hypertension diabetes insulin renal hepatic "
    "cardiac murmur biopsy lesion therapy dose daily mg oral intravenous infection bacterial viral antibiotic "
    "diagnosis prognosis symptoms treatment clinical trial evidence risk factor blood pressure glucose level "
    "examination reveals tenderness swelling history of smoking alcohol family lab results imaging shows"
).split()

RECIPE = """
name: bench
data_dir: {data}
sources:
  - {{name: synth, path: rows.jsonl, adapter: medquad}}
stages:
  - {{type: normalize}}
  - {{type: length_filter, min_chars: 20}}
  - {{type: language_id}}
  - {{type: threshold, column: lang, allowed: [en]}}
  - {{type: exact_dedup}}
  - {{type: to_chat}}
outputs:
  sft: {{format: messages}}
"""


def make_rows(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(n):
            q = " ".join(rng.choices(WORDS, k=15)).capitalize() + "?"
            a = ". ".join(" ".join(rng.choices(WORDS, k=14)).capitalize() for _ in range(9)) + "."
            if i % 50 == 0:
                a += " See https://example.org/page for details."
            fh.write(
                json.dumps({"id": str(i), "question": q, "answer": a, "source": "bench", "focus": "x"}) + "\n"
            )


def run_one(recipe: Path, store: Path, executor: str, cpus: int) -> dict:
    code = (
        "import json,sys,time\n"
        "t0=time.perf_counter()\n"
        "from factory.recipe import load_recipe\nfrom factory.pipeline.runner import build\nfrom factory.storage.store import Store\nfrom factory.log import Reporter\n"
        f"r=load_recipe({str(recipe)!r}, ['executor.num_cpus={cpus}'])\n"
        f"res=build(r, Store({str(store)!r}), executor={executor!r}, reporter=Reporter(quiet=True))\n"
        "m=res.manifest\n"
        "print(json.dumps({'total': time.perf_counter()-t0, 'stages': sum(s['wall_s'] for s in m['stages']),"
        " 'load': sum(s.get('wall_s', 0) for s in []), 'rows_out': m['totals']['rows_out']}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--cpus", type=int, default=os.cpu_count())
    args = ap.parse_args()
    print(
        "| rows | local total s | local stages s | ray total s | ray stages s | ray/local (stages) | local rows/s | ray rows/s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            make_rows(tmp / "rows.jsonl", n)
            recipe = tmp / "recipe.yaml"
            recipe.write_text(RECIPE.format(data=tmp))
            res = {}
            for ex in ("local", "ray"):
                start = time.perf_counter()
                res[ex] = run_one(recipe, tmp / f"store-{ex}", ex, args.cpus)
                res[ex]["wall"] = time.perf_counter() - start
            lo, ra = res["local"], res["ray"]
            assert lo["rows_out"] == ra["rows_out"], (lo, ra)
            print(
                f"| {n} | {lo['total']:.1f} | {lo['stages']:.1f} | {ra['total']:.1f} | {ra['stages']:.1f} | "
                f"{ra['stages'] / max(lo['stages'], 1e-9):.2f} | {n / lo['stages']:.0f} | {n / ra['stages']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
