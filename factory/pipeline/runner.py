"""The runner: recipe -> sources -> stages -> outputs -> one version folder.

1. Fingerprint every source (memoised by file stat in the store); the version id hashes the recipe's
   content, the fingerprints and the package version. An existing version with that id is returned as it is.
2. Load each source into canonical rows: one task per file, shards written by the workers (cached per
   source under its fingerprint).
3. Run the stages in order, one task per shard (``factory.pipeline.steps``). Each stage's output is cached under a
   key of its type, params, code version and its upstream key, so an unchanged stage is read from the cache
   and a changed one reruns with everything after it.
4. Route the final rows to the outputs (tasks again, cached too) and make the version folder from hard links
   to the output and drop files, plus the manifest (on a remote store: the manifest names the objects, and
   is written last; see ``factory.storage.store``).

Accounting is checked at every step: rows in = rows out + rows dropped, and every dropped row is in the
drop log with ``id``, ``source``, ``stage``, ``reason`` (and ``shard``/``pos``, where it was read).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from factory import __version__
from factory.errors import RecipeError, SettingError, StageError
from factory.hashing import stable_hash
from factory.log import Reporter
from factory.pipeline.executors import choose_executor, make_executor
from factory.pipeline.output_schema import CODE_VERSION as OUTPUTS_CODE
from factory.pipeline.steps import LAYOUT, StepResult, StepWriter, read_entry, run_stage
from factory.pipeline.version import link_artifacts, outputs_step, write_version
from factory.recipe import RecipeBase, check_plan, recipe_line
from factory.stage import Stage
from factory.storage.gc import Lease
from factory.storage.remote import pull_sqlite, push_sqlite
from factory.storage.shards import Shard
from factory.storage.store import Store, publish_version

__all__ = ["BuildResult", "build", "read_output", "version_id"]


@dataclass
class BuildResult:
    """``path``: the version's local folder (remote store: the mirror's copy, absent after a reuse until
    ``Store.local_version``); ``location``: where the version is, as users name it (a URL remotely)."""

    version_id: str
    path: Path
    manifest: dict[str, Any]
    reused: bool
    location: str = ""


def version_id(
    recipe: RecipeBase, fingerprints: dict[str, dict[str, Any]], stage_inputs: list[Any] | None = None
) -> str:
    return stable_hash(
        {
            "recipe": recipe.content(),
            "sources": {k: v["hash"] for k, v in fingerprints.items()},
            "factory": __version__,
            "code": [s.code_version for s in recipe.stages],  # type: ignore[attr-defined]
            "outputs_code": OUTPUTS_CODE,
            "stage_inputs": stage_inputs or [],
        },
        length=20,
    )


def _load_step(store: Store, recipe: RecipeBase, index: int, source, fingerprint, executor) -> StepResult:
    from factory.sources.load import load_parts, load_task

    key = stable_hash(
        {
            "step": "load",
            "source": source.model_dump(mode="json", exclude={"licence"}),
            "fp": fingerprint["hash"],
            "v": __version__,
            "layout": LAYOUT,
        }
    )
    cached = read_entry(store, key)
    if cached is not None:
        return cached
    parts = load_parts(source, recipe.data_path)
    writer = StepWriter(store, key, f"load-{source.name}", f"source:{source.name}")
    spec = writer.spec(recipe.drop_log.keep_rows, base_dir=str(recipe.data_path))
    cfg = source.model_dump(mode="json")
    for result in writer.run(executor(), load_task, [(spec, index, cfg, part) for part in parts]):
        writer.add(result)
    return writer.finish()


def estimate_rows(source, fingerprint: dict[str, Any], base_dir: Path) -> int:
    """About how many records a source has, from its fingerprint (to choose an executor before loading)."""
    total = 0
    for f in fingerprint.get("files", []):
        path = Path(f["path"]) if Path(f["path"]).is_absolute() else Path(base_dir) / f["path"]
        name = path.name.removesuffix(".gz")
        if name.endswith((".parquet", ".pq")) and not path.name.endswith(".gz"):
            total += pq.ParquetFile(path).metadata.num_rows
        elif name.endswith(".json") or path.name.endswith(".gz"):
            total += f["bytes"] // 1000
        else:
            total += f.get("lines", f["bytes"] // 1000)
    return total if source.limit is None else min(total, source.limit)


def _run_stage(
    store, stage: Stage, key, files, out_schema, executor, runtime=None, keep_rows: bool = True
) -> dict[str, Any]:
    """Run one stage into a new cache entry (for tests and benchmarks). ``files``: Parquet files or ``Shard``s;
    ``runtime``: ``data_dir`` and ``artifacts`` (see Stage.bind_runtime); ``keep_rows``: store dropped rows'
    content in the drop log (the recipe's ``drop_log.keep_rows``). Returns the step's stats."""
    shards = [
        f
        if isinstance(f, Shard)
        else Shard(f"in-{i:05d}", str(Path(f).resolve()), [], pq.ParquetFile(f).metadata.num_rows)
        for i, f in enumerate(files)
    ]
    return run_stage(store, stage, key, shards, out_schema, executor, runtime or {}, keep_rows).stats


def build(
    recipe: RecipeBase,
    store: Store | None = None,
    executor: str | None = None,
    reporter: Reporter | None = None,
    html_report: bool = True,
) -> BuildResult:
    """Build ``recipe`` into a version folder of ``store`` (default: the recipe's ``store``), with its
    ``report.html`` unless ``html_report`` is false; warnings (empty sources, stages dropping everything, the
    stages' own) go to the reporter's console and into the manifest. LLM engines the generation stages kept
    warm for each other are closed at the end. On a remote store the build holds a lease (``gc`` waits) and
    merges the generation request caches with the store's at the start and the end."""
    store = store or Store(recipe.store, recipe.storage_options)
    started = time.time()
    with Lease(store), store.object_cache():
        if store.remote:
            pull_sqlite(store.remote, "gen_cache", store.root / "gen_cache")
        try:
            return _build(recipe, store, executor, reporter, html_report)
        finally:
            _close_engines()
            if store.remote:
                push_sqlite(store.remote, "gen_cache", store.root / "gen_cache", since=started)


def _close_engines() -> None:
    """Stop the LLM engines the build's generation stages kept warm for each other (factory.llm.backends.pool)."""
    import sys

    pool = sys.modules.get("factory.llm.backends.pool")
    if pool is not None:
        pool.close_all()


def _stage_inputs(recipe: RecipeBase) -> list[Any]:
    """Each stage's input fingerprint, taken before any row is read (a generation stage resolves and
    identifies its model here); a setting that cannot be used is a recipe error at its line."""
    out = []
    for i, stage in enumerate(recipe.stages):  # type: ignore[attr-defined]
        try:
            out.append(stage.input_fingerprint())
        except SettingError as exc:
            loc = ("stages", i, *exc.loc)
            where = f"stages[{i}]" + "".join(f".{part}" for part in exc.loc)
            line = recipe_line(recipe, loc)
            where = f"{where} ({line})" if line else where
            raise RecipeError(str(recipe.file), [(where, str(exc))]) from None
    return out


@dataclass
class _Run:
    """What the steps of one build share: the recipe, the store, the reporter, and the executor (started when
    the first step that is not cached needs it)."""

    recipe: RecipeBase
    store: Store
    reporter: Reporter
    exec_kind: str
    _executor: Any = None

    def executor(self) -> Any:
        if self._executor is None:
            self._executor = make_executor(self.exec_kind, self.recipe.executor.num_cpus)
        return self._executor


def _build(
    recipe: RecipeBase,
    store: Store,
    executor: str | None,
    reporter: Reporter | None,
    html_report: bool,
) -> BuildResult:
    from factory.report.terminal import collect_warnings, print_warnings
    from factory.sources import fingerprint_source

    reporter = reporter or Reporter()
    store.clean_stale_tmp()
    started = time.perf_counter()
    schemas = check_plan(recipe)
    memo = store.fingerprint_memo()
    fingerprints = {s.name: fingerprint_source(s, recipe.data_path, memo) for s in recipe.sources}
    store.save_fingerprint_memo(memo)
    for stage in recipe.stages:  # type: ignore[attr-defined]
        stage.bind_runtime({"data_dir": str(recipe.data_path)})
    stage_inputs = _stage_inputs(recipe)
    vid = version_id(recipe, fingerprints, stage_inputs)
    final = store.version_path(vid)
    if (manifest := store.manifest(vid)) is not None:
        reporter.note(f"version {vid} already built: nothing to do")
        warnings = manifest["warnings"] if "warnings" in manifest else collect_warnings(manifest, final)
        print_warnings(warnings, reporter.console)
        return BuildResult(vid, final, manifest, True, store.where(f"versions/{vid}"))

    estimate = sum(estimate_rows(s, fingerprints[s.name], recipe.data_path) for s in recipe.sources)
    exec_kind = executor or choose_executor(recipe.executor.kind, estimate, recipe.executor.ray_min_rows)
    run = _Run(recipe, store, reporter, exec_kind)
    source_entries, steps = _load_sources(run, fingerprints)
    input_rows = sum(s["rows_kept"] for s in source_entries)
    reporter.note(f"{input_rows} rows from {len(recipe.sources)} source(s); executor: {exec_kind}")
    shards = [shard for step in steps for shard in step.shards]
    upstream_key = stable_hash([step.key for step in steps])
    stage_entries, artifact_dirs, stage_steps = _run_stages(run, schemas, stage_inputs, shards, upstream_key)
    if stage_steps:
        upstream_key, shards = stage_steps[-1].key, stage_steps[-1].shards
    steps += stage_steps
    outputs = outputs_step(store, recipe, upstream_key, shards, schemas[-1], run.executor)
    tmp = store.new_tmp(f"version-{vid}")
    written = write_version(store, tmp, outputs, steps, schemas[-1], recipe, vid)
    for entry in stage_entries:
        folder, objects = artifact_dirs.get(entry["name"], (None, None))
        entry["artifacts"] = link_artifacts(folder, tmp, entry["name"], objects)
    manifest = _manifest(run, vid, source_entries, stage_entries, written, outputs, started)
    return _publish(run, vid, tmp, manifest, html_report)


def _load_sources(run: _Run, fingerprints: dict[str, dict[str, Any]]) -> tuple[list[dict], list[StepResult]]:
    """Load every source (cached per source); the manifest's source entries and the load steps."""
    entries, steps = [], []
    for index, source in enumerate(run.recipe.sources):
        step = _load_step(run.store, run.recipe, index, source, fingerprints[source.name], run.executor)
        run.reporter.step(f"source {source.name}", step.stats, cached=step.cached)
        steps.append(step)
        entries.append(
            {
                "name": source.name,
                "adapter": source.adapter,
                "licence": source.licence,
                "fingerprint": fingerprints[source.name],
                "key": step.key,
                "rows_read": step.stats["rows_in"],
                "rows_kept": step.stats["rows_out"],
                "dropped": step.stats["dropped"],
                "cached": step.cached,
            }
        )
    return entries, steps


def _run_stages(
    run: _Run, schemas: list[pa.Schema], stage_inputs: list[Any], shards: list[Shard], upstream_key: str
) -> tuple[list[dict[str, Any]], dict[str, tuple[Path, str | None]], list[StepResult]]:
    """Every stage in order, each from the cache when its key (type, params, code, inputs, upstream) is there;
    the manifest's stage entries, the stages' artifact folders (local, and their prefix in a remote store),
    the stage steps."""
    store, recipe = run.store, run.recipe
    entries, steps = [], []
    artifact_dirs: dict[str, tuple[Path, str | None]] = {}
    for i, stage in enumerate(recipe.stages):  # type: ignore[attr-defined]
        key = stable_hash(
            {
                "type": stage.type,
                "params": stage.params(),
                "code": stage.code_version,
                "inputs": stage_inputs[i],
                "up": upstream_key,
                "v": __version__,
                "layout": LAYOUT,
            }
        )
        step = read_entry(store, key)
        if step is None:
            runtime = {
                "data_dir": str(recipe.data_path),
                "store_dir": str(store.root),
                "artifacts": {name: str(artifact_dirs[name][0]) for name in stage.artifact_inputs()},
            }
            step = run_stage(
                store, stage, key, shards, schemas[i + 1], run.executor(), runtime, recipe.drop_log.keep_rows
            )
        run.reporter.step(stage.stage_name, step.stats, cached=step.cached)
        steps.append(step)
        entries.append(
            {
                "name": stage.stage_name,
                "type": stage.type,
                "key": key,
                "params": stage.params(),
                "cached": step.cached,
                **step.stats,
            }
        )
        shards = step.shards
        if (folder := store.entry_artifacts(key, step.extra)) is not None:
            objects = f"{step.extra['entry']}/artifacts" if store.remote else None
            artifact_dirs[stage.stage_name] = (folder, objects)
        upstream_key = key
    return entries, artifact_dirs, steps


def _manifest(
    run: _Run,
    vid: str,
    sources: list[dict[str, Any]],
    stages: list[dict[str, Any]],
    written: dict[str, Any],
    outputs: StepResult,
    started: float,
) -> dict[str, Any]:
    """The version's manifest (its warnings are added by ``_publish``), after checking that every row read is
    in an output or the drop log."""
    recipe = run.recipe
    rows_read = sum(s["rows_read"] for s in sources)
    rows_out = sum(o["rows"] for o in written["outputs"].values())
    if rows_read != rows_out + written["drop_log"]["rows"]:
        raise StageError(
            f"rows lost: {rows_read} read, {rows_out} in outputs, {written['drop_log']['rows']} dropped"
        )
    return {
        "version": vid,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "factory_version": __version__,
        "recipe_name": recipe.name,
        "recipe_hash": stable_hash(recipe.content()),
        "executor": run.exec_kind,
        "sources": sources,
        "stages": stages,
        **written,
        "outputs_step": {"key": outputs.key, "cached": outputs.cached, "wall_s": outputs.stats["wall_s"]},
        "totals": {
            "rows_in": rows_read,
            "rows_out": rows_out,
            "rows_dropped": written["drop_log"]["rows"],
            "wall_s": round(time.perf_counter() - started, 3),
        },
        "recipe": recipe.model_dump(mode="json", exclude={"storage_options"}),  # may hold credentials
    }


def _publish(run: _Run, vid: str, tmp: Path, manifest: dict[str, Any], html_report: bool) -> BuildResult:
    """Warnings, manifest, recipe and report into ``tmp``, then the version published (``publish_version``)."""
    from factory.report.terminal import collect_warnings, print_warnings, write_report

    manifest["warnings"] = collect_warnings(manifest, tmp)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    (tmp / "recipe.yaml").write_text(
        yaml.safe_dump(manifest["recipe"], sort_keys=False, allow_unicode=True)
    )
    if html_report:
        write_report(tmp, manifest)  # published with the version, atomically
    print_warnings(manifest["warnings"], run.reporter.console)
    final = run.store.version_path(vid)
    if not publish_version(run.store, tmp, vid):
        run.reporter.note(f"version {vid} was finished by a concurrent build; using it")
        manifest = json.loads((final / "manifest.json").read_text())
    return BuildResult(vid, final, manifest, False, run.store.where(f"versions/{vid}"))


def read_output(version_path: Path, name: str) -> pa.Table:
    """An output dataset of a version as one Arrow table (for tests and small data)."""
    return pq.read_table(version_path / name)
