"""Publish a built dataset version on the Hugging Face Hub: the dataset card, the exported folder, the push.

In: a version folder written by the runner (``manifest.json``, ``recipe.yaml``, one parquet folder per
output, ``drops/``). Out: a dataset repo where ``load_dataset(repo, "<output>")`` loads each output, with a
README.md card (funnel, sources and licences, a healthcare risk section, the resolved recipe) and the
manifest beside the data.

The token is read from an environment variable at call time and handed to ``HfApi`` only: it is never
written to the exported folder, the card, the manifest or the logs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from factory.errors import FactoryError
from factory.publish.card_risks import risk_section

logger = logging.getLogger(__name__)

DROPS = "drops"
NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
REPO_ID = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")

# Licence ids the Hub accepts in a card's `license:` field (the common ones for text data); any other
# licence is published as `license: other` with a `license_name`, and named in the sources table.
HUB_LICENSES = frozenset(
    "apache-2.0 mit bsd-2-clause bsd-3-clause cc0-1.0 cc-by-2.0 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 "
    "cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-3.0 "
    "cc-by-nc-sa-4.0 gpl-2.0 gpl-3.0 lgpl-3.0 agpl-3.0 gfdl odc-by odbl pddl c-uda cdla-permissive-2.0 "
    "cdla-sharing-1.0 llama2 llama3 llama3.1 llama3.2 llama3.3 gemma openrail unlicense".split()
)
# The Hub's `size_categories` buckets, by upper bound on the row count.
SIZES = (
    (10**3, "n<1K"),
    (10**4, "1K<n<10K"),
    (10**5, "10K<n<100K"),
    (10**6, "100K<n<1M"),
    (10**7, "1M<n<10M"),
    (10**8, "10M<n<100M"),
    (10**9, "100M<n<1B"),
)


# ---------------------------------------------------------------------------------------------- manifest


def load_manifest(version_dir: Path) -> dict[str, Any]:
    """The version's manifest, with the keys publishing needs checked (a ``FactoryError`` names what lacks)."""
    path = Path(version_dir) / "manifest.json"
    if not path.is_file():
        raise FactoryError(f"{version_dir}: not a built dataset version (no manifest.json)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FactoryError(f"{path}: not valid JSON: {e}") from e
    missing = [key for key in ("version", "recipe_name", "outputs") if key not in manifest]
    if missing:
        raise FactoryError(f"{path}: missing key(s) {missing}")
    for name in manifest["outputs"]:
        if not NAME.match(name) or name == DROPS:
            raise FactoryError(f"{path}: output name {name!r} cannot be a folder of the dataset repo")
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _output_kind(version_dir: Path, files: list[dict[str, Any]]) -> str:
    """``preference`` or ``sft`` from the first file's columns (the manifest does not say)."""
    import pyarrow.parquet as pq

    if not files:
        return "empty"
    names = set(pq.read_schema(Path(version_dir) / files[0]["path"]).names)
    if {"prompt", "chosen", "rejected"} <= names:
        return "preference"
    return "sft" if "messages" in names else "other"


# ---------------------------------------------------------------------------------------------- card


def card_license(licences: list[str | None]) -> dict[str, str]:
    """The card's licence keys: the Hub id all sources share, else ``other`` with a ``license_name``."""
    slugs = {re.sub(r"[^a-z0-9.]+", "-", (lic or "").lower()).strip("-") for lic in licences}
    if not slugs or slugs == {""}:
        return {"license": "unknown"}
    if len(slugs) != 1 or "" in slugs:
        return {"license": "other", "license_name": "mixed-source-licences"}
    only = slugs.pop()
    return {"license": only} if only in HUB_LICENSES else {"license": "other", "license_name": only}


def _size_category(rows: int) -> str:
    return next((label for limit, label in SIZES if rows < limit), "n>1B")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _reasons(dropped: dict[str, int] | None) -> str:
    return ", ".join(f"{reason}: {n:,}" for reason, n in sorted((dropped or {}).items())) or "-"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _fence(text: str, lang: str) -> str:
    ticks = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def _front_matter(manifest: dict[str, Any], kinds: dict[str, str], include_drops: bool) -> dict[str, Any]:
    """The card's YAML metadata: one ``configs`` entry per output (the first is the default), licence, tags."""
    configs: list[dict[str, Any]] = []
    names = [name for name, out in manifest["outputs"].items() if out.get("files")]
    if include_drops and manifest.get("drop_log", {}).get("files"):
        names.append(DROPS)
    for name in names:
        config: dict[str, Any] = {
            "config_name": name,
            "data_files": [{"split": "train", "path": f"{name}/*.parquet"}],
        }
        if not configs:
            config["default"] = True
        configs.append(config)
    tags = ["medical", "aloe-factory"]
    tags += [tag for kind, tag in (("sft", "sft"), ("preference", "dpo")) if kind in kinds.values()]
    rows = sum(int(out.get("rows", 0)) for out in manifest["outputs"].values())
    meta: dict[str, Any] = {"pretty_name": f"{manifest['recipe_name']} ({manifest['version'][:12]})"}
    meta.update(card_license([s.get("licence") for s in manifest.get("sources", [])]))
    meta.update(task_categories=["text-generation"], tags=tags, size_categories=[_size_category(rows)])
    meta["configs"] = configs
    return meta


def _outputs_table(manifest: dict[str, Any], kinds: dict[str, str]) -> str:
    rows = []
    for name, out in manifest["outputs"].items():
        files = out.get("files", [])
        size = sum(int(f.get("bytes", 0)) for f in files) / 1e6
        rows.append([name, kinds[name], f"{int(out.get('rows', 0)):,}", len(files), f"{size:.2f}"])
    return _table(["config", "kind", "rows", "files", "size (MB)"], rows)


def _sources_table(manifest: dict[str, Any]) -> str:
    rows = []
    for s in manifest.get("sources", []):
        fingerprint = ", ".join(f"{k}={v}" for k, v in sorted((s.get("fingerprint") or {}).items()))
        rows.append(
            [
                s.get("name"),
                s.get("adapter"),
                s.get("licence") or "not stated",
                f"{int(s.get('rows_read', 0)):,}",
                f"{int(s.get('rows_kept', 0)):,}",
                _reasons(s.get("dropped")),
                fingerprint or "-",
            ]
        )
    header = ["source", "adapter", "licence", "rows read", "rows kept", "dropped (by reason)", "fingerprint"]
    return _table(header, rows)


def _funnel_table(manifest: dict[str, Any]) -> str:
    rows = []
    for i, st in enumerate(manifest.get("stages", []), start=1):
        rows.append(
            [
                i,
                st.get("name"),
                st.get("type"),
                f"{int(st.get('rows_in', 0)):,}",
                f"{int(st.get('rows_out', 0)):,}",
                _reasons(st.get("dropped")),
                "yes" if st.get("cached") else "no",
                f"{float(st.get('wall_s') or 0):.1f}",
            ]
        )
    header = ["#", "stage", "type", "rows in", "rows out", "dropped (by reason)", "cached", "wall (s)"]
    totals = manifest.get("totals", {})
    return (
        _table(header, rows) + f"\n\nTotals: {int(totals.get('rows_in', 0)):,} rows in, "
        f"{int(totals.get('rows_out', 0)):,} rows out, {int(totals.get('rows_dropped', 0)):,} dropped."
    )


def dataset_card(version_dir: Path, *, repo_id: str | None = None, include_drops: bool = False) -> str:
    """README.md of the dataset repo: front matter for the Hub and ``datasets``, then the version's story.

    The story: what the dataset is (recipe, version, factory version), how to load it, output sizes,
    sources with licences and fingerprints, healthcare uses, risks and the mitigations applied
    (``factory.card_risks``, with the non-commercial sources flagged), the stage funnel, the drop log, and
    the resolved recipe.
    """
    version_dir = Path(version_dir)
    manifest = load_manifest(version_dir)
    kinds = {
        name: _output_kind(version_dir, out.get("files", [])) for name, out in manifest["outputs"].items()
    }
    meta = _front_matter(manifest, kinds, include_drops)
    first = next((c["config_name"] for c in meta["configs"]), "<output>")
    load = f'from datasets import load_dataset\n\nds = load_dataset("{repo_id or "<namespace>/<name>"}", '
    load += f'"{first}", split="train")'
    recipe_file = version_dir / "recipe.yaml"
    if recipe_file.is_file():
        recipe_text = recipe_file.read_text(encoding="utf-8")
    else:
        recipe_text = yaml.safe_dump(manifest.get("recipe", {}), sort_keys=False, allow_unicode=True)
    drop_log = manifest.get("drop_log", {})
    drops_here = include_drops and bool(drop_log.get("files"))

    parts = [
        "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---",
        f"# {manifest['recipe_name']}",
        f"Built by aloe-factory {manifest.get('factory_version', '?')} from the recipe "
        f"`{manifest['recipe_name']}` (recipe hash `{manifest.get('recipe_hash', '?')}`).\n"
        f"Dataset version `{manifest['version']}`, created {manifest.get('created_at', '?')}.",
        "## Load\n\n" + _fence(load, "python"),
        "## Outputs\n\n" + _outputs_table(manifest, kinds),
        "## Sources\n\nEach row's `source` column names its source; that source's licence applies to the row."
        "\n\n" + _sources_table(manifest),
        risk_section(manifest),
        "## Stage funnel\n\n" + _funnel_table(manifest),
        f"## Drop log\n\n{int(drop_log.get('rows', 0)):,} dropped rows, each with its stage and reason: "
        + ("in `drops/` (config `drops`)." if drops_here else "not included in this upload."),
        "## Recipe\n\nThe resolved recipe this version was built from (also in `recipe.yaml`; the full build "
        "record is in `manifest.json`):\n\n" + _fence(recipe_text, "yaml"),
    ]
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------- export


def _place(src: Path, dst: Path, entry: dict[str, Any], link: bool) -> None:
    """Copy (or hard-link) one data file, checking it against the manifest's size and sha256."""
    if not src.is_file():
        raise FactoryError(f"{src}: listed in manifest.json but missing")
    if "bytes" in entry and src.stat().st_size != int(entry["bytes"]):
        raise FactoryError(f"{src}: {src.stat().st_size} bytes, manifest.json says {entry['bytes']}")
    if entry.get("sha256") and _sha256(src) != entry["sha256"]:
        raise FactoryError(f"{src}: sha256 differs from manifest.json (the version folder was modified)")
    if dst.exists():
        raise FactoryError(f"{dst}: two files of the version map to the same path in the repo")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)


def _export(version_dir: Path, out_dir: Path, include_drops: bool, repo_id: str | None, link: bool) -> Path:
    version_dir, out_dir = Path(version_dir), Path(out_dir)
    manifest = load_manifest(version_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FactoryError(f"{out_dir}: export folder is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = [(name, out.get("files", [])) for name, out in manifest["outputs"].items()]
    if include_drops:
        groups.append((DROPS, manifest.get("drop_log", {}).get("files", [])))
    for name, files in groups:
        for entry in files:
            src = version_dir / entry["path"]
            _place(src, out_dir / name / src.name, entry, link)
    shutil.copyfile(version_dir / "manifest.json", out_dir / "manifest.json")
    for extra in ("recipe.yaml", "report.html"):  # the report opens offline from the Hub folder too
        if (version_dir / extra).is_file():
            shutil.copyfile(version_dir / extra, out_dir / extra)
    card = dataset_card(version_dir, repo_id=repo_id, include_drops=include_drops)
    (out_dir / "README.md").write_text(card, encoding="utf-8")
    return out_dir


def export_version(
    version_dir: Path, out_dir: Path, include_drops: bool = False, *, repo_id: str | None = None
) -> Path:
    """Write into ``out_dir`` (new or empty) exactly the folder ``push_version`` uploads; returns ``out_dir``.

    Holds ``<output>/*.parquet`` for each output (checked against the manifest's sizes and sha256),
    README.md (the card), manifest.json, recipe.yaml, report.html, and ``drops/*.parquet`` if ``include_drops``.
    """
    return _export(version_dir, out_dir, include_drops, repo_id, link=False)


# ---------------------------------------------------------------------------------------------- push


def push_version(
    version_dir: Path,
    repo_id: str,
    *,
    token_env: str = "HF_TOKEN",
    private: bool = False,
    include_drops: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    endpoint: str | None = None,
) -> str:
    """Upload a version to the dataset repo ``repo_id`` (created if missing); returns the commit URL.

    The token comes from the environment variable ``token_env``. ``private=True`` creates the repo private
    and refuses to push into an existing public one. ``revision`` names a branch (created from main if
    missing). Data files of a previous push that this version does not have are deleted in the (first)
    commit, so a config never mixes two versions' shards. ``huggingface_hub`` makes one commit for up to
    256 files; a bigger version goes up in several commits (re-running resumes it).
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        from httpx2 import HTTPError as TransportError  # huggingface_hub 2.x
    except ImportError:  # huggingface_hub 1.x
        from httpx import HTTPError as TransportError

    token = os.environ.get(token_env, "").strip()
    if not token:
        raise FactoryError(
            f"no Hugging Face token: set the environment variable {token_env} to a token with write access "
            "(https://huggingface.co/settings/tokens)"
        )
    if not REPO_ID.match(repo_id):
        raise FactoryError(f"repo id {repo_id!r}: expected '<namespace>/<name>'")
    manifest = load_manifest(Path(version_dir))
    message = commit_message or f"aloe-factory: {manifest['recipe_name']} version {manifest['version'][:12]}"
    stale = [f"{name}/*" for name in manifest["outputs"]] + [f"{DROPS}/*"]
    api = HfApi(endpoint=endpoint, token=token)

    with tempfile.TemporaryDirectory(prefix="factory-push-") as tmp:
        folder = _export(Path(version_dir), Path(tmp) / "export", include_drops, repo_id, link=True)
        for meta_file in ("README.md", "manifest.json", "recipe.yaml"):  # a token pasted into a recipe
            path = folder / meta_file
            text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
            if len(token) >= 16 and token in text:
                raise FactoryError(f"{meta_file} contains the token from {token_env}; refusing to publish it")
        try:
            # private=None keeps the namespace's default (an org may default to private).
            api.create_repo(repo_id, repo_type="dataset", exist_ok=True, private=True if private else None)
            if private and not api.repo_info(repo_id, repo_type="dataset").private:
                raise FactoryError(f"{repo_id} exists and is public; refusing a push asked to be private")
            if revision and revision != "main" and not revision.startswith("refs/"):
                api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
            logger.info("pushing version %s to dataset %s", manifest["version"], repo_id)
            info = api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                repo_type="dataset",
                revision=revision,
                commit_message=message,
                commit_description=f"Dataset version `{manifest['version']}` of recipe "
                f"`{manifest['recipe_name']}`, built by aloe-factory {manifest.get('factory_version', '?')}.",
                delete_patterns=stale,
            )
        except (HfHubHTTPError, ValueError) as e:  # ValueError: the Hub rejected the card's metadata
            raise FactoryError(f"push to dataset {repo_id} failed: {str(e).replace(token, '***')}") from None
        except TransportError as e:
            raise FactoryError(f"cannot reach the Hub at {api.endpoint}: {e}") from None
    logger.info("pushed %s: %s", repo_id, info.commit_url)
    return str(info.commit_url)
