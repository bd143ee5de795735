"""Where a load task's rows go: shards of ``CHUNK_ROWS`` rows (``data/<source>-<file>-<chunk>.parquet``) and one
drop file per source file, written by the worker that loads it (``factory.sources.load.load_task``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from factory.rows import schema as row_schema
from factory.stage import DROP, with_drop_columns

CHUNK_ROWS = 65_536  # rows per loaded shard: later stages run one task per shard


def rows_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """``pa.Table.from_pylist(rows, schema)``, built column by column (several times faster)."""
    return pa.Table.from_arrays(
        [pa.array([r.get(f.name) for r in rows], f.type) for f in schema], schema=schema
    )


class LoadSink:
    """The shards and drop files of a load task. In: rows (``add_row``, the per-record path) or tables
    (``add_table``, the column path) of one file after another. Out (``close``): the task's result (shards,
    counts, drop files). Rows go in batches of ``BATCH`` records and a data file is closed once it holds
    ``CHUNK_ROWS`` rows, whichever path feeds it, so both cut the same shards."""

    BATCH = 8192

    def __init__(self, spec: dict[str, Any], source_index: int):
        self.spec, self.source_index, self.out = spec, source_index, Path(spec["out"])
        self.schema = with_drop_columns(row_schema())
        self.result: dict[str, Any] = {
            "shards": [], "rows_in": 0, "rows_out": 0, "dropped": {}, "drop_files": []
        }  # fmt: skip
        self.unit: Any = None
        self.rows: list[dict[str, Any]] = []
        self.pos: list[int] = []
        self.data: Any = None

    def _open(self, unit: Any, number: int) -> None:
        from factory.storage.shards import DropSink

        if unit is not self.unit:
            self._close_unit()
            self.unit, self.prefix, self.chunk = unit, f"{self.source_index:03d}-{number:05d}", 0
            self.drops = DropSink(self.spec, self.prefix)

    def _data(self) -> Any:
        from factory.storage.shards import ParquetSink

        if self.data is None:
            path = self.out / "data" / f"{self.prefix}-{self.chunk:04d}.parquet"
            self.data = ParquetSink(path, row_schema())
            self.chunk += 1
        return self.data

    def add_row(self, unit: Any, number: int, n: int, row: dict[str, Any]) -> None:
        self._open(unit, number)
        self._data()
        self.rows.append(row)
        self.pos.append(n)
        self.result["rows_in"] += 1
        if len(self.rows) >= self.BATCH:
            self._flush()

    def add_table(self, unit: Any, number: int, table: pa.Table) -> None:
        self._open(unit, number)
        for start in range(0, table.num_rows, self.BATCH):
            batch = table.slice(start, self.BATCH)
            self._data()
            self._write(batch, np.arange(start, start + batch.num_rows, dtype=np.int64))
            self.result["rows_in"] += batch.num_rows

    def _flush(self) -> None:
        if self.rows:
            self._write(rows_table(self.rows, self.schema), np.array(self.pos, np.int64))
            self.rows, self.pos = [], []

    def _write(self, table: pa.Table, pos: np.ndarray) -> None:
        assert self.unit is not None
        self.data.write(table.filter(table.column(DROP).is_null()))
        self.drops.add(table, pos, self.unit.display)
        if self.data.rows >= CHUNK_ROWS:
            self._close_chunk()

    def _close_chunk(self) -> None:
        from factory.storage.shards import Shard

        sink, self.data = self.data, None
        if sink is not None and sink.close():
            rel = f"{self.spec['entry']}/{sink.path.relative_to(self.out)}"
            self.result["shards"].append(Shard(sink.path.stem, rel, [], sink.rows).to_json())
            self.result["rows_out"] += sink.rows

    def _close_unit(self) -> None:
        if self.unit is None:
            return
        self._flush()
        self._close_chunk()
        for reason, n in self.drops.dropped.items():
            self.result["dropped"][reason] = self.result["dropped"].get(reason, 0) + n
        if (info := self.drops.close()) is not None:
            self.result["drop_files"].append(info)

    def close(self) -> dict[str, Any]:
        self._close_unit()
        return self.result
