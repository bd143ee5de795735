"""Adapters as column operations: a whole file parsed into Arrow (``pyarrow.json`` / ``pyarrow.parquet``)
-> canonical rows as one Arrow table, with the same rows, ids, ``meta`` JSON and drops as the per-record
adapters of ``factory.sources.adapters`` give record by record.

A ``ColumnMap`` describes an adapter that only moves text fields (renames, blank-line joins, a native id,
a subject, the rest into ``meta``, an empty field turned into a drop). ``adapt_table`` applies it, or
returns ``None`` whenever the table holds anything whose per-record result it cannot promise to equal:
a null or missing required column, a null in a column that goes to ``meta`` (a JSON ``null`` and an absent
key differ there), a float or nested value, a boolean where text is expected, a row that would be bad
input (it needs its ``file:line`` error). The caller then runs the per-record path on the file, so bad
records keep their errors and ``on_error: skip`` drops; the column path is only ever a faster way to the
same table. ``read_jsonl_table`` likewise refuses (``None``) files where Arrow's parse could differ from
``json.loads`` line by line (invalid UTF-8, a mid-file BOM, blank or indented lines, two objects on a line).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from factory.rows import schema as row_schema
from factory.stage import DROP, DROP_DETAIL, with_drop_columns

# Exactly the characters ``str.strip()`` removes (``str.isspace``), as an RE2 class: a blank text.
_SPACES = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
_BLANK = "^[" + "".join(f"\\x{{{ord(c):x}}}" for c in _SPACES) + "]*$"
_JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"),
                 ("\x08", "\\b"), ("\x0c", "\\f"))  # fmt: skip
_BLANK_START = np.frombuffer(b"\n \t\r", np.uint8)
_TEXT_TYPES = (pa.string(), pa.large_string(), pa.int64())


@dataclass(frozen=True)
class ColumnMap:
    """How one source layout maps to canonical text fields, column-wise.

    ``texts``: canonical field -> source columns joined by blank lines (blank values skipped).
    ``required``: canonical fields every kept row must have (a source column missing or null there, or a
    kept row without the field, sends the file to the per-record path). ``id``: the native id column;
    ``id_with``: a column whose text prefixes it (``{subset}:{id}``, MedQuAD). ``subject``: its column.
    ``used``: source columns left out of ``meta``. ``empty``: ``(field, reason, why)``: rows without that
    field are dropped; ``why_by``: ``(column, values, why)`` overrides ``why`` for rows whose column is in
    ``values``."""

    texts: dict[str, tuple[str, ...]]
    required: tuple[str, ...] = ()
    id: str | None = None
    id_with: str | None = None
    subject: str | None = None
    used: tuple[str, ...] = ()
    empty: tuple[str, str, str] | None = None
    why_by: tuple[str, tuple[str, ...], str] | None = None
    required_columns: tuple[str, ...] = field(default=())


ColumnsFn = Callable[..., "ColumnMap | None"]


# ---- reading ----------------------------------------------------------------------------------------


def read_jsonl_table(data: bytes) -> pa.Table | None:
    """The records of a JSONL file's bytes as one Arrow table, or ``None`` when the line-by-line reader
    could see them differently (then it must read the file)."""
    if not data or data[:1] in b" \t\r\n":
        return None
    raw = np.frombuffer(data, np.uint8)
    after = raw[np.flatnonzero(raw[:-1] == 10) + 1]  # the first byte of every line but the first
    if np.isin(after, _BLANK_START).any():
        return None  # a blank or indented line: json.loads skips or reads it, Arrow may not
    ef = np.flatnonzero(raw[1:-2] == 0xEF) + 1
    if ((raw[ef + 1] == 0xBB) & (raw[ef + 2] == 0xBF)).any():
        return None  # a BOM after the first byte is an error for json.loads
    lines = after.size + 1
    table = None
    for block in (1 << 20, 1 << 26):
        try:
            table = pj.read_json(
                pa.BufferReader(data), read_options=pj.ReadOptions(block_size=block, use_threads=False)
            )
            table.validate(full=True)  # Arrow's parser leaves invalid UTF-8 in place
            table.column_names  # noqa: B018 (names are decoded here)
            break
        except pa.ArrowInvalid as e:
            if "straddl" not in str(e):
                return None
        except (pa.ArrowNotImplementedError, UnicodeDecodeError):
            return None
    if table is None:
        return None
    return table if table.num_rows == lines else None  # one object per line, as json.loads reads them


# ---- column helpers ---------------------------------------------------------------------------------


def _text(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    """``as_text`` column-wise: strings (blank -> null), ints written out; ``None`` for other types."""
    n = table.num_rows
    if name not in table.column_names:
        return pa.chunked_array([pa.nulls(n, pa.string())])
    col = table.column(name)
    if pa.types.is_null(col.type):
        return pa.chunked_array([pa.nulls(n, pa.string())])
    if col.type not in _TEXT_TYPES:
        return None
    col = col.cast(pa.string())
    blank = pc.fill_null(pc.match_substring_regex(col, _BLANK), False)
    return pc.if_else(blank, pa.scalar(None, pa.string()), col)


def _join(cols: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    if len(cols) == 1:
        return cols[0]
    joined = pc.binary_join_element_wise(*cols, "\n\n", null_handling="skip")
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)


def _json_value(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """Each value as ``json.dumps(v, ensure_ascii=False)`` writes it (strings, ints, booleans)."""
    if pa.types.is_boolean(col.type):
        return pc.if_else(col, "true", "false")
    if pa.types.is_integer(col.type):
        return col.cast(pa.string())
    if col.type not in (pa.string(), pa.large_string()):
        return None
    col = col.cast(pa.string())
    if pc.any(pc.match_substring_regex(col, "[\\x00-\\x1f]")).as_py():  # rare: json writes \\u00XX
        if pc.any(pc.match_substring_regex(col, "[\\x00-\\x07\\x0b\\x0e-\\x1f]")).as_py():
            return pa.chunked_array([pa.array([json.dumps(v, ensure_ascii=False) for v in col.to_pylist()])])
    for old, new in _JSON_ESCAPES:
        col = pc.replace_substring(col, old, new)
    return pc.binary_join_element_wise('"', col, '"', "")


def _meta(table: pa.Table, used: set[str]) -> pa.ChunkedArray | None:
    """``to_json(rest(record, *used))`` column-wise: the other columns as a sorted-key JSON object."""
    keys = sorted(k for k in table.column_names if k not in used)
    if not keys:
        return pa.chunked_array([pa.array(["{}"] * table.num_rows, pa.string())])
    parts: list = ["{"]
    for k, name in enumerate(keys):
        col = table.column(name)
        value = _json_value(col) if col.null_count == 0 else None
        if value is None:
            return None
        parts += [(", " if k else "") + json.dumps(name, ensure_ascii=False) + ": ", value]
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


# ---- the table ---------------------------------------------------------------------------------------


def adapt_table(
    table: pa.Table, cmap: ColumnMap, kind: str, prefix: str, source: str
) -> tuple[pa.Table, list[str]] | None:
    """Canonical rows (``factory.rows.schema`` + drop columns) of ``table`` and their row ids before
    making them unique, or ``None`` (see the module docstring)."""
    n = table.num_rows
    for name in cmap.required_columns:
        if name not in table.column_names or table.column(name).null_count:
            return None
    out: dict[str, pa.ChunkedArray] = {}
    for fld, cols in cmap.texts.items():
        parts = [_text(table, c) for c in cols]
        if any(p is None for p in parts):
            return None
        out[fld] = _join(parts)  # type: ignore[arg-type]
    subject = _text(table, cmap.subject) if cmap.subject else pa.chunked_array([pa.nulls(n, pa.string())])
    meta = _meta(table, {u.split(".")[0] for u in cmap.used})
    ids = _native_ids(table, cmap)
    if subject is None or meta is None or ids is None:
        return None
    reason = detail = pa.chunked_array([pa.nulls(n, pa.string())])
    kept = pa.chunked_array([pa.array([True] * n)])
    if cmap.empty is not None:
        fld, why_reason, why = cmap.empty
        empty = pc.is_null(out[fld])
        reason = pc.if_else(empty, why_reason, pa.scalar(None, pa.string()))
        texts = pa.scalar(why)
        if cmap.why_by is not None:
            col, values, other = cmap.why_by
            by = _text(table, col)
            if by is None:
                return None
            texts = pc.if_else(pc.fill_null(pc.is_in(by, pa.array(values)), False), other, why)
        detail = pc.if_else(empty, texts, pa.scalar(None, pa.string()))
        kept = pc.invert(empty)
    for fld in cmap.required:
        if pc.any(pc.and_(kept, pc.is_null(out[fld]))).as_py():
            return None  # a row that is bad input: the per-record path says where
    positional = [str(i) for i in range(n)]
    native = ids.to_pylist() if ids is not None else [None] * n
    row_ids = [prefix + (v if v else p) for v, p in zip(native, positional, strict=True)]
    columns = {"source": pa.array([source] * n, pa.string()), "kind": pa.array([kind] * n, pa.string()),
               "subject": subject, "meta": meta, DROP: reason, DROP_DETAIL: detail, **out}  # fmt: skip
    schema = with_drop_columns(row_schema())
    arrays = [columns.get(f.name, pa.nulls(n, f.type)) for f in schema if f.name != "id"]
    return pa.Table.from_arrays([pa.nulls(n, pa.string()), *arrays], schema=schema), row_ids


def _native_ids(table: pa.Table, cmap: ColumnMap) -> pa.ChunkedArray | None:
    """``str(native id)`` per row (null: none, so the record number is used)."""
    n = table.num_rows
    if cmap.id is None or cmap.id not in table.column_names:
        return pa.chunked_array([pa.nulls(n, pa.string())])
    col = table.column(cmap.id)
    if pa.types.is_null(col.type):
        return pa.chunked_array([pa.nulls(n, pa.string())])
    if col.type not in _TEXT_TYPES:
        return None
    native = col.cast(pa.string())
    if cmap.id_with is not None:
        prefix = _text(table, cmap.id_with)
        if prefix is None:
            return None
        with_prefix = pc.binary_join_element_wise(prefix, native, ":")
        native = pc.if_else(pc.is_null(prefix), native, with_prefix)
    return native
