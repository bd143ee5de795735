"""The optional merge step (Aloe: the SFT model merged with the instruct model by DARE-TIES), run by mergekit.

mergekit is called through its own command, ``mergekit-yaml CONFIG OUT``, found on ``PATH`` or named by
``FACTORY_MERGEKIT``. Its pins (torch, transformers, pydantic...) need not match this project's: install it
in a separate environment (``pipx install mergekit`` or its own venv) and the merge still runs. We write the
mergekit config from the recipe and never do the tensor arithmetic ourselves.
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


def merge_config(plan: TrainPlan, step: StepPlan) -> dict[str, Any]:
    """The mergekit YAML config for ``step``: task vectors of the SFT model (and ``with_model``) over ``base``."""
    spec = plan.section.merge
    assert spec is not None
    base = spec.base or plan.section.base_model
    models: list[dict[str, Any]] = [
        {"model": step.start, "parameters": _params(spec.method, spec.weight, spec.density)}
    ]
    if spec.with_model:
        other = 1.0 - spec.weight
        models.append({"model": spec.with_model, "parameters": _params(spec.method, other, spec.density)})
    config: dict[str, Any] = {"merge_method": spec.method, "models": models, "dtype": "float32"}
    if spec.method != "linear":
        config["base_model"] = base
    if spec.method in ("dare_ties", "ties"):
        config["parameters"] = {"normalize": True}
    return config


def _params(method: str, weight: float, density: float) -> dict[str, float]:
    return {"weight": weight, "density": density} if method in ("dare_ties", "ties") else {"weight": weight}


def merge_models(plan: TrainPlan, step: StepPlan, tmp: Path) -> dict[str, Any]:
    """Run mergekit into ``tmp``; the tokenizer (with its chat template) comes from the SFT checkpoint."""
    exe = mergekit_command()
    if exe is None:
        raise FactoryError(
            "train.merge needs mergekit: install it (e.g. `pipx install mergekit`, or a separate venv) so that "
            "`mergekit-yaml` is on PATH, or set FACTORY_MERGEKIT to its path; or remove `merge:` from the recipe"
        )
    config = merge_config(plan, step)
    tmp.mkdir(parents=True, exist_ok=True)
    config_path = tmp / "mergekit_config.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    started = time.perf_counter()
    done = subprocess.run(
        [exe, str(config_path), str(tmp), "--copy-tokenizer"], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise FactoryError(f"mergekit failed ({done.returncode}): {done.stderr[-2000:]}")
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(step.start).save_pretrained(tmp)
    return {"merge": config, "metrics": {"wall_s": round(time.perf_counter() - started, 3)}}
