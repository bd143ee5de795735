"""What a version's outputs hold, for the reports: words per row by part of the conversation (user / assistant
turns; prompt / chosen / rejected; histograms the build counted, ``factory.report.lengths``) and a few sample
rows per output, one per source, read from their Parquet files, so a reader sees real rows (e.g. a verified CoT
answer) next to the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from factory.report.facts import output_files
from factory.report.lengths import count_words, length_plan

LENGTH_SAMPLE_ROWS = 100_000  # length distributions read at most about this many rows per output
SAMPLES_PER_OUTPUT = 4
SAMPLE_CHARS = 1500


def _sample_table(files: list[Path], columns: list[str], max_rows: int) -> tuple[pa.Table | None, int]:
    """Row groups spread evenly over ``files`` until about ``max_rows`` rows; (table, rows in all files)."""
    groups = []
    for path in files:
        pf = pq.ParquetFile(path)
        groups += [(pf, i, pf.metadata.row_group(i).num_rows) for i in range(pf.metadata.num_row_groups)]
    total = sum(n for _, _, n in groups)
    if not groups or total == 0:
        return None, total
    if total > max_rows:
        step = total / max_rows
        picked, seen, next_at = [], 0, 0.0
        for g in groups:  # keep a row group whenever the running row count passes the next stride mark
            if seen >= next_at:
                picked.append(g)
                next_at += step * g[2]
            seen += g[2]
        groups = picked
    tables = [pf.read_row_group(i, columns=columns) for pf, i, _ in groups]
    return pa.concat_tables(tables), total


def output_lengths(
    version_dir: Path, manifest: dict[str, Any], max_rows: int = LENGTH_SAMPLE_ROWS
) -> dict[str, dict]:
    """Per output: ``{"rows": all rows, "sampled": rows measured, "series": {name: histogram of words per
    row}}`` (``factory.report.lengths``); series are user/assistant turns of ``messages`` outputs and
    prompt/chosen/rejected of preference outputs. The histograms the build's tasks counted over every row
    (the manifest's ``lengths``) when the manifest has them; else (a version built before they were counted)
    counted here on about ``max_rows`` rows of the files."""
    out = {}
    for name, entry in manifest.get("outputs", {}).items():
        if "lengths" in entry:
            series = entry["lengths"]
            out[name] = {"rows": entry["rows"], "sampled": entry["rows"] if series else 0, "series": series}
            continue
        files = output_files(version_dir, manifest, name)
        plan = length_plan(pq.ParquetFile(files[0]).schema_arrow.names) if files else None
        if plan is None:
            continue
        table, total = _sample_table(files, sorted({c for c, _ in plan.values()}), max_rows)
        series = {} if table is None else count_words([table], plan)
        out[name] = {"rows": total, "sampled": 0 if table is None else table.num_rows, "series": series}
    return out


def output_samples(version_dir: Path, manifest: dict[str, Any], per_output: int = SAMPLES_PER_OUTPUT) -> dict:
    """Per output, up to ``per_output`` rows: the first row of each source in it (then the next rows when it
    has fewer sources), as ``{"id", "source", "turns": [(part, role, text)]}`` with texts cut at SAMPLE_CHARS.
    Only the ``source`` column is scanned; the row groups holding the picked rows are the only ones read."""
    out = {}
    for name in manifest.get("outputs", {}):
        files = output_files(version_dir, manifest, name)
        picks: list[tuple[Path, int]] = []
        seen: set[str] = set()
        for path in files:
            column = pq.read_table(path, columns=["source"]).column("source")
            for source in pc.unique(column).to_pylist():
                if source not in seen and len(picks) < per_output:
                    seen.add(source)
                    picks.append((path, pc.index(column, source).as_py()))
        if files and len(picks) < per_output:
            taken = {i for p, i in picks if p == files[0]}
            more = range(pq.ParquetFile(files[0]).metadata.num_rows)
            picks += [(files[0], i) for i in more if i not in taken][: per_output - len(picks)]
        rows = []
        for path, index in picks:
            pf = pq.ParquetFile(path)
            start = 0
            for g in range(pf.metadata.num_row_groups):
                n = pf.metadata.row_group(g).num_rows
                if index < start + n:
                    rows.append(pf.read_row_group(g).slice(index - start, 1).to_pylist()[0])
                    break
                start += n
        out[name] = [_sample(row) for row in rows]
    return out


def _sample(row: dict[str, Any]) -> dict[str, Any]:
    turns = []
    for part in ("messages", "prompt", "chosen", "rejected"):
        for turn in row.get(part) or []:
            if turn.get("role") == "system" or (
                part in ("chosen", "rejected") and turn.get("role") != "assistant"
            ):
                continue
            text = turn.get("content") or ""
            cut = text[:SAMPLE_CHARS] + (
                f" … [{len(text) - SAMPLE_CHARS} more characters]" if len(text) > SAMPLE_CHARS else ""
            )
            turns.append((part, turn.get("role"), cut))
    return {"id": row.get("id"), "source": row.get("source"), "turns": turns}
