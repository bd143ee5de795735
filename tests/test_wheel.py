"""The wheel is the product: build it, install it (not editable) into a fresh virtual environment, and run
``factory validate`` and ``factory build`` from a folder outside the clone, with the lists that ship inside
the packages (the ``medical`` benchmark list of decontamination, the ``aloe_local`` irrelevant-row patterns).

The fresh environment gets its third-party dependencies from this test run's environment through a ``.pth``
line (installing torch, Ray and the rest again from the package index would take minutes and a network); a
path added that way is not a site folder, so the editable install of the clone stays out and the ``factory``
that runs is the wheel's (checked)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from tests_paths import ROOT

SHARED = ROOT.parent / "shared" / "data"

RECIPE = """\
name: wheel_smoke
data_dir: {data}
store: store
sources:
  - {{name: pubmedqa_train, path: A_medical_mcqa/medagents_benchmark/pubmedqa/train.jsonl, adapter: medagents}}
  - {{name: medqa_hard, path: A_medical_mcqa/medagents_benchmark/medqa/test_hard.jsonl, adapter: medagents}}
stages:
  - type: normalize
  - type: irrelevant_filter
    lists: [aloe_local]
  - type: decontaminate
    include: [medical]
  - type: exact_dedup
  - type: to_chat
outputs:
  sft: {{format: messages}}
"""


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data beside the clone")
def test_wheel_installs_and_builds_outside_the_clone(tmp_path):
    # build from a copy of the clone's files (a build/ folder left in the clone could ship stale modules)
    src = tmp_path / "src"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    for rel in listed:
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
          str(src)], tmp_path, dict(os.environ))
    (wheel,) = wheels.glob("aloe_factory-*.whl")

    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "deps_of_the_test_run.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path, env)

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([str(py), "-c", "import factory, filters.decontam.index as ix; print(factory.__file__); "
                  "print(ix.SHIPPED)"], work, env).stdout.split()
    assert all(str(site) in line for line in where), where  # the wheel's code and lists, not the clone's
    assert (Path(where[1]) / "medical.yaml").is_file()

    (work / "recipe.yaml").write_text(RECIPE.format(data=SHARED))
    factory = env_dir / "bin" / "factory"
    _run([str(factory), "validate", "recipe.yaml"], work, env)
    out = _run([str(factory), "build", "recipe.yaml"], work, env).stdout.strip().splitlines()[-1]
    version = Path(out)
    assert version.is_dir() and str(version).startswith(str(work))
    manifest = json.loads((version / "manifest.json").read_text())
    stages = {s["name"]: s for s in manifest["stages"]}
    assert list(stages) == ["normalize", "irrelevant_filter", "decontaminate", "exact_dedup", "to_chat"]
    # MedQA test_hard is a subset of MedQA test, which the shipped `medical` list names: its rows are dropped
    dropped = stages["decontaminate"]["dropped"]
    assert sum(dropped.values()) >= 90, dropped
    assert manifest["outputs"]["sft"]["rows"] == stages["to_chat"]["rows_out"] > 300
