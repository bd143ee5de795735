"""The runner: recipe -> sources -> stages -> outputs -> one version folder.

1. Fingerprint every source; the version id hashes the recipe's content, the fingerprints and the
   package version. An existing version with that id is returned as it is (no work).
2. Load each source into canonical rows (cached per source under its fingerprint).
3. Run the stages in order. Each stage's output is cached under a key of its type, params, code version
   and its upstream key, so an unchanged stage is read from the cache and a changed one reruns with
   everything after it.
4. Route the final rows to the outputs and write the version folder (outputs, drop log, manifest).

Accounting is checked at every step: rows in = rows out + rows dropped, and every dropped row is in the
drop log with ``id``, ``source``, ``stage``, ``reason``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from factory import __version__
from factory.errors import StageError
from factory.executors import choose_executor, make_executor, with_drop_columns
from factory.log import Reporter
from factory.recipe import RecipeBase
from factory.rows import CANONICAL_FIELDS
from factory.rows import schema as row_schema
from factory.stage import DROP, DROP_DETAIL, CustomStage, GlobalStage, Stage
from factory.store import DROP_SCHEMA, ShardWriter, Store, parquet_files, read_tables, stable_hash

OUTPUT_COLUMNS = {
    "messages": ["id", "source", "kind", "messages"],
    "preference": ["id", "source", "prompt", "chosen", "rejected"],
}


@dataclass
class BuildResult:
    version_id: str
    path: Path
    manifest: dict[str, Any]
    reused: bool


def check_plan(recipe: RecipeBase) -> list[pa.Schema]:
    """Check that every stage's required columns exist upstream; the schema after each stage."""
    schemas = [row_schema()]
    available = dict(CANONICAL_FIELDS)
    for i, stage in enumerate(recipe.stages):  # type: ignore[attr-defined]
        missing = [c for c in stage.requires if c not in available]
        if missing:
            from factory.errors import RecipeError

            raise RecipeError(
                str(recipe.file),
                [
                    (
                        f"stages[{i}] ({stage.stage_name})",
                        f"needs columns {missing} that no earlier stage adds",
                    )
                ],
            )
        earlier = [s.stage_name for s in recipe.stages[:i]]  # type: ignore[attr-defined]
        unknown = [n for n in stage.artifact_inputs() if n not in earlier]
        if unknown:
            from factory.errors import RecipeError

            raise RecipeError(
                str(recipe.file),
                [
                    (
                        f"stages[{i}] ({stage.stage_name})",
                        f"reads artifacts of {unknown}, which is not an earlier stage",
                    )
                ],
            )
        for name, dtype in stage.adds.items():
            if name in available and available[name] != dtype:
                raise StageError(f"stage '{stage.stage_name}' redefines column '{name}' with another type")
            available[name] = dtype
        schemas.append(row_schema({k: v for k, v in available.items() if k not in CANONICAL_FIELDS}))
    return schemas


def version_id(
    recipe: RecipeBase, fingerprints: dict[str, dict[str, Any]], stage_inputs: list[Any] | None = None
) -> str:
    return stable_hash(
        {
            "recipe": recipe.content(),
            "sources": {k: v["hash"] for k, v in fingerprints.items()},
            "factory": __version__,
            "code": [s.code_version for s in recipe.stages],  # type: ignore[attr-defined]
            "stage_inputs": stage_inputs or [],
        },
        length=20,
    )


def _drop_rows(rows: list[dict[str, Any]], stage: str, keep_rows: bool) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        content = {k: v for k, v in row.items() if k not in (DROP, DROP_DETAIL)}
        out.append(
            {
                "id": row.get("id"),
                "source": row.get("source"),
                "stage": stage,
                "reason": row[DROP],
                "detail": row.get(DROP_DETAIL),
                "row": json.dumps(content, ensure_ascii=False, default=str) if keep_rows else None,
            }
        )
    return out


class _StepWriter:
    """Writes one step's kept rows and drops into a tmp folder, counting as it goes."""

    def __init__(self, store: Store, label: str, schema: pa.Schema, stage_name: str, keep_rows: bool):
        self.tmp = store.new_tmp(label)
        self.data = ShardWriter(self.tmp / "data", schema)
        self.drops = ShardWriter(self.tmp / "drops", DROP_SCHEMA)
        self.stage_name, self.keep_rows = stage_name, keep_rows
        self.dropped: Counter[str] = Counter()
        self.rows_in = 0

    def add(self, table: pa.Table) -> None:
        self.rows_in += table.num_rows
        if DROP not in table.column_names:
            self.data.write(table)
            return
        mask = table.column(DROP).is_null()
        self.data.write(table.filter(mask))
        dropped = table.filter(pc.invert(mask)).to_pylist()
        self.dropped.update(r[DROP] for r in dropped)
        self.drops.write_rows(_drop_rows(dropped, self.stage_name, self.keep_rows))

    def finish(self, store: Store, key: str, extra: dict[str, Any]) -> dict[str, Any]:
        self.data.close()
        self.drops.close()
        stats = {
            "rows_in": self.rows_in,
            "rows_out": self.data.rows,
            "dropped": dict(sorted(self.dropped.items())),
            **extra,
        }
        if stats["rows_in"] != stats["rows_out"] + sum(self.dropped.values()):
            raise StageError(f"step '{self.stage_name}' lost rows: {stats}")
        (self.tmp / "stats.json").write_text(json.dumps(stats, indent=1, sort_keys=True))
        store.publish(self.tmp, store.cache_path(key))
        return stats


def _load_step(store: Store, recipe: RecipeBase, source, fingerprint, reporter: Reporter) -> tuple[str, dict]:
    key = stable_hash(
        {
            "step": "load",
            "source": source.model_dump(mode="json", exclude={"licence"}),
            "fp": fingerprint["hash"],
            "v": __version__,
        }
    )
    from factory.sources import load_source

    stats = store.cached_stats(key)
    if stats is not None:
        reporter.step(f"source {source.name}", stats, cached=True)
        return key, {**stats, "cached": True}
    start = time.perf_counter()
    writer = _StepWriter(
        store, f"load-{source.name}", row_schema(), f"source:{source.name}", recipe.drop_log.keep_rows
    )
    batch: list[dict[str, Any]] = []
    for row in load_source(source, recipe.data_path):
        batch.append(row)
        if len(batch) >= 8192:
            writer.add(_rows_table(batch))
            batch = []
    if batch:
        writer.add(_rows_table(batch))
    stats = writer.finish(store, key, {"wall_s": round(time.perf_counter() - start, 3)})
    reporter.step(f"source {source.name}", stats, cached=False)
    return key, {**stats, "cached": False}


def _rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=with_drop_columns(row_schema()))


def _run_stage(
    store, stage: Stage, key, files, out_schema, executor, runtime=None, keep_rows: bool = True
) -> dict[str, Any]:
    """Run one stage into a new cache entry. ``runtime``: ``data_dir`` and ``artifacts`` (see Stage.bind_runtime);
    ``keep_rows``: store dropped rows' content in the drop log (the recipe's ``drop_log.keep_rows``)."""
    start = time.perf_counter()
    runtime = runtime or {}
    writer = _StepWriter(store, f"stage-{stage.stage_name}", out_schema, stage.stage_name, keep_rows)
    report: dict[str, Any] = {}
    if isinstance(stage, GlobalStage):
        stage.bind_runtime(runtime, writer.tmp / "artifacts")
        key_schema = pa.schema([("id", pa.string()), *stage.key_columns.items()])
        parts = list(executor.map(stage, files, "keys", key_schema, runtime))
        keys = pa.concat_tables(parts) if parts else key_schema.empty_table()
        decisions = stage.decide(keys)
        report = stage.report()
        drop_ids = pa.array(list(decisions), pa.string())
        drop_reasons = pa.array([r for r, _ in decisions.values()], pa.string())
        drop_details = pa.array([d for _, d in decisions.values()], pa.string())
        for table in read_tables(files, batch_size=65_536):
            at = pc.index_in(table.column("id"), value_set=drop_ids)  # null where the row is kept
            table = table.append_column(DROP, pc.take(drop_reasons, at))
            table = table.append_column(DROP_DETAIL, pc.take(drop_details, at))
            writer.add(table)
    elif isinstance(stage, CustomStage):
        stage.bind_runtime(runtime, writer.tmp / "artifacts")
        for table in stage.run(files, executor, with_drop_columns(out_schema)):
            writer.add(table)
        report = stage.report()
    else:
        for table in executor.map(stage, files, "process", with_drop_columns(out_schema), runtime):
            writer.add(table)
    return writer.finish(store, key, {"wall_s": round(time.perf_counter() - start, 3), "report": report})


def _copy_artifacts(folder: Path | None, tmp: Path, stage_name: str) -> list[dict[str, Any]]:
    """A stage's artifacts into the version, under ``artifacts/<stage>/``; their descriptions."""
    if folder is None:
        return []
    import shutil

    from factory.store import file_sha256

    dest = tmp / "artifacts" / stage_name
    shutil.copytree(folder, dest)
    return [
        {"path": str(p.relative_to(tmp)), "bytes": p.stat().st_size, "sha256": file_sha256(p)}
        for p in sorted(dest.rglob("*"))
        if p.is_file()
    ]


def _route(row: dict[str, Any], recipe: RecipeBase) -> str | None:
    for name, out in recipe.outputs.items():
        if out.kinds is not None and row.get("kind") not in out.kinds:
            continue
        if out.format == "messages" and row.get("messages"):
            return name
        if (
            out.format == "preference"
            and row.get("kind") == "preference"
            and row.get("chosen")
            and row.get("rejected")
        ):
            return name
        if out.format == "rows":
            return name
    return None


def _write_version(
    recipe, tmp: Path, files: list[Path], schema: pa.Schema, drop_files: list[Path]
) -> dict[str, Any]:
    """Outputs and the drop log into ``tmp``; returns the manifest's ``outputs``/``drop_log`` parts."""
    extra_cols = [c for c in schema.names if c not in CANONICAL_FIELDS]
    writers = {}
    for name, out in recipe.outputs.items():
        cols = schema.names if out.format == "rows" else OUTPUT_COLUMNS[out.format] + extra_cols
        writers[name] = ShardWriter(tmp / name, pa.schema([schema.field(c) for c in cols]), out.shard_rows)
    drops = ShardWriter(tmp / "drops", DROP_SCHEMA, 500_000)
    for path in drop_files:  # every step's drops, in pipeline order
        for table in read_tables([path]):
            drops.write(table)
    no_output: Counter[str] = Counter()
    for table in read_tables(files, batch_size=65_536):
        routed: dict[str, list[dict]] = {name: [] for name in writers}
        lost = []
        for row in table.to_pylist():
            target = _route(row, recipe)
            if target is None:
                lost.append(
                    {
                        **row,
                        DROP: "no_output",
                        DROP_DETAIL: f"no output takes kind '{row.get('kind')}' in this form",
                    }
                )
            else:
                routed[target].append(row)
        for name, rows in routed.items():
            writers[name].write_rows(rows)
        no_output.update(r["kind"] for r in lost)
        drops.write_rows(_drop_rows(lost, "outputs", recipe.drop_log.keep_rows))
    outputs = {name: {"rows": w.rows, "files": w.close(relative_to=tmp)} for name, w in writers.items()}
    return {
        "outputs": outputs,
        "drop_log": {"rows": drops.rows, "files": drops.close(relative_to=tmp)},
        "no_output_by_kind": dict(sorted(no_output.items())),
    }


def build(
    recipe: RecipeBase,
    store: Store | None = None,
    executor: str | None = None,
    reporter: Reporter | None = None,
) -> BuildResult:
    """Build ``recipe`` into a version folder of ``store`` (default: the recipe's ``store``)."""
    try:
        return _build(recipe, store, executor, reporter)
    finally:
        _close_engines()


def _close_engines() -> None:
    """Stop the LLM engines the build's generation stages kept warm for each other (synth.backends.pool)."""
    import sys

    pool = sys.modules.get("synth.backends.pool")
    if pool is not None:
        pool.close_all()


def _build(recipe: RecipeBase, store: Store | None, executor: str | None, reporter: Reporter | None) -> BuildResult:
    from factory.sources import fingerprint_source

    reporter = reporter or Reporter()
    store = store or Store(recipe.store)
    store.clean_stale_tmp()
    started = time.perf_counter()
    schemas = check_plan(recipe)
    fingerprints = {s.name: fingerprint_source(s, recipe.data_path) for s in recipe.sources}
    for stage in recipe.stages:  # type: ignore[attr-defined]
        stage.bind_runtime({"data_dir": str(recipe.data_path)})
    stage_inputs = [stage.input_fingerprint() for stage in recipe.stages]  # type: ignore[attr-defined]
    vid = version_id(recipe, fingerprints, stage_inputs)
    final = store.version_path(vid)
    if (final / "manifest.json").exists():
        reporter.note(f"version {vid} already built: nothing to do")
        return BuildResult(vid, final, json.loads((final / "manifest.json").read_text()), reused=True)

    source_entries, upstream, files, drop_files = [], [], [], []
    for source in recipe.sources:
        key, stats = _load_step(store, recipe, source, fingerprints[source.name], reporter)
        upstream.append(key)
        files += parquet_files(store.cache_path(key) / "data")
        drop_files += parquet_files(store.cache_path(key) / "drops")
        source_entries.append(
            {
                "name": source.name,
                "adapter": source.adapter,
                "licence": source.licence,
                "fingerprint": fingerprints[source.name],
                "key": key,
                "rows_read": stats["rows_in"],
                "rows_kept": stats["rows_out"],
                "dropped": stats["dropped"],
                "cached": stats["cached"],
            }
        )
    input_rows = sum(s["rows_kept"] for s in source_entries)
    exec_kind = executor or choose_executor(recipe.executor.kind, input_rows, recipe.executor.ray_min_rows)
    reporter.note(f"{input_rows} rows from {len(recipe.sources)} source(s); executor: {exec_kind}")
    runner = None

    stage_entries = []
    artifact_dirs: dict[str, Path] = {}
    upstream_key = stable_hash(upstream)
    for i, stage in enumerate(recipe.stages):  # type: ignore[attr-defined]
        key = stable_hash(
            {
                "type": stage.type,
                "params": stage.params(),
                "code": stage.code_version,
                "inputs": stage_inputs[i],
                "up": upstream_key,
                "v": __version__,
            }
        )
        stats = store.cached_stats(key)
        cached = stats is not None
        if not cached:
            runner = runner or make_executor(exec_kind, recipe.executor.num_cpus)
            runtime = {
                "data_dir": str(recipe.data_path),
                "store_dir": str(store.root),
                "artifacts": {name: str(artifact_dirs[name]) for name in stage.artifact_inputs()},
            }
            stats = _run_stage(
                store, stage, key, files, schemas[i + 1], runner, runtime, recipe.drop_log.keep_rows
            )
        reporter.step(stage.stage_name, stats, cached=cached)
        stage_entries.append(
            {
                "name": stage.stage_name,
                "type": stage.type,
                "key": key,
                "params": stage.params(),
                "cached": cached,
                **stats,
            }
        )
        files = parquet_files(store.cache_path(key) / "data")
        drop_files += parquet_files(store.cache_path(key) / "drops")
        if (store.cache_path(key) / "artifacts").is_dir():
            artifact_dirs[stage.stage_name] = store.cache_path(key) / "artifacts"
        upstream_key = key

    tmp = store.new_tmp(f"version-{vid}")
    written = _write_version(recipe, tmp, files, schemas[-1], drop_files)
    for entry in stage_entries:
        entry["artifacts"] = _copy_artifacts(artifact_dirs.get(entry["name"]), tmp, entry["name"])
    rows_read = sum(s["rows_read"] for s in source_entries)
    rows_out = sum(o["rows"] for o in written["outputs"].values())
    if rows_read != rows_out + written["drop_log"]["rows"]:
        raise StageError(
            f"rows lost: {rows_read} read, {rows_out} in outputs, {written['drop_log']['rows']} dropped"
        )
    manifest = {
        "version": vid,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "factory_version": __version__,
        "recipe_name": recipe.name,
        "recipe_hash": stable_hash(recipe.content()),
        "executor": exec_kind,
        "sources": source_entries,
        "stages": stage_entries,
        **written,
        "totals": {
            "rows_in": rows_read,
            "rows_out": rows_out,
            "rows_dropped": written["drop_log"]["rows"],
            "wall_s": round(time.perf_counter() - started, 3),
        },
        "recipe": recipe.model_dump(mode="json"),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    (tmp / "recipe.yaml").write_text(
        yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    )
    if not store.publish(tmp, final):
        reporter.note(f"version {vid} was finished by a concurrent build; using it")
        manifest = json.loads((final / "manifest.json").read_text())
    return BuildResult(vid, final, manifest, reused=False)


def read_output(version_path: Path, name: str) -> pa.Table:
    """An output dataset of a version as one Arrow table (for tests and small data)."""
    return pq.read_table(version_path / name)
