"""Loading a source: its files (or Hub dataset) -> raw records -> adapter -> canonical rows, and the
fingerprint that says whether a source's content changed.

Row ids are stable across rebuilds: ``{source}:{native}`` when the adapter finds a native id in the record
(MedQA ``realidx``, a JSON dict key, HEAD-QA ``exam:qid``...), else ``{source}:{n}`` with ``n`` the 0-based
position of the record in its file. When a source has several files, the file's key goes in between:
``{source}:{file_stem}:{native_or_n}`` (the path below the files' common folder when stems repeat). Ids are
unique within a source: a native id seen before (MedQuAD repeats some) gets ``~2``, ``~3``... in reading
order, which is deterministic (files sorted, file order kept). A record that cannot be read or adapted has
no native id: its ``bad_input`` drop gets ``{source}:[{file_key}:]bad_input:{n}``, which never takes the
id of a good row, so fixing a bad line leaves the other ids as they were.

Loading runs as tasks (``load_task``), one per file of a source, each writing its rows in shards of
``CHUNK_ROWS`` (``<source>-<file>-<chunk>``) and its drops; a source with ``limit`` (counted across its files)
or from the Hub is one task. Ids are made unique per file: ids of different files differ by their file key.
A JSONL or Parquet file whose adapter has a ``ColumnMap`` is parsed and adapted whole on Arrow
(``factory.sources.columnar``), else (or when that path declines the file) record by record; both give the
same rows and cut the same shards (``factory.sources.sink``).

Fingerprints hash every byte of a file once; ``memo`` (the store's ``fingerprints.json``) keeps each file's
hash under its size, mtime, ctime and inode (a remote object: size, modification time, ETag), so an
unchanged file is not read again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import xxhash

from factory.errors import InputError, SourceError
from factory.rows import CANONICAL_FIELDS, missing_fields
from factory.sources.adapters import Adapter, BadRecord, Context, get_adapter
from factory.sources.adapters.base import to_json
from factory.sources.adapters.fields import fieldmap_problems
from factory.sources.columnar import adapt_table
from factory.sources.config import SourceConfig
from factory.sources.readers import (
    Raw,
    SourceFile,
    as_file,
    display_path,
    file_keys,
    file_stamp,
    infer_format,
    open_file,
    open_hub,
    pure,
    read_file,
    read_hub,
    read_table,
    resolve_files,
)
from factory.sources.sink import LoadSink
from factory.stage import DROP, DROP_DETAIL, drop

_EMPTY = dict.fromkeys(CANONICAL_FIELDS)


@dataclass(frozen=True)
class _Unit:
    """One file (or the Hub dataset) of a source: how it is named in errors and ids, and its records."""

    display: str
    key: str | None
    ctx: Context
    raws: Callable[[], Iterator[Raw]]


def fingerprint_source(
    cfg: SourceConfig, base_dir: Path, memo: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What identifies a source's input: its files' paths, sizes and xxh3-128 hashes, or the Hub coordinates.
    ``memo`` (updated in place) holds known hashes by path and file stat; files also report their ``lines``."""
    base_dir = Path(base_dir)
    if cfg.hub is not None:
        hub = {
            "kind": "hub",
            "id": cfg.hub,
            "config": cfg.config,
            "split": cfg.split,
            "revision": cfg.revision,
        }
        return {**hub, "hash": xxhash.xxh3_128_hexdigest(to_json(hub).encode())}
    files = []
    for p in resolve_files(cfg, base_dir):
        size, digest, lines = _memo_hash(p, memo)
        files.append({"path": display_path(p, base_dir), "bytes": size, "xxh3_128": digest, "lines": lines})
    digest = xxhash.xxh3_128()
    for f in sorted(files, key=lambda f: f["path"]):
        digest.update(f"{f['path']}\t{f['bytes']}\t{f['xxh3_128']}\n".encode())
    return {"kind": "local", "files": files, "hash": digest.hexdigest()}


def _memo_hash(path: SourceFile, memo: dict[str, Any] | None) -> tuple[int, str, int]:
    size, stamp = file_stamp(path)
    key = path if isinstance(path, str) else str(path.resolve())
    known = (memo or {}).get(key)
    if known and known["stat"] == stamp:
        return size, known["xxh3_128"], known["lines"]
    digest, lines = _file_hash(path)
    if memo is not None:
        memo[key] = {"stat": stamp, "xxh3_128": digest, "lines": lines}
    return size, digest, lines


def _file_hash(path: SourceFile) -> tuple[str, int]:
    digest = xxhash.xxh3_128()
    lines = 0
    with open_file(path, decompress=False) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            lines += chunk.count(b"\n")
    return digest.hexdigest(), lines


def load_source(cfg: SourceConfig, base_dir: Path) -> Iterator[dict[str, Any]]:
    """The canonical rows of a source, dropped ones included (marked with ``factory.stage.drop``).

    Files are resolved (and the Hub dataset loaded) now, so a missing input raises ``SourceError`` at the
    call; records are then read lazily. Bad input raises ``InputError`` (``on_error: fail``) or becomes a
    ``bad_input`` drop (``on_error: skip``).
    """
    adapter = get_adapter(cfg.adapter, cfg.name)
    if cfg.adapter == "fields" and (problems := fieldmap_problems(cfg)):
        raise SourceError(f"source '{cfg.name}': " + "; ".join(problems))
    base_dir = Path(base_dir)
    if cfg.hub is not None:
        dataset = open_hub(cfg)
        units = [_Unit(f"hub:{cfg.hub}", None, Context(cfg), lambda: read_hub(dataset))]
    else:
        files = resolve_files(cfg, base_dir)
        formats = [infer_format(p, cfg) for p in files]
        units = [
            _Unit(display_path(p, base_dir), key, Context(cfg, pure(p)), _reader(p, fmt, cfg, adapter))
            for p, fmt, key in zip(files, formats, file_keys(files), strict=True)
        ]
    return _rows(cfg, adapter, units)


def _reader(path: SourceFile, fmt: str, cfg: SourceConfig, adapter: Adapter) -> Callable[[], Iterator[Raw]]:
    return lambda: read_file(path, fmt, cfg, adapter)


def _rows(cfg: SourceConfig, adapter: Adapter, units: list[_Unit]) -> Iterator[dict[str, Any]]:
    for _, _, row in _unit_rows(cfg, adapter, units):
        yield row


def _unit_rows(
    cfg: SourceConfig, adapter: Adapter, units: list[_Unit], seen: set[str] | None = None
) -> Iterator[tuple[_Unit, int, dict[str, Any]]]:
    """``(unit, record number in it, row)`` of the units, in order (``limit`` counts across them); ``seen``:
    the row ids given so far (made unique against them)."""
    seen = set() if seen is None else seen
    count = 0
    for unit in units:
        if cfg.limit is not None and count >= cfg.limit:
            return
        raws = unit.raws()
        try:
            for n, raw in enumerate(raws):
                if cfg.limit is not None and count >= cfg.limit:
                    return
                count += 1
                yield unit, n, _row(cfg, adapter, unit, n, raw, seen)
        finally:
            raws.close()


def _make_row(**fields: Any) -> dict[str, Any]:
    """``factory.rows.make_row``, faster (it runs once per record)."""
    unknown = fields.keys() - _EMPTY.keys()
    if unknown:
        raise KeyError(f"not canonical fields: {sorted(unknown)}")
    row = {**_EMPTY, **fields}
    if isinstance(row["meta"], dict):
        row["meta"] = to_json(row["meta"])
    return row


def _row(
    cfg: SourceConfig, adapter: Adapter, unit: _Unit, n: int, raw: Raw, seen: set[str]
) -> dict[str, Any]:
    prefix = _prefix(cfg, unit)
    kind = adapter.kind or cfg.kind
    if raw.error is not None:
        return _bad(cfg, unit, raw, _unreadable(cfg, kind, f"{prefix}bad_input:{n}", seen), raw.error)
    try:
        out = dict(adapter.adapt(raw.record, unit.ctx))  # type: ignore[arg-type]
    except BadRecord as e:
        return _bad(cfg, unit, raw, _unreadable(cfg, kind, f"{prefix}bad_input:{n}", seen), e)
    reason, detail = out.pop(DROP, None), out.pop(DROP_DETAIL, None)
    native = out.pop("id", None)
    row_id = _unique(prefix + (str(native) if native is not None and str(native) != "" else str(n)), seen)
    row = _make_row(id=row_id, source=cfg.name, kind=out.pop("kind", None) or kind, **out)
    if reason is not None:
        return drop(row, reason, detail)
    missing = missing_fields(row)
    if missing:
        return _bad(cfg, unit, raw, row, BadRecord(missing[0], _missing_message(row, missing[0])))
    return row


def _prefix(cfg: SourceConfig, unit: _Unit) -> str:
    return f"{cfg.name}:{unit.key}:" if unit.key else f"{cfg.name}:"


def _unreadable(cfg: SourceConfig, kind: str | None, row_id: str, seen: set[str]) -> dict[str, Any]:
    """The row of a record that could not be read or adapted (its native id is unknown)."""
    return _make_row(id=_unique(row_id, seen), source=cfg.name, kind=kind)


def _unique(row_id: str, seen: set[str]) -> str:
    if row_id in seen:
        k = 2
        while f"{row_id}~{k}" in seen:
            k += 1
        row_id = f"{row_id}~{k}"
    seen.add(row_id)
    return row_id


def _missing_message(row: dict[str, Any], field: str) -> str:
    if field == "kind":
        return f"unknown row kind {row.get('kind')!r}"
    if field == "answer_idx" and row.get("answer_idx") is not None:
        return f"{row['answer_idx']} is out of range for {len(row['options'])} options"
    return f"required for kind '{row['kind']}' but missing or empty"


def bad_input_detail(file: str, where: int | str | None, field: str | None, message: str) -> str:
    """The text of a bad-input drop: the same as the ``InputError`` message, without the source name."""
    place = file if where is None else f"{file}:{where}"
    return f"{place}: " + (f"field '{field}': " if field else "") + message


def _bad(cfg: SourceConfig, unit: _Unit, raw: Raw, row: dict[str, Any], err: BadRecord) -> dict[str, Any]:
    if cfg.on_error == "fail":
        raise InputError(cfg.name, unit.display, raw.where, err.field, err.message)
    return drop(row, "bad_input", bad_input_detail(unit.display, raw.where, err.field, err.message))


# ---- loading as tasks -------------------------------------------------------------------------------


def load_parts(cfg: SourceConfig, base_dir: Path) -> list[list[dict[str, Any]]]:
    """The files of a source grouped into load tasks: one file per task, or all in one task (``limit``, Hub).
    Resolves the files now, so a missing input raises ``SourceError`` here, on the driver."""
    get_adapter(cfg.adapter, cfg.name)
    if cfg.adapter == "fields" and (problems := fieldmap_problems(cfg)):
        raise SourceError(f"source '{cfg.name}': " + "; ".join(problems))
    if cfg.hub is not None:
        return [[{"unit": 0, "hub": True}]]
    files = resolve_files(cfg, Path(base_dir))
    units = [
        {
            "unit": i,
            "path": str(p),
            "format": infer_format(p, cfg),
            "key": key,
            "display": display_path(p, base_dir),
        }
        for i, (p, key) in enumerate(zip(files, file_keys(files), strict=True))
    ]
    return [units] if cfg.limit is not None else [[u] for u in units]


def load_task(
    spec: dict[str, Any], source_index: int, cfg_json: dict[str, Any], part: list[dict[str, Any]]
) -> dict:
    """Load some files of a source: rows to ``data/<source>-<file>-<chunk>.parquet`` (``CHUNK_ROWS`` each),
    drops to ``drops/<source>-<file>.parquet`` (``shard``: the file, ``pos``: the record number in it).

    A file whose adapter has a ``ColumnMap`` is parsed whole into Arrow and adapted column-wise
    (``factory.sources.columnar``); when that path declines the file, its records go one by one."""
    cfg = SourceConfig.model_validate(cfg_json)
    adapter = get_adapter(cfg.adapter, cfg.name)
    if part[0].get("hub"):
        dataset = open_hub(cfg)
        units = [_Unit(f"hub:{cfg.hub}", None, Context(cfg), lambda: read_hub(dataset))]
    else:
        units = [
            _Unit(
                u["display"],
                u["key"],
                Context(cfg, pure(as_file(u["path"]))),
                _reader(as_file(u["path"]), u["format"], cfg, adapter),
            )
            for u in part
        ]
    sink = LoadSink(spec, source_index)
    if cfg.limit is not None or part[0].get("hub"):
        number = {id(unit): u["unit"] for unit, u in zip(units, part, strict=True)}
        for unit, n, row in _unit_rows(cfg, adapter, units):
            sink.add_row(unit, number[id(unit)], n, row)
        return sink.close()
    seen: set[str] = set()
    for unit, u in zip(units, part, strict=True):
        table = _unit_table(cfg, adapter, unit, u, seen)
        if table is not None:
            sink.add_table(unit, u["unit"], table)
            continue
        for _, n, row in _unit_rows(cfg, adapter, [unit], seen):
            sink.add_row(unit, u["unit"], n, row)
    return sink.close()


def _unit_table(
    cfg: SourceConfig, adapter: Adapter, unit: _Unit, u: dict[str, Any], seen: set[str]
) -> pa.Table | None:
    """The canonical rows of one file by the column path, ids made unique; ``None`` to read it by record."""
    cmap = adapter.columns(cfg) if adapter.columns is not None else None
    if cmap is None or u["format"] not in ("jsonl", "parquet"):
        return None
    raw = read_table(as_file(u["path"]), u["format"])
    if raw is None:
        return None
    adapted = adapt_table(raw, cmap, adapter.kind or cfg.kind, _prefix(cfg, unit), cfg.name)
    if adapted is None:
        return None
    table, ids = adapted
    if seen or len(set(ids)) != len(ids):
        ids = [_unique(i, seen) for i in ids]
    else:
        seen.update(ids)
    return table.set_column(0, "id", pa.array(ids, pa.string()))
