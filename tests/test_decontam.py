"""The ``decontaminate`` stage on real benchmark items under the changes real copies show (case, typos,
shorthand, truncation, reworded options, prompts around them), clean rows full of medical boilerplate,
candidates for the judge, drop details, the manifest report and the benchmark fingerprint."""

from __future__ import annotations

import json
import random
import re

import pytest
from pydantic import ValidationError
from tests_paths import ROOT

from factory.rows import make_row, missing_fields
from factory.sources import SourceConfig, load_source
from factory.testing import run_stage
from filters.decontam.decontaminate import COLUMN, Decontaminate
from filters.decontam.index import BenchmarkIndex, read_benchmark_list

BENCH = [
    {"name": "medqa_test", "path": "A_medical_mcqa/medagents_benchmark/medqa/test.jsonl", "adapter": "medagents"},
    {"name": "medmcqa_dev", "path": "A_medical_mcqa/medmcqa/medmcqa_dev_4183.jsonl", "adapter": "medmcqa"},
    {"name": "pubmedqa_test", "path": "A_medical_mcqa/medagents_benchmark/pubmedqa/test.jsonl", "adapter": "medagents"},
]  # fmt: skip
DETAIL = re.compile(r"^benchmark=(\S+) item=(\S+) match=(ngram|question|options|terms) score=\d\.\d\d .+")


def items(shared_data, name):
    cfg = SourceConfig(**next(b for b in BENCH if b["name"] == name))
    return [r for r in load_source(cfg, shared_data) if r.get("_drop") is None]


def mcqa(i, question, options, context=None, source="t"):
    return make_row(id=f"t:{i}", source=source, kind="mcqa", question=question, options=options, answer_idx=0,
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


def typos(text, every=5):
    """Two neighbouring letters swapped in every ``every``-th word of 5+ letters."""
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    for i in long[::every]:
        w = words[i]
        words[i] = w[0] + w[2] + w[1] + w[3:]
    return " ".join(words)


def shorthand(text):
    for pattern, short in [
        (r"(\d+)-year-old", r"\1 yo"),
        (r"\bpatient\b", "pt"),
        (r"\bhistory of\b", "hx of"),
        (r"\bwith\b", "w/"),
        (r"\bemergency department\b", "ED"),
        (r"\bblood pressure\b", "BP"),
    ]:
        text = re.sub(pattern, short, text, flags=re.I)
    return text  # fmt: skip


@pytest.fixture(scope="module")
def real(shared_data):
    medqa = [r for r in items(shared_data, "medqa_test") if len(r["question"].split()) > 80][:6]
    short = [r for r in items(shared_data, "medmcqa_dev") if 8 <= len(r["question"].split()) <= 12][:40]
    pubmed = items(shared_data, "pubmedqa_test")[:2]
    return medqa, short, pubmed


def test_real_copies_under_perturbations_are_dropped_and_clean_rows_kept(shared_data, real, executor):
    medqa, short, pubmed = real
    rng = random.Random(0)
    q = medqa[0]["question"]
    words = q.split()
    s = next(r for r in short if len(set(r["options"])) == 4)
    s2 = next(r for r in short[1:] if len(set(r["options"])) == 4 and r["id"] != s["id"])
    labelled = "\n".join(f"{'ABCD'[i]}. {o}" for i, o in enumerate(medqa[2]["options"]))
    copies = {
        "exact": mcqa(0, q, medqa[0]["options"]),
        "case_punct_space": mcqa(1, shout(q), [shout(o) for o in medqa[0]["options"]]),
        "shuffled_options": mcqa(2, medqa[1]["question"], medqa[1]["options"][::-1]),
        "embedded": chat(3, f"You are a doctor. Solve this USMLE question:\n{medqa[2]['question']}\n{labelled}\nExplain."),
        "small_edits": mcqa(4, edit(q, rng), medqa[0]["options"]),
        "partial": qa(5, "Continue this case: " + " ".join(words[len(words) // 4 : 3 * len(words) // 4])),
        "pubmedqa_partial": make_row(id="t:6", source="t", kind="text", text=pubmed[0]["question"][200:900]),
        "short_question_shuffled": mcqa(7, s["question"].lower(), s["options"][::-1]),
        "short_question_embedded": qa(8, f"Q: {s['question']}\n(A) {s['options'][2]} (B) {s['options'][0]} "
                                         f"(C) {s['options'][1]} (D) {s['options'][3]}"),
        "typos": mcqa(9, typos(medqa[3]["question"]), [typos(o, 1) for o in medqa[3]["options"]]),
        "typos_short": mcqa(10, typos(s2["question"], 2), [typos(o, 1) for o in s2["options"]]),
        "shorthand": mcqa(11, shorthand(medqa[4]["question"]), medqa[4]["options"]),
        "truncated": mcqa(12, " ".join(medqa[5]["question"].split()[:60]), medqa[5]["options"]),
        "reworded_options": mcqa(13, s2["question"], [f"The {o.lower()}" for o in s2["options"][::-1]]),
    }  # fmt: skip
    clean = [
        mcqa(20, "A 45-year-old man presents to the emergency department with crushing chest pain radiating "
             "to his left arm for the past 2 hours. Which of the following is the most likely diagnosis?",
             ["Aortic dissection", "Pericarditis", "Myocardial infarction", "Pneumothorax"]),
        mcqa(21, "All of the following are true except:", ["Xylophone", "Trombone", "Ocarina", "Zither"]),
        qa(22, "Which of the following is the most appropriate next step in management of a patient with "
           "a suspected ankle sprain who can bear weight?"),
        chat(23, "What is the most likely diagnosis for a 30 year old woman with fatigue and weight gain?"),
        qa(24, "Which of the following is not true about glomerular filtration in healthy kidneys?"),
        qa(25, "45 yo pt w/ hx of HTN and DM p/w CP x 2 hrs. BP 150/90. Next step?"),
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
    assert dropped["t:0"]["detail"].startswith(
        f"benchmark=medqa_test item={medqa[0]['id']} match=ngram score=1.00"
    )
    assert f"item={s['id']} " in dropped["t:7"]["detail"] and f"item={s2['id']} " in dropped["t:13"]["detail"]
    report = stats["report"]
    assert report["rows_dropped"] == len(copies) and report["rows_checked"] == len(copies) + len(clean)
    assert report["hits_per_benchmark"]["medqa_test"] == 9
    assert report["hits_per_benchmark"]["pubmedqa_test"] == 1
    assert report["hits_per_benchmark"]["medmcqa_dev"] == 4
    assert sum(report["hits_per_match_kind"].values()) == len(copies)


def test_uncertain_candidates_go_to_columns_and_mark_drops_nothing(shared_data, real, executor):
    medqa, short, _ = real
    s = short[3]
    reworded = " ".join(reversed(s["question"].rstrip("?:.").split()))  # its words, another order
    rows = [
        mcqa(0, medqa[0]["question"], medqa[0]["options"]),
        qa(1, f"In other words: {reworded}?"),
        qa(2, "What causes seasonal allergies in children?"),
    ]
    kept, drops, stats = run_stage(Decontaminate(benchmarks=BENCH), rows, executor, data_dir=shared_data)
    assert [d["id"] for d in drops] == ["t:0"]
    by_id = {r["id"]: r for r in kept}
    assert by_id["t:2"][COLUMN] is None
    cands = by_id["t:1"][COLUMN]
    assert cands and cands[0]["item"] == s["id"] and not any(c["confident"] for c in cands)
    assert cands[0]["kind"] in ("terms", "question") and 0 < cands[0]["score"] <= 1
    assert stats["report"]["rows_with_candidates_kept"] == 1
    assert stats["report"]["rows_to_judge"] == 1 and stats["report"]["judge_load"] == round(1 / 3, 4)

    kept, drops, stats = run_stage(Decontaminate(benchmarks=BENCH, action="mark"), rows, executor,
                                   data_dir=shared_data)  # fmt: skip
    assert drops == [] and len(kept) == 3
    assert stats["report"]["rows_to_judge"] == 1  # a confident candidate is not the judge's to ask
    first = next(r for r in kept if r["id"] == "t:0")[COLUMN][0]
    assert first["confident"] and first["item"] == medqa[0]["id"] and first["kind"] == "ngram"


def test_report_has_examples_charts_and_warnings(shared_data, real):
    medqa, short, _ = real
    rows = [mcqa(i, r["question"], r["options"], source="leaky") for i, r in enumerate(short[:12])]
    rows += [mcqa(100 + i, f"Which enzyme is deficient in disorder number {i}?", ["A1", "B2", "C3", "D4"],
                  source="leaky") for i in range(8)]  # fmt: skip
    _, drops, stats = run_stage(Decontaminate(benchmarks=BENCH), rows, data_dir=shared_data)
    report = stats["report"]
    assert len(drops) == 12 and report["rows_dropped"] == 12
    assert set(report["hits_per_benchmark"]) == {"medqa_test", "medmcqa_dev", "pubmedqa_test"}
    charts = report["charts"]
    assert (
        charts["hits_per_benchmark"]["kind"] == "bar"
        and charts["hits_per_benchmark"]["data"]["medmcqa_dev"] == 12
    )
    assert charts["matches_per_kind"]["kind"] == "grouped_bar"
    assert sum(charts["matches_per_kind"]["data"]["dropped"].values()) == 12
    example = next(iter(report["examples"].values()))[0]
    assert example["item"].startswith("medmcqa_dev:") and example["row"].startswith("t:")
    assert report["warnings"] == ["source 'leaky': 12 of 20 rows copy benchmark items (dropped)"]
    json.dumps(report)


def tiny_benchmark(folder, questions):
    path = folder / "bench.jsonl"
    recs = [
        {"realidx": f"q{i}", "question": q, "options": {"A": "Amoxicillin", "B": "Doxycycline", "C": "Ceftriaxone"},
         "answer_idx": "A"}
        for i, q in enumerate(questions)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return [{"name": "tiny", "path": "bench.jsonl", "adapter": "medagents"}]


LONG_Q = ("A 6 year old boy is brought to the clinic with a target shaped rash on his thigh two weeks "
          "after a camping trip in Connecticut; what is the best treatment")  # fmt: skip


def test_inline_benchmark_ngram_size_and_fingerprint(tmp_path, executor):
    entries = tiny_benchmark(tmp_path, [LONG_Q])
    stage = Decontaminate(benchmarks=entries, ngram=20, question_match=False, terms=False, min_ngram_share=0)
    stage.bind_runtime({"data_dir": str(tmp_path)})
    before = stage.input_fingerprint()
    rows = [
        qa(0, "Note: " + " ".join(LONG_Q.split()[:20]) + " ... rest lost"),  # one 20-gram shared
        qa(1, "Note: " + " ".join(LONG_Q.split()[:19]) + " ... rest lost"),  # 19 words: no 20-gram
    ]
    kept, drops, _ = run_stage(stage, rows, executor, data_dir=tmp_path)
    assert [d["id"] for d in drops] == ["t:0"] and [r["id"] for r in kept] == ["t:1"]
    assert "match=ngram score=0.08 1 shared 20-grams (8%)" in drops[0]["detail"]
    assert "item=tiny:q0" in drops[0]["detail"]
    # one 20-gram of the item's 12 is under the default share (20%): a shared phrase, not a copy
    share = Decontaminate(benchmarks=entries, ngram=20, question_match=False, terms=False)
    assert run_stage(share, rows, executor, data_dir=tmp_path)[1] == []
    tiny_benchmark(tmp_path, [LONG_Q, "Which antibiotic treats early Lyme disease in adults?"])
    assert stage.input_fingerprint() != before


def test_benchmark_index_api(tmp_path):
    entries = tiny_benchmark(tmp_path, [LONG_Q, "Which antibiotic treats early Lyme disease in adults?"])
    index = BenchmarkIndex.build(entries, tmp_path)
    assert index.stats()["items"] == 2
    copied, typo, clean = index.match([
        "Few-shot example 1: " + LONG_Q + " A) Amoxicillin B) Doxycycline C) Ceftriaxone",
        "Which antibiotic treats erly Lyme diseaes in adults? Amoxicillin, Doxycycline or Ceftriaxone",
        "Which vaccine prevents shingles in adults over fifty?",
    ])  # fmt: skip
    assert copied[0].item == "tiny:q0" and copied[0].confident and copied[0].benchmark == "tiny"
    assert typo[0].item == "tiny:q1" and typo[0].confident
    assert clean == []
    assert BenchmarkIndex.build(entries, tmp_path, question_match=False).rules.question_match is False


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
    with pytest.raises(ValidationError):
        Decontaminate(benchmarks=entries, semantic={"min_cosine": 2})
    assert {b.name for b in Decontaminate(include=["medical"]).all_benchmarks()} >= {
        "medqa_test", "medmcqa_dev", "pubmedqa_test", "mmlu_medical_test", "careqa_test"
    }  # fmt: skip


def test_semantic_neighbours_are_judge_candidates(tmp_path, one_torch_thread):
    pytest.importorskip("sentence_transformers")
    entries = tiny_benchmark(tmp_path, [LONG_Q, "Which antibiotic treats early Lyme disease in adults?"])
    stage = Decontaminate(benchmarks=entries, semantic={"min_cosine": 0.5})
    rows = [
        qa(0, "For a grown-up with initial-stage Lyme borreliosis, what is the preferred antimicrobial?"),
        qa(1, "How do I bake sourdough bread at home?"),
    ]
    kept, drops, _ = run_stage(stage, rows, data_dir=tmp_path, store_dir=tmp_path / "store")
    assert drops == []
    by_id = {r["id"]: r for r in kept}
    (cand,) = by_id["t:0"][COLUMN]
    assert cand["kind"] == "semantic" and cand["item"] == "tiny:q1" and not cand["confident"]
    assert cand["score"] >= 0.5 and by_id["t:1"][COLUMN] is None
    assert list((tmp_path / "store" / "decontam_embeddings").glob("*.npy"))  # item embeddings kept


HAND = ROOT / "bench" / "data" / "decontam" / "rephrased_by_hand.jsonl"


def hand_records(suffix=".jsonl"):
    return [json.loads(x) for x in HAND.with_suffix(suffix).read_text().splitlines() if x.strip()]


def test_hand_rephrasing_set_loads_as_training_rows():
    recs, clean = hand_records(), hand_records(".clean.jsonl")
    assert len(recs) >= 100 and len({r["item"] for r in recs}) == len(recs)
    assert len({r["benchmark"] for r in recs}) >= 4 and len({r["kind"] for r in recs}) >= 5
    for rec in recs:
        row = make_row(id=rec["id"], source="rephrased", **rec["row"])
        assert missing_fields(row) == [] and rec["checked"], rec["id"]
        assert rec["word_overlap"] < 0.8 and row["question"] != rec["original"]["question"], rec["id"]
    assert len(clean) >= 300 and {"source", "path", "adapter", "row"} <= set(clean[0])


def test_hand_rephrasings_name_real_items_and_clean_rows_exist(shared_data):
    lists = {c.name: c for c in read_benchmark_list("medical")}
    for name in sorted({r["benchmark"] for r in hand_records()}):
        items = {r["id"]: r for r in load_source(lists[name], shared_data)}
        for rec in (r for r in hand_records() if r["benchmark"] == name):
            item = items[rec["item"]]
            question = item["question"].strip().rpartition("\n")[2] if name == "pubmedqa_test" else item["question"]
            assert rec["original"]["question"] == question and rec["original"]["options"] == item["options"]
            assert rec["original"]["answer_idx"] == item["answer_idx"]
    refs = hand_records(".clean.jsonl")
    for source in sorted({r["source"] for r in refs}):
        ref = next(r for r in refs if r["source"] == source)
        cfg = SourceConfig(name=source, path=ref["path"], adapter=ref["adapter"])
        ids = {r["id"] for r in load_source(cfg, shared_data)}
        assert {r["row"] for r in refs if r["source"] == source} <= ids


def test_semantic_margin_and_question_view(tmp_path, one_torch_thread):
    """``min_margin``: a neighbour far closer to the row than the row's and the item's other neighbours is a
    candidate below ``min_cosine``; ``question_view``: an item is matched by its question alone too (the
    higher cosine counts), which an open question without the options needs."""
    pytest.importorskip("sentence_transformers")
    entries = tiny_benchmark(tmp_path, [LONG_Q, "Which antibiotic treats early Lyme disease in adults?"])
    rows = [
        qa(0, "For a grown-up with initial-stage Lyme borreliosis, what is the preferred antimicrobial?"),
        qa(1, "How do I bake sourdough bread at home?"),
    ]

    def found(**semantic):
        stage = Decontaminate(benchmarks=entries, semantic=semantic)
        kept, drops, _ = run_stage(stage, rows, data_dir=tmp_path, store_dir=tmp_path / "store")
        assert drops == []
        return {r["id"]: r[COLUMN] for r in kept}

    assert found(min_cosine=0.99) == {"t:0": None, "t:1": None}
    by_margin = found(min_cosine=0.99, min_margin=1.2)
    (cand,) = by_margin["t:0"]
    assert cand["item"] == "tiny:q1" and "margin" in cand["evidence"] and by_margin["t:1"] is None
    plain = found(min_cosine=0.3)["t:0"][0]
    viewed = found(min_cosine=0.3, question_view=True)["t:0"][0]
    assert viewed["item"] == plain["item"] == "tiny:q1" and viewed["score"] > plain["score"]


def test_bm25_is_normalised_by_the_items_own_score():
    import numpy as np

    from filters.decontam.bm25 import Bm25Index

    docs = [np.array([1, 2, 3]), np.array([3, 4, 5, 6, 7, 8]), np.array([9])]
    bm = Bm25Index(docs, 10)
    rows = bm.scores(np.array([1, 2, 3, 3, 4, 5, 6, 7, 8, 0]), np.array([3, 7]))  # row 0 = item 0; row 1 = item 1
    own = rows.toarray() / bm.own
    assert own[0, 0] == pytest.approx(1.0) and own[1, 1] == pytest.approx(1.0)
    assert 0 < own[0, 1] < 0.5 and own[0, 2] == 0.0  # one shared token of six; none
    assert Bm25Index.top(rows, 2) == [[0, 1], [1, 0]]


def test_semantic_fused_score_decides_candidates(tmp_path, one_torch_thread):
    """Fused mode: the pool (cosine and BM25 neighbours, the cheap tiers' uncertain candidates) is scored by
    ``FUSED_WEIGHTS``; only pool items at ``min_fused`` or above are candidates, with their evidence."""
    pytest.importorskip("sentence_transformers")
    entries = tiny_benchmark(tmp_path, [LONG_Q, "Which antibiotic treats early Lyme disease in adults?"])
    rows = [
        qa(0, "For a grown-up with initial-stage Lyme borreliosis, what is the preferred antimicrobial?"),
        qa(1, "How do I bake sourdough bread at home?"),
    ]

    def found(min_fused):
        stage = Decontaminate(benchmarks=entries, semantic={"top_k": 1, "lexical_top_k": 1, "min_fused": min_fused})
        kept, drops, _ = run_stage(stage, rows, data_dir=tmp_path, store_dir=tmp_path / "store")
        assert drops == []
        return {r["id"]: r[COLUMN] for r in kept}

    everything = found(-1e9)  # every pool item: the row's nearest item by cosine and by BM25
    assert everything["t:0"][0]["item"] == "tiny:q1" and len(everything["t:1"]) >= 1  # best first
    assert all("fused" in c["evidence"] and "bm25" in c["evidence"] for c in everything["t:0"])
    assert found(1e9) == {"t:0": None, "t:1": None}
    middle = found(0.0)
    assert middle["t:1"] is None and (middle["t:0"] is None or middle["t:0"][0]["item"] == "tiny:q1")
