"""Executors run the runner's tasks: one call of a module-level function per shard (load a file, run a stage
on a shard, write an output shard...), each returning counts and file names, never rows.

- ``LocalExecutor``: in this process, one call after the other. No start-up cost: the right choice for small
  inputs.
- ``RayExecutor``: each call a Ray task (``num_cpus``/``num_gpus`` from the stage's ``resources``); a stateful
  stage (a model in ``setup()``) runs on a pool of ``resources.concurrency`` actors instead, each loading it
  once. Embedded local Ray by default, the cluster at ``RAY_ADDRESS`` when set: its workers then write the
  shards, so the store must be on storage every node sees (one machine, or a shared file system).

Workers keep one set-up stage per process (``worker_stage``), so ``setup()`` runs once per worker, not per
shard. Results come back in call order whatever order the tasks finish in; each task's result (a dict)
carries its CPU seconds and the figures its stage recorded (``timed``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from factory.figures import Figures
from factory.stage import Resources, Stage

_WORKERS: dict[str, Stage] = {}


def stage_class(spec: dict[str, Any]) -> type[Stage]:
    """The class of a task spec's stage: ``cls`` (``module:QualName``) when given, else the registry's ``type``."""
    if spec.get("cls"):
        import importlib

        module, _, name = spec["cls"].partition(":")
        return getattr(importlib.import_module(module), name)
    from factory.registry import stage_classes

    return stage_classes()[spec["type"]]


def worker_stage(spec: dict[str, Any]) -> Stage:
    """The stage of a task spec (``type``/``cls``, ``config``, ``runtime``), validated, bound and set up once per
    process."""
    from factory.hashing import stable_hash

    key = stable_hash([spec["type"], spec.get("cls"), spec["config"], spec.get("runtime") or {}])
    if key not in _WORKERS:
        stage = stage_class(spec).model_validate(spec["config"])
        stage.bind_runtime(spec.get("runtime") or {})
        stage.setup()
        _WORKERS[key] = stage
    return _WORKERS[key]


def worker_figures() -> Figures:
    """The figures the worker stages of this process recorded since the last call, merged (and cleared)."""
    out = Figures()
    for stage in _WORKERS.values():
        if stage.figures:
            out.merge(stage.figures.take())
    return out


def timed(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``fn(*args)`` (a task: it returns a dict) with its process CPU time added as ``cpu_s`` and, when its
    stage recorded any, its figures as ``figures`` (tasks report what they cost and what they saw)."""
    worker_figures()  # left over by a task that failed here
    start = time.process_time()
    out = fn(*args)
    if isinstance(out, dict):
        out["cpu_s"] = round(time.process_time() - start, 3)
        figures = worker_figures()
        if figures:
            out["figures"] = figures
    return out


class LocalExecutor:
    """Runs every task in this process, in order."""

    name = "local"

    def run(
        self, fn: Callable, calls: list[tuple], resources: Resources | None = None, stateful: bool = False
    ) -> list[Any]:
        return [timed(fn, *args) for args in calls]

    def put(self, value: Any) -> Any:
        """A value shared by many calls (on Ray: put once in the object store)."""
        return value


def _call(fn: Callable, *args: Any) -> Any:
    return timed(fn, *args)


class _Actor:
    """A Ray actor that runs tasks; its process keeps the set-up stage between calls."""

    def call(self, fn: Callable, *args: Any) -> Any:
        return timed(fn, *args)


class RayExecutor:
    """Runs tasks on Ray: embedded local Ray, or the cluster at ``RAY_ADDRESS``."""

    name = "ray"

    def __init__(self, num_cpus: int | None = None):
        import ray

        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS")
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=num_cpus, **kwargs)
        self._remote = ray.remote(_call)
        self._actor = ray.remote(_Actor)

    def run(
        self, fn: Callable, calls: list[tuple], resources: Resources | None = None, stateful: bool = False
    ) -> list[Any]:
        import ray
        from ray.util import ActorPool

        if not calls:
            return []
        res = resources or Resources()
        opts: dict[str, Any] = {"num_cpus": res.num_cpus}
        if res.num_gpus:
            opts["num_gpus"] = res.num_gpus
        try:
            if stateful:
                actors = [self._actor.options(**opts).remote() for _ in range(res.concurrency or 1)]
                pool = ActorPool(actors)
                out = list(pool.map(lambda a, args: a.call.remote(fn, *args), calls))
                for actor in actors:
                    ray.kill(actor)
                return out
            return ray.get([self._remote.options(**opts).remote(fn, *args) for args in calls])
        except ray.exceptions.RayTaskError as exc:
            from factory.errors import FactoryError

            cause = exc.cause if hasattr(exc, "cause") else None
            if isinstance(cause, FactoryError):
                raise cause from None
            raise

    def put(self, value: Any) -> Any:
        import ray

        return ray.put(value)


def make_executor(kind: str, num_cpus: int | None = None):
    if kind == "ray":
        return RayExecutor(num_cpus=num_cpus)
    if kind == "local":
        return LocalExecutor()
    raise ValueError(f"unknown executor '{kind}'")


def choose_executor(kind: str, input_rows: int, ray_min_rows: int) -> str:
    """``auto``: the Ray cluster when ``RAY_ADDRESS`` is set; embedded local Ray from ``ray_min_rows`` input rows;
    else in process (BENCHMARKS.md, "Data plane", measures the crossover)."""
    if kind != "auto":
        return kind
    if os.environ.get("RAY_ADDRESS"):
        return "ray"
    return "ray" if input_rows >= ray_min_rows else "local"
