"""recipes/aloe_beta_local_stages.yaml (Aloe Beta's stages on the local stand-ins) builds a version end to end on
../shared/data, with its DEITA scorer pointed at the tiny vLLM server (plumbing: the random model's scores mean
nothing). Checked: accounting, each new stage's outcome in the manifest and the output rows."""

from __future__ import annotations

import json
import re
from collections import Counter

import pyarrow.parquet as pq
import pytest
from output_contract import check_outputs
from tests_paths import ROOT

KEY_ENV = "TINY_SERVER_KEY"  # set by the `server` fixture (conftest)


@pytest.mark.slow
def test_local_stages_recipe_builds(server, shared_data, tmp_path):
    from factory.pipeline.runner import build
    from factory.recipe import load_recipe
    from factory.storage.store import Store

    sets = [
        f"data_dir={shared_data}",
        f"stages.deita.backend={{kind: openai, base_url: '{server.base_url}', model: {server.model}, "
        f"api_key_env: {KEY_ENV}}}",
        "stages.deita.sampling={temperature: 1.0, max_tokens: 4, seed: 0}",
        "stages.deita.max_text_chars=300",  # the tiny server's 512-token context
        "outputs.sft.columns=[complexity, quality]",  # the DEITA scores, published on request
    ]
    result = build(
        load_recipe(ROOT / "recipes" / "aloe_beta_local_stages.yaml", sets), Store(tmp_path / "store")
    )
    m = result.manifest
    totals = m["totals"]
    assert totals["rows_in"] == totals["rows_out"] + totals["rows_dropped"]
    stages = {s["name"]: s for s in m["stages"]}
    for st in stages.values():
        assert st["rows_in"] == st["rows_out"] + sum(st["dropped"].values()), st["name"]

    assert set(stages["irrelevant_filter"]["dropped"]) <= {"irrelevant_question", "irrelevant_answer"}
    assert set(stages["answer_format"]["dropped"]) <= {"answer_conflict"}
    assert set(stages["task_templates"]["dropped"]) <= {"template_no_input", "template_no_output"}
    for name in ("near_dedup_qa", "near_dedup_dialogue"):
        assert (stages[name]["report"]["bands"], stages[name]["report"]["rows"]) == (14, 8)
    assert stages["near_dedup_qa"]["params"]["on"] == "question_answer"
    assert set(stages["deita"]["dropped"]) <= {"unscorable", "request_failed"}
    cut = stages["evol_cut"]["report"]
    assert cut["dropped"] == stages["evol_cut"]["dropped"].get("low_evol_score", 0)
    mix = stages["mix"]["report"]
    assert set(mix["targets"]) == {
        "medical", "synthetic_cot", "general/instruction_following", "general/function_calling",
        "general/long_context",
    }  # fmt: skip
    assert any("'general/function_calling' has no rows" in w for w in mix["warnings"])
    assert any("'general/long_context' has no rows" in w for w in mix["warnings"])

    assert {"complexity", "quality", "task", "template_id"} <= set(check_outputs(result.path)["sft"])
    sft = [r for f in sorted((result.path / "sft").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    drops = [
        r for f in sorted((result.path / "drops").glob("*.parquet")) for r in pq.read_table(f).to_pylist()
    ]
    scored_away = [json.loads(d["row"]) for d in drops if d["stage"] in ("deita", "evol_cut")]
    # Templated rows, whether they reached the output or a later stage dropped them (a scorer whose output
    # format is not enforced, as the tiny random model's, leaves no QA row scored).
    templated = [r for r in sft + scored_away if r.get("task")]
    assert Counter(r["kind"] for r in templated) == Counter({"qa": len(templated)}) and len(templated) >= 20
    assert all(r["template_id"].startswith(f"{r['task']}/") for r in templated)
    assert len({r["task"] for r in templated}) >= 5
    mcqa = [r for r in sft if r["kind"] == "mcqa"]
    assert mcqa and all(re.search(r"(?:^|\n\n)Answer: [A-J]$", r["messages"][-1]["content"]) for r in mcqa)
    scored = [r for r in sft if r["kind"] in ("qa", "chat") and r["quality"] is not None]
    assert all(1 <= r["quality"] <= 6 and 1 <= r["complexity"] <= 6 for r in scored)
    assert m["outputs"]["preference"]["rows"] > 0
