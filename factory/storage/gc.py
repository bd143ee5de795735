"""Garbage collection of a store: remove the cache entries (and, remotely, the objects) no version refers to.

In: a ``Store``. Out: what was (or, with ``dry_run``, would be) removed and the bytes freed.

A version refers to the entries its manifest names (sources, stages, the outputs step); an entry refers to
the earlier entries whose files its shards read (a filter's shards point at them). Locally versions hold
hard links, so removing an entry never breaks a version. Remotely a version's files are the entries' objects
(``object`` in the manifest): every attempt prefix a version or a kept entry's index names is kept, and the
rest of a kept entry (attempts of killed or concurrent builds) goes. While a build runs its new entries are
not referred to yet: locally ``gc`` refuses while a build of this host has a ``tmp/`` folder; remotely while
a build holds a lease (``leases/<id>.json``, refreshed every ``LEASE_REFRESH_S`` by the running build,
stale after ``LEASE_STALE_S``, at once when it names a process of this host that is gone: a killed build's
lease does not block ``gc`` for long).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from factory.storage.store import Store, live_tmp, pid_alive, version_files

LEASE_REFRESH_S = 60
LEASE_STALE_S = 600


def referenced(store: Store) -> tuple[set[str], set[str]]:
    """Cache keys some version refers to (its sources, stages, outputs) with the entries those read from, and
    the remote attempt folders (``cache/<key>/<attempt>``) that versions and kept entries name."""
    keys: set[str] = set()
    attempts: set[str] = set()
    for vid in store.names("versions"):
        m = store.manifest(vid)
        if m is None:
            continue
        keys |= {s["key"] for s in m.get("sources", []) + m.get("stages", []) if s.get("key")}
        if m.get("outputs_step", {}).get("key"):
            keys.add(m["outputs_step"]["key"])
        attempts |= {"/".join(f["object"].split("/")[:3]) for f in version_files(m) if f.get("object")}
    todo = list(keys)
    while todo:  # a filter's shards point at files of earlier entries
        index = store.read_json(f"cache/{todo.pop()}/shards.json")
        if index is None:
            continue
        if index.get("entry"):
            attempts.add(index["entry"])
        for shard in index.get("shards", []):
            for rel in [shard["file"], *shard["drops"]]:
                parts = Path(rel).parts
                if len(parts) > 2 and parts[0] == "cache":
                    if store.remote and len(parts) > 3:
                        attempts.add("/".join(parts[:3]))
                    if parts[1] not in keys:
                        keys.add(parts[1])
                        todo.append(parts[1])
    return keys, attempts


def collect(store: Store, dry_run: bool = False, gen_cache: bool = False) -> dict[str, Any]:
    """Remove cache entries no version refers to (and, with ``gen_cache``, the generation request cache).
    Refuses while a build is running on this store (its new entries are not referred to yet)."""
    if store.remote:
        return _collect_remote(store, dry_run, gen_cache)
    running = [p.name for p in (store.root / "tmp").iterdir() if live_tmp(p)]
    if running:
        raise FactoryError(f"a build is running on {store.root} ({running[0]}): run gc when it has finished")
    keep, _ = referenced(store)
    removed, freed = [], 0
    targets = [p for p in sorted((store.root / "cache").iterdir()) if p.name not in keep]
    if gen_cache and (store.root / "gen_cache").exists():
        targets.append(store.root / "gen_cache")
    for path in targets:
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and f.stat().st_nlink == 1)
        removed.append(str(path.relative_to(store.root)))
        freed += size
        if not dry_run:
            shutil.rmtree(path)
    return {"removed": removed, "bytes_freed": freed, "kept": len(keep), "dry_run": dry_run}


def _collect_remote(store: Store, dry_run: bool, gen_cache: bool) -> dict[str, Any]:
    remote = store.remote
    assert remote is not None
    now = time.time()
    for name in store.names("leases"):
        lease = store.read_json(f"leases/{name}") or {}
        dead = lease.get("host") == socket.gethostname() and not pid_alive(int(lease.get("pid", 0)))
        if not dead and now - float(lease.get("heartbeat", 0)) < LEASE_STALE_S:
            raise FactoryError(
                f"a build is running on {store.url} (lease {name} from {lease.get('host')}, pid "
                f"{lease.get('pid')}): run gc when it has finished"
            )
        if not dry_run:
            remote.rm(f"leases/{name}")
    keep, attempts = referenced(store)
    targets = []
    for key in store.names("cache"):
        if key not in keep:
            targets.append(f"cache/{key}")
            continue
        for name in store.names(f"cache/{key}"):
            if name not in ("shards.json", "stats.json") and f"cache/{key}/{name}" not in attempts:
                targets.append(f"cache/{key}/{name}")
    if gen_cache and store.names("gen_cache"):
        targets.append("gen_cache")
    freed = sum(remote.du(t) for t in targets)
    if not dry_run:
        for target in targets:
            remote.rm(target)
        if gen_cache:
            shutil.rmtree(store.root / "gen_cache", ignore_errors=True)  # the mirror's copy too
    return {"removed": targets, "bytes_freed": freed, "kept": len(keep), "dry_run": dry_run}


class Lease:
    """While a build runs on a remote store: ``leases/<id>.json`` holding its host, pid and a heartbeat
    refreshed every ``LEASE_REFRESH_S`` by a thread; removed when the build ends (``with Lease(store):``).
    Writing it first also checks that the store can be written, before any work."""

    def __init__(self, store: Store):
        self.store = store
        self.name = f"{uuid.uuid4().hex[:12]}.json"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat(self) -> None:
        body = {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}
        self.store.write_json(f"leases/{self.name}", body)

    def _loop(self) -> None:
        while not self._stop.wait(LEASE_REFRESH_S):
            try:
                self._beat()
            except Exception:  # noqa: BLE001 (a missed beat only lets gc run earlier)
                pass

    def __enter__(self) -> Lease:
        if self.store.remote is None:
            return self
        try:
            self._beat()
        except Exception as exc:  # noqa: BLE001 (botocore, gcsfs... each raise their own)
            raise FactoryError(
                f"store {self.store.url}: cannot write there ({type(exc).__name__}: {exc})"
            ) from None
        self._thread = threading.Thread(target=self._loop, name="store-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.store.remote.rm(f"leases/{self.name}")  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 (a stale lease expires by itself)
            pass

