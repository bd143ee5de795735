"""Shards: how a step's rows are stored, referenced and read, by whichever worker made or needs them.

A step's output is a list of ``Shard``s, one per input shard, with the same name (``000-00003-0001``:
source, file, chunk), so names are deterministic whoever runs the task. A shard is a Parquet ``file`` plus
the ``drops`` files of the later filter stages: their ``pos`` rows are no longer part of it. A stage that
rewrites rows writes a new file; a stage that only drops rows (a filter, a dedup, a mix) writes only its
drop file and hands on the same file with one more entry in ``drops``, so its cache entry copies nothing.

Paths are relative to the store root (absolute paths are allowed, e.g. for test inputs); the root is a local
folder or a ``Remote`` store, whose files a reader fetches whole (``resolve``). Writers always write local
files (in the step's ``out`` folder); on a remote store the worker uploads them when its task ends. Drop files hold
``DROP_SCHEMA``: ``id``, ``source``, ``stage``, ``reason``, ``detail``, ``row`` (the row as JSON, only with
``drop_log.keep_rows``), ``shard`` (the Parquet file the row was read from: a source file for the drops of
loading) and ``pos`` (its row number there): the content can be read back from the cache while it exists.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from factory.stage import DROP, DROP_DETAIL
from factory.storage.remote import Remote

DROP_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("row", pa.string()),
        ("shard", pa.string()),
        ("pos", pa.int64()),
    ]
)
# Cache shards are read back once or twice: fast codecs. Outputs and drop logs, which users keep: zstd.
WORK_CODEC = {"compression": "lz4", "use_dictionary": False}
KEEP_CODEC = {"compression": "zstd"}


@dataclass
class Shard:
    """One shard of a step's output: ``file`` minus the ``pos`` rows listed in the ``drops`` files."""

    name: str
    file: str
    drops: list[str] = field(default_factory=list)
    rows: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Shard:
        return cls(**data)


Root = str | Path | Remote  # a task spec's ``root``: a local store folder, or a remote store


def resolve(root: Root, rel: str) -> Path | pa.BufferReader:
    """A file of the store, to read with pyarrow: a local path, or (remote store) the build's local copy, or its
    bytes, fetched in one GET. Absolute paths (test inputs) are local whatever the store."""
    if isinstance(root, Remote) and not rel.startswith("/"):
        if root.cache is not None:
            return root.local_copy(rel)
        data = root.cat(rel)
        if data is None:
            raise FileNotFoundError(root.join(rel))
        return pa.BufferReader(data)
    return Path(str(root)) / rel


def excluded(root: Root, shard: Shard) -> np.ndarray:
    """Sorted row numbers of ``shard.file`` that ``shard.drops`` removed."""
    parts = [pq.read_table(resolve(root, f), columns=["pos"]).column("pos").to_numpy() for f in shard.drops]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def read_shard(
    root: Root, shard: Shard, batch_size: int = 65_536, columns: list[str] | None = None
) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """The live rows of ``shard`` in batches of at most ``batch_size``, each with their row numbers in the file."""
    gone = excluded(root, shard)
    parquet = pq.ParquetFile(resolve(root, shard.file))
    start = 0
    pending: list[tuple[pa.Table, np.ndarray]] = []
    size = 0
    for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
        pos = np.arange(start, start + batch.num_rows, dtype=np.int64)
        start += batch.num_rows
        table = pa.Table.from_batches([batch])
        if gone.size:
            keep = ~np.isin(pos, gone, assume_unique=True)
            if not keep.all():
                table, pos = table.filter(pa.array(keep)), pos[keep]
        if table.num_rows == 0:
            continue
        pending.append((table, pos))
        size += table.num_rows
        if size >= batch_size:  # re-batch after filtering so stages see full batches
            yield _joined(pending)
            pending, size = [], 0
    if pending:
        yield _joined(pending)


def _joined(parts: list[tuple[pa.Table, np.ndarray]]) -> tuple[pa.Table, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return pa.concat_tables([t for t, _ in parts]).combine_chunks(), np.concatenate([p for _, p in parts])


def read_all(root: Root, shards: list[Shard], columns: list[str] | None = None) -> pa.Table | None:
    """Every live row of ``shards`` as one table (for small data: tests, generation stages' inputs)."""
    parts = [t for s in shards for t, _ in read_shard(root, s, columns=columns)]
    return pa.concat_tables(parts) if parts else None


def file_info(path: Path, rows: int, relative_to: Path | None = None) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    rel = str(path.relative_to(relative_to)) if relative_to else str(path)
    return {"path": rel, "rows": rows, "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


class ParquetSink:
    """Appends tables to one Parquet file, opened on the first write (or by ``close(empty_ok=True)``)."""

    def __init__(self, path: Path, schema: pa.Schema, codec: dict[str, Any] | None = None):
        self.path, self.schema, self.codec = path, schema, codec or WORK_CODEC
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, self.schema, **self.codec)
        self._writer.write_table(table.select(self.schema.names).cast(self.schema))
        self.rows += table.num_rows

    def close(self, empty_ok: bool = False) -> bool:
        """Finish the file; whether it exists (an empty sink writes a file only with ``empty_ok``)."""
        if self._writer is None and empty_ok:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, self.schema, **self.codec)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            return True
        return False


def drop_records(
    table: pa.Table, pos: np.ndarray | None, stage: str, shard_file: str | None, keep_rows: bool
) -> pa.Table:
    """The drop-log rows of the dropped rows of ``table`` (those with ``_drop`` set), ``pos`` their row
    numbers in ``shard_file``. ``row`` holds each row's other columns as JSON with ``keep_rows``."""
    dropped = pc.invert(pc.is_null(table.column(DROP)))
    if not pc.any(dropped).as_py():
        return DROP_SCHEMA.empty_table()
    mask = dropped.combine_chunks() if isinstance(dropped, pa.ChunkedArray) else dropped
    rows = table.filter(mask)
    n = rows.num_rows
    content = None
    if keep_rows:
        data = rows.drop_columns([c for c in (DROP, DROP_DETAIL) if c in rows.column_names])
        content = pa.array(
            [json.dumps(r, ensure_ascii=False, default=str) for r in data.to_pylist()], pa.string()
        )
    return pa.Table.from_arrays(
        [
            _col(rows, "id", n),
            _col(rows, "source", n),
            pa.array([stage] * n, pa.string()),
            rows.column(DROP).cast(pa.string()),
            _col(rows, DROP_DETAIL, n),
            content if content is not None else pa.nulls(n, pa.string()),
            pa.array([shard_file] * n, pa.string()),
            pa.array(pos[mask.to_numpy(zero_copy_only=False)] if pos is not None else [None] * n, pa.int64()),
        ],
        schema=DROP_SCHEMA,
    )


def _col(table: pa.Table, name: str, n: int) -> pa.ChunkedArray | pa.Array:
    return table.column(name).cast(pa.string()) if name in table.column_names else pa.nulls(n, pa.string())


def count_drops(table: pa.Table, counter: Counter) -> None:
    reasons = table.column(DROP)
    if reasons.null_count < len(reasons):
        for item in pc.value_counts(reasons.drop_null()).to_pylist():
            counter[item["values"]] += item["counts"]


class DropSink:
    """The drop file of one shard of one step: ``drops/<shard>.parquet`` in the step folder."""

    def __init__(self, spec: dict[str, Any], name: str):
        self.out = Path(spec["out"])
        self.sink = ParquetSink(self.out / "drops" / f"{name}.parquet", DROP_SCHEMA, KEEP_CODEC)
        self.stage, self.keep_rows = spec["stage"], spec["keep_rows"]
        self.dropped: Counter[str] = Counter()

    def add(self, table: pa.Table, pos: np.ndarray | None, shard_file: str | None) -> None:
        """Log the rows of ``table`` whose ``_drop`` is set (``pos``: their row numbers in ``shard_file``)."""
        count_drops(table, self.dropped)
        self.sink.write(drop_records(table, pos, self.stage, shard_file, self.keep_rows))

    def close(self) -> dict[str, Any] | None:
        """The file's description (path relative to the step folder), or None when nothing was dropped."""
        if not self.sink.close():
            return None
        return file_info(self.sink.path, self.sink.rows, relative_to=self.out)
