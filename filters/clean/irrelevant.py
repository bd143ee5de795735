"""Removal of rows matching hand-made lists of irrelevant questions and answers (Aloe's cleaning: about 1.4k
questions and 2.1k answers matched such lists; the lists themselves are not published).

A list is a YAML file of entries ``{on: question | answer, pattern: <regex>, why: <text>}``: a shipped name
(``aloe_local`` = ``filters/clean/patterns/aloe_local.yaml``, a starter list for the sources of ../shared/data)
or a YAML path (absolute or relative to the recipe's data folder). Patterns are Python regexes, searched
case-insensitively; anchor them (``^...$``) to match a whole text. A bad entry fails the recipe at load
with its file, line and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, PrivateAttr, model_validator

from factory.hashing import stable_hash
from factory.stage import Stage, drop

SHIPPED = Path(__file__).resolve().parent / "patterns"


@dataclass(frozen=True)
class Pattern:
    """One entry of a list: which side it reads, the compiled regex, why, and where it was written."""

    on: str
    regex: re.Pattern
    why: str
    where: str


def list_path(name: str, data_dir: Path | None = None) -> Path:
    if "/" not in name and not name.endswith((".yaml", ".yml")):
        return SHIPPED / f"{name}.yaml"
    path = Path(name)
    return path if path.is_absolute() or data_dir is None else data_dir / path


def read_patterns(path: Path) -> list[Pattern]:
    """Every entry of the list at ``path``; a ``ValueError`` names the file, line and field of a bad one."""
    if not path.is_file():
        shipped = sorted(p.stem for p in SHIPPED.glob("*.yaml"))
        raise ValueError(f"pattern list {path} not found; shipped lists: {shipped}")
    from factory.recipe import _Loader  # YAML 1.2 booleans: the key `on` stays a string

    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise ValueError(f"{path}: a pattern list is a YAML list of {{on, pattern, why}} entries")
    out = []
    for item in node.value:
        where = f"{path.name}:{item.start_mark.line + 1}"
        entry = yaml.load(yaml.serialize(item), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: an entry is a mapping {{on, pattern, why}}")
        unknown = sorted(set(entry) - {"on", "pattern", "why"})
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown} (fields: on, pattern, why)")
        if entry.get("on") not in ("question", "answer"):
            raise ValueError(f"{where}: field 'on' must be 'question' or 'answer', got {entry.get('on')!r}")
        if not isinstance(entry.get("pattern"), str) or not entry["pattern"].strip():
            raise ValueError(f"{where}: field 'pattern' must be a non-empty regex string")
        try:
            regex = re.compile(entry["pattern"], re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"{where}: field 'pattern' is not a valid regex: {exc}") from None
        out.append(Pattern(entry["on"], regex, str(entry.get("why") or entry["pattern"]), where))
    return out


def _last(messages: list[dict[str, Any]] | None, role: str) -> list[str]:
    said = [m["content"] for m in messages or [] if m["role"] == role and m.get("content")]
    return said[-1:]


def sides(row: dict[str, Any]) -> dict[str, list[str]]:
    """The question and answer texts of a row: QA/MCQA/prompt question (with MCQA explanation as answer);
    for a chat the last user turn and the last assistant turn; for a pair its prompt's last user turn and
    its chosen answer."""
    kind = row.get("kind")
    if kind == "chat":
        return {
            "question": _last(row.get("messages"), "user"),
            "answer": _last(row.get("messages"), "assistant"),
        }
    if kind == "preference":
        return {"question": _last(row.get("prompt"), "user"), "answer": _last(row.get("chosen"), "assistant")}
    answer = row.get("explanation") if kind == "mcqa" else row.get("answer")
    return {
        "question": [row["question"]] if row.get("question") else [],
        "answer": [answer] if answer else [],
    }


class IrrelevantFilter(Stage):
    """Drops rows whose question or answer matches a list of irrelevant texts. In: rows of any kind (see
    ``sides``). Out: the others; a dropped row carries ``irrelevant_question`` or ``irrelevant_answer`` and
    the detail ``<file>:<line> <why>`` of the first entry that matched."""

    type: Literal["irrelevant_filter"] = "irrelevant_filter"
    lists: list[str] = Field(
        min_length=1, description="shipped lists (filters/clean/patterns/<name>.yaml) or YAML paths (data folder)"
    )

    _patterns: list[Pattern] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _shipped_lists_parse(self):
        for name in self.lists:  # shipped lists are checked at load; data-folder paths when bound
            if "/" not in name and not name.endswith((".yaml", ".yml")):
                read_patterns(list_path(name))
        return self

    def _paths(self) -> list[Path]:
        return [list_path(name, self.data_dir) for name in self.lists]

    def input_fingerprint(self) -> Any:
        return {"lists": stable_hash([[p.name, p.read_text(encoding="utf-8")] for p in self._paths()])}

    def setup(self) -> None:
        self._patterns = [p for path in self._paths() for p in read_patterns(path)]

    def process_row(self, row: dict[str, Any]) -> dict[str, Any]:
        texts = sides(row)
        for p in self._patterns:
            if any(p.regex.search(t) for t in texts[p.on]):
                return drop(row, f"irrelevant_{p.on}", f"{p.where} {p.why}")
        return row
