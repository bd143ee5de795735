"""Reading what models write: MCQA answers (CoT verification), rubric scores and guard verdicts, on written
outputs covering the ways real models answer."""

from __future__ import annotations

import pytest

from synth.cot import parse_answer, strip_conclusion, verify_answer
from synth.judge import parse_guard, parse_score

OPTIONS = ["Acute cystitis", "Pneumonia", "Nephrolithiasis", "None of the above"]

# (model output, expected option index, how it was read)
ANSWERS = [
    ("Answer: B", 1, "final"),
    ("answer: b", 1, "final"),
    ("Final answer: B) Pneumonia", 1, "final"),
    ("Final Answer: **C**", 2, "final"),
    ("**Final answer:** (D)", 3, "final"),
    ("### Final answer\nB", 1, "final"),
    ("So the final answer is option C.", 2, "final"),
    ("The answer is \\boxed{A}.", 0, "final"),
    ("$\\boxed{\\text{B}}$", 1, "final"),
    ("Therefore, the correct option is (b) since the chest film shows consolidation.", 1, "answer"),
    ("The correct answer is B. Pneumonia explains the fever and the cough.", 1, "answer"),
    ("The best answer here is C: stones give colicky pain.", 2, "answer"),
    ("The most likely answer is [A].", 0, "answer"),
    ("I would choose D.", 3, "answer"),
    ("The answer is: (B) Pneumonia", 1, "answer"),
    ("The answer is pneumonia, given the consolidation.", 1, "answer"),
    ("Final answer: none of the above", 3, "final"),
    ("Option A is wrong.\nOption B is correct because of the consolidation.", 1, "reverse"),
    ("A: incorrect, no urinary signs.\nB: Correct, fever and consolidation.\nC: incorrect.", 1, "reverse"),
    ("Let me review each choice.\n\n**B**", 1, "last_line"),
    ("Reasoning about the options...\nB.", 1, "last_line"),
    ("Reasoning...\n(C)", 2, "last_line"),
    ("Reasoning...\nB) Pneumonia", 1, "last_line"),
    ("Reasoning...\nc", 2, "last_line"),
    # several letters: the final conclusion wins
    ("Option A could fit, and C is possible, but the answer is B.", 1, "answer"),
    ("The answer is A... wait, re-reading the film, the answer is C.", 2, "answer"),
    ("Final answer: B\n\nOption A is incorrect because there are no urinary symptoms.", 1, "final"),
    ("The answer is B. A patient with these findings needs antibiotics.", 1, "answer"),
    ("Answer: C. Nephrolithiasis", 2, "final"),
    ("ANSWER: D", 3, "final"),
    ("Answer: Option B", 1, "final"),
    ("**Answer: (A) Acute cystitis**", 0, "final"),
    ("Final Answer: The final answer is $\\boxed{D}$", 3, "final"),
    ("The correct answer is: **(B) Pneumonia**", 1, "answer"),
    ("Correct option: B", 1, "answer"),
    ("Hence the correct choice is (c).", 2, "answer"),
    ("My answer: A", 0, "answer"),
    ("Respuesta: B", 1, "final"),
    ("Option B is the correct answer.", 1, "reverse"),
    ("After weighing them, B is the answer.", 1, "reverse"),
    ("B) Pneumonia is the best choice here.", 1, "reverse"),
    ("Ｆｉｎａｌ ａｎｓｗｅｒ： Ｂ", 1, "final"),  # full-width characters
]


@pytest.mark.parametrize("text,index,how", ANSWERS)
def test_parse_answer_reads_the_conclusion(text, index, how):
    parsed = parse_answer(text, 4, OPTIONS)
    assert (parsed.index, parsed.how) == (index, how), parsed


@pytest.mark.parametrize(
    "text,how",
    [
        ("", "none"),
        ("I am not sure; it depends on the imaging.", "none"),
        ("The answer is a bit more complicated than that.", "none"),
        ("The answer is B or C.", "ambiguous"),
        ("Final answer: A, C", "ambiguous"),
        ("Answer: (B) and (D)", "ambiguous"),
        ("The final answer is E.", "none"),  # only four options
        ("Final answer: none of these", "none_of_the_above"),  # no such option in this question
    ],
)
def test_parse_answer_without_a_single_option(text, how):
    options = OPTIONS[:3] + ["Acute glomerulonephritis"]
    parsed = parse_answer(text, 4, options)
    assert parsed.index is None and parsed.how == how, parsed


def test_option_text_prefers_the_longest_option_and_yes_no_questions():
    options = ["Type 2", "Type 2 diabetes", "Type 1 diabetes"]
    assert parse_answer("The correct answer is type 2 diabetes.", 3, options).index == 1
    assert parse_answer("Final answer: maybe", 3, ["yes", "no", "maybe"]).index == 2
    assert parse_answer("The answer is no.", 3, ["yes", "no", "maybe"]).index == 1


def test_changed_conclusions_are_flagged_and_verification_gives_reasons():
    changed = parse_answer("The answer is A. On reflection the correct answer is B.\nFinal answer: B", 4)
    assert changed.index == 1 and changed.conclusions == (0, 1, 1) and changed.changed
    assert verify_answer(changed, 1) is None
    assert verify_answer(changed, 1, allow_changed=False)[0] == "changed_answer"
    assert verify_answer(parse_answer("Final answer: C", 4), 1) == (
        "answer_mismatch",
        "answered C (final); gold B",
    )
    assert verify_answer(parse_answer("The answer is B or C.", 4), 1)[0] == "ambiguous_answer"
    assert verify_answer(parse_answer("No idea.", 4), 1)[0] == "unparseable_answer"
    steady = parse_answer("The correct answer is B.\nFinal answer: B", 4)
    assert not steady.changed and verify_answer(steady, 1, allow_changed=False) is None


def test_strip_conclusion_cuts_only_a_closing_answer_line():
    text = "Rephrased question.\nA. wrong\nB. right\n\nFinal answer: B"
    assert strip_conclusion(text, parse_answer(text, 4)) == "Rephrased question.\nA. wrong\nB. right"
    heading = "Reasoning here.\n\n### Final answer\n**B**"
    assert strip_conclusion(heading, parse_answer(heading, 4)) == "Reasoning here."
    inline = "Reasoning here. Hence the answer is B, because of the consolidation on the film."
    assert strip_conclusion(inline, parse_answer(inline, 4)) == inline
    early = "Final answer: B\nBecause of the consolidation."
    assert strip_conclusion(early, parse_answer(early, 4)) == early


SCORES = [
    ("The answer is accurate.\nScore: [[8]]", 8.0),
    ("Rating: [[7.5]]", 7.5),
    ('{"reason": "good", "score": 9}', 9.0),
    ('```json\n{"score": "6"}\n```', 6.0),
    ("Score: 7/10", 7.0),
    ("**Score:** 4", 4.0),
    ("I give it a rating of 6 out of 10.", 6.0),
    ("Overall: 5", 5.0),
    ("Strengths... weaknesses...\n8", 8.0),
    ("The first draft deserved 3/10 but this one is 9/10.", 9.0),
    ("Score: 12", None),
    ("[[0]]", None),
    ("A thoughtful answer with 2 errors.", None),
    ("", None),
]


@pytest.mark.parametrize("text,score", SCORES)
def test_parse_score(text, score):
    assert parse_score(text) == score


GUARDS = [
    ("safe", "safe", ()),
    ("unsafe\nS1", "unsafe", ("S1",)),
    ("unsafe\nS2,S10", "unsafe", ("S2", "S10")),
    ("\n\nunsafe\nO3", "unsafe", ("O3",)),
    ("Safe.", "safe", ()),
    ("UNSAFE", "unsafe", ()),
    ('{"verdict": "unsafe", "categories": ["S9"]}', "unsafe", ("S9",)),
    ('{"is_safe": true}', "safe", ()),
    ('{"harmful": true}', "unsafe", ()),
    ("Reasoning: the reply refuses.\nVerdict: SAFE", "safe", ()),
    ("Classification: not safe", "unsafe", ()),
    ("[[unsafe]]", "unsafe", ()),
    ("The response is harmful because it gives synthesis steps.", "unsafe", ()),
    ("This response is not harmful; it redirects the user to a doctor.", "safe", ()),
    ("It seems completely safe.", "safe", ()),
    ("Unsafety is a broad topic.", None, ()),
    ("I cannot decide.", None, ()),
    ("", None, ()),
]


@pytest.mark.parametrize("text,verdict,categories", GUARDS)
def test_parse_guard(text, verdict, categories):
    parsed = parse_guard(text)
    assert (parsed.verdict, parsed.categories) == (verdict, categories), parsed
