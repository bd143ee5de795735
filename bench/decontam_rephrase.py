"""Model-rephrased benchmark copies for bench/decontam_eval.py, generated ONCE and kept as fixed data.

Samples benchmark items of ``filters/decontam/benchmarks/medical.yaml`` (distinct items: MedQA, MedMCQA dev, MMLU
medical, CareQA, PubMedQA questions without their abstract), asks the local model (``smollm2-135m``, vLLM
on CPU, offline) for ``--samples`` rewrites of each question stem, and keeps the first rewrite that passes
the filter below. Writes ``bench/data/decontam/rephrased.jsonl`` (one line per kept item: benchmark, item
id, original question, options, rephrased question, similarity figures, model fingerprint) and
``bench/data/decontam/rephrased.meta.json`` (model, fingerprint, sampling, prompt, counts per reason).

Filter (a 135M model often copies or writes nonsense; such rows are not rephrasings and are left out):

- ``copy``: the rewrite's word tokens match the original's at difflib ratio >= 0.8, or hold the original
  question's tokens as one run (an unchanged copy is what the cheap tiers already catch);
- ``nonsense``: it repeats 4 words in a row of a few-shot answer that the original lacks, or fewer than
  50% of the original's content words (not in a stop-word list) appear in the
  rewrite, or it is under 40% / over 250% of the original's length (+3 words slack), or it answers
  instead of asking ("answer is", "correct answer", "the answer").

    flock /tmp/aloe-heavy.lock python bench/decontam_rephrase.py [--scale 1] [--samples 3]
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "data" / "decontam"
DATA = ROOT.parent / "shared" / "data"
FAMILIES = {  # one benchmark file per family of copies of the same items
    "medqa_test": 60,
    "medmcqa_dev": 70,
    "mmlu_medical_test_csv": 60,
    "careqa_test": 70,
    "pubmedqa_test": 40,
}
SYSTEM = "You rewrite exam questions in different words. You never answer them."
SHOTS = [
    ("Which vitamin deficiency causes scurvy?", "Scurvy results from a lack of which vitamin?"),
    (
        "A 30-year-old woman has had fever and a painful, swollen right knee for two days. Which test "
        "should be done first?",
        "For two days a woman aged 30 has been febrile, with a tender and swollen right knee. What is the "
        "first investigation to order?",
    ),
]
USER = "Rewrite this question using different words and sentence structure, keeping its meaning.\n\n{q}"
STOP = set(  # fmt: skip
    "a an the of in on at to for from by with and or but is are was were be been being this that these "
    "those which what who whom whose when where why how it its as into than then there their his her he "
    "she they them following most likely not no all except true false".split()
)
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def verdict(original: str, rewrite: str) -> tuple[str, dict]:
    """``ok`` / ``copy`` / ``nonsense`` for one rewrite, and its figures (see the module docstring)."""
    o, g = words(original), words(rewrite)
    ratio = difflib.SequenceMatcher(None, o, g, autojunk=False).ratio() if g else 0.0
    content = {w for w in o if w not in STOP}
    kept = len(content & set(g)) / max(len(content), 1)
    figures = {"token_ratio": round(ratio, 3), "content_kept": round(kept, 3), "words": [len(o), len(g)]}
    if ratio >= 0.8 or (o and f" {' '.join(o)} " in f" {' '.join(g)} "):
        return "copy", figures
    low = rewrite.casefold()
    if any(p in low for p in ("answer is", "correct answer", "the answer")):
        return "nonsense", figures
    leaked = {" ".join(a[i : i + 4]) for _, shot in SHOTS for a in [words(shot)] for i in range(len(a) - 3)}
    said, asked = f" {' '.join(g)} ", f" {' '.join(o)} "
    if any(f" {p} " in said and f" {p} " not in asked for p in leaked):
        return "nonsense", figures
    if kept < 0.5 or not (0.4 * len(o) - 3 <= len(g) <= 2.5 * len(o) + 3):
        return "nonsense", figures
    return "ok", figures


def clean_text(text: str) -> str:
    """The rewrite alone: a leading label dropped, cut at the first blank line."""
    text = text.strip().split("\n\n", 1)[0].strip()
    return re.sub(r"^(rewritten question|rewrite|question)\s*:\s*", "", text, flags=re.I).strip()


def messages(question: str) -> list[dict[str, str]]:
    out = [{"role": "system", "content": SYSTEM}]
    for q, a in SHOTS:
        out += [{"role": "user", "content": USER.format(q=q)}, {"role": "assistant", "content": a}]
    return out + [{"role": "user", "content": USER.format(q=question)}]


def sample_items(seed: int, scale: float) -> list[tuple[str, dict]]:
    from factory.sources import load_source
    from factory.stage import is_dropped
    from filters.decontam.decontaminate import read_benchmark_list

    rng = random.Random(seed)
    out = []
    for cfg in read_benchmark_list("medical"):
        if cfg.name not in FAMILIES:
            continue
        rows = [r for r in load_source(cfg, DATA) if not is_dropped(r) and r.get("question")]
        for r in rng.sample(rows, round(FAMILIES[cfg.name] * scale)):
            if cfg.name == "pubmedqa_test":  # the question is the last line, after the abstract
                abstract, _, question = r["question"].strip().rpartition("\n")
                r = {**r, "question": question, "context": abstract}
            out.append((cfg.name, r))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the items per family")
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
    from vllm import LLM, SamplingParams

    from factory.llm.models import model_fingerprint, resolve_model

    model_dir = Path(resolve_model("smollm2-135m"))
    fingerprint = model_fingerprint(model_dir)
    items = sample_items(args.seed, args.scale)
    llm = LLM(model=str(model_dir), dtype="float32", enforce_eager=True, max_model_len=2048,
              enable_chunked_prefill=False, kv_cache_memory_bytes=1 << 30, seed=args.seed)  # fmt: skip
    tok = llm.get_tokenizer()
    params = [
        SamplingParams(
            n=args.samples,
            temperature=0.8,
            top_p=0.95,
            seed=args.seed + i,
            max_tokens=min(480, int(1.6 * len(tok.encode(r["question"]))) + 24),
        )  # fmt: skip
        for i, (_, r) in enumerate(items)
    ]
    start = time.perf_counter()
    outs = llm.chat([messages(r["question"]) for _, r in items], params, use_tqdm=False)
    seconds = time.perf_counter() - start
    reasons: dict[str, int] = {}
    kept = []
    for (bench, item), out in zip(items, outs, strict=True):
        tried = []
        for comp in out.outputs:
            text = clean_text(comp.text)
            why, figures = verdict(item["question"], text)
            tried.append(why)
            if why == "ok":
                kept.append({"benchmark": bench, "item": item["id"], "question": item["question"],
                             "context": item.get("context"), "options": item.get("options") or [], "rephrased": text, **figures,
                             "model": "smollm2-135m", "model_fingerprint": fingerprint})  # fmt: skip
                break
        key = "ok" if "ok" in tried else ("copy" if "copy" in tried else "nonsense")
        reasons[key] = reasons.get(key, 0) + 1
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "rephrased.jsonl", "w") as fh:
        for rec in kept:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    meta = {"model": "smollm2-135m", "model_fingerprint": fingerprint, "families": FAMILIES,
            "scale": args.scale, "samples": args.samples, "seed": args.seed, "system": SYSTEM,
            "user": USER, "shots": SHOTS, "items": len(items), "outcome": reasons,
            "generation_s": round(seconds, 1)}  # fmt: skip
    (args.out / "rephrased.meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta["outcome"]), f"{seconds:.0f}s", f"-> {args.out / 'rephrased.jsonl'}")


if __name__ == "__main__":
    main()
