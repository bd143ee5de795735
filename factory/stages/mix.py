"""Mixing: per-source (or per-kind) caps, target proportions, and named groups with target shares.

Rows are never duplicated (no upsampling). Which rows stay is decided by a seeded hash of each row's id,
so it is deterministic and independent of row order. The manifest reports each group's share.

- ``caps``: at most N rows (or words) per source (``by: source``) or kind (``by: kind``), applied first.
- ``weights``: target shares of the listed sources/kinds: the largest mix that the scarcest allows, or
  ``total`` if smaller.
- ``groups``: named groups, each a selector (``sources`` / ``kinds``) with a ``share`` of its parent, nested
  to any depth (Aloe: medical 60 / synthetic CoT 20 / general 20, and general split into instruction
  following 67.5 / function calling 17.5 / long context 15). A row belongs to the first group (in recipe
  order) it matches, then to the first of that group's sub-groups it matches; a leaf's target share is the
  product of the shares on its path. ``fit: exact`` takes the largest mix in which every leaf holds its
  exact share (an empty leaf cannot: its share is spread over the others, with a warning); ``fit: budget``
  gives each leaf ``total x share`` at most, and a leaf short of it keeps all its rows, with a warning
  (the mix is then smaller than ``total`` and the shares drift). The report gives each leaf's target and
  achieved share, and a chart of both.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar, Literal

import pyarrow as pa
import xxhash
from pydantic import BaseModel, ConfigDict, Field, model_validator

from factory.rows import main_text
from factory.stage import Decision, GlobalStage


class MixGroup(BaseModel):
    """A named group of rows: which rows (``sources`` and/or ``kinds``; none: every row its sub-groups
    take), its ``share`` of the parent, and optional sub-groups splitting it."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] | None = None
    kinds: list[str] | None = None
    share: float = Field(gt=0, le=1, description="share of the parent group (siblings are normalised)")
    groups: dict[str, MixGroup] | None = Field(None, description="sub-groups splitting this one")

    def matches(self, row: dict[str, Any]) -> bool:
        if self.sources is not None and row.get("source") not in self.sources:
            return False
        if self.kinds is not None and row.get("kind") not in self.kinds:
            return False
        if self.sources is None and self.kinds is None and self.groups:
            return any(g.matches(row) for g in self.groups.values())
        return True

    def all_sources(self) -> list[str]:
        return [*(self.sources or []), *(s for g in (self.groups or {}).values() for s in g.all_sources())]


def leaf_of(groups: dict[str, MixGroup], row: dict[str, Any], prefix: str = "") -> str | None:
    """The path (``general/function_calling``) of the leaf group ``row`` falls in, or ``None``."""
    for name, group in groups.items():
        if group.matches(row):
            if not group.groups:
                return prefix + name
            return leaf_of(group.groups, row, f"{prefix}{name}/")
    return None


def leaf_shares(groups: dict[str, MixGroup], scale: float = 1.0, prefix: str = "") -> dict[str, float]:
    """Each leaf's target share of the whole mix (sibling shares normalised, then multiplied down)."""
    total = sum(g.share for g in groups.values())
    out: dict[str, float] = {}
    for name, group in groups.items():
        share = scale * group.share / total
        if group.groups:
            out.update(leaf_shares(group.groups, share, f"{prefix}{name}/"))
        else:
            out[prefix + name] = share
    return out


class Mix(GlobalStage):
    """Downsamples groups to caps, target proportions or named group shares; drops carry ``mix_cap``,
    ``mix_weight``, ``mix_share`` or ``mix_other`` (rows outside every weighted/named group, ``others: drop``)."""

    type: Literal["mix"] = "mix"
    by: Literal["source", "kind"] = "source"
    measure: Literal["rows", "words"] = Field("rows", description="what weights, caps and total count")
    weights: dict[str, float] | None = Field(
        None, description="target shares of the listed groups (normalised)"
    )
    groups: dict[str, MixGroup] | None = Field(None, description="named groups with target shares (nested)")
    fit: Literal["exact", "budget"] = Field(
        "exact", description="groups: exact shares at the largest size, or each leaf up to total x share"
    )
    caps: dict[str, int] = Field(default_factory=dict, description="most rows (or words) per group")
    total: int | None = Field(
        None, ge=1, description="size of the weighted part, at most what the data allows"
    )
    others: Literal["keep", "drop"] = Field("keep", description="groups absent from `weights`/`groups`")
    seed: int = 0

    key_columns: ClassVar[dict[str, pa.DataType]] = {
        "group": pa.string(),
        "leaf": pa.string(),
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
        if self.groups is not None and self.weights is not None:
            raise ValueError("give `weights` (per source/kind) or `groups` (named), not both")
        if self.groups is not None and not self.groups:
            raise ValueError("`groups` needs at least one group")
        if self.fit == "budget" and (self.groups is None or self.total is None):
            raise ValueError("`fit: budget` needs `groups` and `total`")
        return self

    def source_refs(self) -> list[str]:
        """Sources the recipe must have. Not those of named groups: a profile may lack a group's sources
        (no local function-calling data), which the build then reports as a group without rows."""
        return [*(self.weights or {}), *self.caps] if self.by == "source" else []

    def keys(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "id": r["id"],
                "group": r[self.by],
                "leaf": leaf_of(self.groups, r) if self.groups else None,
                "words": len(main_text(r).split()),
                "rank": xxhash.xxh3_64_intdigest(f"{self.seed}\x00{r['id']}".encode()),
            }
            for r in rows
        ]

    def decide(self, keys: pa.Table) -> Decision:
        items = list(
            zip(*(keys.column(c).to_pylist() for c in ("rank", "id", "words", "group", "leaf")), strict=True)
        )
        items.sort()
        rows_mode = self.measure == "rows"
        amount = (lambda item: 1) if rows_mode else (lambda item: item[2])
        drops: dict[str, tuple[str, str | None]] = {}
        by_group: dict[str, list] = defaultdict(list)
        for item in items:
            by_group[item[3]].append(item)
        available = {g: sum(map(amount, its)) for g, its in by_group.items()}
        kept_ids = {item[1] for item in items}

        def keep_first(label: str, members: list, budget: float, reason: str) -> list:
            used, kept = 0, []
            for item in members:
                if item[1] not in kept_ids:
                    continue
                if used + amount(item) <= budget + 1e-9:  # shares x size in floats
                    used += amount(item)
                    kept.append(item)
                else:
                    drops[item[1]] = (reason, f"{label}: budget {int(budget)} {self.measure}")
                    kept_ids.discard(item[1])
            return kept

        for group, cap in self.caps.items():
            if group in by_group:
                by_group[group] = keep_first(group, by_group[group], cap, "mix_cap")
        warnings: list[str] = []
        named: dict[str, Any] = {}
        if self.weights is not None:
            total_w = sum(self.weights.values())
            shares = {g: w / total_w for g, w in self.weights.items()}
            limits = [sum(map(amount, by_group.get(g, []))) / s for g, s in shares.items() if s > 0]
            target = min(min(limits) if limits else 0, self.total or float("inf"))
            for group, share in shares.items():
                if group in by_group:
                    by_group[group] = keep_first(group, by_group[group], target * share, "mix_weight")
            if self.others == "drop":
                for group in [g for g in by_group if g not in shares]:
                    by_group[group] = keep_first(group, by_group[group], 0, "mix_other")
        elif self.groups is not None:
            named, warnings = self._fit_groups([it for it in items if it[1] in kept_ids], amount, keep_first)
        kept = defaultdict(int)
        for item in items:
            if item[1] in kept_ids:
                kept[item[3]] += amount(item)
        total_kept = sum(kept.values()) or 1
        self.figures.put("measure", self.measure)
        self.figures.put(
            "groups",
            {
                g: {"available": available[g], "kept": kept[g], "share": round(kept[g] / total_kept, 4)}
                for g in sorted(by_group)
            },
        )
        self.figures.put_all(named)
        if warnings:
            self.figures.put("warnings", warnings)
        return Decision(by_id=drops)

    def _fit_groups(self, items: list, amount, keep_first) -> tuple[dict[str, Any], list[str]]:
        """Cut each leaf to its target; the report part for named groups and its warnings."""
        assert self.groups is not None
        targets = leaf_shares(self.groups)
        members: dict[str | None, list] = defaultdict(list)
        for item in items:
            members[item[4]].append(item)
        have = {leaf: sum(map(amount, members.get(leaf, []))) for leaf in targets}
        warnings = []
        empty = [leaf for leaf in targets if have[leaf] == 0]
        for leaf in empty:
            warnings.append(
                f"mix group '{leaf}' has no rows ({self._selector(leaf)}): its target share {targets[leaf]:.1%} "
                "cannot be met" + (" and is spread over the other groups" if self.fit == "exact" else "")
            )
        if self.fit == "exact":
            live = {leaf: s for leaf, s in targets.items() if have[leaf] > 0}
            norm = sum(live.values()) or 1.0
            size = min((have[leaf] / (s / norm) for leaf, s in live.items()), default=0.0)
            size = min(size, self.total or float("inf"))
            budgets = {leaf: size * s / norm for leaf, s in live.items()}
            limiting = min(live, key=lambda leaf: have[leaf] / (live[leaf] / norm), default=None)
        else:
            budgets = {leaf: self.total * s for leaf, s in targets.items()}  # type: ignore[operator]
            limiting = None
            for leaf, budget in budgets.items():
                if 0 < have[leaf] < budget:
                    warnings.append(
                        f"mix group '{leaf}' cannot reach its share: {have[leaf]:,} {self.measure} available, "
                        f"target {int(budget):,} ({targets[leaf]:.1%} of {self.total:,}); all kept"
                    )
        kept = {}
        for leaf in targets:
            kept[leaf] = sum(
                map(amount, keep_first(leaf, members.get(leaf, []), budgets.get(leaf, 0), "mix_share"))
            )
        outside = members.get(None, [])
        if self.others == "drop":
            keep_first("outside the named groups", outside, 0, "mix_other")
        elif outside:
            kept_outside = sum(map(amount, outside))
            warnings.append(
                f"{kept_outside:,} {self.measure} outside every named group are kept (others: keep)"
            )
        total_kept = sum(kept.values()) or 1
        report = {
            "fit": self.fit,
            "limited_by": limiting,
            "targets": {
                leaf: {
                    "available": have[leaf],
                    "kept": kept[leaf],
                    "target_share": round(targets[leaf], 4),
                    "share": round(kept[leaf] / total_kept, 4),
                }
                for leaf in targets
            },
            "charts": {
                "mix_shares": {
                    "title": "Mixture: target vs achieved share of the named groups",
                    "kind": "grouped_bar",
                    "data": {
                        "target": {leaf: round(s, 4) for leaf, s in targets.items()},
                        "achieved": {leaf: round(kept[leaf] / total_kept, 4) for leaf in targets},
                    },
                    "ylabel": "share",
                }
            },
        }
        return report, warnings

    def _selector(self, leaf: str) -> str:
        group: Any = None
        for part in leaf.split("/"):
            group = (group.groups if group is not None else self.groups)[part]
        said = [
            f"sources {group.sources}" if group.sources else "",
            f"kinds {group.kinds}" if group.kinds else "",
        ]
        return ", ".join(s for s in said if s) or "any row"
