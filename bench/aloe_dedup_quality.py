"""Near-dedup precision/recall at Aloe's thresholds (0.72 for QA pairs, 0.77 for dialogues) next to 0.8, with
DataTrove's 14 bands x 8 rows (112 hashes) and with the banding datasketch derives for each threshold.

The labelled set, the ground truth (exact Jaccard of word 5-gram sets, every pair >= 0.5) and the metrics are
those of ``bench/minhash_quality.py`` (imported, not copied); only the threshold T that defines a true
near-duplicate and the one the stage verifies against change per row of the table.

    python bench/aloe_dedup_quality.py [--originals 4000] [--thresholds 0.72 0.77 0.8]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import minhash_quality as mq  # noqa: E402 - the bench folder is not a package

from filters.dedup import minhash_core as core  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--originals", type=int, default=4000)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.72, 0.77, 0.8])
    args = ap.parse_args()
    t0 = time.perf_counter()
    ids, texts, _ = mq.build_set(args.originals)
    sets = [mq.shingle_set(t) for t in texts]
    truth = mq.true_pairs(sets, 0.5)
    hashes, per_doc = core.text_shingles(texts, "word", 5)
    print(
        f"labelled set: {len(texts)} docs, {len(truth)} pairs with Jaccard >= 0.5 ({time.perf_counter() - t0:.0f} s)\n"
    )
    sigs = {112: core.signatures(hashes, per_doc, 112, 1), 128: core.signatures(hashes, per_doc, 128, 1)}
    print(
        "| T (true and verified) | true pairs >= T | num_perm | bands x rows | doc P | doc R | pair P | pair R | edge P | clustered docs |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in args.thresholds:
        mq.T = t  # the module's threshold: ground truth and the stage's estimated-Jaccard check
        n_true = sum(j >= t for j in truth.values())
        derived = core.optimal_param(t, 128, 0.1, 0.9)
        for num_perm, (bands, rows), label in ((112, (14, 8), "DataTrove 14x8"), (128, derived, "derived")):
            pred, labels = mq.predict(sigs[num_perm], bands, rows, verify=True)
            s = mq.scores(pred, labels, truth)
            print(
                f"| {t} | {n_true} | {num_perm} | {bands}x{rows} ({label}) | {s['doc_P']:.3f} | {s['doc_R']:.3f} | "
                f"{s['pair_P']:.3f} | {s['pair_R']:.3f} | {s['edge_P']:.3f} | {s['clustered_docs']} |"
            )
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
