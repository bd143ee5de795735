"""Mixing: per-source (or per-kind) caps and target proportions, by rows or by words.

Rows are never duplicated (no upsampling): with ``weights``, the largest mix that the scarcest group
allows is taken, or ``total`` if smaller. Which rows stay is decided by a seeded hash of each row's id,
so it is deterministic and independent of row order. The manifest reports each group's share.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar, Literal

import pyarrow as pa
import xxhash
from pydantic import Field, model_validator

from factory.rows import main_text
from factory.stage import GlobalStage


class Mix(GlobalStage):
    """Downsamples groups to caps and/or target shares; drops carry ``mix_cap`` or ``mix_weight``."""

    type: Literal["mix"] = "mix"
    by: Literal["source", "kind"] = "source"
    measure: Literal["rows", "words"] = Field("rows", description="what weights, caps and total count")
    weights: dict[str, float] | None = Field(
        None, description="target shares of the listed groups (normalised)"
    )
    caps: dict[str, int] = Field(default_factory=dict, description="most rows (or words) per group")
    total: int | None = Field(
        None, ge=1, description="size of the weighted part, at most what the data allows"
    )
    others: Literal["keep", "drop"] = Field("keep", description="groups absent from `weights`")
    seed: int = 0

    key_columns: ClassVar[dict[str, pa.DataType]] = {
        "group": pa.string(),
        "words": pa.int64(),
        "rank": pa.uint64(),
    }

    @model_validator(mode="after")
    def _check(self):
        if self.weights is not None and (
            not self.weights or any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0
        ):
            raise ValueError("weights must be non-negative with a positive sum")
        if any(c < 0 for c in self.caps.values()):
            raise ValueError("caps must be >= 0")
        return self

    def source_refs(self) -> list[str]:
        return [*(self.weights or {}), *self.caps] if self.by == "source" else []

    def keys(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "id": r["id"],
                "group": r[self.by],
                "words": len(main_text(r).split()),
                "rank": xxhash.xxh3_64_intdigest(f"{self.seed}\x00{r['id']}".encode()),
            }
            for r in rows
        ]

    def decide(self, keys: pa.Table) -> dict[str, tuple[str, str | None]]:
        groups: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
        for row_id, group, words, rank in zip(
            *(keys.column(c).to_pylist() for c in ("id", "group", "words", "rank")), strict=True
        ):
            groups[group].append((rank, row_id, words))
        size = (
            (lambda items: len(items))
            if self.measure == "rows"
            else (lambda items: sum(w for _, _, w in items))
        )
        drops: dict[str, tuple[str, str | None]] = {}

        def keep_first(group: str, budget: float, reason: str) -> None:
            used, kept = 0, []
            for item in groups[group]:
                amount = 1 if self.measure == "rows" else item[2]
                if used + amount <= budget:
                    used += amount
                    kept.append(item)
                else:
                    drops[item[1]] = (reason, f"{group}: budget {int(budget)} {self.measure}")
            groups[group] = kept

        for group in groups:
            groups[group].sort()
        available = {g: size(items) for g, items in groups.items()}
        for group, cap in self.caps.items():
            if group in groups:
                keep_first(group, cap, "mix_cap")
        if self.weights is not None:
            total_w = sum(self.weights.values())
            shares = {g: w / total_w for g, w in self.weights.items()}
            limits = [size(groups.get(g, [])) / s for g, s in shares.items() if s > 0]
            target = min(limits) if limits else 0
            if self.total is not None:
                target = min(target, self.total)
            for group, share in shares.items():
                if group in groups:
                    keep_first(group, target * share, "mix_weight")
            if self.others == "drop":
                for group in [g for g in groups if g not in shares]:
                    keep_first(group, 0, "mix_other")
        kept = {g: size(items) for g, items in groups.items()}
        total_kept = sum(kept.values()) or 1
        self._report = {
            "measure": self.measure,
            "groups": {
                g: {"available": available[g], "kept": kept[g], "share": round(kept[g] / total_kept, 4)}
                for g in sorted(groups)
            },
        }
        return drops

    def report(self) -> dict[str, Any]:
        return getattr(self, "_report", {})
