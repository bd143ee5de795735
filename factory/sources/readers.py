"""Reading sources into raw records: local files (JSONL, JSON, CSV/TSV, Parquet, TXT, each optionally
``.gz``) found by path or glob, and Hugging Face Hub datasets.

A file is a local ``Path`` or, for a ``path:`` with a protocol (``s3://bucket/x/*.jsonl``, ``gs://``,
``memory://``...), its URL as a ``str``, listed and opened through fsspec (``SourceFile``).

Readers stream where the format allows (JSONL, CSV, TXT line by line; Parquet by batches; a JSON document
is parsed whole). Each yields ``Raw(where, record, error)``: ``where`` is the physical line (JSONL, CSV,
TXT), ``"record N"`` / ``"key K"`` (JSON) or ``"row N"`` (Parquet, Hub); a record that could not be parsed
comes with ``error`` set and reading goes on with the next one.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from factory.errors import SourceError
from factory.sources.adapters.base import Adapter, BadRecord, as_record, file_stem, split_json_default
from factory.sources.config import SourceConfig

EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "txt",
}


SourceFile = Path | str  # a local file, or the URL of a file on an fsspec filesystem


def is_url(path: SourceFile | str) -> bool:
    return isinstance(path, str) and "://" in path


def as_file(path: str) -> SourceFile:
    """A file as load tasks receive it (a string): the URL itself, or a local ``Path``."""
    return path if is_url(path) else Path(path)


def pure(path: SourceFile) -> Path | PurePosixPath:
    """The path part of a file, for its name, stem and folders (a URL without its protocol)."""
    return PurePosixPath(path.split("://", 1)[1]) if isinstance(path, str) else path


def open_file(path: SourceFile, decompress: bool = True) -> IO[bytes]:
    """A file's bytes (gunzipped for ``.gz`` when ``decompress``), local or through fsspec."""
    gz = decompress and pure(path).name.endswith(".gz")
    if is_url(path):
        import fsspec

        return fsspec.open(path, "rb", compression="gzip" if gz else None).open()
    return gzip.open(path, "rb") if gz else open(path, "rb")


def file_stamp(path: SourceFile) -> tuple[int, list]:
    """``(size, stamp)``: a file's size and what says it changed (stat times and inode; a remote object's
    size, modification time and ETag as its filesystem reports them)."""
    if is_url(path):
        import fsspec

        fs, root = fsspec.core.url_to_fs(path)
        info = fs.info(root)
        stamp = [info.get("size"), str(info.get("mtime") or info.get("LastModified") or info.get("created")),
                 str(info.get("ETag") or info.get("etag") or "")]  # fmt: skip
        return int(info.get("size") or 0), stamp
    st = os.stat(path)
    return st.st_size, [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


@dataclass(frozen=True)
class Raw:
    """One source record (a dict), or why it could not be read (``error``), and where it is."""

    where: int | str
    record: dict[str, Any] | None
    error: BadRecord | None = None


# ---- finding files ----------------------------------------------------------------------------------


def resolve_files(cfg: SourceConfig, base_dir: Path) -> list[SourceFile]:
    """The files of a local source: each path or glob (``**`` recursive) resolved against ``base_dir``,
    expanded and sorted, in the order the patterns are given, without repeats (URLs: by their filesystem)."""
    files: list[SourceFile] = []
    seen: set[SourceFile] = set()
    for pattern in cfg.paths:
        if is_url(pattern):
            for match in _remote_files(cfg, pattern):
                if match not in seen:
                    seen.add(match)
                    files.append(match)
            continue
        expanded = os.path.expanduser(pattern)
        root = None if os.path.isabs(expanded) else base_dir
        full = Path(expanded) if root is None else base_dir / expanded
        if any(c in expanded for c in "*?["):
            found = glob.glob(expanded, root_dir=root, recursive=True)
            matches = sorted(p for p in (Path(f) if root is None else root / f for f in found) if p.is_file())
        else:
            matches = [full] if full.is_file() else []
        if not matches:
            what = (
                "is a directory (use a glob such as DIR/**/*.jsonl)" if full.is_dir() else "matches no file"
            )
            raise SourceError(
                f"source '{cfg.name}': path '{pattern}' {what} (resolved against {base_dir.resolve()})"
            )
        for match in matches:
            if match not in seen:
                seen.add(match)
                files.append(match)
    return files


def _remote_files(cfg: SourceConfig, pattern: str) -> list[str]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(pattern)
    if any(c in root for c in "*?["):
        found = fs.glob(root, detail=True)
        matches = sorted(p for p, info in found.items() if info.get("type") == "file")
    else:
        matches = [root] if fs.isfile(root) else []
    if not matches:
        raise SourceError(f"source '{cfg.name}': path '{pattern}' matches no file")
    return [fs.unstrip_protocol(m) for m in matches]


def display_path(path: SourceFile, base_dir: Path) -> str:
    """``path`` relative to ``base_dir`` when it lies under it, else absolute (always with ``/``); a URL as is."""
    if isinstance(path, str):
        return path
    try:
        return path.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def file_keys(files: list[SourceFile]) -> list[str | None]:
    """What goes into row ids to tell files apart: nothing for one file, else the file stem, or the path
    below the files' common folder (without suffix) when stems repeat (``gpt4/…_category_1``)."""
    if len(files) < 2:
        return [None] * len(files)
    paths = [pure(f) for f in files]
    stems = [file_stem(f) for f in paths]  # type: ignore[arg-type]
    if len(set(stems)) == len(stems):
        return list(stems)
    common = os.path.commonpath([f.parent.as_posix() for f in paths])
    return [(f.parent.relative_to(common) / file_stem(f)).as_posix() for f in paths]  # type: ignore[arg-type]


def infer_format(path: SourceFile, cfg: SourceConfig) -> str:
    if cfg.format is not None:
        return cfg.format
    base = pure(path).name
    name = base[:-3] if base.endswith(".gz") else base
    fmt = EXTENSIONS.get(Path(name).suffix.lower())
    if fmt is None:
        raise SourceError(
            f"source '{cfg.name}': cannot tell the format of '{base}' from its extension; "
            f"set `format:` to one of {', '.join(sorted(set(EXTENSIONS.values())))}"
        )
    return fmt


# ---- reading files ----------------------------------------------------------------------------------


def read_file(path: SourceFile, fmt: str, cfg: SourceConfig, adapter: Adapter) -> Iterator[Raw]:
    """The raw records of one file, in file order."""
    if fmt == "jsonl":
        return _lines(path, _json_line)
    if fmt == "txt":
        return _lines(path, _text_line)
    if fmt == "json":
        return _json(path, adapter)
    if fmt in ("csv", "tsv"):
        return _csv(path, "\t" if fmt == "tsv" else ",", cfg.csv_columns or adapter.csv_columns)
    if fmt == "parquet":
        return _parquet(path, cfg)
    raise SourceError(f"source '{cfg.name}': unknown format '{fmt}'")


def read_table(path: SourceFile, fmt: str) -> Any:
    """A JSONL or Parquet file as one Arrow table, for the column path (``factory.sources.columnar``);
    ``None`` when that path cannot promise the records ``read_file`` would give."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from factory.sources.columnar import read_jsonl_table

    if fmt == "jsonl":
        with open_file(path) as f:
            return read_jsonl_table(f.read())
    try:
        with open_file(path) as f:
            return pq.read_table(pa.BufferReader(f.read()))
    except (OSError, pa.ArrowException):
        return None


def _lines(path: SourceFile, parse) -> Iterator[Raw]:
    with open_file(path) as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                yield Raw(lineno, None, BadRecord(None, f"not UTF-8 text ({e.reason} at byte {e.start})"))
                continue
            if line.strip():
                yield parse(lineno, line)


def _json_line(lineno: int, line: str) -> Raw:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as e:
        return Raw(lineno, None, BadRecord(None, f"malformed JSON: {e.msg} (column {e.colno})"))
    record = as_record(value)
    return Raw(lineno, None, record) if isinstance(record, BadRecord) else Raw(lineno, record)


def _text_line(lineno: int, line: str) -> Raw:
    return Raw(lineno, {"text": line.strip()})


def _json(path: SourceFile, adapter: Adapter) -> Iterator[Raw]:
    with open_file(path) as f:
        data = f.read()
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        yield Raw("record 0", None, BadRecord(None, f"not UTF-8 text ({e.reason} at byte {e.start})"))
        return
    except json.JSONDecodeError as e:
        yield Raw(e.lineno, None, BadRecord(None, f"malformed JSON: {e.msg} (column {e.colno})"))
        return
    del data
    for where, record in (adapter.split_json or split_json_default)(doc):
        yield Raw(where, None, record) if isinstance(record, BadRecord) else Raw(where, record)


def _csv(path: SourceFile, delimiter: str, columns: Iterable[str] | None) -> Iterator[Raw]:
    """CSV with a header row (or ``columns`` for header-less files); TSV is read without quoting."""
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    with open_file(path) as binary, io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
        start = 1
        try:
            header = list(columns) if columns is not None else next(reader, None)
            if header is None:
                return
            start = reader.line_num + 1
            for row in reader:
                where, start = start, reader.line_num + 1
                if not row or (len(row) == 1 and len(header) > 1 and not row[0].strip()):
                    continue
                if len(row) != len(header):
                    message = f"expected {len(header)} columns ({', '.join(header)}), got {len(row)}"
                    yield Raw(where, None, BadRecord(None, message))
                else:
                    yield Raw(where, dict(zip(header, row, strict=True)))
        except csv.Error as e:
            yield Raw(start, None, BadRecord(None, f"unreadable CSV: {e}"))
        except UnicodeDecodeError as e:
            yield Raw(start, None, BadRecord(None, f"not UTF-8 text ({e.reason})"))


def _parquet(path: SourceFile, cfg: SourceConfig) -> Iterator[Raw]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if isinstance(path, Path) and not path.name.endswith(".gz"):
            parquet = pq.ParquetFile(path)
        else:
            with open_file(path) as f:
                parquet = pq.ParquetFile(io.BytesIO(f.read()))
    except (OSError, pa.ArrowException) as e:
        raise SourceError(f"source '{cfg.name}': cannot read Parquet file {path}: {e}") from e
    n = 0
    for batch in parquet.iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            yield Raw(f"row {n}", record)
            n += 1


# ---- Hub datasets -----------------------------------------------------------------------------------


def open_hub(cfg: SourceConfig) -> Any:
    """``datasets.load_dataset(hub, config, split=, revision=)`` (several configs: each loaded, then
    concatenated in the order given); any failure is a ``SourceError`` that says how to use local files
    instead."""
    try:
        import datasets

        configs = cfg.config if isinstance(cfg.config, list) else [cfg.config]
        parts = [datasets.load_dataset(cfg.hub, c, split=cfg.split, revision=cfg.revision) for c in configs]
        return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    except Exception as e:  # every failure gets the same advice
        pinned = f" --revision {cfg.revision}" if cfg.revision else ""
        raise SourceError(
            f"source '{cfg.name}': cannot load Hugging Face dataset '{cfg.hub}' "
            f"(config={cfg.config!r}, split={cfg.split!r}, revision={cfg.revision!r}): {type(e).__name__}: {e}\n"
            f"  To use local files instead, download it where the Hub is reachable:\n"
            f"    hf download {cfg.hub} --repo-type dataset{pinned} --local-dir DIR\n"
            f"  then replace `hub: {cfg.hub}` in this source by `path: DIR/**/*.parquet` "
            f"(or the files of the split you need)."
        ) from e


def read_hub(dataset: Iterable[dict[str, Any]]) -> Iterator[Raw]:
    for n, record in enumerate(dataset):
        yield Raw(f"row {n}", record)
