"""The end of a build: the outputs step (routing and cutting, done by tasks; each output's columns decided from
what its rows fill, by ``output_schema``) and the version folder, made of hard links to the outputs step's files
and every step's drop files, plus artifacts and the manifest's file lists (with each output's columns and
splits)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa

from factory import __version__
from factory.hashing import stable_hash
from factory.pipeline.output_schema import CODE_VERSION, output_columns
from factory.pipeline.outputs import empty_file, file_name, place
from factory.pipeline.steps import LAYOUT, StepResult, StepWriter, read_entry
from factory.recipe import OutputConfig, RecipeBase
from factory.storage.shards import DROP_SCHEMA, Shard
from factory.storage.store import Store


def outputs_step(
    store: Store, recipe: RecipeBase, upstream: str, shards: list[Shard], schema, executor
) -> StepResult:
    """Route the final shards to the outputs and write their files (cached under the outputs, the upstream
    key and ``output_schema.CODE_VERSION``); the entry's index lists each output's files, columns and splits."""
    from factory.pipeline.outputs import cut_files, route_shard, write_file
    from factory.pipeline.tasks import schema_bytes

    outputs = {name: _output_spec(out) for name, out in recipe.outputs.items()}
    key = stable_hash(
        {
            "step": "outputs",
            "outputs": outputs,
            "up": upstream,
            "keep": recipe.drop_log.keep_rows,
            "v": __version__,
            "code": CODE_VERSION,
            "layout": LAYOUT,
        }  # fmt: skip
    )
    cached = read_entry(store, key)
    if cached is not None:
        return cached
    writer = StepWriter(store, key, "outputs", "outputs")
    spec = writer.spec(recipe.drop_log.keep_rows, outputs=outputs, schema=schema_bytes(schema))
    routed = writer.run(executor(), route_shard, [(spec, s.to_json()) for s in shards])
    no_output: dict[str, int] = {}
    for result in routed:
        writer.add(result)
        for kind, n in result["no_output_by_kind"].items():
            no_output[kind] = no_output.get(kind, 0) + n
    writer.shards = []  # the outputs step hands on files, not shards
    columns = _decide_columns(outputs, schema, [r["filled"] for r in routed])
    spec = {**spec, "outputs": {name: {**cfg, "write": columns[name]} for name, cfg in outputs.items()}}
    plan = cut_files([r["counts"] for r in routed], outputs)
    calls = [
        (spec, name, split, k, [(shards[i].to_json(), a, b) for i, a, b in seg])
        for name, split, k, seg in plan
    ]
    files: dict[str, list[dict[str, Any]]] = {name: [] for name in outputs}
    for result in writer.run(executor(), write_file, calls):
        info = {
            **result["file"],
            "path": f"{writer.entry}/{result['file']['path']}",
            "split": result["split"],
        }
        files[result["name"]].append(info)
    index = {"files": files, "columns": columns, "no_output_by_kind": dict(sorted(no_output.items()))}
    return writer.finish(extra_index=index)


def _output_spec(out: OutputConfig) -> dict[str, Any]:
    """What the outputs step's tasks need of an output's config (and what its cache key holds)."""
    spec: dict[str, Any] = {"format": out.format, "kinds": out.kinds, "shard_rows": out.shard_rows}
    if out.sources is not None:
        spec["sources"] = out.sources
    if out.columns:
        spec["columns"] = out.columns
    if out.test_share > 0:
        spec.update(test_share=out.test_share, split_seed=out.split_seed)
    return spec


def _decide_columns(
    outputs: dict[str, dict[str, Any]], schema: pa.Schema, filled: list[dict[str, dict[str, int]]]
) -> dict[str, list[str]]:
    """Each output's columns, one list for all its files, from the rows of every shard filling each column."""
    out = {}
    for name, cfg in outputs.items():
        totals: dict[str, int] = {}
        for shard in filled:
            for col, n in shard[name].items():
                totals[col] = totals.get(col, 0) + n
        out[name] = output_columns(cfg["format"], schema, totals, cfg.get("columns"))
    return out


def _link_output(
    store: Store, tmp: Path, name: str, infos: list[dict], columns: list[str], schema, out: OutputConfig
) -> dict[str, Any]:
    """One output's files into ``tmp/<name>/``; a split without rows gets an empty file (its schema for
    readers). The manifest's entry: rows, files (with their split), columns, and rows per split if split."""
    files = []
    for info in infos:
        rel = f"{name}/{Path(info['path']).name}"  # part-NNNNN.parquet, test-NNNNN.parquet
        place(store.root / info["path"], tmp / rel)
        files.append({**info, "path": rel})
    splits = ("train", "test") if out.test_share > 0 else ("train",)
    for split in splits:
        if not any(f["split"] == split for f in files):
            empty = empty_file(
                tmp / name / file_name(split, 0), pa.schema([schema.field(c) for c in columns])
            )
            files.append({**empty, "split": split})
    entry: dict[str, Any] = {"rows": sum(f["rows"] for f in files), "files": files, "columns": columns}
    if out.test_share > 0:
        entry["splits"] = {split: sum(f["rows"] for f in files if f["split"] == split) for split in splits}
    return entry


def link_artifacts(folder: Path | None, tmp: Path, stage_name: str) -> list[dict[str, Any]]:
    """A stage's artifacts into the version, under ``artifacts/<stage>/``; their descriptions."""
    if folder is None:
        return []
    from factory.hashing import file_sha256

    dest = tmp / "artifacts" / stage_name
    shutil.copytree(folder, dest, copy_function=lambda src, dst: place(Path(src), Path(dst)))
    return [
        {"path": str(p.relative_to(tmp)), "bytes": p.stat().st_size, "sha256": file_sha256(p)}
        for p in sorted(dest.rglob("*"))
        if p.is_file()
    ]


def write_version(
    store: Store, tmp: Path, outputs: StepResult, steps: list[StepResult], schema, recipe: RecipeBase
) -> dict[str, Any]:
    """Outputs and the drop log of every step into ``tmp`` as hard links; the manifest's parts about them."""
    written = {
        name: _link_output(
            store, tmp, name, infos, outputs.extra["columns"][name], schema, recipe.outputs[name]
        )
        for name, infos in outputs.extra["files"].items()
    }
    drops = []
    for i, step in enumerate([*steps, outputs]):
        for info in step.drop_files:
            rel = f"drops/part-{i:03d}-{Path(info['path']).stem}.parquet"
            place(store.root / info["path"], tmp / rel)
            drops.append({**info, "path": rel})
    if not drops:
        drops.append(empty_file(tmp / "drops" / "part-00000.parquet", DROP_SCHEMA))
    return {
        "outputs": written,
        "drop_log": {"rows": sum(f["rows"] for f in drops), "files": drops},
        "no_output_by_kind": outputs.extra.get("no_output_by_kind", {}),
    }
