"""The versioned store: a stage cache and immutable version folders, written atomically.

Layout under the store root::

    cache/<stage-key>/        one finished stage output: data/part-*.parquet, drops/part-*.parquet, stats.json
    versions/<version-id>/    one build: <output>/part-*.parquet, drops/part-*.parquet, manifest.json, recipe.yaml
    tmp/<pid>-<random>/       work in progress; renamed into place when complete

Everything is written under ``tmp/`` and moved into place with one ``rename``: a crash leaves only a
``tmp/`` folder (removed by the next build), never a half entry that looks complete. Two builds writing
the same key race on the rename; the loser discards its copy (the content is the same by construction).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

DROP_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("row", pa.string()),
    ]
)


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex digest of a JSON-serialisable object, independent of key order."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8"))[:length]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ShardWriter:
    """Writes Arrow tables to ``folder/part-NNNNN.parquet`` files of at most ``shard_rows`` rows."""

    def __init__(self, folder: Path, schema: pa.Schema, shard_rows: int = 100_000):
        self.folder, self.schema, self.shard_rows = folder, schema, shard_rows
        self.files: list[dict[str, Any]] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_shard = 0
        self.rows = 0

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"part-{len(self.files):05d}.parquet"
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.files.append({"path": path})
        self._rows_in_shard = 0

    def write(self, table: pa.Table) -> None:
        table = table.select(self.schema.names).cast(self.schema)
        offset = 0
        while offset < table.num_rows:
            if self._writer is None or self._rows_in_shard >= self.shard_rows:
                self._close_shard()
                self._open()
            take = min(self.shard_rows - self._rows_in_shard, table.num_rows - offset)
            self._writer.write_table(table.slice(offset, take))  # type: ignore[union-attr]
            self._rows_in_shard += take
            self.rows += take
            offset += take

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.write(pa.Table.from_pylist(rows, schema=self.schema))

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self.files[-1]["rows"] = self._rows_in_shard
            self._writer = None

    def close(self, relative_to: Path | None = None) -> list[dict[str, Any]]:
        """Finish the last shard (an empty output still gets one file) and describe the files."""
        if not self.files:
            self._open()
        self._close_shard()
        out = []
        for info in self.files:
            path: Path = info["path"]
            out.append(
                {
                    "path": str(path.relative_to(relative_to)) if relative_to else str(path),
                    "rows": info["rows"],
                    "bytes": path.stat().st_size,
                    "sha256": file_sha256(path),
                }
            )
        return out


def parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def read_tables(files: Iterable[Path], batch_size: int = 65_536, columns: list[str] | None = None):
    """Record batches of several Parquet files, in order, as tables."""
    for path in files:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
            yield pa.Table.from_batches([batch])


class Store:
    """A folder holding the stage cache and the finished versions."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        for sub in ("cache", "versions", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- work in progress -------------------------------------------------------------------------
    def new_tmp(self, label: str) -> Path:
        path = self.root / "tmp" / f"{os.getpid()}-{label}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        return path

    def publish(self, tmp: Path, final: Path) -> bool:
        """Move a finished ``tmp`` folder into place. False if another build got there first."""
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, final)
            return True
        except OSError:
            if final.exists():
                shutil.rmtree(tmp, ignore_errors=True)
                return False
            raise

    def clean_stale_tmp(self) -> int:
        """Remove ``tmp/`` folders left by builds that are no longer running (on this host)."""
        removed = 0
        for path in (self.root / "tmp").iterdir():
            pid = path.name.split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        return removed

    # -- stage cache ------------------------------------------------------------------------------
    def cache_path(self, key: str) -> Path:
        return self.root / "cache" / key

    def cached_stats(self, key: str) -> dict[str, Any] | None:
        stats = self.cache_path(key) / "stats.json"
        return json.loads(stats.read_text()) if stats.exists() else None

    # -- versions ---------------------------------------------------------------------------------
    def version_path(self, version_id: str) -> Path:
        return self.root / "versions" / version_id

    def manifests(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted((self.root / "versions").iterdir()):
            manifest = path / "manifest.json"
            if manifest.exists():
                out.append(json.loads(manifest.read_text()))
        return sorted(out, key=lambda m: m.get("created_at", ""))

    def resolve(self, ref: str) -> Path:
        """A version folder from its id, a unique id prefix, or a path."""
        as_path = Path(ref)
        if (as_path / "manifest.json").exists():
            return as_path.resolve()
        matches = [p for p in (self.root / "versions").iterdir() if p.name.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        from factory.errors import FactoryError

        if not matches:
            raise FactoryError(f"no version '{ref}' in store {self.root} (see `factory ls`)")
        raise FactoryError(f"'{ref}' matches several versions: {sorted(p.name for p in matches)}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
