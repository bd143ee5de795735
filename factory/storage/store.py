"""The versioned store: a stage cache and immutable version folders, written atomically.

Layout under the store root::

    cache/<step-key>/         one finished step (``factory.steps``): shards.json, stats.json, data/, drops/
    versions/<version-id>/    one build: <output>/part-*.parquet, drops/part-*.parquet (hard links into the
                              cache), artifacts/, manifest.json, recipe.yaml
    tmp/<pid>-<random>/       work in progress; renamed into place when complete
    fingerprints.json         source files' hashes by path and stat (``factory.sources.load``)
    gen_cache/                generation request caches (``factory.llm.cache``)

``gc`` removes the cache entries no version refers to (``factory gc``); versions hold hard links, so removing
an entry never breaks a version.

Everything is written under ``tmp/`` and moved into place with one ``rename``: a crash leaves only a
``tmp/`` folder (removed by the next build), never a half entry that looks complete. Two builds writing
the same key race on the rename; the loser discards its copy (the content is the same by construction).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from factory.hashing import file_sha256
from factory.storage.shards import DROP_SCHEMA  # noqa: E402,F401  (re-exported: where it used to live)


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

    # -- source fingerprints ----------------------------------------------------------------------
    def fingerprint_memo(self) -> dict[str, Any]:
        try:
            return json.loads((self.root / "fingerprints.json").read_text())
        except (OSError, ValueError):
            return {}

    def save_fingerprint_memo(self, memo: dict[str, Any]) -> None:
        tmp = self.root / "tmp" / f"{os.getpid()}-fingerprints-{uuid.uuid4().hex[:8]}.json"
        tmp.write_text(json.dumps(memo, sort_keys=True))
        os.replace(tmp, self.root / "fingerprints.json")

    # -- garbage collection -----------------------------------------------------------------------
    def referenced_keys(self) -> set[str]:
        """Cache keys some version refers to (its sources, stages, outputs), and the entries those read from."""
        keys: set[str] = set()
        for path in (self.root / "versions").iterdir():
            try:
                m = json.loads((path / "manifest.json").read_text())
            except (OSError, ValueError):
                continue
            keys |= {s["key"] for s in m.get("sources", []) + m.get("stages", []) if s.get("key")}
            if m.get("outputs_step", {}).get("key"):
                keys.add(m["outputs_step"]["key"])
        todo = list(keys)
        while todo:  # a filter's shards point at files of earlier entries
            index = self.cache_path(todo.pop()) / "shards.json"
            if not index.exists():
                continue
            for shard in json.loads(index.read_text()).get("shards", []):
                for rel in [shard["file"], *shard["drops"]]:
                    parts = Path(rel).parts
                    if len(parts) > 2 and parts[0] == "cache" and parts[1] not in keys:
                        keys.add(parts[1])
                        todo.append(parts[1])
        return keys

    def gc(self, dry_run: bool = False, gen_cache: bool = False) -> dict[str, Any]:
        """Remove cache entries no version refers to (and, with ``gen_cache``, the generation request cache).
        Refuses while a build is running on this store (its new entries are not referred to yet)."""
        from factory.errors import FactoryError

        running = [p.name for p in (self.root / "tmp").iterdir() if _live_tmp(p)]
        if running:
            raise FactoryError(
                f"a build is running on {self.root} ({running[0]}): run gc when it has finished"
            )
        keep = self.referenced_keys()
        removed, freed = [], 0
        targets = [p for p in sorted((self.root / "cache").iterdir()) if p.name not in keep]
        if gen_cache and (self.root / "gen_cache").exists():
            targets.append(self.root / "gen_cache")
        for path in targets:
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and f.stat().st_nlink == 1)
            removed.append(str(path.relative_to(self.root)))
            freed += size
            if not dry_run:
                shutil.rmtree(path)
        return {"removed": removed, "bytes_freed": freed, "kept": len(keep), "dry_run": dry_run}

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


def _live_tmp(path: Path) -> bool:
    pid = path.name.split("-", 1)[0]
    return pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
