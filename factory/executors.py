"""Executors run one stage over Parquet files and yield the output batches, in input order.

The same ``StageWorker`` (built from the stage's JSON config, ``setup()`` once) runs under both:

- ``LocalExecutor``: in this process. No start-up cost: the right choice for small inputs.
- ``RayExecutor``: Ray Data ``read_parquet -> map_batches -> iter_batches`` with order preserved.
  Stateless stages run as tasks (setup memoised per worker process); stateful stages (models) run in
  an ``ActorPoolStrategy`` pool with the CPUs/GPUs they declare. Embedded local Ray by default, the
  cluster at ``RAY_ADDRESS`` when set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from factory.errors import StageError
from factory.stage import DROP, DROP_DETAIL, Stage
from factory.store import read_tables

DROP_COLUMNS = {DROP: pa.string(), DROP_DETAIL: pa.string()}


def with_drop_columns(schema: pa.Schema) -> pa.Schema:
    for name, dtype in DROP_COLUMNS.items():
        if name not in schema.names:
            schema = schema.append(pa.field(name, dtype))
    return schema


class StageWorker:
    """Applies a stage to Arrow batches. ``mode``: ``process`` (map) or ``keys`` (a GlobalStage's keys)."""

    def __init__(
        self,
        stage_type: str,
        config: dict[str, Any],
        mode: str,
        out_schema: pa.Schema,
        runtime: dict[str, Any] | None = None,
    ):
        from factory.registry import stage_classes

        self.stage: Stage = stage_classes()[stage_type].model_validate(config)
        self.mode, self.out_schema = mode, out_schema
        self.stage.bind_runtime(runtime or {})
        self.stage.setup()

    def __call__(self, table: pa.Table) -> pa.Table:
        rows = table.to_pylist()
        if self.mode == "keys":
            out = self.stage.keys([r for r in rows if self.stage.applies(r)])  # type: ignore[attr-defined]
        else:
            out = self.stage.process_batch(rows)
            if len(out) != len(rows):
                raise StageError(
                    f"stage '{self.stage.stage_name}' returned {len(out)} rows for a batch of {len(rows)}: "
                    "every row must come back, kept or drop()-ed"
                )
        return pa.Table.from_pylist(out, schema=self.out_schema)


_WORKERS: dict[tuple[str, str, str], StageWorker] = {}


def _ray_task(
    table: pa.Table,
    stage_type: str,
    config: dict,
    mode: str,
    out_schema: pa.Schema,
    runtime: dict[str, Any],
) -> pa.Table:
    """Ray task entry point: one StageWorker per worker process and stage (setup once)."""
    from factory.store import stable_hash

    key = (stage_type, stable_hash([config, runtime, out_schema.to_string()]), mode)
    if key not in _WORKERS:
        _WORKERS[key] = StageWorker(stage_type, config, mode, out_schema, runtime)
    return _WORKERS[key](table)


class LocalExecutor:
    """Runs stages in this process, batch by batch."""

    name = "local"

    def map(
        self, stage: Stage, files: list[Path], mode: str, out_schema: pa.Schema, runtime: dict[str, Any]
    ) -> Iterator[pa.Table]:
        worker = StageWorker(stage.type, stage.model_dump(mode="json"), mode, out_schema, runtime)
        for table in read_tables(files, batch_size=stage.batch_size):
            yield worker(table)


class RayExecutor:
    """Runs stages on Ray Data: embedded local Ray, or the cluster at ``RAY_ADDRESS``."""

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
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False

    def map(
        self, stage: Stage, files: list[Path], mode: str, out_schema: pa.Schema, runtime: dict[str, Any]
    ) -> Iterator[pa.Table]:
        import ray

        ds = ray.data.read_parquet([str(f) for f in files])
        kwargs = {
            "stage_type": stage.type,
            "config": stage.model_dump(mode="json"),
            "mode": mode,
            "out_schema": out_schema,
            "runtime": runtime,
        }
        res = stage.resources
        if stage.stateful:
            ds = ds.map_batches(
                StageWorker,
                fn_constructor_kwargs=kwargs,
                batch_size=stage.batch_size,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=res.concurrency or 1),
                num_cpus=res.num_cpus,
                **({"num_gpus": res.num_gpus} if res.num_gpus else {}),
            )
        else:
            ds = ds.map_batches(
                _ray_task,
                fn_kwargs=kwargs,
                batch_size=stage.batch_size,
                batch_format="pyarrow",
                num_cpus=res.num_cpus,
            )
        for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            if table.num_rows:
                yield table


def make_executor(kind: str, num_cpus: int | None = None):
    if kind == "ray":
        return RayExecutor(num_cpus=num_cpus)
    if kind == "local":
        return LocalExecutor()
    raise ValueError(f"unknown executor '{kind}'")


def choose_executor(kind: str, input_rows: int, ray_min_rows: int) -> str:
    """``auto``: the Ray cluster when ``RAY_ADDRESS`` is set; embedded local Ray from ``ray_min_rows`` input rows;
    else in process.

    Measured on 2 cores (BENCHMARKS.md): Ray's start-up (~4 s) and per-stage set-up (~1.5 s) make it 17x
    slower at 1k rows, 1.25x slower at 100k, and 9% faster at 300k rows of ~1 KB: break-even ~250k rows."""
    if kind != "auto":
        return kind
    if os.environ.get("RAY_ADDRESS"):
        return "ray"
    return "ray" if input_rows >= ray_min_rows else "local"
