"""The dataset card of a built version: README.md with the YAML front matter the Hub and ``datasets`` read.

In: a version folder written by the runner (``manifest.json``, ``recipe.yaml``, one parquet folder per
output, ``drops/``). Out: Markdown whose front matter names one config per output, its splits (``train``, and
``test`` where the recipe asked for one) and its features, and whose body tells the version's story: how to
load it, the outputs with each column's meaning (``factory.pipeline.output_schema``), the sources and their
licences, a healthcare risk section, the stage funnel, the drop log and the resolved recipe.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from factory.errors import FactoryError
from factory.pipeline.output_schema import meaning
from factory.publish.card_risks import risk_section

DROPS = "drops"
DROP_MEANINGS = {
    "id": "id of the dropped row",
    "source": "the recipe source of the dropped row",
    "stage": "the step that dropped it (a stage, source:NAME for loading, outputs)",
    "reason": "why, as a machine-readable reason",
    "detail": "why, in words (the value that failed, the duplicate it matched...)",
    "row": "the row's content as JSON (with drop_log.keep_rows)",
    "shard": "the Parquet file the row was read from",
    "pos": "the row's number in that file",
}
NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")

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


def _groups(manifest: dict[str, Any], include_drops: bool) -> dict[str, list[dict[str, Any]]]:
    """The configs of the card and their files: each output with rows, then the drop log if included
    (``datasets`` cannot load a config or split without rows, so the card names none)."""
    groups = {name: out["files"] for name, out in manifest["outputs"].items() if _rows(out.get("files", []))}
    if include_drops and _rows(manifest.get("drop_log", {}).get("files", [])):
        groups[DROPS] = manifest["drop_log"]["files"]
    return groups


def _rows(files: list[dict[str, Any]], split: str | None = None) -> int:
    return sum(int(f.get("rows", 0)) for f in files if split is None or f.get("split", "train") == split)


def _splits(name: str, files: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Split -> its files' glob and rows, for the splits with rows. Train files are ``part-*``, test files
    ``test-*``; an output without a test split keeps ``<name>/*.parquet``."""
    if not any(f.get("split") == "test" for f in files):
        return {"train": {"path": f"{name}/*.parquet", "rows": _rows(files)}}
    globs = {"train": f"{name}/part-*.parquet", "test": f"{name}/test-*.parquet"}
    return {
        split: {"path": globs[split], "rows": _rows(files, split)} for split in globs if _rows(files, split)
    }


def _dataset_info(version_dir: Path, groups: dict[str, list[dict[str, Any]]]) -> Any:
    """The front matter's ``dataset_info``: each config's features (from its Parquet schema), split sizes
    (rows; bytes as the files' uncompressed size) and download size, written by ``datasets`` itself so that
    ``load_dataset`` reads them back as they are (it checks each split's rows)."""
    import pyarrow.parquet as pq
    from datasets import DatasetInfo, Features, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    infos = DatasetInfosDict()
    for name, files in groups.items():
        schema = pq.read_schema(version_dir / files[0]["path"]).remove_metadata()
        splits = SplitDict()
        for split, info in _splits(name, files).items():
            size = 0
            for f in files:
                if f.get("split", "train") == split:
                    meta = pq.read_metadata(version_dir / f["path"])
                    size += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            splits.add(SplitInfo(name=split, num_bytes=size, num_examples=info["rows"]))
        infos[name] = DatasetInfo(
            features=Features.from_arrow_schema(schema),
            splits=splits,
            download_size=sum(int(f.get("bytes", 0)) for f in files),
            dataset_size=sum(s.num_bytes for s in splits.values()),
        )
    data = DatasetCardData()
    infos.to_dataset_card_data(data)
    return data["dataset_info"]


def _front_matter(
    version_dir: Path, manifest: dict[str, Any], kinds: dict[str, str], include_drops: bool
) -> dict[str, Any]:
    """The card's YAML metadata: one ``configs`` entry per output (the first is the default) with a
    ``data_files`` entry per split, licence, tags, and each config's features and split sizes."""
    configs: list[dict[str, Any]] = []
    groups = _groups(manifest, include_drops)
    for name, files in groups.items():
        data_files = [{"split": split, "path": s["path"]} for split, s in _splits(name, files).items()]
        config: dict[str, Any] = {"config_name": name, "data_files": data_files}
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
    if groups:
        meta["dataset_info"] = _dataset_info(version_dir, groups)
    return meta


def _type_name(dtype: pa.DataType) -> str:
    """A short name of an Arrow type: ``string``, ``list of {role, content}``, ``float64``..."""
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return f"list of {_type_name(dtype.value_type)}"
    if pa.types.is_struct(dtype):
        return "{" + ", ".join(dtype.field(i).name for i in range(dtype.num_fields)) + "}"
    return f"float{dtype.bit_width}" if pa.types.is_floating(dtype) else str(dtype)


def _columns_section(version_dir: Path, manifest: dict[str, Any], include_drops: bool) -> str:
    """Each config's columns: name, type and one-line meaning."""
    import pyarrow.parquet as pq

    parts = ["## Columns"]
    for name, files in _groups(manifest, include_drops).items():
        schema = pq.read_schema(version_dir / files[0]["path"])
        meanings = DROP_MEANINGS if name == DROPS else {}
        rows = [[f"`{f.name}`", _type_name(f.type), meanings.get(f.name) or meaning(f.name)] for f in schema]
        parts.append(f"### {name}\n\n" + _table(["column", "type", "meaning"], rows))
    return "\n\n".join(parts)


def _outputs_table(manifest: dict[str, Any], kinds: dict[str, str]) -> str:
    rows = []
    for name, out in manifest["outputs"].items():
        files = out.get("files", [])
        size = sum(int(f.get("bytes", 0)) for f in files) / 1e6
        splits = ", ".join(
            f"{split} {n:,}" for split, n in (out.get("splits") or {"train": out.get("rows", 0)}).items()
        )
        row = [name, kinds[name], f"{int(out.get('rows', 0)):,}", len(files), f"{size:.2f}", splits]
        rows.append(row)
    return _table(["config", "kind", "rows", "files", "size (MB)", "splits"], rows)


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

    The story: what the dataset is (recipe, version, factory version), how to load it, output sizes and
    splits, each output's columns with their meaning, sources with licences and fingerprints, healthcare
    uses, risks and the mitigations applied
    (``factory.card_risks``, with the non-commercial sources flagged), the stage funnel, the drop log, and
    the resolved recipe.
    """
    version_dir = Path(version_dir)
    manifest = load_manifest(version_dir)
    kinds = {
        name: _output_kind(version_dir, out.get("files", [])) for name, out in manifest["outputs"].items()
    }
    meta = _front_matter(version_dir, manifest, kinds, include_drops)
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
        _columns_section(version_dir, manifest, drops_here),
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
