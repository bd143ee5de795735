"""Reading a contamination judge's answer: its verdict (``parse_verdict``) and, where the backend returned
logprobs, how sure the judge was of it (``verdict_probability``).

In: the text a judge wrote (JSON ``{"reason": ..., "same": true|false}`` when the backend enforces the
schema, free text otherwise) and that completion's top logprobs (``factory.llm.logprobs``). Out: ``(same,
reason)``, and the probability of the verdict given: at the position of the token that wrote the verdict's
value (the value of ``"same"``/``verdict``/``answer``... or a leading yes/no), the probability of the tokens
that begin that value ("true", "yes", "same" / "false", "no", "different", "not"), renormalised over the two
sides. ``None`` when no logprobs came back (a sampled verdict has no probability) or the value is not found.
"""

from __future__ import annotations

import json
import re

from factory.llm.logprobs import class_probabilities, completion_text, token_at
from factory.llm.types import Logprobs

_TRUE = re.compile(r'"?(?:same|verdict|answer|contaminated)"?\s*[:=]\s*"?(true|yes|same)\b', re.I)
_FALSE = re.compile(r'"?(?:same|verdict|answer|contaminated)"?\s*[:=]\s*"?(false|no|different|not)\b', re.I)
_LEAD = re.compile(r"^\W*(yes|no|true|false|same|different)\b", re.I)
_SENTENCE = re.compile(
    r"\b(?:(not|n't)\s+(?:\w+\s+){0,3})?(?:the\s+same|a\s+copy|copied|rephras\w*|reword\w*|paraphras\w*)\b",
    re.I,
)


def parse_verdict(text: str | None) -> tuple[bool | None, str | None]:
    """``(same, reason)`` from a judge's answer: JSON (``{"same": true}``, also ``"verdict": "yes"``), a
    labelled value (``Same: false``), a leading yes/no/true/false, or a plain sentence ("they are not the
    same question"). ``(None, None)`` when none is found."""
    if not text or not text.strip():
        return None, None
    clean = text.replace("**", "").replace("`", "").strip()
    for match in reversed(list(re.finditer(r"\{[^{}]*\}", clean))):
        try:
            obj = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        for key in ("same", "verdict", "answer", "contaminated", "is_same"):
            value = obj.get(key) if isinstance(obj, dict) else None
            reason = obj.get("reason") if isinstance(obj.get("reason"), str) else None
            if isinstance(value, bool):
                return value, reason
            if isinstance(value, str) and value.strip().lower() in (
                "true",
                "yes",
                "same",
                "false",
                "no",
                "different",
            ):
                return value.strip().lower() in ("true", "yes", "same"), reason
    for pattern, value in ((_TRUE, True), (_FALSE, False)):
        if pattern.search(clean):
            return value, None
    lead = _LEAD.match(clean)
    if lead:
        return lead.group(1).lower() in ("yes", "true", "same"), None
    said = _SENTENCE.search(clean)
    if said:
        return said.group(1) is None, None
    return None, None


_LABEL = re.compile(r'"?(?:same|verdict|answer|contaminated|is_same)"?\s*[:=]\s*"?(?=\w)', re.I)
_SIDES = {True: ("true", "yes", "same"), False: ("false", "no", "not", "different")}


def _side(text: str) -> str | None:
    """``"same"`` / ``"different"`` for a token that begins a verdict's value, else None."""
    word = text.strip().strip('"').lower()
    if not word:
        return None
    for same, values in _SIDES.items():
        if any(v.startswith(word) for v in values):
            return "same" if same else "different"
    return None


def verdict_probability(logprobs: Logprobs | None, same: bool | None) -> float | None:
    """The probability of the verdict ``same`` at the token that wrote it (see the module docstring): the
    last labelled value of the completion, else its leading yes/no. ``None`` without logprobs or verdict,
    or when the token found does not say ``same``."""
    if not logprobs or same is None:
        return None
    text = completion_text(logprobs)
    labelled = list(_LABEL.finditer(text))
    if labelled:
        offset = labelled[-1].end()
    else:
        lead = _LEAD.match(text)
        if lead is None:
            return None
        offset = lead.start(1)
    index = token_at(logprobs, offset)
    if index is None:
        return None
    token, top = logprobs[index]
    wanted = "same" if same else "different"
    if _side(token) != wanted:
        return None
    return round(class_probabilities(top, _side).get(wanted, 0.0), 6)
