"""The output contract: which columns each output format publishes, and what each column means.

In: an output's format (``messages``, ``preference``, ``rows``), the final row schema, the columns the recipe
asks for (``outputs.<name>.columns``) and how many rows of the output fill each column. Out: the output's
column list, and a one-line meaning per column for the dataset card.

- ``messages``: ``id``, ``source``, ``messages``, then the provenance columns of ``PROVENANCE["messages"]``;
- ``preference``: ``id``, ``source``, ``prompt``, ``chosen``, ``rejected``, then ``PROVENANCE["preference"]``;
- ``rows``: every column of the schema, as the stages left it.

A provenance column is written only when the build's stages add it and at least one row of that output fills
it. A column the recipe asks for is always written. Everything else (candidate answers, the red-team
writer's answers, decontamination candidates and verdicts, judgements) stays in the stage cache and the drop
log: it is work, not data someone publishes.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

CODE_VERSION = 2  # of the outputs step: bump when a change here or in outputs.py changes the files written

CONTRACT: dict[str, list[str]] = {
    "messages": ["id", "source", "messages"],
    "preference": ["id", "source", "prompt", "chosen", "rejected"],
}

PROVENANCE: dict[str, list[str]] = {
    "messages": ["kind", "task", "template_id", "lang", "cot_model", "cot_attempts"],
    "preference": [
        "chosen_model", "rejected_model", "chosen_score", "rejected_score", "pair_reason", "jailbreak",
    ],
}  # fmt: skip

# One line per column a shipped stage or the canonical row defines: the card's description of a feature.
# The first block is the contract and the provenance above; the rest is published only on request or by
# ``format: rows``.
MEANINGS: dict[str, str] = {
    "id": "stable row id: the source's name and the record's id in it",
    "source": "the recipe source the row comes from (its licence applies to the row)",
    "messages": "the conversation to train on: a list of {role, content} turns (system, user, assistant)",
    "prompt": "the conversation up to the answer: a list of {role, content} turns",
    "chosen": "the preferred answer: a list with one assistant turn",
    "rejected": "the dispreferred answer: a list with one assistant turn",
    "kind": "what the row was before it became a conversation: mcqa, qa, chat, prompt, text",
    "task": "the instruction task a template turned the row into (task_templates stage), if any",
    "template_id": "which template of that task wrote the prompt (task/id)",
    "lang": "language of the row's text (fastText language id, ISO 639-1 code)",
    "cot_model": "the teacher model that wrote the verified chain-of-thought answer, if any",
    "cot_attempts": "how many tries the teacher needed for an answer that matched the gold option",
    "chosen_model": "the model (or dataset:NAME) that wrote the chosen answer",
    "rejected_model": "the model (or dataset:NAME) that wrote the rejected answer",
    "chosen_score": "the judge's score of the chosen answer (rubric pairs)",
    "rejected_score": "the judge's score of the rejected answer (rubric pairs)",
    "pair_reason": "why the pair was kept: the judge's scores and margin, or the guard's verdicts",
    "jailbreak": "the jailbreak template that wraps a red-team request (file#n), if any",
    # on request
    "subject": "the source's grouping label (MMLU subject, exam category), if any",
    "question": "the question or instruction of a qa/mcqa/prompt row",
    "context": "a passage the question refers to, if any",
    "options": "the answer options of a multiple-choice question, labelled A, B, C... in order",
    "answer_idx": "the 0-based index of the gold option",
    "answer": "the reference answer of a qa row",
    "explanation": "the explanation of an mcqa row's gold answer, if any",
    "text": "plain text of a text row",
    "meta": "the rest of the source record, as a JSON string",
    "lang_score": "confidence of the language id (0-1)",
    "answer_format": "the answer statement found and rewritten in the answer (answer_is, correct_option...)",
    "complexity": "the scorer's complexity score of the instruction (Deita, 1-6)",
    "quality": "the scorer's quality score of the answer (Deita, 1-6)",
    "score_model": "the model that gave the complexity and quality scores",
    "score_method": "how those scores were read: logprobs (Deita's expected score over the score tokens' "
    "probabilities), sampled (the integer the model wrote: its backend returned no logprobs), or mixed",
    "quality_score": "the quality classifier's probability that the row is high quality (0-1)",
    "request": "the harmful request a red-team prompt wraps",
}

UNDESCRIBED = "a column a stage of the recipe added (see recipe.yaml)"


def candidates(fmt: str, schema: pa.Schema, requested: list[str] | None = None) -> list[str]:
    """The columns an output of ``fmt`` may write, in schema order after the contract: ``rows`` takes every
    column; the others their contract, the provenance columns the schema has, and ``requested``."""
    if fmt == "rows":
        return list(schema.names)
    wanted = set(PROVENANCE[fmt]) | set(requested or [])
    contract = CONTRACT[fmt]
    return contract + [c for c in schema.names if c in wanted and c not in contract]


def output_columns(
    fmt: str, schema: pa.Schema, filled: Mapping[str, int], requested: list[str] | None = None
) -> list[str]:
    """The columns an output writes: ``candidates`` less the provenance columns no row fills (``filled``:
    column -> rows of the output with a value; the contract and ``requested`` columns always stay)."""
    keep = set(CONTRACT.get(fmt, [])) | set(requested or [])
    cols = candidates(fmt, schema, requested)
    return cols if fmt == "rows" else [c for c in cols if c in keep or filled.get(c, 0) > 0]


def meaning(column: str) -> str:
    """The one-line meaning of ``column`` for the dataset card."""
    return MEANINGS.get(column, UNDESCRIBED)
