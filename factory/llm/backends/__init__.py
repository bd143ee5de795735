"""Generation backends behind one interface: ``make_runner(config)`` gives a ``Runner`` (``base``).

A runner is a stream: ``submit(ticket, request, priority)`` queues a request (lower priority first),
``poll(timeout)`` returns the answers finished since the last call as ``(ticket, Response)`` pairs, and
``pending()`` says how many submitted requests have not come back. A stage keeps submitting while it
polls (a retried row goes straight back), so engines start once and never wait for a round to end.
``run(requests, on_result)`` is the same for a fixed list (``on_result(index, response)`` as each
answer arrives). Failures are responses with ``error`` set, never exceptions, except for configuration
errors (a missing API key variable, a model that does not load, an engine that dies).

- ``factory.llm.backends.vllm_runner``: vLLM engines in this process or as Ray actors (``factory.llm.backends.pool``
  starts them once per build and shares them between the stages that ask for the same settings).
- ``factory.llm.backends.openai_http``: one or several OpenAI-compatible HTTP servers (asyncio + aiohttp).

Heavy imports (vllm, ray, aiohttp) happen inside the runner modules, on first use.
"""

from __future__ import annotations

from typing import Any

from factory.llm.backends.base import Runner


def make_runner(config: Any, executor: str | None = None, label: str | None = None) -> Runner:
    """The runner of a backend config (``VLLMBackend`` or ``OpenAIBackend``). ``executor``: the build's
    executor (``ray`` makes ``placement: auto`` run vLLM engines as Ray actors); ``label``: the model name
    answers carry (default: the config's ``model``)."""
    if config.kind == "vllm":
        from factory.llm.backends.vllm_runner import VLLMRunner

        return VLLMRunner(config, executor=executor, label=label)
    if config.kind == "openai":
        from factory.llm.backends.openai_http import OpenAIRunner

        return OpenAIRunner(config)
    raise ValueError(f"unknown backend kind '{config.kind}'")
