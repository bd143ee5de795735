"""factory.publish.hub: the dataset card, the exported folder, and the push (against tests/hub_standin.py).

The Hugging Face Hub is unreachable from the test machines: pushes go to a local stand-in that speaks the
few Hub endpoints the upload path uses and keeps the committed files in a folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hub_standin import HubStandin

from factory.errors import FactoryError
from factory.publish.card import card_license, dataset_card
from factory.publish.hub import export_version, push_version
from factory.rows import MESSAGES

TOKEN = "hf_standinTOKEN0123456789abcdef"
REPO = "aloe/medical-sft"


def _msgs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in pairs]


def _write_part(version_dir: Path, rel: str, table: pa.Table) -> dict:
    path = version_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    data = path.read_bytes()
    return {
        "path": rel,
        "rows": table.num_rows,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def make_version(root: Path, version: str = "a1b2c3d4e5f60718", sft_shards: int = 2) -> Path:
    """A built version folder, as the runner writes it: two outputs, a drop log, manifest and recipe."""
    vdir = root / version
    sft_schema = pa.schema([("id", pa.string()), ("source", pa.string()), ("messages", MESSAGES)])
    sft_files = []
    for shard in range(sft_shards):
        rows = [
            {
                "id": f"{version}-{shard}-{i}",
                "source": "medqa" if i % 2 else "pubmedqa",
                "messages": _msgs(
                    ("user", f"Question {shard}.{i}: dose | route?"), ("assistant", f"Answer {i}.")
                ),
            }
            for i in range(3)
        ]
        table = pa.Table.from_pylist(rows, schema=sft_schema)
        sft_files.append(_write_part(vdir, f"sft/part-{shard:05d}.parquet", table))
    pref_schema = pa.schema(
        [("id", pa.string()), ("source", pa.string())]
        + [(c, MESSAGES) for c in ("prompt", "chosen", "rejected")]
    )
    pref_rows = [
        {
            "id": f"p{i}",
            "source": "medqa",
            "prompt": _msgs(("user", f"Is drug {i} safe in pregnancy?")),
            "chosen": _msgs(("assistant", "It depends; ask your doctor.")),
            "rejected": _msgs(("assistant", "Yes, always.")),
        }
        for i in range(4)
    ]
    pref_file = _write_part(
        vdir, "preference/part-00000.parquet", pa.Table.from_pylist(pref_rows, schema=pref_schema)
    )
    drops = pa.table(
        {
            "id": ["d0", "d1"],
            "source": ["medqa", "pubmedqa"],
            "stage": ["dedup", "length"],
            "reason": ["duplicate", "too_short"],
            "detail": ["of x1", "12 chars"],
            "row": [json.dumps({"question": "q"}), json.dumps({"question": "?"})],
        }
    )
    drop_file = _write_part(vdir, "drops/part-00000.parquet", drops)
    recipe = {
        "name": "aloe-mini",
        "sources": [{"name": "medqa", "path": "data/medqa.jsonl", "adapter": "medqa", "licence": "MIT"}],
        "outputs": {"sft": {"type": "sft"}, "preference": {"type": "dpo"}},
    }
    (vdir / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    n_sft = 3 * sft_shards
    manifest = {
        "version": version,
        "created_at": "2025-01-01T00:00:00Z",
        "factory_version": "0.1.0",
        "recipe_name": "aloe-mini",
        "recipe_hash": "feedc0de",
        "sources": [
            {
                "name": "medqa",
                "adapter": "medqa",
                "licence": "MIT",
                "fingerprint": {"sha256": "ab" * 32, "files": 1},
                "rows_read": 10,
                "rows_kept": 8,
                "dropped": {"duplicate": 2},
            },
            {
                "name": "pubmedqa",
                "adapter": "pubmedqa",
                "licence": "MIT",
                "fingerprint": {"hub": "qiaojin/PubMedQA", "revision": "0123abcd"},
                "rows_read": 5,
                "rows_kept": 5,
                "dropped": {},
            },
        ],
        "stages": [
            {
                "name": "length",
                "type": "filter",
                "key": "k1",
                "params": {"min_chars": 20},
                "rows_in": 15,
                "rows_out": 14,
                "dropped": {"too_short": 1},
                "cached": True,
                "wall_s": 0.25,
                "report": {},
            },
            {
                "name": "dedup",
                "type": "dedup",
                "key": "k2",
                "params": {},
                "rows_in": 14,
                "rows_out": 13,
                "dropped": {"duplicate": 1},
                "cached": False,
                "wall_s": 1.5,
                "report": {},
            },
        ],
        "outputs": {
            "sft": {"rows": n_sft, "files": sft_files},
            "preference": {"rows": 4, "files": [pref_file]},
        },
        "drop_log": {"rows": 2, "files": [drop_file]},
        "recipe": recipe,
        "totals": {"rows_in": 15, "rows_out": n_sft + 4, "rows_dropped": 2},
    }
    (vdir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return vdir


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def parquet_rows(vdir: Path, folder: str) -> list[dict]:
    return [row for f in sorted((vdir / folder).glob("*.parquet")) for row in pq.read_table(f).to_pylist()]


def load(folder: Path, config: str, cache: Path) -> list[dict]:
    import datasets

    return datasets.load_dataset(str(folder), config, split="train", cache_dir=str(cache)).to_list()


@pytest.fixture
def version_dir(tmp_path: Path) -> Path:
    return make_version(tmp_path / "store")


@pytest.fixture
def hub(tmp_path: Path):
    with HubStandin(tmp_path / "hub", token=TOKEN) as standin:
        yield standin


# ---------------------------------------------------------------------------------------------- card


def test_card_front_matter_and_body(version_dir: Path):
    card = dataset_card(version_dir, repo_id=REPO)
    meta = front_matter(card)
    assert [c["config_name"] for c in meta["configs"]] == ["sft", "preference"]
    assert meta["configs"][0]["default"] is True and "default" not in meta["configs"][1]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "sft/*.parquet"}]
    assert meta["license"] == "mit"
    assert {"medical", "sft", "dpo"} <= set(meta["tags"])
    assert meta["task_categories"] == ["text-generation"]
    assert "a1b2c3d4e5f60718" in card and "0.1.0" in card and "aloe-mini" in card
    assert "| 2 | dedup | dedup | 14 | 13 | duplicate: 1 | no | 1.5 |" in card
    assert "| 1 | length | filter | 15 | 14 | too_short: 1 | yes | 0.2 |" in card
    assert "| sft | sft | 6 | 2 |" in card and "| preference | preference | 4 | 1 |" in card
    assert "qiaojin/PubMedQA" in card and "| medqa | medqa | MIT |" in card
    recipe_block = card.split("```yaml\n")[1].split("\n```")[0]
    assert yaml.safe_load(recipe_block) == yaml.safe_load((version_dir / "recipe.yaml").read_text())
    assert f'load_dataset("{REPO}", "sft"' in card
    assert "drops" not in [c["config_name"] for c in meta["configs"]]


def test_card_features_columns_and_splits(version_dir: Path, tmp_path: Path):
    """An output with a test split (``test-*`` files beside ``part-*``): the config names both splits, the
    front matter carries each config's features and split sizes, the body each column's meaning; the
    export loads both splits."""
    manifest = json.loads((version_dir / "manifest.json").read_text())
    schema = pq.read_schema(version_dir / "sft/part-00000.parquet")
    rows = [{"id": "t0", "source": "medqa", "messages": _msgs(("user", "Dose?"), ("assistant", "5 mg."))}]
    test_file = _write_part(version_dir, "sft/test-00000.parquet", pa.Table.from_pylist(rows, schema=schema))
    sft = manifest["outputs"]["sft"]
    sft["files"] = [{**f, "split": "train"} for f in sft["files"]] + [{**test_file, "split": "test"}]
    sft.update(rows=7, splits={"train": 6, "test": 1})
    (version_dir / "manifest.json").write_text(json.dumps(manifest))

    card = dataset_card(version_dir)
    meta = front_matter(card)
    assert meta["configs"][0]["data_files"] == [
        {"split": "train", "path": "sft/part-*.parquet"},
        {"split": "test", "path": "sft/test-*.parquet"},
    ]
    info = {i["config_name"]: i for i in meta["dataset_info"]}
    assert [f["name"] for f in info["sft"]["features"]] == ["id", "source", "messages"]
    assert info["sft"]["features"][2]["list"] == [
        {"name": "role", "dtype": "string"},
        {"name": "content", "dtype": "string"},
    ]
    assert {s["name"]: s["num_examples"] for s in info["sft"]["splits"]} == {"train": 6, "test": 1}
    assert "| sft | sft | 7 | 3 | " in card and "| train 6, test 1 |" in card
    assert "| `messages` | list of {role, content} | the conversation to train on" in card
    assert "| `chosen` | list of {role, content} | the preferred answer" in card

    out = export_version(version_dir, tmp_path / "export")
    import datasets

    loaded = datasets.load_dataset(str(out), "sft", cache_dir=str(tmp_path / "hf-cache"))
    assert loaded["test"].to_list() == rows and len(loaded["train"]) == 6


def test_card_license_rules():
    assert card_license(["Apache-2.0", "apache-2.0"]) == {"license": "apache-2.0"}
    assert card_license(["CC BY 4.0"]) == {"license": "cc-by-4.0"}
    assert card_license(["MedQA research terms"]) == {
        "license": "other",
        "license_name": "medqa-research-terms",
    }
    assert card_license(["mit", "cc-by-4.0"])["license"] == "other"
    assert card_license(["mit", None])["license"] == "other"
    assert card_license([None, None]) == {"license": "unknown"}


# ---------------------------------------------------------------------------------------------- export


def test_export_loads_with_datasets(version_dir: Path, tmp_path: Path):
    out = export_version(version_dir, tmp_path / "export")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "manifest.json",
        "preference/part-00000.parquet",
        "recipe.yaml",
        "sft/part-00000.parquet",
        "sft/part-00001.parquet",
    ]
    for rel in ("manifest.json", "recipe.yaml", "sft/part-00001.parquet"):
        assert (out / rel).read_bytes() == (version_dir / rel).read_bytes()
    assert [c["config_name"] for c in front_matter((out / "README.md").read_text())["configs"]] == [
        "sft",
        "preference",
    ]
    cache = tmp_path / "hf-cache"
    assert load(out, "sft", cache) == parquet_rows(version_dir, "sft")
    assert load(out, "preference", cache) == parquet_rows(version_dir, "preference")


def test_export_include_drops(version_dir: Path, tmp_path: Path):
    out = export_version(version_dir, tmp_path / "export", include_drops=True)
    assert (out / "drops/part-00000.parquet").read_bytes() == (
        version_dir / "drops/part-00000.parquet"
    ).read_bytes()
    meta = front_matter((out / "README.md").read_text())
    assert [c["config_name"] for c in meta["configs"]] == ["sft", "preference", "drops"]
    assert load(out, "drops", tmp_path / "hf-cache") == parquet_rows(version_dir, "drops")


def test_export_refuses_a_modified_version(version_dir: Path, tmp_path: Path):
    (version_dir / "sft/part-00001.parquet").write_bytes(b"not the file the manifest describes")
    with pytest.raises(FactoryError, match="part-00001.parquet"):
        export_version(version_dir, tmp_path / "export")
    with pytest.raises(FactoryError, match="no manifest.json"):
        export_version(tmp_path / "nothing", tmp_path / "export2")


# ---------------------------------------------------------------------------------------------- push


@pytest.mark.parametrize("xet", [True, False], ids=["pipelined-upload", "create-commit"])
def test_push_to_standin(version_dir: Path, tmp_path: Path, hub: HubStandin, monkeypatch, xet: bool):
    # hf_xet installed -> upload_folder uses the streamed pipeline; without it, create_commit.
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", not xet)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = push_version(version_dir, REPO, endpoint=hub.url)

    assert result.startswith(f"{hub.url}/datasets/{REPO}/commit/")
    assert TOKEN not in result
    expected = export_version(version_dir, tmp_path / "expected", repo_id=REPO)
    stored = hub.files(REPO)
    want = {p.relative_to(expected).as_posix(): p.read_bytes() for p in expected.rglob("*") if p.is_file()}
    assert {k: v for k, v in stored.items() if k != ".gitattributes"} == want
    assert "configs:" in stored["README.md"].decode()
    assert all(TOKEN.encode() not in content for content in stored.values())
    assert hub.unknown == []
    assert hub.requests and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in hub.requests)
    assert all(TOKEN.encode() not in r.body for r in hub.requests)
    commits = [r for r in hub.requests if "/commit/" in r.path]
    assert len(commits) == 1 and commits[0].headers["content-type"] == "application/x-ndjson"
    folder = hub.repo_dir(REPO)
    assert load(folder, "sft", tmp_path / "hf-cache") == parquet_rows(version_dir, "sft")


def test_push_without_token_is_a_clear_error(version_dir: Path, hub: HubStandin, monkeypatch):
    monkeypatch.delenv("MY_HUB_TOKEN", raising=False)
    with pytest.raises(FactoryError, match="MY_HUB_TOKEN"):
        push_version(version_dir, REPO, token_env="MY_HUB_TOKEN", endpoint=hub.url)
    assert hub.requests == []


def test_push_with_a_rejected_token(version_dir: Path, hub: HubStandin, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_value")
    with pytest.raises(FactoryError, match=f"push to dataset {REPO} failed") as err:
        push_version(version_dir, REPO, endpoint=hub.url)
    assert "hf_wrong_token_value" not in str(err.value)


def test_push_to_an_unreachable_hub(version_dir: Path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with pytest.raises(FactoryError, match="cannot reach the Hub"):
        push_version(version_dir, REPO, endpoint="http://127.0.0.1:9")


def test_push_include_drops_then_a_new_version_replaces_old_shards(
    tmp_path: Path, hub: HubStandin, monkeypatch
):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    first = make_version(tmp_path / "store", version="1111aaaa", sft_shards=2)
    push_version(first, REPO, include_drops=True, endpoint=hub.url)
    assert {"drops/part-00000.parquet", "sft/part-00001.parquet"} <= set(hub.files(REPO))
    assert load(hub.repo_dir(REPO), "drops", tmp_path / "c1") == parquet_rows(first, "drops")

    second = make_version(tmp_path / "store", version="2222bbbb", sft_shards=1)
    push_version(second, REPO, endpoint=hub.url)
    stored = hub.files(REPO)
    assert "sft/part-00001.parquet" not in stored and "drops/part-00000.parquet" not in stored
    assert json.loads(stored["manifest.json"])["version"] == "2222bbbb"
    assert load(hub.repo_dir(REPO), "sft", tmp_path / "c2") == parquet_rows(second, "sft")


def test_push_to_a_branch_and_privacy(version_dir: Path, hub: HubStandin, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    push_version(version_dir, "aloe/private-ds", private=True, revision="v1", endpoint=hub.url)
    assert hub.repos[("dataset", "aloe/private-ds")].private is True
    assert "sft/part-00000.parquet" in hub.files("aloe/private-ds", revision="v1")
    assert "sft/part-00000.parquet" not in hub.files("aloe/private-ds", revision="main")

    push_version(version_dir, REPO, endpoint=hub.url)  # public
    with pytest.raises(FactoryError, match="is public"):
        push_version(version_dir, REPO, private=True, endpoint=hub.url)


# ---------------------------------------------------------------------------------------------- healthcare


def test_card_healthcare_section_from_the_manifest(version_dir: Path):
    card = dataset_card(version_dir)
    assert "## Healthcare use and risks" in card and "**Out of scope.**" in card
    assert "Wrong or outdated medical content" in card and "**Bias.**" in card
    assert (
        "Not applied in this version:** benchmark decontamination" in card
    )  # the fixture's stages are plain
    assert "Non-commercial sources" not in card
    assert card.index("## Healthcare use and risks") < card.index("## Stage funnel")


def test_card_names_the_mitigations_that_ran_and_flags_non_commercial(version_dir: Path):
    manifest = json.loads((version_dir / "manifest.json").read_text())
    manifest["sources"].append({"name": "alpaca_en_demo", "adapter": "alpaca", "licence": "CC-BY-NC-4.0",
                                "rows_read": 3, "rows_kept": 3, "dropped": {}})  # fmt: skip
    manifest["sources"].append({"name": "mystery", "adapter": "alpaca", "rows_read": 1, "rows_kept": 1})
    teacher = {"kind": "vllm", "model": "meta-llama/Llama-3.1-70B-Instruct"}
    manifest["stages"] = [
        {"name": "decontaminate", "type": "decontaminate", "dropped": {"benchmark_contamination": 7},
         "report": {"hits_per_benchmark": {"medqa_test": 5, "careqa_test": 2}}, "params": {}},
        {"name": "near_dedup_qa", "type": "minhash_dedup", "dropped": {"near_duplicate": 11}, "params": {}},
        {"name": "cot", "type": "cot", "dropped": {"answer_mismatch": 3}, "params": {"backend": teacher}},
        {"name": "evol_cut", "type": "evol_cut", "dropped": {"low_evol_score": 4}, "params": {}},
        {"name": "jailbreak_wrap", "type": "jailbreak_wrap", "dropped": {}, "params": {}},
        {"name": "guard", "type": "judge", "dropped": {}, "params": {"backend": {"model": "meta-llama/Llama-Guard-3-8B"}}},
    ]  # fmt: skip
    (version_dir / "manifest.json").write_text(json.dumps(manifest))
    card = dataset_card(version_dir)
    section = card[card.index("## Healthcare use and risks") : card.index("## Stage funnel")]
    assert "7 rows that copy an evaluation item removed (benchmarks hit: careqa_test, medqa_test)" in section
    assert (
        "near-duplicate removal: 11 rows" in section
        and "Quality filtering (model scores and rules): 4" in section
    )
    assert (
        "(meta-llama/Llama-3.1-70B-Instruct) kept only when its answer matches the gold answer: 3" in section
    )
    assert (
        "wrapped in jailbreak templates" in section and "guard model (meta-llama/Llama-Guard-3-8B)" in section
    )
    assert "**Model-written rows.** Text generated by meta-llama/Llama-3.1-70B-Instruct" in section
    assert "Not applied in this version" not in section
    assert "`alpaca_en_demo` (CC-BY-NC-4.0): their licence forbids commercial use" in section
    assert "**Licence not stated:** `mystery`" in section


@pytest.mark.parametrize(
    "licence, nc",
    [("CC-BY-NC-4.0", True), ("DATA_LICENSE CC BY-NC 4.0", True), ("cc-by-nc-sa-4.0", True),
     ("upstream Apache-2.0; harmless = Alpaca instructions (CC BY-NC 4.0)", True), ("non-commercial use", True),
     ("MIT", False), ("Apache-2.0", False), ("CC BY 4.0 (repo LICENSE.txt)", False), ("cc-by-sa-4.0", False)],
)  # fmt: skip
def test_non_commercial_licences(licence, nc):
    from factory.publish.card_risks import NON_COMMERCIAL

    assert bool(NON_COMMERCIAL.search(licence)) is nc
