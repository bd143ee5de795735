"""Outputs: the final rows routed to the recipe's outputs by the workers, and the version folder made of links.

Two phases of tasks. ``route_shard`` (one per final shard) sends each row to the first output that takes it
(its kind, and its form: ``messages`` needs chat messages, ``preference`` a prompt/chosen/rejected triple,
``rows`` anything), counts the rows each output gets and logs the rows no output takes (reason
``no_output``). From the counts the driver cuts each output into files of ``shard_rows`` rows in pipeline
order, and ``write_file`` (one per file) writes ``<output>/part-NNNNN.parquet`` with the output's columns
from the slices of the shards it covers. The version folder is then made of hard links to those files and
to every step's drop files: no row is copied on the driver.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from factory.columns import array
from factory.pipeline.tasks import DropSink, schema_of
from factory.rows import CANONICAL_FIELDS
from factory.stage import DROP, DROP_DETAIL
from factory.storage.shards import KEEP_CODEC, ParquetSink, Shard, file_info, read_shard

OUTPUT_COLUMNS = {
    "messages": ["id", "source", "kind", "messages"],
    "preference": ["id", "source", "prompt", "chosen", "rejected"],
}


def output_columns(fmt: str, schema: pa.Schema) -> list[str]:
    extra = [c for c in schema.names if c not in CANONICAL_FIELDS]
    return list(schema.names) if fmt == "rows" else OUTPUT_COLUMNS[fmt] + extra


def _filled(table: pa.Table, name: str) -> np.ndarray:
    """Rows whose message list ``name`` is non-empty (Python truthiness of the list)."""
    size = pc.fill_null(pc.list_value_length(array(table.column(name))), 0)
    return np.asarray(size.to_numpy(zero_copy_only=False) > 0, bool)


def route(table: pa.Table, outputs: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """A mask per output of the rows it takes (each row to the first that takes it), plus ``None``: the rest."""
    kind = array(table.column("kind"))
    left = np.ones(table.num_rows, bool)
    out: dict[str, np.ndarray] = {}
    # outputs that name their sources take their rows first, then the others in recipe order
    for name, cfg in sorted(outputs.items(), key=lambda item: item[1].get("sources") is None):
        take = left.copy()
        if cfg["kinds"] is not None:
            take &= np.asarray(pc.fill_null(pc.is_in(kind, pa.array(cfg["kinds"], pa.string())), False), bool)
        if cfg.get("sources") is not None:
            source = array(table.column("source"))
            take &= np.asarray(
                pc.fill_null(pc.is_in(source, pa.array(cfg["sources"], pa.string())), False), bool
            )
        if cfg["format"] == "messages":
            take &= _filled(table, "messages")
        elif cfg["format"] == "preference":
            is_pref = np.asarray(pc.fill_null(pc.equal(kind, "preference"), False), bool)
            take &= is_pref & _filled(table, "chosen") & _filled(table, "rejected")
        out[name] = take
        left &= ~take
    out[None] = left  # type: ignore[index]
    return out


def route_shard(spec: dict[str, Any], shard_json: dict[str, Any]) -> dict[str, Any]:
    """Phase 1 on one final shard: rows per output (``spec['outputs']``: name -> format, kinds, shard_rows),
    and the drop file of the rows no output takes."""
    shard = Shard.from_json(shard_json)
    counts = {name: 0 for name in spec["outputs"]}
    drops = DropSink(spec, shard.name)
    no_output: dict[str, int] = {}
    rows_in = 0
    for table, pos in read_shard(spec["root"], shard):
        rows_in += table.num_rows
        masks = route(table, spec["outputs"])
        for name in counts:
            counts[name] += int(masks[name].sum())
        lost = np.flatnonzero(masks[None])  # type: ignore[index]
        if lost.size:
            rows = table.take(pa.array(lost))
            kinds = rows.column("kind").to_pylist()
            for k in kinds:
                no_output[str(k)] = no_output.get(str(k), 0) + 1
            details = pa.array(
                [
                    f"no output takes kind '{k}' of source '{s}' in this form"
                    for k, s in zip(kinds, rows.column("source").to_pylist(), strict=True)
                ],
                pa.string(),
            )
            rows = rows.append_column(DROP, pa.array(["no_output"] * len(kinds), pa.string()))
            drops.add(rows.append_column(DROP_DETAIL, details), pos[lost], shard.file)
    lost_rows = sum(no_output.values())
    return {
        "counts": counts,
        "rows_in": rows_in,
        "rows_out": rows_in - lost_rows,
        "dropped": {"no_output": lost_rows} if lost_rows else {},
        "no_output_by_kind": no_output,
        "drop_file": drops.close(),
    }


def cut_files(
    counts: list[dict[str, int]], outputs: dict[str, dict[str, Any]]
) -> list[tuple[str, int, list]]:
    """``(output, file number, [(shard index, first, last)])``: each output's rows, in shard order, cut into
    files of ``shard_rows`` rows; ``first``/``last`` count the output's rows within the shard."""
    files = []
    for name, cfg in outputs.items():
        size, current, segments = cfg["shard_rows"], [], []
        filled = 0
        for i, shard_counts in enumerate(counts):
            start, n = 0, shard_counts[name]
            while start < n:
                take = min(size - filled, n - start)
                current.append((i, start, start + take))
                start += take
                filled += take
                if filled == size:
                    segments.append(current)
                    current, filled = [], 0
        if current:
            segments.append(current)
        files += [(name, k, seg) for k, seg in enumerate(segments)]
    return files


def write_file(
    spec: dict[str, Any], name: str, number: int, parts: list[tuple[dict[str, Any], int, int]]
) -> dict:
    """Phase 2: ``<name>/part-<number>.parquet`` from rows ``first:last`` of the output's rows of each shard."""
    schema = schema_of(spec)
    cfg = spec["outputs"][name]
    cols = output_columns(cfg["format"], schema)
    out = Path(spec["out"])
    sink = ParquetSink(
        out / name / f"part-{number:05d}.parquet", pa.schema([schema.field(c) for c in cols]), KEEP_CODEC
    )
    for shard_json, first, last in parts:
        seen = 0
        for table, _ in read_shard(spec["root"], Shard.from_json(shard_json)):
            taken = table.filter(pa.array(route(table, spec["outputs"])[name]))
            lo, hi = max(first - seen, 0), min(last - seen, taken.num_rows)
            if lo < hi:
                sink.write(taken.slice(lo, hi - lo).select(cols))
            seen += taken.num_rows
            if seen >= last:
                break
    sink.close(empty_ok=True)
    return {"name": name, "file": file_info(sink.path, sink.rows, relative_to=out)}


def place(src: Path, dst: Path) -> None:
    """``dst`` as a hard link to ``src`` (a copy where the file system has no hard links)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def empty_file(path: Path, schema: pa.Schema) -> dict[str, Any]:
    """An output with no rows still gets one (empty) file, so readers find its schema."""
    sink = ParquetSink(path, schema, KEEP_CODEC)
    sink.close(empty_ok=True)
    return file_info(path, 0, relative_to=path.parent.parent)
