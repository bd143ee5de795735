"""The peer: DataTrove (0.10.1) running its reader, MinHash dedup and writer on the corpus of
``bench/dataplane_data.py``. Runs in DataTrove's own venv (it pins other versions than the project's):

    python3 -m venv /work/venvs/datatrove && /work/venvs/datatrove/bin/pip install datatrove==0.10.1
    /work/venvs/datatrove/bin/python bench/dataplane_datatrove.py DATA_DIR WORK_DIR [--workers 2]

Its four MinHash phases as its docs chain them (signatures -> buckets -> cluster -> filter), with the same
banding as ``minhash_dedup``'s defaults (14 bands x 9 rows of 128 permutations, word 5-grams, seed 1); each
document's text is its question and answer; the kept documents are written as Parquet. Prints one JSON line
with the wall time of each phase, the documents kept and removed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path


def adapter(self, data: dict, path: str, id_in_file: int | str) -> dict:
    return {"text": f"{data['question']}\n{data['answer']}", "id": str(data["id"]), "metadata": {}}


def main() -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import ParquetWriter

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("work", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    files = len(list(args.data.glob("qa-*.jsonl")))
    config = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=9, seed=1)
    w = args.work

    def reader():
        return JsonlReader(str(args.data), glob_pattern="qa-*.jsonl", adapter=adapter)

    phases = {
        "signatures": ([reader(), MinhashDedupSignature(output_folder=str(w / "sigs"), config=config)], files),
        "buckets": ([MinhashDedupBuckets(input_folder=str(w / "sigs"), output_folder=str(w / "buckets"),
                                         config=config)], config.num_buckets),
        "cluster": ([MinhashDedupCluster(input_folder=str(w / "buckets"), output_folder=str(w / "remove"),
                                         config=config)], 1),
        "filter": ([reader(), MinhashDedupFilter(input_folder=str(w / "remove")),
                    ParquetWriter(str(w / "out"))], files),
    }  # fmt: skip
    seconds = {}
    start = time.perf_counter()
    for name, (pipeline, tasks) in phases.items():
        t0 = time.perf_counter()
        LocalPipelineExecutor(
            pipeline=pipeline, tasks=tasks, workers=min(args.workers, tasks), logging_dir=str(w / "logs" / name)
        ).run()
        seconds[name] = round(time.perf_counter() - t0, 1)
    import pyarrow.parquet as pq

    kept = sum(pq.ParquetFile(p).metadata.num_rows for p in (w / "out").rglob("*.parquet"))
    total = sum(1 for f in args.data.glob("qa-*.jsonl") for _ in open(f))
    print(json.dumps({"peer": "datatrove 0.10.1", "wall_s": round(time.perf_counter() - start, 1),
                      "phases_s": seconds, "docs": total, "kept": kept, "removed": total - kept}))  # fmt: skip


if __name__ == "__main__":
    main()
