"""The versioned store: a stage cache and immutable versions, in a local folder or at an fsspec URL.

Layout under the store root (a folder, or ``s3://bucket/prefix`` and any URL fsspec serves)::

    cache/<step-key>/         one finished step (``factory.pipeline.steps``): shards.json (the index), stats.json
                              and the step's files: data/, drops/, artifacts/ (local: in the entry itself;
                              remote: under <attempt>/, a prefix only that build's workers write)
    versions/<version-id>/    one build: manifest.json (the truth: every file, its rows, bytes and sha256),
                              recipe.yaml, report.html; locally also <output>/part-*.parquet and drops/ as
                              hard links into the cache; remotely the manifest names each file's ``object``
    tmp/<pid>-<random>/       work in progress (always local)
    fingerprints.json         source files' hashes by path and stat (``factory.sources.load``), local
    gen_cache/                generation request caches (``factory.llm.cache``), SQLite
    leases/                   remote only: one object per running build, refreshed while it runs (``gc`` waits)

Local stores write everything under ``tmp/`` and move it into place with one ``rename``: a crash leaves only
a ``tmp/`` folder (removed by the next build), never a half entry. Object storage has no rename: there
workers write their files once under the entry's attempt prefix and the driver writes the index last, so an
entry (or a version: its manifest.json) exists only once complete; a killed build leaves objects no index
names, which ``gc`` removes. A remote store keeps a local mirror (``FACTORY_STORE_MIRRORS``, default
``~/.cache/aloe-factory/stores/``): tmp/, the request caches (merged with the store's copies at the start and
the end of a build), and the versions a command has read (``local_version``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from factory.errors import FactoryError
from factory.storage.remote import Remote, check_url, is_url, local_root


def parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def read_tables(files: Iterable[Path], batch_size: int = 65_536, columns: list[str] | None = None):
    """Record batches of several Parquet files, in order, as tables."""
    for path in files:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
            yield pa.Table.from_batches([batch])


def mirror_folder(url: str) -> Path:
    """The local folder that works for the remote store ``url`` (tmp, request caches, versions read)."""
    home = os.environ.get("FACTORY_STORE_MIRRORS")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "aloe-factory" / "stores"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", url.split("://", 1)[-1])[-60:]
    return base / f"{slug}-{hashlib.sha256(url.encode()).hexdigest()[:10]}"


class Store:
    """The store at ``root``: a local folder, or an fsspec URL opened with ``storage_options``.

    A URL whose protocol fsspec cannot serve is a ``FactoryError`` here, before any work."""

    def __init__(self, root: str | Path, storage_options: dict[str, Any] | None = None):
        self.remote: Remote | None = None
        if is_url(root):
            url = str(root).rstrip("/")
            check_url(url)
            self.remote = Remote(url, dict(storage_options or {}))
            self.root = mirror_folder(url)
        else:
            self.root = local_root(root)
        for sub in ("cache", "versions", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """The store as users name it: its URL, or its folder."""
        return self.remote.url if self.remote else str(self.root)

    @property
    def location(self) -> str | Remote:
        """What task specs carry as ``root``: the folder (a string), or the ``Remote``."""
        return self.remote if self.remote else str(self.root)

    def where(self, rel: str) -> str:
        """``rel`` as users see it (a URL, or a local path)."""
        return self.remote.join(rel) if self.remote else str(self.root / rel)

    # -- small files, on whichever side the store is --------------------------------------------------
    def read_json(self, rel: str) -> Any | None:
        if self.remote:
            data = self.remote.cat(rel)
            return json.loads(data) if data is not None else None
        try:
            return json.loads((self.root / rel).read_text())
        except (OSError, ValueError):
            return None

    def write_json(self, rel: str, data: Any, indent: int | None = 1) -> None:
        text = json.dumps(data, indent=indent, ensure_ascii=False)
        if self.remote:
            self.remote.pipe(rel, text.encode())
            return
        tmp = self.root / "tmp" / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        tmp.write_text(text)
        (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, self.root / rel)

    def names(self, rel: str) -> list[str]:
        """Names directly under ``rel``."""
        if self.remote:
            return self.remote.ls(rel)
        folder = self.root / rel
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def place_many(self, pairs: list[tuple[str, Path]]) -> None:
        """Store files (``rel``) at local paths: hard links locally (copies across file systems), downloads
        from a remote store."""
        if self.remote:
            self.remote.get_many(pairs)
            return
        for rel, dst in pairs:
            place(self.root / rel, dst)

    # -- work in progress -------------------------------------------------------------------------
    def new_tmp(self, label: str) -> Path:
        path = self.root / "tmp" / f"{os.getpid()}-{label}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        return path

    def publish(self, tmp: Path, final: Path) -> bool:
        """Move a finished local ``tmp`` folder into place. False if another build got there first."""
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
        """Remove local ``tmp/`` folders left by builds that are no longer running (on this host)."""
        removed = 0
        for path in (self.root / "tmp").iterdir():
            pid = path.name.split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
                removed += 1
        return removed

    @contextmanager
    def object_cache(self) -> Iterator[None]:
        """While a build runs on a remote store: its tasks keep and reuse local copies of the objects in a
        folder of ``tmp/`` (``Remote.cache``), removed when the build ends."""
        if self.remote is None:
            yield
            return
        base, folder = self.remote, self.new_tmp("objects")
        self.remote = replace(base, cache=str(folder))
        try:
            yield
        finally:
            self.remote = base
            shutil.rmtree(folder, ignore_errors=True)

    # -- stage cache ------------------------------------------------------------------------------
    def cache_path(self, key: str) -> Path:
        """The local folder of an entry (remote: its mirror, holding the artifacts read from the store)."""
        return self.root / "cache" / key

    def cached_stats(self, key: str) -> dict[str, Any] | None:
        return self.read_json(f"cache/{key}/stats.json")

    def publish_entry(self, tmp: Path, key: str, entry: str, index: dict, stats: dict) -> None:
        """Make the entry ``key`` exist: locally ``tmp`` renamed into ``cache/<key>``; remotely the files left in
        ``tmp`` (written on the driver) uploaded under ``entry``, then stats.json, then shards.json."""
        if not self.remote:
            (tmp / "shards.json").write_text(json.dumps(index, indent=1))
            (tmp / "stats.json").write_text(json.dumps(stats, indent=1, sort_keys=True))
            self.publish(tmp, self.cache_path(key))
            return
        files = [p for sub in ("data", "drops") for p in sorted((tmp / sub).rglob("*")) if p.is_file()]
        arts = sorted(p for p in (tmp / "artifacts").rglob("*") if p.is_file())
        pairs = [(p, f"{entry}/{p.relative_to(tmp).as_posix()}") for p in files + arts]
        self.remote.put_many(pairs)
        for local, rel in pairs[: len(files)]:
            self.remote.keep(local, rel)
        self.remote.pipe(f"cache/{key}/stats.json", json.dumps(stats, indent=1, sort_keys=True).encode())
        self.remote.pipe(f"cache/{key}/shards.json", json.dumps(index, indent=1).encode())
        if (tmp / "artifacts").is_dir() and not (self.cache_path(key) / "artifacts").exists():
            self.cache_path(key).mkdir(parents=True, exist_ok=True)  # the mirror keeps them for later stages
            os.rename(tmp / "artifacts", self.cache_path(key) / "artifacts")
        shutil.rmtree(tmp, ignore_errors=True)

    def entry_artifacts(self, key: str, index: dict[str, Any]) -> Path | None:
        """A local folder holding the artifacts of entry ``key`` (downloaded from a remote store once)."""
        local = self.cache_path(key) / "artifacts"
        if not self.remote:
            return local if local.is_dir() else None
        files = index.get("artifacts") or []
        if not files:
            return None
        missing = [(f"{index['entry']}/artifacts/{rel}", local / rel) for rel in files if not (local / rel).exists()]
        self.remote.get_many(missing)
        return local

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

    # -- versions ---------------------------------------------------------------------------------
    def version_path(self, version_id: str) -> Path:
        """The local folder of a version (remote: its local copy, made by ``local_version``)."""
        return self.root / "versions" / version_id

    def manifest(self, version_id: str) -> dict[str, Any] | None:
        return self.read_json(f"versions/{version_id}/manifest.json")

    def manifests(self) -> list[dict[str, Any]]:
        ids = self.names("versions")
        if self.remote:
            found = self.remote.cat_many([f"versions/{v}/manifest.json" for v in ids])
            out = [json.loads(data) for data in found.values()]
        else:
            out = [m for v in ids if (m := self.manifest(v)) is not None]
        return sorted(out, key=lambda m: m.get("created_at", ""))

    def version_id(self, ref: str) -> str:
        """The id of a version from its id or a unique prefix."""
        matches = [v for v in self.names("versions") if v.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise FactoryError(f"no version '{ref}' in store {self.url} (see `factory ls`)")
        raise FactoryError(f"'{ref}' matches several versions: {sorted(matches)}")

    def resolve(self, ref: str) -> Path:
        """A local version folder from its id, a unique id prefix, or a path (a remote version is copied to the
        mirror first: ``local_version``)."""
        as_path = Path(ref)
        if not is_url(ref) and (as_path / "manifest.json").exists():
            return as_path.resolve()
        vid = self.version_id(ref)
        return self.local_version(vid) if self.remote else self.version_path(vid)

    def local_version(self, version_id: str) -> Path:
        """A local copy of a remote version (every file its manifest lists, then the manifest), kept in the
        mirror and reused while the store's manifest is the same."""
        return download_version(self, version_id)


EXTRAS = ("recipe.yaml", "report.html")


def version_files(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every data file a manifest lists: outputs, drop log, stage artifacts (``path`` in the version)."""
    files = [f for out in manifest.get("outputs", {}).values() for f in out.get("files", [])]
    files += manifest.get("drop_log", {}).get("files", [])
    files += [a for s in manifest.get("stages", []) for a in s.get("artifacts", [])]
    return files


def publish_version(store: Store, tmp: Path, version_id: str) -> bool:
    """Make the version exist: locally ``tmp`` renamed into place; remotely recipe.yaml and report.html
    uploaded, then manifest.json (its presence = complete), and ``tmp`` kept as the mirror's copy. False if
    another build got there first (locally: the rename lost)."""
    final = store.version_path(version_id)
    if store.remote is None:
        return store.publish(tmp, final)
    rel = f"versions/{version_id}"
    manifest = json.loads((tmp / "manifest.json").read_text())
    own = [f["path"] for f in version_files(manifest) if f.get("object") == f"{rel}/{f['path']}"]
    names = [name for name in EXTRAS if (tmp / name).is_file()] + own
    store.remote.put_many([(tmp / name, f"{rel}/{name}") for name in names])
    store.remote.put(tmp / "manifest.json", f"{rel}/manifest.json")
    shutil.rmtree(final, ignore_errors=True)
    store.publish(tmp, final)
    return True


def download_version(store: Store, version_id: str) -> Path:
    """The mirror's copy of a remote version, downloaded (every file checked against the manifest's size)
    unless the copy there has the same manifest."""
    assert store.remote is not None
    rel = f"versions/{version_id}"
    data = store.remote.cat(f"{rel}/manifest.json")
    if data is None:
        raise FactoryError(f"no version '{version_id}' in store {store.url} (see `factory ls`)")
    final = store.version_path(version_id)
    if (final / "manifest.json").is_file() and (final / "manifest.json").read_bytes() == data:
        return final
    manifest = json.loads(data)
    tmp = store.new_tmp(f"copy-{version_id}")
    files = version_files(manifest)
    missing = [f["path"] for f in files if not f.get("object")]
    if missing:
        raise FactoryError(f"version {version_id}: manifest names no object for {missing[0]}")
    present = set(store.remote.ls(rel))
    pairs = [(f["object"], tmp / f["path"]) for f in files]
    pairs += [(f"{rel}/{name}", tmp / name) for name in EXTRAS if name in present]
    store.remote.get_many(pairs)
    for f in files:
        size = (tmp / f["path"]).stat().st_size
        if "bytes" in f and size != int(f["bytes"]):
            raise FactoryError(f"{store.where(f['object'])}: {size} bytes, the manifest says {f['bytes']}")
    (tmp / "manifest.json").write_bytes(data)
    old = final.with_name(f".{version_id}.old-{os.getpid()}")
    if final.exists():
        os.rename(final, old)
    store.publish(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def place(src: Path, dst: Path) -> None:
    """``dst`` as a hard link to ``src`` (a copy where the file system has no hard links)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_tmp(path: Path) -> bool:
    """Whether a local ``tmp/`` folder belongs to another build still running on this host."""
    pid = path.name.split("-", 1)[0]
    return pid.isdigit() and int(pid) != os.getpid() and pid_alive(int(pid))
