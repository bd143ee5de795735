"""The end of a build: the outputs step (routing and cutting, done by tasks; each output's columns decided from
what its rows fill, by ``output_schema``) and the version folder, made of hard links to the outputs step's files
and every step's drop files, plus artifacts and the manifest's file lists (with each output's columns and
splits). On a remote store the folder is the mirror's local copy (the files downloaded: the report reads
them) and each file's entry in the manifest names its ``object`` in the store, which the version refers to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from factory import __version__
from factory.hashing import stable_hash
from factory.pipeline.output_schema import CODE_VERSION, output_columns
from factory.pipeline.outputs import empty_file, file_name
from factory.pipeline.steps import LAYOUT, StepResult, StepWriter, read_entry
from factory.recipe import OutputConfig, RecipeBase
from factory.report.lengths import Hist, length_plan, merge
from factory.storage.shards import DROP_SCHEMA, Shard
from factory.storage.store import Store, place


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
    counted: dict[str, list[dict[str, Hist]]] = {
        n: [] for n in outputs if length_plan(columns[n]) is not None
    }
    for result in writer.run(executor(), write_file, calls):
        info = {
            **result["file"],
            "path": f"{writer.entry}/{result['file']['path']}",
            "split": result["split"],
        }
        files[result["name"]].append(info)
        if result["lengths"] is not None:
            counted[result["name"]].append(result["lengths"])
    index = {
        "files": files,
        "columns": columns,
        "no_output_by_kind": dict(sorted(no_output.items())),
        "lengths": {name: merge(hists) for name, hists in counted.items()},  # the driver only sums
    }
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


def _in_version(store: Store, info: dict[str, Any], rel: str, pairs: list) -> dict[str, Any]:
    """A store file's entry in the manifest at ``rel`` in the version (remote: with its ``object``); the file
    goes into ``pairs`` (to be linked, or downloaded, into the version folder)."""
    pairs.append((info["path"], rel))
    return {**info, "path": rel, "object": info["path"]} if store.remote else {**info, "path": rel}


def _link_output(
    store: Store, tmp: Path, name: str, infos: list[dict], columns: list[str], schema, out: OutputConfig,
    pairs: list[tuple[str, str]], lengths: dict[str, Hist] | None,
) -> dict[str, Any]:  # fmt: skip
    """One output's files into ``tmp/<name>/`` (by ``pairs``); a split without rows gets an empty file (its
    schema for readers). The manifest's entry: rows, files (with their split), columns, rows per split, and the
    words per row the outputs step counted (``lengths``; absent from an outputs step cached before it did)."""
    # part-NNNNN.parquet, test-NNNNN.parquet
    files = [_in_version(store, info, f"{name}/{Path(info['path']).name}", pairs) for info in infos]
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
    if lengths is not None:
        entry["lengths"] = lengths
    return entry


def link_artifacts(
    folder: Path | None, tmp: Path, stage_name: str, objects: str | None = None
) -> list[dict[str, Any]]:
    """A stage's artifacts (a local folder) into the version, under ``artifacts/<stage>/``; their descriptions
    (with ``objects``, the entry's artifacts prefix in a remote store: each file's ``object``)."""
    if folder is None:
        return []
    from factory.hashing import file_sha256

    out = []
    for src in sorted(p for p in folder.rglob("*") if p.is_file()):
        dst = tmp / "artifacts" / stage_name / src.relative_to(folder)
        place(src, dst)
        info = {"path": str(dst.relative_to(tmp)), "bytes": dst.stat().st_size, "sha256": file_sha256(dst)}
        if objects is not None:
            info["object"] = f"{objects}/{src.relative_to(folder).as_posix()}"
        out.append(info)
    return out


def write_version(
    store: Store, tmp: Path, outputs: StepResult, steps: list[StepResult], schema, recipe: RecipeBase,
    version_id: str,
) -> dict[str, Any]:  # fmt: skip
    """Outputs and the drop log of every step into ``tmp`` (hard links; downloads from a remote store); the
    manifest's parts about them. Empty files made here are, remotely, objects of the version's own folder."""
    pairs: list[tuple[str, str]] = []
    columns, lengths = outputs.extra["columns"], outputs.extra.get("lengths", {})
    written = {
        name: _link_output(
            store, tmp, name, infos, columns[name], schema, recipe.outputs[name], pairs, lengths.get(name)
        )
        for name, infos in outputs.extra["files"].items()
    }
    drops = []
    for i, step in enumerate([*steps, outputs]):
        for info in step.drop_files:
            drops.append(_in_version(store, info, f"drops/part-{i:03d}-{Path(info['path']).stem}.parquet", pairs))
    if not drops:
        drops.append(empty_file(tmp / "drops" / "part-00000.parquet", DROP_SCHEMA))
    store.place_many([(src, tmp / rel) for src, rel in pairs])
    if store.remote:
        for f in [*(f for out in written.values() for f in out["files"]), *drops]:
            f.setdefault("object", f"versions/{version_id}/{f['path']}")  # uploaded with the version
    return {
        "outputs": written,
        "drop_log": {"rows": sum(f["rows"] for f in drops), "files": drops},
        "no_output_by_kind": outputs.extra.get("no_output_by_kind", {}),
    }
