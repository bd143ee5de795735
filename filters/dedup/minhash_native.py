"""MinHash signatures of word shingles in one compiled pass per document (numba): NFKC-lowered UTF-8 bytes
(an Arrow string buffer and its offsets) -> words -> shingle hashes -> the (docs, num_perm) signature, with
no per-shingle array in memory.

It computes exactly what ``minhash_core`` computes with numpy (``word_tokens`` -> ``shingle_hashes`` ->
``signatures``): the same separator bytes, the same polynomial word hash and ``fmix64``, the same shingle
combiner and datasketch's ``affine32`` / ``legacy`` permutations; tests/test_minhash.py checks them equal.
The numpy functions stay as the reference and serve ``shingle: char``.
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa

from filters.dedup import minhash_core as core

_U64 = np.uint64
_MASK32 = _U64(0xFFFFFFFF)
_MERSENNE = _U64((1 << 61) - 1)
_ASCII_SEP = core._ASCII_SEP.copy()


@numba.njit(inline="always")
def _fmix64(x):
    x ^= x >> _U64(33)
    x *= _U64(0xFF51AFD7ED558CCD)
    x ^= x >> _U64(33)
    x *= _U64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> _U64(33))


@numba.njit(inline="always")
def _fmix32(x):
    x ^= x >> _U64(16)
    x = (x * _U64(0x85EBCA6B)) & _MASK32
    x ^= x >> _U64(13)
    x = (x * _U64(0xC2B2AE35)) & _MASK32
    return x ^ (x >> _U64(16))


@numba.njit(cache=True, nogil=True)
def _mark_separators(data, start, end, ascii_sep, sep):
    """``sep[t - start]``: is byte t part of a separator character (``minhash_core._separators``)."""
    for t in range(start, end):
        sep[t - start] = ascii_sep[data[t]]
    for t in range(start, end):
        c = data[t]
        if c < 0xC2 or c > 0xE3:
            continue
        if c == 0xC2 and t + 1 < end:
            sep[t - start] = sep[t + 1 - start] = True
        elif c == 0xC3 and t + 1 < end and (data[t + 1] == 0x97 or data[t + 1] == 0xB7):
            sep[t - start] = sep[t + 1 - start] = True
        elif t + 2 < end and (
            (c == 0xE2 and (data[t + 1] == 0x80 or data[t + 1] == 0x81))
            or (c == 0xE3 and data[t + 1] == 0x80)
        ):
            sep[t - start] = sep[t + 1 - start] = sep[t + 2 - start] = True


@numba.njit(cache=True, nogil=True)
def _words(data, start, end, sep, p, toks):
    """Hashes of the words of bytes [start, end) into ``toks``; returns how many."""
    n = 0
    t = start
    while t < end:
        if sep[t - start]:
            t += 1
            continue
        h = _U64(0)
        pw = _U64(1)
        w = t
        while t < end and not sep[t - start]:
            h += _U64(data[t]) * pw
            pw *= p
            t += 1
        toks[n] = _fmix64(h + _U64(t - w))
        n += 1
    return n


@numba.njit(cache=True, nogil=True)
def _min_affine(hv, count, a, b, out_row):
    """datasketch's affine32 values ``a * hv + b`` (mod 2^32), their minimum per permutation; permutations
    outside, shingles inside, in uint32: the loop the compiler vectorises."""
    for q in range(a.size):
        aq, bq, m = a[q], b[q], np.uint32(0xFFFFFFFF)
        for s in range(count):
            m = min(m, np.uint32(aq * hv[s] + bq))
        out_row[q] = m


@numba.njit(cache=True, nogil=True)
def _min_legacy(hv, count, a, b, out_row):
    """datasketch's legacy values ``((a * hv + b) mod (2^61 - 1)) mod 2^32``, their minimum per permutation."""
    for q in range(a.size):
        aq, bq, m = a[q], b[q], _MASK32
        for s in range(count):
            m = min(m, ((aq * hv[s] + bq) % _MERSENNE) & _MASK32)
        out_row[q] = np.uint32(m)


@numba.njit(cache=True, nogil=True)
def _signatures(data, offsets, ngram, k, a, b, affine, ascii_sep, p, out, per_doc):
    docs = offsets.size - 1
    longest = 0
    for d in range(docs):
        longest = max(longest, offsets[d + 1] - offsets[d])
    sep = np.zeros(longest + 1, np.bool_)
    toks = np.zeros(longest + 1, np.uint64)
    hv32 = np.zeros(longest + 1, np.uint32)
    hv64 = np.zeros(longest + 1, np.uint64)
    a32, b32 = a.astype(np.uint32), b.astype(np.uint32)
    for d in range(docs):
        start, end = offsets[d], offsets[d + 1]
        _mark_separators(data, start, end, ascii_sep, sep)
        n = _words(data, start, end, sep, p, toks)
        shingles = n - ngram + 1 if n >= ngram else min(n, 1)
        per_doc[d] = shingles
        for s in range(shingles):
            acc = _U64(0)
            for j in range(min(ngram, n)):
                acc += toks[s + j] * k[j]
            h = _fmix64(acc) >> _U64(32)
            if affine:
                hv32[s] = np.uint32(_fmix32(h))
            else:
                hv64[s] = h
        if affine:
            _min_affine(hv32, shingles, a32, b32, out[d])
        else:
            _min_legacy(hv64, shingles, a, b, out[d])


def word_signatures(
    texts: list[str] | pa.Array, ngram: int, num_perm: int, seed: int, scheme: str = "affine32"
) -> tuple[np.ndarray, np.ndarray]:
    """``(signatures (docs, num_perm) uint32, shingles per doc)`` of raw texts, word ``ngram`` shingles:
    ``minhash_core.signatures(*minhash_core.text_shingles(texts, "word", ngram), ...)``, in one pass."""
    arr = core.nfkc_lower_array(texts)
    data, offsets = core._string_buffers(arr)
    a, b = core.permutations(num_perm, seed, scheme)
    out = np.empty((len(arr), num_perm), np.uint32)
    per_doc = np.zeros(len(arr), np.int64)
    _signatures(
        data, offsets.astype(np.int64), ngram, core._K[:ngram], a.astype(np.uint64), b.astype(np.uint64),
        scheme == "affine32", _ASCII_SEP, core._P, out, per_doc,
    )  # fmt: skip
    return out, per_doc
