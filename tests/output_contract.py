"""The output contract checked on a built version (used by the tests that build shipped recipes).

``check_outputs(version_path)`` asserts, for every output: the manifest's ``columns`` are every file's columns
(one schema per output); a ``messages`` / ``preference`` output starts with its contract, then only
provenance columns and the recipe's ``columns``, and no provenance column is null in every row; a ``rows``
output keeps the whole row schema. Returns ``{output: columns}`` for exact checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from factory.pipeline.output_schema import CONTRACT, PROVENANCE


def check_outputs(version: Path) -> dict[str, list[str]]:
    manifest = json.loads((Path(version) / "manifest.json").read_text())
    recipe_outputs = manifest["recipe"]["outputs"]
    found = {}
    for name, out in manifest["outputs"].items():
        cfg = recipe_outputs[name]
        columns = out["columns"]
        tables = [pq.read_table(Path(version) / f["path"]) for f in out["files"]]
        assert all(t.column_names == columns for t in tables), (name, [t.column_names for t in tables])
        if cfg["format"] == "rows":
            assert {"id", "source", "kind", "meta"} <= set(columns), (name, columns)
            found[name] = columns
            continue
        contract = CONTRACT[cfg["format"]]
        requested = cfg.get("columns") or []
        assert columns[: len(contract)] == contract, (name, columns)
        extra = columns[len(contract) :]
        assert set(extra) <= set(PROVENANCE[cfg["format"]]) | set(requested), (name, extra)
        rows = sum(t.num_rows for t in tables)
        for col in extra:
            if col not in requested and rows:
                nulls = sum(t.column(col).null_count for t in tables)
                assert nulls < rows, f"{name}.{col} is null in every row"
        found[name] = columns
    return found
