"""One vLLM engine fed request by request: the unit the ``vllm`` backend runs, in this process or as a Ray
actor (the same class either way).

In: items ``(ticket, messages, sampling, guide)`` (plain dicts, so they cross to a Ray actor cheaply;
``sampling["logprobs"]``: top logprobs per generated token, or None). Out: ``step_for`` adds them to the
engine and runs its steps (vLLM's continuous batching) until some answers are finished or a time limit
passes, and returns those answers as ``EngineResult`` tuples (with each completion's top logprobs as
``factory.llm.logprobs.position`` pairs when asked). New
requests (the next chunk's rows, a retried row with its next seed) join the running batch at the next
step: the engine starts once and serves every round of a stage, and every stage that asks for the same
engine settings (``factory.llm.backends.pool``).

The engine is ``vllm.LLM`` itself (so its constructor takes exactly the arguments ``vllm.LLM`` takes and
chat templates are applied as ``LLM.chat`` applies them, through ``LLM.enqueue_chat``); only the loop is
ours: ``LLM.llm_engine.step()`` until the answers we wait for are finished.

vLLM's own errors for one request (a prompt longer than ``max_model_len``, an invalid guide) become that
request's error; an engine that dies raises (the stage fails; answers already cached stay cached).
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

from factory.llm import cpu

cpu.quiet_vllm_logs()  # before vLLM is first imported, here or in a Ray engine actor


class EngineResult(NamedTuple):
    """The answer to one item: ``texts`` and ``finish_reasons`` per completion, or ``error``; ``logprobs``
    per completion when the item asked for them."""

    ticket: Any
    texts: list[str]
    finish_reasons: list[str]
    prompt_tokens: int
    generated_tokens: int
    error: str | None = None
    logprobs: list | None = None


def sampling_params(sampling: dict[str, Any], guide: dict[str, Any] | None):
    """``vllm.SamplingParams`` of a request's sampling config and optional guide (structured output)."""
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    structured = None
    if guide:
        structured = StructuredOutputsParams(
            json=guide.get("json_schema"), regex=guide.get("regex"), choice=guide.get("choice")
        )
    return SamplingParams(
        n=sampling["n"],
        temperature=sampling["temperature"],
        top_p=sampling["top_p"],
        max_tokens=sampling["max_tokens"],
        seed=sampling["seed"],
        stop=sampling.get("stop") or None,
        structured_outputs=structured,
        logprobs=sampling.get("logprobs"),
    )


def _logprobs(completion) -> list | None:
    """A completion's top logprobs as ``(token, {text: logprob})`` per generated token (``logprobs.position``:
    the texts vLLM decoded, tokens a guide forbade left out), or None when none were asked."""
    from factory.llm.logprobs import position

    if completion.logprobs is None:
        return None
    out = []
    for token_id, top in zip(completion.token_ids, completion.logprobs, strict=False):
        top = top or {}
        sampled = top.get(token_id)
        text = sampled.decoded_token if sampled is not None and sampled.decoded_token is not None else ""
        out.append(position(text, ((lp.decoded_token or "", lp.logprob) for lp in top.values())))
    return out


class EngineWorker:
    """A ``vllm.LLM`` and the requests it is working on. ``model`` and ``engine_kwargs`` go to
    ``vllm.LLM(model=..., **engine_kwargs)`` untouched."""

    def __init__(self, model: str, engine_kwargs: dict[str, Any]):
        from vllm import LLM
        from vllm.platforms import current_platform

        if current_platform.is_cpu():
            world = engine_kwargs.get("tensor_parallel_size", 1) * engine_kwargs.get("pipeline_parallel_size", 1)
            cpu.bind_cpu_threads(world)
        start = time.perf_counter()
        self.llm = LLM(model=model, **engine_kwargs)
        self.engine = self.llm.llm_engine
        self.start_s = time.perf_counter() - start
        self._tickets: dict[str, Any] = {}  # vLLM's request id -> ticket

    def info(self) -> dict[str, Any]:
        """Start-up time and the default in-flight limit: 1.1 x max_num_seqs x pipeline stages (as Ray Data's
        vLLM stage: enough queued to keep every batch slot busy, not so many that the queue slows it)."""
        config = self.engine.vllm_config
        seqs = config.scheduler_config.max_num_seqs
        stages = config.parallel_config.pipeline_parallel_size
        return {"start_s": round(self.start_s, 3), "max_in_flight": math.ceil(1.1 * seqs * stages)}

    def in_flight(self) -> int:
        return self.engine.get_num_unfinished_requests()

    def add(self, items: list[tuple]) -> list[EngineResult]:
        """Queue ``items`` in the engine; the ones vLLM refuses come back as errors at once."""
        refused = []
        for ticket, messages, sampling, guide in items:
            try:
                (rid,) = self.llm.enqueue_chat([messages], [sampling_params(sampling, guide)], use_tqdm=False)
            except Exception as exc:  # noqa: BLE001 - vLLM's validation of this one request
                refused.append(EngineResult(ticket, [], [], 0, 0, f"vllm refused the request: {exc}"[:2000]))
                continue
            # ``enqueue_chat`` returns vLLM's internal id ("<id>-<8 random chars>"); outputs carry "<id>".
            self._tickets[rid.rsplit("-", 1)[0]] = ticket
        return refused

    def step_for(self, items: list[tuple], max_s: float = 0.5, min_s: float = 0.0) -> list[EngineResult]:
        """Add ``items``, then step the engine until answers are finished (and ``min_s`` has passed), or
        ``max_s`` has passed, or nothing is left to do; the finished answers."""
        out = self.add(items)
        start = time.perf_counter()
        while self.engine.has_unfinished_requests():
            for output in self.engine.step():
                if output.finished:
                    out.append(self._result(output))
            waited = time.perf_counter() - start
            if (out and waited >= min_s) or waited >= max_s:
                break
        return out

    def _result(self, output) -> EngineResult:
        ticket = self._tickets.pop(output.request_id)
        completions = sorted(output.outputs, key=lambda c: c.index)
        logprobs = [_logprobs(c) for c in completions]
        return EngineResult(
            ticket,
            [c.text for c in completions],
            [c.finish_reason or "stop" for c in completions],
            len(output.prompt_token_ids or ()),
            sum(len(c.token_ids) for c in completions),
            logprobs=logprobs if any(lp is not None for lp in logprobs) else None,
        )

    def abort_all(self) -> None:
        """Drop every request not finished yet (a stage that failed)."""
        if self._tickets:
            self.engine.abort_request(list(self._tickets))
            self._tickets.clear()

    def close(self) -> None:
        """Stop the engine's processes and free its memory."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = self.engine = None
        shutdown = getattr(llm.llm_engine.engine_core, "shutdown", None)
        if shutdown is not None:
            shutdown()
        del llm
        import gc

        gc.collect()
