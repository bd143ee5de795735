"""Quality filter on real data: classifier accuracy, scoring speed against fastText's own predict, and the
drop rate of each heuristic rule on real medical sets (plus the junk planted in the quickstart data).

    python bench/quality_bench.py [--data ../shared/data] [--repeats 3]

1. ``quality_train`` (its own keys -> decide, as the runner calls them) on medical positives (MedQuAD
   answers, MedMCQA train sample, ChatDoctor) against general-domain / junk negatives (Alpaca
   instructions of refusal_direction, the LLaMA-Factory Alpaca demo, in-the-wild jailbreak prompts):
   held-out accuracy, precision, recall, overall and per source, for two model settings.
2. ``quality_score`` over all those rows, one process (LocalExecutor, the runner's ``_run_stage``:
   Parquet in, stage, Parquet out) and the stage's ``process_rows`` alone, against fastText's
   ``model.predict(list_of_texts)`` on the same texts in batches of the same size (on the texts as the
   stage prepares them, and on the raw texts with newlines replaced). Best of ``--repeats``; one core.
3. ``heuristic_filter``: share of rows each rule alone would drop, and the stage with all rules.

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from factory.pipeline.executors import LocalExecutor
from factory.pipeline.runner import _run_stage
from factory.rows import main_text, make_row
from factory.rows import schema as row_schema
from factory.sources import SourceConfig, load_source
from factory.stage import is_dropped
from factory.storage.store import Store
from filters.clean.heuristics import RULE_PARAMS, HeuristicFilter
from filters.quality.classifier import (
    MODEL_FILE,
    POS,
    QualityScore,
    QualityTrain,
    _load_fasttext,
    classifier_text,
    positive_probability,
)

ROOT = Path(__file__).resolve().parents[1]
POSITIVE = {
    "medquad": ("B_medical_openqa/medquad/medquad.jsonl", "medquad"),
    "medmcqa_train_10k": ("A_medical_mcqa/hpai_prompt_engine/medmcqa_val.json", "hpai_mcqa"),
    "chatdoctor_5k": ("B_medical_openqa/chatdoctor/chatdoctor5k.json", "alpaca"),
}
NEGATIVE = {
    "refusal_harmless_train": ("C_safety/refusal_direction/harmless_train.json", "refusal_direction"),
    "alpaca_en_demo": ("D_instruction_pref/llama_factory_demo/alpaca_en_demo.json", "alpaca"),
    "jailbreak_inthewild": (
        "C_safety/jailbreak_inthewild/inthewild_jailbreak_llms.json",
        "jailbreak_templates",
    ),
}


def load(data: Path, name: str, path: str, adapter: str) -> list[dict]:
    cfg = SourceConfig(name=name, path=path, adapter=adapter, on_error="skip")
    return [r for r in load_source(cfg, data) if not is_dropped(r)]


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def accuracy_section(rows: list[dict], tmp: Path) -> tuple[Path, list[str]]:
    lines = ["| setting | n_train | n_test | accuracy | precision | recall | f1 | model MB | train s |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    settings = {"default (dim 16, word 2-grams)": {}, "word_ngrams 1, dim 16": {"word_ngrams": 1}}
    model_dir = None
    for label, params in settings.items():
        stage = QualityTrain(positive_sources=list(POSITIVE), negative_sources=list(NEGATIVE), **params)
        folder = tmp / f"model-{len(lines)}"
        stage.bind_runtime({}, folder)
        stage.decide(pa.Table.from_pylist(stage.keys(rows)))
        r = stage.report(stage.figures.take())
        lines.append(f"| {label} | {r['n_train']} | {r['n_test']} | {r['accuracy']:.4f} | {r['precision']:.4f} "
                     f"| {r['recall']:.4f} | {r['f1']:.4f} | {r['model_bytes'] / 1e6:.1f} | {r['train_s']:.1f} |")  # fmt: skip
        model_dir = model_dir or folder
        if not params:  # per-source held-out accuracy of the default model
            model = _load_fasttext(folder / MODEL_FILE)
            per = ["", "| source (held-out rows) | label | n | accuracy |", "|---|---|---|---|"]
            for source in [*POSITIVE, *NEGATIVE]:
                test = [r for r in rows if r["source"] == source and stage.is_test(r["id"])]
                scores = positive_probability(model, [classifier_text(r, "all", 2000) for r in test], POS)
                want = source in POSITIVE
                acc = sum((s >= 0.5) == want for s in scores) / len(test)
                per.append(f"| {source} | {'pos' if want else 'neg'} | {len(test)} | {acc:.4f} |")
            tail = per
    return model_dir, lines + tail


def speed_section(rows: list[dict], model_dir: Path, tmp: Path, repeats: int) -> list[str]:
    stage = QualityScore()
    runtime = {"data_dir": None, "artifacts": {"quality_train": str(model_dir)}}
    stage.bind_runtime(runtime)
    stage.setup()
    in_schema, out_schema = row_schema(), row_schema(dict(stage.adds))
    src = tmp / "input" / "part-00000.parquet"
    src.parent.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=in_schema), src)
    runs = iter(range(10**6))

    def pipeline():
        store = Store(tmp / f"store-{next(runs)}")
        _run_stage(store, stage, "k", [src], out_schema, LocalExecutor(), runtime)

    bs = stage.batch_size

    def stage_only():
        for i in range(0, len(rows), bs):
            stage.process_rows(rows[i : i + bs])

    prepared = [classifier_text(r, "all", 2000) for r in rows]
    raw = [main_text(r)[:2000].replace("\n", " ") for r in rows]
    model = stage._model

    def predict(texts):
        return lambda: [model.predict(texts[i : i + bs], k=-1) for i in range(0, len(texts), bs)]

    timings = {
        "quality_score through the runner (LocalExecutor: Parquet -> stage -> Parquet)": best(
            pipeline, repeats
        ),
        "quality_score.process_rows alone (text prep + predict + row dicts)": best(stage_only, repeats),
        "peer: fastText model.predict(list) on the stage's prepared texts": best(predict(prepared), repeats),
        "peer: fastText model.predict(list) on raw texts (newlines replaced)": best(predict(raw), repeats),
    }
    n = len(rows)
    out = [f"{n} rows, mean {statistics.mean(len(t) for t in raw):.0f} chars read per row, batch {bs}, "
           f"best of {repeats}; one process = one core", "",
           "| path | s | docs/s per core |", "|---|---|---|"]  # fmt: skip
    out += [f"| {k} | {v:.2f} | {n / v:,.0f} |" for k, v in timings.items()]
    return out


def heuristics_section(rows_by_source: dict[str, list[dict]], repeats: int) -> list[str]:
    quick = []
    for line in (ROOT / "recipes/data/quickstart/open_qa.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["answer"]:
            quick.append(make_row(id=rec["id"], source="quickstart", kind="qa", question=rec["question"],
                                  answer=rec["answer"], subject=rec["focus"]))  # fmt: skip
    sets = {**rows_by_source, "quickstart open_qa (5 junk planted)": quick}
    head = "| set | rows | " + " | ".join(RULE_PARAMS) + " | any rule (stage) | stage docs/s |"
    lines = [head, "|" + "---|" * (len(RULE_PARAMS) + 4)]
    for name, rows in sets.items():
        cells = []
        for reason in RULE_PARAMS:
            only = HeuristicFilter(**{p: None for r, p in RULE_PARAMS.items() if r != reason})
            hits = sum(only.check(r) is not None for r in rows)
            cells.append(f"{100 * hits / len(rows):.2f}% ({hits})")
        full = HeuristicFilter()
        t = best(lambda rows=rows, full=full: full.process_rows(rows), repeats)
        hits = sum(full.check(r) is not None for r in rows)
        lines.append(f"| {name} | {len(rows)} | " + " | ".join(cells) +
                     f" | {100 * hits / len(rows):.2f}% ({hits}) | {len(rows) / t:,.0f} |")  # fmt: skip
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    data = args.data.resolve()
    by_source = {n: load(data, n, p, a) for n, (p, a) in {**POSITIVE, **NEGATIVE}.items()}
    rows = [r for rs in by_source.values() for r in rs]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, acc = accuracy_section(rows, Path(tmp))
        print("## Classifier: medical (pos) vs general-domain / junk (neg), held-out 20% by id hash\n")
        print("\n".join(acc))
        print("\n## Scoring speed\n")
        print("\n".join(speed_section(rows, model_dir, Path(tmp), args.repeats)))
    print("\n## Heuristic rules: share of rows each rule alone drops (default bounds)\n")
    real = {k: by_source[k] for k in ("medquad", "medmcqa_train_10k", "chatdoctor_5k", "alpaca_en_demo")}
    print("\n".join(heuristics_section(real, args.repeats)))


if __name__ == "__main__":
    main()
