"""Eval throughput (questions/s) of `factory eval` per backend, on a tiny random model and real benchmarks.

Backends: lm-eval `hf` (transformers) and lm-eval `vllm` (when vLLM is importable). Peer, in the same run:
a bare transformers loop that scores the same MCQA prompts (one forward pass per option, no lm-eval).

    python bench/eval_bench.py [--limit 100] [--safety-limit 20] [--arch llama] [--threads 1]

Prints a markdown table (model load is excluded; it is printed once per backend).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
SHARED = ROOT.parent / "shared" / "data"


def peer_mcqa(model_dir: Path, docs: list[dict]) -> float:
    """Seconds for a plain transformers loop to score every option of ``docs`` (same prompts, chat template)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from train.benchmarks import mcqa_choices, mcqa_prompt

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    started = time.perf_counter()
    with torch.no_grad():
        for doc in docs:
            ctx = tok.apply_chat_template(
                [{"role": "user", "content": mcqa_prompt(doc)}], tokenize=False, add_generation_prompt=True
            )
            ctx_ids = tok(ctx, add_special_tokens=False)["input_ids"]
            for choice in mcqa_choices(doc):
                ids = ctx_ids + tok(choice, add_special_tokens=False)["input_ids"]
                logits = model(torch.tensor([ids])).logits[0, len(ctx_ids) - 1 : -1]
                logits.log_softmax(-1).gather(1, torch.tensor(ids[len(ctx_ids) :])[:, None]).sum()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--safety-limit", type=int, default=20)
    ap.add_argument("--arch", default="llama")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)

    from tiny_models import build_tiny_model

    from train.benchmarks import MCQA_DEFAULTS, SAFETY_DEFAULT, load_docs
    from train.config import EvalSpec
    from train.eval import evaluate_model, load_lm

    model = build_tiny_model(Path(tempfile.mkdtemp(prefix="eval-bench-")) / "model", arch=a.arch)
    picked = [b for b in MCQA_DEFAULTS if b.name in ("medqa", "pubmedqa", "mmlu_medical")]
    safety = SAFETY_DEFAULT.model_copy(update={"limit": a.safety_limit})
    backends = ["hf"] + (["vllm"] if importlib.util.find_spec("vllm") else [])
    print(
        f"tiny {a.arch} model; {a.limit} questions per MCQA benchmark, {a.safety_limit} safety prompts (8 new tokens)\n"
    )
    print("| backend | benchmark | questions | questions/s | accuracy / refusal |")
    print("|---|---|---|---|---|")
    for backend in backends:
        spec = EvalSpec(
            backend=backend, benchmarks=[*picked, safety], limit=a.limit, max_gen_toks=8, device="cpu"
        )
        started = time.perf_counter()
        lm = load_lm(model, spec)
        load_s = time.perf_counter() - started
        results = evaluate_model(model, spec, SHARED, lm=lm)
        for name, b in results["benchmarks"].items():
            score = b.get("accuracy", b.get("refusal"))
            print(f"| lm-eval {backend} | {name} | {b['n']} | {b['questions_per_s']:.1f} | {score:.3f} |")
        print(f"| lm-eval {backend} | (model load) | | {load_s:.1f} s | |")
        del lm
    if "vllm" not in backends:
        print("| lm-eval vllm | - | - | not installed here | - |")
    for bench in picked:
        docs = load_docs(bench, SHARED, a.limit)
        wall = peer_mcqa(model, docs)
        print(f"| bare transformers loop (peer) | {bench.name} | {len(docs)} | {len(docs) / wall:.1f} | |")


if __name__ == "__main__":
    main()
