"""Publish a built dataset version on the Hugging Face Hub: the exported folder and the push.

In: a version folder written by the runner (``manifest.json``, ``recipe.yaml``, one parquet folder per
output, ``drops/``). Out: a dataset repo where ``load_dataset(repo, "<output>")`` loads each output (its
``train`` and, if the recipe asked, ``test`` split), with the README.md card of ``factory.publish.card``
(features with their meaning, funnel, sources and licences, healthcare risks, the resolved recipe) and the
manifest beside the data.

The token is read from an environment variable at call time and handed to ``HfApi`` only: it is never
written to the exported folder, the card, the manifest or the logs.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from factory.hashing import file_sha256
from factory.publish.card import DROPS, dataset_card, load_manifest

logger = logging.getLogger(__name__)

REPO_ID = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")


# ---------------------------------------------------------------------------------------------- export


def _place(src: Path, dst: Path, entry: dict[str, Any], link: bool) -> None:
    """Copy (or hard-link) one data file, checking it against the manifest's size and sha256."""
    if not src.is_file():
        raise FactoryError(f"{src}: listed in manifest.json but missing")
    if "bytes" in entry and src.stat().st_size != int(entry["bytes"]):
        raise FactoryError(f"{src}: {src.stat().st_size} bytes, manifest.json says {entry['bytes']}")
    if entry.get("sha256") and file_sha256(src) != entry["sha256"]:
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
