"""``factory train`` and ``factory eval`` (registered in ``factory/cli.py``).

    factory train RECIPE [--version ID] [--config train.yaml] [--print | --launch]
    factory eval MODEL_DIR [--recipe RECIPE] [--benchmark medqa ...] [--limit N] [--backend hf|vllm]

``factory train`` reads the recipe's ``train:`` section (or a YAML file holding only that section, given
with ``--config``), builds the recipe's dataset version unless ``--version`` names one, and runs SFT ->
merge -> DPO stages. The last line of stdout is the final model folder. ``factory eval`` prints a table and
writes ``MODEL_DIR/eval/results.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console

from factory.errors import FactoryError, RecipeError

err = Console(stderr=True, highlight=False)


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}", markup=True, soft_wrap=True)
    raise typer.Exit(2 if isinstance(exc, RecipeError) else 1)


def _section(recipe, config: Path | None):
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
    from factory.pipeline import build
    from factory.recipe import load_recipe
    from factory.store import Store
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
        _fail(exc)
        return
    if mode != "print":
        print(plan.final)


def eval_command(
    model: Annotated[
        Path, typer.Argument(help="model folder (a `factory train` checkpoint or any HF model folder)")
    ],
    recipe: Annotated[Path | None, typer.Option(help="recipe whose `train.eval` settings to use")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="benchmark folder (default: ../shared/data)")] = None,
    benchmark: Annotated[list[str] | None, typer.Option(help="only these benchmarks (repeatable)")] = None,
    limit: Annotated[int | None, typer.Option(help="questions per benchmark")] = None,
    backend: Annotated[str | None, typer.Option(help="hf | vllm")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the results JSON instead of a table")
    ] = False,
) -> None:
    """Score a model on the medical MCQA benchmarks and the held-out safety prompts (lm-evaluation-harness)."""
    import json

    from factory.report import print_renderable
    from train.config import EvalSpec
    from train.eval import evaluate_model, results_table

    try:
        spec, base = EvalSpec(), None
        if recipe is not None:
            from factory.recipe import load_recipe

            r = load_recipe(recipe)
            section = getattr(r, "train", None)
            spec = section.eval if section is not None else spec
            base = (r.base_dir / spec.data_dir).resolve() if spec.data_dir else r.data_path
        updates = {k: v for k, v in {"limit": limit, "backend": backend}.items() if v is not None}
        if benchmark:
            unknown = sorted(set(benchmark) - {b.name for b in spec.benchmarks})
            if unknown:
                raise FactoryError(
                    f"unknown benchmark(s) {unknown}; known: {[b.name for b in spec.benchmarks]}"
                )
            updates["benchmarks"] = [b for b in spec.benchmarks if b.name in benchmark]
        spec = EvalSpec.model_validate({**spec.model_dump(), **updates})
        folder = data_dir or base or Path(__file__).resolve().parents[2] / "shared" / "data"
        if not folder.is_dir():
            raise FactoryError(f"benchmark folder {folder} not found (pass --data-dir)")
        results = evaluate_model(model, spec, folder)
    except FactoryError as exc:
        _fail(exc)
        return
    if as_json:
        print(json.dumps(results, indent=1, ensure_ascii=False))
    else:
        print_renderable(results_table(results))
    err.print(f"results: {Path(model) / 'eval' / 'results.json'}")
