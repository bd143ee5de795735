"""Output rows of a built version, canonical and hashed: proof that a refactor changed no output row.

Capture the rows a version's outputs hold (built by one commit), rebuild with another commit into a fresh
store, capture again and compare:

    python bench/output_rows.py VERSION_DIR --out rows/base     # VERSION_DIR: the last line `factory build` prints
    python bench/output_rows.py --compare rows/base rows/new    # exit 1 when an output's rows differ

Per output ``<out>/<output>.jsonl``: one canonical JSON line per row (sorted keys) with ``id``, ``source`` and
the format's fields (``messages``; ``prompt``/``chosen``/``rejected`` for ``preference``; every column not
starting with ``_`` for other formats), sorted by id. ``<out>/summary.json``: recipe, version id and per output
the row count, the sha256 of that JSONL, and ``all_columns_sha256`` over every column not starting with ``_``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

FIELDS = {"messages": ["messages"], "chat": ["messages"], "preference": ["prompt", "chosen", "rejected"]}


def _line(row: dict) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _canonical(rows: list[dict], columns: list[str]) -> str:
    lines = sorted((str(r.get("id")), _line({c: r.get(c) for c in columns})) for r in rows)
    return "".join(text + "\n" for _, text in lines)


def capture(version: Path, out: Path) -> dict:
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    formats = {n: o.get("format", "rows") for n, o in manifest.get("recipe", {}).get("outputs", {}).items()}
    out.mkdir(parents=True, exist_ok=True)
    summary = {"recipe": manifest["recipe_name"], "version_id": manifest["version"], "outputs": {}}
    for name, info in manifest["outputs"].items():
        files = [version / f["path"] for f in info.get("files", [])]
        files = files or sorted((version / name).glob("*.parquet"))
        rows = [r for f in files for r in pq.read_table(f).to_pylist()]
        names = list(pq.read_schema(files[0]).names) if files else []
        visible = [c for c in names if not c.startswith("_")]
        fmt = formats.get(name, "rows")
        columns = ["id", "source", *FIELDS[fmt]] if fmt in FIELDS else visible
        text = _canonical(rows, columns)
        (out / f"{name}.jsonl").write_text(text, encoding="utf-8")
        summary["outputs"][name] = {
            "format": fmt,
            "rows": len(rows),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "all_columns_sha256": hashlib.sha256(_canonical(rows, visible).encode("utf-8")).hexdigest(),
        }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def _by_id(path: Path) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            rows.setdefault(str(json.loads(line).get("id")), []).append(line)
    return rows


def compare(a: Path, b: Path, show: int = 5) -> bool:
    sa, sb = (json.loads((d / "summary.json").read_text(encoding="utf-8")) for d in (a, b))
    print(f"{sa['recipe']} {sa['version_id']}  vs  {sb['recipe']} {sb['version_id']}")
    same = True
    for name in sorted(set(sa["outputs"]) | set(sb["outputs"])):
        oa, ob = sa["outputs"].get(name), sb["outputs"].get(name)
        if oa is None or ob is None:
            print(f"  {name}: only in {a if ob is None else b}")
            same = False
            continue
        same_all = oa.get("all_columns_sha256") == ob.get("all_columns_sha256")
        extra = "" if same_all else " (other columns differ)"
        if oa["sha256"] == ob["sha256"]:
            print(f"  {name}: identical, {oa['rows']} rows{extra}")
            continue
        same = False
        ra, rb = _by_id(a / f"{name}.jsonl"), _by_id(b / f"{name}.jsonl")
        diff = sorted(i for i in set(ra) | set(rb) if ra.get(i) != rb.get(i))
        print(f"  {name}: DIFFERENT, {oa['rows']} vs {ob['rows']} rows, {len(diff)} ids differ; first:")
        for i in diff[:show]:
            print(f"    {i}: {'only in B' if i not in ra else 'only in A' if i not in rb else 'rows differ'}")
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", nargs="?", type=Path, help="version folder (last line of `factory build`)")
    parser.add_argument("--out", type=Path, help="folder for <output>.jsonl files and summary.json")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("DIR_A", "DIR_B"), help="two --out folders")
    parser.add_argument("--show", type=int, default=5, help="differing ids to print per output")
    args = parser.parse_args()
    if args.compare:
        sys.exit(0 if compare(*args.compare, show=args.show) else 1)
    if args.version is None or args.out is None:
        parser.error("give VERSION_DIR --out DIR, or --compare DIR_A DIR_B")
    summary = capture(args.version, args.out)
    for name, o in summary["outputs"].items():
        print(f"{summary['recipe']} {summary['version_id']} {name}: {o['rows']} rows sha256 {o['sha256']}")


if __name__ == "__main__":
    main()
