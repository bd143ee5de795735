"""The output contract (factory.pipeline.output_schema) and test splits, on builds of the shipped demo data:
each output writes its format's columns and the provenance its rows fill, decided once for all its files;
a recipe asks for more with ``columns``; ``format: rows`` keeps everything; ``test_share`` writes a ``test``
split by a seeded id hash that rebuilds the same and loads with ``datasets``."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from output_contract import check_outputs
from tests_paths import ROOT

from factory.errors import RecipeError
from factory.log import Reporter
from factory.pipeline.outputs import in_test
from factory.pipeline.runner import build
from factory.publish.hub import export_version
from factory.recipe import load_recipe
from factory.storage.store import Store

QUIET = Reporter(quiet=True)
DATA = ROOT / "recipes" / "data" / "quickstart"
RECIPE = f"""\
name: contract
data_dir: {DATA}
sources:
  - {{name: demo_mcqa, path: mcqa.jsonl, adapter: medagents, licence: Apache-2.0}}
  - {{name: demo_open_qa, path: open_qa.jsonl, adapter: fields, kind: qa, on_error: skip, licence: Apache-2.0,
     fields: {{id: id, question: question, answer: answer, subject: focus}}}}
  - {{name: demo_preferences, path: preferences.jsonl, adapter: fields, kind: preference, licence: Apache-2.0,
     fields: {{prompt: prompt, chosen: chosen, rejected: rejected, subject: category}}}}
stages:
  - type: language_id
  - type: task_templates
    tasks: [{{task: focus_extraction, sources: [demo_open_qa], input: "{{{{ question }}}}", output: "{{{{ subject }}}}"}}]
  - type: to_chat
outputs:
  sft: {{format: messages, shard_rows: 40}}
  preference: {{format: preference}}
"""


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("contract") / "contract.yaml"
    path.write_text(RECIPE)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return Store(tmp_path_factory.mktemp("contract-store"))


def _build(recipe_file: Path, store: Store, sets: list[str] | None = None):
    return build(
        load_recipe(recipe_file, sets or []), store, executor="local", reporter=QUIET, html_report=False
    )


def _ids(version: Path, files: list[dict]) -> list[str]:
    return [
        i for f in files for i in pq.read_table(version / f["path"], columns=["id"]).column("id").to_pylist()
    ]


def test_outputs_hold_the_contract_and_the_provenance_their_rows_fill(recipe_file, store):
    result = _build(recipe_file, store)
    columns = check_outputs(result.path)
    # lang_score (on request only) and the preference rows' lang stay out; task is filled by open_qa rows only
    assert columns == {
        "sft": ["id", "source", "messages", "kind", "lang", "task", "template_id"],
        "preference": ["id", "source", "prompt", "chosen", "rejected"],
    }
    files = result.manifest["outputs"]["sft"]["files"]
    assert len(files) > 3
    first = pq.read_table(result.path / files[0]["path"])  # MCQA rows only: no task, yet the same columns
    assert first.column("task").null_count == first.num_rows and first.column_names == columns["sft"]
    last = pq.read_table(result.path / files[-1]["path"])
    assert last.column("task").null_count < last.num_rows


def test_a_recipe_asks_for_more_columns_and_rows_keeps_everything(recipe_file, store):
    asked = _build(recipe_file, store, ["outputs.sft.columns=[lang_score, text]"])
    cols = check_outputs(asked.path)["sft"]
    assert cols == ["id", "source", "messages", "kind", "text", "lang", "lang_score", "task", "template_id"]
    assert (
        pq.read_table(asked.path / "sft").column("text").null_count
        == asked.manifest["outputs"]["sft"]["rows"]
    )
    stages = asked.manifest["stages"]
    assert all(s["cached"] for s in stages)  # only the outputs step reran

    everything = _build(recipe_file, store, ["outputs={all: {format: rows}}"])
    schema = pq.read_schema(everything.path / everything.manifest["outputs"]["all"]["files"][0]["path"])
    assert check_outputs(everything.path)["all"] == schema.names
    assert {"lang_score", "meta", "question", "options", "task"} <= set(schema.names)

    with pytest.raises(RecipeError, match=r"outputs.sft.columns: \['nope'\]"):
        _build(recipe_file, store, ["outputs.sft.columns=[nope]"])


def test_test_share_splits_by_id_hash_stably(recipe_file, store, tmp_path):
    sets = ["outputs.sft.test_share=0.2", "outputs.sft.split_seed=3"]
    result = _build(recipe_file, store, sets)
    out = result.manifest["outputs"]["sft"]
    test_files = [f for f in out["files"] if f["split"] == "test"]
    train_files = [f for f in out["files"] if f["split"] == "train"]
    assert all(Path(f["path"]).name.startswith("test-") for f in test_files)
    assert all(Path(f["path"]).name.startswith("part-") for f in train_files)
    test_ids, train_ids = _ids(result.path, test_files), _ids(result.path, train_files)
    assert out["splits"] == {"train": len(train_ids), "test": len(test_ids)}
    assert 0.1 < len(test_ids) / (len(test_ids) + len(train_ids)) < 0.3
    assert list(in_test(test_ids, 0.2, 3)) == [True] * len(test_ids)
    assert not any(in_test(train_ids, 0.2, 3))
    assert "splits" not in result.manifest["outputs"]["preference"]

    # a rebuild in a fresh store splits alike; a row's split does not depend on the other rows
    again = _build(recipe_file, Store(tmp_path / "fresh"), sets)
    assert again.version_id == result.version_id
    assert (
        _ids(again.path, [f for f in again.manifest["outputs"]["sft"]["files"] if f["split"] == "test"])
        == test_ids
    )
    fewer = _build(recipe_file, store, [*sets, "sources.demo_open_qa.limit=50"])
    fewer_test = _ids(
        fewer.path, [f for f in fewer.manifest["outputs"]["sft"]["files"] if f["split"] == "test"]
    )
    assert set(fewer_test) < set(test_ids)

    folder = export_version(result.path, tmp_path / "export")
    meta = yaml.safe_load((folder / "README.md").read_text().split("---\n")[1])
    sft = next(c for c in meta["configs"] if c["config_name"] == "sft")
    assert sft["data_files"] == [
        {"split": "train", "path": "sft/part-*.parquet"},
        {"split": "test", "path": "sft/test-*.parquet"},
    ]
    import datasets

    loaded = datasets.load_dataset(str(folder), "sft", cache_dir=str(tmp_path / "hf"))
    assert set(loaded) == {"train", "test"}
    assert loaded["test"]["id"] == test_ids and loaded["train"]["id"] == train_ids
    assert loaded["train"].column_names == out["columns"]


def test_a_split_with_no_rows_is_written_but_not_named_in_the_card(recipe_file, store, tmp_path):
    """``datasets`` cannot load a split without rows: the version keeps its empty file (the schema), the
    card names the train split only."""
    result = _build(recipe_file, store, ["outputs.preference.test_share=0.001"])
    pref = result.manifest["outputs"]["preference"]
    assert pref["splits"]["test"] == 0 and (result.path / "preference" / "test-00000.parquet").is_file()
    import datasets

    folder = export_version(result.path, tmp_path / "export")
    card = (folder / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    config = next(c for c in meta["configs"] if c["config_name"] == "preference")
    assert config["data_files"] == [{"split": "train", "path": "preference/part-*.parquet"}]
    assert (
        f"| preference | preference | {pref['rows']} | 2 |" in card
        and f"train {pref['rows']}, test 0 |" in card
    )
    loaded = datasets.load_dataset(str(folder), "preference", cache_dir=str(tmp_path / "hf"))
    assert set(loaded) == {"train"} and loaded["train"].num_rows == pref["rows"]


def test_quickstart_columns():
    """recipes/quickstart.yaml as shipped (before the contract: sft also had lang_score; preference lang and
    lang_score)."""
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = build(recipe, Store(tmp), reporter=QUIET, html_report=False)
        assert check_outputs(result.path) == {
            "sft": ["id", "source", "messages", "kind", "lang"],
            "preference": ["id", "source", "prompt", "chosen", "rejected"],
        }
        card = (export_version(result.path, Path(tmp) / "export") / "README.md").read_text()
        manifest = json.loads((result.path / "manifest.json").read_text())
        assert manifest["outputs"]["sft"]["columns"] == ["id", "source", "messages", "kind", "lang"]
    assert "| `kind` | string | what the row was before it became a conversation" in card
    assert "| `lang` | string | language of the row's text" in card


def test_quality_demo_rows_output_keeps_every_column(shared_data, tmp_path):
    """recipes/quality_demo.yaml's `format: rows` output: every column of the rows, null ones too (as before)."""
    recipe = load_recipe(ROOT / "recipes" / "quality_demo.yaml", [f"data_dir={shared_data}"])
    result = build(recipe, Store(tmp_path / "store"), reporter=QUIET, html_report=False)
    columns = check_outputs(result.path)["rows"]
    assert columns[:3] == ["id", "source", "kind"] and columns[-1] == "quality_score" and len(columns) == 17
