"""The study file: what raters will see, and the secrets they must not (which model wrote which answer).

In: the model profiles (``ModelEntry``: label, backend, system prompt, sampling), the questions (already
masked) and each profile's answer per question, and a ``Design``. Out: a ``Study`` written as
``<study>/study.json`` (schema ``factory-human-study/1``):

- **Pairings balanced across model pairs**: every question gets ``pairings_per_question`` of the
  C(N, 2) model pairs, dealt round-robin over the shuffled questions, so each pair gets the same number
  of items (within one).
- **Left/right randomised per item and recorded** (``left``, ``right``), balanced within each pair: half
  its items show one model as "A", half the other (within one), in a random order.
- **Raters per item**: ``raters_per_item`` for most items; a random ``overlap_share`` of them get
  ``overlap_raters`` raters, so agreement can be measured where items overlap.
- Item ids are random 64-bit hex strings: nothing about the models or the side can be read from them.

``load_study`` refuses a file of another schema version, or one whose items, models or design were edited
after it was written (its ``study_id`` is their hash), with a ``StudyError`` saying what to do.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from factory.errors import FactoryError
from factory.hashing import stable_hash

SCHEMA = "factory-human-study/1"
STUDY_FILE = "study.json"


class StudyError(FactoryError):
    """A study file, database or vote that cannot be used as given; the message says why and what to do."""


class ModelEntry(BaseModel):
    """One model profile of the study (``key`` m1, m2, ...; ``label`` is for the admin and the results)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    label: str
    model: str
    backend: dict[str, Any]
    system_prompt: str | None
    system_prompt_source: str
    sampling: dict[str, Any]


class Design(BaseModel):
    """How items are drawn and how many raters each gets."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, ge=0)
    pairings_per_question: int = Field(1, ge=1, description="model pairs each question is asked with")
    raters_per_item: int = Field(1, ge=1, le=50)
    overlap_share: float = Field(0.2, ge=0, le=1, description="share of items rated by overlap_raters")
    overlap_raters: int = Field(3, ge=1, le=50)

    @model_validator(mode="after")
    def _overlap_at_least_base(self):
        if self.overlap_raters < self.raters_per_item:
            raise ValueError("overlap_raters must be >= raters_per_item")
        return self


class Item(BaseModel):
    """One comparison: a question and two answers, ``left`` (shown as A) and ``right`` (shown as B)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    question_id: str
    question: str
    left: str
    right: str
    answer_left: str
    answer_right: str
    raters: int = Field(ge=1)

    @property
    def pair(self) -> tuple[str, str]:
        a, b = sorted((self.left, self.right))
        return a, b


class Study(BaseModel):
    """The whole study file. ``items`` are in the order they are served."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: str = Field(SCHEMA, alias="schema")
    study_id: str
    name: str
    created_at: str
    models: list[ModelEntry]
    design: Design
    questions: dict[str, Any] = Field(default_factory=dict, description="source, counts, PII review")
    generation: dict[str, Any] = Field(default_factory=dict)
    items: list[Item]

    def model(self, key: str) -> ModelEntry:
        return next(m for m in self.models if m.key == key)

    def pairs(self) -> list[tuple[str, str]]:
        return list(combinations(sorted(m.key for m in self.models), 2))

    def content_hash(self) -> str:
        """The hash of what raters see and what the results map back to (items, models, design, name);
        not of ``questions`` / ``generation``, the record of how it was made (cache hits differ per run)."""
        body = self.model_dump(
            mode="json", by_alias=True, exclude={"study_id", "created_at", "questions", "generation"}
        )
        return stable_hash(body, length=16)


def _deal_pairs(
    question_ids: list[str], pairs: list[tuple[str, str]], per_question: int, rng: random.Random
) -> list[tuple[str, tuple[str, str]]]:
    """(question id, pair) for each item: pairs dealt round-robin over shuffled questions (balanced)."""
    order = list(question_ids)
    rng.shuffle(order)
    cycle = list(pairs)
    rng.shuffle(cycle)
    k = min(per_question, len(cycle))
    return [(q, cycle[(i * k + j) % len(cycle)]) for i, q in enumerate(order) for j in range(k)]


def build_study(
    name: str,
    models: list[ModelEntry],
    questions: list[tuple[str, str]],
    answers: dict[tuple[str, str], str],
    design: Design,
    meta: dict[str, Any] | None = None,
) -> Study:
    """A study from masked ``questions`` ``[(id, text)]`` and ``answers[(question id, model key)]``. A
    (question, pair) whose answer is missing or empty for either model is left out and counted in
    ``generation.left_out``."""
    keys = [m.key for m in models]
    if len(keys) < 2 or len(set(keys)) != len(keys) or len({m.label for m in models}) != len(models):
        raise StudyError("a study needs at least two models with distinct keys and labels")
    rng = random.Random(design.seed)
    text = dict(questions)
    dealt = _deal_pairs(list(text), list(combinations(sorted(keys), 2)), design.pairings_per_question, rng)
    by_pair: dict[tuple[str, str], list[str]] = {}
    left_out = 0
    for qid, pair in dealt:
        if all((answers.get((qid, k)) or "").strip() for k in pair):
            by_pair.setdefault(pair, []).append(qid)
        else:
            left_out += 1
    drafts = []
    for pair, qids in sorted(by_pair.items()):
        sides = [i % 2 for i in range(len(qids))]
        rng.shuffle(sides)
        for qid, flip in zip(qids, sides, strict=True):
            left, right = (pair[1], pair[0]) if flip else pair
            drafts.append((qid, left, right))
    rng.shuffle(drafts)
    n_overlap = round(design.overlap_share * len(drafts))
    overlap = set(rng.sample(range(len(drafts)), n_overlap))
    ids: set[str] = set()
    items = []
    for i, (qid, left, right) in enumerate(drafts):
        item_id = f"{rng.getrandbits(64):016x}"
        while item_id in ids:
            item_id = f"{rng.getrandbits(64):016x}"
        ids.add(item_id)
        raters = design.overlap_raters if i in overlap else design.raters_per_item
        items.append(
            Item(id=item_id, question_id=qid, question=text[qid], left=left, right=right,
                 answer_left=answers[(qid, left)], answer_right=answers[(qid, right)], raters=raters)
        )  # fmt: skip
    meta = dict(meta or {})
    generation = {**meta.pop("generation", {}), "left_out": left_out}
    study = Study(
        study_id="", name=name, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        models=models, design=design, questions=meta.pop("questions", {}), generation=generation, items=items,
    )  # fmt: skip
    study.study_id = study.content_hash()
    return study


def pair_counts(study: Study) -> dict[str, dict[str, int]]:
    """Per model pair ``"m1 vs m2"``: items, and how many show the first model as A."""
    out: dict[str, dict[str, int]] = {f"{a} vs {b}": {"items": 0, "first_as_a": 0} for a, b in study.pairs()}
    for item in study.items:
        entry = out[f"{item.pair[0]} vs {item.pair[1]}"]
        entry["items"] += 1
        entry["first_as_a"] += item.left == item.pair[0]
    return out


def save_study(study: Study, folder: Path) -> Path:
    path = Path(folder) / STUDY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(study.model_dump(mode="json", by_alias=True), indent=1, ensure_ascii=False))
    tmp.replace(path)
    return path


def load_study(path: Path) -> Study:
    """The study at ``path`` (a study folder or its ``study.json``), checked: schema version, content hash."""
    path = Path(path)
    if path.is_dir():
        path = path / STUDY_FILE
    if not path.exists():
        raise StudyError(f"{path}: no study file (run `factory eval human prepare` first)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise StudyError(f"{path}: not a JSON study file ({exc})") from exc
    found = raw.get("schema") if isinstance(raw, dict) else None
    if found != SCHEMA:
        raise StudyError(
            f"{path}: study file schema {found!r}, but this factory reads {SCHEMA!r}: prepare the study again "
            "with this version (`factory eval human prepare`)"
        )
    try:
        study = Study.model_validate(raw)
    except ValidationError as exc:
        raise StudyError(f"{path}: not a valid study file:\n{exc}") from exc
    if study.content_hash() != study.study_id:
        raise StudyError(
            f"{path}: the file was edited after `prepare` wrote it (its content no longer matches study_id "
            f"{study.study_id}); prepare it again instead of editing it"
        )
    return study
