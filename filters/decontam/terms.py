"""The ``terms`` tier of decontamination: how much of a benchmark item's distinctive vocabulary a row holds,
in any order.

Each item group is the set of its distinctive tokens (normalised by ``filters.decontam_text``: shorthand,
stems, typos fixed): tokens in at most ``max_df`` of the items, each weighing its IDF over the items. The
item's terms are split in two parts: those of its question (and context), and those only its options
have. For a row R and an item I: ``cover_item`` = weight of R∩I / weight of I (a copy, reordered, with
shorthand, reworded options or small edits, keeps most of it), ``cover_question`` = the same on the
question part (a different question that shares the item's options has little of it), ``cover_row`` =
weight of R∩I / weight of R (a partial copy: what the row says comes from the item; a long vignette that
happens to hold a short item's terms has little of it). All come from two sparse products per batch (rows
x vocab times vocab x items, scipy); common tokens are not in the matrices, so a product costs a few
postings per token. Written here rather than with bm25s because the decision needs these normalised
coverages, not a ranking score that grows with the query's length.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

_K = 1e5  # > any shared weight (IDF <= ~10 per term): the quotient of a product entry counts shared terms


class TermIndex:
    """Item groups' token ids (question part, option part) in; ``overlap(rows)`` out: the (row, item)
    pairs sharing distinctive terms, with their coverages and shared-term counts."""

    def __init__(self, parts: list[tuple[np.ndarray, np.ndarray]], vocab_size: int, max_df: float,
                 min_df_abs: int = 2):  # fmt: skip
        n = len(parts)
        df = np.zeros(vocab_size, np.int64)
        uniq = [(np.unique(q), np.unique(o)) for q, o in parts]
        for q, o in uniq:
            df[np.union1d(q, o)] += 1
        self.idf = np.log((n + 1) / (df + 1))
        self.distinct = (df >= 1) & (df <= max(min_df_abs, int(max_df * n)))
        self.distinct[0] = False
        self.weight = np.where(self.distinct, self.idf, 0.0)
        rq, cq, ro, co = [], [], [], []
        for g, (q, o) in enumerate(uniq):
            q = q[self.distinct[q]]
            o = np.setdiff1d(o[self.distinct[o]], q)
            rq.append(q)
            cq.append(np.full(len(q), g, np.int64))
            ro.append(o)
            co.append(np.full(len(o), g, np.int64))
        rq, cq, ro, co = (np.concatenate(x) if x else np.zeros(0, np.int64) for x in (rq, cq, ro, co))
        shape = (vocab_size, n)
        self.question = sp.csr_matrix((self.weight[rq] + _K, (rq, cq)), shape=shape)
        r, c = np.concatenate([rq, ro]), np.concatenate([cq, co])
        self.whole = sp.csr_matrix((self.weight[r] + _K, (r, c)), shape=shape)
        self.mass_question = np.bincount(cq, weights=self.weight[rq], minlength=n)
        self.mass = np.bincount(c, weights=self.weight[r], minlength=n)
        self.terms = np.bincount(c, minlength=n)
        self.question_terms = np.bincount(cq, minlength=n)
        self.n = n

    def overlap(
        self, ids: np.ndarray, lengths: np.ndarray, min_cover: float, min_count: int = 3
    ) -> dict[str, np.ndarray]:
        """Rows laid one after another in ``ids`` (``lengths`` ids each) -> COO arrays (``row``, ``group``,
        ``cover_item``, ``cover_question``, ``cover_row``, ``count``,
        ``count_question``) of the pairs whose ``cover_item`` or ``cover_row`` reaches ``min_cover``."""
        n_rows = len(lengths)
        keep = self.distinct[ids]
        rows = np.repeat(np.arange(n_rows), lengths)[keep]
        x = sp.csr_matrix((np.ones(int(keep.sum())), (rows, ids[keep])), shape=(n_rows, len(self.idf)))
        x.sum_duplicates()
        x.data[:] = 1.0
        row_mass = x @ self.weight
        whole = x @ self.whole  # CSR; most pairs share one or two terms: drop them before anything else
        keep = whole.data >= min_count * _K
        r = np.repeat(np.arange(n_rows), np.diff(whole.indptr))[keep]
        g = whole.indices[keep].astype(np.int64)
        count = np.floor(whole.data[keep] / _K)
        shared = whole.data[keep] - count * _K
        cover_item = shared / np.maximum(self.mass[g], 1e-9)
        cover_row = shared / np.maximum(row_mass[r], 1e-9)
        sel = (cover_item >= min_cover) | (cover_row >= min_cover)
        r, g, count, shared = r[sel], g[sel], count[sel], shared[sel]
        key = r * self.n + g
        order = np.argsort(key)
        q = (x[np.unique(r)] @ self.question).tocoo() if len(r) else None
        shared_q, count_q = np.zeros(len(key)), np.zeros(len(key), np.int64)
        if q is not None and q.nnz:
            qkey = np.unique(r)[q.row.astype(np.int64)] * self.n + q.col
            pos = np.searchsorted(key[order], qkey)
            pos = np.minimum(pos, len(key) - 1)
            hit = key[order][pos] == qkey
            shared_q[order[pos[hit]]] = q.data[hit] - np.floor(q.data[hit] / _K) * _K
            count_q[order[pos[hit]]] = np.floor(q.data[hit] / _K)
        return {"row": r, "group": g, "cover_item": cover_item[sel], "cover_row": cover_row[sel],
                "cover_question": np.where(self.mass_question[g] > 0, shared_q / np.maximum(self.mass_question[g], 1e-9), 1.0),
                "count": count.astype(np.int64), "count_question": count_q}  # fmt: skip
