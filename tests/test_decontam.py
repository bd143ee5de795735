"""The ``decontaminate`` stage on real benchmark items under the perturbations real copies show, clean
rows full of medical boilerplate, drop details, the manifest report and the benchmark fingerprint."""

from __future__ import annotations

import json
import random
import re

import pytest
from pydantic import ValidationError

from factory.rows import make_row
from factory.sources import SourceConfig, load_source
from factory.testing import run_stage
from filters.decontam import Decontaminate

BENCH = [
    {"name": "medqa_test", "path": "A_medical_mcqa/medagents_benchmark/medqa/test.jsonl", "adapter": "medagents"},
    {"name": "medmcqa_dev", "path": "A_medical_mcqa/medmcqa/medmcqa_dev_4183.jsonl", "adapter": "medmcqa"},
    {"name": "pubmedqa_test", "path": "A_medical_mcqa/medagents_benchmark/pubmedqa/test.jsonl", "adapter": "medagents"},
]  # fmt: skip
DETAIL = re.compile(r"^benchmark=(\S+) item=(\S+) match=(ngram|question|options) .+")


def items(shared_data, name):
    cfg = SourceConfig(**next(b for b in BENCH if b["name"] == name))
    return [r for r in load_source(cfg, shared_data) if r.get("_drop") is None]


def mcqa(i, question, options, context=None):
    return make_row(id=f"t:{i}", source="t", kind="mcqa", question=question, options=options, answer_idx=0,
                    context=context)  # fmt: skip


def qa(i, question):
    return make_row(id=f"t:{i}", source="t", kind="qa", question=question, answer="See above.")


def chat(i, user):
    return make_row(id=f"t:{i}", source="t", kind="chat",
                    messages=[{"role": "user", "content": user}, {"role": "assistant", "content": "A."}])  # fmt: skip


def shout(text):
    """Case, punctuation and whitespace changed the way copies change them."""
    return re.sub(r"\s+", "\n  ", re.sub(r"[.,;:?()]", " ; ", text.upper()))


def edit(text, rng, every=12):
    words = text.split()
    for _ in range(max(1, len(words) // every)):
        i = rng.randrange(len(words))
        words[i] = rng.choice(["patient", "the", "severe", "typically", "xq"])
    return " ".join(words)


@pytest.fixture(scope="module")
def real(shared_data):
    medqa = [r for r in items(shared_data, "medqa_test") if len(r["question"].split()) > 80][:3]
    short = [r for r in items(shared_data, "medmcqa_dev") if 5 <= len(r["question"].split()) <= 9][:40]
    pubmed = items(shared_data, "pubmedqa_test")[:2]
    return medqa, short, pubmed


def test_real_copies_under_perturbations_are_dropped_and_clean_rows_kept(shared_data, real, executor):
    medqa, short, pubmed = real
    rng = random.Random(0)
    q = medqa[0]["question"]
    words = q.split()
    s = next(r for r in short if len(set(r["options"])) == 4)
    copies = {
        "exact": mcqa(0, q, medqa[0]["options"]),
        "case_punct_space": mcqa(1, shout(q), [shout(o) for o in medqa[0]["options"]]),
        "shuffled_options": mcqa(2, medqa[1]["question"], medqa[1]["options"][::-1]),
        "embedded": chat(
            3,
            "You are a doctor. Solve this USMLE question:\n"
            + medqa[2]["question"]
            + "\nA) "
            + "\nB) ".join(medqa[2]["options"])
            + "\nExplain your reasoning.",
        ),  # fmt: skip
        "small_edits": mcqa(4, edit(q, rng), medqa[0]["options"]),
        "partial": qa(5, "Continue this case: " + " ".join(words[len(words) // 4 : 3 * len(words) // 4])),
        "pubmedqa_partial": make_row(id="t:6", source="t", kind="text", text=pubmed[0]["question"][200:900]),
        "short_question_shuffled": mcqa(7, s["question"].lower(), s["options"][::-1]),
        "short_question_embedded": qa(8, f"Q: {s['question']} Options: {', '.join(s['options'])}"),
        "short_question_edited": mcqa(
            9, s["question"].replace(s["question"].split()[1], "xq", 1), s["options"]
        ),
    }
    clean = [
        mcqa(20, "A 45-year-old man presents to the emergency department with crushing chest pain radiating "
             "to his left arm for the past 2 hours. Which of the following is the most likely diagnosis?",
             ["Aortic dissection", "Pericarditis", "Myocardial infarction", "Pneumothorax"]),
        mcqa(21, "All of the following are true except:", ["Xylophone", "Trombone", "Ocarina", "Zither"]),
        qa(22, "Which of the following is the most appropriate next step in management of a patient with "
           "a suspected ankle sprain who can bear weight?"),
        chat(23, "What is the most likely diagnosis for a 30 year old woman with fatigue and weight gain?"),
        qa(24, "Which of the following is not true about glomerular filtration in healthy kidneys?"),
    ]  # fmt: skip
    stage = Decontaminate(benchmarks=BENCH)
    kept, drops, stats = run_stage(stage, list(copies.values()) + clean, executor, data_dir=shared_data)
    dropped = {d["id"]: d for d in drops}
    missed = [name for name, row in copies.items() if row["id"] not in dropped]
    assert missed == []
    assert sorted(r["id"] for r in kept) == sorted(r["id"] for r in clean)
    for d in drops:
        assert d["reason"] == "benchmark_contamination"
        assert DETAIL.match(d["detail"]), d["detail"]
    assert dropped["t:0"]["detail"].startswith(f"benchmark=medqa_test item={medqa[0]['id']} match=ngram")
    assert f"item={s['id']} " in dropped["t:7"]["detail"]
    report = stats["report"]
    assert report["rows_dropped"] == len(copies)
    assert report["hits_per_benchmark"]["medqa_test"] == 6
    assert report["hits_per_benchmark"]["pubmedqa_test"] == 1
    assert report["hits_per_benchmark"]["medmcqa_dev"] >= 3


def tiny_benchmark(folder, questions):
    path = folder / "bench.jsonl"
    recs = [
        {"realidx": f"q{i}", "question": q, "options": {"A": "Amoxicillin", "B": "Doxycycline", "C": "Ceftriaxone"},
         "answer_idx": "A"}
        for i, q in enumerate(questions)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return [{"name": "tiny", "path": "bench.jsonl", "adapter": "medagents"}]


def test_inline_benchmark_ngram_size_and_fingerprint(tmp_path, executor):
    long_q = ("A 6 year old boy is brought to the clinic with a target shaped rash on his thigh two weeks "
              "after a camping trip in Connecticut; what is the best treatment")  # fmt: skip
    entries = tiny_benchmark(tmp_path, [long_q])
    stage = Decontaminate(benchmarks=entries, ngram=20, question_match=False, min_ngram_share=0)
    stage.bind_runtime({"data_dir": str(tmp_path)})
    before = stage.input_fingerprint()
    rows = [
        qa(0, "Note: " + " ".join(long_q.split()[:20]) + " ... rest lost"),  # one 20-gram shared
        qa(1, "Note: " + " ".join(long_q.split()[:19]) + " ... rest lost"),  # 19 words: no 20-gram
    ]
    kept, drops, _ = run_stage(stage, rows, executor, data_dir=tmp_path)
    assert [d["id"] for d in drops] == ["t:0"] and [r["id"] for r in kept] == ["t:1"]
    assert "match=ngram 1 shared 20-grams (8%)" in drops[0]["detail"] and "item=tiny:q0" in drops[0]["detail"]
    # one 20-gram of the item's 12 is under the default share (20%): a shared phrase, not a copy
    share = Decontaminate(benchmarks=entries, ngram=20, question_match=False)
    assert run_stage(share, rows, executor, data_dir=tmp_path)[1] == []
    tiny_benchmark(tmp_path, [long_q, "Which antibiotic treats early Lyme disease in adults?"])
    assert stage.input_fingerprint() != before


def test_params_are_checked(tmp_path):
    with pytest.raises(ValidationError, match="benchmark list 'nope' not found"):
        Decontaminate(include=["nope"])
    with pytest.raises(ValidationError, match="name at least one benchmark"):
        Decontaminate()
    entries = tiny_benchmark(tmp_path, ["Which antibiotic treats early Lyme disease in adults?"])
    with pytest.raises(ValidationError, match="unique"):
        Decontaminate(benchmarks=entries + entries)
    with pytest.raises(ValidationError):
        Decontaminate(benchmarks=entries, ngram=2)
    assert {b.name for b in Decontaminate(include=["medical"]).all_benchmarks()} >= {
        "medqa_test", "medmcqa_dev", "pubmedqa_test", "mmlu_medical_test", "careqa_test"
    }  # fmt: skip
