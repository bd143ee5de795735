"""`factory train`: a tiny random model through SFT and both DPO stages on real dataset versions.

The primary version is the quickstart recipe built here; the red-team pairs for DPO stage 2 are a second
version built from the real HH-RLHF harmless pairs in ../shared/data (the quickstart's own preference output
when that folder is absent). Checked: loss goes down on a repeated batch, weights change at every step, the
chain of checkpoints and what each records beside its weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests_paths import ROOT
from tiny_models import tiny_model_dir

from factory.errors import FactoryError
from factory.llm.models import TRAIN_RECORD
from factory.pipeline.runner import build
from factory.recipe import load_recipe
from factory.storage.store import Store
from train.config import TrainSection
from train.plan import make_plan
from train.run import run_plan, run_step

QUICKSTART = ROOT / "recipes" / "quickstart.yaml"
# Short sequences, one repeated batch (limit == batch size), a learning rate a random model moves with.
FAST = {"limit": 2, "per_device_train_batch_size": 2, "max_steps": 6, "max_length": 384, "logging_steps": 1}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def versions(tmp_path_factory, request) -> dict:
    """A store with the quickstart version and, when ../shared/data is there, a red-team version."""
    root = tmp_path_factory.mktemp("train-store")
    store = Store(root / "store")
    primary = build(load_recipe(QUICKSTART), store, executor="local")
    red_team = primary
    shared = ROOT.parent / "shared" / "data"
    if (shared / "README.md").exists():
        recipe = {
            "name": "red_team_pairs",
            "system_prompt": primary.manifest["recipe"]["system_prompt"],
            "data_dir": str(shared),
            "sources": [
                {
                    "name": "hh_rlhf_harmless",
                    "path": "D_instruction_pref/hh_rlhf/harmless-base_test.jsonl.gz",
                    "adapter": "hh_rlhf",
                    "limit": 64,
                }
            ],
            "stages": [{"type": "length_filter", "max_chars": 500}, {"type": "to_chat"}],
            "outputs": {"preference": {"format": "preference"}},
        }
        path = root / "red_team.yaml"
        path.write_text(yaml.safe_dump(recipe))
        red_team = build(load_recipe(path), store, executor="local")
    return {"store": store, "primary": primary, "red_team": red_team}


def _section(base: Path, red_team_version: str, **over) -> TrainSection:
    return TrainSection.model_validate(
        {
            "base_model": str(base),
            "device": "cpu",
            "sft": {**FAST, "learning_rate": 3e-3},
            "dpo": [
                {**FAST, "name": "preference", "learning_rate": 2e-3, "beta": 0.5},
                {**FAST, "name": "red_team", "version": red_team_version, "learning_rate": 2e-3, "beta": 0.5},
            ],
            **over,
        }
    )


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _changed(a: dict, b: dict) -> bool:
    return any(not a[k].equal(b[k]) for k in a if k in b)


def test_sft_then_two_dpo_stages_chain(versions, tmp_path):
    import trl

    base = tiny_model_dir("llama")
    store, primary, red = versions["store"], versions["primary"], versions["red_team"]
    section = _section(base, str(red.path))
    plan = make_plan(section, store, primary.version_id, output_dir=tmp_path / "models")
    run_plan(plan, echo=lambda _: None)

    names = [s.name for s in plan.steps]
    assert names == ["sft", "preference", "red_team"]
    chain = json.loads((Path(plan.root) / "chain.json").read_text())
    assert chain["final"] == plan.steps[-1].out
    previous, previous_weights = str(base), _weights(base)
    for step in plan.steps:
        out = Path(step.out)
        prov = json.loads((out / TRAIN_RECORD).read_text())
        assert prov["parent"] == previous  # each step starts from the one before
        assert prov["trl_version"] == trl.__version__
        assert prov["dataset_version"] == primary.version_id and prov["train_hash"] == section.config_hash()
        expected = red if step.name == "red_team" else primary
        assert prov["dataset"]["version"] == expected.version_id
        assert prov["recipe_hash"] == expected.manifest["recipe_hash"]
        assert prov["system_prompt"] == primary.manifest["recipe"]["system_prompt"]
        assert prov["rows"] == 2 and prov["metrics"]["global_step"] == 6
        losses = prov["loss_history"]
        assert len(losses) == 6 and losses[-1] < losses[0], (
            step.name,
            losses,
        )  # the repeated batch is learnt
        if step.kind == "dpo":  # the policy moves away from its reference: chosen over rejected
            margins = prov["margin_history"]
            assert len(margins) == 6 and margins[-1] > margins[0], (step.name, margins)
        else:
            assert "margin_history" not in prov
        weights = _weights(out)
        assert _changed(previous_weights, weights), step.name
        assert (out / "tokenizer_config.json").exists() and not Path(step.out + ".tmp").exists()
        previous, previous_weights = step.out, weights
    # What `factory eval` holds out from the safety prompts: every user turn the chain was trained on.
    import pyarrow.parquet as pq

    from train.eval.mcqa import _norm, training_prompts

    seen = training_prompts(Path(plan.final))
    for version, output, column in ((primary, "sft", "messages"), (red, "preference", "prompt")):
        turns = pq.read_table(sorted((version.path / output).glob("*.parquet"))[0]).column(column)[0].as_py()
        assert _norm(next(t["content"] for t in turns if t["role"] == "user")) in seen
    # A second run finds every step finished and trains nothing.
    lines: list[str] = []
    run_plan(make_plan(section, store, primary.version_id, output_dir=tmp_path / "models"), echo=lines.append)
    assert all(line.endswith(")") and ": done (" in line for line in lines) and len(lines) == 3


def test_lora_step_saves_merged_weights_and_adapter(versions, tmp_path):
    base = tiny_model_dir("qwen2")
    section = TrainSection.model_validate(
        {
            "base_model": str(base),
            "device": "cpu",
            "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
            "sft": {**FAST, "max_steps": 4, "learning_rate": 1e-2},
        }
    )
    plan = make_plan(section, versions["store"], versions["primary"].version_id, output_dir=tmp_path)
    run_plan(plan, echo=lambda _: None)
    out = Path(plan.final)
    assert (out / "adapter" / "adapter_config.json").exists()
    merged, before = _weights(out), _weights(base)
    assert not any("lora" in k for k in merged)  # adapters merged into plain weights
    changed = [k for k in before if not before[k].equal(merged[k])]
    assert changed and all(("q_proj" in k or "v_proj" in k) for k in changed)


def test_subprocess_step_and_accelerate_commands(versions, tmp_path):
    base = tiny_model_dir("llama")
    store, version = versions["store"], versions["primary"].version_id
    one = TrainSection.model_validate(
        {
            "base_model": str(base),
            "device": "cpu",
            "sft": None,
            "dpo": [{**FAST, "name": "pref", "max_steps": 2}],
        }
    )
    plan = make_plan(one, store, version, output_dir=tmp_path / "a")
    run_plan(plan, mode="launch", echo=lambda _: None)  # `python -m train.step PLAN pref` in a child process
    assert json.loads((plan.final / TRAIN_RECORD).read_text())["metrics"]["global_step"] == 2

    multi = _section(
        base, version, launcher={"num_processes": 8, "num_machines": 2, "main_process_ip": "10.0.0.1"}
    )
    plan = make_plan(multi, store, version, output_dir=tmp_path / "b")
    printed: list[str] = []
    commands = run_plan(plan, mode="print", echo=printed.append)
    assert [c[-1] for c in commands] == ["sft", "preference", "red_team"] and len(printed) == 3
    for cmd in commands:
        assert cmd[:6] == ["accelerate", "launch", "--num_processes", "8", "--num_machines", "2"]
        assert cmd[cmd.index("--main_process_ip") + 1] == "10.0.0.1" and "--cpu" in cmd
        assert cmd[-3:-1] == ["train.step", str(Path(plan.root) / "plan.json")]
    assert not any(Path(s.out).exists() for s in plan.steps)  # printing trains nothing


def test_trl_validates_settings_before_any_step(versions, tmp_path):
    base = tiny_model_dir("llama")
    store, version = versions["store"], versions["primary"].version_id
    with pytest.raises(ValueError, match="learning_rate"):
        TrainSection.model_validate({"base_model": str(base), "sft": {"learning_rate": -1}})
    with pytest.raises(ValueError, match="loss_type"):
        TrainSection.model_validate(
            {"base_model": str(base), "dpo": [{"name": "p", "loss_type": ["sigmoidd"]}]}
        )
    bad = _section(base, version)
    bad.dpo[1].extra = {"no_such_trl_field": 1}
    plan = make_plan(bad, store, version, output_dir=tmp_path)
    with pytest.raises(FactoryError, match=r"dpo\[red_team\].*no_such_trl_field"):
        run_plan(plan, echo=lambda _: None)
    assert not Path(plan.steps[0].out).exists()  # the SFT step never started
    wrong = _section(base, version)
    wrong.dpo[0].lr_scheduler_type = "no_such_schedule"
    with pytest.raises(FactoryError, match="no_such_schedule"):
        run_plan(make_plan(wrong, store, version, output_dir=tmp_path), echo=lambda _: None)
    with pytest.raises(FactoryError, match="no output 'nope'"):
        make_plan(_section(base, version, sft={"output": "nope"}), store, version)


def test_merge_step_calls_mergekit_or_says_how_to_get_it(versions, tmp_path, monkeypatch):
    from tiny_models import build_tiny_model

    from train.merge import merge_config, mergekit_command

    base = tiny_model_dir("llama")
    other = build_tiny_model(tmp_path / "instruct", seed=1)  # stands in for an instruct model
    section = _section(
        base, versions["primary"].version_id, merge={"method": "dare_ties", "with_model": str(other)}
    )
    plan = make_plan(section, versions["store"], versions["primary"].version_id, output_dir=tmp_path)
    assert [s.name for s in plan.steps] == ["sft", "merge", "preference", "red_team"]
    assert plan.step("preference").start == plan.step("merge").out
    config = merge_config(plan, plan.step("merge"))
    assert config["merge_method"] == "dare_ties" and config["base_model"] == str(base)
    assert [m["model"] for m in config["models"]] == [plan.step("sft").out, str(other)]
    assert [m["parameters"]["weight"] for m in config["models"]] == [0.5, 0.5]
    # The local chain: SFT starts from the instruct model, which is also the base. Its task vector is zero
    # (mergekit refuses the duplicate input): the merge is the SFT task vector alone, DARE-sparsified.
    local = _section(base, versions["primary"].version_id, merge={"with_model": str(base)})
    plan = make_plan(local, versions["store"], versions["primary"].version_id, output_dir=tmp_path)
    config = merge_config(plan, plan.step("merge"))
    assert [m["model"] for m in config["models"]] == [plan.step("sft").out]
    run_step(plan, "sft")
    if mergekit_command() is None:
        with pytest.raises(FactoryError, match="needs mergekit"):
            run_step(plan, "merge")
        assert (Path(plan.step("sft").out) / TRAIN_RECORD).exists()  # SFT is kept for the next try
        return
    run_step(plan, "merge")
    merged = Path(plan.step("merge").out)
    assert (merged / "mergekit_config.yml").exists() and (merged / "tokenizer_config.json").exists()
    sft, out, start = _weights(Path(plan.step("sft").out)), _weights(merged), _weights(base)
    assert _changed(sft, out) and _changed(start, out)
    key = next(k for k in out if k.endswith("q_proj.weight"))
    delta, kept = sft[key] - start[key], out[key] - start[key]
    assert 0.3 < (kept != 0).float().mean().item() / (delta != 0).float().mean().item() < 0.7  # density 0.5
    prov = json.loads((merged / TRAIN_RECORD).read_text())
    assert prov["left_out"].startswith(str(base)) and "--random-seed" in prov["command"]
    run_step(plan, "merge", force=True)  # the seed makes DARE's random drop repeatable
    again = _weights(merged)
    assert all(again[k].equal(out[k]) for k in out)


def test_train_command_from_a_recipe(versions, tmp_path):
    import typer
    from typer.testing import CliRunner

    from factory.cli.train import train_command

    app = typer.Typer()
    app.command("train")(train_command)
    app.command("noop")(lambda: None)  # two commands: typer keeps `train` as a sub-command
    config = tmp_path / "train.yaml"
    section = {"base_model": str(tiny_model_dir("llama")), "device": "cpu", "sft": {**FAST, "max_steps": 2}}
    config.write_text(yaml.safe_dump({"train": section}))
    args = ["train", str(QUICKSTART), "--config", str(config), "--store", str(versions["store"].root)]
    out = CliRunner().invoke(app, [*args, "--output-dir", str(tmp_path / "models")])
    assert out.exit_code == 0, out.output
    final = Path(out.stdout.strip().splitlines()[-1])
    prov = json.loads((final / TRAIN_RECORD).read_text())
    assert final.name == "sft" and prov["dataset_version"] == versions["primary"].version_id
    config.write_text(yaml.safe_dump({"train": {**section, "sft": {"learning_rate": -1}}}))
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 2 and "learning_rate" in bad.output


def test_dpo_in_sequential_chunks(versions, tmp_path):
    """Aloe's DPO stage 1 shape: the pairs shuffled by a seeded hash of their ids and cut into N slices, one
    one-epoch run per slice, each slice's checkpoint the next one's start."""
    import pyarrow.parquet as pq

    from train.plan import chunk_bounds
    from train.run import CHUNK_IDS, read_rows

    base = tiny_model_dir("llama")
    store, red = versions["store"], versions["red_team"]
    dpo = {"name": "preference", "version": str(red.path), "limit": 9, "chunks": 3, "chunk_seed": 4,
           "per_device_train_batch_size": 3, "num_train_epochs": 1, "max_length": 384, "logging_steps": 1,
           "learning_rate": 2e-3, "beta": 0.5}  # fmt: skip
    section = TrainSection.model_validate(
        {"base_model": str(base), "device": "cpu", "sft": None, "dpo": [dpo]}
    )
    plan = make_plan(section, store, versions["primary"].version_id, output_dir=tmp_path)
    assert [s.name for s in plan.steps] == ["preference-chunk1", "preference-chunk2", "preference-chunk3"]
    run_plan(plan, echo=lambda _: None)
    first_nine = (
        pq.read_table(sorted((red.path / "preference").glob("*.parquet"))[0]).column("id").to_pylist()[:9]
    )
    previous, previous_weights, seen = str(base), _weights(base), []
    for k, step in enumerate(plan.steps, start=1):
        out = Path(step.out)
        prov = json.loads((out / TRAIN_RECORD).read_text())
        assert prov["parent"] == previous  # each chunk starts from the previous chunk's checkpoint
        assert (prov["dataset"]["chunk"], prov["dataset"]["chunks"], prov["dataset"]["chunk_seed"]) == (
            k,
            3,
            4,
        )
        assert prov["rows"] == 3 and prov["metrics"]["global_step"] == 1  # one epoch of 3 pairs, batch 3
        ids = (out / CHUNK_IDS).read_text().split()
        assert len(ids) == 3 and not set(ids) & set(seen)
        seen += ids
        weights = _weights(out)
        assert _changed(previous_weights, weights), step.name
        previous, previous_weights = step.out, weights
    assert sorted(seen) == sorted(first_nine)  # the chunks cover the (limited) pairs exactly once
    assert json.loads((Path(plan.root) / "chain.json").read_text())["final"] == plan.steps[-1].out
    # The cut is a pure function of the ids and the seed: the same again, another with another seed.
    data = plan.steps[0].data
    assert (
        read_rows(data, ["id"]).column("id").to_pylist()
        == (Path(plan.steps[0].out) / CHUNK_IDS).read_text().split()
    )
    other = [read_rows(data.model_copy(update={"chunk": k, "chunk_seed": 5}), ["id"]).column("id").to_pylist()
             for k in (1, 2, 3)]  # fmt: skip
    assert sorted(sum(other, [])) == sorted(first_nine) and other[0] != seen[:3]
    assert chunk_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
    too_many = data.model_copy(update={"limit": 2, "chunks": 3, "chunk": 3})
    with pytest.raises(FactoryError, match="2 rows cannot fill 3 chunks"):
        read_rows(too_many, ["id"])
