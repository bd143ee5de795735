"""The cheap tiers of ``BenchmarkIndex.match_rows`` (``ngram``, ``question``, ``options``, ``terms``; the
rules are in ``filters.decontam.index``'s docstring). Each tier offers ``(kind, score, confident,
evidence)`` per (row, item group); a group keeps its strongest offer (confident first, then score)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from filters.decontam.items import Group

Found = dict[int, dict[str, tuple[float, bool, str]]]  # group -> tier -> (score, confident, evidence)


@dataclass
class Encoded:
    """A batch of rows as benchmark-vocabulary ids: segments (a row's texts, then its options) one after
    another in ``ids``; per segment its start, length, row and whether it is an option; per row its start,
    length and the length of its texts (the stem, before the options)."""

    ids: np.ndarray
    seg_start: np.ndarray
    seg_len: np.ndarray
    seg_row: np.ndarray
    seg_option: np.ndarray
    row_start: np.ndarray
    row_len: np.ndarray
    stem_len: np.ndarray

    def row(self, i: int) -> np.ndarray:
        return self.ids[self.row_start[i] : self.row_start[i] + self.row_len[i]]

    def stem(self, i: int) -> np.ndarray:
        return self.ids[self.row_start[i] : self.row_start[i] + self.stem_len[i]]

    def options(self, i: int) -> list[np.ndarray]:
        segs = np.flatnonzero((self.seg_row == i) & self.seg_option & (self.seg_len > 0))
        return [self.ids[self.seg_start[j] : self.seg_start[j] + self.seg_len[j]] for j in segs.tolist()]


def offer(found: Found, g: int, kind: str, score: float, confident: bool, evidence: str) -> None:
    offers = found.setdefault(g, {})
    old = offers.get(kind)
    if old is None or (confident, score) > (old[1], old[0]):
        offers[kind] = (score, confident, evidence)


class CheapTiers:
    """The cheap tiers as methods of the benchmark index (``BenchmarkIndex`` inherits them): each reads the
    index's tables (``ngrams``, ``questions``, ``options``, ``terms``, ``idf``...) through ``self``."""

    def exact_tiers(self, enc: Encoded, found: list[Found]) -> None:
        """Word n-grams, whole questions and option sets, hashed over the whole batch at once."""
        r = self.rules
        # a 0 (unknown token) after each row: no window spans two rows
        prefix, bad = self.hasher.prepare(np.insert(enc.ids, enc.row_start + enc.row_len, 0))
        row_starts = enc.row_start + np.arange(len(enc.row_start))
        starts = row_starts.tolist()

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
            for g, c in counts.items():
                share = c / self.item_ngrams[g]
                confident = c >= r.min_ngram_matches and share >= r.min_ngram_share
                if confident or c >= 2:
                    at = first[(row, g)]
                    words = " ".join(self.words[i] for i in enc.row(row)[at : at + r.ngram].tolist())
                    evidence = f'{c} shared {r.ngram}-grams ({share:.0%}), first "{words}"'
                    offer(found[row], g, "ngram", min(share, 1.0), confident, evidence)
        if not r.question_match:
            return
        sets: dict[int, set[int]] = {}
        stem = enc.stem_len.tolist()
        for length in (n for n in self.question_lengths if n < r.ngram):
            for p, row, key in self._hits(self.questions, prefix, bad, length, row_starts):
                if p - starts[row] + length > stem[row]:  # a question inside an MCQA row's options
                    continue
                if row not in sets:
                    sets[row] = set(enc.row(row).tolist())
                for g in self.questions.of(key).tolist():
                    group = self.groups[g]
                    present = self.options_present(g, sets[row])
                    alone = len(group.question) >= r.question_alone_tokens and group.question_df == 1
                    alone = alone and group.question_rare >= r.question_alone_rare
                    confident = alone or present >= min(r.min_option_matches, len(group.options))
                    if confident or group.question_df <= 3:
                        text = " ".join(group.question)[:100]
                        offer(found[row], g, "question", 1.0 if confident else 0.5, confident,
                              f'question "{text}", {present}/{len(group.options)} options')  # fmt: skip
        self._option_rule(enc, found)

    def options_present(self, g: int, have: set[int]) -> int:
        """How many of the item's options the row holds: 60% of an option's distinct tokens (all of a one- or
        two-token option), in any order and anywhere in the row."""
        n = 0
        for toks in self.option_sets[g]:
            if toks:
                hit = len(toks & have)
                n += hit == len(toks) if len(toks) <= 2 else hit >= 0.6 * len(toks)
        return n

    def _hits(self, table, prefix, bad, length: int, row_starts: np.ndarray):
        """(position, row, key index) of every window of ``length`` found in ``table``."""
        h, ok = self.hasher.windows(prefix, bad, length)
        cand = np.flatnonzero(ok)
        found = table.find(h[cand])
        hit = found >= 0
        positions, keys = cand[hit], found[hit]
        rows = np.searchsorted(row_starts, positions, side="right") - 1
        return zip(positions.tolist(), rows.tolist(), keys.tolist(), strict=True)

    def _option_rule(self, enc: Encoded, found: list[Found]) -> None:
        """MCQA rows sharing ``option_rule_min`` exact (rare) options with an item, any order."""
        r = self.rules
        is_opt = enc.seg_option & (enc.seg_len > 0)
        many = np.bincount(enc.seg_row[is_opt], minlength=len(enc.row_len)) >= r.option_rule_min
        segs = np.flatnonzero(is_opt & many[enc.seg_row])
        if not len(segs):
            return
        hashes = self.id_seq_hashes(enc.ids, enc.seg_len)[segs]
        owner = enc.seg_row[segs]
        counts: dict[int, Counter[int]] = defaultdict(Counter)
        seen: set[tuple[int, int]] = set()
        for i, h, key in zip(owner.tolist(), hashes.tolist(), self.options.find(hashes).tolist(), strict=True):
            if key >= 0 and (i, h) not in seen:  # the same option twice counts once
                seen.add((i, h))
                counts[i].update(self.options.of(key).tolist())
        for i, per_group in counts.items():
            stem = enc.stem(i)
            for g, c in per_group.items():
                if c < r.option_rule_min:
                    continue
                cover, back = self.coverage(self.groups[g], stem)
                confident = (cover >= r.min_question_overlap and back >= r.min_row_overlap) or (
                    back >= 0.9 and cover >= r.min_question_overlap / 2
                )
                if not confident and min(cover, back) < 0.3:  # shared options, another question
                    continue
                offer(found[i], g, "options", cover, confident,
                      f"{c} options shared, question coverage {cover:.2f} (row question from the item {back:.2f})")  # fmt: skip

    def coverage(self, group: Group, stem: np.ndarray) -> tuple[float, float]:
        """Share of the item question's IDF weight (over the benchmark items) the row's question holds, and
        share of the row question's weight the item's question and context hold."""
        item = np.unique(self.ids(group.question + group.context))
        row = np.unique(stem)
        both = np.intersect1d(item, row)
        w_item, w_row = float(self.idf[item].sum()), float(self.idf[row].sum())
        shared = float(self.idf[both].sum())
        return (shared / w_item if w_item else 0.0), (shared / w_row if w_row else 0.0)

    def terms_tier(self, enc: Encoded, found: list[Found]) -> None:
        """Distinctive-term coverage (``filters.decontam.terms``); the best ``max_candidates`` pairs per row."""
        r = self.rules
        ov = self.terms.overlap(enc.ids, enc.row_len, min(r.candidate_cover, r.term_partial_item))
        ci, cr, cq, count = ov["cover_item"], ov["cover_row"], ov["cover_question"], ov["count"]
        full = (ci >= r.term_drop) & (cq >= r.term_question) & (cr >= r.term_row)
        partial = (cr >= r.term_partial_row) & (ci >= r.term_partial_item) & (cq >= r.term_partial_question)
        # two question terms (one when the question has one): another question on the same options has few
        enough_q = ov["count_question"] >= np.minimum(2, np.maximum(self.terms.question_terms[ov["group"]], 1))
        confident = (count >= r.term_min_count) & enough_q & (full | partial)
        # judge candidates: most of the item (and of its question) in the row, or most of the question alone
        # (a reworded question without its options); the constants were set on bench/decontam_eval.py
        cqc = ov["count_question"]
        by_item = (ci >= r.candidate_cover) & (cq >= 0.4) & (cr >= 0.3) & (count >= 3)
        by_question = (cq >= r.term_question) & (cqc >= 3) & (cr >= 0.6)
        keep = confident | by_item | by_question
        row, grp = ov["row"][keep], ov["group"][keep]
        ci, cr, cq, count, confident = ci[keep], cr[keep], cq[keep], count[keep], confident[keep]
        order = np.lexsort((-ci, ~confident, row))
        rank = np.zeros(len(order), np.int64)
        if len(order):
            new = np.ones(len(order), bool)
            new[1:] = row[order][1:] != row[order][:-1]
            starts = np.maximum.accumulate(np.where(new, np.arange(len(order)), 0))
            rank = np.arange(len(order)) - starts
        for j in order[rank < r.max_candidates].tolist():
            evidence = (f"{count[j]} distinctive terms shared, covering {ci[j]:.2f} of the item "
                        f"({cq[j]:.2f} of its question) and {cr[j]:.2f} of the row")  # fmt: skip
            offer(found[int(row[j])], int(grp[j]), "terms", float(ci[j]), bool(confident[j]), evidence)

    def verify(self, enc: Encoded, found: list[Found]) -> None:
        """Confident ``question``/``options``/``terms`` matches must also share word order: the row holds
        ``verify_pairs`` of the item's content word pairs (tokens 1 or 2 apart, not both common), or, for a partial
        copy, 60% of the row's pairs are the item's and 40% of the item's are in the row. A same-topic item
        (another question on the same options) shares terms but few pairs; one that fails is a candidate."""
        r = self.rules
        for i, groups in enumerate(found):
            todo = [g for g, offers in groups.items() if any(o[1] for k, o in offers.items() if k != "ngram")]
            if not todo:
                continue
            have = self.pairs([enc.stem(i), *enc.options(i)])
            for g in todo:
                item = self.item_pairs(g)
                shared = len(have & item)
                of_item, of_row = shared / max(len(item), 1), shared / max(len(have), 1)
                if of_item >= r.verify_pairs or (of_row >= 0.6 and of_item >= 0.4):
                    continue
                for kind, (score, confident, evidence) in list(groups[g].items()):
                    if confident and kind != "ngram":
                        note = f"; word pairs: {of_item:.2f} of the item's, {of_row:.2f} of the row's"
                        groups[g][kind] = (score, False, evidence + note)

    def pairs(self, seqs: list[np.ndarray]) -> set[int]:
        """Content word pairs of id sequences, as ints: tokens 1 and 2 apart (the second kind survives one
        mangled word between), known, not both common; a skip pair is told apart from an adjacent one."""
        out: set[int] = set()
        n = len(self.vocab)
        for s in seqs:
            for gap in (1, 2):
                if len(s) > gap:
                    a, b = s[:-gap], s[gap:]
                    ok = (a > 0) & (b > 0) & ~(self.common_pair[a] & self.common_pair[b])
                    out.update(((a[ok] * n + b[ok]) * 2 + gap - 1).tolist())
        return out

    def item_pairs(self, g: int) -> set[int]:
        if g not in self.pair_cache:
            grp = self.groups[g]
            self.pair_cache[g] = self.pairs(
                [self.ids(grp.question + grp.context), *(self.ids(o.split()) for o in grp.options)]
            )
        return self.pair_cache[g]
