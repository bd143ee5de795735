"""The process's vLLM engines: started once, shared by the stages of a build that ask for the same ones.

A stage's runner ``acquire``s the engines of its (model, engine settings, placement, replicas) and
``release``s them when the stage ends; they stay warm, so the CoT, judge and scorer stages of one build
that all use the local model start it once. Asking for engines of other settings first closes the idle
ones (a GPU holds one 70B teacher at a time). ``close_all`` ends them: the build calls it when it
finishes (``factory.pipeline.build``), and it runs at exit.

In this process (``placement: local``) an engine is an ``EngineWorker``; on Ray each replica is an
``EngineWorker`` actor in its own placement group (``actor_plan``).
"""

from __future__ import annotations

import atexit
import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from factory.hashing import stable_hash
from factory.llm.types import VLLMBackend
from factory.log import terminal


@dataclass
class Engines:
    """The replicas of one engine configuration and who is using them."""

    key: str
    placement: str
    model: str
    workers: list[Any]
    info: list[dict[str, Any]]
    groups: list[Any] = field(default_factory=list)  # Ray placement groups
    users: int = 0
    leases: int = 0


_POOL: dict[str, Engines] = {}
_LOCK = threading.Lock()


def engine_key(config, placement: str, kwargs: dict[str, Any]) -> str:
    """What makes two stages' engines interchangeable."""
    plan = actor_plan(config) if placement == "ray" else None
    return stable_hash([config.model, kwargs, placement, plan, config.concurrency])


def acquire(config, placement: str, kwargs: dict[str, Any]) -> tuple[Engines, bool]:
    """The engines for ``config`` (started now unless warm) and whether they were started by this call."""
    key = engine_key(config, placement, kwargs)
    with _LOCK:
        engines = _POOL.get(key)
        started = engines is None
        if engines is None:
            for idle in [e for e in _POOL.values() if e.users == 0]:
                _close(idle)
            engines = _start(key, config, placement, kwargs)
            _POOL[key] = engines
        engines.users += 1
        engines.leases += 1
        return engines, started


def release(engines: Engines, broken: bool = False) -> None:
    """A stage is done with ``engines``; they stay warm unless ``broken`` (an engine failed)."""
    with _LOCK:
        engines.users -= 1
        if broken:
            _close(engines)


def close_all() -> None:
    """Stop every engine of this process (the end of a build; also at exit)."""
    with _LOCK:
        for engines in list(_POOL.values()):
            _close(engines)


def warm() -> list[dict[str, Any]]:
    """The engines running now: model, placement, replicas, users, leases."""
    return [
        {
            "model": e.model,
            "placement": e.placement,
            "replicas": len(e.workers),
            "users": e.users,
            "leases": e.leases,
        }  # fmt: skip
        for e in _POOL.values()
    ]


def _start(key: str, config, placement: str, kwargs: dict[str, Any]) -> Engines:
    from factory.llm.backends.vllm_engine import EngineWorker

    if placement == "local":
        worker = EngineWorker(config.model, kwargs)
        _close_first_at_exit()
        return Engines(key, placement, config.model, [worker], [worker.info()])
    return _start_ray(key, config, kwargs)


def _start_ray(key: str, config, kwargs: dict[str, Any]) -> Engines:
    import os

    import ray
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from factory.llm.backends.vllm_engine import EngineWorker
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    plan = actor_plan(config)
    extra = {k: v for k, v in plan.items() if k not in ("bundles", "strategy", "actor", "runtime_env")}
    actor_class = ray.remote(EngineWorker)
    groups, workers = [], []
    for _ in range(config.concurrency):
        group = ray.util.placement_group(plan["bundles"], strategy=plan["strategy"], **extra)
        groups.append(group)
        _wait_ready(group, plan["bundles"])
        options: dict[str, Any] = {
            **plan["actor"],
            "scheduling_strategy": PlacementGroupSchedulingStrategy(
                group, placement_group_capture_child_tasks=True
            ),
        }
        if plan["runtime_env"]:
            options["runtime_env"] = plan["runtime_env"]
        workers.append(actor_class.options(**options).remote(config.model, kwargs))
    try:
        info = ray.get([w.info.remote() for w in workers])
    except Exception:
        for w in workers:
            ray.kill(w)
        for g in groups:
            ray.util.remove_placement_group(g)
        raise
    return Engines(key, "ray", config.model, workers, info, groups)


def _wait_ready(group, bundles: list[dict[str, Any]]) -> None:
    """Wait for the cluster to grant a placement group, saying on stderr what it waits for."""
    start = time.monotonic()
    while not group.wait(timeout_seconds=30):
        waited = int(time.monotonic() - start)
        terminal().print(f"· waiting {waited}s for Ray to grant an engine's resources: {bundles}", markup=False)


def _close(engines: Engines) -> None:
    _POOL.pop(engines.key, None)
    if engines.placement == "local":
        for worker in engines.workers:
            worker.close()
        return
    import ray

    if not ray.is_initialized():
        return
    for worker in engines.workers:
        try:
            ray.get(worker.close.remote(), timeout=60)
        except Exception:  # noqa: BLE001 - killed below either way
            pass
        ray.kill(worker)
    for group in engines.groups:
        ray.util.remove_placement_group(group)


atexit.register(close_all)


def _close_first_at_exit() -> None:
    """Move ``close_all`` to the front of the exit handlers (they run last registered first). vLLM's engine
    process is a multiprocessing child, and multiprocessing's own exit handler, registered when vLLM is first
    imported, joins its children: run after it, ``close_all`` would never come, and a process that left an
    engine warm (a test, a script using a stage directly) would hang at exit."""
    atexit.unregister(close_all)
    atexit.register(close_all)


def actor_plan(cfg: VLLMBackend) -> dict[str, Any]:
    """Where each engine replica runs on Ray: its placement group (``bundles``, ``strategy``) and the
    resources of the engine actor inside it (one worker: the bundle's own; more: none, vLLM's Ray
    executor places its workers in the bundles)."""
    world = cfg.tensor_parallel_size * cfg.pipeline_parallel_size
    group = copy.deepcopy(cfg.placement_group) if cfg.placement_group else {}
    per_worker = group.pop("bundle_per_worker", None)
    if per_worker is not None:
        bundles = [dict(per_worker) for _ in range(world)]
    elif group.get("bundles"):
        bundles = [dict(b) for b in group.pop("bundles")]
    elif cfg.accelerator == "cpu":
        bundles = [{"CPU": cfg.cpus_per_engine} for _ in range(world)]
    else:
        bundles = [{"GPU": 1, "CPU": 1} for _ in range(world)]
    if cfg.accelerator_type:
        for bundle in bundles:
            bundle[f"accelerator_type:{cfg.accelerator_type}"] = 0.001
    actor: dict[str, Any] = {"num_cpus": 0, "num_gpus": 0}
    if world == 1:
        first = dict(bundles[0])
        actor = {"num_cpus": first.pop("CPU", 0), "num_gpus": first.pop("GPU", 0)}
        if first:
            actor["resources"] = first
    return {
        "bundles": bundles,
        "strategy": group.pop("strategy", "PACK"),
        "actor": actor,
        "runtime_env": {"env_vars": dict(cfg.env)} if cfg.env else None,
        **group,  # other placement_group() arguments (name, lifetime...)
    }
