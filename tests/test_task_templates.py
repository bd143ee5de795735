"""Instruction templates for non-QA data: the shipped bank parses, rows become Alpaca-layout QA rows with the
template recorded, the draw is deterministic per row and independent of order, under both executors; and
the bank files read from ../shared/data shapes (ChatDoctor disease table, MedQuAD question types)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from pydantic import ValidationError

from factory.rows import make_row
from factory.stages.task_templates import BANK, TaskTemplates, _items, read_bank
from factory.testing import run_stage

TABLE_META = {
    "Symptom": "['Hoarse voice', 'Sore throat', 'Difficulty speaking']",
    "commonMedications": "['Esomeprazole (Nexium)', 'Fluticasone nasal product']",
}
QTYPES = ["symptoms", "treatment", "causes", "inheritance"]


def table_row(i: int, disease: str, **meta) -> dict:
    return make_row(id=f"t:{i}", source="tables", kind="text", subject=disease, text=f"{disease} is a condition.",
                    meta={**TABLE_META, **meta})  # fmt: skip


def stage(**kw) -> TaskTemplates:
    return TaskTemplates(
        tasks=[
            {"task": "diagnosis", "sources": ["tables"], "input": "{{ meta.Symptom | items }}", "output": "{{ subject }}"},
            {"task": "treatment_recommendation", "sources": ["tables"], "input": "{{ subject }}",
             "output": "{{ meta.commonMedications | items }}"},
            {"task": "question_type", "sources": ["questions"], "input": "{{ question }}", "output": "{{ subject }}",
             "labels": QTYPES},
        ],
        **kw,
    )  # fmt: skip


def test_shipped_bank():
    banks = [read_bank(BANK, p.stem) for p in sorted(BANK.glob("*.yaml"))]
    assert len(banks) >= 8 and sum(len(b.templates) for b in banks) >= 50
    assert len({b.subtask for b in banks}) == len(banks)  # one Aloe-style sub-task per bank


def test_rows_become_instructions_with_the_template_recorded(executor):
    rows = [table_row(i, d) for i, d in enumerate(["Vocal cord polyp", "Laryngitis", "Reflux", "Croup"])]
    rows += [
        make_row(id=f"q:{i}", source="questions", kind="prompt", question=q, subject=t)
        for i, (q, t) in enumerate(
            [("What causes gout ?", "causes"), ("Is Bell's palsy inherited ?", "inheritance")]
        )
    ]
    rows += [
        make_row(id="o:0", source="other", kind="qa", question="What is gout?", answer="Arthritis."),
        table_row(9, "No symptoms listed", Symptom="[]", commonMedications="[]"),
    ]  # fmt: skip
    kept, drops, stats = run_stage(stage(), rows, executor)
    by_id = {r["id"]: r for r in kept}
    assert [(d["id"], d["reason"]) for d in drops] == [("t:9", "template_no_input" if json.loads(
        drops[0]["row"])["task"] == "diagnosis" else "template_no_output")]  # fmt: skip
    assert by_id["o:0"]["task"] is None and by_id["o:0"]["question"] == "What is gout?"
    for r in kept[:4]:
        assert (
            r["kind"] == "qa" and r["text"] is None and r["task"] in ("diagnosis", "treatment_recommendation")
        )
        bank = read_bank(BANK, r["task"])
        assert r["template_id"].split("/")[1] in {t["id"] for t in bank.templates}
        if r["task"] == "diagnosis":
            assert (
                r["answer"] == r["subject"]
                and "Hoarse voice, Sore throat, Difficulty speaking" in r["question"]
            )
        else:
            assert (
                r["answer"] == "Esomeprazole (Nexium), Fluticasone nasal product"
                and r["subject"] in r["question"]
            )
    q = by_id["q:0"]
    assert q["task"] == "question_type" and q["answer"] == "causes"
    assert (
        "symptoms, treatment, causes, inheritance" in q["question"] and "What causes gout ?" in q["question"]
    )
    again, _, _ = run_stage(stage(), list(reversed(rows)), executor)
    assert {r["id"]: r["template_id"] for r in again} == {r["id"]: r["template_id"] for r in kept}
    other_seed, _, _ = run_stage(stage(seed=7), rows, executor)
    assert {r["id"]: r["template_id"] for r in other_seed} != {r["id"]: r["template_id"] for r in kept}


def test_alpaca_layout_and_input_placement():
    s = stage()
    s.setup()
    used = Counter()
    for i in range(200):
        r = s.process_row(table_row(i, f"Disease {i}"))
        used[r["template_id"]] += 1
        if r["template_id"] == "diagnosis/dx-4":  # places {{ input }} itself
            assert r["question"].startswith("Symptoms: Hoarse voice") and r["question"].count("Hoarse") == 1
        elif r["task"] == "diagnosis":  # instruction, blank line, input
            assert r["question"].endswith("\n\nHoarse voice, Sore throat, Difficulty speaking")
    assert len(used) >= 12  # the draw spreads over both banks' templates


def test_items_filter():
    assert _items("['a', 'b']") == "a, b" and _items('["x"]') == "x" and _items(["p", "q"]) == "p, q"
    assert _items("[not a list") == "[not a list" and _items(None) == ""


def test_bad_banks_and_specs(tmp_path):
    with pytest.raises(ValidationError, match="no template bank 'no_such_task'"):
        TaskTemplates(tasks=[{"task": "no_such_task", "input": "{{ question }}", "output": "{{ answer }}"}])
    (tmp_path / "mine.yaml").write_text(
        "task: mine\nsubtask: x\ntemplates:\n  - {id: a, text: '{{ input '}\n"
    )
    with pytest.raises(ValueError, match="mine.yaml"):
        read_bank(tmp_path, "mine")
    (tmp_path / "dup.yaml").write_text(
        "task: dup\nsubtask: x\ntemplates: [{id: a, text: x}, {id: a, text: y}]\n"
    )
    with pytest.raises(ValueError, match="unique `id`"):
        read_bank(tmp_path, "dup")


def test_own_bank_from_the_data_folder(tmp_path, executor):
    (tmp_path / "banks").mkdir()
    (tmp_path / "banks" / "note.yaml").write_text(
        "task: note\nsubtask: dialogue_to_note\ntemplates:\n  - {id: n1, text: 'Write a clinical note for this visit.'}\n"
    )
    s = TaskTemplates(bank_dir="banks", tasks=[{"task": "note", "kinds": ["chat"], "input":
        "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}", "output": "{{ meta.note }}"}])  # fmt: skip
    row = make_row(id="c:0", source="c", kind="chat", meta={"note": "Sore throat, 3 days."},
                   messages=[{"role": "user", "content": "My throat hurts."}, {"role": "assistant", "content": "Since when?"}])  # fmt: skip
    kept, drops, _ = run_stage(s, [row], executor, data_dir=tmp_path)
    assert not drops and kept[0]["template_id"] == "note/n1" and kept[0]["messages"] is None
    assert (
        kept[0]["question"]
        == "Write a clinical note for this visit.\n\nuser: My throat hurts.\nassistant: Since when?"
    )
    assert kept[0]["answer"] == "Sore throat, 3 days."
