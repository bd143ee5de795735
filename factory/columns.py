"""Canonical rows as Arrow columns: which column holds which kind's text, and per-row text measures.

The vectorised twins of ``factory.rows`` (``iter_texts``, ``map_texts``, ``main_text``, ``missing_fields``):
a text column is a ``string`` column, a ``list<string>`` (``options``) or a message list
(``list<struct<role, content>>``); ``values`` flattens any of them to ``(row index, string)`` pairs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from factory.rows import KINDS, REQUIRED_BY_KIND, TEXT_FIELDS


def kinds_with(field: str, by_kind: dict[str, tuple[str, ...]] = TEXT_FIELDS) -> list[str]:
    """The kinds whose ``by_kind`` fields include ``field``."""
    return [k for k, fields in by_kind.items() if field in fields]


KIND_CODES = list(KINDS)


def kind_codes(table: pa.Table) -> np.ndarray:
    """Each row's kind as its index in ``KINDS`` (``len(KINDS)`` for a null or unknown kind)."""
    at = pc.index_in(table.column("kind"), value_set=pa.array(KIND_CODES, pa.string()))
    return pc.fill_null(at, len(KIND_CODES)).to_numpy(zero_copy_only=False).astype(np.int64)


def kind_mask(table: pa.Table, kinds: list[str] | tuple[str, ...]) -> np.ndarray:
    found = pc.is_in(table.column("kind"), value_set=pa.array(list(kinds), pa.string()))
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), bool)


def array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _list_offsets(arr: pa.ListArray) -> np.ndarray:
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.concatenate([[0], np.cumsum(lengths)])


def values(column: pa.Array | pa.ChunkedArray, field: str | None = None) -> tuple[np.ndarray, pa.Array]:
    """``(row index, string)`` of every string of a text column (a message list's ``content``, or ``field``
    of it), nulls included."""
    arr = array(column)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return np.arange(len(arr)), arr
    parents = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
    flat = arr.flatten()
    if pa.types.is_struct(flat.type):
        flat = flat.field(field or "content")
    return parents, flat


def map_column(
    column: pa.Array | pa.ChunkedArray, fn: Callable[[pa.Array], pa.Array], rows: np.ndarray
) -> pa.Array:
    """The column with ``fn`` applied to the strings of the rows in ``rows`` (a boolean mask); ``fn`` maps an
    array of strings to one of the same length. Messages keep their ``role``; nulls stay null."""
    arr = array(column)
    parents, flat = values(arr)
    picked = np.flatnonzero(rows[parents]) if len(flat) else np.zeros(0, np.int64)
    if picked.size == 0:
        return arr
    from factory.textnorm import replace_rows

    new = replace_rows(flat, picked, fn(flat.take(pa.array(picked))))
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return new.cast(arr.type)
    items = arr.flatten()
    if pa.types.is_struct(items.type):
        children = [new if f.name == "content" else items.field(f.name) for f in items.type]
        new = pa.StructArray.from_arrays(children, fields=list(items.type), mask=items.is_null())
    offsets = pa.array(_list_offsets(arr).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, new.cast(arr.type.value_type), mask=arr.is_null()).cast(arr.type)


def lengths(strings: pa.Array) -> np.ndarray:
    """Characters (code points, as Python's ``len``) of each string; 0 for null."""
    return pc.fill_null(pc.utf8_length(strings), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def main_text_length(table: pa.Table) -> np.ndarray:
    """``len(factory.rows.main_text(row))`` of every row: its non-empty texts joined by newlines."""
    total = np.zeros(table.num_rows, np.int64)
    count = np.zeros(table.num_rows, np.int64)
    for field in {f for fields in TEXT_FIELDS.values() for f in fields}:
        if field not in table.column_names:
            continue
        rows = kind_mask(table, kinds_with(field))
        parents, flat = values(table.column(field))
        n = lengths(flat)
        use = rows[parents] & (n > 0)
        total += np.bincount(parents[use], n[use], minlength=table.num_rows).astype(np.int64)
        count += np.bincount(parents[use], minlength=table.num_rows)
    return total + np.maximum(count - 1, 0)


def is_empty(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Null, or a string or list of length 0 (``factory.rows.missing_fields``'s test)."""
    arr = array(column)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        size = pc.utf8_length(arr)
    elif pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        size = pc.list_value_length(arr)
    else:
        return np.asarray(arr.is_null().to_numpy(zero_copy_only=False), bool)
    return np.asarray(pc.fill_null(pc.equal(size, 0), True).to_numpy(zero_copy_only=False), bool)


def missing_details(table: pa.Table) -> list[str | None]:
    """``",".join(factory.rows.missing_fields(row))`` of every row, None where nothing is missing."""
    n = table.num_rows
    found: list[list[str]] = [[] for _ in range(n)]
    known = kind_mask(table, KINDS)
    for i in np.flatnonzero(~known):
        found[i].append("kind")
    for kind, fields in REQUIRED_BY_KIND.items():
        rows = kind_mask(table, [kind])
        if not rows.any():
            continue
        for name in fields:
            for i in np.flatnonzero(rows & is_empty(table.column(name))):
                found[i].append(name)
        if kind == "mcqa":
            idx = pc.fill_null(table.column("answer_idx"), -1).to_numpy(zero_copy_only=False)
            size = pc.fill_null(pc.list_value_length(table.column("options")), 0).to_numpy(
                zero_copy_only=False
            )
            bad = rows & ((idx < 0) | (idx >= size))
            for i in np.flatnonzero(bad):
                if not found[i]:
                    found[i].append("answer_idx")
    return [",".join(f) if f else None for f in found]


def text_items(
    table: pa.Table, fields_by_kind: dict[str, tuple[str, ...]]
) -> tuple[np.ndarray, pa.Array]:
    """``(row index, text)`` of ``iter_texts(row, fields_by_kind[kind])`` for every row, in row, field, item order.

    A field ``"col:role"`` takes the non-empty contents of the ``role`` turns of the message list ``col``;
    ``"col:role+"`` takes them all, an empty or null content as ``""``."""
    codes = kind_codes(table)
    parents_all, ranks_all, texts_all = [], [], []
    names = {f for fields in fields_by_kind.values() for f in fields}
    for name in sorted(names):
        column, _, role = name.partition(":")
        by_code = np.array([fields_by_kind.get(k, ()).index(name) if name in fields_by_kind.get(k, ()) else -1
                            for k in [*KIND_CODES, None]])  # fmt: skip
        rank = by_code[codes]
        parents, flat = values(table.column(column))
        keep = rank[parents] >= 0
        if role:
            _, roles = values(table.column(column), "role")
            keep &= np.asarray(pc.fill_null(pc.equal(roles, role.rstrip("+")), False), bool)
        if role.endswith("+"):
            flat = pc.fill_null(flat, "")
        else:
            keep &= lengths(flat) > 0
        idx = np.flatnonzero(keep)
        parents_all.append(parents[idx])
        ranks_all.append(rank[parents[idx]])
        texts_all.append(flat.take(pa.array(idx)).cast(pa.large_string()))
    parents = np.concatenate(parents_all) if parents_all else np.zeros(0, np.int64)
    ranks = np.concatenate(ranks_all) if ranks_all else np.zeros(0, np.int64)
    order = np.lexsort((np.arange(parents.size), ranks, parents))  # row, then field, then item order
    flat = pa.concat_arrays(texts_all).take(pa.array(order)) if texts_all else pa.array([], pa.large_string())
    return parents[order], flat


def joined_texts(table: pa.Table, fields_by_kind: dict[str, tuple[str, ...]], sep: str = " ") -> pa.Array:
    """``sep.join(iter_texts(row, fields_by_kind[kind]))`` of every row ("" for other kinds), vectorised
    (fields as in ``text_items``)."""
    parents, flat = text_items(table, fields_by_kind)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(parents, minlength=table.num_rows))]).astype(np.int64)
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), flat)
    return pc.binary_join(lists, pa.scalar(sep, pa.large_string()))
