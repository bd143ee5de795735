"""The ``factory`` command: build, validate, schema, ls, show, report, diff, export, push, gc, stages, adapters, model,
train, eval."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from factory.errors import FactoryError, RecipeError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="aloe-factory: recipe -> versioned SFT/DPO datasets."
)
err = Console(stderr=True, highlight=False)

SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="override a recipe value: a.b.c=VALUE (repeatable)")
]
StoreOpt = Annotated[
    str, typer.Option("--store", help="store holding versions and the stage cache: a folder or an fsspec URL")
]


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}", markup=True, soft_wrap=True)
    raise typer.Exit(2 if isinstance(exc, RecipeError) else 1)


@app.command()
def build(
    recipe: Annotated[Path, typer.Argument(help="recipe YAML file")],
    set_: SetOpt = None,
    store: Annotated[
        str | None,
        typer.Option("--store", help="store folder or fsspec URL, e.g. s3://bucket/prefix (default: the recipe's)"),
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="local | ray (default: the recipe's executor, `auto`)")
    ] = None,
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="libraries' warnings, logs and progress bars here, not in the log"
    ),
) -> None:
    """Build a recipe into a version. The last line of stdout is the version folder. What libraries and model
    engines print goes to the store's build log (logs/), named at the end; `--verbose` shows it here."""
    from factory.log import Reporter, third_party_to_log
    from factory.pipeline.runner import build as run_build
    from factory.recipe import load_recipe
    from factory.storage.store import Store

    try:
        r = load_recipe(recipe, set_ or [])
        target = Store(store or r.store, r.storage_options)  # a URL no fsspec protocol serves fails here
    except FactoryError as exc:
        _fail(exc)
        return
    log = target.root / "logs" / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{r.name}-{os.getpid()}.log"
    failed: FactoryError | None = None
    done = False
    try:
        with third_party_to_log(log, verbose=verbose) as console:
            result = run_build(r, target, executor=executor, reporter=Reporter(console, quiet=quiet))
        done = True
    except FactoryError as exc:
        failed = exc
    finally:
        _name_the_log(log, show=not (quiet and done))
    if failed is not None:
        _fail(failed)
        return
    if not quiet:
        m = result.manifest
        outs = ", ".join(f"{k}: {v['rows']} rows" for k, v in m["outputs"].items())
        summary = f"[bold]version {result.version_id}[/bold] ({outs}; {m['totals']['rows_dropped']} dropped)"
        err.print(summary, soft_wrap=True)
    print(result.location)


def _name_the_log(log: Path, show: bool) -> None:
    """One line naming the build log when libraries wrote to it (always after a failure); an empty log goes."""
    from factory.log import log_lines

    if not (lines := log_lines(log)):
        log.unlink(missing_ok=True)
    elif show:
        err.print(f"[dim]·[/dim] output of libraries and engines ({lines} lines): {log}", soft_wrap=True)


@app.command()
def validate(recipe: Path, set_: SetOpt = None) -> None:
    """Check a recipe (schema, bounds, column chain) without running anything."""
    from factory.recipe import load_recipe

    try:
        r = load_recipe(recipe, set_ or [])
    except FactoryError as exc:
        _fail(exc)
        return
    stages = " → ".join(s.stage_name for s in r.stages)  # type: ignore[attr-defined]
    err.print(
        f"[green]ok[/green] {recipe}: {len(r.sources)} source(s); stages: {stages}; outputs: {', '.join(r.outputs)}"
    )
    reads = _hub_reads(r)
    if reads:
        err.print(f"{len(reads)} Hub dataset read(s) when built (nothing is downloaded now):")
        width = max(len(role) for role, _ in reads)
        for role, where in reads:
            err.print(f"  {role:<{width}}  {where}", markup=False, highlight=False, soft_wrap=True)


def _hub_reads(recipe: Any) -> list[tuple[str, str]]:
    """What a build of ``recipe`` reads from the Hugging Face Hub: (``source NAME`` or ``benchmark NAME
    (stage)``, ``id [config] split revision``) for each Hub source and each Hub benchmark a stage names."""
    entries = [(f"source {s.name}", s) for s in recipe.sources]
    seen: set[str] = set()
    for stage in recipe.stages:
        for b in getattr(stage, "all_benchmarks", lambda: [])():  # decontamination stages
            if b.name not in seen:
                seen.add(b.name)
                entries.append((f"benchmark {b.name} ({stage.stage_name})", b))
    out = []
    for role, cfg in entries:
        if cfg.hub is None:
            continue
        config = ",".join(cfg.config) if isinstance(cfg.config, list) else cfg.config
        revision = cfg.revision or "main (unpinned)"
        out.append((role, f"{cfg.hub}{f' [{config}]' if config else ''} split={cfg.split} revision={revision}"))
    return out


@app.command()
def schema() -> None:
    """Print the JSON Schema of recipes (for editors: yaml-language-server)."""
    from factory.recipe import recipe_json_schema

    json.dump(recipe_json_schema(), sys.stdout, indent=1)
    print()


def _store(store: str) -> Any:
    """The store named by ``--store`` (a folder or an fsspec URL; credentials from the environment)."""
    from factory.storage.store import Store

    try:
        return Store(store)
    except FactoryError as exc:
        _fail(exc)


@app.command("ls")
def ls_(store: StoreOpt = "store", as_json: bool = typer.Option(False, "--json")) -> None:
    """List the versions in a store."""
    from factory.report.terminal import print_renderable, versions_table

    manifests = _store(store).manifests()
    if as_json:
        print(
            json.dumps(
                [
                    {k: m[k] for k in ("version", "recipe_name", "created_at", "outputs", "totals")}
                    for m in manifests
                ],
                indent=1,
            )
        )
    else:
        print_renderable(versions_table(manifests))


def _version(store: str, ref: str) -> tuple[Path, dict]:
    """A version's local folder (a remote one is copied into the mirror) and manifest; a missing or unknown
    version exits with the store's error."""
    try:
        path = _store(store).resolve(ref)
        return path, json.loads((path / "manifest.json").read_text())
    except FactoryError as exc:
        _fail(exc)
        raise  # not reached: _fail exits


@app.command()
def show(
    version: str,
    store: StoreOpt = "store",
    as_json: bool = typer.Option(False, "--json", help="the whole manifest"),
) -> None:
    """Show a version: warnings, sources, the funnel per stage and source, mixture, stage highlights, outputs,
    lengths (id, prefix or folder)."""
    from factory.report.terminal import print_renderable, version_report

    path, m = _version(store, version)
    if as_json:
        print(json.dumps(m, indent=1, ensure_ascii=False))
    else:
        print_renderable(version_report(m, path))


@app.command()
def report(
    version: str,
    store: StoreOpt = "store",
    out: Annotated[Path | None, typer.Option("--out", help="write here instead of VERSION/report.html")] = None,
) -> None:
    """(Re)write a version's report.html (one offline HTML file with the funnel, drops, mixture, lengths and
    every stage's charts); prints its path."""
    from factory.report.facts import collect_warnings
    from factory.report.html import write_report
    from factory.report.terminal import print_warnings

    path, m = _version(store, version)
    print_warnings(collect_warnings(m, path), err)
    print(write_report(path, m, out=out))


@app.command()
def diff(a: str, b: str, store: StoreOpt = "store") -> None:
    """Compare two versions: recipe changes, source data changes, the stage funnel, outputs."""
    from factory.report.terminal import diff_report, print_renderable

    print_renderable(diff_report(_manifest(store, a), _manifest(store, b)))


def _manifest(store: str, ref: str) -> dict:
    """A version's manifest (a version folder's, or the store's: no data is read)."""
    if (Path(ref) / "manifest.json").is_file():
        return json.loads((Path(ref) / "manifest.json").read_text())
    target = _store(store)
    try:
        return target.manifest(target.version_id(ref))
    except FactoryError as exc:
        _fail(exc)
        raise  # not reached: _fail exits


@app.command()
def push(
    version: str,
    repo: Annotated[str, typer.Option("--repo", help="ORG/NAME of the dataset repo")],
    store: StoreOpt = "store",
    token_env: str = typer.Option("HF_TOKEN", help="environment variable holding the token"),
    private: bool = False,
    include_drops: bool = typer.Option(False, help="upload the drop log too"),
    endpoint: str | None = typer.Option(None, help="Hub URL (default: huggingface.co)"),
) -> None:
    """Upload a version to the Hugging Face Hub: Parquet per output and a dataset card."""
    from factory.publish.hub import push_version

    try:
        url = push_version(
            _store(store).resolve(version),
            repo,
            token_env=token_env,
            private=private,
            include_drops=include_drops,
            endpoint=endpoint,
        )
    except FactoryError as exc:
        _fail(exc)
        return
    print(url)


@app.command()
def export(
    version: str,
    out_dir: Annotated[Path, typer.Argument(help="an empty or new folder")],
    store: StoreOpt = "store",
    include_drops: bool = typer.Option(False, help="export the drop log too"),
) -> None:
    """Write the folder `push` would upload (Parquet per output, README.md card, manifest, recipe)."""
    from factory.publish.hub import export_version

    try:
        path = export_version(_store(store).resolve(version), out_dir, include_drops=include_drops)
    except FactoryError as exc:
        _fail(exc)
        return
    print(path)


@app.command()
def gc(
    store: StoreOpt = "store",
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would go, remove nothing"),
    gen_cache: bool = typer.Option(False, "--gen-cache", help="also remove the generation request cache"),
) -> None:
    """Remove cache entries (and, in a remote store, objects) no version refers to; versions stay whole."""
    from factory.storage.gc import collect

    try:
        report = collect(_store(store), dry_run=dry_run, gen_cache=gen_cache)
    except FactoryError as exc:
        _fail(exc)
        return
    verb = "would remove" if dry_run else "removed"
    for path in report["removed"]:
        print(path)
    err.print(
        f"{verb} {len(report['removed'])} entr{'y' if len(report['removed']) == 1 else 'ies'}, "
        f"{report['bytes_freed'] / 1e6:.1f} MB; kept {report['kept']} referred to by versions"
    )


@app.command()
def stages() -> None:
    """List stage types and their one-line descriptions."""
    from factory.registry import stage_classes

    for name, cls in stage_classes().items():
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name:<16} {cls.__module__:<24} {doc}")


@app.command()
def adapters() -> None:
    """List source adapters."""
    from factory.sources import ADAPTERS

    for name, adapter in ADAPTERS.items():
        print(f"{name:<22} {getattr(adapter, 'doc', '') or ''}")


model_app = typer.Typer(no_args_is_help=True, help="Local models: import GGUF files, folders, hub ids, shipped names.")
app.add_typer(model_app, name="model")


@model_app.command("import")
def model_import(
    src: Annotated[str, typer.Argument(help="a .gguf file, a model folder, a hub id or a shipped name (smollm2-135m)")],
    out: Annotated[Path, typer.Argument(help="the Hugging Face folder to write")],
    smoke: bool = typer.Option(True, help="run one smoke generation"),
    force: bool = typer.Option(False, help="replace an existing imported folder"),
) -> None:
    """Turn SRC into a Hugging Face folder the backends and trainers load (checks, smoke generation,
    the source's sha256 in factory_model.json). The last stdout line is the folder."""
    from factory.llm.models import import_model

    try:
        record = import_model(src, out, smoke=smoke, force=force)
    except FactoryError as exc:
        _fail(exc)
        return
    checks = record.get("checks", {})
    err.print(
        f"[green]ok[/green] {src} -> {out}: {checks.get('architecture')}, head_dim {checks.get('head_dim')}, "
        f"eos {checks.get('eos_token')!r}, pad {checks.get('pad_token')!r}; "
        f"sha256 {str(record.get('source_sha256'))[:16]}...; smoke: {record.get('smoke', {}).get('text', '')[:60]!r}"
    )
    for warning in checks.get("warnings", []):
        err.print(f"[yellow]warning:[/yellow] {warning}")
    print(Path(out).resolve())


@model_app.command("ls")
def model_ls() -> None:
    """Shipped model names and where they are (or would be) imported."""
    from factory.llm.models import SHIPPED, model_info, models_home

    for name, spec in SHIPPED.items():
        folder = models_home() / name
        state = "imported" if model_info(folder) else "not imported yet (imported on first use)"
        print(f"{name:<16} {spec.hub_id:<40} {folder}  [{state}]")


@model_app.command("path")
def model_path(ref: str) -> None:
    """The folder a model reference resolves to (imports a shipped name on first use)."""
    from factory.llm.models import resolve_model

    try:
        print(resolve_model(ref))
    except FactoryError as exc:
        _fail(exc)


from factory.cli.eval import eval_app  # noqa: E402
from factory.cli.human import app as human_app  # noqa: E402
from factory.cli.train import train_command  # noqa: E402

app.command("train")(train_command)
eval_app.add_typer(human_app, name="human")
app.add_typer(eval_app, name="eval")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
