"""``Figures``: what a stage reports, recorded on any worker, merged on the driver (``factory.stage``).

In: ``add`` / ``put`` / ``extend`` calls from a stage's methods, each naming a figure and, by the call, how
copies of it from several tasks merge. Out: one merged ``Figures`` per stage run, whose ``as_dict()`` (or the
stage's ``report(figures)``) goes into the manifest. In the spirit of DataTrove's ``stat_update``.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any


class Figures:
    """What a stage reports, recorded from any of its methods on any worker; the runner merges every task's
    figures on the driver, each as the call that recorded it declares:

    - ``add(name, amount)``: summed (a number, or a dict of numbers summed key by key, nested dicts too);
    - ``put(name, value)``: one value, the last recorded wins (record it on the driver, or the same everywhere);
    - ``extend(name, items, limit)``: a list, concatenated in task order, kept to its first ``limit`` items.

    Out: ``as_dict()`` (insertion order), ``get(name, default)``; picklable, so it travels with task results."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._kinds: dict[str, tuple[str, int | None]] = {}

    def add(self, name: str, amount: float | dict[str, Any] = 1) -> None:
        self._declare(name, "add", None)
        self._values[name] = _summed(self._values.get(name), amount)

    def put(self, name: str, value: Any) -> None:
        self._declare(name, "put", None)
        self._values[name] = value

    def put_all(self, values: dict[str, Any]) -> None:
        """``put`` of every item of ``values``, in order."""
        for name, value in values.items():
            self.put(name, value)

    def extend(self, name: str, items: Iterable[Any], limit: int | None = None) -> None:
        self._declare(name, "extend", limit)
        kept = self._values.setdefault(name, [])
        kept.extend(items if limit is None else islice(items, max(limit - len(kept), 0)))

    def merge(self, other: Figures) -> None:
        """``other``'s figures into these, each by its kind."""
        for name, value in other._values.items():
            kind, limit = other._kinds[name]
            if kind == "add":
                self.add(name, value)
            elif kind == "put":
                self.put(name, value)
            else:
                self.extend(name, value, limit)

    def take(self) -> Figures:
        """The figures recorded so far, leaving this object empty (the runner takes them after each task)."""
        out = Figures()
        out._values, out._kinds = self._values, self._kinds
        self._values, self._kinds = {}, {}
        return out

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def __bool__(self) -> bool:
        return bool(self._values)

    def _declare(self, name: str, kind: str, limit: int | None) -> None:
        known, _ = self._kinds.setdefault(name, (kind, limit))
        if known != kind:
            raise ValueError(f"figure '{name}' is recorded with {known}(), not {kind}()")


def _summed(total: Any, amount: Any) -> Any:
    if isinstance(amount, dict):
        out = dict(total or {})
        for key, value in amount.items():
            out[key] = _summed(out.get(key), value)
        return out
    return (total or 0) + amount
