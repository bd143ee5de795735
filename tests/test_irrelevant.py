"""Irrelevant-question/answer lists: the shipped starter list, a recipe-given list on inline rows under both
executors, and bad entries named by file, line and field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from factory.rows import make_row
from factory.testing import run_stage
from filters.clean.irrelevant import IrrelevantFilter, list_path, read_patterns

OWN = """\
# a recipe's own list
- {on: question, pattern: '^\\W*(?:hi|hello)\\W*$', why: greeting}
- on: answer
  pattern: 'see attached (?:file|image)'
  why: refers to an attachment the row lacks
"""


def test_stage_drops_by_side_with_the_entry_named(executor, tmp_path):
    (tmp_path / "own.yaml").write_text(OWN)
    rows = [
        make_row(id="q:0", source="q", kind="qa", question="Hello!", answer="Hello, how can I help?"),
        make_row(id="q:1", source="q", kind="qa", question="What is gout?", answer="See attached file."),
        make_row(id="q:2", source="q", kind="qa", question="What is gout?", answer="A crystal arthropathy."),
        make_row(id="q:3", source="q", kind="qa", question="Say hello", answer="Hello"),  # not a whole-text greeting
        make_row(id="c:4", source="c", kind="chat", messages=[
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hi! What brings you here?"},
            {"role": "user", "content": "My knee hurts."}, {"role": "assistant", "content": "Since when?"},
        ]),  # only the last exchange is read: kept
        make_row(id="c:5", source="c", kind="chat", messages=[
            {"role": "user", "content": "My knee hurts."}, {"role": "assistant", "content": "See attached image"},
        ]),
        make_row(id="m:6", source="m", kind="mcqa", question="Q?", options=["a", "b"], answer_idx=0,
                 explanation="see attached image"),
    ]  # fmt: skip
    stage = IrrelevantFilter(lists=["own.yaml"])
    kept, drops, stats = run_stage(stage, rows, executor, data_dir=tmp_path)
    assert [r["id"] for r in kept] == ["q:2", "q:3", "c:4"]
    assert [(d["id"], d["reason"], d["detail"]) for d in drops] == [
        ("q:0", "irrelevant_question", "own.yaml:2 greeting"),
        ("q:1", "irrelevant_answer", "own.yaml:3 refers to an attachment the row lacks"),
        ("c:5", "irrelevant_answer", "own.yaml:3 refers to an attachment the row lacks"),
        ("m:6", "irrelevant_answer", "own.yaml:3 refers to an attachment the row lacks"),
    ]
    assert stats["rows_in"] == 7


def test_shipped_starter_list_on_local_formats(executor):
    rows = [
        make_row(id="mq:0", source="medquad", kind="qa", question="What are the treatments for Gout ?",
                 answer="These resources address the diagnosis or management of gout:  - Genetic Testing Registry"),
        make_row(id="mq:1", source="medquad", kind="qa", question="What are the symptoms of Bell's palsy ?",
                 answer="What are the symptoms of Bell's palsy?"),
        make_row(id="mq:2", source="medquad", kind="qa", question="What causes Bell's palsy ?",
                 answer="Bell's palsy is thought to come from inflammation of the facial nerve."),
        make_row(id="al:3", source="alpaca", kind="qa", question="Generate a hypothetical phone number.",
                 answer="(555) 123-4567"),
        make_row(id="al:4", source="alpaca", kind="qa", question="Write a survey question.",
                 answer="How satisfied were you with our clinic?"),  # a question is the right answer here
    ]  # fmt: skip
    kept, drops, _ = run_stage(IrrelevantFilter(lists=["aloe_local"]), rows, executor)
    assert [r["id"] for r in kept] == ["mq:2", "al:4"]
    assert [d["id"] for d in drops] == ["mq:0", "mq:1", "al:3"]
    assert all(d["detail"].startswith("aloe_local.yaml:") for d in drops)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("- {on: reply, pattern: x}", "bad.yaml:1: field 'on' must be 'question' or 'answer'"),
        (
            "- {on: answer, pattern: x}\n- {on: answer, pattern: '(unclosed'}",
            "bad.yaml:2: field 'pattern' is not a valid regex",
        ),
        ("- {on: answer, pattern: ''}", "bad.yaml:1: field 'pattern' must be a non-empty regex"),
        ("- {on: answer, pattern: x, weight: 2}", "bad.yaml:1: unknown field(s) ['weight']"),
        ("on: answer", "a pattern list is a YAML list"),
    ],
)
def test_bad_entries_name_file_line_and_field(tmp_path, text, problem):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ValueError) as err:
        read_patterns(tmp_path / "bad.yaml")
    assert problem in str(err.value)


def test_shipped_lists_checked_at_load():
    assert read_patterns(list_path("aloe_local"))
    with pytest.raises(ValidationError, match="not found; shipped lists: .*aloe_local"):
        IrrelevantFilter(lists=["no_such_list"])
    with pytest.raises(ValidationError):
        IrrelevantFilter(lists=[])
