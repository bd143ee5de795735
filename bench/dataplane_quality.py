"""Precision and recall of dedup on the planted copies of ``bench/dataplane_data.py`` (replayed from its seed),
for a version of the data-plane bench recipe and for DataTrove's output on the same corpus.

A planted group is an original record with its exact and near copies (copies are made within a file, of
originals only); the short rows ("Why?" / "No.") form one more group (they are equal). Removed: for us, the
rows dropped by ``exact_dedup`` or ``minhash_dedup`` (the drop log); for DataTrove, the documents missing from
its Parquet output. Recall: the share of each group's surplus (its size - 1, members that reached dedup)
that was removed (planted copies only); precision: the share of removed documents that belong to a group
(short rows included). Groups are counted among the documents that reached dedup (ours: after
``length_filter``, so no short rows).

    python bench/dataplane_quality.py DATA_DIR ROWS FILES --ours STORE/versions/<id> [--datatrove WORK/out]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataplane_data import layout, records  # noqa: E402


def groups(rows: int, files: int, seed: int = 0) -> dict[int, int]:
    """Record id -> group id (the original's id; -1 for the short rows) of every grouped record."""
    group: dict[int, int] = {}
    for first, count in layout(rows, files):
        for rec, what, src in records(first, count, seed):
            if what in ("exact", "near"):
                group[rec["id"]] = group[src] = src
            elif what == "short":
                group[rec["id"]] = -1
    return group


def score(group: dict[int, int], reached: set[int], removed: set[int]) -> dict:
    """Precision over every removed document (a short row is a true duplicate of the others); recall over
    the planted copies (the short rows' group left out: ``length_filter`` drops it before our dedup)."""
    sizes = Counter(group[i] for i in reached if i in group)
    surplus = sum(n - 1 for g, n in sizes.items() if n > 1 and g != -1)
    hit = Counter(group[i] for i in removed if i in group)
    caught = sum(min(n, sizes[g] - 1) for g, n in hit.items() if g != -1)
    true = sum(1 for i in removed if i in group and sizes[group[i]] > 1)
    return {"reached_dedup": len(reached), "planted_surplus": surplus, "removed": len(removed),
            "short_rows_removed": hit.get(-1, 0), "precision": round(true / max(len(removed), 1), 4),
            "recall": round(caught / max(surplus, 1), 4)}  # fmt: skip


def ours(version: Path) -> tuple[set[int], set[int]]:
    """(ids that reached dedup, ids dedup removed) of a version of the bench recipe."""
    m = json.loads((version / "manifest.json").read_text())
    drops = [pq.read_table(version / f["path"], columns=["id", "stage"]) for f in m["drop_log"]["files"]]
    before, removed = set(), set()
    for t in drops:
        for rid, stage in zip(t.column("id").to_pylist(), t.column("stage").to_pylist(), strict=True):
            n = int(rid.rsplit(":", 1)[1])
            (removed if stage in ("exact_dedup", "minhash_dedup") else before).add(n)
    total = m["totals"]["rows_in"]
    return set(range(total)) - before, removed


def datatrove(out: Path, total: int) -> tuple[set[int], set[int]]:
    kept = {
        int(i)
        for f in out.rglob("*.parquet")
        for i in pq.read_table(f, columns=["id"]).column("id").to_pylist()
    }
    return set(range(total)), set(range(total)) - kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("rows", type=int)
    ap.add_argument("files", type=int)
    ap.add_argument("--ours", type=Path)
    ap.add_argument("--datatrove", type=Path)
    args = ap.parse_args()
    group = groups(args.rows, args.files)
    if args.ours:
        print(json.dumps({"who": "ours", **score(group, *ours(args.ours))}))
    if args.datatrove:
        print(json.dumps({"who": "datatrove", **score(group, *datatrove(args.datatrove, args.rows))}))


if __name__ == "__main__":
    main()
