"""``factory train`` and ``factory eval`` (registered in ``factory/cli/main.py``).

    factory train RECIPE [--version ID] [--config train.yaml] [--print | --launch]
    factory eval MODEL [MODEL ...] [--recipe RECIPE] [--benchmark medqa ...] [--limit N] [--backend hf|vllm]
                [--system-prompt S] [--medprompt --cot-db VERSION] [--open-ended] [--attack] [--judge M]
    factory eval --compare MODEL MODEL ... [--plot FILE.png]

``factory train`` reads the recipe's ``train:`` section (or a YAML file holding only that section, given
with ``--config``), builds the recipe's dataset version unless ``--version`` names one, and runs SFT ->
merge -> DPO stages. The last line of stdout is the final model folder. ``factory eval`` prints tables and
writes ``MODEL/eval/`` (docs/EVAL.md); given several models it compares them at the end.
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
        _fail(exc)
        return
    if mode != "print":
        print(plan.final)


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _backend(ref: str | None, server: str | None, device: str):
    """A synthesis backend config: an OpenAI-compatible server serving ``ref``, or vLLM offline on ``ref``."""
    from factory.llm.types import OpenAIBackend
    from train.eval.gen import model_backend

    if server:
        return OpenAIBackend(base_url=server, model=ref or "default", api_key_env=None)
    return model_backend(ref, device) if ref else None


def eval_command(
    models: Annotated[
        list[str],
        typer.Argument(
            help="model folder(s) (a `factory train` checkpoint, any HF folder, or a shipped name)"
        ),
    ],
    recipe: Annotated[
        Path | None, typer.Option(help="recipe whose `train.eval.mcqa` settings and system prompt to use")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="benchmark folder (default: ../shared/data)")] = None,
    benchmark: Annotated[
        list[str] | None, typer.Option(help="only these MCQA/safety benchmarks (repeatable)")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="questions (prompts) per benchmark")] = None,
    backend: Annotated[str | None, typer.Option(help="lm-eval backend: hf | vllm")] = None,
    system_prompt: Annotated[
        str | None,
        typer.Option(
            help="system prompt (default: the model's recorded one, else the recipe's); '' for none"
        ),
    ] = None,
    loglik: Annotated[
        bool | None,
        typer.Option(
            "--loglik/--no-loglik",
            help="lm-eval loglikelihood MCQA + keyword safety (default: when no generative eval is asked)",
        ),
    ] = None,
    medprompt: Annotated[
        bool, typer.Option("--medprompt", help="zero-shot / CoT / Medprompt generation accuracy")
    ] = False,
    open_ended: Annotated[
        bool, typer.Option("--open-ended", help="OpenMedQA answers judged by an LLM")
    ] = False,
    attack: Annotated[
        bool, typer.Option("--attack", help="attack success rate under jailbreak styles")
    ] = False,
    cot_db: Annotated[
        str | None, typer.Option(help="medprompt: dataset version (id, prefix or folder) with CoT rows")
    ] = None,
    store: Annotated[
        Path | None, typer.Option(help="store of --cot-db (default: the recipe's, else ./store)")
    ] = None,
    modes: Annotated[
        str | None, typer.Option(help="medprompt modes, comma-separated: zero_shot,cot,medprompt")
    ] = None,
    k: Annotated[int | None, typer.Option(help="medprompt: examples per question")] = None,
    ensemble: Annotated[int | None, typer.Option(help="medprompt: shuffled runs per question")] = None,
    answer: Annotated[str | None, typer.Option(help="medprompt: direct | reasoning")] = None,
    reasoning_tokens: Annotated[int | None, typer.Option(help="cot / reasoning answers: tokens")] = None,
    retriever: Annotated[str | None, typer.Option(help="bm25 | sentence_transformers | vllm")] = None,
    embed_model: Annotated[
        str | None, typer.Option(help="embedding model (folder, hub id; `minilm`: the shipped encoder)")
    ] = None,
    max_prompt_tokens: Annotated[
        int | None, typer.Option(help="medprompt: prompt budget (drops the least similar examples)")
    ] = None,
    shot_max_chars: Annotated[
        int | None, typer.Option(help="medprompt: cut each example's reasoning to N chars")
    ] = None,
    max_tokens: Annotated[int | None, typer.Option(help="open-ended and attack answers: tokens")] = None,
    styles: Annotated[
        str | None, typer.Option(help="attack styles, comma-separated (plain and template ids)")
    ] = None,
    attack_prompts: Annotated[int | None, typer.Option(help="attack: harmful prompts per prompt set")] = None,
    guard_format: Annotated[
        str | None, typer.Option(help="attack judge: instruction (any model) | conversation (Llama Guard)")
    ] = None,
    server: Annotated[
        str | None, typer.Option(help="generate through this OpenAI-compatible server (base URL)")
    ] = None,
    served_model: Annotated[
        str | None, typer.Option(help="the model's name on --server (default: the folder name)")
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(help="judge model (folder, hub id, shipped name; or its name on --judge-server)"),
    ] = None,
    judge_server: Annotated[
        str | None, typer.Option(help="the judge's OpenAI-compatible server (base URL)")
    ] = None,
    max_model_len: Annotated[int | None, typer.Option(help="context of the vLLM generator")] = None,
    output_dir: Annotated[
        Path | None, typer.Option(help="results folder (default: MODEL/eval; one model only)")
    ] = None,
    compare: Annotated[
        bool, typer.Option("--compare", help="compare the models' saved results; run nothing")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option(help="with several models or --compare: write a bar chart (PNG)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the results JSON instead of tables")] = False,
) -> None:
    """Score models: lm-eval zero-shot MCQA + refusal rate, Medprompt, open-ended (LLM judge), safety under attack."""
    import json

    from factory.llm.models import resolve_model
    from factory.report.terminal import print_renderable

    try:
        dirs = [Path(resolve_model(m)) for m in models]
        missing = [str(d) for d in dirs if not d.is_dir()]
        if missing:
            raise FactoryError(f"model folder(s) not found: {missing}")
        if compare:
            _print_comparison(dirs, plot, as_json)
            return
        if output_dir is not None and len(dirs) > 1:
            raise FactoryError("--output-dir takes one model")
        spec, base, recipe_prompt, recipe_store = _eval_spec(recipe)
        which = [
            w for w, on in (("medprompt", medprompt), ("openended", open_ended), ("attack", attack)) if on
        ]
        if loglik or (loglik is None and not which):
            which.insert(0, "loglik")
        overrides = {
            "medprompt": {"cot_db": cot_db, "modes": _csv(modes), "k": k, "ensemble": ensemble, "answer": answer,
                          "reasoning_tokens": reasoning_tokens, "retriever": retriever, "embed_model": embed_model,
                          "max_prompt_tokens": max_prompt_tokens, "shot_max_chars": shot_max_chars},
            "openended": {"max_tokens": max_tokens},
            "attack": {"max_tokens": max_tokens, "styles": _csv(styles), "guard_format": guard_format},
        }  # fmt: skip
        gen = spec.generative.model_dump()
        for section, values in overrides.items():
            gen[section].update({k_: v for k_, v in values.items() if v is not None})
        if attack_prompts is not None:
            gen["attack"]["prompts"] = [{**p, "limit": attack_prompts} for p in gen["attack"]["prompts"]]
        if max_model_len is not None:
            gen["max_model_len"] = max_model_len
        if judge or judge_server:
            gen["judge"] = _backend(judge, judge_server, spec.device).model_dump()
        updates = {
            k_: v
            for k_, v in {"limit": limit, "backend": backend, "system_prompt": system_prompt}.items()
            if v is not None
        }
        if benchmark:
            unknown = sorted(set(benchmark) - {b.name for b in spec.benchmarks})
            if unknown:
                raise FactoryError(
                    f"unknown benchmark(s) {unknown}; known: {[b.name for b in spec.benchmarks]}"
                )
            updates["benchmarks"] = [b for b in spec.benchmarks if b.name in benchmark]
        folder = data_dir or base or Path(__file__).resolve().parents[3] / "shared" / "data"
        if not folder.is_dir():
            raise FactoryError(f"benchmark folder {folder} not found (pass --data-dir)")
        from train.eval.run import generative_tables, run_evals

        all_results = {}
        for d in dirs:
            if server:
                gen["generator"] = _backend(served_model or d.name, server, spec.device).model_dump()
            one = _validated({**spec.model_dump(), **updates, "generative": gen})
            all_results[str(d)] = run_evals(
                d, one, which, folder, recipe_prompt, store or recipe_store, output_dir
            )
    except (FactoryError, ValueError) as exc:
        _fail(exc)
        return
    if as_json:
        print(
            json.dumps(
                all_results if len(dirs) > 1 else all_results[str(dirs[0])], indent=1, ensure_ascii=False
            )
        )
    else:
        from train.eval.mcqa import results_table

        for results in all_results.values():
            if "loglik" in results:
                print_renderable(results_table(results["loglik"]))
            for table in generative_tables(results):
                print_renderable(table)
    for d in dirs:
        err.print(f"results: {output_dir or d / 'eval'}")
    if len(dirs) > 1 and not as_json:
        _print_comparison(dirs, plot, False)


def _validated(data: dict):
    from pydantic import ValidationError

    from train.config import EvalSpec

    try:
        return EvalSpec.model_validate(data)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
        raise RecipeError("factory eval options", problems) from None


def _eval_spec(recipe: Path | None):
    """(EvalSpec, data folder, system prompt, store) from a recipe's `train.eval.mcqa`, or the defaults."""
    from train.config import EvalSpec

    if recipe is None:
        return EvalSpec(), None, None, None
    from factory.recipe import load_recipe

    r = load_recipe(recipe)
    section = getattr(r, "train", None)
    spec = section.eval if section is not None else EvalSpec()
    base = (r.base_dir / spec.data_dir).resolve() if spec.data_dir else r.data_path
    return spec, base, getattr(r, "system_prompt", None), Path(r.store)


def _print_comparison(dirs: list[Path], plot: Path | None, as_json: bool) -> None:
    import json

    from factory.report.terminal import print_renderable
    from train.eval.compare import compare, comparison_table, plot_comparison

    result = compare(dirs)
    if as_json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    else:
        print_renderable(comparison_table(result))
    if plot is not None:
        err.print(f"plot: {plot_comparison(result, plot)}")
