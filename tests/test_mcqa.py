"""``factory.mcqa.options``: labels, option rendering (each form on inline examples, and every prompt or row
built with it equal to what the code before it wrote, as literal strings), reading option lines back
out of texts, and answer folding."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from factory.llm.types import OpenAIBackend, SamplingConfig
from factory.mcqa.options import (
    OPTION_LABELS,
    fold,
    label_index,
    labelled,
    listed_options,
    option_label,
    option_line,
    option_lines,
    option_mentions,
    render_options,
    render_options_array,
    split_options,
    split_rendered,
    strip_labels,
)
from factory.rows import make_row
from factory.stages.chat import ToChat
from factory.testing import run_stage

ROW = make_row(
    id="m:1",
    source="m",
    kind="mcqa",
    context="A 30-year-old man returns from a hike.",
    question="Which antibiotic treats early Lyme disease?",
    options=["Amoxicillin", "Doxycycline", "Vancomycin"],
    answer_idx=1,
    explanation="Doxycycline is first line.",
)
BARE = make_row(
    id="m:2", source="m", kind="mcqa", question="Is it benign?", options=["Yes", None], answer_idx=0
)
HEAD = "A 30-year-old man returns from a hike.\nWhich antibiotic treats early Lyme disease?"
LINES = "A. Amoxicillin\nB. Doxycycline\nC. Vancomycin"
NOWHERE = OpenAIBackend(base_url="http://127.0.0.1:9/v1", model="teacher", check_model=False)  # never called


# -- labels and folding ---------------------------------------------------------------------------------
def test_labels():
    assert OPTION_LABELS[:5] == "ABCDE" and len(OPTION_LABELS) == 26
    assert option_label(0) == "A" and option_label(25) == "Z"
    assert label_index("B") == 1 and label_index("b") == 1
    with pytest.raises(ValueError):
        label_index("?")


def test_fold():
    assert fold("  Pneumonia, Lobar! ") == "pneumonia lobar"
    assert fold("STRASSE") == fold("Straße") == "strasse"  # casefold, not lower
    assert fold("snake_case--word") == "snake case word"  # "_" is punctuation too
    assert fold("...") == ""


# -- rendering ------------------------------------------------------------------------------------------
def test_option_lines():
    assert option_line(1, "Pneumonia") == "B. Pneumonia"
    assert option_line(0, None) == "A. None"
    assert option_lines(["x", "y"]) == ["A. x", "B. y"] and option_lines([]) == []
    assert render_options(["x", "y"]) == "A. x\nB. y"
    assert render_options(["x", "y"], trailing_newline=True) == "A. x\nB. y\n"
    assert render_options([]) == "" and render_options([], trailing_newline=True) == ""
    assert labelled(["x", None]) == [("A", "x"), ("B", None)]


def test_render_options_array_equals_the_python_form():
    lists = [["Amoxicillin", "Doxycycline"], ["x", None, "z"], [], ["only"]]
    arr = pa.array(lists, pa.list_(pa.string()))
    want = ["A. Amoxicillin\nB. Doxycycline\n", "A. x\nB. None\nC. z\n", "", "A. only\n"]
    assert render_options_array(arr).to_pylist() == want
    assert want == [render_options(o, trailing_newline=True) for o in lists]
    assert render_options_array(arr.slice(1, 2)).to_pylist() == want[1:3]


# -- the prompts and rows built with them, as the code before ``factory.mcqa.options`` wrote them -----------
def test_decontamination_prompt_text():
    from filters.decontam.decontaminate import Decontaminate

    stage = Decontaminate(benchmarks=[{"name": "tiny", "path": "bench.jsonl", "adapter": "medagents"}])
    assert stage.prompt_text(ROW) == f"{HEAD}\n{LINES}"
    prompt = make_row(id="p:1", source="p", kind="prompt", question="Q: which? (A) alpha (B) beta (C) gamma")
    assert stage.prompt_text(prompt) == "Q: which?\nA. alpha\nB. beta\nC. gamma"


def test_contamination_judge_prompt(tmp_path, monkeypatch):
    from filters.decontam.judge import ContaminationJudge

    monkeypatch.setenv("MCQA_TEST_KEY", "k")
    rec = {"realidx": "q0", "question": "Which antibiotic treats early Lyme disease in adults?",
           "options": {"A": "Amoxicillin", "B": "Doxycycline"}, "answer_idx": "B"}  # fmt: skip
    (tmp_path / "bench.jsonl").write_text(json.dumps(rec) + "\n")
    backend = NOWHERE.model_copy(update={"api_key_env": "MCQA_TEST_KEY"})
    stage = ContaminationJudge(benchmarks=[{"name": "tiny", "path": "bench.jsonl", "adapter": "medagents"}],
                               backend=backend, sampling=SamplingConfig(max_tokens=24))  # fmt: skip
    stage.bind_runtime({"data_dir": str(tmp_path)})
    stage.setup()
    user = stage._messages(ROW, {"item": "tiny:q0"})[1]["content"]
    assert user.startswith(
        "Benchmark test item:\n<<<\nWhich antibiotic treats early Lyme disease in adults?\nA. Amoxicillin\n"
        f"B. Doxycycline\n>>>\n\nTraining example:\n<<<\n{HEAD}\n{LINES}\n>>>\n\nThe training example counts"
    )


def test_deita_instruction_and_response():
    from synth.deita import instruction_and_response

    assert instruction_and_response(ROW) == (
        f"{HEAD}\n{LINES}",
        "Doxycycline is first line.\n\nAnswer: B. Doxycycline",
    )


def test_to_chat_rows_both_paths():
    want = [
        [{"role": "user", "content": "A 30-year-old man returns from a hike.\n\nWhich antibiotic treats early Lyme "
                                     "disease?\n\nA. Amoxicillin\nB. Doxycycline\nC. Vancomycin"},
         {"role": "assistant", "content": "Doxycycline is first line.\n\nThe answer is B. Doxycycline"}],
        [{"role": "user", "content": "Is it benign?\n\nA. Yes\nB. None"},
         {"role": "assistant", "content": "The answer is A. Yes"}],
    ]  # fmt: skip
    stage = ToChat()
    stage.setup()
    assert [stage.process_row(r)["messages"] for r in (ROW, BARE)] == want  # Jinja, row by row
    assert [r["messages"] for r in run_stage(ToChat(), [ROW, BARE])[0]] == want  # Arrow, the table


def test_eval_prompts():
    from train.eval.benchmarks import mcqa_prompt
    from train.eval.cotdb import Example
    from train.eval.medprompt import shot_turns

    assert mcqa_prompt(ROW) == (
        "A 30-year-old man returns from a hike.\n\nWhich antibiotic treats early Lyme disease?\n\n" + LINES
    )
    shot = Example("e", "s", "Which antibiotic?", ("Amoxicillin", "Doxycycline"), 1, "Tick bite.")
    assert shot_turns([shot], None) == [
        {"role": "user", "content": "Which antibiotic?\n\nA. Amoxicillin\nB. Doxycycline"},
        {"role": "assistant", "content": "Tick bite.\n\nThe answer is B. Doxycycline"},
    ]


def test_cot_user_turn():
    from synth.cot import ChainOfThought

    stage = ChainOfThought(backend=NOWHERE)
    stage.setup()
    assert stage.build_requests(ROW, 0)[0].messages[-1]["content"] == (
        "Context: A 30-year-old man returns from a hike.\n\nQuestion: Which antibiotic treats early Lyme disease?"
        f"\n\nOptions:\n{LINES}\n\nCorrect answer: B. Doxycycline\n\n"
        "Reference notes (use them, do not quote them): Doxycycline is first line."
    )


# -- reading option lines back --------------------------------------------------------------------------
def test_split_rendered_reads_what_render_options_wrote():
    text = f"Which?\n\n{render_options(['x', 'y'], trailing_newline=True)}"
    assert split_rendered(text) == ("Which?\n", ["x", "y"])
    assert split_rendered("Q\nB. one\nA. x\nB. y") == ("Q\nB. one", ["x", "y"])  # "B." above "A." stays
    assert split_rendered("Which?\n\nB. x\nC. y") == ("Which?\n\nB. x\nC. y", [])  # must start at A
    assert split_rendered("Q\nA. x") == ("Q\nA. x", [])  # at least two
    assert split_rendered("Q\nA) x\nB) y")[1] == []  # only the rendered form
    assert split_rendered("Q\nA. x\nC. y")[1] == []  # in order


def test_split_options_finds_a_run_inside_a_prompt():
    stem, opts = split_options(
        "You are a doctor.\nWhat is X?\nA. one thing\nB) two\n(C) three\nD. four\n\nExplain."
    )
    assert opts == ["one thing", "two", "three", "four"] and "What is X?" in stem and "two" not in stem
    assert split_options("Q: which? (A) alpha (B) beta (C) gamma")[1] == ["alpha", "beta", "gamma"]
    assert split_options("Vitamin A. B cells. C. difficile")[1] == []
    assert split_options("a. x\nb. y\nunrelated line\nc. z")[1] == []
    assert split_options("Q\nA. x\nB. y") == ("Q\nA. x\nB. y", [])  # 3 at least, unless told
    assert split_options("Q\nA. x\nB. y", min_options=2) == ("Q\n", ["x", "y"])


def test_listed_options():
    assert listed_options("Which?\nA. one\nB. two\n(C) three\nd) four") == ["one", "two", "three", "four"]
    assert listed_options("Which? A. alone") == []
    assert listed_options("First list:\nA. x\nB. y\nSecond:\nA. p\nB. q\nC. r") == ["p", "q", "r"]
    assert listed_options("A. x\nsome words\nB. y") == ["x", "y"]  # other lines may sit between
    assert listed_options(None) == [] and listed_options("A. x\nB. y", min_options=3) == []


def test_strip_labels():
    assert strip_labels(["A. one", "B) two", "C.  three"]) == ["one", "two", "three"]
    assert strip_labels(["A. one", "C. two"]) == ["A. one", "C. two"]  # not in order: left alone
    assert strip_labels(["a. one", "b. two"]) == ["a. one", "b. two"]  # capitals only
    assert strip_labels(["Vitamin A", "B cells"]) == ["Vitamin A", "B cells"]


def test_option_mentions():
    text = "A. Acute cystitis: no.\n- b) Pneumonia - yes\nSo option C (nephrolithiasis) is out."
    assert option_mentions(text) == [
        ("A", "Acute cystitis: no."),
        ("B", "Pneumonia - yes"),
        ("C", "nephrolithiasis"),
    ]
    assert option_mentions("Vitamin B12 is normal.") == []
