"""``factory train RECIPE [--version ID] [--config train.yaml] [--print | --launch]`` (registered in
``factory/cli/main.py``).

Reads the recipe's ``train:`` section (or a YAML file holding only that section, given with ``--config``),
builds the recipe's dataset version unless ``--version`` names one, and runs SFT -> merge -> DPO steps.
The last line of stdout is the final model folder (docs/TRAIN.md).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from factory.cli.console import err, fail
from factory.errors import FactoryError, RecipeError
from factory.log import log_lines


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
    store: Annotated[
        str | None, typer.Option(help="store folder or fsspec URL (default: the recipe's `store`)")
    ] = None,
    output_dir: Annotated[Path | None, typer.Option(help="models folder (default: train.output_dir)")] = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="print each step's command, run nothing")
    ] = False,
    launch: Annotated[
        bool, typer.Option("--launch", help="multi-process: run the accelerate commands")
    ] = False,
    force: Annotated[bool, typer.Option(help="retrain steps that are already finished")] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="libraries' warnings, logs and progress bars here, not in the log"
        ),
    ] = False,
) -> None:
    """Train a model on a dataset version: SFT -> optional merge -> DPO stages (the recipe's `train:`). What
    TRL, transformers and mergekit print goes to <output_dir>/logs/, named at the end; `--verbose` shows it here."""
    from factory.log import Reporter, third_party_to_log
    from factory.pipeline.runner import build
    from factory.recipe import load_recipe
    from factory.storage.store import Store
    from train.plan import make_plan
    from train.run import run_plan

    try:
        r = load_recipe(recipe, set_ or [])
        section = _section(r, config)
        st = Store(store or r.store, r.storage_options)
    except FactoryError as exc:
        fail(exc)
    stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{r.name}-{os.getpid()}"
    log = Path(output_dir or section.output_dir) / "logs" / f"{stamp}.log"
    failed: FactoryError | None = None
    try:
        with third_party_to_log(log, verbose=verbose) as console:
            ref = version or build(r, st, reporter=Reporter(console)).version_id
            plan = make_plan(section, st, ref, output_dir, recipe_dir=r.base_dir)
            mode = _mode(section, print_only, launch, console)
            run_plan(
                plan,
                mode=mode,
                force=force,
                echo=lambda line: console.print(line, markup=False, soft_wrap=True),
            )
    except FactoryError as exc:
        failed = exc
    finally:
        if log_lines(log):
            err.print(f"[dim]·[/dim] output of libraries ({log_lines(log)} lines): {log}", soft_wrap=True)
        else:
            log.unlink(missing_ok=True)
    if failed is not None:
        fail(failed)
    if mode != "print":
        print(plan.final)


def _mode(section: Any, print_only: bool, launch: bool, console: Any) -> str:
    """``print`` (the commands only), ``launch`` (run them) or ``in_process``."""
    if print_only:
        return "print"
    if section.launcher.distributed and not launch:
        console.print(
            "[yellow]launcher.num_processes > 1: printing the commands (run them, or pass --launch)[/yellow]"
        )
        return "print"
    return "launch" if launch or section.launcher.distributed else "in_process"
