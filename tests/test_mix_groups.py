"""Named mixture groups (Aloe's 60/20/20 with the general split 67.5/17.5/15): target vs achieved shares,
exact and budget fits, empty and short groups warned, old params unchanged; both executors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from factory.rows import make_row
from factory.stages.mix import Mix, leaf_of, leaf_shares
from factory.testing import run_stage

ALOE = {
    "medical": {"sources": ["medquad", "chatdoctor"], "share": 0.6},
    "synthetic_cot": {"kinds": ["mcqa"], "share": 0.2},
    "general": {
        "share": 0.2,
        "groups": {
            "instruction_following": {"sources": ["alpaca"], "share": 0.675},
            "function_calling": {"sources": ["tools"], "share": 0.175},
            "long_context": {"sources": ["long"], "share": 0.15},
        },
    },
}


def rows_of(counts: dict[str, int]) -> list[dict]:
    out = []
    for source, n in counts.items():
        kind = "mcqa" if source == "medmcqa" else "qa"
        extra = {"options": ["a", "b"], "answer_idx": 0} if kind == "mcqa" else {"answer": "an answer"}
        out += [
            make_row(id=f"{source}:{i}", source=source, kind=kind, question=f"q {i}", **extra)
            for i in range(n)
        ]
    return out


def test_leaf_paths_and_shares():
    groups = Mix(groups=ALOE).groups
    shares = leaf_shares(groups)
    assert shares == pytest.approx({
        "medical": 0.6, "synthetic_cot": 0.2, "general/instruction_following": 0.135,
        "general/function_calling": 0.035, "general/long_context": 0.03,
    })  # fmt: skip
    assert leaf_of(groups, {"source": "tools", "kind": "qa"}) == "general/function_calling"
    assert leaf_of(groups, {"source": "medmcqa", "kind": "mcqa"}) == "synthetic_cot"
    assert leaf_of(groups, {"source": "elsewhere", "kind": "qa"}) is None


def test_exact_fit_holds_every_share(executor):
    rows = rows_of(
        {"medquad": 700, "chatdoctor": 100, "medmcqa": 300, "alpaca": 200, "tools": 50, "long": 30}
    )
    stage = Mix(groups=ALOE, seed=3)
    kept, drops, stats = run_stage(stage, rows, executor)
    report = stats["report"]
    targets = report["targets"]
    # long context (30 rows, 3%) limits the mix to 30 / 0.03 = 1000 rows
    assert report["limited_by"] == "general/long_context"
    assert {k: v["kept"] for k, v in targets.items()} == {
        "medical": 600, "synthetic_cot": 200, "general/instruction_following": 135,
        "general/function_calling": 35, "general/long_context": 30,
    }  # fmt: skip
    for v in targets.values():
        assert abs(v["share"] - v["target_share"]) < 0.005
    assert {d["reason"] for d in drops} == {"mix_share"} and len(kept) + len(drops) == len(rows)
    chart = report["charts"]["mix_shares"]
    assert chart["kind"] == "grouped_bar" and chart["data"]["target"]["medical"] == 0.6
    assert "warnings" not in report
    again, _, _ = run_stage(stage, list(reversed(rows)), executor)
    assert sorted(r["id"] for r in again) == sorted(r["id"] for r in kept)


def test_empty_and_short_groups_warn(executor):
    rows = rows_of({"medquad": 600, "medmcqa": 200, "alpaca": 150, "long": 10, "other": 5})
    kept, drops, stats = run_stage(Mix(groups=ALOE), rows, executor)  # no function-calling rows at all
    report = stats["report"]
    assert any("'general/function_calling' has no rows (sources ['tools'])" in w and "spread" in w for w in report["warnings"])
    assert any("5 rows outside every named group are kept" in w for w in report["warnings"])
    assert report["targets"]["general/function_calling"]["kept"] == 0
    assert sum(r["source"] == "other" for r in kept) == 5
    budget = Mix(groups=ALOE, fit="budget", total=1000, others="drop")
    kept, drops, stats = run_stage(budget, rows, executor)
    report = stats["report"]
    short = [w for w in report["warnings"] if "cannot reach its share" in w]
    assert any("'general/long_context'" in w and "10 rows available, target 30" in w for w in short)
    assert report["targets"]["medical"]["kept"] == 600 and report["targets"]["synthetic_cot"]["kept"] == 200
    assert report["targets"]["general/instruction_following"]["kept"] == 135
    assert {d["reason"] for d in drops} == {"mix_share", "mix_other"}


def test_caps_then_groups_and_old_params_still_work(executor):
    rows = rows_of({"medquad": 100, "medmcqa": 100, "alpaca": 100})
    two = {
        "medical": {"sources": ["medquad"], "share": 0.5},
        "general": {"sources": ["alpaca"], "share": 0.5},
    }
    kept, _, stats = run_stage(Mix(groups=two, caps={"medquad": 30}), rows, executor)
    assert (
        stats["report"]["targets"]["general"]["kept"] == 30
        and sum(r["source"] == "medmcqa" for r in kept) == 100
    )
    kept, drops, stats = run_stage(Mix(weights={"medquad": 1, "alpaca": 1}, total=50), rows, executor)
    assert stats["report"]["groups"]["medquad"]["kept"] == 25 and {d["reason"] for d in drops} == {
        "mix_weight"
    }


def test_params_checked():
    with pytest.raises(ValidationError, match="not both"):
        Mix(groups=ALOE, weights={"a": 1})
    with pytest.raises(ValidationError, match="budget"):
        Mix(groups=ALOE, fit="budget")
    with pytest.raises(ValidationError):
        Mix(groups={"x": {"share": 1.5}})
    assert Mix(groups=ALOE).source_refs() == []  # a profile may lack a group's sources: warned at build
