"""What near-dedup compares: one text per row, chosen by the ``on:`` param of ``minhash_dedup``.

- ``all``: every text of the row (``factory.rows.iter_texts``: for MCQA the context, question, options and
  explanation).
- ``question``: the prompt side only (context + question; a chat's user turns; a pair's prompt), as
  ``exact_dedup`` compares.
- ``question_answer``: Aloe's choice for QA pairs (arXiv 2505.04388, "Near-deduplication"): the question
  and its answer concatenated. MCQA: context, question and the gold option's text (distractors and
  explanations left out, so two copies of a question with reordered or reworded distractors still meet);
  QA: question and answer; chat and preference rows as ``turns``.
- ``turns``: Aloe's choice for dialogues: every turn prefixed by its speaker name (``user: ...``,
  ``assistant: ...``), concatenated. QA/MCQA rows read as the two-turn dialogue they become; a preference
  pair as its prompt turns and the chosen answer.
"""

from __future__ import annotations

from typing import Any, Literal

from factory.rows import iter_texts

DedupOn = Literal["all", "question", "question_answer", "turns"]


def _turns(messages: list[dict[str, Any]] | None) -> list[str]:
    return [f"{m['role']}: {m['content']}" for m in messages or [] if m.get("content")]


def _gold(row: dict[str, Any]) -> str | None:
    options, idx = row.get("options") or [], row.get("answer_idx")
    return options[idx] if idx is not None and 0 <= idx < len(options) else None


def dedup_text(row: dict[str, Any], on: DedupOn) -> str:
    """The text of ``row`` that near-dedup shingles for the comparison ``on`` (see the module docstring)."""
    kind = row.get("kind")
    if on == "all":
        return " ".join(iter_texts(row))
    if on == "question":
        if kind == "chat":
            return " ".join(m["content"] or "" for m in row.get("messages") or [] if m["role"] == "user")
        fields = ("prompt",) if kind == "preference" else ("context", "question")
        return " ".join(iter_texts(row, fields))
    if kind == "chat":
        return "\n".join(_turns(row.get("messages")))
    if kind == "preference":
        return "\n".join(_turns(row.get("prompt")) + _turns(row.get("chosen")))
    if kind == "mcqa":
        question = " ".join(iter_texts(row, ("context", "question")))
        answer = _gold(row) or ""
    elif kind == "qa":
        question, answer = row.get("question") or "", row.get("answer") or ""
    else:
        return " ".join(iter_texts(row))
    if on == "question_answer":
        return f"{question} {answer}".strip()
    return "\n".join(
        t for t in (f"user: {question}" if question else "", f"assistant: {answer}" if answer else "") if t
    )
