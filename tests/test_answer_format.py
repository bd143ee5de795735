"""Answer-format normalisation: the source formats read (and the look-alikes refused), and the stage on
inline MCQA, QA and chat rows under both executors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from factory.rows import make_row
from factory.testing import run_stage
from filters.clean.answer_format import AnswerFormat, find_statement

OPTIONS = ["Rickets", "Pneumonia", "Fracture of the lateral condyle", "Malunited supracondylar fracture"]


@pytest.mark.parametrize(
    "text, index, family",
    [
        ("Ans. is 'b' i.e., Pneumonia\nPneumonia is an infection of the lung.", 1, "answer_is"),
        ("Ans: B", 1, "answer_is"),
        ("Ans. b", 1, "answer_is"),
        ("Answer- (c)", 2, "answer_is"),
        ("ANSWER: [D]", 3, "answer_is"),
        ("(C) Fracture of the lateral condyle", 2, "label_first"),
        ("c. Fracture of the lateral condyle", 2, "label_first"),
        ("Correct option: 2", 1, "correct_option"),
        ("Correct answer - 4", 3, "correct_option"),
        ("The correct answer is D.", 3, "correct_option"),
        ("Gout is a crystal arthropathy. So the answer is D", 3, "answer_is"),
        ("Option B is correct.", 1, "option_is_correct"),
        ("B is the correct answer", 1, "option_is_correct"),
        (
            "Reasoning.\nTherefore, the correct answer is (d) Malunited supracondylar fracture.",
            3,
            "correct_option",
        ),
        ("Answer: Pneumonia", 1, "answer_text"),
    ],
)
def test_formats_read(text, index, family):
    st = find_statement(text, OPTIONS)
    assert st is not None and (st.index, st.family) == (index, family)


@pytest.mark.parametrize(
    "text",
    [
        "Answer: a combination of vitamin D and calcium",  # an article, not option a
        "Answer: A patient with rickets has bowed legs",
        "A is correct only if the child is older",  # a remark, not the statement
        "Answer: E",  # no fifth option
        "Correct option: 7",
        "Answer: Pneumonia and sepsis",  # not exactly one option's text
        "Rickets is caused by vitamin D deficiency, option B is less likely here because of the fever.",
        "",
    ],
)
def test_look_alikes_refused(text):
    assert find_statement(text, OPTIONS) is None


def test_a_number_that_is_an_option_text_is_that_option():
    assert find_statement("Answer: 3", ["1", "2", "3", "4"]).index == 2
    assert find_statement("Answer: 3", ["one", "two", "three", "four"]).index == 2


def test_stage_on_each_kind(executor):
    question = "Which is most likely?\nA. Rickets\nB. Pneumonia\nC. Gout\nD. Scurvy"
    rows = [
        make_row(id="m:0", source="m", kind="mcqa", question="Q?", options=OPTIONS, answer_idx=1,
                 explanation="Ans. is 'b' i.e., Pneumonia\nFever and crackles point to it."),
        make_row(id="m:1", source="m", kind="mcqa", question="Q?", options=OPTIONS, answer_idx=3,
                 explanation="Ans: B"),  # conflicts with the gold D
        make_row(id="m:2", source="m", kind="mcqa", question="Q?", options=OPTIONS, answer_idx=0, explanation="Ans. a"),
        make_row(id="m:3", source="m", kind="mcqa", question="Q?", options=OPTIONS, answer_idx=0,
                 explanation="Vitamin D deficiency in children."),
        make_row(id="q:4", source="q", kind="qa", question=question, answer="(B) Pneumonia"),
        make_row(id="q:5", source="q", kind="qa", question=question, answer="Crackles and fever.\nCorrect option: 2"),
        make_row(id="q:6", source="q", kind="qa", question="What is gout?", answer="Ans: a crystal arthropathy."),
        make_row(id="c:7", source="c", kind="chat", messages=[
            {"role": "user", "content": question},
            {"role": "assistant", "content": "Fever with crackles suggests an infection. The answer is B."},
        ]),
        make_row(id="p:8", source="p", kind="prompt", question="Ans: B"),
    ]  # fmt: skip
    kept, drops, stats = run_stage(AnswerFormat(), rows, executor)
    by_id = {r["id"]: r for r in kept}
    assert [(d["id"], d["reason"]) for d in drops] == [("m:1", "answer_conflict")]
    assert "explanation says B" in drops[0]["detail"] and "gold D" in drops[0]["detail"]
    assert by_id["m:0"]["explanation"] == "Fever and crackles point to it."
    assert by_id["m:0"]["answer_format"] == "answer_is"
    assert by_id["m:2"]["explanation"] is None
    assert (
        by_id["m:3"]["explanation"] == "Vitamin D deficiency in children."
        and by_id["m:3"]["answer_format"] is None
    )
    assert by_id["q:4"]["answer"] == "Answer: B" and by_id["q:4"]["answer_format"] == "label_first"
    assert by_id["q:5"]["answer"] == "Crackles and fever.\nAnswer: B"
    assert by_id["q:6"]["answer"] == "Ans: a crystal arthropathy."  # no options listed: untouched
    assert by_id["c:7"]["messages"][1]["content"] == "Fever with crackles suggests an infection. Answer: B"
    assert by_id["p:8"]["question"] == "Ans: B" and by_id["p:8"]["answer_format"] is None
    assert stats["rows_in"] == 9 and stats["rows_out"] == 8

    keep = AnswerFormat(on_conflict="keep", form="Answer: {label}. {text}")
    kept, drops, _ = run_stage(keep, rows[:2] + rows[4:5], executor)
    assert not drops and kept[1]["explanation"] is None
    assert kept[2]["answer"] == "Answer: B. Pneumonia"


def test_form_is_checked():
    with pytest.raises(ValidationError, match="label"):
        AnswerFormat(form="Answer: {text}")
    with pytest.raises(ValidationError):
        AnswerFormat(form="Answer: {label} {other}")
