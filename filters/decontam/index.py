"""The benchmark index behind decontamination: every benchmark item, and the cheap tiers that find the
items a training text copies. Also the reusable API (``BenchmarkIndex.build(benchmarks, data_dir)``,
``.match(texts)``) for any code that asks "is this text a benchmark item?".

Text is normalised by ``filters.decontam_text`` (case, punctuation, spacing, clinical shorthand, light
stems) and mapped to ids of the benchmark vocabulary; a training token no item uses is mapped to the
benchmark token one typo away (``TypoFixer``), else id 0, which no window holding it can match. Items
whose normalised question and context are equal are one group (copies of one item across benchmark files).

Tiers, each giving candidates ``(item, kind, score, confident)`` (see ``Rules`` for the knobs):

- ``ngram``: shared distinct word n-grams with one item (question, context or an option), as a share of
  the item's n-grams; confident from ``min_ngram_share``. Boilerplate n-grams are never indexed: those in
  more than ``max_ngram_df`` items and those without ``min_rare_tokens`` rare tokens.
- ``question``: the item's whole question is a run of the row's tokens (alone or inside a longer prompt);
  confident when the question is long (``question_alone_tokens``), has two rare tokens and is unique, or
  when ``min_option_matches`` of the item's options are in the row (an option counts when 60% of its
  distinct tokens are: reworded options count too); otherwise a candidate.
- ``options``: an MCQA row holding ``option_rule_min`` of the item's options (any order, rare options)
  and ``min_question_overlap`` of the IDF weight of the item's question tokens; fewer: a candidate.
- ``terms``: distinctive-term coverage in any order (``filters.decontam_terms``): confident when the row
  holds ``term_drop`` of the item's term weight, or is a partial copy (``term_partial_row`` of the row's
  terms from the item and ``term_partial_item`` of the item's), with ``term_min_count`` shared terms;
  a candidate from ``candidate_cover``. Two of the shared terms must be question terms (items whose
  question is generic are told apart by their options, which different questions share).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from filters.decontam.hashing import Hasher, Table
from filters.decontam.items import Candidate, Group, Rules
from filters.decontam.terms import TermIndex
from filters.decontam.text import Encoder, TypoFixer, tokens
from filters.decontam.tiers import CheapTiers, Encoded

Row = tuple[list[str], list[str]]  # the texts on the checked side, the options (MCQA rows; else empty)
SHIPPED = Path(__file__).resolve().parent / "benchmarks"
_ORDER = {
    "ngram": 0,
    "question": 1,
    "options": 2,
    "terms": 3,
    "semantic": 4,
}  # the evidence a candidate shows


class BenchmarkIndex(CheapTiers):
    """``add`` every benchmark item, ``finish``, then ``match_rows`` / ``match``; or ``build`` at once."""

    def __init__(self, rules: Rules | None = None):
        self.rules = rules or Rules()
        self.vocab: dict[str, int] = {"": 0}
        self.groups: list[Group] = []
        self._by_key: dict[tuple, int] = {}
        self.fixer: TypoFixer | None = None
        self.encoder: Encoder | None = None

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def build(cls, benchmarks: list[Any], data_dir: str | Path, rules: Rules | None = None, **knobs):
        """An index of ``benchmarks``: shipped list names (``"medical"``), recipe source entries
        (``SourceConfig`` or dicts) or both, read from ``data_dir``; ``knobs`` override ``Rules`` fields."""
        from factory.sources import SourceConfig, load_source
        from factory.stage import is_dropped

        index = cls(rules or Rules(**knobs))
        for cfg in benchmark_entries(benchmarks):
            assert isinstance(cfg, SourceConfig)
            for row in load_source(cfg, Path(data_dir)):
                if not is_dropped(row) and row.get("question"):
                    index.add(
                        cfg.name, row["id"], row["question"], row.get("context"), row.get("options") or []
                    )
        index.finish()
        return index

    def add(self, benchmark: str, item_id: str, question: str, context: str | None, options: list[str]):
        q, c = tokens(question or ""), tokens(context or "")
        opts = [o for o in (" ".join(tokens(x)) for x in options or []) if o]
        for t in q + c + " ".join(opts).split():
            if t not in self.vocab:
                self.vocab[t] = len(self.vocab)
        # copies of one item in several files share a group; a short question (often generic: "Which of
        # the following is true") is told apart by its options
        key = (tuple(q), tuple(c)) if len(q) + len(c) >= 8 else (tuple(q), tuple(c), tuple(sorted(opts)))
        if key in self._by_key:
            g = self.groups[self._by_key[key]]
            g.members.append((benchmark, item_id))
            g.options += [o for o in opts if o not in g.options]
            return
        self._by_key[key] = len(self.groups)
        text = f"{context}\n{question}" if context else question
        self.groups.append(Group([(benchmark, item_id)], q, c, opts, text, [o for o in options or [] if o]))

    def finish(self) -> None:
        """Hash every item's windows (boilerplate n-grams left out), the question and option tables, the
        typo fixer and the term index."""
        r = self.rules
        self.hasher = Hasher(len(self.vocab))
        token_df = np.zeros(len(self.vocab), np.int64)
        parts, owner, group_ids = [], [], []
        for gi, g in enumerate(self.groups):
            stem_ids, option_ids = self.ids(g.question + g.context), self.ids(" ".join(g.options).split())
            group_ids.append((stem_ids, option_ids))
            token_df[np.union1d(stem_ids, option_ids)] += 1
            for part in [g.question, g.context, *(o.split() for o in g.options)]:
                if len(part) >= r.ngram:
                    parts += [part, [""]]  # "" is id 0: a separator no window spans
                    owner += [gi] * (len(part) + 1)
        if r.typos:
            inv = {i: t for t, i in self.vocab.items()}
            self.fixer = TypoFixer(self.vocab, {inv[i]: int(c) for i, c in enumerate(token_df) if c})
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
        self.options = Table(self.seq_hashes([o for _, o in og]), np.array([gi for gi, _ in og], np.int64),
                             r.max_option_df)  # fmt: skip
        self.question_lengths = sorted(
            {len(g.question) for g in self.groups if len(g.question) >= r.min_question_tokens}
        )
        self.terms = TermIndex(group_ids, len(self.vocab), r.term_max_df) if r.terms else None
        self.option_sets = [[set(self.ids(o.split()).tolist()) - {0} for o in g.options] for g in self.groups]
        self.words = [""] * len(self.vocab)
        for t, i in self.vocab.items():
            self.words[i] = t
        self.encoder = Encoder(self.vocab, self.fixer)
        self.common_pair = token_df > max(20, 0.05 * len(self.groups))  # "of", "the", "patient"...
        self.pair_cache: dict[int, set[int]] = {}

    def ids(self, toks: list[str]) -> np.ndarray:
        """Vocabulary ids of normalised tokens (0: unknown)."""
        get = self.vocab.get
        return np.array([get(t, 0) for t in toks], dtype=np.int64)

    def seq_hashes(self, seqs: list[list[str]]) -> np.ndarray:
        """Hash of each whole token sequence (equal to its window hash); 0 where a token is unknown."""
        if not seqs:
            return np.empty(0, np.uint64)
        lengths = np.array([len(x) for x in seqs], np.int64)
        return self.id_seq_hashes(self.ids([t for x in seqs for t in x]), lengths)

    def id_seq_hashes(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Hash of each of the id sequences laid one after another in ``ids``; 0 where one is unknown."""
        if not len(lengths):
            return np.empty(0, np.uint64)
        begin = np.zeros(len(lengths), np.int64)
        begin[1:] = np.cumsum(lengths)[:-1]
        prefix, bad = self.hasher.prepare(ids)
        _, inv = self.hasher._powers(len(prefix))
        h = (prefix[begin + lengths] - prefix[begin]) * inv[begin]
        return np.where(bad[begin + lengths] - bad[begin] == 0, h, np.uint64(0))

    def stats(self) -> dict[str, int]:
        return {
            "items": sum(len(g.members) for g in self.groups),
            "distinct_items": len(self.groups),
            "ngrams": len(self.ngrams.keys),
            "boilerplate_ngrams": self.boilerplate_ngrams,
            "terms": int(self.terms.distinct.sum()) if self.terms is not None else 0,
        }

    # -- matching ---------------------------------------------------------------------------------
    def match(self, texts: list[str]) -> list[list[Candidate]]:
        """The candidates of each plain text, best first (confident ones first)."""
        return self.match_rows([([t or ""], []) for t in texts])

    def match_rows(self, rows: list[Row]) -> list[list[Candidate]]:
        """``rows``: (texts on the checked side, options of an MCQA row) -> candidates, best first."""
        enc = self.encode_rows(rows)
        found: list[dict[int, dict[str, tuple]]] = [{} for _ in rows]
        self.exact_tiers(enc, found)
        if self.terms is not None:
            self.terms_tier(enc, found)
        if self.rules.verify_pairs > 0:
            self.verify(enc, found)
        return [self._ranked(f) for f in found]

    def encode_rows(self, rows: list[Row]) -> Any:
        """A batch of rows as ids (``filters.decontam.tiers.Encoded``): each row's texts, then its options."""

        segments = [t for texts, opts in rows for t in (*texts, *opts)]
        ids, seg_len = self.encoder.encode(segments)
        n_texts = np.fromiter((len(t) for t, _ in rows), np.int64, count=len(rows))
        counts = n_texts + np.fromiter((len(o) for _, o in rows), np.int64, count=len(rows))
        seg_row = np.repeat(np.arange(len(rows)), counts)
        first = np.cumsum(counts) - counts  # each row's first segment
        seg_option = np.arange(len(seg_row)) - first[seg_row] >= n_texts[seg_row]
        row_len = np.bincount(seg_row, weights=seg_len, minlength=len(rows)).astype(np.int64)
        stem = ~seg_option
        stem_len = np.bincount(seg_row[stem], weights=seg_len[stem], minlength=len(rows)).astype(np.int64)
        seg_start = np.cumsum(seg_len) - seg_len
        row_start = np.cumsum(row_len) - row_len
        return Encoded(ids, seg_start, seg_len, seg_row, seg_option, row_start, row_len, stem_len)

    def _ranked(self, found: dict[int, dict[str, tuple]]) -> list[Candidate]:
        best = []
        for g, offers in found.items():
            kind, (score, confident, evidence) = max(
                offers.items(), key=lambda kv: (kv[1][1], -_ORDER[kv[0]])
            )
            tiers = tuple(sorted(k for k, o in offers.items() if o[1] or not confident))
            best.append((not confident, -score, g, kind, evidence, tiers))
        out = []
        for unsure, neg, g, kind, evidence, tiers in sorted(best)[: self.rules.max_candidates]:
            (bench, item), *rest = self.groups[g].members
            also = tuple(i for _, i in rest)
            out.append(Candidate(bench, item, kind, round(-neg, 4), not unsure, evidence, g, also, tiers))
        return out


def benchmark_entries(benchmarks: list[Any]) -> list[Any]:
    """Shipped list names and source entries -> ``SourceConfig`` entries (names must be unique)."""
    from factory.sources import SourceConfig

    out = []
    for b in benchmarks:
        out += read_benchmark_list(b) if isinstance(b, str) else [SourceConfig.model_validate(b)]
    return out


def read_benchmark_list(name: str) -> list[Any]:
    """A benchmark list: a shipped name (``medical`` = ``filters/decontam/benchmarks/medical.yaml``) or a YAML path."""
    import yaml
    from pydantic import TypeAdapter

    from factory.sources import SourceConfig

    path = SHIPPED / f"{name}.yaml" if "/" not in name and not name.endswith(".yaml") else Path(name)
    if not path.is_file():
        shipped = sorted(p.stem for p in SHIPPED.glob("*.yaml"))
        raise ValueError(f"benchmark list '{name}' not found ({path}); shipped lists: {shipped}")
    return TypeAdapter(list[SourceConfig]).validate_python(yaml.safe_load(path.read_text()) or [])


def rules_from(params: dict[str, Any]) -> Rules:
    """The ``Rules`` fields found in ``params`` (a stage's dump)."""
    names = {f.name for f in fields(Rules)}
    return Rules(**{k: v for k, v in params.items() if k in names})


__all__ = ["BenchmarkIndex", "Candidate", "Rules", "benchmark_entries", "read_benchmark_list"]
