"""Exact dedup on normalised text: one row per distinct text, the first in pipeline order is kept.

Run by the runner as a shuffle (``decide_distributed``), so the driver never holds a key per row:

1. ``hash_shard`` (a task per shard): each row's text (``texts``), normalised by ``factory.textnorm`` in C,
   hashed to 128 bits with its kind; records ``(hash, shard, pos, id)`` go to partition ``hash % P``.
2. ``dedup_partition`` (a task per partition): sorted by hash then pipeline position; every record after the
   first of its hash is a duplicate of that first one.
3. The workers writing the shards drop them (``factory.pipeline.tasks.apply_drops``).

Report: ``distinct`` texts and ``duplicates`` dropped, summed over the partitions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from factory.columns import joined_texts
from factory.figures import Figures
from factory.rows import TEXT_FIELDS
from factory.stage import Decision, Executor, GlobalStage
from factory.textnorm import normalised_array

QUESTION_FIELDS = {
    **{k: ("context", "question") for k in TEXT_FIELDS},
    "preference": ("prompt",),
    "chat": ("messages:user+",),
}


class ExactDedup(GlobalStage):
    """Drops rows whose normalised text equals an earlier row's (reason ``exact_duplicate``, detail
    ``duplicate_of=<id>``). ``on: all`` compares every text of the row (MCQA: context, question and
    options, in order); ``on: question`` compares the prompt side only."""

    type: Literal["exact_dedup"] = "exact_dedup"
    on: Literal["all", "question"] = "all"
    across_kinds: bool = Field(False, description="compare rows of different kinds too")

    def texts(self, table: pa.Table) -> pa.Array:
        """The normalised text each row of ``table`` is compared on."""
        return normalised_array(
            joined_texts(table, QUESTION_FIELDS if self.on == "question" else TEXT_FIELDS)
        )

    def hashes(self, table: pa.Table) -> np.ndarray:
        """(rows, 2) uint64: 128-bit hash of each row's scope (its kind, unless ``across_kinds``) and text."""
        texts = self.texts(table).cast(pa.large_string())
        if self.across_kinds:
            scope = pa.array([""] * len(texts), pa.large_string())
        else:
            scope = pc.fill_null(table.column("kind"), "").cast(pa.large_string())
        keyed = pc.binary_join_element_wise(scope, texts, pa.scalar("\x00", pa.large_string()))
        digests = b"".join(xxhash.xxh3_128_digest(t.encode()) for t in keyed.to_pylist())
        return np.frombuffer(digests, np.uint64).reshape(-1, 2)

    def decide_distributed(
        self, shards: list[Any], executor: Executor, spec: dict[str, Any], workdir: Path
    ) -> Decision:
        from factory.storage.shuffle import partitions_for

        parts = partitions_for(len(shards))
        task_spec = {**spec, "work": str(workdir / "exact"), "parts": parts}
        executor.run(hash_shard, [(task_spec, i, s.to_json()) for i, s in enumerate(shards)])
        decision = Decision()
        for result in executor.run(dedup_partition, [(task_spec, j) for j in range(parts)]):
            for i, path in result["files"].items():
                decision.files.setdefault(shards[int(i)].name, []).append(path)
        return decision

    def report(self, figures: Figures) -> dict[str, Any]:
        return {"distinct": figures.get("distinct", 0), "duplicates": figures.get("duplicates", 0)}


def hash_shard(spec: dict[str, Any], index: int, shard_json: dict[str, Any]) -> dict[str, Any]:
    """Phase 1 on one shard: ``(h1, h2, shard, pos, id)`` of its selected rows, partitioned by ``h1``."""
    from factory.pipeline.executors import worker_stage
    from factory.storage.shards import Shard, read_shard
    from factory.storage.shuffle import write_partitioned

    stage: ExactDedup = worker_stage(spec)  # type: ignore[assignment]
    parts = []
    for table, pos in read_shard(spec["root"], Shard.from_json(shard_json), batch_size=65_536):
        if stage.apply_to is not None:
            mask = stage.apply_to.mask(table)
            table, pos = table.filter(mask), pos[np.asarray(mask.to_numpy(zero_copy_only=False), bool)]
        if table.num_rows == 0:
            continue
        h = stage.hashes(table)
        parts.append(
            pa.table(
                {
                    "h1": h[:, 0],
                    "h2": h[:, 1],
                    "shard": np.full(table.num_rows, index, np.int32),
                    "pos": pos,
                    "id": table.column("id"),
                }
            )
        )
    rows = 0
    if parts:
        table = pa.concat_tables(parts)
        rows = table.num_rows
        write_partitioned(table, table.column("h1").to_numpy(), spec["parts"], Path(spec["work"]), index)
    return {"rows": rows}


def dedup_partition(spec: dict[str, Any], part: int) -> dict[str, Any]:
    """Phase 2 on one partition: the records after the first (in pipeline order) of each hash are dropped."""
    from factory.pipeline.executors import worker_stage
    from factory.storage.shuffle import read_partition, write_decisions

    table = read_partition(Path(spec["work"]), part)
    if table is None:
        return {"files": {}}
    h1, h2 = table.column("h1").to_numpy(), table.column("h2").to_numpy()
    shard, pos = table.column("shard").to_numpy(), table.column("pos").to_numpy()
    order = np.lexsort((pos, shard, h2, h1))
    h1, h2, shard, pos = h1[order], h2[order], shard[order], pos[order]
    new = np.ones(order.size, bool)
    new[1:] = (h1[1:] != h1[:-1]) | (h2[1:] != h2[:-1])
    first = np.maximum.accumulate(np.where(new, np.arange(order.size), 0))
    dup = np.flatnonzero(~new)
    ids = table.column("id").take(pa.array(order[first[dup]])).to_pylist()
    files = write_decisions(
        Path(spec["work"]) / "decisions", f"p{part:03d}", shard[dup], pos[dup], "exact_duplicate",
        [f"duplicate_of={i}" for i in ids],
    )  # fmt: skip
    figures = worker_stage(spec).figures
    figures.add("distinct", int(new.sum()))
    figures.add("duplicates", int(dup.size))
    return {"files": files}
