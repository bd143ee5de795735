"""Charts of the version report, drawn with matplotlib's object API (a Figure per chart, no pyplot global state) into
inline SVG strings: crisp at any zoom, one self-contained HTML file, nothing fetched.

A chart is a spec dict, the stages' ``charts`` convention (``title``, ``kind``, ``data``, ``xlabel``,
``ylabel``) with ``kind`` one of ``bar`` ({label: number}), ``hist`` ([numbers]), ``grouped_bar`` ({group:
{label: number}}), plus two kinds the report itself uses: ``stacked_bar`` ({bar: {segment: number}}, one
horizontal bar per key) and ``hists`` ({series: [numbers]}, overlaid histograms on a log axis).
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

from factory.report.facts import chart_problem

INTERNAL_KINDS = ("stacked_bar", "hists")
PALETTE = [
    "#3b6fb6",
    "#e08a2e",
    "#4a9b5f",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
]
ACCENT = PALETTE[0]
NARROW, WIDE = 5.3, 10.8  # inches at 72 pt: two narrow charts side by side, or one wide, in the page


class ChartError(ValueError):
    """A chart spec that cannot be drawn (the message says why)."""


def _check(spec: dict[str, Any]) -> None:
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind in INTERNAL_KINDS:
        data = spec.get("data")
        if not isinstance(data, dict) or not all(isinstance(v, dict | list) for v in data.values()):
            raise ChartError(f"a {kind} chart's data must be a dict of dicts or lists")
        return
    problem = chart_problem(spec)
    if problem:
        raise ChartError(problem)


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines[["left", "bottom"]].set_color("#999999")
    ax.tick_params(colors="#333333", labelsize=9)
    ax.set_axisbelow(True)
    return fig, ax


def _short(label: Any, n: int = 32) -> str:
    text = str(label)
    return text if len(text) <= n else text[: n - 1] + "…"


def _horizontal(labels: list[Any]) -> bool:
    return len(labels) > 8 or any(len(str(x)) > 8 for x in labels)


def _annotate(ax, bars, horizontal: bool, fmt: str = "{:,.0f}") -> None:
    values = [b.get_width() if horizontal else b.get_height() for b in bars]
    if len(values) <= 25:
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=2, fontsize=8, color="#333333")


def _bar(ax, data: dict[str, float], horizontal: bool) -> None:
    labels, values = [_short(k, 40) for k in data], list(data.values())
    integer = all(float(v).is_integer() for v in values)
    fmt = "{:,.0f}" if integer else "{:,.3g}"
    if horizontal:
        bars = ax.barh(labels, values, color=ACCENT)
        ax.invert_yaxis()
        ax.grid(axis="x", color="#e5e5e5")
        ax.margins(x=0.12)
    else:
        bars = ax.bar(labels, values, color=ACCENT)
        ax.grid(axis="y", color="#e5e5e5")
        ax.margins(y=0.12)
    _annotate(ax, bars, horizontal, fmt)
    if integer:
        _integer_counts(ax.xaxis if horizontal else ax.yaxis)


def _integer_counts(axis) -> None:
    """Counts: whole-number ticks when they are small (no 0.25 rows), thousands separators when large."""
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    low, high = axis.get_view_interval()
    if max(abs(low), abs(high)) <= 20:
        axis.set_major_locator(MaxNLocator(integer=True))
    else:
        axis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def _grouped(ax, data: dict[str, dict[str, float]], horizontal: bool) -> str | None:
    """Bars per label, one colour per group. Groups of very different totals (e.g. input rows vs verified
    rows) are drawn as shares within each group, so their distributions compare; returns that axis label."""
    labels = list(dict.fromkeys(label for g in data.values() for label in g))
    totals = {g: sum(v.values()) for g, v in data.items()}
    positive = [t for t in totals.values() if t > 0]
    as_share = len(positive) > 1 and max(positive) > 2 * min(positive)
    width = 0.8 / max(len(data), 1)
    pos = np.arange(len(labels))
    for i, (group, values) in enumerate(data.items()):
        ys = [values.get(label, 0) for label in labels]
        if as_share:
            ys = [100 * y / totals[group] if totals[group] else 0 for y in ys]
        name = f"{group} (n={totals[group]:,.0f})" if as_share else str(group)
        offset = pos - 0.4 + width * (i + 0.5)
        color = PALETTE[i % len(PALETTE)]
        bars = (ax.barh if horizontal else ax.bar)(offset, ys, width, label=name, color=color)
        if len(labels) * len(data) <= 16:
            _annotate(ax, bars, horizontal, "{:.0f}%" if as_share else "{:,.3g}")
    if horizontal:
        ax.set_yticks(pos, [_short(x) for x in labels])
        ax.invert_yaxis()
        ax.grid(axis="x", color="#e5e5e5")
    else:
        ax.set_xticks(pos, [_short(x, 16) for x in labels])
        ax.grid(axis="y", color="#e5e5e5")
    _legend_on_top(ax)
    return "share within each group (%)" if as_share else None


def _hist(ax, values: list[float]) -> None:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes, color="#777777")
        return
    lo, hi = float(arr.min()), float(arr.max())
    integer = np.all(arr == np.round(arr))
    if integer and hi - lo <= 40:
        bins = np.arange(lo - 0.5, hi + 1.5)
    else:
        bins = int(np.clip(np.sqrt(arr.size), 10, 40)) if hi > lo else 1
    ax.hist(arr, bins=bins, color=ACCENT, edgecolor="white", linewidth=0.5)
    _integer_counts(ax.yaxis)
    ax.grid(axis="y", color="#e5e5e5")
    ax.axvline(
        float(np.median(arr)),
        color="#c44e52",
        linewidth=1,
        linestyle="--",
        label=f"median {np.median(arr):,.3g}",
    )
    _legend_on_top(ax)


def _hists(ax, data: dict[str, list[float]]) -> None:
    """Overlaid histograms on log-spaced bins (lengths are long-tailed); 0 is drawn in the first bin."""
    arrays = {k: np.clip(np.asarray(v, dtype=float), 1, None) for k, v in data.items() if len(v)}
    if not arrays:
        ax.text(0.5, 0.5, "no rows", ha="center", va="center", transform=ax.transAxes, color="#777777")
        return
    low = min(float(a.min()) for a in arrays.values())
    top = max(float(a.max()) for a in arrays.values())
    bins = np.geomspace(low * 0.95, max(top, low * 2) * 1.05, 40)
    for i, (name, arr) in enumerate(arrays.items()):
        color = PALETTE[i % len(PALETTE)]
        label = f"{name} (median {np.median(arr):,.0f})"
        ax.hist(arr, bins=bins, histtype="stepfilled", alpha=0.3, color=color, label=label)
        ax.hist(arr, bins=bins, histtype="step", color=color, linewidth=1.2)
    ax.set_xscale("log")
    _plain_log_labels(ax.xaxis, top / low)
    _integer_counts(ax.yaxis)
    ax.grid(axis="y", color="#e5e5e5")
    _legend_on_top(ax)


def _plain_log_labels(axis, span: float) -> None:
    """Log axis ticks as plain numbers (30, 100, 2,000), minor ones labelled only on a narrow range."""
    from matplotlib.ticker import NullFormatter, StrMethodFormatter

    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    axis.set_minor_formatter(StrMethodFormatter("{x:,.0f}") if span < 20 else NullFormatter())


def _legend_on_top(ax) -> None:
    """The legend in one row between the title and the plot, where it never hides a bar."""
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(
        fontsize=8,
        frameon=False,
        loc="lower left",
        bbox_to_anchor=(0, 1.0),
        ncols=min(len(handles), 3),
        borderaxespad=0.2,
        handlelength=1.5,
        columnspacing=1.2,
    )


def _stacked(ax, data: dict[str, dict[str, float]]) -> None:
    bars = [_short(b) for b in data]
    segments = list(dict.fromkeys(s for v in data.values() for s in v))
    left = np.zeros(len(bars))
    for i, seg in enumerate(segments):
        values = np.array([data[b].get(seg, 0) for b in data], dtype=float)
        color = ACCENT if i == 0 else PALETTE[1:][(i - 1) % (len(PALETTE) - 1)]
        ax.barh(bars, values, left=left, label=_short(seg, 24), color=color)
        left += values
    ax.invert_yaxis()
    _integer_counts(ax.xaxis)
    ax.grid(axis="x", color="#e5e5e5")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def render_svg(spec: dict[str, Any], uid: str) -> str:
    """The chart as an inline ``<svg>`` element (no XML prolog); ``uid`` keeps its element ids unique in the
    page. Raises ChartError for a spec that cannot be drawn."""
    import matplotlib

    _check(spec)
    kind, data = spec["kind"], spec["data"]
    if kind == "bar":
        horizontal = _horizontal(list(data))
        size = (NARROW, max(2.2, 0.26 * len(data) + 1.0)) if horizontal else (NARROW, 2.8)
    elif kind == "grouped_bar":
        labels = list(dict.fromkeys(label for g in data.values() for label in g))
        horizontal = _horizontal(labels)
        size = (
            (NARROW, max(2.4, 0.2 * len(labels) * max(len(data), 1) + 1.2)) if horizontal else (NARROW, 2.8)
        )
    elif kind == "stacked_bar":
        size = (WIDE, max(1.4, 0.3 * len(data) + 0.9))
    else:
        size = (NARROW, 2.8)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": uid, "font.size": 9}):
        fig, ax = _figure(*size)
        ylabel = spec.get("ylabel")
        if kind == "bar":
            _bar(ax, data, horizontal)
        elif kind == "grouped_bar":
            ylabel = _grouped(ax, data, horizontal) or ylabel
        elif kind == "hist":
            _hist(ax, data)
            ylabel = ylabel or "rows"
        elif kind == "hists":
            _hists(ax, data)
            ylabel = ylabel or "rows"
        else:
            _stacked(ax, data)
        fig.suptitle(spec["title"], x=0.01, ha="left", fontsize=11, color="#222222")
        xlabel = spec.get("xlabel")
        if kind in ("bar", "grouped_bar") and horizontal:
            xlabel, ylabel = ylabel, xlabel  # the value axis is x
        if xlabel:
            ax.set_xlabel(xlabel, color="#333333")
        if ylabel:
            ax.set_ylabel(ylabel, color="#333333")
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    # every element id (and each reference to one) gets the chart's prefix: ids stay unique in the page
    svg = re.sub(r'(\bid="|url\(#|href="#)', lambda mt: mt.group(1) + f"{uid}-", svg)
    return re.sub(r"<svg ", f'<svg role="img" aria-label="{_attr(spec["title"])}" ', svg, count=1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
