"""The per-request generation cache: one SQLite file per model under ``<store>/gen_cache/`` (see the end).

Answers are written as they arrive, in batches (``put_many``: one transaction per batch, a few hundred
answers or a couple of seconds' worth), keyed by ``request_key`` (model id, rendered messages, sampling
params with the seed, the structured-output guide, the number of top logprobs asked), so a build killed halfway and started again resends
only the requests that have no answer yet, and a changed recipe that asks the same questions pays nothing.

SQLite in WAL mode: readers never block the writer, several builds on one store may write at once
(``busy_timeout`` serialises their commits), so a ``kill -9`` loses at most the answers of the batch not
yet written. ``synchronous=NORMAL`` survives a killed process (not a power cut, which costs only
re-asking). Failed requests are never cached: a restart asks them again. An answer's top logprobs (asked by
requests with ``logprobs``) are kept beside it in a table of their own (``logprobs``), so the ``answers``
table keeps the columns earlier versions of the factory read and write.

The files live in a local folder with working POSIX locks (not NFS): ``<store>/gen_cache/`` for a store on
local disk; for a store on object storage (``s3://...``) the store's local mirror (``factory.storage.store``),
whose files a build merges with ``<store URL>/gen_cache/`` when it starts and uploads, merged again, when it
ends (a killed build's answers stay in the mirror, for the next build on that machine).
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
);
CREATE TABLE IF NOT EXISTS logprobs (
    key TEXT PRIMARY KEY,
    logprobs TEXT NOT NULL
)
"""


def request_key(model_id: str, request: Request) -> str:
    """The cache key of one request: model, rendered messages and every sampling param (seed included)."""
    key = {"model": model_id, "messages": request.messages, "sampling": request.sampling.model_dump()}
    if getattr(request, "guide", None) is not None:  # absent for free text: keys of earlier answers hold
        key["guide"] = request.guide.model_dump(exclude_none=True)
    if getattr(request, "logprobs", None) is not None:  # likewise absent when none are asked
        key["logprobs"] = request.logprobs
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
        self._db.executescript(SCHEMA)

    def get_many(self, keys: list[str]) -> dict[str, Response]:
        """The cached answers among ``keys`` (missing keys are absent from the result)."""
        from factory.llm.types import Response

        found: dict[str, Response] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 900):
            part = unique[start : start + 900]
            marks = ",".join("?" * len(part))
            for key, model, texts, reasons, logprobs in self._db.execute(
                "SELECT a.key, a.model, a.texts, a.finish_reasons, l.logprobs FROM answers a "
                f"LEFT JOIN logprobs l ON l.key = a.key WHERE a.key IN ({marks})",
                part,
            ):
                found[key] = Response(
                    texts=json.loads(texts),
                    model=model,
                    finish_reasons=json.loads(reasons),
                    cached=True,
                    logprobs=_read_logprobs(logprobs),
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
            if request.logprobs is not None:
                body["logprobs"] = request.logprobs
            req = json.dumps(body, ensure_ascii=False)
        texts = json.dumps(response.texts, ensure_ascii=False)
        return (key, response.model, texts, json.dumps(response.finish_reasons), req, time.time())

    def put(self, key: str, response: Response, request: Request | None = None) -> bool:
        """Store one successful answer (its own transaction). False when the key was already there."""
        return self.put_many([(key, response, request)]) == 1

    def put_many(self, items: list[tuple[str, Response, Request | None]]) -> int:
        """Store successful answers (and their logprobs) in one transaction; how many answers were new."""
        records = [self._record(key, response, request) for key, response, request in items]
        logprobs = [
            (key, json.dumps(response.logprobs, ensure_ascii=False))
            for key, response, _ in items
            if response.logprobs is not None
        ]
        with self._db:  # BEGIN ... COMMIT (the connection is in autocommit mode otherwise)
            self._db.execute("BEGIN")
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO answers (key, model, texts, finish_reasons, request, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                records,
            )
            new = self._db.total_changes - before
            self._db.executemany("INSERT OR IGNORE INTO logprobs (key, logprobs) VALUES (?, ?)", logprobs)
        return new

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        self._db.close()


def _read_logprobs(text: str | None) -> list | None:
    """Stored logprobs back as ``Response.logprobs`` (JSON lists -> ``(token, top)`` tuples)."""
    if text is None:
        return None
    return [[(token, top) for token, top in completion] for completion in json.loads(text)]
