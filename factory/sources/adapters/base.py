"""What an adapter is, and the small helpers adapters share to turn a source record into canonical fields.

An adapter's ``adapt(record, ctx)`` gets one source record (a dict, as a reader or the hub produced it)
and returns the canonical fields of one row (see ``factory.rows``) without ``source``; ``kind`` may be
left out (the adapter's ``kind`` is used) and ``id`` holds the record's *native* id (or ``None``): the
loader turns it into the row id. Three outcomes:

- a usable record: ``return {"question": ..., "answer": ..., "id": ...}``
- a record that is legitimately unusable (MedQuAD answers removed for copyright, a tie in a preference
  judgement): ``return drop({...fields...}, "empty_answer", "why")`` (``factory.stage.drop``); always
  a drop, never an error.
- bad input (a key missing, a value of the wrong type): ``raise BadRecord(field, message)``; the loader
  raises ``InputError`` or, with ``on_error: skip``, logs a ``bad_input`` drop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from factory.mcqa.options import OPTION_LABELS, label_index
from factory.sources.config import SourceConfig

Record = dict[str, Any]
FORMAT_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq", ".txt")
PLACEHOLDER_OPTIONS = ("", "n/a")  # compared case-insensitively, after strip


class BadRecord(Exception):
    """A record an adapter cannot map: ``field`` is the source field at fault (or ``None``)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Context:
    """Where a record comes from: the recipe entry and the file (``None`` for hub datasets; a URL's path
    part for a remote file)."""

    cfg: SourceConfig
    file: Path | PurePosixPath | None = None

    @property
    def stem(self) -> str:
        """The file name without ``.gz`` and the format suffix (``anatomy_test.csv`` -> ``anatomy_test``)."""
        return file_stem(self.file) if self.file is not None else ""


def file_stem(path: Path | PurePosixPath) -> str:
    name = path.name
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix in FORMAT_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


AdaptFn = Callable[[Record, Context], Record]
SplitFn = Callable[[Any], Iterator[tuple[str, Any]]]


@dataclass(frozen=True)
class Adapter:
    """A named mapping from one source layout to canonical rows.

    ``kind``: the kind of the rows it makes (``None`` for ``fields``, which takes it from the recipe).
    ``csv_columns``: column names for header-less CSV files of this layout (MMLU).
    ``split_json``: how a whole JSON document splits into ``(where, record)`` pairs when the default
    (list of records, or dict of key -> record) does not fit (HEAD-QA's ``exams.*.data``).
    ``columns``: the same mapping as column operations for a source entry (a
    ``factory.sources.columnar.ColumnMap``, or ``None`` when that entry needs the records one by one).
    """

    name: str
    kind: str | None
    description: str
    adapt: AdaptFn
    csv_columns: tuple[str, ...] | None = None
    split_json: SplitFn | None = None
    columns: Callable[[SourceConfig], Any] | None = None


# ---- reading values ---------------------------------------------------------------------------------


def get(record: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.0.c``; digits index lists); ``None`` when absent."""
    if isinstance(record, dict) and path in record:
        return record[path]
    value = record
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return None
        if value is None:
            return None
    return value


def as_text(value: Any, field: str) -> str | None:
    """``value`` as text: ``None`` and blank strings give ``None``; numbers are written out; others fail."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRecord(field, f"expected text, got {type(value).__name__}")
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def text(record: Record, key: str, *, required: bool = False) -> str | None:
    """The text at ``key`` (a dotted path); a missing key fails when ``required`` (an empty one does not)."""
    value = get(record, key)
    if value is None and required and not _has(record, key):
        raise BadRecord(key, "missing")
    return as_text(value, key)


def _has(record: Record, key: str) -> bool:
    return key in record if "." not in key else get(record, key) is not None


def join(parts: Iterable[str | None], sep: str = "\n\n") -> str | None:
    """Non-empty parts joined by ``sep`` (blank lines by default); ``None`` if there are none."""
    kept = [p for p in parts if p and p.strip()]
    return sep.join(kept) if kept else None


def text_list(value: Any, field: str) -> list[str]:
    """A list of texts (``None`` gives an empty list)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRecord(field, f"expected a list of texts, got {type(value).__name__}")
    return [t for t in (as_text(v, field) for v in value) if t is not None]


def rest(record: Record, *used: str, **extra: Any) -> dict[str, Any]:
    """The record's fields not mapped to canonical ones (plus ``extra``): what goes into ``meta``."""
    skip = {u.split(".")[0] for u in used}
    out = {k: v for k, v in record.items() if k not in skip}
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


# ---- multiple choice --------------------------------------------------------------------------------


def options_of(value: Any, field: str) -> tuple[list[str], list[str]]:
    """``(labels, texts)`` from a list of texts (labels A, B, C...) or a dict label -> text."""
    if isinstance(value, dict):
        labels = [str(k) for k in value]
        items = list(value.values())
    elif isinstance(value, list):
        labels = list(OPTION_LABELS[: len(value)])
        items = value
    elif value is None:
        raise BadRecord(field, "missing")
    else:
        raise BadRecord(field, f"expected a list or a dict of options, got {type(value).__name__}")
    if not items:
        raise BadRecord(field, "no options")
    if len(items) > len(OPTION_LABELS):
        raise BadRecord(field, f"{len(items)} options; at most {len(OPTION_LABELS)} are supported")
    texts = []
    for label, item in zip(labels, items, strict=True):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise BadRecord(field, f"option {label}: expected text, got {type(item).__name__}")
        texts.append(item if isinstance(item, str) else str(item))
    return labels, texts


def answer_index(value: Any, labels: list[str], texts: list[str], field: str) -> int:
    """The 0-based index of the gold option from a label (``"B"``), a 0-based int or the option's text."""
    if value is None:
        raise BadRecord(field, "missing")
    if isinstance(value, bool):
        raise BadRecord(field, f"expected a label, an index or an option text, got {value!r}")
    if isinstance(value, int):
        if 0 <= value < len(texts):
            return value
        raise BadRecord(field, f"index {value} is out of range for {len(texts)} options")
    if not isinstance(value, str):
        raise BadRecord(field, f"expected a label, an index or an option text, got {type(value).__name__}")
    v = value.strip()
    if v in labels:
        return labels.index(v)
    if len(v) == 1 and v.upper() in OPTION_LABELS[: len(texts)]:
        return label_index(v)
    stripped = [t.strip() for t in texts]
    if v and v in stripped:
        return stripped.index(v)
    raise BadRecord(field, f"{value!r} is neither an option label ({', '.join(labels)}) nor an option text")


def index_value(value: Any, n_options: int, field: str) -> int:
    """A 0-based option index given as an int or a string of digits."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRecord(field, f"expected a 0-based option index, got {value!r}")
    if not 0 <= value < n_options:
        raise BadRecord(field, f"index {value} is out of range for {n_options} options")
    return value


def drop_placeholders(texts: list[str], idx: int) -> tuple[list[str], int, int]:
    """Remove filler options ("n/a", empty) that are not the answer: ``(texts, idx, n_removed)``."""
    keep = [i for i, t in enumerate(texts) if i == idx or t.strip().lower() not in PLACEHOLDER_OPTIONS]
    if len(keep) == len(texts):
        return texts, idx, 0
    return [texts[i] for i in keep], keep.index(idx), len(texts) - len(keep)


def mcqa_fields(
    question: str | None,
    options: Any,
    answer: Any,
    *,
    options_field: str,
    answer_field: str,
    by_index: bool = False,
) -> dict[str, Any]:
    """``question``, ``options`` and ``answer_idx`` from source values, filler options removed."""
    labels, texts = options_of(options, options_field)
    if by_index:
        idx = index_value(answer, len(texts), answer_field)
    else:
        idx = answer_index(answer, labels, texts, answer_field)
    texts, idx, _ = drop_placeholders(texts, idx)
    return {"question": question, "options": texts, "answer_idx": idx}


def placeholder_text(value: str | None) -> str | None:
    """``None`` for filler such as "n/A" (AfriMed-QA explanations)."""
    return None if value is None or value.strip().lower() in PLACEHOLDER_OPTIONS else value


# ---- messages ---------------------------------------------------------------------------------------

ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}


def message(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def messages_of(value: Any, field: str) -> list[dict[str, str]]:
    """A canonical message list from ``[{"role", "content"}]`` or ShareGPT ``[{"from", "value"}]`` items.

    A single message dict is taken as a list of one.
    """
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise BadRecord(field, f"expected a list of messages, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise BadRecord(where, f"expected a message object, got {type(item).__name__}")
        if "role" in item:
            role = item["role"]
            content = item.get("content")
            if role not in ROLES:
                raise BadRecord(where, f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
        elif "from" in item:
            role = SHAREGPT_ROLES.get(str(item["from"]).lower())
            content = item.get("value")
            if role is None:
                raise BadRecord(where, f"unknown ShareGPT speaker {item['from']!r}")
        else:
            raise BadRecord(where, "a message needs `role`/`content` or `from`/`value`")
        if not isinstance(content, str):
            raise BadRecord(where, f"message content: expected text, got {type(content).__name__}")
        out.append(message(role, content))
    return out


def split_json_default(doc: Any) -> Iterator[tuple[str, Any]]:
    """Records of a whole JSON document, as ``(where, record)``; ``record`` is a ``BadRecord`` when unusable.

    A list gives one record per item (a string item becomes ``{"text": s}``); a dict gives one record per
    key, with the key as ``_key`` (a non-dict value becomes ``{"_key": k, "value": v}``).
    """
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            yield f"record {i}", as_record(item)
    elif isinstance(doc, dict):
        for key, value in doc.items():
            record = {"_key": key, **value} if isinstance(value, dict) else {"_key": key, "value": value}
            yield f"key {key}", record
    else:
        yield "record 0", BadRecord(None, f"expected a JSON list or object, got {type(doc).__name__}")


def as_record(item: Any) -> Record | BadRecord:
    if isinstance(item, dict):
        return item
    if isinstance(item, str):
        return {"text": item}
    return BadRecord(None, f"expected a JSON object or a string, got {type(item).__name__}")
