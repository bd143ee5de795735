"""The tasks workers run, one call per shard: each reads its input shard, writes its own output and drop files
under names derived from the shard's name, and returns counts and file descriptions only.

A task gets a ``spec`` (a plain dict, the same for every shard of a step): ``root`` (the store), ``out`` (the
step's folder, in the store's ``tmp/`` until the step is published), ``stage`` (the stage's name in the drop
log), ``keep_rows``, and for stage tasks ``type``/``config``/``runtime`` (see ``executors.worker_stage``) and
``schema`` (the step's output schema, serialised).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from factory.pipeline.executors import worker_stage
from factory.stage import DROP, DROP_DETAIL
from factory.storage.shards import DropSink, ParquetSink, Shard, read_shard


def schema_of(spec: dict[str, Any]) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(spec["schema"]))


def schema_bytes(schema: pa.Schema) -> bytes:
    return schema.serialize().to_pybytes()


def map_shard(spec: dict[str, Any], shard_json: dict[str, Any]) -> dict[str, Any]:
    """A map stage over one shard: kept rows to ``data/<shard>.parquet`` (nothing for a ``filter_only``
    stage, whose shard is the input's with one more drop file), dropped rows to the drop file."""
    stage = worker_stage(spec)
    shard = Shard.from_json(shard_json)
    out = Path(spec["out"])
    schema = schema_of(spec)
    data = None if stage.filter_only else ParquetSink(out / "data" / f"{shard.name}.parquet", schema)
    drops = DropSink(spec, shard.name)
    rows_in = 0
    for table, pos in read_shard(spec["root"], shard, batch_size=max(stage.batch_size, stage.min_batch_size)):
        rows_in += table.num_rows
        result = stage.apply_table(table)
        if data is not None:
            data.write(result.filter(pc.is_null(result.column(DROP))))
        drops.add(result, pos, shard.file)
    if data is None:
        return _filtered(spec, shard, drops, rows_in)
    data.close()
    drop_file = drops.close()
    rows_out = rows_in - sum(drops.dropped.values())
    new = Shard(shard.name, f"{spec['entry']}/data/{shard.name}.parquet", [], rows_out)
    return _result(new, rows_in, drops, drop_file)


def _filtered(spec: dict[str, Any], shard: Shard, drops: DropSink, rows_in: int) -> dict[str, Any]:
    """A step's result for a shard whose rows only lost some: the input shard, plus this step's drop file."""
    drop_file = drops.close()
    extra = [f"{spec['entry']}/{drop_file['path']}"] if drop_file else []
    rows_out = rows_in - sum(drops.dropped.values())
    return _result(Shard(shard.name, shard.file, shard.drops + extra, rows_out), rows_in, drops, drop_file)


def _result(new: Shard, rows_in: int, drops: DropSink, drop_file: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "shard": new.to_json() if new.rows else None,
        "rows_in": rows_in,
        "rows_out": new.rows,
        "dropped": dict(drops.dropped),
        "drop_file": drop_file,
    }


def keys_shard(spec: dict[str, Any], shard_json: dict[str, Any]) -> dict[str, Any]:
    """A GlobalStage's ``keys`` over the rows of one shard that ``apply_to`` selects: ``{"keys": table}`` of
    ``id`` + key columns."""
    stage = worker_stage(spec)
    schema = schema_of(spec)
    parts = [schema.empty_table()]
    for table, _ in read_shard(spec["root"], Shard.from_json(shard_json), batch_size=stage.batch_size):
        if stage.apply_to is not None:
            table = table.filter(stage.apply_to.mask(table))
        if table.num_rows:
            parts.append(pa.Table.from_pylist(stage.keys(table.to_pylist()), schema=schema))  # type: ignore[attr-defined]
    return {"keys": pa.concat_tables(parts)}


def apply_drops(spec: dict[str, Any], shard_json: dict[str, Any], decisions: Any) -> dict[str, Any]:
    """Drop the rows of one shard named by a global stage's ``Decision``, written by this worker.

    ``decisions``: a table ``id, reason, detail`` (``Decision.by_id``, matched on the rows' ids), or Parquet
    files of ``pos, reason, detail`` for this shard (``Decision.files``: row numbers in ``shard.file``), or
    None (nothing to drop)."""
    shard = Shard.from_json(shard_json)
    drops = DropSink(spec, shard.name)
    by_pos = None
    if decisions is not None and not isinstance(decisions, pa.Table):
        import pyarrow.parquet as pq

        decisions = pa.concat_tables([pq.read_table(f) for f in decisions])
        by_pos = decisions.column("pos").to_numpy()
    rows_in = 0
    for table, pos in read_shard(spec["root"], shard, batch_size=65_536):
        rows_in += table.num_rows
        if decisions is None:
            continue
        if by_pos is None:
            at = pc.index_in(table.column("id"), value_set=decisions.column("id"))
        else:
            at = _positions_in(by_pos, pos)
        if at.null_count == len(at):
            continue
        reason = decisions.column("reason").take(at)
        detail = decisions.column("detail").take(at)
        drops.add(table.append_column(DROP, reason).append_column(DROP_DETAIL, detail), pos, shard.file)
    return _filtered(spec, shard, drops, rows_in)


def _positions_in(chosen: np.ndarray, pos: np.ndarray) -> pa.Array:
    """For each of ``pos``, its index in ``chosen`` (distinct row numbers), null when absent."""
    order = np.argsort(chosen, kind="stable")
    ranked = chosen[order]
    at = np.minimum(np.searchsorted(ranked, pos), max(ranked.size - 1, 0))
    found = (ranked[at] == pos) if ranked.size else np.zeros(pos.size, bool)
    return pa.array(order[at] if ranked.size else np.zeros(pos.size, np.int64), pa.int64(), mask=~found)
