"""A store on object storage: an fsspec URL (``s3://bucket/prefix``, ``gs://...``, any protocol fsspec serves).

In: a URL and storage options (the recipe's ``storage_options``; without them the protocol's library reads its
own configuration: for s3fs the ``AWS_*`` environment variables, ``AWS_ENDPOINT_URL`` included). Out:
``Remote``, a small picklable handle that the driver puts into task specs, so every worker opens the same
store itself; its methods act on paths relative to the store's root.

Object storage has no rename and no hard links: the store writes every object once under a name nobody else
writes (a cache entry's files under ``cache/<key>/<attempt>/``), and the small index that makes an entry or a
version exist last (see ``factory.storage.store``). Options (which may hold credentials) live in memory and
task arguments only: nothing here writes them anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.errors import FactoryError

LOCAL_PROTOCOLS = ("file", "local")
_FS: dict[str, Any] = {}  # one filesystem per (url, options) and process: workers reuse their connections


def is_url(root: str | Path) -> bool:
    """Whether ``root`` names a store that is not a local folder (``proto://...``, ``file://`` excluded)."""
    text = str(root)
    return "://" in text and text.split("://", 1)[0] not in LOCAL_PROTOCOLS


def local_root(root: str | Path) -> Path:
    """A local store folder from a path or a ``file://`` URL, resolved."""
    text = str(root)
    if "://" in text:
        text = text.split("://", 1)[1]
    return Path(text).expanduser().resolve()


def check_url(url: str) -> None:
    """Raise ``FactoryError`` when fsspec cannot serve ``url``'s protocol (unknown, or its package missing)."""
    import fsspec

    protocol = url.split("://", 1)[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise FactoryError(
            f"store {url}: fsspec knows no protocol '{protocol}://' (a local folder is a plain path)"
        ) from None
    except ImportError as exc:
        hint = " (pip install 'aloe-factory[s3]')" if protocol in ("s3", "s3a") else ""
        raise FactoryError(f"store {url}: protocol '{protocol}://' needs a package{hint}: {exc}") from None


@dataclass(frozen=True, eq=False)
class Remote:
    """The store at ``url`` on object storage, opened with ``options`` (fsspec storage options).

    ``cache``: a local folder of a running build holding copies of objects (objects are written once and never
    change): what its tasks wrote (kept after the upload) and what they downloaded, so a file is read from
    the store at most once per machine and build (``factory.storage.store.Store.object_cache``)."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)
    cache: str | None = None

    def __str__(self) -> str:
        return self.url

    def _opened(self) -> tuple[Any, str]:
        key = f"{self.url}\x00{json.dumps(self.options, sort_keys=True, default=str)}"
        if key not in _FS:
            from fsspec.core import url_to_fs

            check_url(self.url)
            _FS[key] = url_to_fs(self.url, **self.options)
        return _FS[key]

    @property
    def fs(self) -> Any:
        return self._opened()[0]

    @property
    def base(self) -> str:
        return self._opened()[1].rstrip("/")

    def path(self, rel: str) -> str:
        return f"{self.base}/{rel}" if rel else self.base

    def join(self, rel: str) -> str:
        """The URL of ``rel``, as users see it."""
        return f"{self.url.rstrip('/')}/{rel}"

    # -- objects ----------------------------------------------------------------------------------
    def local_copy(self, rel: str) -> Path:
        """A local file holding object ``rel``: the build's cached copy, else downloaded into the cache."""
        assert self.cache is not None
        path = Path(self.cache) / rel
        if not path.is_file():
            part = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
            self.get_many([(rel, part)])
            os.replace(part, path)  # whole or absent, whoever else fetches it at the same time
        return path

    def keep(self, local: Path, rel: str) -> None:
        """After uploading ``local`` as ``rel``: move it into the build's cache (or remove it, without one)."""
        if self.cache is None:
            local.unlink()
            return
        dest = Path(self.cache) / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(local, dest)

    def cat(self, rel: str) -> bytes | None:
        """The bytes of ``rel`` (None when absent)."""
        try:
            return self.fs.cat_file(self.path(rel))
        except FileNotFoundError:
            return None

    def cat_many(self, rels: list[str]) -> dict[str, bytes]:
        """The bytes of the ``rels`` that exist, fetched concurrently."""
        if not rels:
            return {}
        got = self.fs.cat([self.path(r) for r in rels], on_error="omit")
        back = {self.path(r): r for r in rels}
        return {back[k]: v for k, v in got.items() if k in back}

    def pipe(self, rel: str, data: bytes) -> None:
        self.fs.pipe_file(self.path(rel), data)

    def put(self, local: Path, rel: str) -> None:
        self.fs.put_file(str(local), self.path(rel))

    def put_many(self, pairs: list[tuple[Path, str]]) -> None:
        if pairs:
            self.fs.put([str(lp) for lp, _ in pairs], [self.path(r) for _, r in pairs])

    def get_many(self, pairs: list[tuple[str, Path]]) -> None:
        """Download ``(rel, local path)`` pairs concurrently (hard links to the build's cached copies)."""
        todo = []
        for rel, local in pairs:
            Path(local).parent.mkdir(parents=True, exist_ok=True)
            cached = Path(self.cache) / rel if self.cache else None
            if cached is not None and cached.is_file():
                try:
                    os.link(cached, local)
                except OSError:
                    shutil.copyfile(cached, local)
            else:
                todo.append((rel, local))
        if todo:
            self.fs.get([self.path(r) for r, _ in todo], [str(lp) for _, lp in todo])

    def ls(self, rel: str) -> list[str]:
        """Names directly under ``rel`` (files and prefixes), fresh from the server; [] when none."""
        path = self.path(rel)
        self.fs.invalidate_cache(path)
        try:
            return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(path, detail=False))
        except FileNotFoundError:
            return []

    def du(self, rel: str) -> int:
        try:
            return int(self.fs.du(self.path(rel)))
        except FileNotFoundError:
            return 0

    def rm(self, rel: str) -> None:
        """Remove the object or the whole prefix ``rel``."""
        try:
            self.fs.rm(self.path(rel), recursive=True)
        except FileNotFoundError:
            pass
        self.fs.invalidate_cache(self.path(rel))


# -- SQLite files kept in a local mirror and merged with the store's copies -------------------------------


def merge_sqlite(dst: Path, src: Path) -> None:
    """Add every row of ``src``'s tables that ``dst`` lacks (``INSERT OR IGNORE``: primary keys decide)."""
    db = sqlite3.connect(dst, timeout=60)
    try:
        db.execute("ATTACH DATABASE ? AS other", (str(src),))
        tables = [r[0] for r in db.execute("SELECT name FROM other.sqlite_master WHERE type='table'")]
        with db:
            for name in tables:
                create = db.execute("SELECT sql FROM other.sqlite_master WHERE name=?", (name,)).fetchone()[0]
                db.execute(create.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1))
                db.execute(f'INSERT OR IGNORE INTO main."{name}" SELECT * FROM other."{name}"')
        db.execute("DETACH DATABASE other")
    finally:
        db.close()


def snapshot_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of ``src`` (its WAL included) in ``dst``, while other connections may write."""
    a, b = sqlite3.connect(src, timeout=60), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


def pull_sqlite(remote: Remote, rel: str, folder: Path) -> int:
    """Merge the store's ``rel/*.sqlite`` into the same files under ``folder`` (created when missing)."""
    names = [n for n in remote.ls(rel) if n.endswith(".sqlite")]
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        incoming = folder / f".{name}.incoming"
        remote.get_many([(f"{rel}/{name}", incoming)])
        if (folder / name).exists():
            merge_sqlite(folder / name, incoming)
            incoming.unlink()
        else:
            os.replace(incoming, folder / name)
    return len(names)


def push_sqlite(remote: Remote, rel: str, folder: Path, since: float = 0.0) -> int:
    """Upload the ``folder/*.sqlite`` written since ``since`` (a time) to ``rel/``, each merged with the
    store's copy first (another machine's answers are kept; two pushes at once may lose one side's newest
    rows, which costs re-asking only)."""
    files = sorted(folder.glob("*.sqlite")) if folder.is_dir() else []
    files = [p for p in files if max(_mtime(p), _mtime(p.with_name(p.name + "-wal"))) >= since]
    for path in files:
        snap = path.with_name(f".{path.name}.snapshot")
        snapshot_sqlite(path, snap)
        theirs = remote.cat(f"{rel}/{path.name}")
        if theirs is not None:
            other = path.with_name(f".{path.name}.theirs")
            other.write_bytes(theirs)
            merge_sqlite(snap, other)
            other.unlink()
        remote.put(snap, f"{rel}/{path.name}")
        snap.unlink()
    return len(files)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
