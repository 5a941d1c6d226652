"""PNG charts of a report: per target and metric, a bar per platform × case with ± std dev error bars.

Local and cluster numbers never share a chart: they measure different things
(``docs/metrics.md``). Each
bar carries its mean; a platform has the same colour in every chart (output/platform_style.py);
when a chart's means span more than 10× the axis is logarithmic, so that a 0.04 s bar beside a
7 s one stays visible. Drawn on matplotlib's Agg canvas through ``Figure`` directly, never
pyplot: no global state, no display needed, safe in CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from retrain_bench.analysis.growth import AXIS_LABELS, AxisGrowth
from retrain_bench.analysis.metrics import UNITS, format_number
from retrain_bench.analysis.report import ROWS, SUCCESS, CaseTable, Report, Row, RowSpec
from retrain_bench.output.platform_style import platform_colour, platform_order, platform_title
from retrain_bench.results.files import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: A chart whose largest mean is more than this many times its smallest gets a log axis.
LOG_SPAN = 10.0


def needs_log_axis(values: Sequence[float]) -> bool:
    """More than LOG_SPAN× between the smallest and largest value; a log axis cannot show ≤ 0."""
    return len(values) > 1 and min(values) > 0 and max(values) / min(values) > LOG_SPAN


def chart_name(spec: RowSpec, target: str) -> str:
    return f"{spec.name}-{target}.png"


def draw_charts(report: Report, out: Path) -> list[Path]:
    """One PNG per target × row of the study's layout that has at least one value; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for target in report.targets:
        tables = [t for t in report.tables if t.target == target]
        for index, spec in enumerate(ROWS):
            rows = [t.rows[index] for t in tables]
            if any(c.mean is not None for row in rows for c in row.cells):
                path = out / chart_name(spec, target)
                draw_chart(spec, target, tables, rows, path)
                written.append(path)
    for axis in report.growth:
        for metric in dict.fromkeys(s.metric for s in axis.series if not s.overhead):
            path = out / f"growth-{axis.axis}-{metric}-{axis.target}.png"
            if draw_growth_chart(axis, metric, path):
                written.append(path)
    return written


def draw_growth_chart(axis: AxisGrowth, metric: str, path: Path) -> bool:
    """Log-log: every round's value per platform and, where fitted, the curve a + b·x^k. False if nothing to draw."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = [s for s in axis.series if s.metric == metric and not s.overhead and s.points]
    if not series:
        return False
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    xs = [x for s in series for x, _ in s.points]
    grid = np.geomspace(min(xs), max(xs), 100) if min(xs) > 0 else np.linspace(min(xs), max(xs), 100)
    for one in series:
        colour = platform_colour(one.platform)
        name = platform_title(one.platform)
        # Log axes cannot show a value ≤ 0; such rounds are left out of the picture, not of the fit.
        shown = [(x, v) for x, v in one.points if x > 0 and v > 0]
        axes.scatter([x for x, _ in shown], [v for _, v in shown], s=14, color=colour, alpha=0.7, label=name)
        fit = one.fit
        if fit.k is not None:
            label = f"{name}: {fit.a:.3g} + {fit.b:.3g}·x^k, k = {fit.k:.3f} ± {fit.se_k:.3f}"
            axes.plot(grid, fit.at(grid), color=colour, linewidth=1.2, label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel(AXIS_LABELS[axis.axis])
    scope = next((s.scope for s in series if s.scope), None)
    axes.set_ylabel(f"{metric} ({UNITS[metric]})" + (f", {scope} scope" if scope else ""))
    axes.set_title(
        f"{metric} against {AXIS_LABELS[axis.axis]}: rounds and fitted a + b·x^k ({axis.target})", fontsize=9
    )
    axes.legend(fontsize=7)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    return True


def draw_chart(spec: RowSpec, target: str, tables: Sequence[CaseTable], rows: Sequence[Row], path: Path) -> None:
    with atomic_path(path) as temporary:
        chart_figure(spec, target, tables, rows).savefig(temporary, format="png", dpi=100)


def chart_figure(spec: RowSpec, target: str, tables: Sequence[CaseTable], rows: Sequence[Row]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    platforms = platform_order(p for t in tables for p in t.platforms)
    figure = Figure(figsize=(max(5.0, 1.2 * len(rows) * len(platforms)), 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / len(platforms)
    # The success rate is stored as a fraction and shown in percent, like the table.
    scale = 100.0 if spec.name == SUCCESS else 1.0
    means = [c.mean * scale for row in rows for c in row.cells if c.mean is not None]
    log = needs_log_axis(means)
    for p_index, platform in enumerate(platforms):
        xs, heights, errors = [], [], []
        for x, row in enumerate(rows):
            position = x - 0.4 + width * (p_index + 0.5)
            cell = next((c for c in row.cells if c.platform == platform), None)
            if cell is None or cell.mean is None:
                # Just above the axis in axes coordinates: visible on a linear and a log axis alike.
                axes.text(
                    position, 0.02, "n/a", ha="center", va="bottom", fontsize=8, transform=axes.get_xaxis_transform()
                )
                continue
            xs.append(position)
            heights.append(cell.mean * scale)
            std = cell.sample.stddev if cell.sample is not None else None
            errors.append((std or 0.0) * scale)
        if not xs:
            continue  # only n/a marks: an empty bar call would break the axis' autoscaling
        bars = axes.bar(
            xs, heights, width, yerr=errors, capsize=4, label=platform_title(platform), color=platform_colour(platform)
        )
        axes.bar_label(bars, labels=[format_number(h) for h in heights], fontsize=7, padding=2)
    if log:
        # After the bars, so that the limits come from them; error bars reaching 0 are clipped there.
        axes.set_yscale("log")
    axes.set_xticks(range(len(tables)), [t.case for t in tables])
    axes.set_xlim(-0.5, len(rows) - 0.5)  # every slot, n/a marks included, inside the frame
    axes.set_ylabel(spec.label + (", log scale" if log else ""))
    axes.set_title(_title(spec.label, target, rows), fontsize=10)
    axes.legend(fontsize=8)
    return figure


def _title(label: str, target: str, rows: Sequence[Row]) -> str:
    scopes = list(dict.fromkeys(scope for row in rows for scope in row.scopes))
    where = f"{target} target"
    if len(scopes) == 1:
        where += f", {scopes[0][0]} scope ({scopes[0][1]})"
    elif scopes:
        where += ", scope per platform: see the report"
    return f"{label}: mean ± std dev ({where})"
