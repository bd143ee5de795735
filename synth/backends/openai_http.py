"""OpenAI-compatible HTTP backend: ``POST {base_url}/chat/completions`` with asyncio + aiohttp.

In: requests (messages + sampling). Out: one ``Response`` per request through ``on_result`` as each
completes. ``max_concurrency`` requests are in flight at once (a fixed pool of workers pulls the next
request, so a million requests cost no more memory than a few); ``qps`` spaces request starts (retries
included); each try has ``timeout_s``. Connection errors, timeouts, 408/409/425/429 and 5xx are retried
``max_retries`` times with exponential backoff and jitter (``Retry-After`` honoured, capped at
``max_backoff_s``); other 4xx are not. A request that still fails becomes a ``Response`` with ``error``.

The API key is read from ``os.environ[api_key_env]`` when ``run`` starts and lives only in the request
headers: it is never logged, cached or put in an error message.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from factory.errors import StageError
from synth.generation import OpenAIBackend, Request, Response

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def request_body(model: str, request: Request) -> dict[str, Any]:
    """The JSON body of one chat completion."""
    s = request.sampling
    body: dict[str, Any] = {
        "model": model,
        "messages": request.messages,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "max_tokens": s.max_tokens,
        "n": s.n,
        "seed": s.seed,
    }
    if s.stop:
        body["stop"] = s.stop
    return body


def parse_completion(data: dict[str, Any], model: str) -> Response:
    """A ``Response`` from a chat-completions JSON answer (an ``error`` object becomes an error)."""
    if data.get("error"):
        return Response([], model, [], error=f"server error: {json.dumps(data['error'])[:500]}")
    choices = sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))
    if not choices:
        return Response([], model, [], error="answer without choices")
    texts = [((c.get("message") or {}).get("content") or "") for c in choices]
    reasons = [c.get("finish_reason") or "" for c in choices]
    return Response(texts, data.get("model") or model, reasons)


class _Pacer:
    """Spaces request starts ``1/qps`` apart (no limit when ``qps`` is None)."""

    def __init__(self, qps: float | None):
        self.interval = 1.0 / qps if qps else 0.0
        self.next = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        loop = asyncio.get_running_loop()
        async with self.lock:
            now = loop.time()
            start = max(now, self.next)
            self.next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


class OpenAIRunner:
    """Sends requests to one OpenAI-compatible server."""

    def __init__(self, config: OpenAIBackend):
        self.config = config
        self.model_id = config.model
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self.stats: Counter[str] = Counter()  # http_requests, retries, failed, max_in_flight
        self._rng = random.Random()
        self._in_flight = 0

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        env = self.config.api_key_env
        if env:
            key = os.environ.get(env)
            if not key:
                raise StageError(f"backend.api_key_env: environment variable '{env}' is not set or empty")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def run(self, requests: list[Request], on_result: Callable[[int, Response], None]) -> None:
        if not requests:
            return
        headers = self._headers()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._run_all(requests, on_result, headers))
            return
        # Called from inside an event loop (a notebook): run ours in a thread.
        error: list[BaseException] = []

        def target() -> None:
            try:
                asyncio.run(self._run_all(requests, on_result, headers))
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                error.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        if error:
            raise error[0]

    async def _run_all(self, requests, on_result, headers) -> None:
        import aiohttp

        cfg = self.config
        pacer = _Pacer(cfg.qps)
        todo = iter(range(len(requests)))
        connector = aiohttp.TCPConnector(limit=cfg.max_concurrency)
        timeout = aiohttp.ClientTimeout(total=cfg.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:

            async def worker() -> None:
                for index in todo:
                    response = await self._one(session, requests[index], pacer)
                    on_result(index, response)

            await asyncio.gather(*(worker() for _ in range(min(cfg.max_concurrency, len(requests)))))

    async def _one(self, session, request: Request, pacer: _Pacer) -> Response:
        import aiohttp

        cfg = self.config
        body = request_body(cfg.model, request)
        error = "not sent"
        for attempt in range(cfg.max_retries + 1):
            if attempt:
                self.stats["retries"] += 1
            await pacer.wait()
            self.stats["http_requests"] += 1
            retry_after = None
            self._in_flight += 1
            self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self._in_flight)
            try:
                async with session.post(self.url, json=body) as resp:
                    text = await resp.text()
                    if resp.status == 200:
                        try:
                            return parse_completion(json.loads(text), cfg.model)
                        except (ValueError, AttributeError, TypeError) as exc:
                            return Response([], cfg.model, [], error=f"unreadable answer: {exc}")
                    error = f"HTTP {resp.status}: {text[:500]}"
                    if resp.status not in RETRY_STATUS:
                        break
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            finally:
                self._in_flight -= 1
            if attempt < cfg.max_retries:
                delay = min(cfg.max_backoff_s, cfg.backoff_s * 2**attempt) * (0.5 + self._rng.random() / 2)
                if retry_after is not None:
                    delay = min(cfg.max_backoff_s, max(delay, retry_after))
                await asyncio.sleep(delay)
        self.stats["failed"] += 1
        return Response([], cfg.model, [], error=error)

    def close(self) -> None:
        pass


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
