"""``GenerationStage``: the base of every LLM stage.

A generation stage turns rows into chat-completion ``Request``s (``build_requests``), gets a ``Response``
for each from the request cache or from the backend, and turns them back into a row (``parse``), which may
ask for another attempt (``Retry``: same row, next seed) or drop the row with a reason. The base runs the
loop (``factory.llm.loop``): every input row comes out once, kept or dropped. The model is resolved,
identified and served through the stage's ``ModelClient`` (``factory.llm.client``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, PrivateAttr

from factory.figures import Figures
from factory.llm.client import ModelClient
from factory.llm.types import RESOURCE_FIELDS, Backend, Guide, Request, Response, Retry, SamplingConfig
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

    _cache_id: str = PrivateAttr("")
    _client: ModelClient | None = PrivateAttr(None)

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
        self,
        row: dict[str, Any],
        messages: list[dict[str, str]],
        tag: str = "",
        guide: Guide | None = None,
        logprobs: int | None = None,
    ) -> Request:
        """A request for ``row`` with this stage's sampling (the base offsets the seed per attempt). A
        ``guide`` the backend does not enforce is left out (free text; not in the request's cache key).
        ``logprobs``: top logprobs to return per generated token (``Response.logprobs``)."""
        if guide is not None and not self.backend.enforces(guide):
            guide = None
        return Request(
            row_id=str(row.get("id")), messages=messages, sampling=self.sampling, tag=tag, guide=guide,
            logprobs=logprobs,
        )  # fmt: skip

    def guided(self) -> bool:
        """Whether this stage's backend enforces structured outputs (a stage's parser still reads free text)."""
        return self.backend.enforces(Guide(regex="x"))

    # -- the client ---------------------------------------------------------------------------------
    def client(self) -> ModelClient:
        """This stage's generation client: its model resolved against the recipe's data folder (then the cwd),
        identified once (``factory.llm.client``)."""
        base = (self.data_dir,)
        if self._client is None or self._client.config != self.backend or self._client.base_dirs != base:
            self._client = ModelClient(self.backend, base, owner=f"stage '{self.stage_name}'")
        return self._client

    def input_fingerprint(self) -> Any:
        """What identifies the model (so a retrained folder or another model behind a server name reruns it).
        The runner asks before any row is read: a model that cannot be found fails the build here."""
        ident = self.client().identity()
        return {k: v for k, v in ident.items() if k != "model" and v is not None} or None

    # -- the loop -----------------------------------------------------------------------------------
    def run(self, files: list[Path], executor: Any, out_schema: pa.Schema) -> Iterator[pa.Table]:
        from factory.llm.loop import GenerationLoop

        self.setup()
        client = self.client()
        client.check_unchanged("the build started", "rerun the build")
        self._cache_id = client.cache_id()
        loop = GenerationLoop(self, executor_name=getattr(executor, "name", None))
        yield from loop.run(files, out_schema)
        self.figures.put("generation", loop.stats.report())

    def report(self, figures: Figures) -> dict[str, Any]:
        """The backend, the loop's figures (requests, attempts, retries), whether outputs are structured, and
        ``warnings`` (subclasses add theirs from the figures their ``parse`` recorded)."""
        backend = self.backend.model_dump(mode="json", include={"kind", "model", "base_url"})
        out = {"backend": backend, **figures.get("generation", {})}
        out["structured_outputs"] = self.guided()
        out["warnings"] = list(figures.get("warnings", []))
        return out
