"""``heuristic_filter``'s measures over a whole Arrow batch, equal to the per-row functions of
``filters.heuristics`` (same counts, same float operations, so the same decisions and details).

Character classes come from Python's own definitions (``str.isspace``, ``isalnum``, ``isdecimal``), so RE2
counts what ``str.split`` and ``re``'s ``\\w``/``\\d`` count. Word n-grams compare words lower-cased by Arrow;
the rows holding a character whose Arrow lower case differs from Python's (``İ``, or ``Σ``, which Python
lowers by context) are judged by ``HeuristicFilter.check`` instead (``python_rows``).
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from factory.columns import joined_texts, lengths, text_items
from factory.rows import TEXT_FIELDS
from factory.textnorm import WHITESPACE, _all_chars, _ranges, contains, re2_class

WS = re2_class(WHITESPACE)
SYMBOL_RUN = r"[#@$^&*~|<>=+_{}\[\]\\`…]+|\.\.\.+"
RESPONSE_SPEC = {
    "chat": ("messages:assistant",),
    "preference": ("chosen:assistant",),
    "qa": ("answer",),
    "text": ("text",),
    "mcqa": ("explanation",),
}
PROMPT_SPEC = {"mcqa": ("context", "question", "explanation"), "prompt": ("question",)}


@functools.cache
def classes() -> dict[str, str]:
    """RE2 classes: ``letter`` (``[^\\W\\d_]``: alphanumeric, not decimal), ``digit`` (``\\d``), ``lower_differs``."""
    chars = _all_chars()
    letter = np.array([ord(c) for c in chars if c.isalnum() and not c.isdecimal()], np.int64)
    digit = np.array([ord(c) for c in chars if c.isdecimal()], np.int64)
    joined = "\x00".join(chars)
    arrow = pc.utf8_lower(pa.array([joined]))[0].as_py().split("\x00")
    differs = np.array(
        [ord(c) for c, a in zip(chars, arrow, strict=True) if c.lower() != a] + [0x3A3], np.int64
    )
    return {
        "letter": re2_class(ranges=_ranges(letter)),
        "digit": re2_class(ranges=_ranges(digit)),
        "lower_differs": re2_class(ranges=_ranges(np.unique(differs))),
    }


def count(arr: pa.Array, pattern: str) -> np.ndarray:
    return (
        pc.fill_null(pc.count_substring_regex(arr, pattern), 0)
        .to_numpy(zero_copy_only=False)
        .astype(np.int64)
    )


def judged_texts(table: pa.Table, on: str) -> pa.Array:
    """``judged_text(row, on)`` of every row."""
    main = joined_texts(table, TEXT_FIELDS, "\n")
    if on != "response":
        return main
    parents, _ = text_items(table, RESPONSE_SPEC)
    has_response = np.bincount(parents, minlength=table.num_rows) > 0
    out = pc.if_else(pa.array(has_response), joined_texts(table, RESPONSE_SPEC, "\n"), main)
    prompt_parents, _ = text_items(table, PROMPT_SPEC)
    has_prompt = (np.bincount(prompt_parents, minlength=table.num_rows) > 0) & ~has_response
    if has_prompt.any():
        out = pc.if_else(pa.array(has_prompt), joined_texts(table, PROMPT_SPEC, "\n"), out)
    return out


def shortest_response_words(table: pa.Table) -> np.ndarray:
    """Words (``str.split``) of each row's shortest response; -1 where it has none."""
    parents, texts = text_items(table, RESPONSE_SPEC)
    words = count(texts, f"[^{WS[1:-1]}]+")
    out = np.full(table.num_rows, np.iinfo(np.int64).max)
    np.minimum.at(out, parents, words)
    return np.where(out == np.iinfo(np.int64).max, -1, out)


def basic(texts: pa.Array) -> dict[str, np.ndarray]:
    """Per text: ``chars`` (non-space characters), ``words``, ``letters``, ``digits``, ``symbols``."""
    size = lengths(texts)
    return {
        "chars": size - count(texts, WS),
        "words": count(texts, f"[^{WS[1:-1]}]+"),
        "letters": count(texts, classes()["letter"]),
        "digits": count(texts, classes()["digit"]),
        "symbols": count(texts, SYMBOL_RUN),
    }


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(num.size, np.float64), where=den > 0)


def _first_of_groups(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(order, starts)``: a stable sort by ``keys`` (the last sorts first) and where each group begins."""
    order = np.lexsort([np.arange(keys[0].size), *keys])
    new = np.zeros(order.size, bool)
    if order.size:
        new[0] = True
        for k in keys:
            new[1:] |= k[order][1:] != k[order][:-1]
    return order, np.flatnonzero(new)


def dup_lines(texts: pa.Array) -> np.ndarray:
    """``dup_line_fraction`` of each text."""
    lines = pc.split_pattern(texts, "\n")
    parents = pc.list_parent_indices(lines).to_numpy(zero_copy_only=False)
    stripped = pc.utf8_trim(lines.flatten(), WHITESPACE)
    size = lengths(stripped)
    keep = size > 0
    code = pc.dictionary_encode(stripped).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    p, c, s = parents[keep], code[keep], size[keep]
    order, starts = _first_of_groups([c, p])
    repeat = np.ones(order.size, bool)
    repeat[starts] = False
    dup = np.zeros(p.size, bool)
    dup[order] = repeat
    total = np.bincount(p, s, minlength=len(texts))
    return ratio(np.bincount(p[dup], s[dup], minlength=len(texts)), total)


def ngram_rules(
    texts: pa.Array, dup_n: int, top_n: int, eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(dup_ngram_fraction, top_ngram_fraction)`` of each text (0 where not ``eligible``)."""
    m = len(texts)
    words = pc.split_pattern_regex(pc.utf8_trim(texts, WHITESPACE), f"{WS}+")
    parents = pc.list_parent_indices(words).to_numpy(zero_copy_only=False)
    flat = words.flatten()
    wlen = lengths(flat)
    lowered = pc.utf8_lower(flat)
    code = pc.dictionary_encode(lowered).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    low_len = lengths(lowered)
    count_w = np.bincount(parents, minlength=m)
    start = np.concatenate([[0], np.cumsum(count_w)])[:-1]
    total = np.bincount(parents, wlen, minlength=m)
    dup_frac = np.zeros(m)
    top_frac = np.zeros(m)
    idx = np.arange(len(flat))
    for n, which in ((dup_n, "dup"), (top_n, "top")):
        need = n + 1 if which == "dup" else 2 * n
        ok_row = eligible & (count_w >= need)
        g = np.flatnonzero(ok_row[parents] & (idx - start[parents] <= count_w[parents] - n))  # gram starts
        if g.size == 0:
            continue
        cols = [code[g + k] for k in range(n)]
        order, starts = _first_of_groups([*reversed(cols), parents[g]])
        size = np.diff(np.append(starts, order.size))
        group_of = np.repeat(np.arange(starts.size), size)
        cnt = np.empty(order.size, np.int64)
        cnt[order] = size[group_of]
        if which == "dup":
            covered = np.zeros(len(flat) + 1, np.int64)
            hit = g[cnt > 1]
            np.add.at(covered, hit, 1)
            np.add.at(covered, hit + n, -1)
            mask = np.cumsum(covered)[:-1] > 0
            dup = np.bincount(parents[mask], wlen[mask], minlength=m)
            dup_frac = np.where(ok_row, ratio(dup, total), 0.0)
        else:
            head = np.empty(order.size, np.int64)  # first start of each gram's group
            head[order] = g[order[starts]][group_of]
            row = parents[g]
            best_order = np.lexsort((head, -cnt, row))  # per row: highest count, then first seen
            first = np.ones(best_order.size, bool)
            first[1:] = row[best_order][1:] != row[best_order][:-1]
            best = best_order[first]
            gram_len = sum(low_len[g[best] + k] for k in range(n))
            value = np.where(cnt[best] >= 2, ratio(gram_len * cnt[best], total[row[best]]), 0.0)
            top_frac[row[best]] = value
            top_frac = np.where(ok_row, top_frac, 0.0)
    return dup_frac, top_frac


def python_rows(texts: pa.Array) -> np.ndarray:
    """Texts holding a character Arrow lower-cases differently from Python (judged row by row)."""
    wide = ~np.asarray(pc.fill_null(pc.string_is_ascii(texts), True), bool)
    out = np.zeros(len(texts), bool)
    at = np.flatnonzero(wide)
    if at.size:
        out[at] = contains(texts.take(pa.array(at)), classes()["lower_differs"]).to_numpy(
            zero_copy_only=False
        )
    return out


__all__ = ["basic", "dup_lines", "judged_texts", "ngram_rules", "python_rows", "ratio"]
