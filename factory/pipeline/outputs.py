"""Outputs: the final rows routed to the recipe's outputs by the workers, and the version folder made of links.

Two phases of tasks. ``route_shard`` (one per final shard) sends each row to the first output that takes it
(its kind, and its form: ``messages`` needs chat messages, ``preference`` a prompt/chosen/rejected triple,
``rows`` anything), and within an output with a ``test_share`` to its ``train`` or ``test`` split by a seeded
hash of its id (a row's split never depends on the other rows, so a rebuild splits alike). It counts the rows
of each output and split and, per output, the rows that fill each column the output may write, and logs the
rows no output takes (reason ``no_output``). From the counts the driver decides each output's columns
(``factory.pipeline.output_schema``: the same for every file of the output) and cuts each split into files of
``shard_rows`` rows in pipeline order; ``write_file`` (one per file) writes ``<output>/part-NNNNN.parquet``
(train) or ``<output>/test-NNNNN.parquet`` from the slices of the shards it covers (on a remote store the
worker uploads it). The version then refers to those files and to every step's drop files
(``factory.pipeline.version``): no row is copied on the driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from factory.columns import array
from factory.pipeline.output_schema import CONTRACT, candidates
from factory.pipeline.tasks import schema_of
from factory.report.lengths import Hist, count_words, length_plan, merge
from factory.stage import DROP, DROP_DETAIL
from factory.storage.shards import KEEP_CODEC, DropSink, ParquetSink, Shard, file_info, read_shard

SPLITS = ("train", "test")
FILE_PREFIX = {"train": "part", "test": "test"}  # train files keep the name readers glob (part-*.parquet)


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


def in_test(ids: list[str], share: float, seed: int) -> np.ndarray:
    """Rows whose seeded id hash falls in the first ``share`` of the hash range: the test split."""
    if share <= 0:
        return np.zeros(len(ids), bool)
    cut = int(share * 2**64)
    return np.fromiter(
        (xxhash.xxh3_64_intdigest(f"{seed}\x00split\x00{i}".encode()) < cut for i in ids), bool, len(ids)
    )


def split_masks(table: pa.Table, outputs: dict[str, dict[str, Any]]) -> dict[Any, np.ndarray]:
    """``route``'s masks cut by split: ``{(output, split): mask}`` (splits an output has), plus ``None``."""
    masks = route(table, outputs)
    out: dict[Any, np.ndarray] = {None: masks.pop(None)}  # type: ignore[call-overload]
    ids: list[str] | None = None
    for name, take in masks.items():
        share = outputs[name].get("test_share") or 0.0
        if share <= 0:
            out[(name, "train")] = take
            continue
        ids = table.column("id").to_pylist() if ids is None else ids
        test = in_test(ids, share, outputs[name].get("split_seed", 0))
        out[(name, "train")], out[(name, "test")] = take & ~test, take & test
    return out


def route_shard(spec: dict[str, Any], shard_json: dict[str, Any]) -> dict[str, Any]:
    """Phase 1 on one final shard: rows per output and split (``spec['outputs']``: name -> format, kinds,
    shard_rows, columns, test_share), rows per output filling each column it may write, and the drop file of
    the rows no output takes."""
    shard = Shard.from_json(shard_json)
    schema = schema_of(spec)
    outputs = spec["outputs"]
    counts: dict[str, dict[str, int]] = {name: {} for name in outputs}
    filled = {name: dict.fromkeys(_counted(cfg, schema), 0) for name, cfg in outputs.items()}
    drops = DropSink(spec, shard.name)
    no_output: dict[str, int] = {}
    rows_in = 0
    for table, pos in read_shard(spec["root"], shard):
        rows_in += table.num_rows
        masks = split_masks(table, outputs)
        valid: dict[str, np.ndarray] = {}
        for (name, split), mask in ((k, m) for k, m in masks.items() if k is not None):
            counts[name][split] = counts[name].get(split, 0) + int(mask.sum())
            for col in filled[name]:
                if col not in valid:
                    valid[col] = np.asarray(pc.is_valid(array(table.column(col))), bool)
                filled[name][col] += int((valid[col] & mask).sum())
        lost = np.flatnonzero(masks[None])
        if lost.size:
            _log_no_output(drops, table.take(pa.array(lost)), pos[lost], shard.file, no_output)
    lost_rows = sum(no_output.values())
    return {
        "counts": counts,
        "filled": filled,
        "rows_in": rows_in,
        "rows_out": rows_in - lost_rows,
        "dropped": {"no_output": lost_rows} if lost_rows else {},
        "no_output_by_kind": no_output,
        "drop_file": drops.close(),
    }


def _counted(cfg: dict[str, Any], schema: pa.Schema) -> list[str]:
    """The columns of an output whose filled rows decide whether it writes them (none for ``rows``)."""
    if cfg["format"] == "rows":
        return []
    contract = set(CONTRACT[cfg["format"]])
    return [c for c in candidates(cfg["format"], schema, cfg.get("columns")) if c not in contract]


def _log_no_output(drops: DropSink, rows: pa.Table, pos: np.ndarray, file: str, by_kind: dict) -> None:
    kinds = rows.column("kind").to_pylist()
    for k in kinds:
        by_kind[str(k)] = by_kind.get(str(k), 0) + 1
    details = pa.array(
        [
            f"no output takes kind '{k}' of source '{s}' in this form"
            for k, s in zip(kinds, rows.column("source").to_pylist(), strict=True)
        ],
        pa.string(),
    )
    rows = rows.append_column(DROP, pa.array(["no_output"] * len(kinds), pa.string()))
    drops.add(rows.append_column(DROP_DETAIL, details), pos, file)


def cut_files(
    counts: list[dict[str, dict[str, int]]], outputs: dict[str, dict[str, Any]]
) -> list[tuple[str, str, int, list]]:
    """``(output, split, file number, [(shard index, first, last)])``: each split of each output, in shard
    order, cut into files of ``shard_rows`` rows; ``first``/``last`` count the split's rows within the shard."""
    files = []
    for name, cfg in outputs.items():
        for split in SPLITS:
            size, current, segments = cfg["shard_rows"], [], []
            filled = 0
            for i, shard_counts in enumerate(counts):
                start, n = 0, shard_counts[name].get(split, 0)
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
            files += [(name, split, k, seg) for k, seg in enumerate(segments)]
    return files


def file_name(split: str, number: int) -> str:
    return f"{FILE_PREFIX[split]}-{number:05d}.parquet"


def write_file(
    spec: dict[str, Any], name: str, split: str, number: int, parts: list[tuple[dict[str, Any], int, int]]
) -> dict:
    """Phase 2: ``<name>/<part|test>-<number>.parquet`` from rows ``first:last`` of the split's rows of each
    shard, with the columns the driver chose for the output (``spec['outputs'][name]['write']``); with the
    file's description, the words per row of its rows (``lengths``: a histogram per series, for the report;
    None for an output that has none, see ``factory.report.lengths``)."""
    schema = schema_of(spec)
    cols = spec["outputs"][name]["write"]
    out = Path(spec["out"])
    sink = ParquetSink(
        out / name / file_name(split, number), pa.schema([schema.field(c) for c in cols]), KEEP_CODEC
    )
    plan = length_plan(cols)
    lengths: list[dict[str, Hist]] = []
    for shard_json, first, last in parts:
        seen = 0
        for table, _ in read_shard(spec["root"], Shard.from_json(shard_json)):
            taken = table.filter(pa.array(split_masks(table, spec["outputs"])[(name, split)]))
            lo, hi = max(first - seen, 0), min(last - seen, taken.num_rows)
            if lo < hi:
                part = taken.slice(lo, hi - lo).select(cols)
                sink.write(part)
                if plan is not None:
                    lengths.append(count_words([part], plan))
            seen += taken.num_rows
            if seen >= last:
                break
    sink.close(empty_ok=True)
    info = file_info(sink.path, sink.rows, relative_to=out)
    return {"name": name, "split": split, "file": info, "lengths": None if plan is None else merge(lengths)}


def empty_file(path: Path, schema: pa.Schema) -> dict[str, Any]:
    """An output with no rows still gets one (empty) file, so readers find its schema."""
    sink = ParquetSink(path, schema, KEEP_CODEC)
    sink.close(empty_ok=True)
    return file_info(path, 0, relative_to=path.parent.parent)
