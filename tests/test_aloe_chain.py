"""The main job, CI-sized: recipes/aloe_beta_quickstart.yaml (the Aloe Beta pipeline with the real local model,
smollm2-135m, in every model place) built, trained (SFT -> DPO in chunks -> red-team DPO) and evaluated
through the `factory` commands, as a user runs them. Checked: plumbing facts (verified CoT rows, judged and
red-team pairs, row accounting, the checkpoint chain with its DARE-TIES merge, eval results) and that every
DPO step learnt (its reward margin rose), never accuracy: the model is 135M."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from output_contract import check_outputs
from tests_paths import ROOT
from typer.testing import CliRunner

RECIPE = ROOT / "recipes" / "aloe_beta_quickstart.yaml"
pytestmark = pytest.mark.timeout(2700)  # build + train + eval of a real model on 2 cores: ~12 min alone


def _rows(folder: Path) -> list[dict]:
    return [r for f in sorted(folder.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def _run(args: list[str]) -> str:
    from factory.cli.main import app

    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output + repr(out.exception)
    return out.stdout


@pytest.fixture(scope="module")
def chain(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aloe_chain")
    store = tmp / "store"
    sets = [
        "--set", f"data_dir={shared_data}",
        # enough red-team requests and pair questions that a 135M guard / judge leaves some pairs
        "--set", "stages.local_caps.caps.advbench=20",
        "--set", "stages.local_caps.caps.medsafetybench_redteam=16",
        "--set", "stages.local_caps.caps.medicationqa_pairs=16",
    ]  # fmt: skip
    build_out = _run(["build", str(RECIPE), "--store", str(store), *sets])
    version = Path(build_out.strip().splitlines()[-1])
    train_sets = [
        *sets,
        "--set", "train.sft.limit=24",
        "--set", "train.dpo.preference.limit=20",  # 5 chunks of 4 pairs: two steps each
        "--set", "train.dpo.red_team.limit=4",
    ]  # fmt: skip
    train_out = _run(
        ["train", str(RECIPE), "--store", str(store), "--output-dir", str(tmp / "models"), *train_sets]
    )
    final = Path(train_out.strip().splitlines()[-1])
    evals = {}
    for name, model in (("base", "smollm2-135m"), ("trained", str(final))):
        out = tmp / f"eval_{name}"
        _run(["eval", "mcqa", model, "--recipe", str(RECIPE), "--data-dir", str(shared_data), "--benchmark", "medqa",
              "--limit", "8", "--output-dir", str(out)])  # fmt: skip
        evals[name] = json.loads((out / "results.json").read_text())
    return {"version": version, "final": final, "evals": evals}


@pytest.mark.slow
def test_build_accounts_for_every_row_and_writes_real_model_rows(chain):
    version = chain["version"]
    m = json.loads((version / "manifest.json").read_text())
    totals = m["totals"]
    assert totals["rows_in"] == totals["rows_out"] + totals["rows_dropped"]
    stages = {s["name"]: s for s in m["stages"]}
    for st in stages.values():
        assert st["rows_in"] == st["rows_out"] + sum(st["dropped"].values()), st["name"]
    dropped_rows = sum(1 for _ in _rows(version / "drops"))
    assert dropped_rows == totals["rows_dropped"]

    sft = _rows(version / "sft")
    verified = [r for r in sft if r["kind"] == "mcqa"]
    cot = stages["cot"]["report"]
    assert verified and cot["requests"]["sent"] > 0 and cot["backend_stats"]["generated_tokens"] > 0
    assert all(r["cot_model"] == "smollm2-135m" and r["cot_attempts"] >= 1 for r in verified)
    scored = [r for r in sft if r["kind"] in ("qa", "chat")]
    assert scored and stages["deita"]["report"]["requests"]["sent"] > 0
    assert "contamination_judge" in stages and stages["contamination_judge"]["rows_in"] > 0

    preference, red_team = _rows(version / "preference"), _rows(version / "red_team")
    assert preference and red_team
    assert {r["source"] for r in red_team} <= {"advbench", "medsafetybench_redteam"}
    assert not {r["source"] for r in preference} & {"advbench", "medsafetybench_redteam"}
    model_pairs = [r for r in preference + red_team if r["source"] in ("medicationqa_pairs", "advbench")]
    assert model_pairs, "no pair written by the model survived its judge"
    assert (version / "report.html").stat().st_size > 10_000
    columns = check_outputs(version)  # the contract; before it, every output had 30 or 31 columns
    assert {"cot_model", "cot_attempts", "kind"} <= set(columns["sft"]) and len(columns["sft"]) <= 10
    assert {"chosen_model", "rejected_model", "pair_reason"} <= set(columns["preference"])
    assert "jailbreak" in columns["red_team"] and all(len(c) <= 10 for c in columns.values())


@pytest.mark.slow
def test_checkpoint_chain_and_eval_results(chain):
    final = chain["final"]
    done = json.loads((final.parent / "chain.json").read_text())
    assert done["final"] == str(final)
    steps = done["steps"]
    chunks = [f"preference-chunk{i}" for i in range(1, 6)]  # DPO-1 in 5 sequential chunks, as Aloe
    assert [s["step"] for s in steps] == ["sft", "merge", *chunks, "red_team"]
    for before, after in zip(steps, steps[1:], strict=False):
        assert after["start"] == before["out"]  # each step starts from the one before
        assert json.loads((Path(after["out"]) / "factory_train.json").read_text())["parent"] == before["out"]
    merge = json.loads((Path(steps[1]["out"]) / "factory_train.json").read_text())
    assert merge["merge"]["merge_method"] == "dare_ties" and merge["left_out"].startswith("smollm2-135m")
    for step in steps[2:]:  # DPO learns: the chosen answer's reward pulls ahead of the rejected one's
        record = json.loads((Path(step["out"]) / "factory_train.json").read_text())
        margins, losses = record["margin_history"], record["loss_history"]
        assert len(margins) >= 2 and margins[-1] > margins[0], (step["step"], margins, losses)
    prov = json.loads((final / "factory_train.json").read_text())
    red_team = _rows(chain["version"] / "red_team")
    # rows TRL kept (it drops a pair whose prompt does not fit max_length)
    assert 1 <= prov["rows"] <= min(4, len(red_team)) and prov["dataset"]["output"] == "red_team"
    for name in ("base", "trained"):
        entry = chain["evals"][name]["benchmarks"]["medqa"]
        assert entry["n"] == 8 and 0.0 <= entry["accuracy"] <= 1.0
