"""``dedup_text``: which text near-dedup compares (Aloe: question + answer for QA pairs, speaker-named
turns for dialogues), and ``minhash_dedup`` with those choices at Aloe's thresholds and DataTrove's
14 x 8 banding, on inline rows under both executors."""

from __future__ import annotations

from factory.rows import make_row
from factory.testing import run_stage
from filters.dedup.minhash import MinHashDedup
from filters.dedup.text import dedup_text

QUESTION = (
    "A 54-year-old man comes to the emergency department with crushing substernal chest pain that began two "
    "hours ago while he was shovelling snow. The pain radiates to his left arm and jaw and is accompanied by "
    "sweating and nausea. His blood pressure is 150/90 mm Hg and the electrocardiogram shows ST-segment "
    "elevation in leads II, III and aVF. Which coronary artery is most likely occluded?"
)
DIALOGUE = [
    {"role": "user", "content": "I have had a dry cough and a mild fever for three days, and now my chest "
     "feels tight when I climb the stairs at home. I am fifty years old and I smoke ten cigarettes a day."},
    {"role": "assistant", "content": "Thank you for the details. A dry cough with fever and chest tightness "
     "can come from a viral bronchitis, but in a smoker of your age a chest examination and possibly an x-ray "
     "are worth doing to rule out pneumonia. Please see your doctor within a day or two, and sooner if you "
     "become short of breath at rest, cough up blood or the fever rises above 39 degrees."},
]  # fmt: skip


def mcqa(i: int, options: list[str], gold: int, question: str = QUESTION) -> dict:
    return make_row(id=f"m:{i}", source="m", kind="mcqa", question=question, options=options, answer_idx=gold)


def test_texts_per_choice():
    row = mcqa(0, ["Left circumflex", "Right coronary", "Left anterior descending"], 1)
    row["explanation"] = "Inferior leads point to the right coronary artery."
    assert dedup_text(row, "question_answer") == f"{QUESTION} Right coronary"
    assert dedup_text(row, "question") == QUESTION
    assert "Left circumflex" in dedup_text(row, "all") and "Inferior leads" in dedup_text(row, "all")
    assert dedup_text(row, "turns") == f"user: {QUESTION}\nassistant: Right coronary"
    qa = make_row(id="q", source="q", kind="qa", question="What is gout?", answer="A form of arthritis.")
    assert dedup_text(qa, "question_answer") == "What is gout? A form of arthritis."
    chat = make_row(id="c", source="c", kind="chat", messages=DIALOGUE)
    turns = dedup_text(chat, "turns")
    assert turns.startswith("user: I have had") and "\nassistant: Thank you" in turns
    assert dedup_text(chat, "question_answer") == turns  # dialogues compare as turns
    assert dedup_text(chat, "question") == DIALOGUE[0]["content"]
    pair = make_row(
        id="p", source="p", kind="preference", prompt=DIALOGUE[:1],
        chosen=[{"role": "assistant", "content": "See a doctor."}], rejected=[{"role": "assistant", "content": "No."}],
    )  # fmt: skip
    assert dedup_text(pair, "turns") == f"user: {DIALOGUE[0]['content']}\nassistant: See a doctor."


def test_question_answer_meets_reworded_distractors(executor):
    rows = [
        mcqa(0, ["Left circumflex artery", "Right coronary artery", "Left anterior descending artery",
                 "Left main coronary artery"], 1),
        mcqa(1, ["Posterior descending branch only", "Right coronary artery", "Obtuse marginal branch",
                 "First diagonal branch"], 1),
        mcqa(2, ["Left circumflex artery", "Right coronary artery", "Left anterior descending artery",
                 "Left main coronary artery"], 2, QUESTION.replace("II, III and aVF", "V1 to V4").replace(
                 "shovelling snow", "running for a bus").replace("left arm and jaw", "back")),  # another item
    ]  # fmt: skip
    aloe = MinHashDedup(on="question_answer", threshold=0.72, bands=14, rows=8)
    kept, drops, stats = run_stage(aloe, rows, executor)
    assert [r["id"] for r in kept] == ["m:0", "m:2"]
    assert [(d["id"], d["reason"], d["detail"].split()[0]) for d in drops] == [
        ("m:1", "near_duplicate", "duplicate_of=m:0")
    ]
    assert (stats["report"]["bands"], stats["report"]["rows"]) == (14, 8)
    kept, drops, _ = run_stage(MinHashDedup(on="all", threshold=0.72, bands=14, rows=8), rows, executor)
    assert len(kept) == 3 and not drops  # whole text: the distractors keep them apart


def test_turns_on_dialogues_only(executor):
    edited = [DIALOGUE[0], {**DIALOGUE[1], "content": DIALOGUE[1]["content"].replace("Please see", "Do see")}]
    rows = [
        make_row(id="c:0", source="c", kind="chat", messages=DIALOGUE),
        make_row(id="c:1", source="c", kind="chat", messages=edited),
        make_row(
            id="q:2", source="q", kind="qa", question=DIALOGUE[0]["content"], answer=DIALOGUE[1]["content"]
        ),
        make_row(
            id="q:3", source="q", kind="qa", question=DIALOGUE[0]["content"], answer=DIALOGUE[1]["content"]
        ),
    ]
    stage = MinHashDedup(on="turns", threshold=0.77, bands=14, rows=8, apply_to={"kinds": ["chat"]})
    kept, drops, stats = run_stage(stage, rows, executor)
    assert [d["id"] for d in drops] == ["c:1"]  # the QA copies are not this stage's rows
    assert [r["id"] for r in kept] == ["c:0", "q:2", "q:3"]
    assert stats["rows_in"] == 4 and stats["report"]["docs"] == 2
