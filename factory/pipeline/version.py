"""The end of a build: the outputs step (routing and cutting, done by tasks) and the version folder, made of hard
links to the outputs step's files and every step's drop files, plus artifacts and the manifest's file lists."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa

from factory import __version__
from factory.hashing import stable_hash
from factory.pipeline.outputs import empty_file, place
from factory.pipeline.steps import LAYOUT, StepResult, StepWriter, read_entry
from factory.recipe import RecipeBase
from factory.storage.shards import DROP_SCHEMA, Shard
from factory.storage.store import Store


def outputs_step(
    store: Store, recipe: RecipeBase, upstream: str, shards: list[Shard], schema, executor
) -> StepResult:
    from factory.pipeline.outputs import cut_files, route_shard, write_file
    from factory.pipeline.tasks import schema_bytes

    outputs = {
        name: {
            "format": out.format,
            "kinds": out.kinds,
            "shard_rows": out.shard_rows,
            **({"sources": out.sources} if out.sources is not None else {}),
        }
        for name, out in recipe.outputs.items()
    }
    key = stable_hash(
        {
            "step": "outputs",
            "outputs": outputs,
            "up": upstream,
            "keep": recipe.drop_log.keep_rows,
            "v": __version__,
            "layout": LAYOUT,
        }  # fmt: skip
    )
    cached = read_entry(store, key)
    if cached is not None:
        return cached
    writer = StepWriter(store, key, "outputs", "outputs")
    spec = writer.spec(recipe.drop_log.keep_rows, outputs=outputs, schema=schema_bytes(schema))
    routed = executor().run(route_shard, [(spec, s.to_json()) for s in shards])
    no_output: dict[str, int] = {}
    for result in routed:
        writer.add(result)
        for kind, n in result["no_output_by_kind"].items():
            no_output[kind] = no_output.get(kind, 0) + n
    writer.shards = []  # the outputs step hands on files, not shards
    plan = cut_files([r["counts"] for r in routed], outputs)
    calls = [(spec, name, k, [(shards[i].to_json(), a, b) for i, a, b in seg]) for name, k, seg in plan]
    files: dict[str, list[dict[str, Any]]] = {name: [] for name in outputs}
    for result in executor().run(write_file, calls):
        files[result["name"]].append({**result["file"], "path": f"{writer.entry}/{result['file']['path']}"})
    return writer.finish(extra_index={"files": files, "no_output_by_kind": dict(sorted(no_output.items()))})


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
    from factory.pipeline.outputs import output_columns

    written: dict[str, Any] = {}
    for name, infos in outputs.extra["files"].items():
        files = []
        for info in infos:
            rel = f"{name}/{Path(info['path']).name}"  # part-NNNNN.parquet
            place(store.root / info["path"], tmp / rel)
            files.append({**info, "path": rel})
        if not files:
            cols = output_columns(recipe.outputs[name].format, schema)
            files.append(
                {**empty_file(tmp / name / "part-00000.parquet", pa.schema([schema.field(c) for c in cols]))}
            )
        written[name] = {"rows": sum(f["rows"] for f in files), "files": files}
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
