"""One step of a build (loading a source, a stage, the outputs) into one cache entry, its work done by tasks.

The driver plans the tasks, runs them on the executor and gathers what they return (counts, file names):
it never holds rows, except the keys of a ``GlobalStage`` that decides on the driver and the outputs of a
``CustomStage`` (generation), which are small. A cache entry ``cache/<key>/`` holds ``shards.json`` (the
step's output shards and drop files), ``stats.json`` (counts, wall time, report), and the files the step
wrote: ``data/<shard>.parquet`` (not for a filter), ``drops/<shard>.parquet``, ``artifacts/``. Locally it is
written in ``tmp/`` and renamed into place whole. On a remote store the files live under
``cache/<key>/<attempt>/`` (``StepWriter.entry``): tasks write them in a local folder and each worker uploads
the files its task's result names before returning (``remote_task``); the driver writes the index last.
"""

from __future__ import annotations

import functools
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from factory.errors import StageError
from factory.figures import Figures
from factory.pipeline.tasks import apply_drops, keys_shard, map_shard, schema_bytes
from factory.stage import CustomStage, GlobalStage, Resources, Stage, with_drop_columns
from factory.storage.shards import (
    DROP_SCHEMA,
    KEEP_CODEC,
    ParquetSink,
    Shard,
    count_drops,
    drop_records,
    file_info,
    read_all,
)
from factory.storage.store import Store

LAYOUT = 2  # of cache entries (shards.json, filter views): part of every step key, not of the version id


@dataclass
class StepResult:
    """A finished step: its output shards, its drop files (paths relative to the store), its stats."""

    key: str
    stats: dict[str, Any]
    shards: list[Shard]
    drop_files: list[dict[str, Any]]
    cached: bool
    extra: dict[str, Any] = field(default_factory=dict)


def read_entry(store: Store, key: str) -> StepResult | None:
    data = store.read_json(f"cache/{key}/shards.json")
    stats = store.cached_stats(key) if data is not None else None
    if data is None or stats is None:
        return None
    shards = [Shard.from_json(s) for s in data.pop("shards")]
    return StepResult(key, stats, shards, data.pop("drop_files"), True, data)


class StepWriter:
    """Collects a step's task results in a tmp folder and publishes the cache entry (checking accounting).

    ``run`` runs the step's tasks: their CPU seconds and the figures their stages recorded become the step's."""

    def __init__(self, store: Store, key: str, label: str, name: str):
        self.store, self.key, self.name = store, key, name
        self.tmp = store.new_tmp(label)
        # remote: a prefix only this build writes (object storage has no rename; the index names it)
        self.entry = f"cache/{key}/a{uuid.uuid4().hex[:12]}" if store.remote else f"cache/{key}"
        self.shards: list[Shard] = []
        self.drop_files: list[dict[str, Any]] = []
        self.dropped: Counter[str] = Counter()
        self.rows_in = self.rows_out = 0
        self.cpu = 0.0
        self.figures = Figures()
        self.start = time.perf_counter()

    def spec(self, keep_rows: bool, **extra: Any) -> dict[str, Any]:
        return {"root": self.store.location, "out": str(self.tmp), "entry": self.entry, "stage": self.name,
                "keep_rows": keep_rows, **extra}  # fmt: skip

    def run(
        self, executor: Any, fn: Callable, calls: list[tuple], resources: Resources | None = None,
        stateful: bool = False,
    ) -> list[Any]:  # fmt: skip
        """``executor.run`` of the step's tasks, counting their ``cpu_s`` and merging their ``figures``; on a
        remote store each task uploads its files (``remote_task``)."""
        if self.store.remote is not None:
            fn = functools.partial(remote_task, fn)
        out = executor.run(fn, calls, resources, stateful)
        for result in out:
            if isinstance(result, dict):
                self.cpu += result.get("cpu_s", 0.0)
                if "figures" in result:
                    self.figures.merge(result.pop("figures"))
        return out

    def add(self, result: dict[str, Any]) -> None:
        """A task's rows, drops and shards into the step's."""
        self.rows_in += result["rows_in"]
        self.rows_out += result["rows_out"]
        self.dropped.update(result["dropped"])
        for info in ([result["drop_file"]] if result.get("drop_file") else []) + result.get("drop_files", []):
            self.drop_files.append({**info, "path": f"{self.entry}/{info['path']}"})
        shards = result.get("shards") or ([result["shard"]] if result.get("shard") else [])
        self.shards += [Shard.from_json(s) for s in shards]

    def finish(self, extra_stats: dict[str, Any] | None = None, extra_index: dict[str, Any] | None = None):
        stats = {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(sorted(self.dropped.items())),
            "wall_s": round(time.perf_counter() - self.start, 3),
            "tasks_cpu_s": round(self.cpu, 3),
            "shards": len(self.shards),
            **(extra_stats or {}),
        }
        if stats["rows_in"] != stats["rows_out"] + sum(self.dropped.values()):
            raise StageError(f"step '{self.name}' lost rows: {stats}")
        extra = dict(extra_index or {})
        if self.store.remote is not None:  # where the entry's files are, and its artifacts (to fetch them)
            arts = self.tmp / "artifacts"
            extra["entry"] = self.entry
            extra["artifacts"] = sorted(p.relative_to(arts).as_posix() for p in arts.rglob("*") if p.is_file())
        index = {"shards": [s.to_json() for s in self.shards], "drop_files": self.drop_files, **extra}
        self.store.publish_entry(self.tmp, self.key, self.entry, index, stats)
        return StepResult(self.key, stats, self.shards, self.drop_files, False, extra)


def task_files(spec: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """The files a task wrote, relative to its ``out`` folder: those its result names (what ``StepWriter.add``
    reads: ``shard``/``shards`` under the step's entry, ``drop_file``/``drop_files``, an output ``file``)."""
    prefix = f"{spec['entry']}/"
    shards = result.get("shards") or ([result["shard"]] if result.get("shard") else [])
    named = [p for s in shards for p in [s["file"], *s["drops"]]]
    out = [p.removeprefix(prefix) for p in named if p.startswith(prefix)]
    infos = [result.get("drop_file"), *result.get("drop_files", []), result.get("file")]
    out += [info["path"] for info in infos if isinstance(info, dict) and "path" in info]
    return list(dict.fromkeys(out))


def remote_task(fn: Callable, spec: dict[str, Any], *args: Any) -> Any:
    """``fn(spec, *args)`` on a worker, then its files uploaded to the remote store by this worker (under the
    step's entry; the local copies go): the driver never handles rows."""
    result = fn(spec, *args)
    if isinstance(result, dict) and "entry" in spec and "out" in spec:
        out = Path(spec["out"])
        pairs = [(out / rel, f"{spec['entry']}/{rel}") for rel in task_files(spec, result)]
        pairs = [(local, rel) for local, rel in pairs if local.is_file()]
        spec["root"].put_many(pairs)
        for local, rel in pairs:
            spec["root"].keep(local, rel)
    return result


class StepExecutor:
    """The executor as a stage's own code sees it (``factory.stage.Executor``): the tasks it runs are the step's
    (``StepWriter.run``: CPU seconds and figures counted)."""

    def __init__(self, executor: Any, writer: StepWriter):
        self.executor, self.writer, self.name = executor, writer, executor.name

    def run(
        self, fn: Callable, calls: list[tuple], resources: Resources | None = None, stateful: bool = False
    ) -> list[Any]:
        return self.writer.run(self.executor, fn, calls, resources, stateful)

    def put(self, value: Any) -> Any:
        return self.executor.put(value)


def stage_spec(writer: StepWriter, stage: Stage, runtime: dict, keep_rows: bool, schema: pa.Schema) -> dict:
    cls = type(stage)
    return writer.spec(
        keep_rows,
        type=stage.type,
        cls=f"{cls.__module__}:{cls.__qualname__}",
        config=stage.model_dump(mode="json"),
        runtime=runtime,
        schema=schema_bytes(schema),
    )


def run_stage(
    store: Store,
    stage: Stage,
    key: str,
    shards: list[Shard],
    out_schema: pa.Schema,
    executor: Any,
    runtime: dict[str, Any],
    keep_rows: bool,
) -> StepResult:
    """Run one stage over ``shards`` into the cache entry ``key``; its report (``stage.report`` of the figures
    its tasks and the driver recorded) goes into the step's stats."""
    writer = StepWriter(store, key, f"stage-{stage.stage_name}", stage.stage_name)
    tasks = StepExecutor(executor, writer)
    stage.figures.take()  # figures recorded outside a run (a test calling parse) are not this run's
    if isinstance(stage, GlobalStage):
        _run_global(writer, stage, shards, tasks, runtime, keep_rows, out_schema)
    elif isinstance(stage, CustomStage):
        stage.bind_runtime(runtime, writer.tmp / "artifacts")
        files = _materialise(store, shards, writer.tmp / "input")
        _write_custom(writer, stage.run(files, tasks, with_drop_columns(out_schema)), out_schema, keep_rows)
    else:
        spec = stage_spec(writer, stage, runtime, keep_rows, out_schema)
        calls = [(spec, s.to_json()) for s in shards]
        for result in tasks.run(map_shard, calls, stage.resources, stage.stateful):
            writer.add(result)
    writer.figures.merge(stage.figures.take())  # what the stage recorded on the driver
    return writer.finish({"report": stage.report(writer.figures)})


def _run_global(
    writer: StepWriter,
    stage: GlobalStage,
    shards: list[Shard],
    tasks: StepExecutor,
    runtime: dict[str, Any],
    keep_rows: bool,
    out_schema: pa.Schema,
) -> None:
    """A GlobalStage: its ``Decision`` (by its phases, or keys then decide), then the shard tasks drop the rows."""
    stage.bind_runtime(runtime, writer.tmp / "artifacts")
    spec = stage_spec(writer, stage, runtime, keep_rows, out_schema)
    if stage.in_phases():
        decision = stage.decide_distributed(shards, tasks, spec, writer.tmp / "work")
    else:
        key_schema = pa.schema([("id", pa.string()), *stage.key_columns.items()])
        key_spec = {**spec, "schema": schema_bytes(key_schema)}
        calls = [(key_spec, s.to_json()) for s in shards]
        parts = tasks.run(keys_shard, calls, stage.resources, stage.stateful)
        decision = stage.decide(pa.concat_tables([key_schema.empty_table(), *(p["keys"] for p in parts)]))
    shared = None
    if decision.by_id:
        chosen = decision.by_id
        shared = tasks.put(
            pa.table(
                {
                    "id": pa.array(list(chosen), pa.string()),
                    "reason": pa.array([r for r, _ in chosen.values()], pa.string()),
                    "detail": pa.array([d for _, d in chosen.values()], pa.string()),
                }
            )
        )
    todo = [(spec, s.to_json(), decision.files.get(s.name) if decision.files else shared) for s in shards]
    for result in tasks.run(apply_drops, todo):
        writer.add(result)
    shutil.rmtree(writer.tmp / "work", ignore_errors=True)


def _materialise(store: Store, shards: list[Shard], folder: Path) -> list[Path]:
    """Parquet files holding exactly the live rows of ``shards`` (their own files where nothing was dropped)."""
    files = []
    for shard in shards:
        if not shard.drops and store.remote is None:
            files.append(Path(store.root) / shard.file)
            continue
        if not shard.drops:
            store.place_many([(shard.file, folder / f"{shard.name}.parquet")])
            files.append(folder / f"{shard.name}.parquet")
            continue
        table = read_all(store.location, [shard])
        if table is not None:
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, folder / f"{shard.name}.parquet")
            files.append(folder / f"{shard.name}.parquet")
    return files


def _write_custom(
    writer: StepWriter, tables, out_schema: pa.Schema, keep_rows: bool, shard_rows: int = 100_000
):
    """A CustomStage's output tables (on the driver: generation outputs are small) into shards and drops."""
    data: ParquetSink | None = None
    drops = ParquetSink(writer.tmp / "drops" / "custom.parquet", DROP_SCHEMA, KEEP_CODEC)
    count = 0

    def close() -> None:
        if data is not None and data.close():
            writer.shards.append(
                Shard(data.path.stem, f"{writer.entry}/data/{data.path.name}", [], data.rows)
            )
            writer.rows_out += data.rows

    for table in tables:
        writer.rows_in += table.num_rows
        count_drops(table, writer.dropped)
        kept = table.filter(table.column("_drop").is_null())
        if kept.num_rows:
            if data is None or data.rows >= shard_rows:
                close()
                data = ParquetSink(writer.tmp / "data" / f"c-{count:05d}.parquet", out_schema)
                count += 1
            data.write(kept)
        drops.write(drop_records(table, None, writer.name, None, keep_rows))
    close()
    if drops.close():
        info = file_info(drops.path, drops.rows, relative_to=writer.tmp)
        writer.drop_files.append({**info, "path": f"{writer.entry}/{info['path']}"})
