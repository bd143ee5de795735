"""``factory eval``: evaluation commands by task (a typer group, registered in ``factory/cli/main.py``).

    factory eval mcqa MODEL [MODEL ...]          lm-eval loglikelihood MCQA accuracy + keyword refusal rate
    factory eval medprompt MODEL ... --cot-db V  zero-shot / CoT / Medprompt generation accuracy
    factory eval open-ended MODEL ... [--judge]  OpenMedQA answers judged by an LLM
    factory eval attack MODEL ... [--judge]      attack success rate per jailbreak style
    factory eval compare FOLDER FOLDER ...       saved results side by side (model or --output-dir folders)

Each task's settings are options made from the fields of the eval spec (``EvalSpec`` and its parts in
train/eval/specs.py; see factory/cli/spec_options.py): the model states each
setting's name, default, bounds and help once, and validates what is given. Unset options keep the
``--recipe``'s ``train.eval`` values, else the model's defaults. The benchmark folder is ``--data-dir``,
else the recipe's ``train.eval.data_dir``, else its ``data_dir``. Results go to ``MODEL/eval/`` (or
``--output-dir``; docs/EVAL.md); with several models the call ends with their comparison.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer

from factory.cli.console import err, fail
from factory.cli.spec_options import SpecOption, apply, spec_fields, spec_options, validated
from factory.errors import FactoryError
from train.eval.specs import AttackSpec, EvalSpec, GenerativeSpec, MedpromptSpec, OpenEndedSpec

eval_app = typer.Typer(
    no_args_is_help=True,
    help="Score models by task (lm-eval MCQA, Medprompt, open-ended, attack), or compare saved results.",
)

_SOURCE = "factory eval settings (--recipe's train.eval and the options)"
_SETTINGS = "Settings (recipe: train.eval)"
_SERVING = "Serving (recipe: train.eval.generative)"
MCQA_OPTIONS = spec_fields(EvalSpec, (), _SETTINGS, skip=("data_dir",))
_GENERATIVE = [
    *spec_fields(EvalSpec, (), _SETTINGS, only=("limit", "system_prompt", "device")),
    *spec_fields(GenerativeSpec, ("generative",), _SERVING),
]
MEDPROMPT_OPTIONS = [
    *_GENERATIVE,
    *spec_fields(
        MedpromptSpec, ("generative", "medprompt"), "Medprompt (recipe: train.eval.generative.medprompt)"
    ),
]
OPEN_ENDED_OPTIONS = [
    *_GENERATIVE,
    *spec_fields(
        OpenEndedSpec, ("generative", "openended"), "Open-ended (recipe: train.eval.generative.openended)"
    ),
]
ATTACK_OPTIONS = [
    *_GENERATIVE,
    *spec_fields(AttackSpec, ("generative", "attack"), "Attack (recipe: train.eval.generative.attack)"),
]

Models = Annotated[
    list[str],
    typer.Argument(help="model folder(s): a `factory train` checkpoint, any HF folder, or a shipped name"),
]
RecipeOpt = Annotated[
    Path | None, typer.Option(help="recipe whose `train.eval` settings, system prompt and data folder to use")
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(help="benchmark folder (default: the recipe's `train.eval.data_dir`, else its `data_dir`)"),
]


def _benchmark_option(names: list[str], what: str = "benchmarks") -> Any:
    return Annotated[
        list[str] | None,
        typer.Option(
            "--benchmark",
            help=f"only these {what} (repeatable; default: all of the recipe's, else {', '.join(names)})",
        ),
    ]


_defaults = EvalSpec()
BenchmarkOpt = _benchmark_option([b.name for b in _defaults.benchmarks])
McqaBenchmarkOpt = _benchmark_option([b.name for b in _defaults.benchmarks if b.kind == "mcqa"])
PromptSetOpt = _benchmark_option([b.name for b in _defaults.generative.attack.prompts], "prompt sets")
OutputOpt = Annotated[Path | None, typer.Option(help="results folder (default: MODEL/eval; one model only)")]
PlotOpt = Annotated[Path | None, typer.Option(help="write the models' comparison as a bar chart (PNG)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the results JSON instead of tables")]
VerboseOpt = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="libraries' warnings, logs and progress bars here, not in the log"),
]
ServerOpt = Annotated[
    str | None,
    typer.Option(help="generate through this OpenAI-compatible server (base URL)", rich_help_panel=_SERVING),
]
ServedOpt = Annotated[
    str | None,
    typer.Option(help="the model's name on --server (default: the folder name)", rich_help_panel=_SERVING),
]
JudgeOpt = Annotated[
    str | None,
    typer.Option(
        help="judge model (folder, hub id, shipped name; or its name on --judge-server); "
        "default: the model judges itself (flagged)",
        rich_help_panel=_SERVING,
    ),
]
JudgeServerOpt = Annotated[
    str | None, typer.Option(help="the judge's OpenAI-compatible server (base URL)", rich_help_panel=_SERVING)
]


@dataclass
class _Call:
    """The options every run command shares, and the ones only some take."""

    recipe: Path | None
    data_dir: Path | None
    output_dir: Path | None
    plot: Path | None
    as_json: bool
    benchmark: list[str] | None = None
    store: Path | None = None
    server: str | None = None
    served_model: str | None = None
    judge: str | None = None
    judge_server: str | None = None
    verbose: bool = False


@eval_app.command("mcqa")
@spec_options(MCQA_OPTIONS)
def mcqa_command(
    models: Models, recipe: RecipeOpt = None, data_dir: DataDirOpt = None, benchmark: BenchmarkOpt = None,
    output_dir: OutputOpt = None, plot: PlotOpt = None, as_json: JsonOpt = False, verbose: VerboseOpt = False, **settings: Any,
) -> None:  # fmt: skip
    """Zero-shot MCQA accuracy (lm-eval loglikelihood) and the keyword refusal rate on harmful prompts.

    Accuracy is the loglikelihood of "The answer is X" through lm-evaluation-harness; the safety prompts get
    a generated answer checked for a refusal. Several models: each in turn, then their comparison."""
    call = _Call(recipe, data_dir, output_dir, plot, as_json, benchmark=benchmark, verbose=verbose)
    _run("loglik", MCQA_OPTIONS, models, call, settings)


@eval_app.command("medprompt")
@spec_options(MEDPROMPT_OPTIONS)
def medprompt_command(
    models: Models, recipe: RecipeOpt = None, data_dir: DataDirOpt = None, benchmark: McqaBenchmarkOpt = None,
    store: Annotated[Path | None, typer.Option(help="store of --cot-db (default: the recipe's, else ./store)")] = None,
    server: ServerOpt = None, served_model: ServedOpt = None, output_dir: OutputOpt = None,
    plot: PlotOpt = None, as_json: JsonOpt = False, verbose: VerboseOpt = False, **settings: Any,
) -> None:  # fmt: skip
    """Generation accuracy on the MCQA benchmarks: zero-shot, CoT and Medprompt side by side.

    Medprompt: the --k CoT examples nearest to each question from a dataset version's own verified CoT rows
    (--cot-db) as few-shot turns, --ensemble runs with shuffled options, majority vote."""
    call = _Call(
        recipe, data_dir, output_dir, plot, as_json, benchmark=benchmark, store=store, server=server,
        served_model=served_model, verbose=verbose,
    )  # fmt: skip
    _run("medprompt", MEDPROMPT_OPTIONS, models, call, settings)


@eval_app.command("open-ended")
@spec_options(OPEN_ENDED_OPTIONS)
def open_ended_command(
    models: Models, recipe: RecipeOpt = None, data_dir: DataDirOpt = None, server: ServerOpt = None,
    served_model: ServedOpt = None, judge: JudgeOpt = None, judge_server: JudgeServerOpt = None,
    output_dir: OutputOpt = None, plot: PlotOpt = None, as_json: JsonOpt = False, verbose: VerboseOpt = False, **settings: Any,
) -> None:  # fmt: skip
    """OpenMedQA answers (MedQA without options) judged against the reference by an LLM judge."""
    call = _Call(
        recipe, data_dir, output_dir, plot, as_json, server=server, served_model=served_model, judge=judge,
        judge_server=judge_server, verbose=verbose,
    )  # fmt: skip
    _run("openended", OPEN_ENDED_OPTIONS, models, call, settings)


@eval_app.command("attack")
@spec_options(ATTACK_OPTIONS)
def attack_command(
    models: Models, recipe: RecipeOpt = None, data_dir: DataDirOpt = None, benchmark: PromptSetOpt = None,
    server: ServerOpt = None, served_model: ServedOpt = None, judge: JudgeOpt = None,
    judge_server: JudgeServerOpt = None, output_dir: OutputOpt = None, plot: PlotOpt = None,
    as_json: JsonOpt = False, verbose: VerboseOpt = False, **settings: Any,
) -> None:  # fmt: skip
    """Attack success rate (ASR) per jailbreak style, judged by a guard model.

    Held-out harmful prompts (those the model was trained on are left out) wrapped in each style; the guard
    says safe / unsafe; keyword refusal is recorded beside it."""
    call = _Call(
        recipe, data_dir, output_dir, plot, as_json, benchmark=benchmark, server=server,
        served_model=served_model, judge=judge, judge_server=judge_server, verbose=verbose,
    )  # fmt: skip
    _run("attack", ATTACK_OPTIONS, models, call, settings)


@eval_app.command("compare")
def compare_command(
    folders: Annotated[
        list[str],
        typer.Argument(
            help="model folders (their eval/ results), result folders an --output-dir run wrote, or shipped names"
        ),
    ],
    plot: Annotated[Path | None, typer.Option(help="write a bar chart (PNG)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Saved results side by side, with each model's difference from the first; runs nothing.

    Per metric: each model's score and 95% interval, and its difference from the first model with the
    difference's interval (a paired bootstrap when both answered the same questions)."""
    try:
        _print_comparison(_folders(folders), plot, as_json=as_json)
    except FactoryError as exc:
        fail(exc)


def _run(
    kind: str, options: list[SpecOption], models: list[str], call: _Call, settings: dict[str, Any]
) -> None:
    """Evaluate each model with the recipe's spec updated by the options; print the results."""
    from train.eval.run import run_evals

    try:
        dirs = _folders(models)
        if call.output_dir is not None and len(dirs) > 1:
            raise FactoryError("--output-dir takes one model")
        spec, base, recipe_prompt, recipe_store = _recipe_eval(call.recipe)
        data = apply(spec.model_dump(), options, settings)
        _select(data, kind, call.benchmark)
        if call.judge or call.judge_server:
            data["generative"]["judge"] = _backend(call.judge, call.judge_server, data["device"]).model_dump()
        validated(EvalSpec, data, options, _SOURCE)
        folder = _benchmark_folder(call.data_dir, base, call.recipe)
        results = {}
        for d in dirs:
            if call.server:
                served = call.served_model or d.name
                data["generative"]["generator"] = _backend(served, call.server, data["device"]).model_dump()
            one = validated(EvalSpec, data, options, _SOURCE)
            store = call.store or recipe_store
            with _libraries_to_log(call.output_dir or d / "eval", d, call.verbose):
                results[str(d)] = run_evals(d, one, [kind], folder, recipe_prompt, store, call.output_dir)
        _show(results, call)
        if len(dirs) > 1 or call.plot is not None:
            folders = [call.output_dir] if call.output_dir else dirs
            _print_comparison(folders, call.plot, table=len(dirs) > 1 and not call.as_json)
    except (FactoryError, ValueError) as exc:
        fail(exc)


@contextmanager
def _libraries_to_log(results: Path, model: Path, verbose: bool) -> Iterator[None]:
    """One line per model evaluated; what lm-eval, transformers and vLLM print goes to ``results``/logs/
    (named at the end), or to the terminal with ``verbose``."""
    from factory.log import log_lines, third_party_to_log

    log = results / "logs" / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{os.getpid()}.log"
    err.print(f"[dim]·[/dim] evaluating {model}", soft_wrap=True)
    try:
        with third_party_to_log(log, verbose=verbose):
            yield
    finally:
        if lines := log_lines(log):
            err.print(f"[dim]·[/dim] output of libraries ({lines} lines): {log}", soft_wrap=True)
        else:
            log.unlink(missing_ok=True)


def _show(results: dict[str, dict[str, Any]], call: _Call) -> None:
    from factory.report.terminal import print_renderable
    from train.eval.mcqa import results_table
    from train.eval.run import generative_tables

    if call.as_json:
        one = next(iter(results.values()))
        print(json.dumps(results if len(results) > 1 else one, indent=1, ensure_ascii=False))
    else:
        for res in results.values():
            if "loglik" in res:
                print_renderable(results_table(res["loglik"]))
            for table in generative_tables(res):
                print_renderable(table)
    for d in results:
        err.print(f"results: {call.output_dir or Path(d) / 'eval'}")


def _folders(refs: list[str]) -> list[Path]:
    """Model (or result) folders: shipped names resolved; a FactoryError naming those that do not exist."""
    from factory.llm.models import resolve_model

    dirs = [Path(resolve_model(m)) for m in refs]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise FactoryError(f"folder(s) not found: {missing}")
    return dirs


def _recipe_eval(recipe: Path | None) -> tuple[EvalSpec, tuple[Path, str] | None, str | None, Path | None]:
    """(spec, (benchmark folder, the recipe key that set it) or None, system prompt, store) of a recipe's
    ``train.eval``, or the defaults without a recipe."""
    if recipe is None:
        return EvalSpec(), None, None, None
    from factory.recipe import load_recipe

    r = load_recipe(recipe)
    section = getattr(r, "train", None)
    spec = section.eval if section is not None else EvalSpec()
    base = None
    if spec.data_dir:
        base = ((r.base_dir / spec.data_dir).resolve(), "train.eval.data_dir")
    elif r.data_dir:
        base = (r.data_path, "data_dir")
    return spec, base, getattr(r, "system_prompt", None), Path(r.store)


def _benchmark_folder(option: Path | None, base: tuple[Path, str] | None, recipe: Path | None) -> Path:
    """The benchmark folder: ``--data-dir``, else the recipe's; a FactoryError saying what sets it."""
    if option is not None:
        folder, source = option, "--data-dir"
    elif base is not None:
        folder, source = base[0], f"`{base[1]}` in {recipe}"
    else:
        raise FactoryError(
            "no benchmark folder: pass --data-dir DIR, or a --recipe whose `train.eval.data_dir` or "
            "`data_dir` names it"
        )
    if not folder.is_dir():
        raise FactoryError(f"benchmark folder {folder} not found (set by {source})")
    return folder


def _select(data: dict[str, Any], kind: str, names: list[str] | None) -> None:
    """Keep only the benchmarks (attack: the prompt sets) named by --benchmark."""
    if not names:
        return
    pool = data["generative"]["attack"]["prompts"] if kind == "attack" else data["benchmarks"]
    known = [b["name"] for b in pool if kind != "medprompt" or b["kind"] == "mcqa"]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise FactoryError(f"unknown benchmark(s) {unknown}; known: {known}")
    pool[:] = [b for b in pool if b["name"] in names]


def _backend(ref: str | None, server: str | None, device: str) -> Any:
    """A generation backend config: an OpenAI-compatible server serving ``ref``, or vLLM offline on ``ref``."""
    from factory.llm.client import local_backend
    from factory.llm.types import OpenAIBackend

    if server:
        return OpenAIBackend(base_url=server, model=ref or "default", api_key_env=None)
    return local_backend(ref, device)


def _print_comparison(
    folders: list[Path], plot: Path | None, as_json: bool = False, table: bool = True
) -> None:
    """Compare the saved results of ``folders`` (model folders or result folders): a table (or JSON) unless
    ``table`` is false, and the bar chart when ``plot`` names a file."""
    from factory.report.terminal import print_renderable
    from train.eval.compare import compare, comparison_table, plot_comparison

    result = compare(folders)
    if as_json and table:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    elif table:
        print_renderable(comparison_table(result))
    if plot is not None:
        err.print(f"plot: {plot_comparison(result, plot)}")
