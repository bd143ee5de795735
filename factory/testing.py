"""Run one stage on a handful of rows through the real runner path (for stage authors' tests)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from factory.pipeline.executors import LocalExecutor, RayExecutor
from factory.pipeline.steps import read_entry
from factory.rows import CANONICAL_FIELDS, make_row
from factory.rows import schema as row_schema
from factory.stage import Stage
from factory.storage.shards import read_all
from factory.storage.store import Store


def run_stage(
    stage: Stage,
    rows: list[dict[str, Any]],
    executor: str = "local",
    extra: dict[str, pa.DataType] | None = None,
    artifacts: dict[str, Path] | None = None,
    data_dir: Path | None = None,
    artifacts_out: Path | None = None,
    store_dir: Path | None = None,
):
    """``(kept_rows, drop_log_rows, stats)`` of ``stage`` over ``rows`` (canonical fields filled in).

    ``artifacts``: stage name -> folder, for stages that read an earlier stage's artifacts; ``data_dir``:
    the folder relative paths in the stage's params resolve against; ``artifacts_out``: where to copy the
    artifacts the stage wrote (they live in a temporary store otherwise); ``store_dir``: the store root a
    stage sees (default: the temporary store), e.g. to keep a generation cache across calls."""
    from factory.pipeline.runner import _run_stage

    rows = [r if set(CANONICAL_FIELDS) <= set(r) else {**make_row(), **r} for r in rows]
    in_schema = row_schema(extra)
    out_schema = row_schema({**(extra or {}), **stage.adds})
    runner = RayExecutor() if executor == "ray" else LocalExecutor()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store")
        src = Path(tmp) / "input" / "part-00000.parquet"
        src.parent.mkdir()
        pq.write_table(pa.Table.from_pylist(rows, schema=in_schema), src)
        runtime = {
            "data_dir": str(data_dir) if data_dir else None,
            "artifacts": {k: str(v) for k, v in (artifacts or {}).items()},
            "store_dir": str(store_dir or store.root),
        }
        stage.bind_runtime(runtime)
        stats = _run_stage(store, stage, "k", [src], out_schema, runner, runtime)
        step = read_entry(store, "k")
        table = read_all(store.root, step.shards)  # type: ignore[union-attr]
        kept = table.select(out_schema.names).to_pylist() if table is not None else []
        drops = [
            r
            for f in step.drop_files  # type: ignore[union-attr]
            for r in pq.read_table(store.root / f["path"]).drop_columns(["shard", "pos"]).to_pylist()
        ]
        if artifacts_out is not None and (store.cache_path("k") / "artifacts").is_dir():
            shutil.copytree(store.cache_path("k") / "artifacts", artifacts_out, dirs_exist_ok=True)
    return kept, drops, stats
