"""MinHash near-dedup, the pure array functions (numpy + pyarrow, no Python loop over documents).

texts --shingle_hashes--> 32-bit shingle hashes (flat) + shingles per doc
      --signatures-------> (docs, num_perm) uint32, equal to datasketch ``MinHash`` fed the same hash values
      --band_hashes------> (docs, bands) uint64, one 64-bit key per LSH band
      --candidate_pairs--> unique (i, j) pairs sharing a band bucket
      --estimated_jaccard, components (scipy) in ``filters.minhash``.

Shingles: text is NFKC-normalised, lower-cased and split on runs of separator characters (``_SEP_CHARS``:
ASCII punctuation and spaces, Latin-1 and general punctuation; found on the UTF-8 bytes). Each word is
hashed once (a polynomial hash over its UTF-8 bytes, from prefix sums over the whole batch, then the
MurmurHash3 64-bit finaliser); a shingle of n
consecutive tokens is ``fmix64(sum_k K_k * token_{i+k})`` with fixed odd constants ``K_k``, and its top 32
bits are its hash. Char shingles use Unicode code points as tokens. A document with fewer than n tokens has
one shingle (all its tokens); a document without tokens has none (its signature is datasketch's empty one).
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MERSENNE = np.uint64((1 << 61) - 1)
MAX32 = np.uint64((1 << 32) - 1)
# Separator characters (everything else is part of a word): ASCII other than letters and digits, U+0080-U+00BF
# (Latin-1 punctuation, no-break space), the signs x and /, U+2000-U+207F (general punctuation: dashes,
# quotes, bullets, spaces) and U+3000-U+303F (CJK punctuation). Checked on UTF-8 bytes, no regex.
_SEP_CHARS = "\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f\x80-\xbf\xd7\xf7\u2000-\u207f\u3000-\u303f"
_ASCII_SEP = np.array([not (chr(c).isascii() and chr(c).isalnum()) and c < 0x80 for c in range(256)])
_P = np.uint64(0x100000001B3)  # FNV-64 prime: odd, so invertible modulo 2^64
_P_INV = np.uint64(pow(int(_P), -1, 1 << 64))
_MASK64 = (1 << 64) - 1


def _splitmix64(count: int, state: int = 0x9E3779B97F4A7C15) -> np.ndarray:
    """``count`` fixed odd 64-bit constants (the SplitMix64 sequence): the combiners' multipliers."""
    out = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        out.append((z ^ (z >> 31)) | 1)
    return np.array(out, np.uint64)


_K = _splitmix64(2048)  # [0, 1024): per-position multipliers; [1024, 2048): per-band salts


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection that avalanches every input bit), element-wise."""
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> np.uint64(33))


def fmix32(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, as datasketch's ``affine32`` scheme pre-mixes each input hash."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x85EBCA6B)
    x = x ^ (x >> np.uint32(13))
    x = x * np.uint32(0xC2B2AE35)
    return x ^ (x >> np.uint32(16))


@functools.cache
def permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's permutation parameters ``(a, b)`` for ``MinHash(num_perm, seed, scheme=scheme)``."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        ab = np.array(
            [
                (gen.randint(1, MERSENNE, dtype=np.uint64), gen.randint(0, MERSENNE, dtype=np.uint64))
                for _ in range(num_perm)
            ],
            dtype=np.uint64,
        ).T
        return ab[0], ab[1]
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


_POW: dict[str, np.ndarray] = {"p": np.ones(1, np.uint64), "inv": np.ones(1, np.uint64)}


_POW_CACHE_MAX = 1 << 23  # bytes of text per batch whose power tables stay cached (2 x 64 MB at most)


def _power_table(base: np.uint64, n: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.cumprod(np.concatenate([[np.uint64(1)], np.full(n - 1, base)]), dtype=np.uint64)


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``P**j`` and ``P**-j`` modulo 2^64 for j < n (cached up to ``_POW_CACHE_MAX``, grown by doubling)."""
    if n > _POW_CACHE_MAX:  # an unusually large batch: computed for this call only
        return _power_table(_P, n), _power_table(_P_INV, n)
    if _POW["p"].size < n:
        size = min(max(n, 2 * _POW["p"].size), _POW_CACHE_MAX)
        _POW["p"], _POW["inv"] = _power_table(_P, size), _power_table(_P_INV, size)
    return _POW["p"][:n], _POW["inv"][:n]


def nfkc_lower_array(texts: list[str] | pa.Array) -> pa.Array:
    """NFKC and lower case as a large-string array (one Arrow call each): only that, not
    ``factory.textnorm.normalised_array`` (separators are found later on the bytes)."""
    arr = texts.cast(pa.large_string()) if isinstance(texts, pa.Array) else pa.array(texts, pa.large_string())
    return pc.utf8_lower(pc.utf8_normalize(arr, "NFKC"))


def _string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return data[offsets[0] : offsets[-1]], offsets - offsets[0]


def _separators(data: np.ndarray) -> np.ndarray:
    """Per byte: is it part of a separator character (see ``_SEP_CHARS``)?"""
    sep = _ASCII_SEP[data]
    if data.size < 2 or not (data >= 0x80).any():
        return sep
    lead = np.flatnonzero(data[:-1] == 0xC2)  # U+0080-U+00BF
    second = data[1:]
    lead = np.concatenate([lead, np.flatnonzero((data[:-1] == 0xC3) & ((second == 0x97) | (second == 0xB7)))])
    sep[lead] = sep[lead + 1] = True
    if data.size >= 3:
        mid = data[1:-1]
        three = np.flatnonzero(
            ((data[:-2] == 0xE2) & ((mid == 0x80) | (mid == 0x81))) | ((data[:-2] == 0xE3) & (mid == 0x80))
        )
        sep[three] = sep[three + 1] = sep[three + 2] = True
    return sep


def word_tokens(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(word hashes uint64, words per doc)`` of normalised texts: a word is a maximal run of non-separator
    characters inside one doc; its hash is a polynomial over its UTF-8 bytes, then ``fmix64``."""
    data, offsets = _string_buffers(arr)
    n = data.size
    is_word = ~_separators(data)
    prev = np.zeros(n, bool)
    prev[1:] = is_word[:-1]
    prev[offsets[:-1][offsets[:-1] < n]] = False  # a word never crosses a doc boundary
    nxt = np.zeros(n, bool)
    nxt[:-1] = is_word[1:]
    nxt[offsets[1:][offsets[1:] > 0] - 1] = False
    starts = np.flatnonzero(is_word & ~prev)
    ends = np.flatnonzero(is_word & ~nxt) + 1
    pw, inv = _powers(n + 1)
    with np.errstate(over="ignore"):
        prefix = np.empty(n + 1, np.uint64)
        prefix[0] = 0
        np.multiply(data, pw[:n], out=prefix[1:])
        np.cumsum(prefix[1:], out=prefix[1:])
        raw = (prefix[ends] - prefix[starts]) * inv[starts]
        hashes = fmix64(raw + (ends - starts).astype(np.uint64))
    counts = np.diff(np.searchsorted(starts, offsets))
    return hashes, counts


def char_tokens(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(code points as uint64, code points per doc)``: runs of separators become one space, trimmed."""
    import re

    sep_re = re.compile(f"[{_SEP_CHARS}]+")
    texts = [sep_re.sub(" ", t).strip() for t in arr.to_pylist()]
    lengths = np.array([len(t) for t in texts], np.int64)
    cps = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32).astype(np.uint64)
    return cps, lengths


def shingle_hashes(tokens: np.ndarray, counts: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """``(32-bit hash of every shingle, shingles per doc)``: n consecutive tokens of one doc, in order."""
    total = tokens.size
    doc_start = np.cumsum(counts) - counts
    doc_end = doc_start + counts
    padded = np.concatenate([tokens, np.zeros(ngram, np.uint64)])
    with np.errstate(over="ignore"):
        acc = padded[:total] * _K[0]
        for k in range(1, ngram):
            acc += padded[k : k + total] * _K[k]
        short = np.flatnonzero((counts > 0) & (counts < ngram))
        if short.size:  # one shingle of all the tokens of a short doc
            pos = doc_start[short]
            part = np.zeros(short.size, np.uint64)
            for k in range(ngram):
                part += np.where(k < counts[short], padded[np.minimum(pos + k, total)] * _K[k], 0)
            acc[pos] = part
        doc_of = np.repeat(np.arange(counts.size), counts)
        remaining = doc_end[doc_of] - np.arange(total)
        keep = remaining >= ngram
        keep[doc_start[short]] = True
        hashes = (fmix64(acc[keep]) >> np.uint64(32)).astype(np.uint32)
    per_doc = np.where(counts >= ngram, counts - ngram + 1, np.minimum(counts, 1))
    return hashes, per_doc


def text_shingles(texts: list[str] | pa.Array, kind: str, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of raw texts: ``kind`` is ``word`` or ``char``."""
    arr = nfkc_lower_array(texts)
    tokens, counts = word_tokens(arr) if kind == "word" else char_tokens(arr)
    return shingle_hashes(tokens, counts, ngram)


def signatures(
    hashes: np.ndarray, per_doc: np.ndarray, num_perm: int, seed: int, scheme: str = "affine32"
) -> np.ndarray:
    """(docs, num_perm) uint32 MinHash signatures; a doc without shingles gets datasketch's empty value
    (all 2^32-1). Equal to ``datasketch.MinHash(num_perm, seed, scheme=scheme)`` updated with ``hashes``."""
    a, b = permutations(num_perm, seed, scheme)
    out = np.full((per_doc.size, num_perm), np.uint32(0xFFFFFFFF), np.uint32)
    docs = np.flatnonzero(per_doc > 0)
    if docs.size == 0:
        return out
    counts = per_doc[docs]
    ends = np.cumsum(counts)
    block = max(1, (1 << 20) // num_perm)  # shingles per block: ~4 MB of uint32 work array
    first = 0
    with np.errstate(over="ignore"):
        hv = fmix32(hashes) if scheme == "affine32" else hashes.astype(np.uint64)
        while first < docs.size:
            lo = ends[first] - counts[first]
            last = max(first + 1, int(np.searchsorted(ends, lo + block, side="right")))
            hi = ends[last - 1]
            if scheme == "affine32":
                phv = a[:, None] * hv[None, lo:hi]
                phv += b[:, None]
            else:
                phv = ((a[:, None] * hv[None, lo:hi] + b[:, None]) % MERSENNE) & MAX32
            starts = ends[first:last] - counts[first:last] - lo
            out[docs[first:last]] = np.minimum.reduceat(phv, starts, axis=1).T
            first = last
    return out


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(docs, bands) uint64: a 64-bit hash of each band's ``rows`` signature values and the band's index."""
    n = sig.shape[0]
    x = sig[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = (x * _K[:rows]).sum(axis=2, dtype=np.uint64)
        h += _K[1024 : 1024 + bands]
        return fmix64(h)


def candidate_pairs(keys: np.ndarray, max_bucket: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Unique ``(i, j)``, i < j, of rows sharing a bucket. ``keys``: (docs, bands) band hashes.

    A bucket of at most ``max_bucket`` docs gives all its pairs; a larger one (boilerplate copies) gives a
    star from its first doc plus the chain of consecutive docs, so pairs stay linear in its size."""
    n, bands = keys.shape
    return bucket_pairs(keys.ravel(), np.repeat(np.arange(n, dtype=np.int64), bands), max_bucket)


def bucket_pairs(flat: np.ndarray, doc: np.ndarray, max_bucket: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """``candidate_pairs`` over flat ``(band key, doc)`` records in any order (docs are non-negative
    integers in pipeline order): what one partition of a shuffle by band key holds."""
    order = np.lexsort((doc, flat))  # by key, then doc: a bucket's docs in pipeline order
    flat, doc = flat[order], doc[order]
    if flat.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    new = np.ones(flat.size, bool)
    new[1:] = flat[1:] != flat[:-1]
    group_start = np.maximum.accumulate(np.where(new, np.arange(flat.size), 0))
    sizes = np.diff(np.append(np.flatnonzero(new), flat.size))
    size = np.repeat(sizes, sizes)
    pos = np.arange(flat.size) - group_start
    small = (size >= 2) & (size <= max_bucket)
    later = np.where(small, size - 1 - pos, 0)
    left = np.repeat(np.arange(flat.size), later)
    step = np.arange(left.size) - np.repeat(np.cumsum(later) - later, later) + 1
    big = np.flatnonzero((size > max_bucket) & (pos > 0))
    i = np.concatenate([doc[left], doc[group_start[big]], doc[big - 1]])
    j = np.concatenate([doc[left + step], doc[big], doc[big]])
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    n = int(doc.max()) + 1
    code = np.unique(lo[lo != hi] * n + hi[lo != hi])
    return code // n, code % n


def estimated_jaccard(sig: np.ndarray, i: np.ndarray, j: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """Fraction of equal signature values of each pair (i[k], j[k])."""
    out = np.empty(i.size, np.float64)
    for s in range(0, i.size, chunk):
        out[s : s + chunk] = (sig[i[s : s + chunk]] == sig[j[s : s + chunk]]).mean(axis=1)
    return out


@functools.cache
def optimal_param(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5):
    """``(bands, rows)`` minimising the weighted false positive + false negative areas under the LSH
    S-curve, as datasketch's ``MinHashLSH`` derives them (same integrals, same search order: the first
    minimum over b, then r). The integrands are polynomials of degree <= b*r <= num_perm, so Gauss-Legendre
    quadrature with num_perm/2 + 1 nodes is exact; all (b, r) are evaluated at once."""
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)], float)
    b, r = pairs[:, :1], pairs[:, 1:]

    def area(lo: float, hi: float, false_negative: bool) -> np.ndarray:
        s = (hi - lo) / 2 * nodes + (hi + lo) / 2
        candidate = 1 - (1 - s**r) ** b
        return ((1 - candidate if false_negative else candidate) * weights).sum(axis=1) * (hi - lo) / 2

    error = area(0.0, threshold, False) * fp_weight + area(threshold, 1.0, True) * fn_weight
    best = int(np.argmin(error))
    return int(pairs[best, 0]), int(pairs[best, 1])
