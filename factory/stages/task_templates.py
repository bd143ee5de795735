"""Instruction templates for non-QA medical data (Aloe: 110 hand-written templates over 16 sub-tasks turn
summaries, classification, diagnosis, treatment... data into instructions; single turn in Alpaca layout).

The bank is one YAML file per task in ``factory/stages/task_bank/`` (written for this project), or in a
recipe-given folder::

    task: diagnosis
    subtask: diagnosis
    templates:
      - {id: dx-1, text: "A patient presents with the following symptoms. What is the most likely diagnosis?"}
      - {id: dx-4, text: "Symptoms: {{ input }}\\n\\nGive the most probable diagnosis."}

A template is Jinja: ``{{ input }}`` places the task's input, ``{{ labels }}`` the task's label set; a
template without ``{{ input }}`` gets the input after a blank line (Alpaca: instruction, then input).

The recipe says which rows feed which task and how to read the input and the gold output from a row
(Jinja over the row's columns, with ``meta`` parsed and an ``items`` filter that lists a Python/JSON list
held as text)::

    - type: task_templates
      tasks:
        - {task: diagnosis, sources: [chatdoctor_tables], input: "{{ meta.Symptom | items }}", output: "{{ subject }}"}
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import xxhash
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from factory.hashing import stable_hash
from factory.stage import Stage, drop

BANK = Path(__file__).resolve().parent / "task_bank"
_CLEARED = (
    "context",
    "options",
    "answer_idx",
    "explanation",
    "messages",
    "prompt",
    "chosen",
    "rejected",
    "text",
)


def _items(value: Any) -> str:
    """A list (or a list written as Python/JSON text, as CSV cells often are) as ``a, b, c``."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError:
                    return value
        else:
            return value
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v).strip() for v in value if str(v).strip())
    return "" if value is None else str(value)


def _uses_input(env, text: str) -> bool:
    from jinja2 import meta

    return "input" in meta.find_undeclared_variables(env.parse(text))


def _env():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)
    env.filters["items"] = _items
    return env


class TaskBank(BaseModel):
    """One task's file: its name, the Aloe sub-task it stands for, and its templates (``id``, ``text``)."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(pattern=r"^[a-z0-9_]+$")
    subtask: str
    layout: Literal["alpaca"] = "alpaca"
    templates: list[dict[str, str]] = Field(min_length=1)

    @model_validator(mode="after")
    def _templates(self):
        ids = [t.get("id") for t in self.templates]
        if any(not i for i in ids) or len(set(ids)) != len(ids):
            raise ValueError("every template needs a unique `id`")
        env = _env()
        for t in self.templates:
            if set(t) != {"id", "text"} or not t["text"].strip():
                raise ValueError(f"template {t.get('id')}: give exactly `id` and a non-empty `text`")
            env.parse(t["text"])  # a Jinja syntax error fails at load
        return self


def read_bank(folder: Path, task: str) -> TaskBank:
    path = folder / f"{task}.yaml"
    if not path.is_file():
        have = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ValueError(f"no template bank '{task}' in {folder} (banks: {have})")
    try:
        bank = TaskBank.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except Exception as exc:
        raise ValueError(f"{path}: {exc}") from None
    if bank.task != task:
        raise ValueError(f"{path}: `task: {bank.task}` differs from the file name")
    return bank


class TaskSpec(BaseModel):
    """Which rows feed one task (``sources`` and/or ``kinds``) and how to read its input and gold output."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(pattern=r"^[a-z0-9_]+$", description="a bank file name (without .yaml)")
    sources: list[str] | None = None
    kinds: list[str] | None = None
    input: str = Field(description="Jinja over the row: the task's input")
    output: str = Field(description="Jinja over the row: the gold answer")
    labels: list[str] | None = Field(None, description="the label set a classification template lists")

    def matches(self, row: dict[str, Any]) -> bool:
        return (self.sources is None or row.get("source") in self.sources) and (
            self.kinds is None or row.get("kind") in self.kinds
        )


class TaskTemplates(Stage):
    """Turns rows of non-QA data into instructions. In: rows the ``tasks`` select (by source / kind).
    Out: each such row as a ``qa`` row (question = a template of its task with the input, answer = the
    gold output) with ``task`` and ``template_id`` (``<task>/<id>``) recorded; the template is drawn by a
    seeded hash of the row id (deterministic, independent of order). A row several tasks select goes to
    one of them, drawn the same way. Rows no task selects pass unchanged. A row whose input or output
    renders empty is dropped (``template_no_input`` / ``template_no_output``)."""

    type: Literal["task_templates"] = "task_templates"
    tasks: list[TaskSpec] = Field(min_length=1)
    bank_dir: str | None = Field(None, description="a folder of bank files (data folder); default: built-in")
    seed: int = 0

    @property
    def adds(self) -> dict[str, pa.DataType]:
        return {"task": pa.string(), "template_id": pa.string()}

    _compiled: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _builtin_banks_parse(self):
        if self.bank_dir is None:
            for spec in self.tasks:
                read_bank(BANK, spec.task)
        return self

    def source_refs(self) -> list[str]:
        return [s for spec in self.tasks for s in spec.sources or []]

    @property
    def _folder(self) -> Path:
        if self.bank_dir is None:
            return BANK
        path = Path(self.bank_dir)
        return path if path.is_absolute() else self.data_dir / path

    def input_fingerprint(self) -> Any:
        files = sorted({spec.task for spec in self.tasks})
        return {
            "banks": stable_hash(
                [(t, (self._folder / f"{t}.yaml").read_text(encoding="utf-8")) for t in files]
            )
        }

    def setup(self) -> None:
        env = _env()
        self._compiled = {}
        for spec in self.tasks:
            bank = read_bank(self._folder, spec.task)
            self._compiled[spec.task] = (
                bank,
                [(t["id"], env.from_string(t["text"]), _uses_input(env, t["text"])) for t in bank.templates],
                env.from_string(spec.input),
                env.from_string(spec.output),
            )

    def _draw(self, row_id: str, salt: str, n: int) -> int:
        return xxhash.xxh3_64_intdigest(f"{self.seed}\x00{salt}\x00{row_id}".encode()) % n

    def process_row(self, row: dict[str, Any]) -> dict[str, Any]:
        specs = [s for s in self.tasks if s.matches(row)]
        if not specs:
            return {**row, "task": None, "template_id": None}
        spec = specs[self._draw(row["id"], "task", len(specs))] if len(specs) > 1 else specs[0]
        bank, templates, read_input, read_output = self._compiled[spec.task]
        meta = json.loads(row["meta"]) if row.get("meta") else {}
        context = {**row, "meta": meta}
        template_id, template, has_input = templates[self._draw(row["id"], spec.task, len(templates))]
        out = {**row, "task": spec.task, "template_id": f"{spec.task}/{template_id}"}
        given, gold = read_input.render(context).strip(), read_output.render(context).strip()
        if not given:
            return drop(out, "template_no_input", f"task {spec.task}: the input renders empty")
        if not gold:
            return drop(out, "template_no_output", f"task {spec.task}: the output renders empty")
        labels = ", ".join(spec.labels or [])
        instruction = template.render(input=given, labels=labels).strip()
        question = instruction if has_input else f"{instruction}\n\n{given}"
        cleared = dict.fromkeys(_CLEARED)  # their content is now in the question or the answer
        return {**out, **cleared, "kind": "qa", "question": question, "answer": gold}
