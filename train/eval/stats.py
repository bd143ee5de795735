"""Honest accuracy figures: 95% intervals, answer-letter distributions, the commonest-letter baseline, and
whether a difference between two models is larger than chance.

- ``wilson``: the Wilson score interval of a proportion (good at small n and near 0 or 1, where the
  normal approximation is not). Written here: statsmodels is not in the stack for 15 lines of algebra.
- ``paired_bootstrap``: the 95% interval of a difference of accuracies between two models scored on the
  same questions (resampling questions, so their correlation counts); used by ``factory eval compare``.
- ``newcombe``: the interval of a difference of two independent proportions (Newcombe's method 10, from
  two Wilson intervals), when the two results do not share per-question logs.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from factory.mcqa.options import option_label

Z95 = 1.959963984540054


def wilson(k: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``k`` successes in ``n`` trials (``(0, 1)`` when ``n`` is 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: float, n1: int, k2: float, n2: int, z: float = Z95) -> tuple[float, float]:
    """95% interval of ``k1/n1 - k2/n2`` for two independent samples (Newcombe's hybrid score method)."""
    p1, p2 = k1 / max(n1, 1), k2 / max(n2, 1)
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], iters: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of ``mean(a) - mean(b)`` over questions resampled with replacement
    (``a[i]`` and ``b[i]``: the two models' scores on the same question)."""
    if len(a) != len(b) or not a:
        raise ValueError("paired_bootstrap needs two equally long, non-empty score lists")
    rng = random.Random(seed)
    n = len(a)
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(iters))
    return means[int(0.025 * iters)], means[min(iters - 1, int(0.975 * iters))]


def letters(indices: Sequence[int | None]) -> dict[str, int]:
    """How often each answer letter occurs (``none`` for an unreadable answer), in letter order."""
    counts = Counter("none" if i is None else option_label(i) for i in indices)
    return {k: counts[k] for k in sorted(counts, key=lambda x: (x == "none", x))}


def accuracy_entry(
    correct: Sequence[bool], preds: Sequence[int | None], golds: Sequence[int]
) -> dict[str, Any]:
    """Accuracy with its 95% Wilson interval, the predicted and gold letter distributions, and the
    accuracy of always answering the commonest gold letter (what a model stuck on one letter can reach)."""
    n = len(correct)
    k = sum(bool(c) for c in correct)
    gold = letters(golds)
    top = max(gold.items(), key=lambda kv: (kv[1], -ord(kv[0][0])))[0] if gold else None
    low, high = wilson(k, n)
    return {
        "n": n,
        "accuracy": k / n if n else 0.0,
        "ci95": [round(low, 4), round(high, 4)],
        "pred_letters": letters(preds),
        "gold_letters": gold,
        "majority_baseline": {"letter": top, "accuracy": (gold[top] / n) if top and n else 0.0},
    }
