"""Top logprobs of generated tokens, and the probabilities of a closed set of answers read from them.

In: what a backend returns for one completion when the request asks for ``logprobs=k`` (``Request.logprobs``):
one ``(token, top)`` pair per generated token, ``token`` the text of the sampled token and ``top`` the texts
of the ``k`` most likely tokens at that position (and of the sampled one) with their log probabilities.
Backends build it with ``position`` (tokens of equal text merged, impossible tokens left out: vLLM gives
``-inf`` to tokens a structured-output guide forbids, its server ``-9999``).

Out: ``class_probabilities`` (the probabilities of answer classes at one position, renormalised over the
classes, as DEITA's softmax over the logits of the score tokens "1".."6"), ``token_at`` (the position that
wrote a character of the completion) and ``completion_text`` (the sampled tokens joined).

A class missing from the top ``k`` counts as probability 0: with a guide that allows only the classes' tokens
(a ``choice`` of scores, a JSON boolean) every allowed token is there; in free text a class ranked below
``k`` is left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from factory.llm.types import Logprobs, TokenLogprobs

IMPOSSIBLE = -9999.0  # OpenAI-compatible servers (vLLM) write this for -inf


def position(token: str, candidates: Iterable[tuple[str, float]]) -> TokenLogprobs:
    """One generated position: the sampled token's text and ``{text: logprob}`` of the candidates, tokens of
    equal text merged (log-sum-exp) and impossible ones (``-inf``, ``<= -9999``, NaN) left out; logprobs
    rounded to 5 decimals (what the cache stores)."""
    merged: dict[str, float] = {}
    for text, logprob in candidates:
        if logprob is None or not math.isfinite(logprob) or logprob <= IMPOSSIBLE:
            continue
        before = merged.get(text)
        if before is not None:  # log(e^a + e^b)
            logprob = max(before, logprob) + math.log1p(math.exp(-abs(before - logprob)))
        merged[text] = logprob
    return token, {text: round(lp, 5) for text, lp in merged.items()}


def completion_text(logprobs: Logprobs) -> str:
    """The completion as its sampled tokens write it (offsets for ``token_at``)."""
    return "".join(token for token, _ in logprobs)


def token_at(logprobs: Logprobs, offset: int) -> int | None:
    """The index of the token that wrote character ``offset`` of ``completion_text(logprobs)``."""
    start = 0
    for index, (token, _) in enumerate(logprobs):
        end = start + len(token)
        if start <= offset < end:
            return index
        start = end
    return None


def class_probabilities(top: dict[str, float], classify: Callable[[str], str | None]) -> dict[str, float]:
    """``{class: probability}`` at one position: each token's probability goes to ``classify(text)`` (None:
    no class), summed per class and renormalised over the classes found; ``{}`` when no token has a class."""
    mass: dict[str, float] = {}
    for text, logprob in top.items():
        name = classify(text)
        if name is not None:
            mass[name] = mass.get(name, 0.0) + math.exp(logprob)
    total = sum(mass.values())
    return {name: p / total for name, p in sorted(mass.items())} if total > 0 else {}
