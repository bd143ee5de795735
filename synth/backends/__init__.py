"""Generation backends behind one interface: ``make_runner(config)`` gives a ``Runner``.

A runner is a stream: ``submit(ticket, request, priority)`` queues a request (lower priority first),
``poll(timeout)`` returns the answers finished since the last call as ``(ticket, Response)`` pairs, and
``pending()`` says how many submitted requests have not come back. A stage keeps submitting while it
polls (a retried row goes straight back), so engines start once and never wait for a round to end.
``run(requests, on_result)`` is the same for a fixed list (``on_result(index, response)`` as each
answer arrives). Failures are responses with ``error`` set, never exceptions, except for configuration
errors (a missing API key variable, a model that does not load, an engine that dies).

- ``synth.backends.vllm_runner``: vLLM engines in this process or as Ray actors (``synth.backends.pool``
  starts them once per build and shares them between the stages that ask for the same settings).
- ``synth.backends.openai_http``: one or several OpenAI-compatible HTTP servers (asyncio + aiohttp).

Heavy imports (vllm, ray, aiohttp) happen inside the runner modules, on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synth.generation import Request, Response


class Runner:
    """Base of the runners: ``run`` on top of ``submit`` / ``poll`` / ``pending``."""

    model_id: str  # the model name answers are labelled with
    stats: dict[str, Any]

    def submit(self, ticket: Hashable, request: Request, priority: int = 0) -> None:
        raise NotImplementedError

    def poll(self, timeout: float) -> list[tuple[Any, Response]]:
        raise NotImplementedError

    def pending(self) -> int:
        raise NotImplementedError

    def run(self, requests: list[Request], on_result: Callable[[int, Response], None]) -> None:
        """Send ``requests``; call ``on_result(index, response)`` once per request, in any order."""
        from synth.generation import Response

        for i, request in enumerate(requests):
            self.submit(i, request)
        left = set(range(len(requests)))
        while left:
            got = self.poll(1.0)
            for i, response in got:
                left.discard(i)
                on_result(i, response)
            if not got and self.pending() == 0:
                for i in sorted(left):
                    on_result(i, Response([], self.model_id, [], error="the backend returned no response"))
                return

    def close(self) -> None:
        pass


def make_runner(config: Any, executor: str | None = None, label: str | None = None) -> Runner:
    """The runner of a backend config (``VLLMBackend`` or ``OpenAIBackend``). ``executor``: the build's
    executor (``ray`` makes ``placement: auto`` run vLLM engines as Ray actors); ``label``: the model name
    answers carry (default: the config's ``model``)."""
    if config.kind == "vllm":
        from synth.backends.vllm_runner import VLLMRunner

        return VLLMRunner(config, executor=executor, label=label)
    if config.kind == "openai":
        from synth.backends.openai_http import OpenAIRunner

        return OpenAIRunner(config)
    raise ValueError(f"unknown backend kind '{config.kind}'")
