"""Running a training plan: SFT -> optional merge -> DPO stages, each from the previous checkpoint.

One process (one GPU, or CPU) runs every step here, in process. With ``launcher.num_processes > 1`` the
training steps go through ``accelerate launch -m train.step PLAN STEP`` (printed, or run one after the other
with ``launch=True``); the merge step always runs in one process.

Each step trains into ``<out>.tmp`` and renames it to ``<out>`` when it is finished, with
``factory_train.json`` beside the weights (dataset version, recipe hashes, TRL and library versions, parent
checkpoint, loss history, and for a DPO step the reward-margin history: did the step learn?; for a DPO
chunk, ``chunk_ids.txt`` lists the pairs it trained on). A finished step is skipped when the plan runs
again, so a crash in DPO does not cost the SFT step, nor chunk 4 chunks 1-3.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from factory.llm.models import TRAIN_RECORD
from train.config import dpo_config, sft_config
from train.plan import DataRef, StepPlan, TrainPlan, chunk_bounds, chunk_order, launch_command


def read_rows(data: DataRef, columns: list[str]) -> Any:
    """The Arrow table of a dataset output with ``columns``: its first ``limit`` rows, then (for a chunked
    step) the rows of chunk ``data.chunk`` of ``data.chunks`` (``train.plan.chunk_order`` / ``chunk_bounds``),
    in shuffled order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    wanted = columns if data.chunks is None or "id" in columns else [*columns, "id"]
    table = pa.concat_tables([pq.read_table(f, columns=wanted) for f in data.files])
    if data.limit is not None:
        table = table.slice(0, data.limit)
    if data.chunks is not None and data.chunk is not None:
        order = chunk_order(table.column("id").to_pylist(), data.chunk_seed)
        start, end = chunk_bounds(len(order), data.chunks)[data.chunk - 1]
        if start == end:
            raise FactoryError(
                f"version {data.version} output '{data.output}': {len(order)} rows cannot fill {data.chunks} chunks"
            )
        table = table.take(order[start:end]).select(columns)
    return table


def load_rows(data: DataRef, columns: list[str]) -> Any:
    """The rows of a dataset output as a ``datasets.Dataset`` with ``columns`` (``read_rows``); a system turn
    is added from the version's ``system_prompt`` to any conversation without one (the version's own rows
    already have it)."""
    import datasets

    rows = read_rows(data, columns).to_pylist()
    key = "messages" if "messages" in columns else "prompt"
    if data.system_prompt:
        system = {"role": "system", "content": data.system_prompt}
        rows = [
            r if r[key] and r[key][0]["role"] == "system" else {**r, key: [system, *r[key]]} for r in rows
        ]
    return datasets.Dataset.from_list(rows)


CHUNK_IDS = "chunk_ids.txt"


def load_tokenizer(path: str, chat_template: str | None) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if chat_template and not tok.chat_template:
        tok.chat_template = Path(chat_template).read_text(encoding="utf-8")
    if not tok.chat_template:
        raise FactoryError(
            f"{path}: the tokenizer has no chat template; set train.chat_template to a Jinja file"
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("trl", "transformers", "peft", "accelerate", "torch", "aloe-factory"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def provenance(plan: TrainPlan, step: StepPlan, extra: dict[str, Any]) -> dict[str, Any]:
    """What ``factory_train.json`` records beside a checkpoint."""
    data = step.data.model_dump(exclude={"files"}) if step.data else None
    return {
        "step": step.name,
        "kind": step.kind,
        "parent": step.start,
        "dataset": data,
        "dataset_version": plan.version,
        "recipe_name": plan.recipe_name,
        "recipe_hash": step.data.recipe_hash if step.data else None,
        "train_hash": plan.train_hash,
        "trl_version": _versions().get("trl"),
        "versions": _versions(),
        "system_prompt": step.data.system_prompt if step.data else _parent_system_prompt(step),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def _parent_system_prompt(step: StepPlan) -> str | None:
    parent = Path(step.start) / TRAIN_RECORD
    return json.loads(parent.read_text()).get("system_prompt") if parent.exists() else None


def _train(plan: TrainPlan, step: StepPlan, tmp: Path) -> dict[str, Any]:
    """Run the SFT or DPO trainer for ``step``; save the (merged) weights and tokenizer into ``tmp``."""
    section = plan.section
    tok = load_tokenizer(step.start, plan.chat_template)
    peft_config = section.lora.peft_config() if section.lora else None
    args_model = plan.step_args(step.name)
    assert step.data is not None
    if step.kind == "sft":
        from trl import SFTTrainer

        args = sft_config(section, args_model, str(tmp))  # type: ignore[arg-type]
        dataset = load_rows(step.data, ["messages"])
        trainer = SFTTrainer(
            model=step.start, args=args, train_dataset=dataset, processing_class=tok, peft_config=peft_config
        )
    else:
        from trl import DPOTrainer

        args = dpo_config(section, args_model, str(tmp))  # type: ignore[arg-type]
        dataset = load_rows(step.data, ["prompt", "chosen", "rejected"])
        trainer = DPOTrainer(
            model=step.start, args=args, train_dataset=dataset, processing_class=tok, peft_config=peft_config
        )
    if len(trainer.train_dataset) == 0:
        raise FactoryError(
            f"step '{step.name}': TRL dropped all {len(dataset)} rows (prompts longer than max_length?)"
        )
    started = time.perf_counter()
    result = trainer.train()
    wall = time.perf_counter() - started
    if section.lora is not None:
        model = trainer.accelerator.unwrap_model(trainer.model)
        if trainer.accelerator.is_main_process:
            model.save_pretrained(tmp / "adapter")
            model.merge_and_unload().save_pretrained(tmp)
    else:
        trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()
    if trainer.accelerator.is_main_process:
        tok.save_pretrained(tmp)
        if step.data.chunks is not None:  # which pairs this chunk trained on, one id per line
            ids = read_rows(step.data, ["id"]).column("id").to_pylist()
            (tmp / CHUNK_IDS).write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    history = trainer.state.log_history
    losses = [e["loss"] for e in history if "loss" in e]
    tokens = max((e.get("num_tokens", 0) for e in history), default=0) or None
    metrics = {**result.metrics, "wall_s": round(wall, 3), "global_step": trainer.state.global_step}
    info = {
        "is_main": trainer.accelerator.is_main_process,
        "rows": len(dataset),
        "metrics": {**metrics, "num_tokens": tokens},
        "loss_history": losses,
    }
    if step.kind == "dpo":  # chosen-minus-rejected reward, averaged per logging interval (TRL's log)
        info["margin_history"] = [e["rewards/margins"] for e in history if "rewards/margins" in e]
    return info


def check_configs(plan: TrainPlan) -> None:
    """Build every step's TRL config now, so a bad value in a late DPO stage fails before SFT starts."""
    for step in plan.steps:
        try:
            if step.kind == "sft":
                sft_config(plan.section, plan.step_args(step.name), step.out)  # type: ignore[arg-type]
            elif step.kind == "dpo":
                dpo_config(plan.section, plan.step_args(step.name), step.out)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise FactoryError(
                f"train.{'sft' if step.kind == 'sft' else 'dpo[' + step.name + ']'}: {exc}"
            ) from exc


def run_step(plan: TrainPlan, name: str, force: bool = False) -> Path:
    """Run one step of ``plan`` in this process (or in each process of an ``accelerate launch``)."""
    step = plan.step(name)
    out = Path(step.out)
    if step.done and not force:
        return out
    if not (Path(step.start) / TRAIN_RECORD).exists() and plan.steps[0].name != name:
        raise FactoryError(
            f"step '{name}' starts from {step.start}, which is not finished: run the steps in order"
        )
    tmp = out.with_name(out.name + ".tmp")
    is_main = int(os.environ.get("RANK", "0")) == 0
    if is_main and tmp.exists():
        shutil.rmtree(tmp)
    if step.kind == "merge":
        from train.merge import merge_models

        info = merge_models(plan, step, tmp)
    else:
        info = _train(plan, step, tmp)
        is_main = info.pop("is_main")
    if is_main:
        (tmp / TRAIN_RECORD).write_text(json.dumps(provenance(plan, step, info), indent=1, ensure_ascii=False))
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    return out


def run_plan(plan: TrainPlan, mode: str = "in_process", force: bool = False, echo=print) -> list[list[str]]:
    """Run every step in order. ``mode``: ``in_process`` (one GPU/CPU), ``print`` (the launch commands only)
    or ``launch`` (run each command, waiting for it). Returns the commands for the steps not yet done."""
    check_configs(plan)
    plan_path = plan.write()
    commands = [launch_command(plan_path, plan, s) for s in plan.steps if force or not s.done]
    if mode == "print":
        for cmd in commands:
            echo(" ".join(cmd))
        return commands
    for step in plan.steps:
        if step.done and not force:
            echo(f"{step.name}: done ({step.out})")
            continue
        started = time.monotonic()
        if mode == "launch":
            cmd = launch_command(plan_path, plan, step)
            echo(" ".join(cmd))
            if cmd[:2] == ["accelerate", "launch"]:  # the same CLI, from this environment
                cmd = [sys.executable, "-m", "accelerate.commands.launch", *cmd[2:]]
            subprocess.run(cmd, check=True, env={**os.environ, "FACTORY_TRAIN_FORCE": "1" if force else "0"})
        else:
            run_step(plan, step.name, force=force)
        if not plan.step(step.name).done:
            raise FactoryError(f"step '{step.name}' ended without a finished checkpoint in {step.out}")
        echo(f"{step.name}: {step.out} ({time.monotonic() - started:.0f} s)")
    chain = [{"step": s.name, "kind": s.kind, "start": s.start, "out": s.out} for s in plan.steps]
    (Path(plan.root) / "chain.json").write_text(
        json.dumps({"final": str(plan.final), "steps": chain}, indent=1)
    )
    return commands
