"""The per-request generation cache: one SQLite file per model under ``<store>/gen_cache/``.

Answers are written as they arrive, in batches (``put_many``: one transaction per batch, a few hundred
answers or a couple of seconds' worth), keyed by ``request_key`` (model id, rendered messages, sampling
params with the seed, the structured-output guide), so a build killed halfway and started again resends
only the requests that have no answer yet, and a changed recipe that asks the same questions pays nothing.

SQLite in WAL mode: readers never block the writer, several builds on one store may write at once
(``busy_timeout`` serialises their commits), so a ``kill -9`` loses at most the answers of the batch not
yet written. ``synchronous=NORMAL`` survives a killed process (not a power cut, which costs only
re-asking). Failed requests are never cached: a restart asks them again.

Keep the store on a local disk or a filesystem with working POSIX locks (not NFS) for the cache.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from factory.hashing import stable_hash

if TYPE_CHECKING:
    from factory.llm.types import Request, Response

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    texts TEXT NOT NULL,
    finish_reasons TEXT NOT NULL,
    request TEXT,
    created REAL NOT NULL
)
"""


def request_key(model_id: str, request: Request) -> str:
    """The cache key of one request: model, rendered messages and every sampling param (seed included)."""
    key = {"model": model_id, "messages": request.messages, "sampling": request.sampling.model_dump()}
    if getattr(request, "guide", None) is not None:  # absent for free text: keys of earlier answers hold
        key["guide"] = request.guide.model_dump(exclude_none=True)
    return stable_hash(key, length=32)


def cache_file(folder: Path, model_id: str) -> Path:
    """``folder/<readable model name>-<hash>.sqlite``: one file per model id (the name, then what
    identifies the weights: ``name@fingerprint``, ``name served=root``, ``rev=...``), easy to find and delete."""
    name = model_id.split(" ")[0].split("@")[0].rstrip("/").split("/")[-1]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60] or "model"
    return Path(folder) / f"{slug}-{stable_hash(model_id, length=8)}.sqlite"


class RequestCache:
    """Answers of one model, looked up and written by ``request_key``."""

    def __init__(self, folder: Path, model_id: str, keep_requests: bool = True):
        self.path = cache_file(folder, model_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.model_id, self.keep_requests = model_id, keep_requests
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=60000")
        self._db.execute(SCHEMA)

    def get_many(self, keys: list[str]) -> dict[str, Response]:
        """The cached answers among ``keys`` (missing keys are absent from the result)."""
        from factory.llm.types import Response

        found: dict[str, Response] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 900):
            part = unique[start : start + 900]
            marks = ",".join("?" * len(part))
            for key, model, texts, reasons in self._db.execute(
                f"SELECT key, model, texts, finish_reasons FROM answers WHERE key IN ({marks})", part
            ):
                found[key] = Response(
                    texts=json.loads(texts), model=model, finish_reasons=json.loads(reasons), cached=True
                )
        return found

    def _record(self, key: str, response: Response, request: Request | None) -> tuple:
        if response.error is not None:
            raise ValueError("failed requests are not cached")
        req = None
        if self.keep_requests and request is not None:
            body = {
                "messages": request.messages,
                "sampling": request.sampling.model_dump(),
                "tag": request.tag,
            }
            if request.guide is not None:
                body["guide"] = request.guide.model_dump(exclude_none=True)
            req = json.dumps(body, ensure_ascii=False)
        texts = json.dumps(response.texts, ensure_ascii=False)
        return (key, response.model, texts, json.dumps(response.finish_reasons), req, time.time())

    def put(self, key: str, response: Response, request: Request | None = None) -> bool:
        """Store one successful answer (its own transaction). False when the key was already there."""
        cur = self._db.execute(
            "INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?, ?)", self._record(key, response, request)
        )
        return cur.rowcount == 1

    def put_many(self, items: list[tuple[str, Response, Request | None]]) -> int:
        """Store successful answers in one transaction; how many were new."""
        records = [self._record(key, response, request) for key, response, request in items]
        before = self._db.total_changes
        with self._db:  # BEGIN ... COMMIT (the connection is in autocommit mode otherwise)
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?, ?)", records)
        return self._db.total_changes - before

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        self._db.close()
