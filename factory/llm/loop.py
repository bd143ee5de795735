"""The streaming attempt loop of a generation stage: rows in, rows out, each request asked once.

In: the stage's input files, read ``chunk_rows`` rows at a time. Out: one table per chunk, in input
order, as soon as every row of it is finished (kept, dropped or passed).

- Two chunks are in work at once, so the engines stay busy while the last rows of a chunk retry; a
  chunk's requests (and its retries) go before the next chunk's (``priority`` = chunk number).
- A row's requests are answered from the request cache, else joined to an identical request already in
  flight, else sent. When all its answers are in, ``parse`` runs: a kept or dropped row is finished, a
  ``Retry`` builds the next attempt's requests (seed + attempt) and sends them straight back to the same
  runner. Nothing waits for a "round" to end.
- Answers are written to the cache in batches (``CACHE_BATCH`` answers or ``CACHE_EVERY_S`` seconds,
  and always before a chunk is written or the stage stops), so a killed build loses at most that batch.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from factory.errors import StageError
from factory.llm.types import Request, Response, Retry
from factory.stage import drop
from factory.storage.store import read_tables

CACHE_BATCH = 256
CACHE_EVERY_S = 2.0
OPEN_CHUNKS = 2
POLL_S = 0.5


@dataclass
class LoopStats:
    """Counts of one stage run; ``report()`` is the stage report's generation part."""

    requests: int = 0
    cached: int = 0
    sent: int = 0
    failed: int = 0
    attempts: Counter = field(default_factory=Counter)
    retry_reasons: Counter = field(default_factory=Counter)
    exhausted: int = 0
    passed: int = 0
    wall_s: float = 0.0
    first_answer_s: float | None = None
    backend: dict = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {
            "requests": {
                "unique": self.requests,
                "cached": self.cached,
                "sent": self.sent,
                "failed": self.failed,
            },
            "rows_by_attempt": {str(k): v for k, v in sorted(self.attempts.items())},
            "retry_reasons": dict(sorted(self.retry_reasons.items())),
            "rows_out_of_attempts": self.exhausted,
            "rows_passed": self.passed,
            "send_wall_s": round(self.wall_s, 3),
            "first_answer_s": None if self.first_answer_s is None else round(self.first_answer_s, 3),
            "backend_stats": self.backend,
        }


class _Chunk:
    def __init__(self, number: int, rows: list[dict[str, Any]]):
        self.number, self.rows = number, rows
        self.out: list[dict[str, Any] | None] = [None] * len(rows)
        self.open = len(rows)
        self.failed: list[str] = []  # request errors of rows dropped with request_failed


class _Row:
    """A row in work: its attempt, its requests' keys and the answers in so far."""

    __slots__ = ("chunk", "index", "attempt", "keys", "answers", "missing", "last")

    def __init__(self, chunk: _Chunk, index: int):
        self.chunk, self.index, self.attempt = chunk, index, 0
        self.keys: list[str] = []
        self.answers: list[Response | None] = []
        self.missing = 0
        self.last: Retry | None = None


class GenerationLoop:
    """Runs one ``GenerationStage`` over files (see the module docstring)."""

    def __init__(self, stage, executor_name: str | None = None):
        self.stage = stage
        self.executor_name = executor_name
        self.stats = LoopStats()
        self.runner = None
        self.cache = None
        self._waiting: dict[str, list[tuple[_Row, int]]] = {}  # key in flight -> (row, slot) waiting on it
        self._requests: dict[str, Request] = {}
        self._to_cache: list[tuple[str, Response, Request]] = []
        self._unflushed: dict[str, Response] = {}  # answers of this run not yet in the cache file
        self._flushed = time.monotonic()
        self._ready: deque[_Row] = deque()
        self._to_ask: list[_Row] = []
        self._start = 0.0

    # -- set-up and tear-down ---------------------------------------------------------------------------
    def _open_runner(self):
        if self.runner is None:
            self.runner = self.stage.client().runner(executor=self.executor_name)
        return self.runner

    def run(self, files: list[Path], out_schema: pa.Schema):
        from factory.llm.cache import RequestCache
        from factory.pipeline.progress import RowProgress

        stage = self.stage
        if stage.store_dir is not None:
            self.cache = RequestCache(stage.store_dir / "gen_cache", stage._cache_id, stage.keep_requests)
        total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        self._start = time.perf_counter()
        self.progress = RowProgress(stage.stage_name, total, enabled=stage.progress)
        chunks: deque[_Chunk] = deque()
        tables = read_tables(files, batch_size=stage.chunk_rows)
        number = 0
        more = True
        try:
            with self.progress:
                while True:
                    while more and len(chunks) < OPEN_CHUNKS:
                        table = next(tables, None)
                        if table is None:
                            more = False
                            break
                        chunks.append(self._open_chunk(number, table.to_pylist()))
                        number += 1
                    self._settle()
                    while chunks and chunks[0].open == 0:
                        yield self._finish_chunk(chunks.popleft(), out_schema)
                    if not chunks and not more:
                        break
                    if chunks and (len(chunks) == OPEN_CHUNKS or not more):
                        self._receive(self.runner.poll(POLL_S) if self.runner is not None else [])
                        self._check_lost()
                    self._maybe_flush()
        finally:
            self._flush()
            self.stats.wall_s = time.perf_counter() - self._start
            if self.runner is not None:
                self.stats.backend = dict(getattr(self.runner, "stats", {}))
                self.runner.close()
            if self.cache is not None:
                self.cache.close()

    def _open_chunk(self, number: int, rows: list[dict[str, Any]]) -> _Chunk:
        chunk = _Chunk(number, rows)
        stage = self.stage
        for i, row in enumerate(rows):
            if stage.apply_to is not None and not stage.apply_to.matches(row):
                self._done(chunk, i, row, passed=True)
            else:
                self._to_ask.append(_Row(chunk, i))
        return chunk

    def _finish_chunk(self, chunk: _Chunk, out_schema: pa.Schema) -> pa.Table:
        self._flush()  # a row is written only once its answers are cached
        if chunk.failed and self.stage.on_request_error == "fail":
            raise StageError(
                f"stage '{self.stage.stage_name}': {len(chunk.failed)} row(s) got no answer from the backend "
                f"(last error: {chunk.failed[-1]}); answers that did arrive are cached: a rerun sends only "
                "the missing requests"
            )
        return pa.Table.from_pylist(chunk.out, schema=out_schema)  # type: ignore[arg-type]

    # -- rows ---------------------------------------------------------------------------------------
    def _done(self, chunk: _Chunk, index: int, row: dict[str, Any], passed: bool = False) -> None:
        chunk.out[index] = row
        chunk.open -= 1
        if passed:
            self.stats.passed += 1
        self.progress.advance(1)

    def _settle(self) -> None:
        """Parse every row whose answers are all in and ask every row that needs requests, until neither
        is left (cache hits can finish rows at once, and their retries ask again)."""
        while self._ready or self._to_ask:
            while self._ready:
                self._parse(self._ready.popleft())
            if self._to_ask:
                rows, self._to_ask = self._to_ask, []
                self._ask(rows)
        s = self.stats
        self.progress.note(
            sent=s.sent, cached=s.cached, retried=sum(s.retry_reasons.values()), dropped=s.exhausted
        )

    def _ask(self, rows: list[_Row]) -> None:
        from factory.llm.cache import request_key

        stage = self.stage
        new: dict[str, Request] = {}
        for r in rows:
            row = r.chunk.rows[r.index]
            requests = stage.build_requests(row, r.attempt)
            if requests is None:
                self._done(r.chunk, r.index, row, passed=True)
                continue
            requests = [_with_seed(q, r.attempt) for q in requests]
            r.keys = [request_key(stage._cache_id, q) for q in requests]
            r.answers = [None] * len(requests)
            r.missing = len(requests)
            if not requests:
                self._ready.append(r)
            for slot, (key, request) in enumerate(zip(r.keys, requests, strict=True)):
                if key not in self._waiting:
                    self._waiting[key] = []
                    new[key] = request
                self._waiting[key].append((r, slot))
        self.stats.requests += len(new)
        found = {k: self._unflushed[k] for k in new if k in self._unflushed}  # answered, not yet written
        rest = [k for k in new if k not in found]
        if self.cache is not None and rest:
            found |= self.cache.get_many(rest)
        self.stats.cached += len(found)
        for key, response in found.items():
            self._answer(key, response)
        todo = [k for k in new if k not in found]
        if todo:
            runner = self._open_runner()
            self.stats.sent += len(todo)
            for key in todo:
                self._requests[key] = new[key]
                priority = min(r.chunk.number for r, _ in self._waiting[key])
                runner.submit(key, new[key], priority)

    def _answer(self, key: str, response: Response) -> None:
        for r, slot in self._waiting.pop(key, []):
            r.answers[slot] = response
            r.missing -= 1
            if r.missing == 0:
                self._ready.append(r)

    def _receive(self, results: list[tuple[str, Response]]) -> None:
        for key, response in results:
            if self.stats.first_answer_s is None:
                self.stats.first_answer_s = time.perf_counter() - self._start
            request = self._requests.pop(key)
            if response.error is None:
                self._to_cache.append((key, response, request))
                self._unflushed[key] = replace(response, cached=True)
            else:
                self.stats.failed += 1
            self._answer(key, response)
        self._settle()

    def _check_lost(self) -> None:
        """Requests a runner no longer holds but never answered: errors, so their rows still come out."""
        if self._waiting and (self.runner is None or self.runner.pending() == 0):
            lost = Response([], self.stage.backend.model, [], error="the backend returned no response")
            self._receive([(key, lost) for key in list(self._waiting)])

    def _parse(self, r: _Row) -> None:
        stage = self.stage
        row = r.chunk.rows[r.index]
        responses: list[Response] = r.answers  # type: ignore[assignment]
        errors = [a.error for a in responses if a.error is not None]
        if errors:
            out: dict[str, Any] | Retry = Retry("request_failed", errors[0][:2000])
        else:
            try:
                out = stage.parse(row, responses, r.attempt)
            except Exception as exc:
                raise StageError(
                    f"stage '{stage.stage_name}': parse failed on row {row.get('id')}: {exc!r}"
                ) from exc
        if isinstance(out, Retry):
            r.last = out
            self.stats.retry_reasons[out.reason] += 1
            r.attempt += 1
            if r.attempt < stage.max_attempts:
                self._to_ask.append(r)
                return
            self.stats.exhausted += 1
            if out.reason == "request_failed":
                r.chunk.failed.append(out.detail or "")
            self._done(r.chunk, r.index, drop(row, out.reason, out.detail))
            return
        self.stats.attempts[r.attempt + 1] += 1
        self._done(r.chunk, r.index, out)

    # -- the cache ----------------------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        if len(self._to_cache) >= CACHE_BATCH or time.monotonic() - self._flushed >= CACHE_EVERY_S:
            self._flush()

    def _flush(self) -> None:
        if self._to_cache and self.cache is not None:
            self.cache.put_many(self._to_cache)
        self._to_cache = []
        self._unflushed.clear()  # from now on in the cache file
        self._flushed = time.monotonic()


def _with_seed(request: Request, attempt: int) -> Request:
    if attempt == 0:
        return request
    sampling = request.sampling.model_copy(update={"seed": request.sampling.seed + attempt})
    return replace(request, sampling=sampling)
