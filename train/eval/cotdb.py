"""The Medprompt example database: a dataset version's own verified CoT rows, checked against the benchmarks.

In: a version folder and one of its outputs (default ``sft``). The rows taken are those the ``cot`` stage
verified (``cot_model`` set). Their question, options, gold answer and reasoning are read back from the
conversation ``to_chat`` wrote (user = [context and] question + "A. ..." option lines; assistant =
reasoning + one answer line: "The answer is X. <option>", or the form an ``answer_format`` stage set, e.g.
Aloe's "Answer: X", read by ``factory.mcqa.answers.parse_answer``), or from the canonical columns when the output keeps them
(``format: rows``). Out: ``Example``s, and counts of the rows skipped and why.

``decontaminate(examples, items)`` leaves out every example that matches a benchmark item, with the
decontamination stage's own n-gram index (``filters.decontam.index.BenchmarkIndex``, default rules): the
examples are few-shot prompts for those very items, so a copied item would hand the model its answer.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from factory.mcqa.options import split_rendered


@dataclass(frozen=True)
class Example:
    """One verified CoT row: ``question`` (with its context), ``options``, ``answer_idx``, ``explanation``."""

    id: str
    source: str | None
    question: str
    options: tuple[str, ...]
    answer_idx: int
    explanation: str

    def as_doc(self) -> dict[str, Any]:
        return {"question": self.question, "options": list(self.options), "context": None}


def parse_user(text: str) -> tuple[str, list[str]] | None:
    """(question with context, options) of a ``to_chat`` MCQA user turn, or None if it has no option lines."""
    question, options = split_rendered(text)
    if not options:
        return None
    question = question.strip()
    return (question, options) if question else None


def parse_assistant(text: str, n_options: int, options: list[str] | None = None) -> tuple[str, int] | None:
    """(reasoning, gold index) of a ``to_chat`` MCQA assistant turn: reasoning, then one answer line
    ("The answer is X. <option>", "Answer: X", or another form ``parse_answer`` reads on that line alone)."""
    from factory.mcqa.answers import parse_answer

    body, _, last = text.rstrip().rpartition("\n")
    parsed = parse_answer(last, n_options, options)
    if parsed.index is None or parsed.changed:
        return None
    return body.strip(), parsed.index


def _from_messages(row: dict[str, Any]) -> Example | str:
    turns = row.get("messages") or []
    user = next((t["content"] for t in turns if t["role"] == "user"), None)
    assistant = next((t["content"] for t in reversed(turns) if t["role"] == "assistant"), None)
    if not user or not assistant:
        return "no_user_or_assistant_turn"
    parsed = parse_user(user)
    if parsed is None:
        return "no_option_lines"
    question, options = parsed
    answer = parse_assistant(assistant, len(options), options)
    if answer is None:
        return "no_answer_line"
    explanation, gold = answer
    if not explanation:
        return "no_reasoning"
    return Example(str(row["id"]), row.get("source"), question, tuple(options), gold, explanation)


def _from_columns(row: dict[str, Any]) -> Example | str:
    if not row.get("options") or row.get("answer_idx") is None or not row.get("explanation"):
        return "missing_mcqa_columns"
    head = f"{row['context']}\n\n" if row.get("context") else ""
    return Example(
        str(row["id"]),
        row.get("source"),
        f"{head}{row['question']}",
        tuple(row["options"]),
        int(row["answer_idx"]),
        row["explanation"],
    )


def load_cot_db(version_path: Path, output: str = "sft") -> tuple[list[Example], dict[str, Any]]:
    """The verified CoT examples of ``output`` in a version folder, and what was read (counts, skips)."""
    import pyarrow.parquet as pq

    from factory.storage.store import parquet_files

    manifest_path = Path(version_path) / "manifest.json"
    if not manifest_path.exists():
        raise FactoryError(f"{version_path} is not a dataset version (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    files = parquet_files(Path(version_path) / output)
    if not files:
        raise FactoryError(f"version {manifest['version']}: output '{output}' has no Parquet files")
    columns = set(pq.read_schema(files[0]).names)
    if "cot_model" not in columns:
        raise FactoryError(
            f"version {manifest['version']}: output '{output}' has no `cot_model` column, so no verified CoT "
            "rows (build the version with a `cot` stage)"
        )
    use_columns = {"question", "options", "answer_idx", "explanation"} <= columns
    examples, skipped, rows = [], Counter(), 0
    for f in files:
        for row in pq.read_table(f).to_pylist():
            rows += 1
            if row.get("cot_model") is None:
                continue
            got = _from_columns(row) if use_columns else _from_messages(row)
            if isinstance(got, str):
                skipped[got] += 1
            else:
                examples.append(got)
    info = {
        "version": manifest["version"],
        "version_path": str(Path(version_path).resolve()),
        "output": output,
        "rows": rows,
        "cot_rows": len(examples) + sum(skipped.values()),
        "examples": len(examples),
        "skipped": dict(sorted(skipped.items())),
        "cot_models": sorted({str(m) for m in _cot_models(files)}),
    }
    return examples, info


def _cot_models(files: list[Path]) -> set[str]:
    import pyarrow.parquet as pq

    found: set[str] = set()
    for f in files:
        found.update(m for m in pq.read_table(f, columns=["cot_model"]).column(0).to_pylist() if m)
    return found


def decontaminate(
    examples: list[Example], items: dict[str, list[dict[str, Any]]]
) -> tuple[list[Example], list[dict[str, str]]]:
    """``examples`` that match no benchmark item (``items``: benchmark -> docs with id, question, context,
    options), and one record per left-out example: ``{id, benchmark, item, match}``."""
    from filters.decontam.index import BenchmarkIndex, Rules

    index = BenchmarkIndex(Rules())
    for bench, docs in items.items():
        for d in docs:
            index.add(bench, str(d["id"]), d["question"], d.get("context"), d.get("options") or [])
    index.finish()
    found = index.match_rows([([ex.question], [o for o in ex.options if o]) for ex in examples])
    kept, excluded = [], []
    for ex, cands in zip(examples, found, strict=True):
        sure = [c for c in cands if c.confident]
        if not sure:
            kept.append(ex)
            continue
        c = sure[0]
        excluded.append(
            {"id": ex.id, "benchmark": c.benchmark, "item": c.item, "match": f"{c.kind}: {c.evidence}"}
        )
    return kept, excluded
