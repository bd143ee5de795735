"""MinHash near-dedup: signatures, band buckets and edges in parallel tasks, components over the edges only.

The runner runs it as ``decide_distributed``: the phases of ``filters.dedup.minhash_phases`` (signatures per
shard -> buckets per partition of band keys, verified -> components of the edges -> drops written by the
workers), so the driver holds no key per row (docs/DEDUP.md has the design and its costs). Dropped rows:
reason ``near_duplicate``, detail ``duplicate_of=<kept id> est_jaccard=J``.

Which text a row is compared on is chosen in one place: ``texts(table)`` (vectorised for ``on: all`` and
``on: question``; any other ``on`` goes through ``filters.dedup.text.dedup_text`` row by row).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from factory.columns import joined_texts
from factory.figures import Figures
from factory.rows import TEXT_FIELDS
from factory.stage import Decision, Executor, GlobalStage
from filters.dedup import minhash_core as core
from filters.dedup.exact import QUESTION_FIELDS
from filters.dedup.text import DedupOn, dedup_text


class MinHashDedup(GlobalStage):
    """Near-duplicate removal by MinHash LSH. In: rows of any kind. Out: one row per cluster of rows whose
    shingle sets have Jaccard similarity >= ``threshold`` (as estimated by MinHash); the others are dropped
    with reason ``near_duplicate`` and detail ``duplicate_of=<kept id> est_jaccard=<J>``.

    Kept row of a cluster (deterministic): the row of the earliest source in ``source_priority`` (sources
    not listed come after the listed ones), then with ``keep: longest`` the longest deduplicated text, then
    the first in pipeline order (``keep: first`` skips the length rule). Rows without any token (empty
    text) are never clustered. ``on`` picks the text compared (``filters.dedup_text``): ``all``, ``question``
    (the prompt side, as ``exact_dedup``), ``question_answer`` or ``turns`` (Aloe's QA and dialogue choices)."""

    type: Literal["minhash_dedup"] = "minhash_dedup"
    on: DedupOn = "all"
    shingle: Literal["word", "char"] = Field("word", description="word n-grams or character n-grams")
    ngram: int = Field(5, ge=1, le=64, description="tokens per shingle")
    num_perm: int = Field(128, ge=8, le=1024, description="MinHash permutations (signature length)")
    threshold: float = Field(0.8, gt=0.0, lt=1.0, description="Jaccard similarity of near-duplicates")
    bands: int | None = Field(None, ge=1, le=1024, description="LSH bands (default: derived as datasketch)")
    rows: int | None = Field(None, ge=1, le=1024, description="signature values per band (with bands)")
    false_positive_weight: float = Field(0.1, ge=0.0, le=1.0, description="datasketch's banding weights")
    false_negative_weight: float = Field(0.9, ge=0.0, le=1.0, description="(recall-leaning: verify cuts FPs)")
    seed: int = Field(1, ge=0, lt=2**32, description="permutation seed (datasketch's MinHash seed)")
    scheme: Literal["affine32", "legacy"] = Field("affine32", description="datasketch permutation scheme")
    verify: bool = Field(True, description="keep only candidate pairs with estimated Jaccard >= threshold")
    keep: Literal["longest", "first"] = "longest"
    source_priority: list[str] = Field(default_factory=list, description="sources kept first, in order")
    across_kinds: bool = Field(False, description="compare rows of different kinds too")
    max_bucket: int = Field(50, ge=2, le=100_000, description="buckets above this give linear pairs")

    @model_validator(mode="after")
    def _check(self) -> MinHashDedup:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both 'bands' and 'rows', or neither (then they derive from threshold)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if abs(self.false_positive_weight + self.false_negative_weight - 1.0) > 1e-9:
            raise ValueError("false_positive_weight + false_negative_weight must be 1 (as datasketch)")
        return self

    def band_params(self) -> tuple[int, int]:
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return core.optimal_param(
            self.threshold, self.num_perm, self.false_positive_weight, self.false_negative_weight
        )

    def texts(self, table: pa.Table) -> pa.Array:
        """``_text`` of every row of ``table`` (the same strings): the text each row is compared on."""
        if self.on == "all":
            return joined_texts(table, TEXT_FIELDS)
        if self.on == "question":
            return joined_texts(table, QUESTION_FIELDS)
        return pa.array([dedup_text(r, self.on) for r in table.to_pylist()], pa.large_string())

    def read_columns(self) -> list[str] | None:
        """The columns ``texts`` and the signature phase read (``None``: all, for ``dedup_text`` by row)."""
        if self.on not in ("all", "question"):
            return None
        fields = TEXT_FIELDS if self.on == "all" else QUESTION_FIELDS
        names = {f.split(":")[0] for by_kind in fields.values() for f in by_kind}
        return ["id", "source", "kind", *sorted(names - {"id", "source", "kind"})]

    def signatures(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """``(signatures, shingles per doc)`` of the texts: word shingles in one compiled pass
        (``minhash_native``), char shingles by the numpy functions of ``minhash_core``."""
        if self.shingle == "word":
            from filters.dedup.minhash_native import word_signatures

            return word_signatures(texts, self.ngram, self.num_perm, self.seed, self.scheme)
        hashes, per_doc = core.text_shingles(texts, self.shingle, self.ngram)
        return core.signatures(hashes, per_doc, self.num_perm, self.seed, self.scheme), per_doc

    def decide_distributed(
        self, shards: list[Any], executor: Executor, spec: dict[str, Any], workdir: Path
    ) -> Decision:
        from factory.storage.shuffle import partitions_for
        from filters.dedup import minhash_phases as ph

        start = time.perf_counter()
        parts = partitions_for(len(shards))
        task_spec = {**spec, "work": str(workdir / "minhash"), "parts": parts}
        docs = executor.run(ph.signature_shard, [(task_spec, i, s.to_json()) for i, s in enumerate(shards)])
        offsets = np.concatenate([[0], np.cumsum([d["docs"] for d in docs])]).tolist()
        executor.run(ph.bucket_partition, [(task_spec, j, offsets) for j in range(parts)])
        (result,) = executor.run(ph.cluster_edges, [(task_spec, offsets, parts)])
        bands, rows = self.band_params()
        self.figures.put_all({"bands": bands, "rows": rows})
        self.figures.add("seconds", {"wall": time.perf_counter() - start})
        return Decision(files={shards[int(i)].name: [path] for i, path in result["files"].items()})

    def report(self, figures: Figures) -> dict[str, Any]:
        """Counts of the phases (docs, pairs, clusters, duplicates) and their seconds."""
        seconds = figures.get("seconds", {})
        return {
            "docs": figures.get("docs", 0),
            "docs_without_tokens": figures.get("docs_without_tokens", 0),
            "bands": figures.get("bands"),
            "rows": figures.get("rows"),
            "candidate_pairs": figures.get("candidate_pairs", 0),
            "verified_pairs": figures.get("verified_pairs", 0) if self.verify else None,
            "clusters": figures.get("clusters", 0),
            "duplicates": figures.get("duplicates", 0),
            "largest_cluster": figures.get("largest_cluster", 0),
            "cluster_sizes": figures.get("cluster_sizes", {}),
            "seconds": {k: round(seconds.get(k, 0.0), 3) for k in ("buckets", "verify", "components", "keep", "wall")},
        }  # fmt: skip
