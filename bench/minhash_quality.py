"""Precision and recall of MinHash near-dedup against true Jaccard, on a labelled set built from real text.

The set (all from ../shared/data, deterministic): MedQuAD answers of >= 60 words; for half of them a copy
with controlled edits (word swaps, deletions, insertions or a mix, at a rate drawn from 0.2%..20% of the
words), for some a second copy edited from the first (chains); plus the texts of the E_dedup folder
(Clough & Stevenson plagiarism pairs, MEDIQA RQE question pairs, MRPC sentence pairs). Ground truth: the
exact Jaccard of word 5-gram shingle sets (same tokenisation as the stage), every pair >= 0.5 found by
prefix filtering (exact, no sampling). A pair is a true near-duplicate when its Jaccard >= 0.8.

Methods (all at threshold 0.8, bands/rows as datasketch derives them): our signatures; datasketch
signatures (MinHash.bulk, xxh32 of the shingle text); rensa RMinHash signatures; each through the same
banding, estimated-Jaccard check and components. Also datasketch's own MinHashLSH (no check), and the
stage itself through the runner (its drops).

    python bench/minhash_quality.py [--num-perm 128 256] [--originals 4000]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import re
import time
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from filters.dedup import minhash_core as core

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
T = 0.8


_SEP = re.compile(f"[{core._SEP_CHARS}]+")


def words_of(text: str) -> list[str]:
    """The stage's words (same separators), in plain Python: the ground truth's tokens."""
    return _SEP.sub(" ", unicodedata.normalize("NFKC", text).lower()).split()


def shingle_set(text: str, n: int = 5) -> frozenset:
    w = words_of(text)
    if len(w) < n:
        return frozenset([tuple(w)]) if w else frozenset()
    return frozenset(tuple(w[i : i + n]) for i in range(len(w) - n + 1))


def edit(words: list[str], op: str, rate: float, vocab: list[str], rng: random.Random) -> list[str]:
    words = list(words)
    k = max(1, round(rate * len(words)))
    for _ in range(k):
        kind = rng.choice(["swap", "delete", "insert"]) if op == "mix" else op
        i = rng.randrange(len(words) - 1)
        if kind == "swap":
            words[i], words[i + 1] = words[i + 1], words[i]
        elif kind == "delete":
            del words[i]
        else:
            words.insert(i, rng.choice(vocab))
    return words


def build_set(originals: int, seed: int = 0) -> tuple[list[str], list[str], dict]:
    """``(ids, texts, info)``: the labelled corpus (ids carry the group: ``m<k>`` original, ``m<k>.e1``...)."""
    rng = random.Random(seed)
    recs = [json.loads(x) for x in open(DATA / "B_medical_openqa/medquad/medquad.jsonl")]
    answers = sorted({r["answer"] for r in recs if len(r["answer"].split()) >= 60})
    rng.shuffle(answers)
    answers = answers[:originals]
    vocab = [w for a in answers[:500] for w in a.split()]
    rates = [0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2]
    ids, texts, edits = [], [], {}
    for k, text in enumerate(answers):
        ids.append(f"m{k}")
        texts.append(text)
        if k % 2:
            continue
        op, rate = rng.choice(["swap", "delete", "insert", "mix"]), rng.choice(rates)
        first = edit(text.split(), op, rate, vocab, rng)
        ids.append(f"m{k}.e1")
        texts.append(" ".join(first))
        edits[f"m{k}.e1"] = (op, rate)
        if k % 8 == 0:  # a second copy edited from the first: chains
            op2, rate2 = rng.choice(["swap", "delete", "insert", "mix"]), rng.choice(rates)
            ids.append(f"m{k}.e2")
            texts.append(" ".join(edit(first, op2, rate2, vocab, rng)))
            edits[f"m{k}.e2"] = (op2, rate2)
    clough = [json.loads(x) for x in open(DATA / "E_dedup/clough_stevenson_plagiarism/pairs.jsonl")]
    for src in sorted({c["source_file"] for c in clough}):
        ids.append(f"cs:{src}")
        texts.append(next(c["source_text"] for c in clough if c["source_file"] == src))
    for c in clough:
        ids.append(f"cs:{c['id']}:{c['category']}")
        texts.append(c["answer_text"])
    rqe = DATA / "E_dedup/mediqa2019_rqe/MEDIQA2019-Task2-RQE-TrainingSet-AMIA2016.jsonl"
    for r in [json.loads(x) for x in open(rqe)][:1500]:
        ids += [f"rqe:{r['pid']}:chq:{r['label']}", f"rqe:{r['pid']}:faq:{r['label']}"]
        texts += [r["chq"], r["faq"]]
    with open(DATA / "E_dedup/mrpc/msr_paraphrase_train.txt", encoding="utf-8-sig") as fh:
        for r in list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[:1500]:
            ids += [f"mrpc:{r['#1 ID']}:{r['Quality']}", f"mrpc:{r['#2 ID']}:{r['Quality']}"]
            texts += [r["#1 String"], r["#2 String"]]
    return ids, texts, edits


def true_pairs(sets: list[frozenset], t: float) -> dict[tuple[int, int], float]:
    """Every pair with exact Jaccard >= t (prefix filtering: rare tokens first, then exact check)."""
    freq = Counter(s for x in sets for s in x)
    index: dict = defaultdict(list)
    out = {}
    for x, sx in enumerate(sets):
        if not sx:
            continue
        toks = sorted(sx, key=lambda s: (freq[s], hash(s)))
        cands = set()
        for tok in toks[: len(toks) - math.ceil(t * len(toks)) + 1]:
            cands.update(index[tok])
            index[tok].append(x)
        for y in cands:
            j = len(sx & sets[y]) / len(sx | sets[y])
            if j >= t:
                out[(y, x)] = j
    return out


def predict(sig: np.ndarray, bands: int, rows: int, verify: bool) -> tuple[set, np.ndarray]:
    """Pairs the stage would link, and the component label of each doc (the stage's own functions)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    empty = (sig == 0xFFFFFFFF).all(axis=1)
    docs = np.flatnonzero(~empty)
    i, j = core.candidate_pairs(core.band_hashes(sig[docs], bands, rows))
    if verify:
        ok = core.estimated_jaccard(sig[docs], i, j) >= T
        i, j = i[ok], j[ok]
    n = sig.shape[0]
    gi, gj = docs[i], docs[j]
    labels = connected_components(coo_matrix((np.ones(gi.size), (gi, gj)), shape=(n, n)), directed=False)[1]
    return set(zip(gi.tolist(), gj.tolist(), strict=True)), labels


def cluster_pairs(labels: np.ndarray) -> set:
    """Every pair of docs in one predicted cluster (what the stage treats as duplicates of each other)."""
    order = np.argsort(labels, kind="stable")
    out: set = set()
    for group in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1):
        if group.size > 1:
            g = sorted(group.tolist())
            out.update((g[x], g[y]) for x in range(len(g)) for y in range(x + 1, len(g)))
    return out


def scores(pred: set, labels: np.ndarray, truth: dict) -> dict:
    """Doc level: a doc is a true duplicate when it has a partner with Jaccard >= T, predicted when it is
    in a cluster of 2+. Pair level: true pairs (Jaccard >= T) against pairs in one predicted cluster."""
    true_set = {p for p, j in truth.items() if j >= T}
    linked = cluster_pairs(labels)
    sizes = np.bincount(labels)
    in_cluster = sizes[labels] >= 2
    dup_docs = np.zeros(labels.size, bool)
    for a, b in true_set:
        dup_docs[a] = dup_docs[b] = True
    doc_tp = int((in_cluster & dup_docs).sum())
    tp = len(linked & true_set)
    return {
        "doc_P": doc_tp / max(int(in_cluster.sum()), 1),
        "doc_R": doc_tp / max(int(dup_docs.sum()), 1),
        "pair_P": tp / max(len(linked), 1),
        "pair_R": tp / max(len(true_set), 1),
        "edge_P": sum(truth.get(p, 0.0) >= T for p in pred) / max(len(pred), 1),
        "clustered_docs": int(in_cluster.sum()),
    }


def datasketch_sigs(texts: list[str], num_perm: int) -> np.ndarray:
    import xxhash
    from datasketch import MinHash

    shingles = [[" ".join(s).encode() for s in sorted(shingle_set(t))] or [] for t in texts]
    ms = MinHash.bulk(shingles, num_perm=num_perm, hashfunc=xxhash.xxh32_intdigest)
    return np.stack([m.hashvalues.astype(np.uint32) for m in ms])


def rensa_sigs(texts: list[str], num_perm: int) -> np.ndarray:
    from rensa import RMinHash

    out = np.full((len(texts), num_perm), 0xFFFFFFFF, np.uint32)
    for k, t in enumerate(texts):
        sh = [" ".join(s) for s in shingle_set(t)]
        if sh:
            m = RMinHash(num_perm=num_perm, seed=42)
            m.update(sh)
            out[k] = np.array(m.digest(), np.uint32)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--num-perm", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--originals", type=int, default=4000)
    ap.add_argument("--fp-weights", type=float, nargs="+", default=[0.5, 0.1, 0.02])
    args = ap.parse_args()
    t0 = time.perf_counter()
    ids, texts, edits = build_set(args.originals)
    sets = [shingle_set(t) for t in texts]
    truth = true_pairs(sets, 0.5)
    n_true = sum(j >= T for j in truth.values())
    print(
        f"labelled set: {len(texts)} docs, {n_true} pairs with Jaccard >= {T}, "
        f"{len(truth) - n_true} pairs in [0.5, {T}) ({time.perf_counter() - t0:.0f} s)\n"
    )
    buckets = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.01]
    rows, by_bucket = [], {}
    hashes, per_doc = core.text_shingles(texts, "word", 5)
    for num_perm in args.num_perm:
        sigs = {"ours": core.signatures(hashes, per_doc, num_perm, 1)}
        sigs["datasketch"] = datasketch_sigs(texts, num_perm)
        try:
            sigs["rensa"] = rensa_sigs(texts, num_perm)
        except ImportError:
            pass
        for fpw in args.fp_weights:
            bands, r = core.optimal_param(T, num_perm, fpw, 1 - fpw)
            for name, sig in sigs.items():
                for verify in (True, False):
                    pred, labels = predict(sig, bands, r, verify)
                    s = scores(pred, labels, truth)
                    rows.append((num_perm, f"{bands}x{r} (fp weight {fpw})", name, verify, s))
                    if verify and name == "ours" and fpw == 0.1:
                        linked = cluster_pairs(labels)
                        by_bucket[(num_perm, f"{bands}x{r}")] = [
                            (
                                lo,
                                hi,
                                sum(lo <= j < hi for j in truth.values()),
                                sum(lo <= j < hi and p in linked for p, j in truth.items()),
                            )
                            for lo, hi in zip(buckets, buckets[1:], strict=False)
                        ]
    from factory.rows import make_row
    from factory.testing import run_stage
    from filters.dedup.minhash import MinHashDedup

    stage = MinHashDedup()
    rows_in = [make_row(id=str(k), source="bench", kind="text", text=t) for k, t in enumerate(texts)]
    _, drops, stats = run_stage(stage, rows_in, "local")
    labels = np.arange(len(texts))
    for d in drops:
        labels[int(d["id"])] = int(d["detail"].split()[0][len("duplicate_of=") :])
    s = scores(set(), labels, truth)
    s["edge_P"] = float("nan")
    b, r = stage.band_params()
    rows.append((stage.num_perm, f"{b}x{r} (stage defaults)", "stage via runner", True, s))
    print(
        "| num_perm | bands x rows | signatures | verify | doc P | doc R | pair P | pair R | edge P | clustered docs |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for num_perm, br, name, verify, s in rows:
        print(
            f"| {num_perm} | {br} | {name} | {'yes' if verify else 'no'} | {s['doc_P']:.3f} | {s['doc_R']:.3f} | "
            f"{s['pair_P']:.3f} | {s['pair_R']:.3f} | {s['edge_P']:.3f} | {s['clustered_docs']} |"
        )
    for (num_perm, br), table in by_bucket.items():
        print(f"\nours, num_perm={num_perm}, {br}, verify: share of pairs in one cluster, by true Jaccard\n")
        print("| true Jaccard | pairs | linked | share |\n|---|---|---|---|")
        for lo, hi, total, linked in table:
            print(
                f"| [{lo:.2f}, {min(hi, 1.0):.2f}{']' if hi > 1 else ')'} | {total} | {linked} | "
                f"{linked / max(total, 1):.3f} |"
            )
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
