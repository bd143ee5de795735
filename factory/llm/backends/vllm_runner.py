"""The ``vllm`` backend: requests streamed into vLLM engines that start once per build.

In: requests (``submit``). Out: one ``Response`` per request (``poll``), as the engines finish them.

- ``placement: local``: one ``EngineWorker`` (``vllm.LLM``) in this process; ``poll`` steps it.
- ``placement: ray``: ``concurrency`` ``EngineWorker`` Ray actors, each in its own placement group
  (``actor_plan``: its GPUs or, on ``accelerator: cpu``, ``cpus_per_engine`` CPUs per worker; a
  ``placement_group`` of the recipe, ``bundle_per_worker`` expanded to tensor x pipeline workers;
  ``accelerator_type`` as a bundle resource, as Ray Data's vLLM stage does). With tensor x pipeline > 1
  the engine uses vLLM's Ray executor inside that group. The driver keeps up to two step calls queued on
  each actor, so an engine never waits for the driver to parse answers.
- Requests go to the engine with the fewest in flight, at most ``max_in_flight`` per engine (default:
  what the engine reports, 1.1 x ``max_num_seqs`` x pipeline stages) and ``batch_size`` per hand-off.
- Engines come from ``factory.llm.backends.pool``: a later stage asking for the same model and engine settings
  gets the same engines (no second start); they are closed at the end of the build.
- The recipe's engine settings go to ``vllm.LLM`` as they are (``engine_kwargs``); on ``accelerator:
  cpu`` the KV cache size is explicit and chunked prefill is off (``factory.llm.cpu.engine_args``), unless
  the recipe sets them. JSON-schema guides allow no free whitespace (``structured_outputs_config``:
  xgrammar, ``disable_any_whitespace``; a small model otherwise fills its budget with blank lines), unless
  the recipe sets that config.
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections import Counter
from typing import Any

from factory.errors import StageError
from factory.llm import cpu
from factory.llm.backends.base import Runner
from factory.llm.types import Request, Response, VLLMBackend

STEP_S = 0.5  # longest a Ray step call runs before it returns what is finished


def engine_kwargs(cfg: VLLMBackend, placement: str = "local") -> dict[str, Any]:
    """The ``vllm.LLM`` arguments of a backend config: its named settings, then ``engine_kwargs``."""
    kwargs: dict[str, Any] = {
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "pipeline_parallel_size": cfg.pipeline_parallel_size,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "dtype": cfg.dtype,
    }
    if cfg.max_model_len is not None:
        kwargs["max_model_len"] = cfg.max_model_len
    if cfg.revision is not None:
        kwargs["revision"] = cfg.revision
    kwargs.update(cfg.engine_kwargs)
    world = cfg.tensor_parallel_size * cfg.pipeline_parallel_size
    if world == 1:
        kwargs.setdefault("distributed_executor_backend", "uni")  # no extra worker process
    elif placement == "ray":
        kwargs.setdefault("distributed_executor_backend", "ray")  # workers in the actor's placement group
    kwargs.setdefault("structured_outputs_config", {"backend": "xgrammar", "disable_any_whitespace": True})
    if cfg.accelerator == "cpu":
        kwargs = cpu.engine_args(kwargs)  # explicit KV cache (the driver's size), chunked prefill off
    return kwargs


def resolve_placement(cfg: VLLMBackend, executor: str | None = None) -> str:
    """``local`` or ``ray`` for ``placement: auto`` (see ``VLLMBackend``)."""
    if cfg.placement != "auto":
        return cfg.placement
    ray_wanted = cfg.concurrency > 1 or cfg.placement_group is not None or cfg.accelerator_type is not None
    return "ray" if executor == "ray" or os.environ.get("RAY_ADDRESS") or ray_wanted else "local"


class VLLMRunner(Runner):
    """Streams requests into the engines of one backend config (see the module docstring)."""

    def __init__(self, config: VLLMBackend, executor: str | None = None, label: str | None = None):
        self.config = config
        self.placement = resolve_placement(config, executor)
        self.model_id = label or config.model
        self.stats: Counter[str] = Counter()
        self._engines = None
        self._queue: list[tuple[int, int, Any, tuple]] = []  # (priority, order, ticket, item)
        self._order = itertools.count()
        self._in_flight: list[int] = []
        self._calls: dict[Any, int] = {}  # Ray: step call ref -> engine index
        self._queued: list[int] = []  # Ray: step calls queued on each engine
        self._caps: list[int] = []
        self._broken = False

    # -- engines ------------------------------------------------------------------------------------
    def _ensure(self) -> None:
        if self._engines is not None:
            return
        from factory.llm.backends import pool

        engines, started = pool.acquire(
            self.config, self.placement, engine_kwargs(self.config, self.placement)
        )
        self._engines = engines
        self.stats["engine_starts"] += len(engines.workers) if started else 0
        self.stats["engines_reused"] += 0 if started else len(engines.workers)
        if started:
            self.stats["engine_start_s"] = round(max(i["start_s"] for i in engines.info), 3)
        self.stats["placement"] = self.placement
        self._in_flight = [0] * len(engines.workers)
        self._queued = [0] * len(engines.workers)
        cap = self.config.max_in_flight
        self._caps = [cap or i["max_in_flight"] for i in engines.info]

    def submit(self, ticket: Any, request: Request, priority: int = 0) -> None:
        self._ensure()
        s = request.sampling
        sampling = {"n": s.n, "temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens,
                    "seed": s.seed, "stop": s.stop, "logprobs": request.logprobs}  # fmt: skip
        guide = request.guide.model_dump(exclude_none=True) if request.guide is not None else None
        item = (ticket, request.messages, sampling, guide)
        heapq.heappush(self._queue, (priority, next(self._order), ticket, item))
        self.stats["requests"] += 1
        self.stats["guided_requests"] += guide is not None

    def pending(self) -> int:
        return len(self._queue) + sum(self._in_flight)

    def _take(self, engine: int) -> list[tuple]:
        room = min(self.config.batch_size, self._caps[engine] - self._in_flight[engine], len(self._queue))
        items = [heapq.heappop(self._queue)[3] for _ in range(max(room, 0))]
        self._in_flight[engine] += len(items)
        return items

    def poll(self, timeout: float) -> list[tuple[Any, Response]]:
        if self._engines is None or self.pending() == 0:
            return []
        if self.placement == "local":
            (worker,) = self._engines.workers
            items = []
            while self._queue and self._in_flight[0] < self._caps[0]:
                items += self._take(0)
            try:
                results = worker.step_for(items, max_s=timeout)
            except Exception:
                self._broken = True
                raise
            return self._responses(0, results)
        return self._poll_ray(timeout)

    def _poll_ray(self, timeout: float) -> list[tuple[Any, Response]]:
        import ray

        workers = self._engines.workers
        for e in sorted(range(len(workers)), key=lambda e: self._in_flight[e]):
            while self._queued[e] < 2 and (self._queue or self._in_flight[e]):
                items = self._take(e)
                if not items and self._queued[e]:
                    break  # a step call is already queued and there is nothing new to hand over
                self._calls[workers[e].step_for.remote(items, STEP_S, 0.05)] = e
                self._queued[e] += 1
        if not self._calls:
            return []
        ready, _ = ray.wait(list(self._calls), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            engine = self._calls.pop(ref)
            self._queued[engine] -= 1
            try:
                results = ray.get(ref)
            except Exception as exc:
                self._broken = True
                raise StageError(f"vLLM engine {engine} ({self.config.model}) failed: {exc}") from exc
            out += self._responses(engine, results)
        return out

    def _responses(self, engine: int, results: list) -> list[tuple[Any, Response]]:
        out = []
        for r in results:
            self._in_flight[engine] -= 1
            self.stats["prompt_tokens"] += r.prompt_tokens
            self.stats["generated_tokens"] += r.generated_tokens
            if r.error is not None:
                self.stats["failed"] += 1
                out.append((r.ticket, Response([], self.model_id, [], error=r.error)))
            else:
                answer = Response(list(r.texts), self.model_id, list(r.finish_reasons), logprobs=r.logprobs)
                out.append((r.ticket, answer))
        return out

    def close(self) -> None:
        """Hand the engines back to the pool (they stay warm for a later stage of the build); requests
        still running (a failed stage) are aborted first, and a failed engine is closed."""
        if self._engines is None:
            return
        from factory.llm.backends import pool

        engines, self._engines = self._engines, None
        if self.pending() and not self._broken:
            try:
                self._abort(engines)
            except Exception:  # noqa: BLE001 - the engine is unusable: close it below
                self._broken = True
        pool.release(engines, broken=self._broken)

    def _abort(self, engines) -> None:
        self._queue.clear()
        if self.placement == "local":
            engines.workers[0].abort_all()
        else:
            import ray

            ray.get(list(self._calls))  # step calls end soon: their engines have nothing left
            self._calls.clear()
            ray.get([w.abort_all.remote() for w in engines.workers])
        self._in_flight = [0] * len(self._in_flight)
        self._queued = [0] * len(self._queued)
