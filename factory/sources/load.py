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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from factory.errors import InputError, SourceError
from factory.rows import make_row, missing_fields
from factory.sources.adapters import Adapter, BadRecord, Context, get_adapter
from factory.sources.adapters.base import to_json
from factory.sources.adapters.fields import fieldmap_problems
from factory.sources.config import SourceConfig
from factory.sources.readers import (
    Raw,
    display_path,
    file_keys,
    infer_format,
    open_hub,
    read_file,
    read_hub,
    resolve_files,
)
from factory.stage import DROP, DROP_DETAIL, drop


@dataclass(frozen=True)
class _Unit:
    """One file (or the Hub dataset) of a source: how it is named in errors and ids, and its records."""

    display: str
    key: str | None
    ctx: Context
    raws: Callable[[], Iterator[Raw]]


def fingerprint_source(cfg: SourceConfig, base_dir: Path) -> dict[str, Any]:
    """What identifies a source's input: its files' paths, sizes and xxh3-128 hashes, or the Hub coordinates."""
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
    files = [
        {"path": display_path(p, base_dir), "bytes": p.stat().st_size, "xxh3_128": _file_hash(p)}
        for p in resolve_files(cfg, base_dir)
    ]
    digest = xxhash.xxh3_128()
    for f in sorted(files, key=lambda f: f["path"]):
        digest.update(f"{f['path']}\t{f['bytes']}\t{f['xxh3_128']}\n".encode())
    return {"kind": "local", "files": files, "hash": digest.hexdigest()}


def _file_hash(path: Path) -> str:
    digest = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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
            _Unit(display_path(p, base_dir), key, Context(cfg, p), _reader(p, fmt, cfg, adapter))
            for p, fmt, key in zip(files, formats, file_keys(files), strict=True)
        ]
    return _rows(cfg, adapter, units)


def _reader(path: Path, fmt: str, cfg: SourceConfig, adapter: Adapter) -> Callable[[], Iterator[Raw]]:
    return lambda: read_file(path, fmt, cfg, adapter)


def _rows(cfg: SourceConfig, adapter: Adapter, units: list[_Unit]) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
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
                yield _row(cfg, adapter, unit, n, raw, seen)
        finally:
            raws.close()


def _row(
    cfg: SourceConfig, adapter: Adapter, unit: _Unit, n: int, raw: Raw, seen: set[str]
) -> dict[str, Any]:
    prefix = f"{cfg.name}:{unit.key}:" if unit.key else f"{cfg.name}:"
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
    row = make_row(id=row_id, source=cfg.name, kind=out.pop("kind", None) or kind, **out)
    if reason is not None:
        return drop(row, reason, detail)
    missing = missing_fields(row)
    if missing:
        return _bad(cfg, unit, raw, row, BadRecord(missing[0], _missing_message(row, missing[0])))
    return row


def _unreadable(cfg: SourceConfig, kind: str | None, row_id: str, seen: set[str]) -> dict[str, Any]:
    """The row of a record that could not be read or adapted (its native id is unknown)."""
    return make_row(id=_unique(row_id, seen), source=cfg.name, kind=kind)


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
