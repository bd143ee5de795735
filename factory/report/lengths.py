"""Words per row of an output's conversation parts, kept as histograms so that no one has to hold every row.

The outputs step's tasks count the rows each of them writes (``factory.pipeline.outputs.write_file``: in, an Arrow
table of an output's rows with ``messages``, or ``prompt``/``chosen``/``rejected`` lists of ``{role, content}``
turns; out, per series a histogram), the driver sums the files' histograms into the manifest's output entry
(``lengths``), and the reports read them (``factory.report.outputs.output_lengths``). A histogram is
``[[words, rows], ...]`` sorted by words (JSON-ready); ``length_stats`` gives from it exactly the figures numpy's
mean, linear percentiles and max give over the rows' values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Hist = list[list[int]]
Plan = dict[str, tuple[str, tuple[str, ...] | None]]
PERCENTILES = (50, 90, 99)


def length_plan(columns: Iterable[str]) -> Plan | None:
    """The series of an output with these columns: ``{series: (column, roles counted)}`` (roles None: all but
    system); None for an output of neither form (nothing to count)."""
    cols = set(columns)
    if "messages" in cols:
        return {"user turns": ("messages", ("user",)), "assistant turns": ("messages", ("assistant",))}
    if {"chosen", "rejected"} <= cols:
        return {
            "prompt": ("prompt", None),
            "chosen": ("chosen", ("assistant",)),
            "rejected": ("rejected", ("assistant",)),
        }
    return None


def _turn_words(turns: pa.ChunkedArray | pa.Array) -> tuple[int, np.ndarray, pa.Array, np.ndarray]:
    """Of a list<struct<role, content>> column: rows, each turn's row, role and words (whitespace-separated)."""
    arr = turns.combine_chunks() if isinstance(turns, pa.ChunkedArray) else turns
    flat = pc.list_flatten(arr)
    if len(flat) == 0:
        return len(arr), np.zeros(0, np.int64), pa.array([], pa.string()), np.zeros(0)
    from factory.report.words_native import pieces  # numba: imported where words are counted

    words = pieces(pc.struct_field(flat, "content"))  # = utf8_split_whitespace's list lengths, compiled
    parents = pc.list_parent_indices(arr).to_numpy()
    return len(arr), parents, pc.struct_field(flat, "role"), words


def _sum_roles(
    counted: tuple[int, np.ndarray, pa.Array, np.ndarray], roles: tuple[str, ...] | None
) -> np.ndarray:
    """Words per row over the turns of ``roles`` (all but system when None)."""
    n, parents, role, words = counted
    if len(words) == 0:
        return np.zeros(n)
    mask = pc.is_in(role, pa.array(list(roles))) if roles else pc.not_equal(role, "system")
    mask = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    return np.bincount(parents[mask], weights=words[mask], minlength=n)


def words_by_row(turns: pa.ChunkedArray | pa.Array, roles: tuple[str, ...] | None) -> np.ndarray:
    """Words (whitespace-separated) per row in a list<struct<role, content>> column, over turns of ``roles``
    (all but system when None)."""
    return _sum_roles(_turn_words(turns), roles)


def histogram(values: np.ndarray) -> Hist:
    """``[[value, rows], ...]`` of integer values (words per row), sorted by value."""
    distinct, counts = np.unique(np.asarray(values, dtype=np.int64), return_counts=True)
    return [[int(v), int(c)] for v, c in zip(distinct, counts, strict=True)]


def count_words(tables: Iterable[pa.Table], plan: Plan) -> dict[str, Hist]:
    """Per series of ``plan``, the histogram of words per row over the rows of ``tables``; {} when no rows."""
    parts: dict[str, list[np.ndarray]] = {series: [] for series in plan}
    for table in tables:
        if table.num_rows:
            counted = {column: _turn_words(table.column(column)) for column, _ in plan.values()}
            for series, (column, roles) in plan.items():  # each column's texts split once
                parts[series].append(_sum_roles(counted[column], roles))
    return {series: histogram(np.concatenate(arrays)) for series, arrays in parts.items() if arrays}


def merge(hists: Iterable[dict[str, Hist]]) -> dict[str, Hist]:
    """The sum of several ``{series: histogram}`` (e.g. one per file of an output)."""
    total: dict[str, Counter[int]] = {}
    for by_series in hists:
        for series, hist in by_series.items():
            counter = total.setdefault(series, Counter())
            for value, rows in hist:
                counter[value] += rows
    return {series: [[v, c] for v, c in sorted(counter.items())] for series, counter in total.items()}


def percentiles(values: np.ndarray, counts: np.ndarray, qs: Iterable[float]) -> np.ndarray:
    """``np.percentile`` (method ``linear``) of the rows that ``counts[i]`` times hold ``values[i]`` (values
    sorted), computed as numpy does from the two neighbouring order statistics, without expanding the rows."""
    n = int(counts.sum())
    cum = np.cumsum(counts)
    virtual = (n - 1) * (np.asarray(list(qs), dtype=float) / 100)
    previous = np.floor(virtual)
    gamma = virtual - previous
    lo = previous.astype(np.int64)
    hi = np.where(virtual >= n - 1, n - 1, lo + 1)
    lo = np.where(virtual >= n - 1, n - 1, lo)
    a = values[np.searchsorted(cum, lo, side="right")].astype(float)
    b = values[np.searchsorted(cum, hi, side="right")].astype(float)
    diff = b - a
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)


def length_stats(hist: Hist) -> dict[str, float]:
    """Rows, mean, p50/p90/p99 and max of a histogram (the figures of the reports' length tables)."""
    if not hist:
        return {"n": 0, "mean": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0}
    values = np.array([v for v, _ in hist], dtype=float)
    counts = np.array([c for _, c in hist], dtype=np.int64)
    n = int(counts.sum())
    p50, p90, p99 = percentiles(values, counts, PERCENTILES)
    return {
        "n": n,
        "mean": float((values * counts).sum() / n),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(values[-1]),
    }
