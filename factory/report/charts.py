"""Charts of the version report, drawn with matplotlib's object API (a Figure per chart, no pyplot global state) into
inline SVG strings: crisp at any zoom, one self-contained HTML file, nothing fetched.

A chart is a spec dict, the stages' ``charts`` convention (``title``, ``kind``, ``data``, ``xlabel``,
``ylabel``) with ``kind`` one of ``bar`` ({label: number}), ``hist`` ([numbers]), ``grouped_bar`` ({group:
{label: number}}), plus three kinds the report itself uses: ``stacked_bar`` ({bar: {segment: number}}, one
horizontal bar per key; with ``share: true`` each bar in shares of its total), ``hists`` ({series: [[value, rows], ...]}, overlaid histograms on a log axis) and ``funnel``
({step: rows left}, each step's count and drop written beside its bar; a log axis when the counts span more
than a factor of 10).

Series and segments get distinct colours from a 20-colour qualitative palette; past 20 the colours repeat
with a hatch, so no two series look alike.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

from factory.report.facts import chart_problem
from factory.report.lengths import percentiles

INTERNAL_KINDS = ("stacked_bar", "hists", "funnel")
PALETTE = [  # qualitative: the first ten as before, ten more of other hues and values
    "#3b6fb6", "#e08a2e", "#4a9b5f", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974",
    "#64b5cd", "#f3c300", "#008080", "#882d17", "#8db600", "#e7298a", "#0b3d91", "#f99379", "#7f3c8d",
    "#333f48", "#654522",
]  # fmt: skip
HATCHES = ["", "//", "..", "xx", "\\\\"]
ACCENT = PALETTE[0]
DROP_COLOUR = PALETTE[1]
NARROW, WIDE = 5.3, 10.8  # inches at 72 pt: two narrow charts side by side, or one wide, in the page


class ChartError(ValueError):
    """A chart spec that cannot be drawn (the message says why)."""


def _check(spec: dict[str, Any]) -> None:
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind == "funnel":
        data = spec.get("data")
        if not isinstance(data, dict) or not all(
            isinstance(v, int | float) and v >= 0 for v in data.values()
        ):
            raise ChartError("a funnel chart's data must be a dict of row counts")
        return
    if kind in INTERNAL_KINDS:
        data = spec.get("data")
        if not isinstance(data, dict) or not all(isinstance(v, dict | list) for v in data.values()):
            raise ChartError(f"a {kind} chart's data must be a dict of dicts or lists")
        return
    problem = chart_problem(spec)
    if problem:
        raise ChartError(problem)


def series_style(i: int) -> dict[str, Any]:
    """The ``i``-th series' colour, and a hatch once the palette has gone round (bar and patch keywords)."""
    hatch = HATCHES[(i // len(PALETTE)) % len(HATCHES)]
    return {"color": PALETTE[i % len(PALETTE)], **({"hatch": hatch, "edgecolor": "white"} if hatch else {})}


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
        bars = (ax.barh if horizontal else ax.bar)(offset, ys, width, label=name, **series_style(i))
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


def _hists(ax, data: dict[str, list[list[float]]]) -> None:
    """Overlaid histograms on log-spaced bins (lengths are long-tailed) of ``{series: [[value, rows], ...]}``
    (values sorted); 0 is drawn in the first bin."""
    arrays = {
        k: (np.clip(np.asarray([x for x, _ in v], dtype=float), 1, None), np.asarray([n for _, n in v]))
        for k, v in data.items()
        if len(v)
    }
    if not arrays:
        ax.text(0.5, 0.5, "no rows", ha="center", va="center", transform=ax.transAxes, color="#777777")
        return
    low = min(float(a.min()) for a, _ in arrays.values())
    top = max(float(a.max()) for a, _ in arrays.values())
    bins = np.geomspace(low * 0.95, max(top, low * 2) * 1.05, 40)
    for i, (name, (arr, rows)) in enumerate(arrays.items()):
        color = series_style(i)["color"]
        label = f"{name} (median {percentiles(arr, rows, [50])[0]:,.0f})"
        ax.hist(arr, bins=bins, weights=rows, histtype="stepfilled", alpha=0.3, color=color, label=label)
        ax.hist(arr, bins=bins, weights=rows, histtype="step", color=color, linewidth=1.2)
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


def _stacked(ax, data: dict[str, dict[str, float]], share: bool = False) -> None:
    """One horizontal bar per key, its segments stacked; with ``share`` each bar is its segments' shares of
    its total (so a small source reads as well as a large one) and its label carries the total."""
    totals = {b: sum(v.values()) for b, v in data.items()}
    bars = [f"{_short(b)} ({totals[b]:,.0f})" if share else _short(b) for b in data]
    segments = list(dict.fromkeys(s for v in data.values() for s in v))
    left = np.zeros(len(bars))
    for i, seg in enumerate(segments):
        values = np.array([data[b].get(seg, 0) for b in data], dtype=float)
        if share:
            values = np.array(
                [100 * v / totals[b] if totals[b] else 0.0 for v, b in zip(values, data, strict=True)]
            )
        ax.barh(bars, values, left=left, label=_short(seg, 24), **series_style(i))
        left += values
    ax.invert_yaxis()
    if share:
        ax.set_xlim(0, 100)
    else:
        _integer_counts(ax.xaxis)
    ax.grid(axis="x", color="#e5e5e5")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _funnel(ax, data: dict[str, float]) -> bool:
    """Rows left after each step as horizontal bars, each labelled with its count and, where the step dropped
    rows, the drop and its share of the step's input (those bars in the drop colour). When the counts span
    more than a factor of 10 the axis is logarithmic, so the steps after a 99% drop stay visible; returns
    whether it is."""
    labels, values = [_short(k, 40) for k in data], [float(v) for v in data.values()]
    dropped = [0.0] + [max(a - b, 0.0) for a, b in zip(values, values[1:], strict=False)]
    top = max([*values, 1.0])
    log = top / max(min(values), 1.0) > 10
    floor = 0.5 if log else 0.0  # a log axis starts below one row; a step with no row left has no bar
    colours = [DROP_COLOUR if d > 0 else ACCENT for d in dropped]
    ax.barh(labels, [max(v - floor, 0) for v in values], left=floor, color=colours)
    for i, (v, d) in enumerate(zip(values, dropped, strict=True)):
        text = f"{v:,.0f}" + (f"   −{d:,.0f} ({d / (v + d):.1%})" if d > 0 else "")
        ax.text(
            max(v, floor) * 1.15 if log else v + top * 0.01, i, text, va="center", fontsize=8, color="#333"
        )
    ax.invert_yaxis()
    ax.grid(axis="x", color="#e5e5e5")
    if log:
        ax.set_xscale("log")
        ax.set_xlim(floor, top * 12)  # room for the labels right of the longest bar
        _plain_log_labels(ax.xaxis, top / floor)
    else:
        ax.set_xlim(0, top * 1.35)
        _integer_counts(ax.xaxis)
    return log


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
    elif kind == "funnel":
        size = (WIDE, max(1.6, 0.22 * len(data) + 0.9))
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
        elif kind == "funnel":
            if _funnel(ax, data):
                spec = {**spec, "xlabel": f"{spec.get('xlabel') or 'rows'} (log scale)"}
        else:
            _stacked(ax, data, bool(spec.get("share")))
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
