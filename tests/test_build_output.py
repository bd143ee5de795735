"""The terminal of a build shows the factory's lines only: what libraries, C code and child processes print
goes to the store's build log (factory.log.third_party_to_log), and `--verbose` shows it on the terminal.

Each test runs a real process (a script, or `factory build`) and reads its stdout and stderr as a user's
terminal would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from tests_paths import ROOT
from tiny_models import tiny_model_dir, vllm_cpu_env

# every line the factory writes on stderr during a build: step lines, notes, warnings, the summary
FACTORY_LINE = re.compile(r"^(✓ \S|· \S|warning: |version [0-9a-f]{20} \()")

NOISY = """\
import logging, os, subprocess, sys, warnings
from pathlib import Path
from factory.log import Reporter, terminal, third_party_to_log

with third_party_to_log(Path(sys.argv[1]), verbose=sys.argv[2] == "1") as console:
    Reporter(console).note("factory line 1")
    warnings.warn("torch.distributed.reduce_op is deprecated", FutureWarning)
    logging.getLogger("vllm").warning("a library's warning")
    os.write(2, b"W1207 C++ warning on fd 2\\n")
    os.write(1, b"C-level write on fd 1\\n")
    print("a library's print")
    code = "import sys; print('child stdout'); print('child stderr', file=sys.stderr)"
    subprocess.run([sys.executable, "-c", code], check=True)
    from tqdm import tqdm
    list(tqdm(range(3), desc="Loading safetensors checkpoint shards"))
    terminal().print("factory line 2")
    assert os.environ.get("TQDM_DISABLE") == ("1" if sys.argv[2] == "0" else None)
assert "TQDM_DISABLE" not in os.environ
print("result line")
"""
THIRD_PARTY = [
    "torch.distributed.reduce_op is deprecated",
    "a library's warning",
    "W1207 C++ warning on fd 2",
    "C-level write on fd 1",
    "a library's print",
    "child stdout",
    "child stderr",
]


def _run_script(tmp_path: Path, verbose: bool) -> tuple[subprocess.CompletedProcess, Path]:
    script = tmp_path / "noisy.py"
    script.write_text(NOISY)
    log = tmp_path / "logs" / "build.log"
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "PYTHONWARNINGS")}
    cmd = [sys.executable, str(script), str(log), "1" if verbose else "0"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done, log


def test_third_party_output_goes_to_the_log(tmp_path):
    done, log = _run_script(tmp_path, verbose=False)
    assert done.stderr.splitlines() == ["· factory line 1", "factory line 2"]
    assert done.stdout == "result line\n"
    text = log.read_text()
    for line in THIRD_PARTY:
        assert line in text, line
    assert "safetensors" not in text  # TQDM_DISABLE: no progress bar at all


def test_verbose_leaves_everything_on_the_terminal(tmp_path):
    done, log = _run_script(tmp_path, verbose=True)
    both = done.stdout + done.stderr
    for line in [*THIRD_PARTY, "factory line 1", "factory line 2", "Loading safetensors checkpoint shards"]:
        assert line in both, line
    assert not log.exists()


def _build(recipe: Path, store: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "factory.cli.main", "build", str(recipe), "--store", str(store), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=store.parent, timeout=900)


def _factory_only(done: subprocess.CompletedProcess, store: Path) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    foreign = [line for line in done.stderr.splitlines() if not FACTORY_LINE.match(line)]
    assert foreign == [], foreign
    assert len(done.stdout.splitlines()) == 1 and Path(done.stdout.strip()).is_dir()


def test_the_quickstart_build_prints_factory_lines_only(tmp_path):
    done = _build(ROOT / "recipes" / "quickstart.yaml", tmp_path / "store", dict(os.environ))
    _factory_only(done, tmp_path / "store")


ENGINE_RECIPE = """\
name: noisy_engine
data_dir: {data}
sources:
  - {{name: prompts, path: prompts.jsonl, adapter: fields, kind: prompt, fields: {{id: id, question: question}}}}
stages:
  - type: generate
    prompt: "{{{{ question }}}}"
    output_column: answer_text
    retry_empty: false
    sampling: {{max_tokens: 8, temperature: 1.0, seed: 7}}
    backend: {{kind: vllm, model: {model}, accelerator: cpu, dtype: float32, max_model_len: 512,
               engine_kwargs: {{enforce_eager: true}}}}
outputs:
  rows: {{format: rows}}
"""


def test_a_build_with_a_vllm_engine_prints_factory_lines_only(tmp_path):
    """A vLLM engine on the tiny model: its processes' warnings, Triton and NUMA lines and weight-loading
    progress bars end in the store's build log, named by the factory's last note."""
    pytest.importorskip("vllm")
    data = tmp_path / "data"
    data.mkdir()
    (data / "prompts.jsonl").write_text(
        "".join(f'{{"id": {i}, "question": "Case {i}?"}}\n' for i in range(3))
    )
    recipe = tmp_path / "engine.yaml"
    recipe.write_text(ENGINE_RECIPE.format(data=data, model=tiny_model_dir("llama")))
    scratch = Path(tempfile.mkdtemp(prefix="vllm-", dir="/tmp"))  # short: vLLM's IPC sockets live in TMPDIR
    env = {**os.environ, **vllm_cpu_env(scratch)}
    env.pop("VLLM_LOGGING_LEVEL", None)  # as a user's shell: the factory's own default applies
    done = _build(recipe, tmp_path / "store", env)
    _factory_only(done, tmp_path / "store")
    logs = sorted((tmp_path / "store" / "logs").glob("*.log"))
    assert len(logs) == 1 and logs[0].stat().st_size > 0
    # the engine's processes may still be writing to the log as the note is printed: no exact count
    assert re.search(
        rf"^· output of libraries and engines \(\d+ lines\): {re.escape(str(logs[0]))}$", done.stderr, re.M
    )
