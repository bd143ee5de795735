"""The decision after ``deita_score``: drop the lowest share of rows by evol score = quality x complexity
(Aloe Beta: the lowest 10%). Scores and the cut are separate stages, so changing ``drop_share`` never
re-asks the model."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, ClassVar, Literal

import pyarrow as pa
import xxhash
from pydantic import Field

from factory.stage import Decision, GlobalStage


class EvolCut(GlobalStage):
    """Drops the ``drop_share`` of scored rows with the lowest ``quality x complexity``. In: rows with the
    two score columns (rows where either is null are not ranked and pass). Out: the others; a dropped row
    carries ``low_evol_score`` and ``evol=<q>x<c>=<e> cut=<value>``. Ties at the cut are broken by a seeded
    hash of the row id (deterministic, order-independent). The report gives the cut value, the rows at it
    (``rows_at_cut_value``, ``tie_share`` of the ranked rows; the kept ones warned about), the drops per
    source and a histogram of evol scores."""

    type: Literal["evol_cut"] = "evol_cut"
    drop_share: float = Field(0.1, ge=0, lt=1, description="share of scored rows dropped (Aloe: 0.1)")
    quality_column: str = "quality"
    complexity_column: str = "complexity"
    seed: int = 0

    key_columns: ClassVar[dict[str, pa.DataType]] = {
        "source": pa.string(),
        "quality": pa.float64(),
        "complexity": pa.float64(),
        "rank": pa.uint64(),
    }

    @property
    def requires(self) -> tuple[str, ...]:
        return (self.quality_column, self.complexity_column)

    def keys(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "id": r["id"],
                "source": r["source"],
                "quality": r.get(self.quality_column),
                "complexity": r.get(self.complexity_column),
                "rank": xxhash.xxh3_64_intdigest(f"{self.seed}\x00{r['id']}".encode()),
            }
            for r in rows
        ]

    def decide(self, keys: pa.Table) -> Decision:
        cols = [keys.column(c).to_pylist() for c in ("id", "source", "quality", "complexity", "rank")]
        scored = [
            (q * c, rank, row_id, source, q, c)
            for row_id, source, q, c, rank in zip(*cols, strict=True)
            if q is not None and c is not None
        ]
        scored.sort()
        n_drop = math.floor(len(scored) * self.drop_share + 1e-9)
        cut = scored[n_drop - 1][0] if n_drop else None
        drops = {
            row_id: ("low_evol_score", f"evol={q:g}x{c:g}={e:g} cut={cut:g}")
            for e, _, row_id, _, q, c in scored[:n_drop]
        }
        by_source = Counter(source for _, _, _, source, _, _ in scored[:n_drop])
        evols = [e for e, *_ in scored]
        tied = sum(1 for e in evols[n_drop:] if cut is not None and e == cut)
        at_cut = sum(1 for e in evols if cut is not None and e == cut)
        report: dict[str, Any] = {
            "rows_ranked": len(scored),
            "rows_unscored": keys.num_rows - len(scored),
            "dropped": n_drop,
            "cut": cut,
            "kept_at_cut_value": tied,
            "rows_at_cut_value": at_cut,
            "tie_share": round(at_cut / len(scored), 4) if scored else 0.0,
            "dropped_by_source": dict(sorted(by_source.items())),
            "charts": {
                "evol_scores": {
                    "title": "Evol score (quality x complexity) of ranked rows",
                    "kind": "hist",
                    "data": evols[:: max(1, len(evols) // 5000)],
                    "xlabel": "quality x complexity",
                },
                "evol_cut_by_source": {
                    "title": f"Rows cut as the lowest {self.drop_share:.0%} by evol score, per source",
                    "kind": "bar",
                    "data": dict(sorted(by_source.items())),
                },
            },
        }
        if tied:
            report["warnings"] = [
                f"evol cut: {tied:,} rows share the cut value {cut:g} with dropped rows and were kept "
                f"(ties broken by a seeded hash of the id); sampled 1-N scores tie often, DEITA's expected "
                "scores (deita_score with logprobs) rarely"
            ]
        self.figures.put_all(report)
        return Decision(by_id=drops)
