"""BM25 over the benchmark items, on the decontamination vocabulary (``filters.decontam.text``: shorthand,
stems and typos already folded), for the semantic tier's lexical neighbours and its fused score.

In: each item group's token ids (question, context and options). Out: ``scores(ids, lengths)``, a sparse
rows x items matrix of BM25 scores (Lucene's idf, k1 1.2, b 0.75, each distinct query token counted once),
``top`` (each row's best items by that score) and ``own``: each item's score against its own text, the
divisor that makes 1.0 mean "every token of the item is in the row" whatever the item's length (a long
vignette and a six-word question then compare on one scale). Written here
on scipy rather than with bm25s because the ids, the vocabulary and the item groups are the index's own and
the normalised score needs the whole rows x items product, not a top-k.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

K1, B = 1.2, 0.75


class Bm25Index:
    """Item token ids in; ``scores`` (rows x items, CSR), ``top`` and ``own`` (see the module) out."""

    def __init__(self, docs: list[np.ndarray], vocab_size: int):
        docs = [d[d > 0] for d in docs]  # id 0: a token no item uses
        n = len(docs)
        length = np.array([len(d) for d in docs], np.float64)
        rows = np.repeat(np.arange(n), [len(d) for d in docs])
        tf = sp.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(docs) if docs else [])), shape=(n, vocab_size))
        tf.sum_duplicates()
        df = np.bincount(tf.indices, minlength=vocab_size)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        coo = tf.tocoo()
        norm = K1 * (1 - B + B * length[coo.row] / max(length.mean(), 1.0))
        weight = coo.data * (K1 + 1) / (coo.data + norm) * idf[coo.col]
        self.weights = sp.csr_matrix((weight, (coo.col, coo.row)), shape=(vocab_size, n))  # vocab x items
        self.own = np.maximum(np.bincount(coo.row, weights=weight, minlength=n), 1e-9)  # each item vs itself
        self.vocab_size = vocab_size

    def scores(self, ids: np.ndarray, lengths: np.ndarray) -> sp.csr_matrix:
        """Rows laid one after another in ``ids`` (``lengths`` ids each) -> rows x items BM25 scores."""
        n_rows = len(lengths)
        keep = ids > 0
        rows = np.repeat(np.arange(n_rows), lengths)[keep]
        query = sp.csr_matrix((np.ones(int(keep.sum())), (rows, ids[keep])), shape=(n_rows, self.vocab_size))
        query.sum_duplicates()
        query.data[:] = 1.0  # a token counts once, however often the row repeats it
        return (query @ self.weights).tocsr()

    @staticmethod
    def top(scores: sp.csr_matrix, k: int) -> list[list[int]]:
        """Each row's ``k`` best items (best first)."""
        out = []
        for r in range(scores.shape[0]):
            lo, hi = scores.indptr[r], scores.indptr[r + 1]
            data, cols = scores.data[lo:hi], scores.indices[lo:hi]
            best = np.argsort(-data, kind="stable")[:k]
            out.append(cols[best].tolist())
        return out
