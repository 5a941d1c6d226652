"""PNG charts of a report: per target and metric, a bar per platform × case with ± std dev error bars.

Local and cluster numbers never share a chart: they measure different things (DESIGN.md). Drawn
on matplotlib's Agg canvas through ``Figure`` directly, never pyplot: no global state, no display
needed, safe in CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.report import PLATFORM_NAMES, ROWS, SUCCESS, CaseTable, Report, Row, RowSpec


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
    return written


def draw_chart(spec: RowSpec, target: str, tables: Sequence[CaseTable], rows: Sequence[Row], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    platforms = list(dict.fromkeys(p for t in tables for p in t.platforms))
    figure = Figure(figsize=(max(5.0, 1.2 * len(rows) * len(platforms)), 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / len(platforms)
    # The success rate is stored as a fraction and shown in percent, like the table.
    scale = 100.0 if spec.name == SUCCESS else 1.0
    for p_index, platform in enumerate(platforms):
        xs, heights, errors = [], [], []
        for x, row in enumerate(rows):
            position = x - 0.4 + width * (p_index + 0.5)
            cell = next((c for c in row.cells if c.platform == platform), None)
            if cell is None or cell.mean is None:
                axes.text(position, 0, "n/a", ha="center", va="bottom", fontsize=8)
                continue
            xs.append(position)
            heights.append(cell.mean * scale)
            std = cell.sample.stddev if cell.sample is not None else None
            errors.append((std or 0.0) * scale)
        axes.bar(xs, heights, width, yerr=errors, capsize=4, label=PLATFORM_NAMES.get(platform, platform))
    axes.set_xticks(range(len(tables)), [t.case for t in tables])
    axes.set_ylabel(spec.label)
    axes.set_title(_title(spec.label, target, rows), fontsize=10)
    axes.legend(fontsize=8)
    figure.savefig(path, format="png", dpi=100)


def _title(label: str, target: str, rows: Sequence[Row]) -> str:
    scopes = list(dict.fromkeys(scope for row in rows for scope in row.scopes))
    where = f"{target} target"
    if len(scopes) == 1:
        where += f", {scopes[0][0]} scope ({scopes[0][1]})"
    elif scopes:
        where += ", scope per platform: see the report"
    return f"{label}: mean ± std dev ({where})"
