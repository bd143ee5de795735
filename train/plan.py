"""A training plan: the recipe's ``train:`` section resolved against dataset versions into ordered steps.

Each step starts from the previous step's checkpoint (SFT from the base model; merge from SFT; DPO 1 from
merge or SFT; DPO 2 from DPO 1). A DPO stage with ``chunks: N`` becomes N steps (``<name>-chunk1`` ...): the
pairs are shuffled by a seeded hash of their ids and cut into N consecutive slices, and each slice is one
training run starting from the previous slice's checkpoint (Aloe's DPO stage 1: 5 chunks, one epoch each). The plan is written to ``<model root>/plan.json`` so that a step can run
in another process (``python -m train.step PLAN STEP`` under ``accelerate launch``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from factory.errors import FactoryError
from factory.llm.models import TRAIN_RECORD
from factory.storage.store import Store, parquet_files
from train.config import DPOStep, SFTStep, TrainSection


class DataRef(BaseModel):
    """One output of one dataset version: what a step trains on."""

    model_config = ConfigDict(extra="forbid")

    version: str
    version_path: str
    output: str
    files: list[str]
    recipe_name: str
    recipe_hash: str
    system_prompt: str | None
    limit: int | None = None
    chunk: int | None = Field(None, ge=1, description="this step trains on chunk k (1-based) of `chunks`")
    chunks: int | None = Field(None, ge=2)
    chunk_seed: int = 0


class StepPlan(BaseModel):
    """One step: where it starts, where its checkpoint goes, what it reads."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["sft", "merge", "dpo"]
    start: str
    out: str
    data: DataRef | None = None
    settings: str | None = Field(
        None, description="the train-section step it runs (a DPO stage's chunks share it)"
    )

    @property
    def done(self) -> bool:
        return (Path(self.out) / TRAIN_RECORD).exists()


class TrainPlan(BaseModel):
    """Every step of a run, in order, with the section it came from and the recipe's identity."""

    model_config = ConfigDict(extra="forbid")

    root: str
    recipe_name: str
    version: str
    train_hash: str
    chat_template: str | None
    section: TrainSection
    steps: list[StepPlan]

    def step(self, name: str) -> StepPlan:
        for s in self.steps:
            if s.name == name:
                return s
        raise FactoryError(f"no step '{name}' in plan {self.root} (steps: {[s.name for s in self.steps]})")

    def step_args(self, name: str) -> SFTStep | DPOStep:
        settings = next((s.settings for s in self.steps if s.name == name and s.settings), name)
        if settings == "sft" and self.section.sft is not None:
            return self.section.sft
        for d in self.section.dpo:
            if d.name == settings:
                return d
        raise FactoryError(f"step '{name}' has no training settings")

    @property
    def final(self) -> Path:
        return Path(self.steps[-1].out)

    def write(self) -> Path:
        path = Path(self.root) / "plan.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=1))
        return path

    @classmethod
    def read(cls, path: str | Path) -> TrainPlan:
        return cls.model_validate_json(Path(path).read_text())


def data_ref(store: Store, ref: str | Path, output: str, limit: int | None) -> DataRef:
    """The Parquet files of ``output`` in version ``ref`` (id, prefix or folder), with the version's identity."""
    path = store.resolve(str(ref))
    manifest = json.loads((path / "manifest.json").read_text())
    if output not in manifest["outputs"]:
        raise FactoryError(
            f"version {manifest['version']} has no output '{output}' (has: {list(manifest['outputs'])})"
        )
    files = parquet_files(path / output)
    if not files:
        raise FactoryError(f"version {manifest['version']}: output '{output}' has no rows")
    return DataRef(
        version=manifest["version"],
        version_path=str(path),
        output=output,
        files=[str(f) for f in files],
        recipe_name=manifest["recipe_name"],
        recipe_hash=manifest["recipe_hash"],
        system_prompt=(manifest.get("recipe") or {}).get("system_prompt"),
        limit=limit,
    )


def make_plan(
    section: TrainSection,
    store: Store,
    version: str | Path,
    output_dir: Path | None = None,
    recipe_dir: Path | None = None,
) -> TrainPlan:
    """Resolve every step's data and checkpoint folder. ``version``: the dataset version steps read by default.

    ``output_dir`` and a local ``base_model`` are relative to the working directory (like the store);
    ``chat_template`` is relative to the recipe's folder."""
    primary = data_ref(store, version, section.sft.output if section.sft else section.dpo[0].output, None)
    train_hash = section.config_hash()
    out_base = Path(output_dir) if output_dir else Path(section.output_dir)
    root = (out_base / f"{primary.recipe_name}-{primary.version[:12]}-{train_hash[:8]}").resolve()
    template = None
    if section.chat_template:
        template = str(((recipe_dir or Path.cwd()) / section.chat_template).resolve())
        if not Path(template).is_file():
            raise FactoryError(f"train.chat_template: no file {template}")
    from factory.llm.models import resolve_model

    start = resolve_model(section.base_model)  # a shipped name (smollm2-135m) -> its imported folder
    steps: list[StepPlan] = []
    if section.sft is not None:
        data = data_ref(store, section.sft.version or version, section.sft.output, section.sft.limit)
        steps.append(StepPlan(name="sft", kind="sft", start=start, out=str(root / "sft"), data=data))
        start = steps[-1].out
    if section.merge is not None:
        steps.append(StepPlan(name="merge", kind="merge", start=start, out=str(root / "merge")))
        start = steps[-1].out
    for d in section.dpo:
        data = data_ref(store, d.version or version, d.output, d.limit)
        if d.chunks == 1:
            steps.append(StepPlan(name=d.name, kind="dpo", start=start, out=str(root / d.name), data=data))
            start = steps[-1].out
            continue
        for k in range(
            1, d.chunks + 1
        ):  # sequential chunks: each starts from the previous chunk's checkpoint
            name = chunk_step_name(d.name, k)
            part = data.model_copy(update={"chunk": k, "chunks": d.chunks, "chunk_seed": d.chunk_seed})
            steps.append(
                StepPlan(name=name, kind="dpo", start=start, out=str(root / name), data=part, settings=d.name)
            )
            start = steps[-1].out
    return TrainPlan(
        root=str(root),
        recipe_name=primary.recipe_name,
        version=primary.version,
        train_hash=train_hash,
        chat_template=template,
        section=section,
        steps=steps,
    )


def chunk_step_name(name: str, k: int) -> str:
    """The step (and checkpoint folder) of chunk ``k`` (1-based) of the DPO stage ``name``."""
    return f"{name}-chunk{k}"


def chunk_bounds(rows: int, chunks: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each of ``chunks`` consecutive slices of ``rows`` (sizes differ by at most one)."""
    size, extra = divmod(rows, chunks)
    bounds, start = [], 0
    for k in range(chunks):
        end = start + size + (k < extra)
        bounds.append((start, end))
        start = end
    return bounds


def chunk_order(ids: list[str], seed: int) -> list[int]:
    """Row positions in a seeded shuffle that depends only on each row's id (not on file order or on the
    numpy version): sorted by a 64-bit hash of ``seed`` and the id."""
    import xxhash

    keys = [xxhash.xxh3_64_intdigest(f"{seed}\x00{row_id}".encode()) for row_id in ids]
    return sorted(range(len(ids)), key=lambda i: (keys[i], ids[i]))


def launch_command(plan_path: Path, plan: TrainPlan, step: StepPlan) -> list[str]:
    """The command that runs ``step``: ``accelerate launch`` for training steps when distributed."""
    la = plan.section.launcher
    if step.kind == "merge" or not la.distributed:
        return [sys.executable, "-m", "train.step", str(plan_path), step.name]
    cmd = [
        "accelerate",
        "launch",
        "--num_processes",
        str(la.num_processes),
        "--num_machines",
        str(la.num_machines),
    ]
    if la.num_machines > 1:
        cmd += ["--machine_rank", str(la.machine_rank)]
    if la.main_process_ip:
        cmd += ["--main_process_ip", la.main_process_ip]
    if la.main_process_port:
        cmd += ["--main_process_port", str(la.main_process_port)]
    if la.config_file:
        cmd += ["--config_file", la.config_file]
    if plan.section.device == "cpu":
        cmd += ["--cpu"]
    return [*cmd, "-m", "train.step", str(plan_path), step.name]
