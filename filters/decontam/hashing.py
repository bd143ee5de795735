"""Hashing of token-id windows for decontamination: ``Hasher`` (64-bit polynomial hash of every window in
O(1) from prefix sums, so a batch is hashed with numpy) and ``Table`` (hash -> benchmark item groups, a
sorted-key CSR table behind a bitmap on the low bits: most windows miss it, and a gather is far cheaper
than a binary search)."""

from __future__ import annotations

import numpy as np

_P = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2**64
_MAX_BITS = 1 << 23


class Table:
    """Window hash -> item groups, as a sorted-key CSR table (numpy lookups)."""

    def __init__(self, hashes: np.ndarray, groups: np.ndarray, max_df: int | None = None):
        """From parallel arrays of (hash, group) pairs; keys in more than ``max_df`` groups are left out."""
        order = np.lexsort((groups, hashes))
        hashes, groups = hashes[order], groups[order]
        if len(hashes):
            new = np.ones(len(hashes), bool)
            new[1:] = (hashes[1:] != hashes[:-1]) | (groups[1:] != groups[:-1])
            hashes, groups = hashes[new], groups[new]
        keys, first, df = np.unique(hashes, return_index=True, return_counts=True)
        self.dropped = 0
        if max_df is not None:
            keep = df <= max_df
            self.dropped = int((~keep).sum())
            groups = groups[np.repeat(keep, df)]
            keys, df = keys[keep], df[keep]
        self.keys, self.df, self.groups = keys, df, groups
        self.starts = np.zeros(len(keys) + 1, np.int64)
        self.starts[1:] = np.cumsum(df)
        # A bitmap on the low hash bits: most windows miss it, and a gather is far cheaper than a search.
        # ~16 bits per key (a few % false hits), small enough to stay in cache for the small tables
        size = min(_MAX_BITS, 1 << max(16, int(np.ceil(np.log2(max(len(keys), 1) * 16)))))
        self.mask = np.uint64(size - 1)
        self.bits = np.zeros(size, bool)
        self.bits[(keys & self.mask).astype(np.int64)] = True

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """Index into ``keys`` of each hash, or -1."""
        out = np.full(len(hashes), -1, np.int64)
        if not len(self.keys) or not len(hashes):
            return out
        maybe = np.flatnonzero(self.bits[(hashes & self.mask).astype(np.int64)])
        idx = np.searchsorted(self.keys, hashes[maybe])
        idx[idx >= len(self.keys)] = 0
        out[maybe] = np.where(self.keys[idx] == hashes[maybe], idx, -1)
        return out

    def of(self, key_index: int) -> np.ndarray:
        return self.groups[self.starts[key_index] : self.starts[key_index + 1]]


class Hasher:
    """Token ids -> window hashes; shared by the index and the rows so both hash alike."""

    def __init__(self, vocab_size: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.values = rng.integers(1, 2**63, size=vocab_size, dtype=np.uint64)
        self.values[0] = 0
        self._pw = np.ones(1, np.uint64)
        self._inv = np.ones(1, np.uint64)

    def _powers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self._pw) < n:
            pw = np.full(n, _P, np.uint64)
            inv = np.full(n, pow(_P, -1, 1 << 64), np.uint64)
            pw[0] = inv[0] = 1
            self._pw, self._inv = np.cumprod(pw, dtype=np.uint64), np.cumprod(inv, dtype=np.uint64)
        return self._pw[:n], self._inv[:n]

    def prepare(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Prefix hashes and prefix unknown-token counts of ``ids`` (for ``windows``)."""
        n = len(ids)
        pw, _ = self._powers(n + 1)
        prefix = np.zeros(n + 1, np.uint64)
        prefix[1:] = np.cumsum(self.values[ids] * pw[:n], dtype=np.uint64)
        bad = np.zeros(n + 1, np.int64)
        bad[1:] = np.cumsum(ids == 0)
        return prefix, bad

    def windows(self, prefix: np.ndarray, bad: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Hash of every window of ``length`` tokens, and whether it holds no unknown token."""
        m = len(prefix) - length
        if m <= 0:
            return np.empty(0, np.uint64), np.empty(0, bool)
        _, inv = self._powers(m)
        h = (prefix[length:] - prefix[:m]) * inv
        return h, (bad[length:] - bad[:m]) == 0
