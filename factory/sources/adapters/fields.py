"""The generic ``fields`` adapter: the recipe says the row ``kind`` and maps canonical fields to source
fields (``FieldMap``). A source field is a dotted path (``instances.0.output``); a list of paths is joined
by blank lines (``question: [instruction, input]``).

Per kind: ``mcqa`` needs question, options and answer or answer_idx (``options`` a list of texts or a dict
label -> text; ``answer`` a label, a 0-based int or the right option's text; ``answer_idx`` a 0-based
index); ``qa`` needs question and answer (context, explanation optional); ``prompt`` question; ``chat``
messages; ``preference`` prompt, chosen and rejected (a text gives one user message for the prompt and one
assistant message for chosen/rejected; message lists may use role/content or ShareGPT from/value);
``text`` text. ``id`` and ``subject`` may be mapped for every kind.
"""

from __future__ import annotations

from typing import Any

from factory.sources.adapters.base import (
    Adapter,
    BadRecord,
    Context,
    Record,
    answer_index,
    as_text,
    drop_placeholders,
    get,
    index_value,
    join,
    message,
    messages_of,
    options_of,
    rest,
)
from factory.sources.columnar import ColumnMap
from factory.sources.config import SourceConfig

ALLOWED: dict[str, tuple[str, ...]] = {
    "mcqa": ("question", "context", "options", "answer", "answer_idx", "explanation"),
    "qa": ("question", "context", "answer", "explanation"),
    "prompt": ("question",),
    "chat": ("messages",),
    "preference": ("prompt", "chosen", "rejected"),
    "text": ("text",),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "mcqa": ("question", "options"),
    "qa": ("question", "answer"),
    "prompt": ("question",),
    "chat": ("messages",),
    "preference": ("prompt", "chosen", "rejected"),
    "text": ("text",),
}


def fieldmap_problems(cfg: SourceConfig) -> list[str]:
    """What is wrong with a ``fields`` mapping for its kind (empty when it is usable)."""
    if cfg.fields is None or cfg.kind is None:
        return ["`adapter: fields` needs `kind` and `fields`"]
    mapped = {k for k, v in cfg.fields.model_dump().items() if v is not None}
    problems = [
        f"`fields.{f}` is required for kind '{cfg.kind}'" for f in REQUIRED[cfg.kind] if f not in mapped
    ]
    if cfg.kind == "mcqa" and not {"answer", "answer_idx"} & mapped:
        problems.append("kind 'mcqa' needs `fields.answer` (label, index or text) or `fields.answer_idx`")
    extra = sorted(mapped - set(ALLOWED[cfg.kind]) - {"id", "subject"})
    problems += [f"`fields.{f}` does not apply to kind '{cfg.kind}'" for f in extra]
    if cfg.kind == "mcqa" and isinstance(cfg.fields.answer, list):
        problems.append("`fields.answer` must be one source field for kind 'mcqa'")
    return problems


def _paths(spec: str | list[str]) -> list[str]:
    return [spec] if isinstance(spec, str) else list(spec)


def fields_adapter(rec: Record, ctx: Context) -> Record:
    fm, kind = ctx.cfg.fields, ctx.cfg.kind
    assert fm is not None and kind is not None  # checked by fieldmap_problems before reading
    required = REQUIRED[kind]
    used: list[str] = []

    def value(name: str) -> Any:
        spec = getattr(fm, name)
        if spec is None:
            return None
        used.extend(_paths(spec))
        v = get(rec, spec) if isinstance(spec, str) else None
        if name in required and (v is None or v == "" or v == []) and isinstance(spec, str):
            raise BadRecord(spec, "missing or empty")
        return v

    def joined(name: str) -> str | None:
        spec = getattr(fm, name)
        if spec is None:
            return None
        paths = _paths(spec)
        used.extend(paths)
        out = join(as_text(get(rec, p), p) for p in paths)
        if out is None and name in required:
            raise BadRecord(paths[0], "missing or empty")
        return out

    out: Record = {"id": value("id"), "subject": as_text(value("subject"), fm.subject or "subject")}
    if kind in ("mcqa", "qa", "prompt"):
        out["question"] = joined("question")
    if kind in ("mcqa", "qa"):
        out["context"] = joined("context")
        out["explanation"] = joined("explanation")
    if kind == "qa":
        out["answer"] = joined("answer")
    elif kind == "mcqa":
        labels, texts = options_of(value("options"), fm.options or "options")
        if fm.answer_idx is not None:
            idx = index_value(value("answer_idx"), len(texts), fm.answer_idx)
        else:
            answer = get(rec, fm.answer)  # type: ignore[arg-type]
            used.append(fm.answer)  # type: ignore[arg-type]
            idx = answer_index(answer, labels, texts, fm.answer)  # type: ignore[arg-type]
        out["options"], out["answer_idx"], _ = drop_placeholders(texts, idx)
    elif kind == "chat":
        out["messages"] = messages_of(value("messages"), fm.messages or "messages")
    elif kind == "preference":
        for name, role in (("prompt", "user"), ("chosen", "assistant"), ("rejected", "assistant")):
            v = value(name)
            path = getattr(fm, name)
            out[name] = [message(role, v)] if isinstance(v, str) else messages_of(v, path)
    elif kind == "text":
        out["text"] = joined("text")
    out["meta"] = rest(rec, *used)
    return out


def fields_columns(cfg: SourceConfig) -> ColumnMap | None:
    """The ``ColumnMap`` of a ``fields`` entry of a text kind (qa, prompt, text) with top-level source fields;
    ``None`` for other kinds and dotted paths (read record by record)."""
    fm, kind = cfg.fields, cfg.kind
    if fm is None or kind not in ("qa", "prompt", "text"):
        return None
    mapped = {k: _paths(v) for k, v in fm.model_dump().items() if v is not None}
    if any("." in p for paths in mapped.values() for p in paths) or isinstance(fm.id, list):
        return None
    texts = {f: tuple(mapped[f]) for f in ALLOWED[kind] if f in mapped}
    return ColumnMap(
        texts=texts, required=REQUIRED[kind], id=fm.id, subject=fm.subject,
        used=tuple(p for paths in mapped.values() for p in paths),
    )  # fmt: skip


FIELDS_ADAPTER = Adapter(
    "fields",
    None,
    "generic: the recipe gives `kind` and maps canonical fields to source fields (`fields:`)",
    fields_adapter,
    columns=fields_columns,
)
