"""The `factory` command as a user runs it: build, validate, schema, ls, show, diff, stages, adapters, and
the eval subcommands' help and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests_paths import ROOT

FACTORY = [sys.executable, "-m", "factory.cli.main"]
QUICKSTART = ROOT / "recipes" / "quickstart.yaml"


def run(*args, cwd=None, check=True):
    out = subprocess.run([*FACTORY, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)
    if check:
        assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_quickstart_build_show_ls_diff(tmp_path):
    store = tmp_path / "store"
    first = run("build", QUICKSTART, "--store", store)
    version = Path(first.stdout.strip().splitlines()[-1])
    assert version.parent == store / "versions" and (version / "manifest.json").exists()
    assert "normalize" in first.stderr and "exact_duplicate" in first.stderr
    manifest = json.loads((version / "manifest.json").read_text())
    stages = {s["name"]: s for s in manifest["stages"]}
    # every stage of the quickstart has work to do on the demo data
    for name in ("length_filter", "english_only", "exact_dedup", "mix"):
        assert stages[name]["dropped"], name
    assert manifest["sources"][1]["dropped"] == {"bad_input": 3}
    assert manifest["outputs"]["sft"]["rows"] > 200 and manifest["outputs"]["preference"]["rows"] > 40

    again = run("build", QUICKSTART, "--store", store)
    assert again.stdout.strip().splitlines()[-1] == str(version) and "nothing to do" in again.stderr

    second = run("build", QUICKSTART, "--store", store, "--set", "stages.length_filter.min_chars=200")
    version2 = Path(second.stdout.strip().splitlines()[-1])
    assert version2 != version

    listing = run("ls", "--store", store, "--json")
    assert {v["version"] for v in json.loads(listing.stdout)} == {version.name, version2.name}
    shown = run("show", version.name[:8], "--store", store)
    assert "length_filter" in shown.stdout and "demo_open_qa" in shown.stdout
    for part in ("no warnings", "funnel per source", "mixture: mix", "assistant turns"):
        assert part in shown.stdout, part
    assert f"report: {version / 'report.html'}" in shown.stdout  # the build wrote it
    (version / "report.html").unlink()
    assert "report: none yet" in run("show", version.name, "--store", store).stdout
    page = Path(run("report", version.name[:8], "--store", store).stdout.strip())
    assert page == version / "report.html" and "<svg" in page.read_text()
    assert f"report: {page}" in run("show", version.name, "--store", store).stdout
    assert json.loads(run("show", version.name, "--store", store, "--json").stdout)["version"] == version.name
    diff = run("diff", version.name, version2.name, "--store", store)
    assert "stages[length_filter].min_chars" in diff.stdout and "200" in diff.stdout

    missing = run("show", "nosuchversion", "--store", store, check=False)
    assert missing.returncode == 1 and "no version 'nosuchversion'" in missing.stderr


def test_validate_reports_errors_with_paths(tmp_path):
    ok = run("validate", QUICKSTART)
    assert "ok" in ok.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        QUICKSTART.read_text()
        .replace("min_chars: 20", "min_chars: -1")
        .replace("    path: mcqa.jsonl\n", "    path: mcqa.jsonl\n    pth: typo\n")
    )
    out = run("validate", broken, check=False)
    assert out.returncode == 2
    assert "stages[1].min_chars (broken.yaml:" in out.stderr and "sources[0].pth (broken.yaml:" in out.stderr
    assert "Traceback" not in out.stderr


def test_schema_stages_adapters():
    schema = json.loads(run("schema").stdout)
    assert schema["title"] == "Recipe" and "stages" in schema["properties"]
    assert "normalize" in run("stages").stdout
    assert "medagents" in run("adapters").stdout


def test_missing_files_and_bad_lines_are_clear(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: bad
data_dir: {ROOT / "recipes" / "data" / "quickstart"}
sources:
  - {{name: lines, path: bad_lines.jsonl, adapter: fields, kind: qa, fields: {{question: question, answer: answer}}}}
outputs:
  sft: {{format: messages}}
""")
    out = run("build", recipe, "--store", tmp_path / "store", check=False)
    assert out.returncode == 1 and "bad_lines.jsonl:3" in out.stderr and "source 'lines'" in out.stderr
    recipe.write_text(recipe.read_text().replace("bad_lines.jsonl", "nothing_*.jsonl"))
    out = run("build", recipe, "--store", tmp_path / "store", check=False)
    assert out.returncode == 1 and "nothing_*.jsonl" in out.stderr and "Traceback" not in out.stderr


def test_push_and_export_a_real_build(tmp_path, monkeypatch):
    """`factory push` of a quickstart version to a local stand-in for the Hugging Face Hub (a test double:
    the real Hub is unreachable from this machine), then `load_dataset` on what arrived."""
    import datasets
    from hub_standin import HubStandin

    store = tmp_path / "store"
    version = Path(run("build", QUICKSTART, "--store", store).stdout.strip().splitlines()[-1])
    exported = Path(run("export", version.name, tmp_path / "export", "--store", store).stdout.strip())
    assert (
        (exported / "README.md").exists()
        and (exported / "report.html").read_bytes() == (version / "report.html").read_bytes()
        and (exported / "sft").is_dir()
        and not (exported / "drops").exists()
    )

    token = "hf_standin_token_0123456789abcdef"
    with HubStandin(tmp_path / "hub", token) as hub:
        env = {**os.environ, "HF_TOKEN": token}
        out = subprocess.run(
            [
                *FACTORY,
                "push",
                version.name,
                "--repo",
                "org/quickstart",
                "--store",
                str(store),
                "--endpoint",
                hub.url,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        assert token not in out.stdout + out.stderr
        folder = hub.repo_dir("org/quickstart")
    manifest = json.loads((version / "manifest.json").read_text())
    sft = datasets.load_dataset(str(folder), "sft", split="train", cache_dir=str(tmp_path / "cache"))
    pref = datasets.load_dataset(str(folder), "preference", split="train", cache_dir=str(tmp_path / "cache"))
    assert (
        len(sft) == manifest["outputs"]["sft"]["rows"]
        and len(pref) == manifest["outputs"]["preference"]["rows"]
    )
    assert sft[0]["messages"][0]["role"] == "system"
    card = (folder / "README.md").read_text()
    assert "configs:" in card and "Apache-2.0" in card and "exact_dedup" in card


EVAL_TASKS = {
    # subcommand: (options it takes, options of other tasks it must not take)
    "mcqa": (["--backend", "--batch-size", "--benchmark", "--limit", "--data-dir"], ["--server", "--k"]),
    "medprompt": (
        ["--cot-db", "--k", "--ensemble", "--modes", "--server", "--store"],
        ["--judge", "--backend"],
    ),
    "open-ended": (["--judge", "--judge-server", "--max-tokens"], ["--benchmark", "--k", "--styles"]),
    "attack": (["--styles", "--guard-format", "--judge", "--benchmark"], ["--k", "--backend"]),
    "compare": (["--plot", "--json"], ["--limit", "--data-dir"]),
}


def test_eval_subcommands_help_shows_each_tasks_own_options():
    """Each task's --help lists its own options, with the help text, bounds and default the eval spec gives."""
    from typer.testing import CliRunner

    from factory.cli.main import app
    from train.eval.specs import AttackSpec, MedpromptSpec

    runner = CliRunner(env={"COLUMNS": "220"})
    top = runner.invoke(app, ["eval", "--help"])
    assert top.exit_code == 0 and all(task in top.output for task in EVAL_TASKS)
    helps = {}
    for task, (own, others) in EVAL_TASKS.items():
        out = runner.invoke(app, ["eval", task, "--help"])
        assert out.exit_code == 0, out.output
        helps[task] = out.output
        assert all(opt in out.output for opt in own), (task, out.output)
        assert not any(f"{opt} " in out.output for opt in others), (task, out.output)
    assert MedpromptSpec.model_fields["k"].description in helps["medprompt"]
    assert "1<=x<=32" in helps["medprompt"] and "[default: 5]" in helps["medprompt"]
    assert "instruction|conversation" in helps["attack"]
    assert AttackSpec.model_fields["guard_format"].description.split(";")[0] in helps["attack"]
    assert "train.eval.generative.medprompt" in helps["medprompt"]


def test_eval_errors_say_what_to_do(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    out = run("eval", "mcqa", model, check=False)
    assert out.returncode == 1 and "no benchmark folder: pass --data-dir" in out.stderr
    out = run("eval", "mcqa", model, "--data-dir", tmp_path / "nowhere", check=False)
    assert out.returncode == 1
    assert f"benchmark folder {tmp_path / 'nowhere'} not found (set by --data-dir)" in out.stderr
    recipe = tmp_path / "r.yaml"
    recipe.write_text(QUICKSTART.read_text().replace("data_dir: data/quickstart", "data_dir: gone"))
    out = run("eval", "medprompt", model, "--recipe", recipe, check=False)
    assert out.returncode == 1 and f"(set by `data_dir` in {recipe})" in out.stderr
    out = run("eval", "medprompt", model, "--data-dir", tmp_path, "--modes", "zero_shot,guess", check=False)
    assert out.returncode == 2 and "Invalid value for '--modes'" in out.stderr
    out = run("eval", "medprompt", model, "--k", "0", check=False)
    assert out.returncode == 2 and "'--k'" in out.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    out = run("eval", "compare", model, empty, check=False)
    assert out.returncode == 1 and f"no evaluation results in {model}" in out.stderr
    assert "Traceback" not in out.stderr
