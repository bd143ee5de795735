"""A shuffle through files, for global stages that decide without the driver holding one key per row.

Map tasks (one per shard) write their small records into ``<work>/<name>/p<partition>/s<shard>.parquet``,
the partition chosen by a 64-bit hash column; reduce tasks (one per partition) read every file of their
partition. Records of one key always meet in one reduce task, so a group-by (exact duplicates, LSH buckets)
is local to it. Files rather than Ray's object store: the same code runs in process, and memory stays
bounded by one partition. Reduce tasks hand their decisions back per shard (``decision_file``), for the
workers that write the shards (``factory.tasks.apply_drops``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DECISION_SCHEMA = pa.schema([("pos", pa.int64()), ("reason", pa.string()), ("detail", pa.string())])
_FAST = {"compression": "lz4", "use_dictionary": False}


def partitions_for(shards: int) -> int:
    """How many reduce partitions for ``shards`` map tasks: one per shard, 1 to 64."""
    return max(1, min(64, shards))


def write_partitioned(table: pa.Table, key: np.ndarray, parts: int, folder: Path, shard: int) -> None:
    """Split ``table`` by ``key % parts`` into ``folder/p<j>/s<shard>.parquet`` (no file for an empty part)."""
    which = (key % np.uint64(parts)).astype(np.int64)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(parts + 1))
    for j in range(parts):
        if bounds[j] == bounds[j + 1]:
            continue
        path = folder / f"p{j:03d}" / f"s{shard:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.take(pa.array(order[bounds[j] : bounds[j + 1]])), path, **_FAST)


def read_partition(folder: Path, part: int, columns: list[str] | None = None) -> pa.Table | None:
    """Every record of partition ``part``, in shard order (None when there is none)."""
    files = sorted((folder / f"p{part:03d}").glob("s*.parquet"))
    tables = [pq.read_table(f, columns=columns) for f in files]
    return pa.concat_tables(tables) if tables else None


def write_decisions(
    folder: Path, tag: str, shard: np.ndarray, pos: np.ndarray, reason: str, details: list[str]
):
    """Decisions grouped by shard: ``{shard index: file}`` of ``pos, reason, detail`` under ``folder``."""
    out: dict[int, str] = {}
    if shard.size == 0:
        return out
    order = np.lexsort((pos, shard))
    shard, pos = shard[order], pos[order]
    details = [details[i] for i in order]
    cuts = np.flatnonzero(np.diff(shard)) + 1
    for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [shard.size]]), strict=True):
        path = folder / f"s{int(shard[lo]):05d}-{tag}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.table(
            {"pos": pos[lo:hi], "reason": [reason] * int(hi - lo), "detail": details[lo:hi]},
            schema=DECISION_SCHEMA,
        )
        pq.write_table(table, path, **_FAST)
        out[int(shard[lo])] = str(path)
    return out
