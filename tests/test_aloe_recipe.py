"""recipes/aloe_beta.yaml states the Aloe Beta paper: each number the paper gives is in the table below, with
the pattern that reads it out of ../shared/ALOE_RECIPE.md and the recipe values it must equal. A change of
the recipe fails ``test_recipe_states_the_paper``; a change of ALOE_RECIPE.md fails
``test_table_is_what_aloe_recipe_md_says`` (skipped where that file is absent)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from tests_paths import ROOT

from factory.recipe import load_recipe

ALOE_MD = ROOT.parent / "shared" / "ALOE_RECIPE.md"
RECIPE = load_recipe(ROOT / "recipes" / "aloe_beta.yaml")
REDTEAM = load_recipe(ROOT / "recipes" / "aloe_beta_redteam.yaml")


def stage(name: str, recipe=RECIPE) -> Any:
    return next(s for s in recipe.stages if s.stage_name == name)


def dpo(name: str) -> Any:
    return next(d for d in RECIPE.train.dpo if d.name == name)


def group(path: str) -> Any:
    node, groups = None, stage("mix").groups
    for part in path.split("/"):
        node = groups[part]
        groups = node.groups
    return node


SFT, LAUNCH = RECIPE.train.sft, RECIPE.train.launcher


@dataclass(frozen=True)
class Fact:
    """A paper number: ``pattern``'s groups in ALOE_RECIPE.md read as ``paper``; ``recipe`` gives the same
    quantities from the recipe (in the paper's units)."""

    name: str
    pattern: str
    paper: tuple
    recipe: Callable[[], tuple]


FACTS = [
    Fact("QA near-dedup threshold", r"at Jaccard (0\.\d+)", (0.72,), lambda: (stage("near_dedup_qa").threshold,)),
    Fact("dialogue near-dedup threshold", r"speaker names, at (0\.\d+)", (0.77,),
         lambda: (stage("near_dedup_dialogue").threshold,)),
    Fact("DataTrove banding (QA)", r"(\d+) bands x (\d+) rows", (14, 8),
         lambda: (stage("near_dedup_qa").bands, stage("near_dedup_qa").rows)),
    Fact("DataTrove banding (dialogues)", r"(\d+) bands x (\d+) rows", (14, 8),
         lambda: (stage("near_dedup_dialogue").bands, stage("near_dedup_dialogue").rows)),
    Fact("shingles", r"(\d+)-gram shingles", (5,),
         lambda: (stage("near_dedup_qa").ngram,) if stage("near_dedup_qa").ngram == stage("near_dedup_dialogue").ngram
         else (None,)),
    Fact("DEITA cut", r"lowest (\d+)% by", (10,), lambda: (round(stage("evol_cut").drop_share * 100),)),
    Fact("answer form", r"normalised to one: `([^`]+)`", ("Answer: X",),
         lambda: (stage("answer_format").form.format(label="X", text=""),)),
    Fact("CoT teacher", r"\*\*Synthetic CoT\*\*: ([\w.\-]+),", ("Llama-3.1-70B-Instruct",),
         lambda: (stage("cot").backend.model.split("/")[-1],)),
    Fact("CoT few-shot", r"with (\d+)\s+few-shot examples", (3,), lambda: (stage("cot").fewshot,)),
    Fact("SFT size", r"Mixture \(SFT, ~(\d+)M samples", (2,), lambda: (stage("mix").total / 1e6,)),
    Fact("mixture", r"roughly (\d+)% medical / (\d+)% synthetic / (\d+)% general", (60, 20, 20),
         lambda: tuple(round(group(g).share * 100) for g in ("medical", "synthetic_cot", "general"))),
    Fact("general split", r"General, [\d,]+: ([\d.]+)% instruction following, ([\d.]+)% function calling, "
         r"([\d.]+)% long context", (67.5, 17.5, 15),
         lambda: tuple(round(group(f"general/{g}").share * 100, 1)
                       for g in ("instruction_following", "function_calling", "long_context"))),
    Fact("SFT epochs, context, lr", r"\*\*SFT\*\*: (\d+) epochs, (\d+)k context, lr (\d+(?:\.\d+)?(?:e-?\d+)?) \(Llama\)",
         (4, 16, 2e-5), lambda: (SFT.num_train_epochs, SFT.max_length / 1024, SFT.learning_rate)),
    Fact("SFT schedule, warm-up, batch", r"(cosine) schedule, (\d+) warm-up steps,\s+global batch (\d+)",
         ("cosine", 100, 128), lambda: (SFT.lr_scheduler_type, SFT.warmup_steps,
         SFT.per_device_train_batch_size * SFT.gradient_accumulation_steps * LAUNCH.num_processes)),
    Fact("merge", r"\*\*Merge\*\*:[^\n]*?(DARE-TIES)", ("DARE-TIES",),
         lambda: (RECIPE.train.merge.method.upper().replace("_", "-"),)),
    Fact("DPO stage 1", r"\*\*DPO stage 1\*\*: beta ([\d.]+), lr (\d+(?:\.\d+)?(?:e-?\d+)?), (\d+)k sequence length", (0.1, 2e-7, 4),
         lambda: (dpo("preference").beta, dpo("preference").learning_rate, dpo("preference").max_length / 1024)),
    Fact("DPO stage 1 chunks", r"into (\d+) chunks trained one\s+epoch each", (5,),
         lambda: (dpo("preference").chunks,) if dpo("preference").num_train_epochs == 1 else (None,)),
    Fact("DPO stage 2", r"\*\*DPO stage 2 \(red teaming\)\*\*:.*?(\d+) epoch, lr (\d+(?:\.\d+)?(?:e-?\d+)?)", (1, 1e-7),
         lambda: (dpo("red_team").num_train_epochs, dpo("red_team").learning_rate)),
    Fact("red-team set size", r"custom red-team set \(~(\d+)k pairs", (24,), lambda: (stage("mix", REDTEAM).total / 1000,)),
]  # fmt: skip


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return a == b


@pytest.mark.parametrize("fact", FACTS, ids=lambda f: f.name)
def test_recipe_states_the_paper(fact: Fact):
    got = fact.recipe()
    assert len(got) == len(fact.paper) and all(map(_same, got, fact.paper)), (fact.name, got, fact.paper)


@pytest.mark.parametrize("fact", FACTS, ids=lambda f: f.name)
def test_table_is_what_aloe_recipe_md_says(fact: Fact):
    if not ALOE_MD.is_file():
        pytest.skip(f"{ALOE_MD} is absent")
    match = re.search(fact.pattern, ALOE_MD.read_text(encoding="utf-8"), re.S)
    assert match, f"{fact.name}: pattern not found in ALOE_RECIPE.md (the paper text changed?)"
    read = tuple(float(g) if re.fullmatch(r"[\d.]+(?:e-?\d+)?", g) else g for g in match.groups())
    assert all(map(_same, read, fact.paper)), (fact.name, read, fact.paper)


def test_banding_is_the_threshold_datatrove_derives():
    qa = stage("near_dedup_qa")
    assert round((1 / qa.bands) ** (1 / qa.rows), 2) == qa.threshold  # (1/14)^(1/8) = 0.72
    assert qa.bands * qa.rows == qa.num_perm


def test_what_each_near_dedup_compares():
    qa, dialogue = stage("near_dedup_qa"), stage("near_dedup_dialogue")
    assert (qa.on, set(qa.apply_to.kinds)) == ("question_answer", {"mcqa", "qa"})
    assert (dialogue.on, dialogue.apply_to.kinds) == ("turns", ["chat"])


def test_mcqa_answers_end_in_the_one_form():
    from factory.rows import make_row

    chat = stage("to_chat")
    chat.setup()
    row = make_row(id="m", source="medqa", kind="mcqa", question="Q?", options=["a", "b"], answer_idx=1,
                   explanation="Because.")  # fmt: skip
    assert chat.process_row(row)["messages"][-1]["content"].endswith("Because.\n\nAnswer: B")
    assert chat.process_row({**row, "explanation": None})["messages"][-1]["content"] == "Answer: B"


def test_models_sit_in_three_stages_and_the_train_section():
    """A local profile swaps models in few places: the three model stages and train."""
    with_backend = {s.stage_name: s.backend.model for s in RECIPE.stages if hasattr(s, "backend")}
    assert with_backend == {  # paper: the 34B decontamination judge, the 70B CoT teacher
        "contamination_judge": "NousResearch/Nous-Hermes-2-Yi-34B",
        "deita": "meta-llama/Llama-3.1-70B-Instruct",
        "cot": "meta-llama/Llama-3.1-70B-Instruct",
    }
    assert RECIPE.train.base_model == "meta-llama/Llama-3.1-8B"
    assert RECIPE.train.merge.with_model == "meta-llama/Llama-3.1-8B-Instruct"


def test_every_set_is_a_hub_id_and_names_its_local_stand_in():
    hub = {s.name: s.hub for s in RECIPE.sources}
    assert all(hub.values()), [n for n, h in hub.items() if not h]  # no local file in the paper's recipe
    assert hub["ultramedical"] == "TsinghuaC3I/UltraMedical" and hub["meds_ins"] == "HPAI-BSC/MedS-Ins"
    assert hub["ultramedical_preference"] == "TsinghuaC3I/UltraMedical-Preference"
    assert hub["infinity_preference"] == "BAAI/Infinity-Preference"
    assert hub["skywork_preference"].startswith("Skywork/Skywork-Reward-Preference")
    assert hub["medquad"] == "lavita/MedQuAD" and hub["mmlu_medical"] == "cais/mmlu"
    assert {s.name: s.hub for s in REDTEAM.sources if s.hub} == {"egida": "HPAI-BSC/Egida"}
    text = (ROOT / "recipes" / "aloe_beta.yaml").read_text()
    for name in hub:  # the last comment block above each names its local stand-in, or says it has none
        lines = text[: text.index(f"name: {name}")].splitlines()
        last = max(i for i, line in enumerate(lines) if line.strip().startswith("#"))
        first = last
        while first > 0 and lines[first - 1].strip().startswith("#"):
            first -= 1
        assert "stand-in" in " ".join(lines[first : last + 1]), name


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_paper_recipe_names_no_path_outside_the_repo():
    """A user has the repository and the Hub, not ../shared/data: every set and benchmark is a Hub id, and
    no setting of the recipe (or of the benchmark lists its stages include) points out of the repo."""
    assert RECIPE.data_dir is None and RECIPE.data_path == ROOT / "recipes"
    benches = [b for s in RECIPE.stages for b in getattr(s, "all_benchmarks", lambda: [])()]
    assert {s.stage_name for s in RECIPE.stages if hasattr(s, "all_benchmarks")} == {
        "decontaminate", "contamination_judge",
    }  # fmt: skip
    names = {b.name for b in benches}
    assert names >= {"medqa_test", "medmcqa_dev", "pubmedqa_test", "mmlu_medical_test", "careqa_test"}
    assert all(b.hub and b.path is None for b in benches), [b.name for b in benches if not b.hub]
    values = _strings(RECIPE.model_dump(mode="json")) + _strings([b.model_dump(mode="json") for b in benches])
    outside = [v for v in values if v.startswith(("/", "~")) or "../" in v or "shared/data" in v]
    assert outside == []


@pytest.mark.parametrize(
    "name", ["aloe_beta_local.yaml", "aloe_beta_quickstart.yaml", "aloe_beta_local_stages.yaml"]
)
def test_local_profiles_read_every_source_from_a_local_file(name, shared_data):
    """The local profiles map every set to a file of ../shared/data under the paper's source name, and
    decontaminate against the local copies of the benchmarks."""
    from factory.sources.readers import resolve_files

    local = load_recipe(ROOT / "recipes" / name)
    assert local.data_path == shared_data.resolve()
    for source in local.sources:
        assert source.hub is None and resolve_files(source, local.data_path), source.name
    paper = {s.name for s in RECIPE.sources}
    stand_ins = {s.name for s in local.sources} & paper
    assert {"ultramedical", "medquad", "medmcqa", "medqa", "headqa", "mmlu_medical", "fine_tome"} <= stand_ins
    for stage in local.stages:
        for bench in getattr(stage, "all_benchmarks", lambda: [])():
            assert bench.hub is None and resolve_files(bench, local.data_path), (stage.stage_name, bench.name)


def test_local_profiles_put_the_local_model_in_every_model_place():
    """recipes/aloe_beta_local.yaml (and its quickstart profile): the same stages as aloe_beta.yaml plus the
    pair and red-team stages, every backend and the base model the shipped local model."""
    for name in ("aloe_beta_local.yaml", "aloe_beta_quickstart.yaml"):
        local = load_recipe(ROOT / "recipes" / name)
        models = {s.stage_name: s.backend.model for s in local.stages if hasattr(s, "backend")}
        assert set(models) >= {"contamination_judge", "deita", "cot", "candidates", "rubric", "guard"}, name
        assert set(models.values()) == {"smollm2-135m"} and local.train.base_model == "smollm2-135m", name
        paper = {s.stage_name for s in RECIPE.stages}
        assert paper - {s.stage_name for s in local.stages} == set(), name  # no paper stage left out
        assert local.outputs["red_team"].sources == ["advbench", "medsafetybench_redteam"]


def _hub_folder(root, configs: dict[str, dict[str, list[dict]]]):
    """A folder in the Hub's dataset layout (README configs + Parquet per split), which
    ``datasets.load_dataset`` reads like a Hub id: the paper recipe's Hub sources, read offline."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    cards = []
    for config, splits in configs.items():
        files = []
        for split, rows in splits.items():
            (root / config).mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows), root / config / f"{split}.parquet")
            files.append({"split": split, "path": f"{config}/{split}.parquet"})
        cards.append({"config_name": config, "data_files": files})
    (root / "README.md").write_text(f"---\n{yaml.safe_dump({'configs': cards})}---\n")
    return root


def test_hub_sources_with_several_configs_and_splits(tmp_path):
    """mmlu_medical reads 9 MMLU configs and two splits; careqa_test reads CareQA's op1..op4 + 1-based cop."""
    from factory.sources import load_source
    from filters.decontam.index import read_benchmark_list

    def mmlu(subject: str, n: int) -> list[dict]:
        return [{"question": f"{subject} q{n}?", "subject": subject, "choices": ["w", "x", "y", "z"], "answer": n}
                for _ in range(1)]  # fmt: skip

    folder = _hub_folder(tmp_path / "mmlu", {
        s: {"dev": mmlu(s, 0), "validation": mmlu(s, 1), "test": mmlu(s, 2)} for s in ("anatomy", "virology")
    })  # fmt: skip
    source = next(s for s in RECIPE.sources if s.name == "mmlu_medical")
    cfg = source.model_copy(update={"hub": str(folder), "config": ["anatomy", "virology"]})
    rows = list(load_source(cfg, tmp_path))
    assert [(r["subject"], r["question"], r["answer_idx"]) for r in rows] == [
        ("anatomy", "anatomy q0?", 0), ("anatomy", "anatomy q1?", 1),
        ("virology", "virology q0?", 0), ("virology", "virology q1?", 1),
    ]  # fmt: skip
    assert all(r["options"] == ["w", "x", "y", "z"] and r["kind"] == "mcqa" for r in rows)

    record = {"exam_id": 26, "question": "In relation to iron metabolism, it is true that:", "op1": "a",
              "op2": "b", "op3": "c", "op4": "d", "cop": 2, "year": 2024, "category": "Biology",
              "unique_id": "u-1"}  # fmt: skip
    folder = _hub_folder(tmp_path / "careqa", {"CareQA_en": {"test": [record]}})
    bench = next(b for b in read_benchmark_list("medical_hub") if b.name == "careqa_test")
    (row,) = load_source(bench.model_copy(update={"hub": str(folder)}), tmp_path)
    assert (row["options"], row["answer_idx"], row["subject"], row["id"]) == (["a", "b", "c", "d"], 1, "Biology", "careqa_test:u-1")


def test_validate_lists_the_hub_reads_without_downloading(monkeypatch):
    from typer.testing import CliRunner

    from factory.cli.main import app

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a download would fail: validate makes none
    out = CliRunner().invoke(app, ["validate", str(ROOT / "recipes" / "aloe_beta.yaml")])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "Hub dataset read(s) when built" in text
    assert "source medquad lavita/MedQuAD split=train revision=84ea67f83cec9692ad254eaa02c9731b24ecfe4c" in text
    assert "benchmark careqa_test (decontaminate) HPAI-BSC/CareQA [CareQA_en] split=test" in text
    assert "source headqa dvilares/head_qa [en] split=train+validation revision=refs/convert/parquet" in text
    local = CliRunner().invoke(app, ["validate", str(ROOT / "recipes" / "aloe_beta_local.yaml")])
    assert local.exit_code == 0 and "Hub dataset" not in local.output
