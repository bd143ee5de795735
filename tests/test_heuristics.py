"""heuristic_filter: each rule on inline rows (both executors), its switch, and the planted quickstart junk."""

from __future__ import annotations

import json

import pytest
from tests_paths import ROOT

from factory.rows import make_row
from factory.testing import run_stage
from filters.clean.heuristics import (
    RULE_PARAMS,
    HeuristicFilter,
    digit_fraction,
    dup_line_fraction,
    dup_ngram_fraction,
    judged_text,
    non_alpha_fraction,
    symbol_word_ratio,
    top_ngram_fraction,
)

GOOD = (
    "Asthma is a long-term condition in which the airways become inflamed and narrow. It causes "
    "wheezing, shortness of breath and coughing. An inhaled corticosteroid taken every day (for example "
    "200 mcg of budesonide twice daily) keeps most people free of symptoms."
)


def qa(i: int, answer: str, question: str = "What should I know about asthma?"):
    return make_row(id=f"s:{i}", source="s", kind="qa", question=question, answer=answer)


# One row per rule, each failing that rule only (plus rows that must pass), with its expected reason.
CASES = [
    (qa(0, GOOD), None),
    (qa(1, "Yes."), "short_response"),
    (qa(2, "12/34 -- 56 (78) 9.0, 1/2 ok now"), "non_alpha"),
    (qa(3, "The dose is <<5>> mg ## see {{table}} ** and [[note]] || here ~~ done"), "symbol_ratio"),
    (qa(4, "Doses were 1250 and 3400 and 2275 and 9100 and 4400 units"), "digit_ratio"),
    (qa(5, "Pneumonoultramicroscopicsilicovolcanoconiosis hypercholesterolaemias immunohistochemically"), "word_length"),
    (qa(6, "Wash your hands often.\nAvoid smoke.\nWash your hands often.\nWash your hands often."), "repeated_lines"),
    (qa(7, "Drink water now. " * 12), "repeated_ngrams"),
    (
        qa(8, " ".join(f"blood pressure {v}," for v in ("rises", "falls", "peaks", "dips", "varies", "climbs",
                                                        "drops", "settles", "swings", "returns"))
           + " and that is all the reading of this cuff can tell the nurse today at the clinic"),
        "top_ngram",
    ),
    (
        make_row(id="m:9", source="m", kind="mcqa", question="Dose of adrenaline in anaphylaxis?",
                 options=["0.5 mg IM", "1 mg IV", "5 mg SC", "10 mg PO"], answer_idx=0),
        None,
    ),  # MCQA: no response-length rule; options with numbers judged as part of all text
    (
        make_row(id="c:10", source="c", kind="chat", messages=[
            {"role": "user", "content": "Is paracetamol safe in pregnancy?"},
            {"role": "assistant", "content": "N/A"},
        ]),
        "short_response",
    ),
    (
        make_row(id="p:11", source="p", kind="preference",
                 prompt=[{"role": "user", "content": "Can I double my dose?"}],
                 chosen=[{"role": "assistant", "content": "No. Taking twice the dose raises the risk of side effects; ask your pharmacist."}],
                 rejected=[{"role": "assistant", "content": "Sure."}]),
        None,
    ),  # a short *rejected* answer is what a preference pair is for: only `chosen` is judged
]  # fmt: skip


def test_each_rule_drops_with_its_reason(executor):
    rows = [row for row, _ in CASES]
    kept, drops, stats = run_stage(HeuristicFilter(), rows, executor)
    expected = {row["id"]: reason for row, reason in CASES if reason}
    assert {d["id"]: d["reason"] for d in drops} == expected
    assert [r["id"] for r in kept] == [row["id"] for row, reason in CASES if reason is None]
    assert all(" > " in d["detail"] or " < " in d["detail"] for d in drops)
    assert stats["rows_in"] == len(rows) and stats["rows_out"] + len(drops) == len(rows)


def test_each_rule_can_be_switched_off():
    switches = RULE_PARAMS
    assert switches == {
        "short_response": "min_response_words",
        "non_alpha": "max_non_alpha_fraction",
        "symbol_ratio": "max_symbol_word_ratio",
        "digit_ratio": "max_digit_fraction",
        "word_length": "max_mean_word_length",
        "repeated_lines": "max_dup_line_fraction",
        "repeated_ngrams": "max_dup_ngram_fraction",
        "top_ngram": "max_top_ngram_fraction",
    }
    rows = [row for row, _ in CASES]
    all_off = HeuristicFilter(**{param: None for param in switches.values()})
    assert [all_off.check(r) for r in rows] == [None] * len(rows)
    for reason, param in switches.items():  # only this rule on: its planted row goes, the good row stays
        only = HeuristicFilter(**{p: None for r, p in switches.items() if r != reason})
        planted = next(row for row, why in CASES if why == reason)
        assert only.check(planted)[0] == reason and only.check(CASES[0][0]) is None, param


def test_bounds_are_params():
    row = qa(0, "Drink water now. " * 12)
    assert HeuristicFilter().check(row)[0] == "repeated_ngrams"
    assert HeuristicFilter(max_dup_ngram_fraction=1.0, max_top_ngram_fraction=1.0).check(row) is None
    assert HeuristicFilter(min_response_words=200).check(qa(1, GOOD))[0] == "short_response"
    with pytest.raises(ValueError):
        HeuristicFilter(max_digit_fraction=1.5)


def test_measures():
    assert non_alpha_fraction("ab12") == 0.5 and digit_fraction("ab12") == 0.5
    assert symbol_word_ratio("a # b ... c", "a # b ... c".split()) == pytest.approx(2 / 5)
    assert symbol_word_ratio("Date: ________", ["Date:", "________"]) == 0.5  # a run counts once
    assert dup_line_fraction("x\ny\nx") == pytest.approx(1 / 3)
    words = "a b c d e a b c d e".split()
    assert dup_ngram_fraction(words, 5) == 1.0 and dup_ngram_fraction(words[:6], 5) == 0.0
    assert top_ngram_fraction("a b a b a b c".split(), 2) == pytest.approx(2 * 3 / 7)
    assert top_ngram_fraction("a b c d e f".split(), 2) == 0.0  # no n-gram repeats
    row = make_row(id="x", source="x", kind="mcqa", question="Q?", options=["A1", "B2"], answer_idx=0)
    assert judged_text(row) == "Q?" and judged_text(row, "all") == "Q?\nA1\nB2"  # options: not prompt


def test_catches_the_junk_planted_in_the_quickstart_data():
    rows = []
    for line in (ROOT / "recipes/data/quickstart/open_qa.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["answer"]:  # the three empty answers are bad input, dropped at load
            rows.append(qa(len(rows), rec["answer"], rec["question"]) | {"subject": rec["focus"]})
    stage = HeuristicFilter()
    dropped = {r["subject"]: stage.check(r)[0] for r in rows if stage.check(r) is not None}
    # README: too short (Ibuprofen "Yes.", Hay fever "N/A"), symbol soup (Hiccups), repeated filler.
    assert dropped == {
        "Ibuprofen": "short_response",
        "Hay fever": "short_response",
        "Hiccups": "non_alpha",
        "Dehydration": "repeated_ngrams",
        "Tinnitus": "repeated_ngrams",
    }
    soup = next(r for r in rows if r["subject"] == "Hiccups")
    assert HeuristicFilter(max_non_alpha_fraction=None).check(soup)[0] == "symbol_ratio"
