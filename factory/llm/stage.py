"""``GenerationStage``: the base of every LLM stage.

A generation stage turns rows into chat-completion ``Request``s (``build_requests``), gets a ``Response``
for each from the request cache or from the backend, and turns them back into a row (``parse``), which may
ask for another attempt (``Retry``: same row, next seed) or drop the row with a reason. The base runs the
loop (``factory.llm.loop``): every input row comes out once, kept or dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, PrivateAttr

from factory.errors import StageError
from factory.llm.models import model_fingerprint
from factory.llm.types import (
    RESOURCE_FIELDS,
    Backend,
    Guide,
    OpenAIBackend,
    Request,
    Response,
    Retry,
    SamplingConfig,
    VLLMBackend,
)
from factory.stage import CustomStage


class GenerationStage(CustomStage):
    """Base of every LLM stage. In: rows. Out: each row as ``parse`` returns it, or dropped with the reason
    of its last ``Retry`` after ``max_attempts``, or with ``request_failed`` when the backend failed.

    Subclasses implement ``build_requests(row, attempt)`` (``None``: the row passes untouched) and
    ``parse(row, responses, attempt)`` (a new row, a ``drop(row, ...)``, or ``Retry``). The loop
    (``factory.llm.loop``) streams: a row to retry goes straight back to the same engines with its next seed."""

    backend: Backend
    sampling: SamplingConfig = SamplingConfig()
    max_attempts: int = Field(1, ge=1, le=10)
    on_request_error: Literal["drop", "fail"] = Field(
        "drop",
        description="drop: rows whose request failed are dropped (request_failed); fail: the stage fails "
        "at the end of the chunk, nothing of it is cached as a stage output, and a rerun resends only those",
    )
    chunk_rows: int = Field(
        10_000,
        ge=1,
        description="rows read at a time; two chunks are in work at once, each written when done",
    )
    keep_requests: bool = Field(True, description="store each request's messages beside its answer")
    progress: bool = Field(True, description="rows done, rate and time left on stderr")

    _stats: Any = PrivateAttr(None)
    _cache_id: str = PrivateAttr("")
    _identity: dict[str, Any] | None = PrivateAttr(None)
    _warnings: list[str] = PrivateAttr(default_factory=list)

    def params(self) -> dict[str, Any]:
        """The cache key's params: everything but names, chunking, progress and the backend's resources."""
        out = self.model_dump(
            mode="json", exclude={"name", "batch_size", "chunk_rows", "keep_requests", "progress"}
        )
        out["backend"] = {k: v for k, v in out["backend"].items() if k not in RESOURCE_FIELDS}
        return out

    # -- to implement -------------------------------------------------------------------------------
    def build_requests(self, row: dict[str, Any], attempt: int) -> list[Request] | None:
        raise NotImplementedError

    def parse(self, row: dict[str, Any], responses: list[Response], attempt: int) -> dict[str, Any] | Retry:
        raise NotImplementedError

    def request(
        self, row: dict[str, Any], messages: list[dict[str, str]], tag: str = "", guide: Guide | None = None
    ) -> Request:
        """A request for ``row`` with this stage's sampling (the base offsets the seed per attempt). A
        ``guide`` the backend does not enforce is left out (free text; not in the request's cache key)."""
        if guide is not None and not self.backend.enforces(guide):
            guide = None
        return Request(
            row_id=str(row.get("id")), messages=messages, sampling=self.sampling, tag=tag, guide=guide
        )

    def guided(self) -> bool:
        """Whether this stage's backend enforces structured outputs (a stage's parser still reads free text)."""
        return self.backend.enforces(Guide(regex="x"))

    # -- model identity -----------------------------------------------------------------------------
    def resolved_backend(self) -> VLLMBackend | OpenAIBackend:
        """The backend with a relative local model path made absolute (recipe data folder, then cwd)."""
        from factory.llm.models import resolve_model

        b = self.backend
        if b.kind == "vllm":
            model = resolve_model(
                b.model, (self.data_dir,)
            )  # shipped names (smollm2-135m) -> imported folder
            if model != b.model:
                return b.model_copy(update={"model": model})
        return b

    def model_identity(self, refresh: bool = False) -> dict[str, Any]:
        """What identifies the weights behind the backend: a local folder's fingerprint, a hub id and its
        pinned revision, or a server's model name, what its servers report serving, and the pinned revision."""
        if self._identity is not None and not refresh:
            return self._identity
        b = self.resolved_backend()
        if b.kind == "vllm":
            ident: dict[str, Any] = {"model": b.model, "revision": b.revision}
            if Path(b.model).is_dir():
                ident["fingerprint"] = model_fingerprint(Path(b.model))
        else:
            ident = {"model": b.model, "revision": b.revision}
            if b.check_model:
                from factory.llm.backends.openai_http import served_model

                ident["served"] = served_model(b)
        self._identity = ident
        return ident

    def input_fingerprint(self) -> Any:
        """What identifies the model (so a retrained folder or another model behind a server name reruns it)."""
        ident = self.model_identity()
        return {k: v for k, v in ident.items() if k != "model" and v is not None} or None

    def cache_model_id(self) -> str:
        """What request keys are built from: the model name, its fingerprint (local folder) or what the
        server serves under that name, and a pinned revision."""
        ident = self.model_identity()
        out = ident["model"]
        if ident.get("fingerprint"):
            out += f"@{ident['fingerprint']}"
        if ident.get("served"):
            out += f" served={ident['served']}"
        if ident.get("revision"):
            out += f" rev={ident['revision']}"
        return out

    # -- the loop -----------------------------------------------------------------------------------
    def run(self, files: list[Path], executor: Any, out_schema: pa.Schema) -> Iterator[pa.Table]:
        from factory.llm.loop import GenerationLoop

        self.setup()
        self._warnings = []
        before = self._identity
        if self.backend.kind == "openai" and self.backend.check_model:
            now = self.model_identity(refresh=True)
            if before is not None and before.get("served") != now.get("served"):
                raise StageError(
                    f"stage '{self.stage_name}': the server now serves '{now['model']}' from {now.get('served')} "
                    f"(it was {before.get('served')} when the build started); rerun the build"
                )
        self._cache_id = self.cache_model_id()
        loop = GenerationLoop(self, executor_name=getattr(executor, "name", None))
        self._stats = loop.stats
        yield from loop.run(files, out_schema)

    def report(self) -> dict[str, Any]:
        backend = self.backend.model_dump(mode="json", include={"kind", "model", "base_url"})
        out = {"backend": backend, **(self._stats.report() if self._stats is not None else {})}
        out["structured_outputs"] = self.guided()
        out["warnings"] = list(self._warnings)
        return out
