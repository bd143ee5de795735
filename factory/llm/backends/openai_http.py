"""OpenAI-compatible HTTP backend: ``POST {base_url}/chat/completions`` with asyncio + aiohttp.

In: requests (``submit``, any time). Out: one ``Response`` per request (``poll``) as each completes. An
event loop in a background thread runs ``max_concurrency`` workers per server (a pool of servers when
``base_url`` is a list); each pulls the next request (lowest priority first), so a million requests cost
no more memory than a few. ``qps`` spaces request starts over all servers (retries included); each try
has ``timeout_s``. Connection errors, timeouts, 408/409/425/429 and 5xx are retried ``max_retries``
times with exponential backoff and jitter (``Retry-After`` honoured, capped at ``max_backoff_s``), each
retry on the next server of the pool; other 4xx are not. A request that still fails becomes a
``Response`` with ``error``.

Structured outputs (``Request.guide``): a JSON schema goes as ``response_format: {type: json_schema}``
(OpenAI's API, vLLM, SGLang); a regex or a choice list as vLLM's ``structured_outputs`` body field
(vLLM >= 0.11). ``OpenAIBackend.structured_outputs`` says which the servers take (the stage leaves out
the guides they don't).

Logprobs (``Request.logprobs = k``) are asked as ``logprobs: true, top_logprobs: k`` (OpenAI's chat API, vLLM's
server: at most 20 unless the server allows more) and read from each choice's ``logprobs.content`` (the
sampled token and its ``top_logprobs`` per generated token); a server that returns none gives a ``Response``
without logprobs.

``served_model(config)`` asks every server's ``/v1/models`` what it serves under ``model`` (vLLM reports
the weights' path or hub id as ``root``): that goes into the cache key, so two models served under one
name never share answers.

The API key is read from ``os.environ[api_key_env]`` when the first request is sent and lives only in the
request headers: it is never logged, cached or put in an error message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import queue
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

from factory.errors import StageError
from factory.llm.backends.base import Runner
from factory.llm.logprobs import position
from factory.llm.types import OpenAIBackend, Request, Response

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
    if request.logprobs is not None:
        body["logprobs"] = True
        body["top_logprobs"] = request.logprobs
    guide = request.guide
    if guide is not None and guide.json_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": guide.json_schema, "strict": True},
        }
    elif guide is not None:
        body["structured_outputs"] = (
            {"regex": guide.regex} if guide.regex is not None else {"choice": guide.choice}
        )
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
    logprobs = [_choice_logprobs(c) for c in choices]
    found = logprobs if any(lp is not None for lp in logprobs) else None
    return Response(texts, data.get("model") or model, reasons, logprobs=found)


def _choice_logprobs(choice: dict[str, Any]) -> list | None:
    """A choice's ``logprobs.content`` as ``(token, {text: logprob})`` per generated token (the sampled token
    among its top ones), or None when the server returned none."""
    content = (choice.get("logprobs") or {}).get("content")
    if not content:
        return None
    out = []
    for entry in content:
        top = [(t.get("token", ""), t.get("logprob")) for t in entry.get("top_logprobs") or []]
        token = entry.get("token", "")
        if all(text != token for text, _ in top):  # the sampled token, when below the top k
            top.append((token, entry.get("logprob")))
        out.append(position(token, top))
    return out


def _headers(config: OpenAIBackend) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    env = config.api_key_env
    if env:
        key = os.environ.get(env)
        if not key:
            raise StageError(f"backend.api_key_env: environment variable '{env}' is not set or empty")
        headers["Authorization"] = f"Bearer {key}"
    return headers


def served_model(config: OpenAIBackend) -> str:
    """What every server of ``config`` serves under ``config.model``: the ``root`` its ``/v1/models``
    reports (vLLM: the weights' path or hub id), else the id. A server that does not list the model, or
    servers of one pool that disagree, is a ``StageError``."""
    seen: dict[str, str] = {}
    headers = _headers(config)
    for url in config.base_urls:
        listing = _get_json(f"{url}/models", headers, config)
        entries = {m.get("id"): m for m in listing.get("data") or [] if isinstance(m, dict)}
        entry = entries.get(config.model)
        if entry is None:
            served = ", ".join(sorted(str(k) for k in entries)) or "nothing"
            raise StageError(f"{url} does not serve a model named '{config.model}' (it serves: {served})")
        seen[url] = str(entry.get("root") or entry.get("id"))
    if len(set(seen.values())) > 1:
        raise StageError(f"the servers of this backend serve different models as '{config.model}': {seen}")
    return next(iter(seen.values()))


def _get_json(url: str, headers: dict[str, str], config: OpenAIBackend) -> dict[str, Any]:
    error = ""
    for attempt in range(config.max_retries + 1):
        try:
            req = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(req, timeout=min(config.timeout_s, 30)) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if exc.code not in RETRY_STATUS:
                break
        except (OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if attempt < config.max_retries:
            time.sleep(min(config.max_backoff_s, config.backoff_s * 2**attempt))
    raise StageError(
        f"cannot ask {url} which model it serves ({error}); start the server, or set "
        "backend.check_model: false (and pin backend.revision) for a server without /v1/models"
    )


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


class OpenAIRunner(Runner):
    """Sends requests to one OpenAI-compatible server or a pool of them (see the module docstring)."""

    def __init__(self, config: OpenAIBackend):
        self.config = config
        self.model_id = config.model
        self.urls = [u + "/chat/completions" for u in config.base_urls]
        self.stats: Counter[str] = Counter()  # http_requests, retries, failed, max_in_flight, requests
        self._rng = random.Random()
        self._in_flight = 0
        self._results: queue.Queue = queue.Queue()
        self._pending = 0
        self._order = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._todo: asyncio.PriorityQueue | None = None
        self._crash: list[BaseException] = []
        self._closing = False

    # -- the event loop thread --------------------------------------------------------------------------
    def _start(self) -> None:
        headers = _headers(self.config)  # a missing key variable fails here, before any request
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._todo = asyncio.PriorityQueue()
            ready.set()
            try:
                loop.run_until_complete(self._serve(headers))
            except BaseException as exc:  # noqa: BLE001 - reported by poll
                self._crash.append(exc)
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="openai-runner", daemon=True)
        self._thread.start()
        ready.wait()

    async def _serve(self, headers: dict[str, str]) -> None:
        import aiohttp

        cfg = self.config
        pacer = _Pacer(cfg.qps)
        connector = aiohttp.TCPConnector(limit=cfg.max_concurrency * len(self.urls))
        timeout = aiohttp.ClientTimeout(total=cfg.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:

            async def worker(first_url: int) -> None:
                while True:
                    _, _, ticket, request = await self._todo.get()
                    if request is None:
                        return
                    if self._closing:  # the stage stopped: nobody waits for this answer
                        response = Response([], self.config.model, [], error="not sent: the stage stopped")
                    else:
                        response = await self._one(session, request, pacer, first_url)
                    self._results.put((ticket, response))

            workers = [worker(i % len(self.urls)) for i in range(cfg.max_concurrency * len(self.urls))]
            await asyncio.gather(*workers)

    # -- the stream --------------------------------------------------------------------------------------
    def submit(self, ticket: Any, request: Request, priority: int = 0) -> None:
        if self._thread is None:
            self._start()
        self._pending += 1
        self.stats["requests"] += 1
        self.stats["guided_requests"] += request.guide is not None
        item = (priority, next(self._order), ticket, request)
        self._loop.call_soon_threadsafe(self._todo.put_nowait, item)

    def pending(self) -> int:
        return self._pending

    def poll(self, timeout: float) -> list[tuple[Any, Response]]:
        if self._crash:
            raise StageError(f"the HTTP client stopped: {self._crash[0]!r}")
        if not self._pending:
            return []
        out = []
        try:
            out.append(self._results.get(timeout=timeout))
            while True:
                out.append(self._results.get_nowait())
        except queue.Empty:
            pass
        self._pending -= len(out)
        return out

    def close(self) -> None:
        if self._thread is None:
            return
        loop, todo = self._loop, self._todo
        self._closing = True
        for _ in range(self.config.max_concurrency * len(self.urls)):  # one stop sign per worker
            loop.call_soon_threadsafe(todo.put_nowait, (float("inf"), next(self._order), None, None))
        self._thread.join(timeout=self.config.timeout_s + 5)
        self._thread = None

    # -- one request -------------------------------------------------------------------------------------
    async def _one(self, session, request: Request, pacer: _Pacer, first_url: int) -> Response:
        import aiohttp

        cfg = self.config
        body = request_body(cfg.model, request)
        error = "not sent"
        for attempt in range(cfg.max_retries + 1):
            url = self.urls[(first_url + attempt) % len(self.urls)]
            if attempt:
                self.stats["retries"] += 1
            await pacer.wait()
            self.stats["http_requests"] += 1
            retry_after = None
            self._in_flight += 1
            self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self._in_flight)
            try:
                async with session.post(url, json=body) as resp:
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


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
