"""The recipe's ``train:`` section: which model, which dataset outputs, which TRL settings, in Aloe order.

``TrainSection`` is plain pydantic (bounds checked when the recipe loads, no heavy import). The TRL config
objects are built from it by ``sft_config`` / ``dpo_config`` (``trl.SFTConfig`` / ``trl.DPOConfig``), so
TRL's own validation runs on every value, ``extra`` included, before the first step starts.

    train:
      base_model: Qwen/Qwen2.5-0.5B          # hub id or folder
      lora: {r: 16, alpha: 32}               # omit for full fine-tuning
      sft: {learning_rate: 2.0e-5, num_train_epochs: 1}
      merge: {method: dare_ties, with_model: Qwen/Qwen2.5-0.5B-Instruct}   # optional (needs mergekit)
      dpo:
        - {name: preference, output: preference, beta: 0.1, chunks: 5}     # 5 sequential one-epoch runs
        - {name: red_team, version: 3f2a, output: preference, beta: 0.1}   # another dataset version
      launcher: {num_processes: 8}           # >1: steps go through `accelerate launch`
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from train.eval.specs import EvalSpec

STEP_NAME = r"^[A-Za-z0-9_\-]+$"
# DPOConfig.loss_type values of TRL 1.16 (TRL checks them only when the trainer starts; we check at load).
DPOLoss = Literal[
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
    "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
]  # fmt: skip


class LoraSpec(BaseModel):
    """LoRA adapters (peft ``LoraConfig``); each step's adapter is merged into the weights it saves."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1, le=4096)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"

    def peft_config(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            task_type="CAUSAL_LM",
        )


class StepArgs(BaseModel):
    """Settings common to SFT and DPO steps (``transformers.TrainingArguments`` names)."""

    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(
        None, description="dataset version (id, prefix or folder) to read; default: the one the recipe builds"
    )
    output: str = Field(description="output of that version to train on (e.g. sft, preference)")
    limit: int | None = Field(None, ge=1, description="use only the first N rows")
    learning_rate: float = Field(gt=0, le=1)
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, ge=-1, description="> 0 overrides num_train_epochs")
    per_device_train_batch_size: int = Field(4, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_length: int | None = Field(2048, ge=8, description="tokens per sequence (TRL truncates)")
    warmup_steps: float = Field(0.0, ge=0, description="steps, or a ratio of total steps when < 1")
    lr_scheduler_type: str = "cosine"
    weight_decay: float = Field(0.0, ge=0)
    gradient_checkpointing: bool = False
    logging_steps: int = Field(10, ge=1)
    seed: int = 42
    extra: dict[str, Any] = Field(
        default_factory=dict, description="any other SFTConfig/DPOConfig field, validated by TRL"
    )

    # Fields of ours that are not TRL settings.
    NOT_TRL: ClassVar[frozenset[str]] = frozenset({"version", "output", "limit", "extra", "name"})

    def trl_kwargs(self) -> dict[str, Any]:
        own = self.model_dump(exclude=set(self.NOT_TRL))
        clash = sorted(set(own) & set(self.extra))
        if clash:
            raise ValueError(f"`extra` repeats fields set above: {clash}")
        return {**own, **self.extra}


class SFTStep(StepArgs):
    """Supervised fine-tuning on a ``messages`` output (TRL conversational format)."""

    output: str = "sft"
    learning_rate: float = Field(2e-5, gt=0, le=1)
    packing: bool = False
    assistant_only_loss: bool = Field(
        False, description="loss on assistant turns only (template must mark them)"
    )


class DPOStep(StepArgs):
    """One DPO stage on a ``preference`` output (prompt/chosen/rejected), starting from the previous step."""

    name: str = Field(pattern=STEP_NAME, description="checkpoint folder name (e.g. preference, red_team)")
    output: str = "preference"
    learning_rate: float = Field(5e-7, gt=0, le=1)
    beta: float = Field(0.1, gt=0)
    loss_type: list[DPOLoss] = Field(default_factory=lambda: ["sigmoid"], min_length=1)  # type: ignore[valid-type]
    chunks: int = Field(
        1,
        ge=1,
        le=1000,
        description="train on N sequential chunks of the pairs, one run each, each from the previous chunk's "
        "checkpoint (Aloe DPO stage 1: 5 chunks of one epoch)",
    )
    chunk_seed: int = Field(0, ge=0, description="seed of the shuffle that cuts the chunks")

    NOT_TRL: ClassVar[frozenset[str]] = StepArgs.NOT_TRL | {"chunks", "chunk_seed"}


class MergeStep(BaseModel):
    """Merge the SFT model with another (Aloe: with the instruct model, DARE-TIES), through mergekit."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["dare_ties", "ties", "task_arithmetic", "linear"] = "dare_ties"
    with_model: str | None = Field(
        None, description="the other model (e.g. the instruct model); None: SFT alone"
    )
    base: str | None = Field(None, description="base of the task vectors; default: train.base_model")
    weight: float = Field(0.5, gt=0, le=1, description="weight of the SFT model (the other gets 1 - weight)")
    density: float = Field(0.5, gt=0, le=1, description="share of each task vector kept (ties/dare)")
    seed: int = Field(0, ge=0, description="seed of DARE's random drop (mergekit --random-seed)")


class LauncherConfig(BaseModel):
    """More than one process: each step runs under ``accelerate launch`` (printed, or run with --launch)."""

    model_config = ConfigDict(extra="forbid")

    num_processes: int = Field(1, ge=1, description="processes in all (GPUs over all machines)")
    num_machines: int = Field(1, ge=1)
    machine_rank: int = Field(0, ge=0)
    main_process_ip: str | None = None
    main_process_port: int | None = Field(None, ge=1, le=65535)
    config_file: str | None = Field(None, description="accelerate config (DeepSpeed / FSDP)")

    @property
    def distributed(self) -> bool:
        return self.num_processes > 1 or self.num_machines > 1


class TrainSection(BaseModel):
    """``train:`` in a recipe: base model -> SFT -> optional merge -> DPO stages, each from the previous."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(description="Hugging Face id or folder of the starting model")
    output_dir: str = Field("models", description="models go to <output_dir>/<recipe>-<version id>/")
    chat_template: str | None = Field(
        None, description="Jinja file for a tokenizer without a chat template (relative to the recipe)"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    bf16: bool | None = Field(None, description="default: on for CUDA, off for CPU")
    lora: LoraSpec | None = None
    sft: SFTStep | None = SFTStep()
    merge: MergeStep | None = None
    dpo: list[DPOStep] = Field(
        default_factory=list, description="DPO stages in order (Aloe: preference, red team)"
    )
    launcher: LauncherConfig = LauncherConfig()
    eval: EvalSpec = Field(default_factory=EvalSpec, description="`factory eval` settings (not hashed)")

    @model_validator(mode="after")
    def _check(self) -> TrainSection:
        names = ["sft", "merge", *(d.name for d in self.dpo)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"DPO stage names must be unique and not 'sft'/'merge': {dupes}")
        if self.merge is not None and self.sft is None:
            raise ValueError("`merge` merges the SFT model: it needs an `sft` step")
        if self.sft is None and not self.dpo:
            raise ValueError("nothing to train: give `sft` and/or `dpo`")
        return self

    def config_hash(self) -> str:
        blob = json.dumps(self.model_dump(mode="json", exclude={"eval"}), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _device_kwargs(section: TrainSection) -> dict[str, Any]:
    if section.device == "cpu":
        return {"use_cpu": True, "bf16": bool(section.bf16)}
    if section.device == "cuda" or _cuda():
        return {"bf16": True if section.bf16 is None else section.bf16}
    return {"use_cpu": True, "bf16": bool(section.bf16)}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


COMMON = {"report_to": "none", "save_strategy": "no", "disable_tqdm": True}


def sft_config(section: TrainSection, step: SFTStep, output_dir: str) -> Any:
    """``trl.SFTConfig`` for ``step`` (TRL validates every field, ``extra`` included)."""
    from trl import SFTConfig

    return SFTConfig(**{**COMMON, **_device_kwargs(section), **step.trl_kwargs(), "output_dir": output_dir})


def dpo_config(section: TrainSection, step: DPOStep, output_dir: str) -> Any:
    """``trl.DPOConfig`` for ``step`` (TRL validates every field, ``extra`` included)."""
    from trl import DPOConfig

    return DPOConfig(**{**COMMON, **_device_kwargs(section), **step.trl_kwargs(), "output_dir": output_dir})
