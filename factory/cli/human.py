"""``factory eval human``: blind pairwise human evaluation of models' answers (train/eval/human/).

    factory eval human prepare --out STUDY --questions FILE|VERSION_OUTPUT (--model M ... | --profiles P.yaml)
    factory eval human invite STUDY --name alice --name bob [--admin team] [--days 14] [--items 40]
    factory eval human revoke STUDY --name alice
    factory eval human serve STUDY [--host 127.0.0.1] [--port 8000]
    factory eval human results STUDY [--json]

The study folder holds ``study.json`` (items and the hidden model mapping), ``pii_review.json`` (flagged
questions, kept out until a person decides), ``gen_cache/`` (answers), ``human.sqlite`` (raters and votes;
``--db URL`` for PostgreSQL) and ``eval/human/`` (results). docs/EVAL.md has the tour.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from factory.cli.console import err, fail
from factory.errors import FactoryError

app = typer.Typer(
    no_args_is_help=True, help="Blind pairwise human evaluation: prepare, invite, serve, results."
)

StudyArg = Annotated[Path, typer.Argument(help="study folder (written by `prepare`)")]
DbOpt = Annotated[str | None, typer.Option("--db", help="database URL (default: sqlite in the study folder)")]


def _db(study_dir: Path, url: str | None, synchronous: str = "NORMAL"):
    from train.eval.human.db import StudyDB, sqlite_url
    from train.eval.human.prepare import DB_FILE
    from train.eval.human.study import load_study

    study = load_study(study_dir)
    return StudyDB(url or sqlite_url(Path(study_dir) / DB_FILE), study, synchronous=synchronous)


@app.command()
def prepare(
    out: Annotated[Path, typer.Option("--out", help="study folder to write")],
    questions: Annotated[
        Path, typer.Option(help="JSONL/JSON file of questions, or a version's output folder")
    ],
    model: Annotated[
        list[str] | None, typer.Option("--model", help="model folder or shipped name (2+)")
    ] = None,
    profiles: Annotated[
        Path | None, typer.Option(help="YAML: models: [{label, model, system_prompt, sampling}]")
    ] = None,
    server: Annotated[str | None, typer.Option(help="OpenAI-compatible server for every --model")] = None,
    name: Annotated[str | None, typer.Option(help="study name (default: the folder name)")] = None,
    field: Annotated[str | None, typer.Option("--field", help="the questions' text field")] = None,
    limit: Annotated[int | None, typer.Option(help="first N questions")] = None,
    pairings_per_question: int = 1,
    raters_per_item: int = 1,
    overlap_share: Annotated[
        float, typer.Option(help="share of items rated by --overlap-raters raters")
    ] = 0.2,
    overlap_raters: int = 3,
    seed: int = 0,
    pii: Annotated[
        bool, typer.Option("--pii/--no-pii", help="find and mask personal data (Presidio)")
    ] = True,
    pii_model: Annotated[
        str | None, typer.Option(help="installed spaCy pipeline for names and places")
    ] = None,
    review: Annotated[Path | None, typer.Option(help="a PII review file with decisions")] = None,
    device: str = "auto",
    max_model_len: int = 4096,
) -> None:
    """Questions -> personal data masked -> answers from each model -> study.json (balanced, blind)."""
    from train.eval.human.prepare import load_profiles, profiles_from_models
    from train.eval.human.prepare import prepare as run_prepare
    from train.eval.human.study import Design

    try:
        if bool(model) == bool(profiles):
            raise FactoryError("give either --model (two or more) or --profiles")
        chosen = load_profiles(profiles) if profiles else profiles_from_models(model or [], server)
        design = Design(seed=seed, pairings_per_question=pairings_per_question, raters_per_item=raters_per_item,
                        overlap_share=overlap_share, overlap_raters=overlap_raters)  # fmt: skip
        study, summary = run_prepare(
            out, questions, chosen, design, name=name, text_field=field, limit=limit, pii=pii,
            pii_model=pii_model, review_path=review, device=device, max_model_len=max_model_len,
        )  # fmt: skip
    except (FactoryError, ValueError) as exc:
        fail(exc)
    err.print(
        f"[bold]study {study.study_id}[/bold]: {summary['items']} items from {summary['questions_read']} questions; "
        f"{summary['flagged']} flagged for personal data, {len(summary['pending_review'])} awaiting review, "
        f"{len(summary['dropped'])} dropped; {summary['left_out']} (question, pair) left out (no answer)"
    )
    if summary["pending_review"]:
        err.print(f"review: set `decision` in {summary['review_file']}, then run prepare again")
    print(summary["study"])


@app.command()
def invite(
    study: StudyArg,
    name: Annotated[list[str] | None, typer.Option("--name", help="a rater (repeatable)")] = None,
    admin: Annotated[list[str] | None, typer.Option("--admin", help="an admin (repeatable)")] = None,
    days: Annotated[float, typer.Option(help="days the link stays valid")] = 14,
    items: Annotated[
        int | None, typer.Option(help="most items per rater (default: as many as are open)")
    ] = None,
    renew: Annotated[bool, typer.Option(help="replace an existing person's link")] = False,
    base_url: Annotated[str, typer.Option(help="where the server is reached")] = "http://127.0.0.1:8000",
    db: DbOpt = None,
) -> None:
    """Print one invitation link per person (tokens are stored hashed: keep the links, they are not shown again)."""
    try:
        store = _db(study, db)
        for role, names in (("rater", name or []), ("admin", admin or [])):
            for who in names:
                token = store.invite(
                    who, role=role, days=days, quota=items if role == "rater" else None, renew=renew
                )
                print(f"{role}\t{who}\t{base_url.rstrip('/')}/i/{token}")
        store.close()
    except FactoryError as exc:
        fail(exc)


@app.command()
def revoke(study: StudyArg, name: Annotated[list[str], typer.Option("--name")], db: DbOpt = None) -> None:
    """Revoke people's links and sessions; their unrated items go back to the pool."""
    try:
        store = _db(study, db)
        for who in name:
            err.print(f"revoked {who}: {store.revoke(who)} open item(s) freed")
        store.close()
    except FactoryError as exc:
        fail(exc)


@app.command()
def serve(
    study: StudyArg,
    host: Annotated[str, typer.Option(help="address to bind (default: this machine only)")] = "127.0.0.1",
    port: int = 8000,
    public_url: Annotated[str | None, typer.Option(help="origin raters use, when behind a proxy")] = None,
    policy: Annotated[Path | None, typer.Option(help="a text file replacing the default data policy")] = None,
    sync: Annotated[
        str, typer.Option(help="SQLite synchronous: normal (survives a killed server) or full")
    ] = "normal",
    db: DbOpt = None,
) -> None:
    """Serve the study until Ctrl-C."""
    from train.eval.human.app import serve as run_serve

    try:
        store = _db(study, db, sync)
    except FactoryError as exc:
        fail(exc)
    err.print(f"serving study {store.study.study_id} on http://{host}:{port} (Ctrl-C to stop)")
    origins = [public_url] if public_url else None
    run_serve(store, host, port, allowed_origins=origins, policy=policy.read_text() if policy else None,
              secure_cookie=bool(public_url and public_url.startswith("https")))  # fmt: skip


@app.command()
def results(
    study: StudyArg,
    db: DbOpt = None,
    bootstrap: Annotated[
        int, typer.Option(help="bootstrap resamples for the Bradley-Terry intervals")
    ] = 1000,
    seed: int = 0,
    to_models: Annotated[
        bool, typer.Option("--to-models/--no-to-models", help="also write each model folder's eval/human")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Preference shares (binomial test), can't-decide reasons, Bradley-Terry strengths, agreement, per rater."""
    from train.eval.human.results import results_table, study_results, write_study_results

    try:
        store = _db(study, db)
        res = study_results(store.study, store.votes(), bootstrap=bootstrap, seed=seed)
        paths = write_study_results(study, store.study, res, store.votes(), to_models=to_models)
        store.close()
    except FactoryError as exc:
        fail(exc)
    if as_json:
        print(json.dumps(res, indent=1, ensure_ascii=False))
    else:
        from rich.console import Console

        Console().print(results_table(res))
    for w in res["warnings"]:
        err.print(f"[yellow]warning:[/yellow] {w}", soft_wrap=True)
    for p in paths:
        err.print(f"wrote {p}")


if __name__ == "__main__":  # pragma: no cover
    app()
