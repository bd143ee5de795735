"""MinHash speed per core, by phase, against datasketch and rensa in the same run; and scaling of the stage.

Docs: ~1 KB of real text each, sentences of MedQuAD answers (../shared/data) drawn at random. Everything
runs on one pinned core with every thread pool set to 1. Word 5-gram shingles, 128 permutations,
threshold 0.8 (bands x rows derived as datasketch does).

    python bench/minhash_speed.py [--docs 20000]            # phases: shingles, signatures, bands, LSH
    python bench/minhash_speed.py --scale 10000 100000 1000000   # the stage through the runner

Phases compared (docs/s on one core):
- shingles: text -> shingle hashes (ours: vectorised over a 1024-doc batch; peers: Python word 5-grams).
- signatures: shingles -> 128 MinHash values (ours; datasketch ``MinHash.bulk`` with xxh32, its best
  one-core setting; rensa ``RMinHash`` and ``CMinHash``).
- text -> signature: both together, what a worker pays per document.
- bands/buckets: ours = band hashes + candidate pairs (sort) + estimated-Jaccard check + components;
  datasketch = ``MinHashLSH.insert`` + ``query`` of every doc; rensa = ``RMinHashLSH.insert`` + ``query``.
Scaling: input Parquet of N docs (5% planted near-duplicates), the stage's keys (local executor, as the
runner calls it), decide, and the runner's filter/write step, each timed; peak RSS of the process.
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "RAYON_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "NUMEXPR_NUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_SENT = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[^\W_]+")


def pin_one_core() -> None:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def make_docs(n: int, seed: int = 0, dup_share: float = 0.0) -> list[str]:
    """``n`` docs of ~1 KB: random MedQuAD sentences; ``dup_share`` of them near-copies of earlier docs."""
    recs = [json.loads(x) for x in open(DATA / "B_medical_openqa/medquad/medquad.jsonl")]
    sents = sorted({s for r in recs if r["answer"] for s in _SENT.split(r["answer"]) if len(s) > 20})
    lengths = np.array([len(s) + 1 for s in sents])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(sents), (n, 40))
    take = (np.cumsum(lengths[draws], axis=1) < 1000).sum(axis=1) + 1
    docs = [" ".join(sents[i] for i in draws[k, : take[k]]) for k in range(n)]
    for k in np.flatnonzero(rng.random(n) < dup_share):
        if k:
            words = docs[rng.integers(0, k)].split()
            for p in rng.integers(0, len(words), max(1, len(words) // 100)):
                words[p] = "edited"
            docs[k] = " ".join(words)
    return docs


def py_shingles(text: str, n: int = 5) -> list[str]:
    w = _WORD.findall(text.lower())
    return [" ".join(w[i : i + n]) for i in range(len(w) - n + 1)] if len(w) >= n else [" ".join(w)]


def timed(fn, repeat: int = 3):
    """``(result, seconds)``: CPU seconds of this (single-threaded, pinned) process, best of ``repeat``.
    CPU time, not wall time: the machine is shared, and per-core throughput is what is compared."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        out = fn()
        best = min(best, time.process_time() - start)
    return out, best


def phases(n_docs: int) -> None:
    import xxhash
    from datasketch import MinHash, MinHashLSH

    from filters.dedup import minhash_core as core

    pin_one_core()
    docs = make_docs(n_docs)
    kb = sum(len(d.encode()) for d in docs) / len(docs) / 1024
    num_perm, batch = 128, 1024
    from filters.dedup.minhash import MinHashDedup

    bands, rows = MinHashDedup().band_params()
    results: dict[str, dict[str, float]] = {}

    def ours_shingles():
        return [core.text_shingles(docs[s : s + batch], "word", 5) for s in range(0, len(docs), batch)]

    core.text_shingles(docs[:batch], "word", 5)  # warm the power tables
    sh, t_sh = timed(ours_shingles)
    sig, t_sig = timed(lambda: np.concatenate([core.signatures(h, c, num_perm, 1) for h, c in sh]))
    keys, t_band = timed(lambda: core.band_hashes(sig, bands, rows))

    def ours_lsh():
        i, j = core.candidate_pairs(keys)
        ok = core.estimated_jaccard(sig, i, j) >= 0.8
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        g = coo_matrix((np.ones(int(ok.sum())), (i[ok], j[ok])), shape=(len(docs), len(docs)))
        return connected_components(g, directed=False)

    _, t_lsh = timed(ours_lsh)
    results["ours (numpy, vectorised)"] = {"shingles": t_sh, "signatures": t_sig, "lsh": t_band + t_lsh}

    py_sh, t_pysh = timed(lambda: [[s.encode() for s in py_shingles(d)] for d in docs])
    ms, t_ds = timed(lambda: MinHash.bulk(py_sh, num_perm=num_perm, hashfunc=xxhash.xxh32_intdigest))

    def ds_lsh():
        lsh = MinHashLSH(threshold=0.8, num_perm=num_perm)
        for k, m in enumerate(ms):
            lsh.insert(k, m)
        return [lsh.query(m) for m in ms]

    _, t_dslsh = timed(ds_lsh)
    results["datasketch 2.0.0 (bulk, xxh32)"] = {"shingles": t_pysh, "signatures": t_ds, "lsh": t_dslsh}
    try:
        import rensa

        str_sh, t_strsh = timed(lambda: [py_shingles(d) for d in docs])

        def per_doc():
            out = []
            for s in str_sh:
                m = rensa.RMinHash(num_perm=num_perm, seed=42)
                m.update(s)
                out.append(m)
            return out

        rms, t_r = timed(per_doc)

        def r_lsh():  # rensa wants num_perm divisible by the bands: 16 x 8
            lsh = rensa.RMinHashLSH(threshold=0.8, num_perm=num_perm, num_bands=16)
            lsh.insert_many(rms, 0)
            return lsh.query_all(rms)

        results["rensa 0.5.0 RMinHash, per doc"] = {
            "shingles": t_strsh,
            "signatures": t_r,
            "lsh": timed(r_lsh)[1],
        }
        bulk = rensa.RMinHash.digest_matrix_from_token_sets
        results["rensa 0.5.0 RMinHash, bulk matrix"] = {
            "shingles": t_strsh,
            "signatures": timed(lambda: bulk(str_sh, num_perm, 42))[1],
        }
        cbulk = rensa.CMinHash.digests_from_token_sets
        results["rensa 0.5.0 CMinHash, bulk"] = {
            "shingles": t_strsh,
            "signatures": timed(lambda: cbulk(str_sh, num_perm, 42))[1],
        }
    except ImportError:
        print("rensa not installed: pip install rensa==0.5.0")

    import pyarrow as pa

    from factory.rows import make_row
    from factory.rows import schema as row_schema

    stage = MinHashDedup()
    rows_in = [make_row(id=str(k), source="b", kind="text", text=d) for k, d in enumerate(docs)]
    table = pa.Table.from_pylist(rows_in, schema=row_schema())

    def stage_keys(t: pa.Table) -> np.ndarray:  # the signature phase's work on one batch
        hashes, per_doc = core.text_shingles(stage.texts(t), stage.shingle, stage.ngram)
        sig = core.signatures(hashes, per_doc, stage.num_perm, stage.seed, stage.scheme)
        return core.band_hashes(sig, bands, rows)

    _, t_keys = timed(lambda: [stage_keys(table.slice(s, batch)) for s in range(0, len(docs), batch)])
    print(
        f"{len(docs)} docs, {kb:.2f} KB each on average, word 5-grams, {num_perm} permutations, "
        f"LSH {bands} bands x {rows} rows, one core\n"
    )
    print("| implementation | shingles docs/s | signatures docs/s | text -> signature docs/s | LSH docs/s |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        lsh = f"{len(docs) / r['lsh']:,.0f}" if "lsh" in r else "-"
        print(
            f"| {name} | {len(docs) / r['shingles']:,.0f} | {len(docs) / r['signatures']:,.0f} | "
            f"{len(docs) / (r['shingles'] + r['signatures']):,.0f} | {lsh} |"
        )
    print(
        "\nours through MinHashDedup's signature phase (an Arrow batch of rows in; band keys out): "
        f"{len(docs) / t_keys:,.0f} docs/s"
    )


def scale_one(n: int, workdir: Path) -> dict:
    """In a fresh process: the stage over ``n`` docs through the runner's step (its distributed phases, in
    process), timed; peak RSS. ``keys_s`` is the signature phase, ``decide_s`` buckets + components + keep,
    ``filter_s`` the rest (the shard tasks writing the drops)."""
    from factory.pipeline.executors import LocalExecutor
    from factory.pipeline.runner import _run_stage
    from factory.rows import schema as row_schema
    from factory.storage.store import Store
    from filters.dedup.minhash import MinHashDedup

    pin_one_core()
    files = sorted((workdir / "input").glob("*.parquet"))
    stage = MinHashDedup()
    stage.bind_runtime({})
    store = Store(workdir / "store")
    c0, t0 = time.process_time(), time.perf_counter()
    stats = _run_stage(store, stage, "bench", files, row_schema(), LocalExecutor(), {}, keep_rows=False)
    t3, c3 = time.perf_counter(), time.process_time()
    sec = stats["report"]["seconds"]
    phases = sec["buckets"] + sec["verify"] + sec["components"] + sec["keep"]
    # VmHWM: this process's own peak (ru_maxrss would include the parent's memory at fork time)
    hwm = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM"))
    rss = int(hwm.split()[1]) / 1024
    return {
        "n": n,
        "keys_s": sec["wall"] - phases,
        "decide_s": phases,
        "filter_s": (t3 - t0) - sec["wall"],
        "cpu_s": c3 - c0,
        "rss_mb": rss,
        "dropped": stats["dropped"].get("near_duplicate", 0),
        "report": stats["report"],
    }


def scale(sizes: list[int]) -> None:
    import pyarrow.parquet as pq

    print(
        "| docs | keys (signatures + bands) s | decide s | filter + write s | total s | docs/s | "
        "CPU s | peak RSS MB | dropped | candidate pairs |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "input").mkdir()
            docs = make_docs(n, seed=n, dup_share=0.05)
            for s in range(0, n, 200_000):
                part = docs[s : s + 200_000]
                table = pa.table(
                    {
                        "id": [f"d{s + k}" for k in range(len(part))],
                        "source": ["bench"] * len(part),
                        "kind": ["text"] * len(part),
                        "text": part,
                    }
                )
                full = {
                    f.name: table.column(f.name)
                    if f.name in table.column_names
                    else pa.nulls(len(part), f.type)
                    for f in __import__("factory.rows").rows.schema()
                }
                pq.write_table(pa.table(full), work / "input" / f"part-{s // 200_000:05d}.parquet")
            del docs
            out = subprocess.run(
                [sys.executable, __file__, "--scale-one", str(n), str(work)],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            total = r["keys_s"] + r["decide_s"] + r["filter_s"]
            print(
                f"| {n:,} | {r['keys_s']:.1f} | {r['decide_s']:.1f} | {r['filter_s']:.1f} | {total:.1f} | "
                f"{n / total:,.0f} | {r['cpu_s']:.1f} | {r['rss_mb']:,.0f} | {r['dropped']:,} | {r['report']['candidate_pairs']:,} |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--scale", type=int, nargs="*")
    ap.add_argument("--scale-one", nargs=2)
    args = ap.parse_args()
    if args.scale_one:
        print(json.dumps(scale_one(int(args.scale_one[0]), Path(args.scale_one[1]))))
    elif args.scale:
        scale(args.scale)
    else:
        phases(args.docs)


if __name__ == "__main__":
    main()
