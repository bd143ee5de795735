"""Decontamination quality and speed: recall on planted benchmark copies, false positives on clean rows.

Planted rows: ``--per-benchmark`` items of every benchmark of ``recipes/benchmarks/medical.yaml`` (from
../shared/data), each copied under six perturbations:

- ``exact``: the MCQA item as it is;
- ``format``: case, punctuation and whitespace changed (upper/lower/title case, punctuation removed or
  doubled, spaces -> newlines/tabs/double spaces), options too;
- ``shuffle``: options in another order;
- ``embed``: the item (context, question, labelled shuffled options) inside a longer instruction prompt of
  a QA row (``kind: qa``);
- ``edit``: small copying edits in the question and context: one word edit per 12 words (at least one):
  substitution by a random word, deletion, insertion, or a typo (two letters swapped);
- ``partial``: a contiguous 50% span of the question (+context) words, options kept (shuffled).
- ``partial_stem``: the same span alone in a QA row, no options (recall reported over items whose span
  has at least 20 words, the "long" column; shorter spans hold too little text to call a copy).

Clean rows: training files that are not benchmarks (MedMCQA train sample, HEAD-QA EN train, MedQA dev
(official split, distinct from the test: the hardest boilerplate test, same exam style), PubMedQA train +
val, MedQuAD with answers, ChatDoctor 5k, AfriMed-QA/MedExQA train, Alpaca demo). Some of them
really are copies of benchmark items (MedMCQA repeats questions across splits), so a flagged clean row is
checked by an independent oracle (difflib alignment of the row's prompt tokens with the matched item's
question tokens: >= 60% of the item's question covered by aligned blocks, and for short questions >= half
of the options present); a flagged row the oracle rejects is a false positive. FP rate = false
positives / (clean rows - oracle-confirmed copies).

Peer (same run): the usual n-gram decontamination (GPT-3 / open-instruct style): a Python set of
normalised word n-gram strings of every benchmark question, context and option; a row matches when it
shares one n-gram. No boilerplate filter, no question or option rules.

    python bench/decontam_eval.py [--per-benchmark 150] [--ngrams 8 10 13 15 20]
"""

from __future__ import annotations

import argparse
import difflib
import functools
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from factory.rows import make_row  # noqa: E402
from factory.sources import SourceConfig, load_source  # noqa: E402
from factory.stage import is_dropped  # noqa: E402
from filters.decontam import Decontaminate  # noqa: E402
from filters.decontam_index import tokens  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CLEAN = [
    ("medmcqa_train_10k", "A_medical_mcqa/hpai_prompt_engine/medmcqa_val.json", "hpai_mcqa"),
    ("headqa_en_train", "A_medical_mcqa/headqa/train_HEAD_EN.json", "headqa"),
    ("medqa_dev", "A_medical_mcqa/hpai_prompt_engine/medqa_4opt_val.json", "hpai_mcqa"),
    ("pubmedqa_train", "A_medical_mcqa/medagents_benchmark/pubmedqa/train.jsonl", "medagents"),
    ("pubmedqa_val", "A_medical_mcqa/hpai_prompt_engine/pubmedqa_val.json", "hpai_mcqa"),
    ("medquad", "B_medical_openqa/medquad/medquad.jsonl", "medquad"),
    ("chatdoctor_5k", "B_medical_openqa/chatdoctor/chatdoctor5k.json", "alpaca"),
    ("afrimedqa_train", "A_medical_mcqa/medagents_benchmark/afrimedqa/train.jsonl", "medagents"),
    ("medexqa_train", "A_medical_mcqa/medagents_benchmark/medexqa/train.jsonl", "medagents"),
    ("alpaca_en_demo", "D_instruction_pref/llama_factory_demo/alpaca_en_demo.json", "alpaca"),
]
# Clean sources that really share items with the benchmarks (MedMCQA repeats questions across splits;
# MIR exams repeat questions across years: HEAD-QA 2013-17 vs CareQA 2020-24). The others share none.
OVERLAPPING = {"medmcqa_train_10k", "headqa_en_train"}
PERTURBATIONS = ("exact", "format", "shuffle", "embed", "edit", "partial", "partial_stem")
PROMPTS = [
    ("You are a medical expert. Read the question below carefully and answer it.\n\n", "\n\nThink step by step and give the letter of the answer."),
    ("Here is a practice question from my exam prep notes, can you explain it to me?\n", "\nPlease explain why the other options are wrong."),
    ("### Instruction:\nAnswer the following multiple-choice question.\n### Input:\n", "\n### Response:"),
]  # fmt: skip


def load(name: str, path: str, adapter: str) -> list[dict]:
    cfg = SourceConfig(name=name, path=path, adapter=adapter)
    return [r for r in load_source(cfg, DATA) if not is_dropped(r)]


def _format(text: str, rng: random.Random) -> str:
    case = rng.choice([str.upper, str.lower, str.title, str.swapcase])
    text = case(text)
    out = []
    for ch in text:
        if ch in ".,;:?!()'\"-" and rng.random() < 0.5:
            out.append(rng.choice(["", " ", ch * 2, " ; "]))
        elif ch == " " and rng.random() < 0.3:
            out.append(rng.choice(["  ", "\n", "\t", " \n "]))
        else:
            out.append(ch)
    return "".join(out)


def _edit(text: str, rng: random.Random, vocab: list[str]) -> str:
    words = text.split()
    if not words:
        return text
    for _ in range(max(1, len(words) // 12)):
        i, op = rng.randrange(len(words)), rng.choice(["sub", "del", "ins", "typo"])
        if op == "sub":
            words[i] = rng.choice(vocab)
        elif op == "del" and len(words) > 2:
            del words[i]
        elif op == "ins":
            words.insert(i, rng.choice(vocab))
        elif len(words[i]) > 3:
            w, j = words[i], rng.randrange(len(words[i]) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def _labelled(options: list[str]) -> str:
    return "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(options))


def plant(item: dict, how: str, rng: random.Random, vocab: list[str], n: int) -> tuple[dict, int]:
    """A training row copying ``item`` under perturbation ``how``; and the copied span's word count."""
    q, ctx, opts = item["question"], item.get("context") or "", list(item.get("options") or [])
    shuffled = rng.sample(opts, len(opts))
    rid = f"plant:{how}:{n}"
    stem_words = (ctx + " " + q).split()
    if how in ("partial", "partial_stem"):
        k = max(1, len(stem_words) // 2)
        start = rng.randrange(len(stem_words) - k + 1)
        span = " ".join(stem_words[start : start + k])
        if how == "partial":
            return make_row(
                id=rid, source="planted", kind="mcqa", question=span, options=shuffled, answer_idx=0
            ), k
        pre, post = rng.choice(PROMPTS)
        return make_row(id=rid, source="planted", kind="qa", question=pre + span + post, answer="..."), k
    words = len(stem_words)
    if how == "exact":
        return make_row(
            id=rid, source="planted", kind="mcqa", question=q, context=ctx or None, options=opts, answer_idx=0
        ), words
    if how == "format":
        return make_row(id=rid, source="planted", kind="mcqa", question=_format(q, rng), context=_format(ctx, rng) or None,
                        options=[_format(o, rng) for o in opts], answer_idx=0), words  # fmt: skip
    if how == "shuffle":
        return make_row(
            id=rid,
            source="planted",
            kind="mcqa",
            question=q,
            context=ctx or None,
            options=shuffled,
            answer_idx=0,
        ), words
    if how == "embed":
        pre, post = rng.choice(PROMPTS)
        body = (ctx + "\n" if ctx else "") + q + "\n" + _labelled(shuffled)
        return make_row(
            id=rid, source="planted", kind="qa", question=pre + body + post, answer="The answer is A."
        ), words
    edited = make_row(id=rid, source="planted", kind="mcqa", question=_edit(q, rng, vocab),
                      context=_edit(ctx, rng, vocab) if ctx else None, options=opts, answer_idx=0)  # fmt: skip
    return edited, words


@functools.cache
def _reader() -> Decontaminate:
    return Decontaminate(include=["medical"])


def prompt_tokens(row: dict) -> list[str]:
    return _reader()._texts(row)[0]


def oracle_copy(row: dict, item: dict) -> bool:
    """Independent check that a flagged row really copies ``item`` (see the module docstring)."""
    a, b = prompt_tokens(row), tokens((item.get("context") or "") + " " + item["question"])
    if not b:
        return False
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    covered = sum(m.size for m in sm.get_matching_blocks() if m.size >= 3) / len(b)
    if len(b) >= 20:
        return covered >= 0.6
    text = f" {' '.join(a)} "
    opts = [" ".join(tokens(o)) for o in item.get("options") or []]
    present = sum(1 for o in opts if o and f" {o} " in text)
    return covered >= 0.6 and present * 2 >= len(opts)


def run_stage_keys(stage: Decontaminate, rows: list[dict]) -> tuple[list[dict], float, float]:
    stage.bind_runtime({"data_dir": str(DATA)})
    t0 = time.perf_counter()
    stage.setup()
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    keys = []
    for i in range(0, len(rows), stage.batch_size):
        keys += stage.keys(rows[i : i + stage.batch_size])
    return keys, build, time.perf_counter() - t0


def peer_items(items: list[dict], rows: list[dict], n: int) -> tuple[list[int | None], float]:
    """The peer: which item (index) each row shares an n-gram string with, or None; and the seconds."""
    grams: dict[str, int] = {}
    for k, it in enumerate(items):
        for text in [it["question"], it.get("context") or "", *(it.get("options") or [])]:
            t = tokens(text)
            for i in range(len(t) - n + 1):
                grams.setdefault(" ".join(t[i : i + n]), k)
    start = time.perf_counter()
    out: list[int | None] = []
    for row in rows:
        t = prompt_tokens(row)
        out.append(
            next(
                (grams[g] for g in (" ".join(t[i : i + n]) for i in range(len(t) - n + 1)) if g in grams),
                None,
            )
        )
    return out, time.perf_counter() - start


def score(
    flags: list[str | None], planted: list[tuple[str, str, int]], clean: list[dict], by_id: dict
) -> dict:
    """Recall per perturbation (planted rows first in ``flags``), FP on the clean rows after them."""
    res: dict = {}
    for how in PERTURBATIONS:
        idx = [i for i, (h, _, w) in enumerate(planted) if h == how and (how != "partial_stem" or w >= 20)]
        res[how] = sum(flags[i] is not None for i in idx) / max(len(idx), 1)
    fp, copies, fp_rows, flagged_indep = 0, 0, [], 0
    for row, item_id in zip(clean, flags[len(planted) :], strict=True):
        if item_id is None:
            continue
        flagged_indep += row["source"] not in OVERLAPPING
        if oracle_copy(row, by_id[item_id]):
            copies += 1
        else:
            fp += 1
            fp_rows.append((row, item_id))
    indep = sum(r["source"] not in OVERLAPPING for r in clean)
    res.update(fp=fp, copies=copies, fp_rate=fp / max(len(clean) - copies, 1), fp_rows=fp_rows,
               indep=f"{flagged_indep}/{indep}")  # fmt: skip
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-benchmark", type=int, default=150)
    ap.add_argument("--ngrams", type=int, nargs="+", default=[8, 10, 13, 15, 20])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    bench = Decontaminate(include=["medical"])
    items, by_id, sampled = [], {}, []
    for cfg in bench.all_benchmarks():
        rows = [r for r in load_source(cfg, DATA) if not is_dropped(r) and r.get("question")]
        items += rows
        sampled += [(cfg.name, r) for r in rng.sample(rows, min(args.per_benchmark, len(rows)))]
    by_id = {r["id"]: r for r in items}
    clean = [r for name, path, adapter in CLEAN for r in load(name, path, adapter)]
    vocab = [w for r in clean[:3000] for w in (r.get("question") or "").split()]
    planted_rows, planted = [], []
    for n, (name, item) in enumerate(sampled):
        for how in PERTURBATIONS:
            row, words = plant(item, how, rng, vocab, n)
            planted_rows.append(row)
            planted.append((how, name, words))
    rows = planted_rows + clean
    print(f"{len(items)} benchmark items, {len(sampled)} sampled x {len(PERTURBATIONS)} perturbations = "
          f"{len(planted_rows)} planted rows; {len(clean)} clean rows\n")  # fmt: skip

    configs = [(f"decontaminate n={n}", {"ngram": n}) for n in args.ngrams]
    configs += [
        ("decontaminate n=13, min_ngram_share=0.1", {"ngram": 13, "min_ngram_share": 0.1}),
        ("decontaminate n=13, min_ngram_share=0.3", {"ngram": 13, "min_ngram_share": 0.3}),
        ("decontaminate n=10, min_ngram_share=0.3", {"ngram": 10, "min_ngram_share": 0.3}),
        ("decontaminate n=13, n-grams only", {"ngram": 13, "question_match": False}),
        ("decontaminate n=8, no boilerplate filter", {"ngram": 8, "max_ngram_df": 10**9, "min_rare_tokens": 0, "min_ngram_share": 0.0}),
    ]  # fmt: skip
    head = (
        "| method | "
        + " | ".join(PERTURBATIONS[:-1])
        + " | partial_stem (long) | flagged, independent clean sources | all flagged: oracle copy / not | FP rate (upper bound) | rows/s (1 core) | index build s |"
    )
    table = [head, "|" + "---|" * (head.count("|") - 1)]
    results = {}
    for label, params in configs:
        stage = Decontaminate(include=["medical"], **params)
        keys, build, secs = run_stage_keys(stage, rows)
        flags = [
            None if k["match"] is None else k["match"].split(" item=", 1)[1].split(" ", 1)[0] for k in keys
        ]
        res = score(flags, planted, clean, by_id)
        results[label] = (res, flags)
        table.append(_line(label, res, len(rows) / secs, f"{build:.1f}"))
    for n in args.ngrams:
        found, secs = peer_items(items, rows, n)
        flags = [None if k is None else items[k]["id"] for k in found]
        table.append(
            _line(
                f"peer: n-gram string set, n={n}", score(flags, planted, clean, by_id), len(rows) / secs, "-"
            )
        )
    print("\n".join(table))
    _details(results.get("decontaminate n=13"), planted, clean)
    _speed(items, clean)


def _speed(items: list[dict], clean: list[dict], repeats: int = 3) -> None:
    """Rows/s on the clean rows, best of ``repeats`` alternating runs (the machine is shared)."""
    stage = Decontaminate(include=["medical"])
    run_stage_keys(stage, clean[:100])
    best: dict[str, float] = {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(0, len(clean), stage.batch_size):
            stage.keys(clean[i : i + stage.batch_size])
        best["decontaminate (default, n=13)"] = max(
            best.get("decontaminate (default, n=13)", 0), len(clean) / (time.perf_counter() - t0)
        )
        _, secs = peer_items(items, clean, 13)
        best["peer: n-gram string set, n=13"] = max(
            best.get("peer: n-gram string set, n=13", 0), len(clean) / secs
        )
        t0 = time.perf_counter()
        for r in clean:
            prompt_tokens(r)
        best["tokenising only (shared by both)"] = max(
            best.get("tokenising only (shared by both)", 0), len(clean) / (time.perf_counter() - t0)
        )
    print(f"\nSpeed on the {len(clean)} clean rows, one process (one core), best of {repeats}:\n")
    print("| method | rows/s |\n|---|---|")
    for k, v in best.items():
        print(f"| {k} | {v:,.0f} |")


def _line(label: str, res: dict, rate: float, build: str) -> str:
    cells = " | ".join(f"{res[h]:.3f}" for h in PERTURBATIONS)
    return f"| {label} | {cells} | {res['indep']} | {res['copies']} / {res['fp']} | {res['fp_rate'] * 100:.3f}% | {rate:,.0f} | {build} |"


def _details(entry, planted, clean) -> None:
    if entry is None:
        return
    res, flags = entry
    print("\nDefault (n=13): recall per benchmark and perturbation\n")
    names = sorted({b for _, b, _ in planted})
    print("| benchmark | " + " | ".join(PERTURBATIONS) + " |\n|" + "---|" * (len(PERTURBATIONS) + 1))
    for b in names:
        cells = []
        for how in PERTURBATIONS:
            idx = [i for i, (h, n, _) in enumerate(planted) if h == how and n == b]
            cells.append(f"{sum(flags[i] is not None for i in idx) / max(len(idx), 1):.3f}")
        print(f"| {b} | " + " | ".join(cells) + " |")
    print(f"\nFalse positives at n=13 ({res['fp']}):")
    for row, item in res["fp_rows"][:10]:
        print(f"- {row['id']}: {' '.join(prompt_tokens(row))[:160]!r}\n  vs {item}")


if __name__ == "__main__":
    main()
