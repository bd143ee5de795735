"""Decontamination quality and speed: recall per perturbation kind on planted benchmark copies, false
positives on clean rows, per tier and for the whole, against peers measured in the same run.

Planted rows: ``--per-benchmark`` items of every benchmark file of ``filters/decontam/benchmarks/medical.yaml``
(../shared/data), each copied under every kind of bench/decontam_perturb.py, plus the model-rephrased set
(bench/data/decontam/rephrased.jsonl, made once by bench/decontam_rephrase.py).

Clean rows: training files that are not benchmarks but share their topic and style: MedMCQA train sample,
HEAD-QA EN train, MedQA dev (official split, same exam style: the hardest boilerplate test), PubMedQA
train + val, MedQuAD, ChatDoctor, AfriMed-QA / MedExQA train, Alpaca (general instructions). MedMCQA train
and HEAD-QA really share items with the benchmarks (MedMCQA repeats questions across splits, MIR exams
repeat across years), so a flag there is checked by an independent oracle (difflib alignment of the row
with the flagged item: >= 60% of the item's question+context in aligned blocks of 3+ tokens, and for
items under 20 tokens half of the options present); a flag the oracle rejects counts as a false
positive (an upper bound: the oracle rejects reworded copies). On the other sources every flag counts.
The flags of the cheap tiers that the oracle rejects were checked by hand
(bench/data/decontam/hand_labels.jsonl: row, item, copy or not, why); "FP (hand-checked)" uses those
labels where a flagged pair has one, the oracle elsewhere.

Tiers (``confident`` candidates drop; the others only go to the judge): ``exact`` = ngram + question +
options (the issue-3 stage, on the new normaliser), ``terms`` = distinctive-term coverage, ``cheap`` =
both; ``candidates`` = any candidate (what the judge sees); ``semantic`` (``--semantic``) = MiniLM
neighbours; ``judge`` (``--judge``) = the ``contamination_judge`` stage over the rows with candidates but
no confident match. Peers: a set of normalised word n-gram strings (GPT-3 / open-instruct style, one
shared n-gram = contaminated) at n=8 and 13, and lm-eval's ``Janitor`` (13-grams, lm-eval 0.4.13).

    flock /tmp/aloe-heavy.lock python bench/decontam_eval.py [--per-benchmark 150] [--semantic] [--judge]
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from decontam_perturb import PERTURBATIONS, REPHRASED, plant, plant_rephrased  # noqa: E402

from factory.sources import SourceConfig, load_source  # noqa: E402
from factory.stage import is_dropped  # noqa: E402
from filters.decontam.decontaminate import Decontaminate  # noqa: E402
from filters.decontam.text import tokens  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
REPHRASED_FILE = ROOT / "bench" / "data" / "decontam" / "rephrased.jsonl"
LABELS_FILE = ROOT / "bench" / "data" / "decontam" / "hand_labels.jsonl"
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
OVERLAPPING = {"medmcqa_train_10k", "headqa_en_train"}
KINDS = PERTURBATIONS + REPHRASED
LONG_ONLY = {"partial_stem": 20}  # scored on copied spans of at least this many words


def load(name: str, path: str, adapter: str) -> list[dict]:
    cfg = SourceConfig(name=name, path=path, adapter=adapter)
    return [r for r in load_source(cfg, DATA) if not is_dropped(r)]


@functools.cache
def _reader() -> Decontaminate:
    return Decontaminate(include=["medical"])


def prompt_tokens(row: dict) -> list[str]:
    parts, opts = _reader()._parts(row)
    return [t for p in parts + opts for t in tokens(p)]


def prompt_text(row: dict) -> str:
    return _reader().prompt_text(row)


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


def build_rows(args) -> tuple[list[dict], list[tuple[str, str, int]], list[dict], dict]:
    """Planted rows (with their kind, benchmark and copied words), clean rows, benchmark items by id."""
    rng = random.Random(args.seed)
    items, sampled = [], []
    for cfg in _reader().all_benchmarks():
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
    if REPHRASED_FILE.exists():
        for n, line in enumerate(REPHRASED_FILE.read_text().splitlines()):
            rec = json.loads(line)
            for how in REPHRASED:
                if how == "rephrase_mcq" and rec["benchmark"] == "pubmedqa_test":
                    continue  # yes/no/maybe: the MCQA row is the question alone
                planted_rows.append(plant_rephrased(rec, how, rng, n))
                planted.append((how, rec["benchmark"], len(rec["question"].split())))
    return planted_rows, planted, clean, by_id


@functools.cache
def hand_labels() -> dict[tuple[str, str], bool]:
    """(row id, item id) -> copy or not, for flagged clean rows checked by hand (bench/data/decontam)."""
    if not LABELS_FILE.exists():
        return {}
    recs = [json.loads(x) for x in LABELS_FILE.read_text().splitlines() if x.strip()]
    return {(r["row"], r["item"]): r["copy"] for r in recs}


def score(flags: list[str | None], planted, clean: list[dict], by_id: dict) -> dict:
    """Recall per kind (planted rows first in ``flags``), false positives on the clean rows after them:
    ``fp`` by the oracle (every flag on an independent source counts; an upper bound), ``fp_checked`` with
    the hand labels where a flagged pair has one."""
    res: dict = {}
    for how in KINDS:
        idx = [i for i, (h, _, w) in enumerate(planted) if h == how and w >= LONG_ONLY.get(how, 0)]
        res[how] = sum(flags[i] is not None for i in idx) / len(idx) if idx else None
    fp, copies, fp_rows, indep_flags, checked = 0, 0, [], 0, 0
    labels = hand_labels()
    for row, item_id in zip(clean, flags[len(planted) :], strict=True):
        if item_id is None:
            continue
        indep_flags += row["source"] not in OVERLAPPING
        oracle = row["source"] in OVERLAPPING and oracle_copy(row, by_id[item_id])
        copies += oracle
        fp += not oracle
        checked += not labels.get((row["id"], item_id), oracle)
        if not oracle:
            fp_rows.append((row, item_id))
    indep = sum(r["source"] not in OVERLAPPING for r in clean)
    res.update(fp=fp, copies=copies, fp_rate=fp / len(clean), fp_rows=fp_rows, indep=f"{indep_flags}/{indep}",
               fp_checked=checked / len(clean))  # fmt: skip
    return res


def candidates(stage: Decontaminate, rows: list[dict]) -> tuple[list[list], float]:
    """Every row's candidates (cheap tiers), and the seconds it took (index already built)."""
    stage.setup()
    start = time.perf_counter()
    out = []
    for i in range(0, len(rows), stage.batch_size):
        out += stage.candidates(rows[i : i + stage.batch_size])
    return out, time.perf_counter() - start


def flags_of(cands: list[list], kinds: set[str] | None, confident: bool = True) -> list[str | None]:
    out = []
    for cs in cands:
        hit = [c for c in cs if (kinds is None or kinds & set(c.tiers)) and (c.confident or not confident)]
        out.append(hit[0].item if hit else None)
    return out


def ngram_peer(items: list[dict], rows: list[dict], n: int) -> tuple[list[str | None], float]:
    """The usual decontamination: one shared normalised word n-gram with an item = contaminated."""
    grams: dict[str, str] = {}
    for it in items:
        for text in [it["question"], it.get("context") or "", *(it.get("options") or [])]:
            t = tokens(text)
            for i in range(len(t) - n + 1):
                grams.setdefault(" ".join(t[i : i + n]), it["id"])
    start = time.perf_counter()
    out = []
    for row in rows:
        t = prompt_tokens(row)
        out.append(
            next(
                (grams[g] for g in (" ".join(t[i : i + n]) for i in range(len(t) - n + 1)) if g in grams),
                None,
            )
        )
    return out, time.perf_counter() - start


def janitor_peer(items: list[dict], rows: list[dict]) -> tuple[list[str | None], float]:
    """lm-eval's Janitor (GPT-3 style 13-grams; its Python path: the C++ helper is not shipped in the
    wheel). A row is contaminated when ``clean`` cuts anything out of it. It does not say which item, so
    the flag names the first item sharing one of its n-grams (for the oracle)."""
    from lm_eval.decontamination.janitor import Janitor, word_ngrams

    jan = Janitor(ngram_n=13)
    owner: dict[str, str] = {}
    for it in items:
        for text in [it["question"], it.get("context") or "", *(it.get("options") or [])]:
            norm = jan.normalize_string(text)
            jan.register_contaminant_python(text)
            for g in word_ngrams(norm, 13):
                owner.setdefault(g, it["id"])
    start = time.perf_counter()
    out = []
    for row in rows:
        text = prompt_text(row)
        dirty = jan.clean_python(text) != [text]
        out.append(next((owner[g] for g in word_ngrams(jan.normalize_string(text), 13) if g in owner), None)
                   if dirty else None)  # fmt: skip
    return out, time.perf_counter() - start


def line(label: str, res: dict, rate: float | None, extra: str = "") -> str:
    cells = " | ".join("-" if res[h] is None else f"{res[h]:.3f}" for h in KINDS)
    speed = f"{rate:,.0f}" if rate else "-"
    return (f"| {label} | {cells} | {res['indep']} | {res['copies']} / {res['fp']} | {res['fp_rate'] * 100:.3f}% | "
            f"{res['fp_checked'] * 100:.3f}% | {speed} |{extra}")  # fmt: skip


def head(extra: str = "") -> list[str]:
    cols = [h if h not in LONG_ONLY else f"{h} ({LONG_ONLY[h]}+ words)" for h in KINDS]
    h = (
        "| method | "
        + " | ".join(cols)
        + " | flagged, independent clean | flagged clean: oracle copy / not | FP (oracle, upper bound) | FP (hand-checked) | rows/s |"
        + extra
    )
    return [h, "|" + "---|" * (h.count("|") - 1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-benchmark", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--semantic", action="store_true", help="also the MiniLM neighbour tier")
    ap.add_argument("--judge", action="store_true", help="also the local LLM judge over the candidates")
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    planted_rows, planted, clean, by_id = build_rows(args)
    rows = planted_rows + clean
    print(f"{len(by_id)} benchmark items; {len(planted_rows)} planted rows "
          f"({Counter(h for h, _, _ in planted)}); {len(clean)} clean rows\n")  # fmt: skip
    stage = Decontaminate(include=["medical"])
    stage.bind_runtime({"data_dir": str(DATA)})
    t0 = time.perf_counter()
    stage.setup()
    print(f"index build {time.perf_counter() - t0:.1f} s, {stage._index.stats()}\n")
    cands, secs = candidates(stage, rows)
    table = head()
    for label, kinds in [("exact tiers (ngram, question, options)", {"ngram", "question", "options"}),
                         ("terms tier", {"terms"}), ("cheap tiers (all confident)", None)]:  # fmt: skip
        table.append(line(label, score(flags_of(cands, kinds), planted, clean, by_id), None))
    cheap = score(flags_of(cands, None), planted, clean, by_id)
    anyc = score(flags_of(cands, None, confident=False), planted, clean, by_id)
    share = sum(1 for c in cands[len(planted_rows) :] if c and not c[0].confident) / len(clean)
    table.append(line("any candidate (what the judge sees)", anyc, None))
    if not args.no_peers:
        items = list(by_id.values())
        for n in (8, 13):
            found, s = ngram_peer(items, rows, n)
            table.append(
                line(f"peer: n-gram string set, n={n}", score(found, planted, clean, by_id), len(rows) / s)
            )
        found, s = janitor_peer(items, rows)
        table.append(
            line("peer: lm-eval Janitor (13-gram)", score(found, planted, clean, by_id), len(rows) / s)
        )
    print("\n".join(table))
    print(f"\nclean rows with candidates but no confident match (sent to the judge): {share:.2%}")
    print(f"cheap tiers, all rows: {len(rows) / secs:,.0f} rows/s (one process)")
    _details(cheap, cands, planted, clean)
    _speed(stage, clean)


def _details(res: dict, cands, planted, clean) -> None:
    names = sorted({b for _, b, _ in planted})
    print("\nCheap tiers: recall per benchmark and kind\n")
    print("| benchmark | " + " | ".join(KINDS) + " |\n|" + "---|" * (len(KINDS) + 1))
    for b in names:
        cells = []
        for how in KINDS:
            idx = [
                i for i, (h, n, w) in enumerate(planted) if h == how and n == b and w >= LONG_ONLY.get(how, 0)
            ]
            hit = sum(any(c.confident for c in cands[i]) for i in idx)
            cells.append(f"{hit / len(idx):.3f}" if idx else "-")
        print(f"| {b} | " + " | ".join(cells) + " |")
    kinds = Counter(c[0].kind for c in cands[: len(planted)] if c and c[0].confident)
    print(f"\nconfident matches on planted rows by kind: {dict(kinds)}")
    print(f"\nFalse positives of the cheap tiers ({res['fp']}):")
    for row, item in res["fp_rows"][:15]:
        print(f"- {row['id']}: {' '.join(prompt_tokens(row))[:150]!r}\n  vs {item}")


def _speed(stage: Decontaminate, clean: list[dict], repeats: int = 3) -> None:
    """Rows/s of the cheap tiers on the clean rows, best of ``repeats`` (the machine is shared)."""
    best = 0.0
    for _ in range(repeats):
        _, secs = candidates(stage, clean)
        best = max(best, len(clean) / secs)
    t0 = time.perf_counter()
    for r in clean:
        prompt_tokens(r)
    tok = len(clean) / (time.perf_counter() - t0)
    print(f"\nSpeed on the {len(clean)} clean rows, one process, best of {repeats}: cheap tiers {best:,.0f} rows/s "
          f"(normalising alone {tok:,.0f} rows/s)")  # fmt: skip


if __name__ == "__main__":
    main()
