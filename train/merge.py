"""The optional merge step (Aloe: the SFT model merged with the instruct model by DARE-TIES), run by mergekit.

In: the plan's ``merge`` settings (``train.config.MergeStep``) and the SFT checkpoint. Out: the merged
weights in the step's folder, with the SFT tokenizer (and its chat template) and ``mergekit_config.yml``.

mergekit is called through its own command, ``mergekit-yaml CONFIG OUT``, found beside the running Python,
on ``PATH`` or named by ``FACTORY_MERGEKIT``. Its pins (torch, transformers, pydantic...) need not match this
project's: install it in a separate environment (``pipx install mergekit`` or its own venv) and the merge
still runs. We write the mergekit config from the recipe and never do the tensor arithmetic ourselves.

A model named by a shipped name (``smollm2-135m``) is resolved to its folder first. When ``with_model`` is
the base itself (a local chain whose SFT starts from the instruct model), its task vector is zero: mergekit
refuses the duplicate input, and the TIES sign election would mask a zero vector out anyway, so it is left
out of the config (the record says so) and the merge is the sparsified, rescaled SFT task vector over it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from factory.errors import FactoryError
from train.plan import StepPlan, TrainPlan


def mergekit_command() -> str | None:
    """The ``mergekit-yaml`` executable, or None when mergekit is not installed anywhere we can see."""
    named = os.environ.get("FACTORY_MERGEKIT")
    if named:
        return named if Path(named).exists() else shutil.which(named)
    beside = Path(sys.executable).parent / "mergekit-yaml"  # installed in this environment
    return str(beside) if beside.exists() else shutil.which("mergekit-yaml")


def _same_model(a: str, b: str) -> bool:
    return a == b or (Path(a).exists() and Path(b).exists() and Path(a).resolve() == Path(b).resolve())


def merge_config(plan: TrainPlan, step: StepPlan) -> dict[str, Any]:
    """The mergekit YAML config for ``step``: task vectors of the SFT model (and ``with_model``) over ``base``."""
    from factory.llm.models import resolve_model

    spec = plan.section.merge
    assert spec is not None
    base = resolve_model(spec.base or plan.section.base_model)
    models: list[dict[str, Any]] = [
        {"model": step.start, "parameters": _params(spec.method, spec.weight, spec.density)}
    ]
    other = resolve_model(spec.with_model) if spec.with_model else None
    if other is not None and not (spec.method != "linear" and _same_model(other, base)):
        models.append({"model": other, "parameters": _params(spec.method, 1.0 - spec.weight, spec.density)})
    config: dict[str, Any] = {"merge_method": spec.method, "models": models, "dtype": "float32"}
    if spec.method != "linear":
        config["base_model"] = base
    if spec.method in ("dare_ties", "ties"):
        config["parameters"] = {"normalize": True}
    return config


def _params(method: str, weight: float, density: float) -> dict[str, float]:
    return {"weight": weight, "density": density} if method in ("dare_ties", "ties") else {"weight": weight}


def merge_command(plan: TrainPlan, config_path: Path, out: Path) -> list[str]:
    """``mergekit-yaml CONFIG OUT`` with the seed of DARE's random drop, on the GPU when the plan trains
    on one (mergekit's default is the CPU), and the lazy unpickler (lower peak memory)."""
    import torch

    exe = mergekit_command()
    if exe is None:
        raise FactoryError(
            "train.merge needs mergekit: install it (e.g. `pipx install mergekit`, or a separate venv) so that "
            "`mergekit-yaml` is on PATH, or set FACTORY_MERGEKIT to its path; or remove `merge:` from the recipe"
        )
    section = plan.section
    assert section.merge is not None
    cmd = [exe, str(config_path), str(out), "--copy-tokenizer", "--lazy-unpickle", "--quiet"]
    cmd += ["--random-seed", str(section.merge.seed)]
    if section.device == "cuda" or (section.device == "auto" and torch.cuda.is_available()):
        cmd.append("--cuda")
    return cmd


def merge_models(plan: TrainPlan, step: StepPlan, tmp: Path) -> dict[str, Any]:
    """Run mergekit into ``tmp``; the tokenizer (with its chat template) comes from the SFT checkpoint."""
    config = merge_config(plan, step)
    tmp.mkdir(parents=True, exist_ok=True)
    config_path = tmp / "mergekit_config.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = merge_command(plan, config_path, tmp)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise FactoryError(f"mergekit failed ({done.returncode}): {done.stderr[-2000:]}")
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(step.start).save_pretrained(tmp)
    spec = plan.section.merge
    assert spec is not None
    left_out = None
    if spec.with_model and len(config["models"]) == 1 and spec.method != "linear":
        left_out = f"{spec.with_model}: the base itself (a zero task vector; mergekit refuses duplicate inputs)"
    wall = round(time.perf_counter() - started, 3)
    info: dict[str, Any] = {"merge": config, "command": cmd[1:], "metrics": {"wall_s": wall}}
    if left_out:
        info["left_out"] = left_out
    return info
