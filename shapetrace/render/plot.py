"""Figures of a trace, a comparison and a survey (matplotlib, imported only when drawing).

Every function writes the figure to a temporary file beside ``path`` and renames
it, so a failure never leaves half an image behind. Figures are plain
``matplotlib.figure.Figure`` objects saved through their own canvas: pyplot's global state
and backend are never touched (``matplotlib.use`` would change them for the whole process).
matplotlib is the ``shapetrace[plot]`` extra.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from shapetrace.errors import UsageError
from shapetrace.extras import require
from shapetrace.fileio import atomic_path, validate_writable
from shapetrace.records import LayerTrace, Trace, format_shape

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from shapetrace.explore.compare import Comparison
    from shapetrace.explore.survey import SurveyRow

__all__ = ["plot_trace", "plot_compare", "plot_survey", "validate_plot_path", "PLOT_FORMATS"]

PLOT_FORMATS = ("png", "svg")
COLORS = {
    "first": "#1f77b4",
    "second": "#ff7f0e",
    "ok": "#2ca02c",
    "broken": "#d62728",
    "rejected": "#9467bd",
    "static": "#17becf",
    "change": "#8c8c8c",
}
MAX_CHANGE_LABELS = 4  # more labels than this overlap on a 200-layer axis; the rest stay as dots


def validate_plot_path(path: str | Path, option: str = "path") -> Path:
    """An image path we can write: a known extension and an existing, writable folder."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        raise UsageError(f"{option}={str(path)!r}: expected a .png or .svg file name.", param=option)
    return validate_writable(path, option)


def _new_figure(**options: Any) -> Figure:
    """A figure outside pyplot, drawn by the Agg canvas (files only: no window, no display)."""
    figure_module = require("matplotlib.figure", extra="plot", for_="drawing a plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = figure_module.Figure(**options)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = validate_plot_path(path)
    with atomic_path(path) as temporary:
        fig.savefig(temporary, format=path.suffix.lower()[1:], dpi=110, bbox_inches="tight")
    return path


def _spatial(row: LayerTrace) -> tuple[float, float]:
    shape = row.output if row.output is not None else (row.inputs[0] if row.inputs else None)
    if shape is None or len(shape) != 4 or None in shape:
        return math.nan, math.nan
    return float(cast(int, shape[1])), float(cast(int, shape[2]))  # known: checked above


def _channels(row: LayerTrace) -> float:
    value = row.channels_in if row.failed else row.channels_out
    return math.nan if value is None else float(value)


def _series(
    trace: Trace,
) -> tuple[list[int], list[float], list[float], list[float], list[float]]:
    xs = [row.index for row in trace.layers]
    channels = [_channels(row) for row in trace.layers]
    declared = [
        math.nan
        if row.declared_output is None or len(row.declared_output) < 2 or row.declared_output[-1] is None
        else float(row.declared_output[-1])
        for row in trace.layers
    ]
    heights, widths = zip(*(_spatial(row) for row in trace.layers)) if trace.layers else ((), ())
    return xs, channels, declared, list(heights), list(widths)


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _annotate(ax: Any, x: float, y: float | None, text: str, color: str, offset: tuple[float, float]) -> None:
    ax.annotate(
        text,
        xy=(x, y),
        xytext=offset,
        textcoords="offset points",
        fontsize=8,
        color=color,
        arrowprops=dict(arrowstyle="-", color=color, lw=0.8),
        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec=color, lw=0.6, alpha=0.9),
    )


def _draw_trace(axes: Any, trace: Trace, color: str, label: str, *, declared: bool = True) -> None:
    ax_c, ax_s = axes
    xs, channels, declared_ch, heights, widths = _series(trace)
    if declared:
        ax_c.step(
            xs,
            declared_ch,
            where="post",
            color=COLORS["change"],
            lw=1.0,
            ls="--",
            label="declared by the graph",
        )
    ax_c.step(xs, channels, where="post", color=color, lw=1.5, label=label)
    ax_s.step(xs, heights, where="post", color=color, lw=1.4, label=f"{label}: height")
    if any(h != w for h, w in zip(heights, widths) if not math.isnan(h)):
        ax_s.step(xs, widths, where="post", color=color, lw=1.0, ls="--", label=f"{label}: width")
    changes = [row for row in trace.layers if row.channels_changed]
    ax_c.scatter(
        [r.index for r in changes],
        [float(cast(int, r.channels_out)) for r in changes],  # a changed row knows its channels
        s=10,
        color=color,
        zorder=3,
        label=f"{label}: channel changes ({len(changes)})",
    )


def _annotate_story(ax_c: Any, trace: Trace, color: str) -> None:
    """Label the first channel change (usually the story) and static-vs-real disagreements."""
    changes = [row for row in trace.layers if row.channels_changed]
    keep = 1 if len(trace.layers) > 30 else MAX_CHANGE_LABELS  # on a long trace the dots show the rest
    labels: dict[int, tuple[LayerTrace, list[str], str]] = {}
    for row in changes[:keep]:
        labels[row.index] = (
            row,
            [f"{_short(row.name)}: {row.channels_in}→{row.channels_out} channels"],
            color,
        )
    for row in trace.static_disagreements[:2]:
        ax_c.scatter(
            [row.index],
            [row.channels_out],
            marker="D",
            s=50,
            facecolor="none",
            edgecolor=COLORS["static"],
            lw=1.5,
            zorder=4,
            label="static inference ≠ real run",
        )
        static = format_shape(row.static_output)
        text = f"static inference says {static}"
        if row.index in labels:
            labels[row.index][1].append(text)
        else:
            labels[row.index] = (row, [f"{_short(row.name)}: {text}"], COLORS["static"])
    offsets = [(25, 45), (30, -40), (40, 70), (40, -70)]
    for i, (row, lines, tint) in enumerate(list(labels.values())[: len(offsets)]):
        _annotate(ax_c, row.index, row.channels_out, "\n".join(lines), tint, offsets[i])


def _draw_break(axes: Any, trace: Trace) -> None:
    if trace.broken is None:
        return
    row = trace.layers[trace.broken.index]
    for ax in axes:
        ax.axvline(row.index, color=COLORS["broken"], lw=1.2, ls=":")
    ax_c = axes[0]
    ax_c.scatter(
        [row.index], [_channels(row)], marker="X", s=90, color=COLORS["broken"], zorder=5, label="break"
    )
    _annotate(
        ax_c,
        row.index,
        _channels(row),
        f"breaks at {_short(row.name)} ({row.type})\nexpected {_short(trace.broken.expected, 40)}\n"
        f"received {_short(trace.broken.received, 40)}",
        COLORS["broken"],
        (-150, 30),
    )


def _style(axes: Any, n_rows: int, *, legend: bool = True, first: int = 0) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax_c, ax_s = axes
    for ax, label in ((ax_c, "channels (log scale)"), (ax_s, "height × width (log scale)")):
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.set_xlim(first - 0.5, max(n_rows - 0.5, first + 1))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    sizes = [
        v
        for line in ax_s.get_lines()
        if not line.get_label().startswith("_")  # skip axvlines
        for v in line.get_ydata()
        if v == v and v > 0
    ]
    if sizes and max(sizes) / min(sizes) < 8:  # a narrow range reads better on a linear axis
        ax_s.set_yscale("linear")
        ax_s.set_ylabel("spatial size (pixels)")
    else:
        ax_s.set_ylabel("spatial size (log scale)")
    ax_s.set_xlabel("layer call, in execution order")
    if legend:
        ax_c.legend(loc="upper left", fontsize=8, framealpha=0.9)
        ax_s.legend(loc="upper right", fontsize=8, framealpha=0.9)


def _figure(columns: int = 1) -> tuple[Figure, Any]:
    fig = _new_figure(figsize=(12, 6.5))
    axes = fig.subplots(
        2,
        columns,
        sharex="col",
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 2], **({"width_ratios": [2, 3]} if columns == 2 else {})},
    )
    return fig, axes


def plot_trace(trace: Trace, path: str | Path) -> Path:
    """Channel count (log) and spatial size along execution order, changes and break annotated.

    Returns:
        The path written.
    """
    validate_plot_path(path)
    fig, grid = _figure()
    axes = grid[:, 0]
    label = f"probe: {trace.probe.channels} ch"
    _draw_trace(axes, trace, COLORS["first"], label)
    _annotate_story(axes[0], trace, COLORS["first"])
    _draw_break(axes, trace)
    _style(axes, len(trace.layers))
    verdict = "passes" if trace.ok else "breaks"
    axes[0].set_title(
        f"{trace.model}: a {trace.probe.channels}-channel probe {verdict}", fontsize=11, loc="left"
    )
    fig.tight_layout()
    return _save(fig, path)


def plot_compare(comparison: Comparison, path: str | Path) -> Path:
    """Both probes on one figure: a zoom on where their shapes meet (left), the whole model (right)."""
    validate_plot_path(path)
    fig, grid = _figure(columns=2)
    first, second = comparison.first, comparison.second
    n = max(len(first.layers), len(second.layers))
    row = comparison.converged_row
    meet = row.first.index if row is not None and row.first is not None else None
    stop = [t.broken.index for t in (first, second) if t.broken is not None]
    focus = meet if meet is not None else (min(stop) if stop else n - 1)
    zoom = min(n, max(focus + 6, 8))
    for col, (limit, title) in enumerate(
        ((zoom, f"zoom: the first {zoom} layer calls"), (n, "the whole model"))
    ):
        axes = grid[:, col]
        _draw_trace(axes, second, COLORS["second"], f"{second.probe.channels} ch", declared=False)
        _draw_trace(axes, first, COLORS["first"], f"{first.probe.channels} ch", declared=False)
        _draw_break(axes, first) if col == 0 else None
        _draw_break(axes, second) if col == 0 else None
        if meet is not None:
            for ax in axes:
                ax.axvspan(meet, n, color=COLORS["ok"], alpha=0.08)
                ax.axvline(meet, color=COLORS["ok"], lw=1.2)
        _style(axes, limit, legend=col == 0)
        axes[0].set_title(title, fontsize=10, loc="left")
    if meet is not None and row is not None and row.first is not None:
        _annotate(
            grid[0, 0],
            meet,
            float(row.first.channels_out or 1),
            f"same shapes from\n{_short(row.name)} on",
            COLORS["ok"],
            (25, 25),
        )
    fig.suptitle(
        f"{comparison.model}: {first.probe.channels}-channel vs {second.probe.channels}-channel probe",
        x=0.01,
        ha="left",
        fontsize=12,
    )
    fig.tight_layout()
    fig.text(
        0.01, 0.0, textwrap.fill(comparison.headline.replace("`", ""), 150), fontsize=9, ha="left", va="top"
    )
    return _save(fig, path)


def plot_survey(rows: Sequence[SurveyRow], path: str | Path, *, channels: int | None = None) -> Path:
    """One bar per model: how far the probe got (layer calls), coloured by the verdict."""
    validate_plot_path(path)
    height = max(3.0, 0.3 * len(rows) + 1.2)
    fig = _new_figure(figsize=(11, height))
    ax = fig.subplots()
    names = [r.model for r in rows][::-1]
    reached = [r.layers for r in rows][::-1]
    colors, notes = [], []
    for r in rows[::-1]:
        if r.verdict == "ok":
            colors.append(COLORS["ok"])
            notes.append(
                "passes"
                + (
                    f" · {r.first_change_in}→{r.first_change_out} at {_short(r.first_change_layer or '', 40)}"
                    if r.first_change_layer
                    else ""
                )
            )
        else:
            colors.append(COLORS["broken"] if r.boundary_accepted else COLORS["rejected"])
            where = _short((r.break_layer or "").split("/")[-1], 28)
            notes.append(("input rejected · " if not r.boundary_accepted else "") + f"breaks at {where}")
    y = range(len(names))
    ax.barh(list(y), reached, color=colors, height=0.7)
    ax.set_yticks(list(y), names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("layer calls the probe reached, the break included (log scale)")
    right = max(reached or [1]) * 40
    ax.set_xlim(0.8, right)
    for i, (n, note) in enumerate(zip(reached, notes)):
        ax.text(max(n, 1) * 1.15, i, note, va="center", fontsize=7.5)
    passed = sum(1 for r in rows if r.verdict == "ok")
    probe = f"{channels}-channel probe" if channels is not None else "probe"
    ax.set_title(
        f"Which keras.applications models take a {probe} as-is: {passed} of {len(rows)}",
        fontsize=11,
        loc="left",
    )
    from matplotlib.patches import Patch

    ax.legend(
        handles=[
            Patch(color=COLORS["ok"], label="passes"),
            Patch(color=COLORS["broken"], label="breaks inside"),
            Patch(color=COLORS["rejected"], label="input check rejects"),
        ],
        loc="lower right",
        fontsize=8,
    )
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
