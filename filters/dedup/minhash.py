"""MinHash near-dedup: signatures, band buckets and edges in parallel tasks, components over the edges only.

The runner runs it as ``decide_distributed``: the phases of ``filters.minhash_phases`` (signatures per
shard -> buckets per partition of band keys, verified -> components of the edges -> drops written by the
workers), so the driver holds no key per row (docs/DEDUP.md has the design and its costs). ``keys`` /
``decide`` are the same algorithm on one process (the ``GlobalStage`` contract; tests compare the two).
Dropped rows: reason ``near_duplicate``, detail ``duplicate_of=<kept id> est_jaccard=J``.

Which text a row is compared on is chosen in one place: ``texts(table)`` (vectorised for ``on: all`` and
``on: question``; any other ``on`` goes through ``_text(row)``, its one-row twin, which keys() uses too).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import xxhash
from pydantic import Field, model_validator

from factory.columns import joined_texts
from factory.rows import TEXT_FIELDS
from factory.stage import GlobalStage
from filters.dedup import minhash_core as core
from filters.dedup.exact import QUESTION_FIELDS
from filters.dedup.text import DedupOn, dedup_text


def _fixed_width(column: pa.ChunkedArray, dtype: type, width: int) -> np.ndarray:
    """The non-null values of a (large_)binary column of fixed-size items as a (rows, width) array."""
    parts = []
    for chunk in column.chunks:
        chunk = chunk.filter(chunk.is_valid())
        if len(chunk) == 0:
            continue
        off_type = np.int64 if pa.types.is_large_binary(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], off_type)[chunk.offset : chunk.offset + len(chunk) + 1]
        data = np.frombuffer(chunk.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
        parts.append(data.view(dtype).reshape(len(chunk), width))
    return np.concatenate(parts) if parts else np.zeros((0, width), dtype)


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

    key_columns: ClassVar[dict[str, pa.DataType]] = {
        "bands": pa.large_binary(),
        "sig": pa.large_binary(),
        "length": pa.int64(),
        "priority": pa.int32(),
    }

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

    def _text(self, row: dict[str, Any]) -> str:
        return dedup_text(row, self.on)

    def texts(self, table: pa.Table) -> pa.Array:
        """``_text`` of every row of ``table`` (the same strings): the text each row is compared on."""
        if self.on == "all":
            return joined_texts(table, TEXT_FIELDS)
        if self.on == "question":
            return joined_texts(table, QUESTION_FIELDS)
        return pa.array([self._text(r) for r in table.to_pylist()], pa.large_string())

    def decide_distributed(self, shards, executor, spec, workdir):
        from factory.storage.shuffle import partitions_for
        from filters.dedup import minhash_phases as ph

        start = time.perf_counter()
        parts = partitions_for(len(shards))
        task_spec = {**spec, "work": str(workdir / "minhash"), "parts": parts}
        docs = executor.run(ph.signature_shard, [(task_spec, i, s.to_json()) for i, s in enumerate(shards)])
        offsets = np.concatenate([[0], np.cumsum([d["docs"] for d in docs])]).tolist()
        found = executor.run(ph.bucket_partition, [(task_spec, j, offsets) for j in range(parts)])
        (result,) = executor.run(ph.cluster_edges, [(task_spec, offsets, parts)])
        bands, rows = self.band_params()
        seconds = {k: round(sum(f["seconds"][k] for f in found), 3) for k in ("buckets", "verify")}
        self._report = {
            "docs": int(offsets[-1]),
            "docs_without_tokens": sum(d["no_tokens"] for d in docs),
            "bands": bands,
            "rows": rows,
            "candidate_pairs": result["candidate_pairs"],
            "verified_pairs": result["verified_pairs"] if self.verify else None,
            "clusters": result["clusters"],
            "duplicates": result["duplicates"],
            "largest_cluster": result["largest_cluster"],
            "cluster_sizes": result["cluster_sizes"],
            "seconds": {**seconds, **result["seconds"], "wall": round(time.perf_counter() - start, 3)},
        }
        decisions = {shards[int(i)].name: [path] for i, path in result["files"].items()}
        return decisions, self.report()

    def keys(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not rows:
            return []
        texts = [dedup_text(r, self.on) for r in rows]
        hashes, per_doc = core.text_shingles(texts, self.shingle, self.ngram)
        sig = core.signatures(hashes, per_doc, self.num_perm, self.seed, self.scheme)
        bands = core.band_hashes(sig, *self.band_params())
        if not self.across_kinds:  # rows of different kinds never share a bucket
            salts = {k: np.uint64(xxhash.xxh64_intdigest(k.encode())) for k in {r["kind"] for r in rows}}
            bands ^= np.array([salts[r["kind"]] for r in rows], np.uint64)[:, None]
        rank = {s: i for i, s in enumerate(self.source_priority)}
        last = len(rank)
        return [
            {
                "id": row["id"],
                "bands": bands[i].tobytes() if per_doc[i] else None,
                "sig": sig[i].tobytes() if per_doc[i] and self.verify else None,
                "length": len(texts[i]),
                "priority": rank.get(row["source"], last),
            }
            for i, row in enumerate(rows)
        ]

    def decide(self, keys: pa.Table) -> dict[str, tuple[str, str | None]]:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        t0 = time.perf_counter()
        bands, rows = self.band_params()
        docs = np.flatnonzero(keys.column("bands").is_valid().to_numpy(zero_copy_only=False))
        n = docs.size
        band_keys = _fixed_width(keys.column("bands"), np.uint64, bands)
        i, j = core.candidate_pairs(band_keys, self.max_bucket)
        t1 = time.perf_counter()
        sig = _fixed_width(keys.column("sig"), np.uint32, self.num_perm) if self.verify else None
        candidates = i.size
        if sig is not None:
            ok = core.estimated_jaccard(sig, i, j) >= self.threshold
            i, j = i[ok], j[ok]
        t2 = time.perf_counter()
        graph = coo_matrix((np.ones(i.size, np.int8), (i, j)), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        sizes = np.bincount(labels)
        t3 = time.perf_counter()
        length = keys.column("length").to_numpy()[docs]
        priority = keys.column("priority").to_numpy()[docs]
        by_length = -length if self.keep == "longest" else np.zeros(n, np.int64)
        order = np.lexsort((docs, by_length, priority, labels))  # last key sorts first
        first = np.ones(n, bool)
        first[1:] = labels[order][1:] != labels[order][:-1]
        kept_of_label = np.empty(sizes.size, np.int64)
        kept_of_label[labels[order][first]] = order[first]
        kept = kept_of_label[labels]
        dropped = np.flatnonzero(kept != np.arange(n))
        ids = keys.column("id")
        drop_ids = ids.take(docs[dropped]).to_pylist()
        kept_ids = ids.take(docs[kept[dropped]]).to_pylist()
        if sig is not None:
            est = core.estimated_jaccard(sig, dropped, kept[dropped])
            details = [f"duplicate_of={k} est_jaccard={e:.3f}" for k, e in zip(kept_ids, est, strict=True)]
        else:
            details = [f"duplicate_of={k}" for k in kept_ids]
        t4 = time.perf_counter()
        clusters = sizes[sizes >= 2]
        edges = np.histogram(clusters, [2, 3, 4, 10, 100, np.iinfo(np.int64).max])[0]
        self._report = {
            "docs": int(keys.num_rows),
            "docs_without_tokens": int(keys.num_rows - n),
            "bands": bands,
            "rows": rows,
            "candidate_pairs": int(candidates),
            "verified_pairs": int(i.size) if sig is not None else None,
            "clusters": int(clusters.size),
            "duplicates": int(dropped.size),
            "largest_cluster": int(clusters.max()) if clusters.size else 0,
            "cluster_sizes": dict(zip(["2", "3", "4-9", "10-99", "100+"], map(int, edges), strict=True)),
            "seconds": {
                "buckets": round(t1 - t0, 3),
                "verify": round(t2 - t1, 3),
                "components": round(t3 - t2, 3),
                "keep": round(t4 - t3, 3),
            },
        }
        return {d: ("near_duplicate", det) for d, det in zip(drop_ids, details, strict=True)}

    def report(self) -> dict[str, Any]:
        return getattr(self, "_report", {})
