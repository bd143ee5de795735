"""Per-core rates of the two hot paths of issue 21, on one pinned core (CPU seconds, best of 3):

- loading: one JSONL file of ``bench/dataplane_data.py`` (MedQuAD layout; an Alpaca-layout copy is made from
  it) through the recipe adapters, by the column path (``factory.sources.columnar``: parse + adapt) and by
  the per-record path, and the whole load task (shards and drop files written) of each;
- MinHash signatures (word 5-grams, 128 permutations) of the same rows' question + answer: the compiled
  one-pass kernel (``minhash_native``), the numpy functions (``minhash_core``), datasketch 2.0 ``MinHash.bulk``
  (xxh32) and rensa 0.5 (``RMinHash`` digest matrix, ``CMinHash`` bulk), each from raw text.

    python bench/dataplane_percore.py DATA_DIR/qa-00000.jsonl [--docs 20000]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "RAYON_NUM_THREADS", "POLARS_MAX_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pyarrow as pa  # noqa: E402


def timed(fn, repeat: int = 3) -> tuple[object, float]:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        out = fn()
        best = min(best, time.process_time() - start)
    return out, best


def loading(path: Path, work: Path) -> list[dict]:
    from factory.sources import adapters
    from factory.sources.config import SourceConfig
    from factory.sources.load import load_parts, load_task
    from factory.sources.readers import read_table

    alpaca = work / "alpaca.jsonl"
    with open(path) as src, open(alpaca, "w") as out:
        for line in src:
            r = json.loads(line)
            out.write(json.dumps({"instruction": r["question"], "input": "", "output": r["answer"],
                                  "id": r["id"], "source": r["source"]}) + "\n")  # fmt: skip
    cases = [
        ("medquad", path, {}),
        ("alpaca", alpaca, {}),
        ("fields", path, {"kind": "qa", "fields": {"id": "id", "question": "question", "answer": "answer"}}),
    ]
    rows = []
    for name, file, extra in cases:
        cfg = SourceConfig(name="s", path=str(file), adapter=name, **extra)
        adapter = adapters.get_adapter(name, "s")
        n = sum(1 for _ in open(file))

        def parse_adapt(adapter=adapter, cfg=cfg, file=file):
            from factory.sources.columnar import adapt_table

            return adapt_table(read_table(file, "jsonl"), adapter.columns(cfg), "qa", "s:", "s")

        def task(cfg=cfg, tag=""):
            out = work / f"{cfg.adapter}{tag}"
            spec = {"out": str(out), "entry": "load", "stage": "load", "root": str(work), "keep_rows": False}
            return [load_task(spec, 0, cfg.model_dump(), p) for p in load_parts(cfg, work)]

        parse_adapt()  # warm-up (imports, regex compilation)
        _, t_col = timed(parse_adapt)
        _, t_task = timed(task)
        adapters.ADAPTERS[name] = dataclasses.replace(adapter, columns=None)  # the per-record path
        try:
            _, t_rec = timed(lambda cfg=cfg: task(cfg, "-records"), repeat=1)
        finally:
            adapters.ADAPTERS[name] = adapter
        rows.append({"adapter": name + (f" ({extra['kind']})" if extra else ""), "rows": n,
                     "column path parse+adapt rows/s": round(n / t_col),
                     "column path load task rows/s": round(n / t_task),
                     "per-record load task rows/s": round(n / t_rec)})  # fmt: skip
    return rows


def minhash(path: Path, docs: int) -> list[dict]:
    import numpy as np
    import xxhash
    from datasketch import MinHash

    from filters.dedup import minhash_core as core
    from filters.dedup.minhash_native import word_signatures

    texts = []
    with open(path) as f:
        for line, _ in zip(f, range(docs), strict=False):
            r = json.loads(line)
            texts.append(f"{r['question']} {r['answer']}")
    arr = pa.array(texts, pa.large_string())
    word = re.compile(r"[^\W_]+")

    def py_shingles(text: str) -> list[str]:
        w = word.findall(text.lower())
        return [" ".join(w[i : i + 5]) for i in range(len(w) - 4)] if len(w) >= 5 else [" ".join(w)]

    word_signatures(arr.slice(0, 10), 5, 128, 1)  # compile (or load numba's cache)
    out = {}
    sig, out["ours: compiled one pass (numba)"] = timed(lambda: word_signatures(arr, 5, 128, 1)[0])
    ref, out["ours: numpy arrays"] = timed(
        lambda: core.signatures(*core.text_shingles(arr, "word", 5), 128, 1)
    )
    assert np.array_equal(sig, ref)

    def ds():
        sh = [[s.encode() for s in py_shingles(t)] for t in texts]
        return MinHash.bulk(sh, num_perm=128, hashfunc=xxhash.xxh32_intdigest)

    _, out["datasketch 2.0.0 bulk, xxh32 (Python shingles)"] = timed(ds, repeat=1)
    try:
        import rensa

        _, out["rensa 0.5.0 RMinHash matrix (Python shingles)"] = timed(
            lambda: rensa.RMinHash.digest_matrix_from_token_sets([py_shingles(t) for t in texts], 128, 42)
        )
        _, out["rensa 0.5.0 CMinHash bulk (Python shingles)"] = timed(
            lambda: rensa.CMinHash.digests_from_token_sets([py_shingles(t) for t in texts], 128, 42)
        )
    except ImportError:
        pass
    return [
        {"implementation": k, "docs": len(texts), "docs/s": round(len(texts) / v)} for k, v in out.items()
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", type=Path)
    ap.add_argument("--docs", type=int, default=20_000)
    args = ap.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    with tempfile.TemporaryDirectory() as tmp:
        for row in loading(args.file.resolve(), Path(tmp)):
            print(json.dumps(row))
    for row in minhash(args.file, args.docs):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
