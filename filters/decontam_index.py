"""The n-gram index behind the ``decontaminate`` stage: normalisation, hashing and matching.

Text is normalised to lower-case word tokens (NFKC, casefold; every run of punctuation, symbols or
whitespace only separates), so case, punctuation and spacing changes never break a match. Tokens become
ids of the benchmark vocabulary (a token no benchmark item uses is id 0, so a window holding it cannot
match) and windows are hashed with a 64-bit polynomial hash over random per-token values. Prefix sums
give the hash of any window in O(1), so a whole batch is hashed and looked up with numpy.

Three match kinds, each naming the benchmark item found (see ``Rules``):

- ``ngram``: the row shares at least ``min_ngram_matches`` distinct n-grams with one item (its question,
  context or an option), and at least ``min_ngram_share`` of the item's n-grams: a copied item, even
  edited or cut in half, shares a large part of them; shared clinical boilerplate ("a 0 year old man is
  brought to the emergency department by his wife", a lab panel) only a few. Boilerplate n-grams are never indexed: those found in more than ``max_ngram_df``
  distinct items, and those with fewer than ``min_rare_tokens`` rare tokens (a token is rare when at most
  ``rare_token_df`` of the items use it): "which of the following is the most appropriate next step in
  management of" is made of common tokens only, whatever its exact wording.
- ``question``: the item's whole normalised question is a run of the row's tokens (alone or embedded in
  a longer prompt); it counts when the question has ``question_alone_tokens`` tokens, two rare ones, and
  is unique among the benchmarks, or when ``min_option_matches`` of the item's options are in the row.
- ``options``: an MCQA row holding ``option_rule_min`` of the item's options (any order, rare ones only)
  whose prompt holds ``min_question_overlap`` of the IDF weight of the item's question tokens (short,
  edited questions: common words weigh little, so a long row cannot cover a question by chance).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_P = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2**64
_BITS = 1 << 23
Row = tuple[list[str], list[list[str]]]  # prompt tokens, option tokens (MCQA rows; else empty)


def tokens(text: str) -> list[str]:
    """Lower-case word tokens of ``text``; punctuation, symbols and whitespace only separate. (Numbers
    stay: reading every number as ``0`` was measured to lose recall without removing the lab-panel
    false positives, see BENCHMARKS.md ("Benchmark decontamination").)"""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True)
class Rules:
    """How a row matches an item (the stage's params, see ``filters.decontam``)."""

    ngram: int = 13
    min_ngram_matches: int = 1
    min_ngram_share: float = 0.2
    max_ngram_df: int = 3
    min_rare_tokens: int = 1
    rare_token_df: float = 0.01
    question_match: bool = True
    min_question_tokens: int = 4
    question_alone_tokens: int = 8
    question_alone_rare: int = 2
    min_option_matches: int = 2
    option_rule_min: int = 3
    min_question_overlap: float = 0.6
    max_option_df: int = 20


@dataclass
class Group:
    """Benchmark items with the same normalised question and context (copies of one item)."""

    members: list[tuple[str, str]]  # (benchmark, item id)
    question: list[str]
    context: list[str]
    options: list[str]  # normalised options (tokens joined by spaces)
    question_df: int = 1
    question_rare: int = 0  # distinct rare tokens of the question


@dataclass(frozen=True)
class Match:
    group: int
    kind: str  # ngram | question | options
    evidence: str


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
        self.bits = np.zeros(_BITS, bool)
        self.bits[(keys & np.uint64(_BITS - 1)).astype(np.int64)] = True

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """Index into ``keys`` of each hash, or -1."""
        out = np.full(len(hashes), -1, np.int64)
        if not len(self.keys) or not len(hashes):
            return out
        maybe = np.flatnonzero(self.bits[(hashes & np.uint64(_BITS - 1)).astype(np.int64)])
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


class BenchmarkIndex:
    """Built once per worker: ``add`` every benchmark item, ``finish``, then ``match_batch`` rows."""

    def __init__(self, rules: Rules):
        self.rules = rules
        self.vocab: dict[str, int] = {"": 0}
        self.groups: list[Group] = []
        self._by_key: dict[tuple, int] = {}

    def add(self, benchmark: str, item_id: str, question: str, context: str | None, options: list[str]):
        q, c = tokens(question or ""), tokens(context or "")
        opts = [o for o in (" ".join(tokens(x)) for x in options or []) if o]
        for t in q + c + " ".join(opts).split():
            if t not in self.vocab:
                self.vocab[t] = len(self.vocab)
        key = (tuple(q), tuple(c))
        if key in self._by_key:
            g = self.groups[self._by_key[key]]
            g.members.append((benchmark, item_id))
            g.options += [o for o in opts if o not in g.options]
            return
        self._by_key[key] = len(self.groups)
        self.groups.append(Group([(benchmark, item_id)], q, c, opts))

    def ids(self, toks: list[str]) -> np.ndarray:
        get = self.vocab.get
        return np.array([get(t, 0) for t in toks], dtype=np.int64)

    def seq_hashes(self, seqs: list[list[str]]) -> np.ndarray:
        """Hash of each whole token sequence (equal to its window hash); 0 where a token is unknown."""
        if not seqs:
            return np.empty(0, np.uint64)
        lengths = np.array([len(x) for x in seqs], np.int64)
        begin = np.zeros(len(seqs), np.int64)
        begin[1:] = np.cumsum(lengths)[:-1]
        prefix, bad = self.hasher.prepare(self.ids([t for x in seqs for t in x]))
        _, inv = self.hasher._powers(len(prefix))
        h = (prefix[begin + lengths] - prefix[begin]) * inv[begin]
        return np.where(bad[begin + lengths] - bad[begin] == 0, h, np.uint64(0))

    def finish(self) -> None:
        """Hash every item's windows; boilerplate n-grams (see the module docstring) are left out."""
        r = self.rules
        self.hasher = Hasher(len(self.vocab))
        token_df = np.zeros(len(self.vocab), np.int64)
        parts, owner = [], []
        for gi, g in enumerate(self.groups):
            token_df[self.ids(sorted(set(g.question + g.context + " ".join(g.options).split())))] += 1
            for part in [g.question, g.context, *(o.split() for o in g.options)]:
                if len(part) >= r.ngram:
                    parts += [part, [""]]  # "" is id 0: a separator no window spans
                    owner += [gi] * (len(part) + 1)
        common = token_df > max(1.0, r.rare_token_df * len(self.groups))
        self.idf = np.log((len(self.groups) + 1) / (token_df + 1))
        self.idf[0] = 0.0
        for g in self.groups:
            g.question_rare = int((~common[self.ids(sorted(set(g.question)))]).sum())
        ids = self.ids([t for p in parts for t in p])
        prefix, bad = self.hasher.prepare(ids)
        h, ok = self.hasher.windows(prefix, bad, r.ngram)
        rare = np.zeros(len(ids) + 1, np.int64)
        rare[1:] = np.cumsum(~common[ids])
        ok &= (rare[r.ngram :] - rare[: len(rare) - r.ngram]) >= r.min_rare_tokens
        self.ngrams = Table(h[ok], np.array(owner, np.int64)[: len(ok)][ok], r.max_ngram_df)
        self.boilerplate_ngrams = self.ngrams.dropped
        self.item_ngrams = np.maximum(np.bincount(self.ngrams.groups, minlength=len(self.groups)), 1)
        qg = [gi for gi, g in enumerate(self.groups) if len(g.question) >= r.min_question_tokens]
        qh = self.seq_hashes([self.groups[gi].question for gi in qg])
        self.questions = Table(qh, np.array(qg, np.int64))
        for k in range(len(self.questions.keys)):
            for gi in self.questions.of(k):
                self.groups[int(gi)].question_df = int(self.questions.df[k])
        og = [(gi, o.split()) for gi, g in enumerate(self.groups) for o in g.options]
        oh = self.seq_hashes([o for _, o in og])
        self.options = Table(oh, np.array([gi for gi, _ in og], np.int64), r.max_option_df)
        self.question_lengths = sorted(
            {len(g.question) for g in self.groups if len(g.question) >= r.min_question_tokens}
        )

    def stats(self) -> dict[str, int]:
        return {
            "items": sum(len(g.members) for g in self.groups),
            "distinct_items": len(self.groups),
            "ngrams": len(self.ngrams.keys),
            "boilerplate_ngrams": self.boilerplate_ngrams,
        }

    # -- matching ------------------------------------------------------------------------------
    def match_batch(self, rows: list[Row]) -> list[Match | None]:
        """``rows``: (prompt tokens, tokens of each option of an MCQA row) -> the best match per row."""
        r = self.rules
        parts, starts, pos = [], [], 0
        for toks, _ in rows:
            starts.append(pos)
            parts.append(self.ids(toks))
            parts.append(np.zeros(1, np.int64))  # separator: no window spans two rows
            pos += len(toks) + 1
        all_ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        row_starts = np.array(starts, np.int64)
        prefix, bad = self.hasher.prepare(all_ids)
        out: list[Match | None] = [None] * len(rows)

        grams: dict[int, Counter[int]] = defaultdict(Counter)
        first: dict[tuple[int, int], int] = {}
        seen: set[tuple[int, int]] = set()
        for p, row, key in self._hits(self.ngrams, prefix, bad, r.ngram, row_starts):
            if (row, key) in seen:  # distinct n-grams only
                continue
            seen.add((row, key))
            for g in self.ngrams.of(key).tolist():
                grams[row][g] += 1
                first.setdefault((row, g), p - starts[row])
        for row, counts in grams.items():
            g, c = max(counts.items(), key=lambda kv: (kv[1] / self.item_ngrams[kv[0]], -kv[0]))
            share = c / self.item_ngrams[g]
            if c >= r.min_ngram_matches and share >= r.min_ngram_share:
                at = first[(row, g)]
                words = " ".join(rows[row][0][at : at + r.ngram])
                out[row] = Match(g, "ngram", f'{c} shared {r.ngram}-grams ({share:.0%}), first "{words}"')
        if r.question_match:
            for length in (L for L in self.question_lengths if L < r.ngram):
                for _, row, key in self._hits(self.questions, prefix, bad, length, row_starts):
                    if out[row] is not None:
                        continue
                    for g in self.questions.of(key):
                        if self._question_counts(int(g), rows[row]):
                            out[row] = Match(int(g), "question", " ".join(self.groups[int(g)].question)[:120])
                            break
            self._option_rule(rows, out)
        return out

    def _hits(self, table: Table, prefix, bad, length: int, row_starts: np.ndarray):
        """(position, row, key index) of every window of ``length`` found in ``table``."""
        h, ok = self.hasher.windows(prefix, bad, length)
        cand = np.flatnonzero(ok)
        found = table.find(h[cand])
        hit = found >= 0
        positions, keys = cand[hit], found[hit]
        rows = np.searchsorted(row_starts, positions, side="right") - 1
        return zip(positions.tolist(), rows.tolist(), keys.tolist(), strict=True)

    def _question_counts(self, gi: int, row: Row) -> bool:
        g, r = self.groups[gi], self.rules
        informative = g.question_rare >= r.question_alone_rare
        if len(g.question) >= r.question_alone_tokens and g.question_df == 1 and informative:
            return True
        return self._options_present(g, row) >= min(r.min_option_matches, len(g.options))

    @staticmethod
    def _options_present(g: Group, row: Row) -> int:
        toks, opts = row
        text = f" {' '.join(toks)} "
        have = {" ".join(o) for o in opts}
        return sum(1 for o in g.options if o in have or f" {o} " in text)

    def _option_rule(self, rows: list[Row], out: list[Match | None]) -> None:
        r = self.rules
        todo = [(i, {tuple(o) for o in opts}) for i, (_, opts) in enumerate(rows) if out[i] is None]
        flat = [(i, list(o)) for i, opts in todo if len(opts) >= r.option_rule_min for o in opts]
        found = self.options.find(self.seq_hashes([o for _, o in flat]))
        counts: dict[int, Counter[int]] = defaultdict(Counter)
        for (i, _), key in zip(flat, found.tolist(), strict=True):
            if key >= 0:
                counts[i].update(self.options.of(key).tolist())
        for i, per_group in counts.items():
            have = set(rows[i][0])
            for g, c in per_group.most_common():
                if c < r.option_rule_min:
                    break
                cover = self.coverage(self.groups[g].question, have)
                if cover >= r.min_question_overlap:
                    out[i] = Match(g, "options", f"{c} options shared, question coverage {cover:.2f}")
                    break

    def coverage(self, question: list[str], have: set[str]) -> float:
        """Share of the question's IDF weight (over the benchmark items) whose tokens the row holds."""
        toks = sorted(set(question))
        w = self.idf[self.ids(toks)]
        total = float(w.sum())
        return float(w[[t in have for t in toks]].sum()) / total if total else 0.0
