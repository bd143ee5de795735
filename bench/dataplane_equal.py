"""Do two version folders hold the same data? Compares every output's rows (in order) and the drop log
(id, source, stage, reason, detail, row), whatever the file layout. For checking that a change of the data
plane left a recipe's result as it was, e.g. the baseline worktree's version against this checkout's:

    python bench/dataplane_equal.py STORE_A/versions/<id> STORE_B/versions/<id>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DROP_COLUMNS = ["id", "source", "stage", "reason", "detail", "row"]


def read(folder: Path, files: list[dict], columns: list[str] | None = None) -> pa.Table:
    tables = [pq.read_table(folder / f["path"], columns=columns) for f in files]
    return pa.concat_tables(tables) if tables else pa.table({})


def compare(a: Path, b: Path) -> list[str]:
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    problems = []
    if ma["version"] != mb["version"]:
        problems.append(f"version ids differ: {ma['version']} != {mb['version']}")
    for name in ma["outputs"]:
        ta, tb = read(a, ma["outputs"][name]["files"]), read(b, mb["outputs"][name]["files"])
        if not ta.equals(tb):
            problems.append(f"output {name}: {ta.num_rows} vs {tb.num_rows} rows, content differs")
    da, db = read(a, ma["drop_log"]["files"], DROP_COLUMNS), read(b, mb["drop_log"]["files"], DROP_COLUMNS)
    # Drops are compared as a set of rows: the new layout orders them by step, then shard.
    key = lambda t: sorted(json.dumps(r, sort_keys=True) for r in t.to_pylist())  # noqa: E731
    if da.num_rows != db.num_rows or key(da) != key(db):
        problems.append(f"drop logs differ: {da.num_rows} vs {db.num_rows} rows")
    for sa, sb in zip(ma["stages"], mb["stages"], strict=True):
        for field in ("rows_in", "rows_out", "dropped"):
            if sa[field] != sb[field]:
                problems.append(f"stage {sa['name']}: {field} {sa[field]} != {sb[field]}")
    return problems


def main() -> None:
    problems = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(problems) if problems else "same version id, same outputs, same drop log")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
