"""Canonical rows: the one schema every source is adapted into and every stage reads.

A row is a plain ``dict``. Every row has ``id`` (stable across rebuilds), ``source`` (the recipe's source
name) and ``kind``, one of:

- ``mcqa``: ``question``, ``options`` (list of option texts, labelled A, B, C... in order),
  ``answer_idx`` (0-based index of the gold option), optional ``context`` and ``explanation``.
- ``qa``: open question / instruction with its reference ``answer`` (``question`` holds instruction and
  input joined).
- ``prompt``: a request without an answer (harmful requests, prompts for synthesis): ``question`` only.
- ``chat``: ``messages`` as ``[{"role", "content"}]``.
- ``preference``: TRL's conversational format: ``prompt``, ``chosen``, ``rejected`` (each a message list).
- ``text``: plain ``text``.

``subject`` is an optional grouping label (MMLU subject, CareQA category). ``meta`` holds everything else
of the source record as a JSON string, so the table schema never depends on the source.

Stages may add columns (``lang``, ``quality_score``...); they declare their Arrow types in ``Stage.adds``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

KINDS = ("mcqa", "qa", "prompt", "chat", "preference", "text")

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)

CANONICAL_FIELDS: dict[str, pa.DataType] = {
    "id": pa.string(),
    "source": pa.string(),
    "kind": pa.string(),
    "subject": pa.string(),
    "question": pa.string(),
    "context": pa.string(),
    "options": pa.list_(pa.string()),
    "answer_idx": pa.int32(),
    "answer": pa.string(),
    "explanation": pa.string(),
    "messages": MESSAGES,
    "prompt": MESSAGES,
    "chosen": MESSAGES,
    "rejected": MESSAGES,
    "text": pa.string(),
    "meta": pa.string(),
}

# What each kind must carry (checked when a source row is adapted).
REQUIRED_BY_KIND: dict[str, tuple[str, ...]] = {
    "mcqa": ("question", "options", "answer_idx"),
    "qa": ("question", "answer"),
    "prompt": ("question",),
    "chat": ("messages",),
    "preference": ("prompt", "chosen", "rejected"),
    "text": ("text",),
}

# Text that cleaning and dedup look at, per kind. Message lists are handled by ``iter_texts``.
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "mcqa": ("context", "question", "options", "explanation"),
    "qa": ("question", "answer"),
    "prompt": ("question",),
    "chat": ("messages",),
    "preference": ("prompt", "chosen", "rejected"),
    "text": ("text",),
}

# Fields holding what the model is taught to say (answers), per kind.
RESPONSE_FIELDS: dict[str, tuple[str, ...]] = {
    "mcqa": ("explanation",),
    "qa": ("answer",),
    "prompt": (),
    "chat": ("messages",),
    "preference": ("chosen", "rejected"),
    "text": ("text",),
}


def schema(extra: dict[str, pa.DataType] | None = None) -> pa.Schema:
    """The Arrow schema of canonical rows plus the columns stages added."""
    fields = dict(CANONICAL_FIELDS)
    fields.update(extra or {})
    return pa.schema(list(fields.items()))


def make_row(**fields: Any) -> dict[str, Any]:
    """A canonical row with every canonical column present (missing ones ``None``)."""
    row = {name: None for name in CANONICAL_FIELDS}
    unknown = set(fields) - set(CANONICAL_FIELDS)
    if unknown:
        raise KeyError(f"not canonical fields: {sorted(unknown)}")
    row.update(fields)
    if isinstance(row["meta"], dict):
        row["meta"] = json.dumps(row["meta"], ensure_ascii=False, sort_keys=True, default=str)
    return row


def missing_fields(row: dict[str, Any]) -> list[str]:
    """Required fields of the row's kind that are absent or empty."""
    kind = row.get("kind")
    if kind not in REQUIRED_BY_KIND:
        return ["kind"]
    missing = []
    for name in REQUIRED_BY_KIND[kind]:
        value = row.get(name)
        if value is None or (isinstance(value, (str, list)) and len(value) == 0):
            missing.append(name)
    if kind == "mcqa" and not missing:
        if not 0 <= int(row["answer_idx"]) < len(row["options"]):
            missing.append("answer_idx")
    return missing


def iter_texts(row: dict[str, Any], fields: tuple[str, ...] | None = None) -> Iterator[str]:
    """Every non-empty text of a row (options and message contents included), in a fixed order."""
    for name in fields if fields is not None else TEXT_FIELDS.get(row.get("kind"), ()):
        value = row.get(name)
        if not value:
            continue
        if isinstance(value, str):
            yield value
        else:
            for item in value:
                text = item.get("content") if isinstance(item, dict) else item
                if text:
                    yield text


def map_texts(row: dict[str, Any], fn, fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A copy of ``row`` with ``fn`` applied to each text of ``fields`` (default: the kind's text fields)."""
    out = dict(row)
    for name in fields if fields is not None else TEXT_FIELDS.get(row.get("kind"), ()):
        value = row.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            out[name] = fn(value)
        elif value and isinstance(value[0], dict):
            out[name] = [
                {**m, "content": fn(m["content"]) if m.get("content") else m.get("content")} for m in value
            ]
        else:
            out[name] = [fn(v) if v else v for v in value]
    return out


def main_text(row: dict[str, Any]) -> str:
    """All text of a row joined by newlines: what length bounds, language ID and dedup look at."""
    return "\n".join(iter_texts(row))
