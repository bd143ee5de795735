"""Plumbing cost of `factory train` on CPU: a tiny random model (tests/tiny_models.py) through SFT and two
DPO stages on the quickstart dataset version, each step in its own process (as `python -m train.step`
runs it), against the peer: a bare TRL SFTTrainer / DPOTrainer script on the same rows and settings.

    python bench/train_bench.py [--arch llama] [--steps 30] [--batch 4] [--max-length 256] [--threads 1]

Prints a markdown table: steps/s (optimizer steps, from the trainer's own timer), wall per step including
model load and save, tokens/s, and the peak RSS of the step's process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

# Runs one plan step in a child process and reports its peak RSS.
STEP = textwrap.dedent(
    """
    import json, resource, sys
    from train.plan import TrainPlan
    from train.run import run_step
    out = run_step(TrainPlan.read(sys.argv[1]), sys.argv[2])
    print(json.dumps({"rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)
# The peer: the same trainer called directly, no plan, no provenance, no atomic rename.
PEER = textwrap.dedent(
    """
    import json, resource, sys
    import datasets, pyarrow.parquet as pq
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer
    kind, model, files, out, steps, batch, max_length = sys.argv[1:8]
    cols = ["messages"] if kind == "sft" else ["prompt", "chosen", "rejected"]
    rows = [r for f in json.loads(files) for r in pq.read_table(f, columns=cols).to_pylist()][: int(batch) * 4]
    ds = datasets.Dataset.from_list(rows)
    tok = AutoTokenizer.from_pretrained(model)
    common = dict(output_dir=out, max_steps=int(steps), per_device_train_batch_size=int(batch), use_cpu=True,
                  bf16=False, report_to="none", save_strategy="no", logging_steps=1, max_length=int(max_length),
                  disable_tqdm=True)
    if kind == "sft":
        t = SFTTrainer(model=model, args=SFTConfig(learning_rate=3e-3, **common), train_dataset=ds, processing_class=tok)
    else:
        t = DPOTrainer(model=model, args=DPOConfig(learning_rate=2e-3, **common), train_dataset=ds, processing_class=tok)
    m = t.train().metrics
    t.save_model(out)
    print(json.dumps({"steps_per_s": m["train_steps_per_second"], "runtime": m["train_runtime"],
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)


def _child(code: str, *args: str) -> tuple[dict, float]:
    import time

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="llama")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (OMP_NUM_THREADS)")
    a = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(a.threads)  # children inherit it

    from tiny_models import build_tiny_model

    from factory.llm.models import TRAIN_RECORD
    from factory.pipeline.runner import build
    from factory.recipe import load_recipe
    from factory.storage.store import Store
    from train.config import TrainSection
    from train.plan import make_plan

    tmp = Path(tempfile.mkdtemp(prefix="train-bench-"))
    base = build_tiny_model(tmp / "base", arch=a.arch)
    version = build(load_recipe(ROOT / "recipes" / "quickstart.yaml"), Store(tmp / "store"), executor="local")
    fast = {
        "per_device_train_batch_size": a.batch,
        "max_steps": a.steps,
        "max_length": a.max_length,
        "logging_steps": 1,
    }
    fast["limit"] = a.batch * 4
    section = TrainSection.model_validate(
        {
            "base_model": str(base),
            "device": "cpu",
            "sft": {**fast, "learning_rate": 3e-3},
            "dpo": [
                {**fast, "name": "preference", "learning_rate": 2e-3},
                {**fast, "name": "red_team", "learning_rate": 2e-3},
            ],
        }
    )
    plan = make_plan(section, Store(tmp / "store"), version.version_id, output_dir=tmp / "models")
    plan_path = plan.write()
    params = sum(
        p.numel() for p in __import__("transformers").AutoModelForCausalLM.from_pretrained(base).parameters()
    )
    print(
        f"tiny {a.arch}: {params / 1e3:.0f}k parameters; {a.steps} steps x batch {a.batch}, max_length {a.max_length}\n"
    )
    print("| step | runner | steps/s (trainer) | wall incl. load+save (s) | tokens/s | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    for step in plan.steps:
        info, wall = _child(STEP, str(plan_path), step.name)
        prov = json.loads((Path(step.out) / TRAIN_RECORD).read_text())
        m = prov["metrics"]
        tokens = m.get("num_tokens")
        tps = f"{tokens / m['train_runtime']:.0f}" if tokens else "n/a"
        sps = m["train_steps_per_second"]
        print(f"| {step.name} | factory train | {sps:.2f} | {wall:.1f} | {tps} | {info['rss_mib']:.0f} |")
        peer, pwall = _child(
            PEER, step.kind, step.start, json.dumps(step.data.files), str(tmp / f"peer-{step.name}"),
            str(a.steps), str(a.batch), str(a.max_length),
        )  # fmt: skip
        print(
            f"| {step.name} | bare TRL (peer) | {peer['steps_per_s']:.2f} | {pwall:.1f} | | {peer['rss_mib']:.0f} |"
        )
    print(f"\nself RSS of the driver: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
