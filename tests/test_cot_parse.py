"""Reading what models write: MCQA answers (CoT verification), rubric scores and guard verdicts, on written
outputs covering the ways real models answer, and on answers collected from the local model
(``tests/data/cot_outputs_smollm2.json``); then the verification checks of ``synth.verify``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synth.cot import parse_answer, strip_conclusion, verify_answer
from synth.judge import parse_guard, parse_score, score_guide
from synth.verify import conclusion_only, letter_skew, option_mismatch, reasoning_words

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


# How large instruct models conclude, beyond the plain "Answer: B" (written from their typical outputs).
PHRASINGS = [
    # other separators after "Answer"
    ("Answer - B", 1, "final"),
    ("Answer — C", 2, "final"),
    ("Answer => (b)", 1, "final"),
    ("Answer -> D", 3, "final"),
    ("Ans: B", 1, "final"),
    ("**Answer** - B) Pneumonia", 1, "final"),
    ("The correct answer is:\n\n**B. Pneumonia**", 1, "answer"),
    # first-person choices
    ("I'd go with B.", 1, "answer"),
    ("I'll choose option C.", 2, "answer"),
    ("Weighing these, I would select (a).", 0, "answer"),
    ("My final choice: D", 3, "final"),
    ("I think it's B, given the consolidation.", 1, "answer"),
    # a diagnosis, with the letter in brackets
    ("The most likely diagnosis is pneumonia (B).", 1, "answer"),
    ("Most probable diagnosis: Nephrolithiasis [C]", 2, "answer"),
    ("The most likely diagnosis is (A) acute cystitis.", 0, "answer"),
    ("Diagnosis: Pneumonia (option B)", 1, "answer"),
    # later self-corrections win
    ("The answer is A. Wait, actually the answer is C.", 2, "answer"),
    ("Final answer: A\n\nCorrection: the correct answer is D.", 3, "answer"),
    ("Answer: B. On second thought, I'd go with C.", 2, "answer"),
    # not English
    ("Respuesta correcta: B", 1, "final"),
    ("La respuesta correcta es la B.", 1, "final"),
    ("La bonne réponse est (C).", 2, "answer"),
    ("Réponse : D", 3, "final"),
    ("Die richtige Antwort ist B.", 1, "answer"),
    ("Antwort: A", 0, "final"),
    ("A resposta correta é C.", 2, "answer"),
    ("La risposta corretta è B", 1, "answer"),
    ("答案：C", 2, "final"),
    ("所以正确答案是B。", 1, "final"),
    ("Ответ: B", 1, "final"),
    ("Правильный ответ — C", 2, "answer"),
    # negated statements are not conclusions
    ("A is not the correct answer; the correct answer is B.", 1, "answer"),
    ("The incorrect answer is A. Final answer: D", 3, "final"),
]


@pytest.mark.parametrize("text,index,how", PHRASINGS)
def test_parse_answer_reads_how_large_models_conclude(text, index, how):
    parsed = parse_answer(text, 4, OPTIONS)
    assert (parsed.index, parsed.how) == (index, how), parsed


@pytest.mark.parametrize(
    "text,detail",
    [
        ("Either could fit; the answer is B or C.", "B or C"),
        ("Final answer: B/C", "B/C"),
        ("La respuesta es B o C.", "B o C"),
        ("The answer is C. Pneumonia", "letter C with the text of option B"),  # Pneumonia is B
        ("The most likely diagnosis is pneumonia (C).", "text of option B with letter C"),
        ("Option A is correct. Option C is correct.", "calls A, C correct"),
    ],
)
def test_ambiguous_conclusions_stay_ambiguous(text, detail):
    parsed = parse_answer(text, 4, OPTIONS)
    assert parsed.index is None and parsed.how == "ambiguous" and parsed.detail == detail, parsed


def test_a_list_of_options_under_an_answer_cue_is_no_conclusion():
    listing = "The correct answer is:\nA. Acute cystitis: no.\nB. Pneumonia: maybe.\nC. Nephrolithiasis: no."
    assert parse_answer(listing, 4, OPTIONS).how == "none"
    assert (
        parse_answer("Reasoning.\nD. Acute glomerulonephritis: it is not the answer.", 4, OPTIONS).how
        == "none"
    )


def test_parse_answer_on_what_the_local_model_wrote(shared_data):
    """40 real answers of SmolLM2-135M-Instruct to MedMCQA rows, read as a careful reader reads them."""
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    from cot_bench import load_rows

    collected = json.loads((Path(__file__).parent / "data" / "cot_outputs_smollm2.json").read_text())[
        "outputs"
    ]
    rows = {r["id"]: r for r in load_rows(40)}
    hows = set()
    for item in collected:
        row = rows[item["id"]]
        parsed = parse_answer(item["text"], len(row["options"]), row["options"])
        got = {"label": parsed.label, "how": parsed.how, "changed": parsed.changed}
        assert got == item["expected"], (item["id"], got)
        hows.add(parsed.how)
    assert hows == {"final", "answer", "last_line", "none", "ambiguous"}
    assert sum(1 for i in collected if i["expected"]["changed"]) >= 8  # this model often changes its mind


def test_changed_conclusions_fail_verification_by_default():
    changed = parse_answer("The answer is A. On reflection the correct answer is B.\nFinal answer: B", 4)
    assert changed.index == 1 and changed.conclusions == (0, 1, 1) and changed.changed
    assert verify_answer(changed, 1)[0] == "changed_answer"
    assert verify_answer(changed, 1, allow_changed=True) is None
    assert verify_answer(parse_answer("Final answer: C", 4), 1) == (
        "answer_mismatch",
        "answered C (final); gold B",
    )
    assert verify_answer(parse_answer("The answer is B or C.", 4), 1)[0] == "ambiguous_answer"
    assert verify_answer(parse_answer("No idea.", 4), 1)[0] == "unparseable_answer"
    steady = parse_answer("The correct answer is B.\nFinal answer: B", 4)
    assert not steady.changed and verify_answer(steady, 1) is None
    reverse_after = parse_answer(
        "The correct answer is C. Nephrolithiasis.\nD. Acute glomerulonephritis is the correct answer.",
        4,
        OPTIONS,
    )
    assert reverse_after.index == 2 and reverse_after.changed  # a later "D ... is the correct answer" counts


def test_strip_conclusion_replaces_the_models_own_answer_lines():
    text = "Rephrased question.\nA. wrong\nB. right\n\nFinal answer: B"
    assert strip_conclusion(text, 4) == "Rephrased question.\nA. wrong\nB. right"
    heading = "Reasoning here.\n\n### Final answer\n**B**"
    assert strip_conclusion(heading, 4) == "Reasoning here."
    both = "Fever and lobar consolidation.\nThe correct answer is B. Pneumonia.\nFinal answer: B"
    assert strip_conclusion(both, 4, OPTIONS) == "Fever and lobar consolidation."
    closing = "Fever and cough point to it. Therefore, the correct answer is B. Pneumonia."
    assert strip_conclusion(closing, 4, OPTIONS) == "Fever and cough point to it."
    inline = "Reasoning here. Hence the answer is B, because of the consolidation on the film."
    assert strip_conclusion(inline, 4) == inline  # the closing sentence carries reasoning: kept
    early = "Final answer: B\nBecause of the consolidation."
    assert strip_conclusion(early, 4) == "Because of the consolidation."
    per_option = "Analysis.\nD. Acute glomerulonephritis: red cell casts, not this picture."
    assert strip_conclusion(per_option, 4, OPTIONS) == per_option
    assert conclusion_only("B) Pneumonia", 4, OPTIONS) and not conclusion_only(
        "B) Pneumonia fits the film", 4, OPTIONS
    )


def test_option_letters_and_texts_must_agree():
    assert (
        option_mismatch("A. Acute cystitis: no.\nB. Pneumonia: yes, fever and consolidation.", OPTIONS)
        is None
    )
    assert option_mismatch("A. Acute cystitis: no.\nC. Pneumonia: yes.", OPTIONS) == (
        "calls 'Pneumonia' option C; it is option B"
    )
    assert option_mismatch("Option B (nephrolithiasis) gives colic.", OPTIONS) == (
        "calls 'Nephrolithiasis' option B; it is option C"
    )
    assert option_mismatch("A. Acute cystitis: no.\nE. Tibial fracture: no.", OPTIONS).startswith(
        "names option E"
    )
    assert (
        option_mismatch("Vitamin B12 and folate are normal. A patient like this needs antibiotics.", OPTIONS)
        is None
    )


def test_reasoning_words_count_what_the_question_does_not_say():
    question, options = "Fever, cough and lobar consolidation: which diagnosis?", OPTIONS
    restated = (
        "The question asks which diagnosis fits fever, cough and consolidation. The answer is B. Pneumonia."
    )
    assert reasoning_words(restated, question, options) <= 2
    reasoned = (
        "An acute lobar infiltrate with fever points to bacterial infection of the alveoli; cystitis stays in "
        "the bladder, stones give colicky flank pain and haematuria, glomerulonephritis gives red cell casts."
    )
    assert reasoning_words(reasoned, question, options) >= 15


def test_letter_skew_flags_a_verified_set_unlike_its_input():
    assert letter_skew({"A": 25, "B": 25, "C": 25, "D": 25}, {"A": 9, "B": 9}) is None  # < 20 rows
    p_value, gap, letter = letter_skew(
        {"A": 250, "B": 250, "C": 250, "D": 250}, {"A": 10, "B": 10, "C": 10, "D": 46}
    )
    assert p_value < 1e-6 and letter == "D" and round(gap, 2) == 0.36
    p_value, _, _ = letter_skew(
        {"A": 250, "B": 250, "C": 250, "D": 250}, {"A": 24, "B": 26, "C": 25, "D": 25}
    )
    assert p_value > 0.5


def test_score_guide_matches_the_rubric_prompt():
    import re

    guide = score_guide(1, 10, 300)
    assert re.fullmatch(guide.regex, "Clear and correct.\nScore: [[8]]")
    assert re.fullmatch(guide.regex, "Score: [[10]]") and not re.fullmatch(guide.regex, "Score: [[11]]")
    assert score_guide(1, 5, 0).regex == r"Score: \[\[(5|4|3|2|1)\]\]"


def test_cot_guide_bounds_reasoning_lines_and_marks_forced_conclusions():
    import re

    from synth.cot import ChainOfThought

    backend = {"kind": "vllm", "model": "smollm2-135m"}
    free = ChainOfThought(backend=backend, sampling={"max_tokens": 20})
    lines = ChainOfThought(backend=backend, sampling={"max_tokens": 20}, reasoning_lines=3)
    three = "Pneumonia fits the fever.\nThe X-ray shows consolidation.\nSo B.\nFinal answer: B"
    four = "a\nb\nc\nd\nFinal answer: B"
    assert re.fullmatch(free.guide(4).regex, four)  # free text: any number of lines
    assert re.fullmatch(lines.guide(4).regex, three) and not re.fullmatch(lines.guide(4).regex, four)
    assert not re.fullmatch(lines.guide(4).regex, "a\n\nb\nFinal answer: B")  # no blank lines
    assert not re.fullmatch(lines.guide(4).regex, "a\nFinal answer: E")  # four options: A-D
    # a line that used every character the guide allowed (3 per token: 60) was cut: truncated
    assert lines.check({"options": ["x", "y", "z", "w"], "answer_idx": 1, "question": "q"},
                       "w" * 60 + "\nFinal answer: B")[0] == "truncated"  # fmt: skip
    assert not lines._hit_guide_limit("short line\nFinal answer: B")


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
