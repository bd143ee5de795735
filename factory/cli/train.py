"""``factory train RECIPE [--version ID] [--config train.yaml] [--print | --launch]`` (registered in
``factory/cli/main.py``).

Reads the recipe's ``train:`` section (or a YAML file holding only that section, given with ``--config``),
builds the recipe's dataset version unless ``--version`` names one, and runs SFT -> merge -> DPO steps.
The last line of stdout is the final model folder (docs/TRAIN.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from factory.cli.console import err, fail
from factory.errors import FactoryError, RecipeError


def _section(recipe: Any, config: Path | None) -> Any:
    """The ``TrainSection``: the recipe's, or the one in ``config`` (its ``train:`` key or the whole file)."""
    from pydantic import ValidationError

    from train.config import TrainSection

    if config is None:
        section = getattr(recipe, "train", None)
        if section is None:
            raise RecipeError(
                str(recipe.file), [("train", "the recipe has no `train:` section (or pass --config)")]
            )
        return section
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    data = data.get("train", data)
    try:
        return TrainSection.model_validate(data)
    except ValidationError as exc:
        problems = [
            (".".join(str(p) for p in e["loc"]) or "<top>", e["msg"]) for e in exc.errors(include_url=False)
        ]
        raise RecipeError(str(config), problems) from None


def train_command(
    recipe: Annotated[Path, typer.Argument(help="recipe YAML file")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a recipe value: a.b.c=VALUE")
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="dataset version (id, prefix or folder); default: build")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML with the train section (instead of the recipe's)")
    ] = None,
    store: Annotated[Path | None, typer.Option(help="store folder (default: the recipe's `store`)")] = None,
    output_dir: Annotated[Path | None, typer.Option(help="models folder (default: train.output_dir)")] = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="print each step's command, run nothing")
    ] = False,
    launch: Annotated[
        bool, typer.Option("--launch", help="multi-process: run the accelerate commands")
    ] = False,
    force: Annotated[bool, typer.Option(help="retrain steps that are already finished")] = False,
) -> None:
    """Train a model on a dataset version: SFT -> optional merge -> DPO stages (the recipe's `train:`)."""
    from factory.pipeline.runner import build
    from factory.recipe import load_recipe
    from factory.storage.store import Store
    from train.plan import make_plan
    from train.run import run_plan

    try:
        r = load_recipe(recipe, set_ or [])
        section = _section(r, config)
        st = Store(store or r.store)
        ref = version or str(build(r, st).path)
        plan = make_plan(section, st, ref, output_dir, recipe_dir=r.base_dir)
        mode = (
            "print" if print_only else ("launch" if launch or section.launcher.distributed else "in_process")
        )
        if section.launcher.distributed and not launch and not print_only:
            mode = "print"
            err.print(
                "[yellow]launcher.num_processes > 1: printing the commands (run them, or pass --launch)[/yellow]"
            )
        run_plan(
            plan, mode=mode, force=force, echo=lambda line: err.print(line, markup=False, soft_wrap=True)
        )
    except FactoryError as exc:
        fail(exc)
    if mode != "print":
        print(plan.final)
