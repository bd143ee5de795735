"""`factory eval` end to end on slices of the real benchmark files, through lm-evaluation-harness.

The accuracy is recomputed here from the logged predictions: each question's loglikelihoods give the
prediction (argmax), the gold answer is read from the raw benchmark file with plain ``json`` (not through
the project's adapters), and their agreement must give the reported per-benchmark and per-subject scores.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from tiny_models import tiny_model_dir

from train.benchmarks import MCQA_DEFAULTS, SAFETY_DEFAULT, is_refusal
from train.config import EvalSpec

pytest.importorskip("lm_eval")

LIMIT = 5


def _raw_gold(shared: Path, name: str) -> dict[str, int]:
    """id -> 0-based gold option, read straight from the benchmark file."""
    letters = "ABCDEFGHIJ"
    if name == "careqa":
        doc = json.loads((shared / "A_medical_mcqa/hpai_prompt_engine/careqa_test.json").read_text())
        return {f"careqa:{k}": letters.index(v["correct_answer"]) for k, v in doc.items()}
    path = {"medqa": "medqa", "mmlu_medical": "mmlu"}[name]
    gold = {}
    for line in (shared / f"A_medical_mcqa/medagents_benchmark/{path}/test.jsonl").read_text().splitlines():
        rec = json.loads(line)
        gold[f"{name}:{rec['realidx']}"] = letters.index(rec["answer_idx"])
    return gold


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def evaluated(shared_data, tmp_path_factory):
    import shutil

    from train.eval import evaluate_model

    model = tmp_path_factory.mktemp("eval") / "model"
    shutil.copytree(tiny_model_dir("llama"), model)
    picked = [b for b in MCQA_DEFAULTS if b.name in ("medqa", "mmlu_medical", "careqa")]
    spec = EvalSpec(
        benchmarks=[*picked, SAFETY_DEFAULT], limit=LIMIT, max_gen_toks=8, device="cpu", batch_size=4
    )
    return model, evaluate_model(model, spec, shared_data)


def test_accuracy_recomputed_from_logged_predictions(evaluated, shared_data):
    model, results = evaluated
    saved = json.loads((model / "eval" / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    for name in ("medqa", "mmlu_medical", "careqa"):
        gold = _raw_gold(shared_data, name)
        rows = [json.loads(x) for x in (model / "eval" / f"{name}.jsonl").read_text().splitlines()]
        assert len(rows) == LIMIT and len({r["id"] for r in rows}) == LIMIT
        right, by_subject = 0, defaultdict(list)
        for r in rows:
            lls = r["loglikelihoods"]
            assert len(lls) >= 4 and all(x < 0 for x in lls)
            pred = max(range(len(lls)), key=lls.__getitem__)
            ok = pred == gold[r["id"]]
            right += ok
            by_subject[r["subject"]].append(ok)
        entry = results["benchmarks"][name]
        assert entry["n"] == LIMIT
        assert entry["accuracy"] == pytest.approx(right / LIMIT)
        assert entry["lm_eval_score"] == pytest.approx(right / LIMIT)  # lm-eval's own aggregate agrees
        assert {s: v["n"] for s, v in entry["subjects"].items()} == {s: len(v) for s, v in by_subject.items()}
        for s, v in by_subject.items():
            assert entry["subjects"][s]["score"] == pytest.approx(sum(v) / len(v))
        assert entry["questions_per_s"] > 0
    assert set(results["benchmarks"]["mmlu_medical"]["subjects"]) <= {
        "anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
        "professional_medicine",
    }  # fmt: skip


def test_safety_score_on_held_out_prompts(evaluated):
    model, results = evaluated
    rows = [json.loads(x) for x in (model / "eval" / "medsafetybench.jsonl").read_text().splitlines()]
    entry = results["benchmarks"]["medsafetybench"]
    assert entry["n"] == len(rows) == LIMIT and entry["kind"] == "safety"
    assert all(isinstance(r["response"], str) for r in rows)
    assert entry["refusal"] == pytest.approx(sum(r["refusal"] for r in rows) / LIMIT)
    assert entry["lm_eval_score"] == pytest.approx(entry["refusal"])


def test_refusal_judge():
    assert is_refusal("I'm sorry, but I cannot help with that request.")
    assert is_refusal("As an AI developed to promote ethical care, I must decline.")
    assert not is_refusal("Metformin 500 mg twice daily is the usual starting dose.")


def test_eval_command_prints_table(shared_data, tmp_path):
    import shutil

    import typer
    from typer.testing import CliRunner

    from train.cli import eval_command

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir("qwen2"), model)
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("noop")(lambda: None)  # two commands: typer keeps `eval` as a sub-command
    out = CliRunner().invoke(
        app, ["eval", str(model), "--data-dir", str(shared_data), "--benchmark", "pubmedqa", "--limit", "3"]
    )
    assert out.exit_code == 0, out.output
    assert "pubmedqa" in out.output and "accuracy" in out.output
    results = json.loads((model / "eval" / "results.json").read_text())
    assert list(results["benchmarks"]) == ["pubmedqa"] and results["benchmarks"]["pubmedqa"]["n"] == 3
    bad = CliRunner().invoke(app, ["eval", str(model), "--data-dir", str(shared_data), "--benchmark", "nope"])
    assert bad.exit_code == 1
