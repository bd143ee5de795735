"""MinHash near-dedup as tasks (DataTrove's four phases, each parallel but the clustering, which sees only
edges): no process holds a record per document but the one that made it.

1. ``signature_shard`` (per shard): texts -> signatures -> band keys. Writes the shard's signatures
   (``sig/s<i>.npy``, for verification), its documents' ``id, pos, length, priority`` (``meta/s<i>.parquet``)
   and its band records ``(key, shard, k)`` partitioned by key (``bands/p<j>/``).
2. ``bucket_partition`` (per partition): all docs sharing a band key are there; candidate pairs as the
   single-machine code makes them (``minhash_core.bucket_pairs``), each verified against the two
   signatures (memory-mapped) -> ``pairs/p<j>.npy``.
3. ``cluster_edges`` (one task): connected components (scipy) of the verified edges only, so its memory is
   proportional to duplicates, not documents; the keep rule on each component; the drops per shard.
4. The workers that write the shards drop them (``factory.pipeline.tasks.apply_drops``).

Each phase records its counts and seconds on the stage's ``figures`` (``MinHashDedup.report`` orders them).

A document is ``(shard i, k)`` (its rank among the shard's selected rows), globally ``offsets[i] + k``:
pipeline order, the last tie-break of the keep rule. Decisions equal those of the one-process reference
in tests/reference_impls.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from filters.dedup import minhash_core as core


class Signatures:
    """Rows of every shard's signature matrix by global doc number (memory-mapped ``.npy`` files)."""

    def __init__(self, work: Path, offsets: np.ndarray):
        self.work, self.offsets = work, offsets
        self._open: dict[int, np.ndarray] = {}

    def rows(self, docs: np.ndarray) -> np.ndarray:
        shard = np.searchsorted(self.offsets, docs, side="right") - 1
        out = None
        for i in np.unique(shard):
            if i not in self._open:
                self._open[i] = np.load(self.work / "sig" / f"s{i:05d}.npy", mmap_mode="r")
            at = np.flatnonzero(shard == i)
            got = self._open[i][docs[at] - self.offsets[i]]
            if out is None:
                out = np.empty((docs.size, got.shape[1]), np.uint32)
            out[at] = got
        return out if out is not None else np.zeros((0, 0), np.uint32)


def jaccard(sigs: Signatures, i: np.ndarray, j: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    out = np.empty(i.size, np.float64)
    for s in range(0, i.size, chunk):
        out[s : s + chunk] = (sigs.rows(i[s : s + chunk]) == sigs.rows(j[s : s + chunk])).mean(axis=1)
    return out


def signature_shard(spec: dict[str, Any], index: int, shard_json: dict[str, Any]) -> dict[str, Any]:
    """Phase 1 on one shard."""
    from factory.pipeline.executors import worker_stage
    from factory.storage.shards import Shard, read_shard
    from factory.storage.shuffle import write_partitioned

    stage = worker_stage(spec)
    work = Path(spec["work"])
    bands, rows = stage.band_params()
    rank = {s: i for i, s in enumerate(stage.source_priority)}
    sigs, metas, records, k0 = [], [], [], 0
    columns = stage.read_columns()
    shard = Shard.from_json(shard_json)
    for table, pos in read_shard(spec["root"], shard, batch_size=stage.batch_size, columns=columns):
        if stage.apply_to is not None:
            mask = stage.apply_to.mask(table)
            table, pos = table.filter(mask), pos[np.asarray(mask.to_numpy(zero_copy_only=False), bool)]
        if table.num_rows == 0:
            continue
        texts = stage.texts(table)
        sig, per_doc = stage.signatures(texts)
        keys = core.band_hashes(sig, bands, rows)
        if not stage.across_kinds:  # rows of different kinds never share a bucket
            kinds = pc.dictionary_encode(pc.fill_null(table.column("kind"), "")).combine_chunks()
            salts = [xxhash.xxh64_intdigest(k.encode()) for k in kinds.dictionary.to_pylist()]
            keys ^= np.array(salts, np.uint64)[kinds.indices.to_numpy()][:, None]
        has = np.flatnonzero(per_doc > 0)
        records.append((keys[has].ravel(), np.repeat(has + k0, bands)))
        if stage.verify:
            sigs.append(sig)
        listed = pa.array(stage.source_priority, pa.string())
        priority = pc.fill_null(pc.index_in(table.column("source"), value_set=listed), len(rank))
        metas.append(
            pa.table(
                {
                    "id": table.column("id"),
                    "pos": pos,
                    "length": pc.fill_null(pc.utf8_length(texts), 0).cast(pa.int64()),
                    "priority": priority.cast(pa.int32()),
                    "tokens": pa.array(per_doc > 0),
                }
            )
        )
        k0 += table.num_rows
    if k0:
        (work / "meta").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables(metas), work / "meta" / f"s{index:05d}.parquet")
        if sigs:
            (work / "sig").mkdir(parents=True, exist_ok=True)
            np.save(work / "sig" / f"s{index:05d}.npy", np.concatenate(sigs))
        key = np.concatenate([r[0] for r in records])
        k = np.concatenate([r[1] for r in records])
        table = pa.table({"key": key, "shard": np.full(key.size, index, np.int32), "k": k})
        write_partitioned(table, key, spec["parts"], work / "bands", index)
    no_tokens = sum(int((~m.column("tokens").to_numpy(zero_copy_only=False)).sum()) for m in metas)
    stage.figures.add("docs", k0)
    stage.figures.add("docs_without_tokens", no_tokens)
    return {"docs": k0}


def bucket_partition(spec: dict[str, Any], part: int, offsets: list[int]) -> dict[str, Any]:
    """Phase 2 on one partition of band records: candidate pairs, verified."""
    from factory.pipeline.executors import worker_stage
    from factory.storage.shuffle import read_partition

    stage = worker_stage(spec)
    work, offs = Path(spec["work"]), np.array(offsets, np.int64)
    t0 = time.perf_counter()
    table = read_partition(work / "bands", part)
    if table is None:
        return {}
    doc = offs[table.column("shard").to_numpy()] + table.column("k").to_numpy()
    i, j = core.bucket_pairs(table.column("key").to_numpy(), doc, stage.max_bucket)
    t1 = time.perf_counter()
    ok = jaccard(Signatures(work, offs), i, j) >= stage.threshold if stage.verify else np.ones(i.size, bool)
    (work / "pairs").mkdir(parents=True, exist_ok=True)
    np.save(work / "pairs" / f"p{part:03d}.npy", np.stack([i, j, ok.astype(np.int64)]))
    stage.figures.add("seconds", {"buckets": t1 - t0, "verify": time.perf_counter() - t1})
    return {}


def _meta(
    work: Path, offsets: np.ndarray, docs: np.ndarray, columns: list[str]
) -> dict[str, np.ndarray | list]:
    """Columns of ``meta/`` for the given global docs (any order)."""
    shard = np.searchsorted(offsets, docs, side="right") - 1
    out: dict[str, Any] = {c: [None] * docs.size for c in columns}
    for i in np.unique(shard):
        at = np.flatnonzero(shard == i)
        meta = pq.read_table(work / "meta" / f"s{i:05d}.parquet", columns=columns)
        picked = meta.take(pa.array(docs[at] - offsets[i]))
        for c in columns:
            for a, v in zip(at.tolist(), picked.column(c).to_pylist(), strict=True):
                out[c][a] = v
    return out


def cluster_edges(spec: dict[str, Any], offsets: list[int], parts: int) -> dict[str, Any]:
    """Phase 3: components of the verified edges, the kept doc of each, the others' drops per shard."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from factory.pipeline.executors import worker_stage
    from factory.storage.shuffle import write_decisions

    stage = worker_stage(spec)
    work, offs = Path(spec["work"]), np.array(offsets, np.int64)
    n = max(int(offs[-1]), 1)
    found = [np.load(f) for f in sorted((work / "pairs").glob("p*.npy"))] if (work / "pairs").exists() else []
    pairs = np.concatenate(found, axis=1) if found else np.zeros((3, 0), np.int64)
    code, first = np.unique(pairs[0] * n + pairs[1], return_index=True)  # pairs met in several partitions
    ok = pairs[2][first].astype(bool)
    t2 = time.perf_counter()
    edges = code[ok]
    i, j = edges // n, edges % n
    nodes = np.unique(np.concatenate([i, j]))
    a, b = np.searchsorted(nodes, i), np.searchsorted(nodes, j)
    graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(nodes.size, nodes.size))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels) if nodes.size else np.zeros(0, np.int64)
    t3 = time.perf_counter()
    meta = _meta(work, offs, nodes, ["id", "pos", "length", "priority"])
    length = np.array(meta["length"], np.int64)
    priority = np.array(meta["priority"], np.int64)
    by_length = -length if stage.keep == "longest" else np.zeros(nodes.size, np.int64)
    order = np.lexsort((nodes, by_length, priority, labels))  # last key sorts first
    head = np.ones(nodes.size, bool)
    head[1:] = labels[order][1:] != labels[order][:-1]
    kept_of_label = np.empty(sizes.size, np.int64)
    kept_of_label[labels[order][head]] = order[head]
    kept = kept_of_label[labels]
    dropped = np.flatnonzero(kept != np.arange(nodes.size))
    kept_ids = [meta["id"][k] for k in kept[dropped].tolist()]
    if stage.verify:
        est = jaccard(Signatures(work, offs), nodes[dropped], nodes[kept[dropped]])
        details = [f"duplicate_of={k} est_jaccard={e:.3f}" for k, e in zip(kept_ids, est, strict=True)]
    else:
        details = [f"duplicate_of={k}" for k in kept_ids]
    shard = np.searchsorted(offs, nodes[dropped], side="right") - 1
    pos = np.array(meta["pos"], np.int64)[dropped] if dropped.size else np.zeros(0, np.int64)
    files = write_decisions(work / "decisions", "mh", shard, pos, "near_duplicate", details)
    clusters = sizes[sizes >= 2]
    hist = np.histogram(clusters, [2, 3, 4, 10, 100, np.iinfo(np.int64).max])[0]
    stage.figures.put_all(
        {
            "candidate_pairs": int(code.size),
            "verified_pairs": int(ok.sum()),
            "clusters": int(clusters.size),
            "duplicates": int(dropped.size),
            "largest_cluster": int(clusters.max()) if clusters.size else 0,
            "cluster_sizes": dict(zip(["2", "3", "4-9", "10-99", "100+"], map(int, hist), strict=True)),
        }
    )
    stage.figures.add("seconds", {"components": t3 - t2, "keep": time.perf_counter() - t3})
    return {"files": files}
