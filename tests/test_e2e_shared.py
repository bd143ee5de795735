"""End to end on the real files of ../shared/data: recipes/medical_basic.yaml built, rebuilt, changed."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest
from output_contract import check_outputs
from tests_paths import ROOT

from factory.log import Reporter
from factory.pipeline.runner import build
from factory.recipe import load_recipe
from factory.storage.store import Store

QUIET = Reporter(quiet=True)
RECIPE = ROOT / "recipes" / "medical_basic.yaml"


@pytest.fixture(scope="module")
def first_build(shared_data, tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("e2e") / "store")
    recipe = load_recipe(RECIPE, [f"data_dir={shared_data}"])
    return store, build(recipe, store, executor="local", reporter=QUIET)


def test_accounting_on_real_data(first_build):
    _, res = first_build
    m = res.manifest
    read = {s["name"]: s["rows_read"] for s in m["sources"]}
    assert (
        read["medmcqa_train_10k"] == 10000 and read["medquad"] == 47441 and read["hh_rlhf_harmless"] == 2312
    )
    out_ids = pq.read_table(res.path / "sft", columns=["id"]).column("id").to_pylist()
    out_ids += pq.read_table(res.path / "preference", columns=["id"]).column("id").to_pylist()
    drops = pq.read_table(res.path / "drops", columns=["id", "source", "stage", "reason"]).to_pylist()
    assert len(out_ids) + len(drops) == sum(read.values()) == m["totals"]["rows_in"]
    assert len(set(out_ids)) == len(out_ids) and not set(out_ids) & {d["id"] for d in drops}
    assert all(d["id"] and d["source"] and d["stage"] and d["reason"] for d in drops)
    by_reason = Counter(d["reason"] for d in drops)
    assert by_reason["empty_answer"] == 31034  # MedQuAD records shipped without answers
    assert by_reason["has_image"] == 68 and by_reason["mix_cap"] > 0
    for stage in m["stages"]:
        assert stage["rows_in"] == stage["rows_out"] + sum(stage["dropped"].values())
        assert Counter(d["reason"] for d in drops if d["stage"] == stage["name"]) == Counter(stage["dropped"])
    decontam = next(s for s in m["stages"] if s["name"] == "decontaminate")
    assert (
        decontam["dropped"].get("benchmark_contamination", 0) > 0
    )  # MedMCQA train / HEAD-QA rows seen in benchmarks
    assert set(decontam["report"]["hits_per_benchmark"]) >= {"medqa_test", "careqa_test"}
    mix = next(s for s in m["stages"] if s["name"] == "mix")["report"]["groups"]
    assert mix["medquad"]["kept"] == 8000 and mix["chatdoctor_5k"]["kept"] == 3000
    assert m["outputs"]["sft"]["rows"] > 20000 and m["outputs"]["preference"]["rows"] > 2000


def test_outputs_hold_their_contract(first_build):
    """Before the output contract both outputs also carried lang_score and contam_candidates (the
    decontamination stage's near-misses)."""
    _, res = first_build
    assert check_outputs(res.path) == {
        "sft": ["id", "source", "messages", "kind", "lang"],
        "preference": ["id", "source", "prompt", "chosen", "rejected"],
    }


def test_outputs_are_trl_ready(first_build):
    _, res = first_build
    sft = pq.read_table(res.path / "sft").slice(0, 200).to_pylist()
    for row in sft:
        roles = [t["role"] for t in row["messages"]]
        assert roles[0] == "system" and roles[-1] == "assistant" and "user" in roles
        assert all(t["content"] for t in row["messages"])
    mcqa = next(r for r in sft if r["kind"] == "mcqa")
    assert "\nA. " in mcqa["messages"][1]["content"] and mcqa["messages"][2]["content"].startswith(
        "The answer is "
    )
    pref = pq.read_table(res.path / "preference").slice(0, 100).to_pylist()
    for row in pref:
        assert row["prompt"][0]["role"] == "system" and row["prompt"][-1]["role"] == "user"
        assert row["chosen"][-1]["role"] == "assistant" and row["rejected"][-1]["role"] == "assistant"
        assert row["chosen"] != row["rejected"]


def test_rebuild_free_then_one_stage_change_then_determinism(first_build, shared_data, tmp_path):
    store, res = first_build
    again = build(load_recipe(RECIPE, [f"data_dir={shared_data}"]), store, executor="local", reporter=QUIET)
    assert again.reused and again.version_id == res.version_id

    changed = build(
        load_recipe(RECIPE, [f"data_dir={shared_data}", "stages.mix.caps.medquad=5000"]),
        store,
        executor="local",
        reporter=QUIET,
    )
    cached = {s["name"]: s["cached"] for s in changed.manifest["stages"]}
    assert cached == {
        "normalize": True,
        "length_filter": True,
        "language_id": True,
        "english_only": True,
        "decontaminate": True,
        "exact_dedup": True,
        "mix": False,
        "to_chat": False,
    }
    assert changed.manifest["outputs"]["sft"]["rows"] == res.manifest["outputs"]["sft"]["rows"] - 3000

    other = build(
        load_recipe(RECIPE, [f"data_dir={shared_data}"]),
        Store(tmp_path / "other"),
        executor="local",
        reporter=QUIET,
    )
    assert other.version_id == res.version_id
    files = [f["path"] for o in res.manifest["outputs"].values() for f in o["files"]] + [
        f["path"] for f in res.manifest["drop_log"]["files"]
    ]
    for rel in files:
        assert (other.path / rel).read_bytes() == (res.path / rel).read_bytes(), rel
    manifest = json.loads((res.path / "manifest.json").read_text())
    for key in (
        "version",
        "created_at",
        "factory_version",
        "recipe_hash",
        "sources",
        "stages",
        "outputs",
        "drop_log",
        "recipe",
        "totals",
    ):
        assert key in manifest
