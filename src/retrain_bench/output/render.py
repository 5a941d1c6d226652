"""Text, Markdown, CSV and JSON for compare results and reports. Formatting only: no arithmetic here
beyond what a number needs to be printed."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence

from retrain_bench.analysis.compare import (
    EXACT,
    MIN_ROUNDS_FOR_TEST,
    TESTED,
    CompareResult,
    Comparison,
    Side,
)
from retrain_bench.analysis.growth import AXIS_LABELS, MIN_POINTS, AxisGrowth, Series
from retrain_bench.analysis.metrics import format_number, format_pct, format_values
from retrain_bench.analysis.report import CaseTable, Cell, CostTable, Derived, Report, Row, ServerAgainstLocal
from retrain_bench.platforms import registry
from retrain_bench.platforms.specs import platform_of
from retrain_bench.results.contract import strict
from retrain_bench.results.model import Run

DASH = "-"
LOCAL_NOTE = (
    "These are local-target numbers, not cluster numbers: each platform ran on its own local executor "
    "on one machine, and resources are the launcher's process tree sampled with psutil. The executors:"
)
SERVER_NOTE = (
    "Each orchestrator's own production control plane on this machine (its scheduler, server, workers and"
    " database), one run per round submitted through its public API; resources are sampled over the"
    " services' process trees: platform = every service process, execution = those started for the run."
)
CLUSTER_NOTE = (
    "Cluster numbers: resources from Prometheus over each round's window; every resource row names "
    "its scope (platform: every pod of the platform; execution: the run's own pods) and source."
)
READING = "Mean ± sample standard deviation (n-1) over the ok measured rounds (n)."
READING_RATIO = "Kubeflow / Flyte: ratio of the means (above 1: Kubeflow is higher)."
READING_OVERHEAD = (
    "Over Bare Python: the platform's mean minus bare Python's (and as a percent of bare, and the ratio of the means)."
)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], fmt: str) -> list[str]:
    if fmt == "md":
        escape = [[cell.replace("|", "\\|") for cell in row] for row in (headers, *rows)]
        lines = ["| " + " | ".join(escape[0]) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        return lines + ["| " + " | ".join(row) + " |" for row in escape[1:]]
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def heading(text: str, level: int, fmt: str) -> list[str]:
    if fmt == "md":
        return ["#" * level + " " + text]
    return [text, ("=" if level == 1 else "-") * len(text)]


def code(text: str, fmt: str) -> str:
    return f"`{text}`" if fmt == "md" else text


# --- compare -------------------------------------------------------------------------------------


def side_text(comparison: Comparison, side: Side) -> str:
    if comparison.kind == "benchmark":
        return "present" if side.present else "missing"
    if comparison.kind == "output":
        return format_values(side.values)
    if comparison.kind == "success_rate":
        return "missing" if side.mean is None else f"{format_pct(side.mean)} ({side.ok}/{side.n})"
    if not side.present or side.mean is None:
        return "missing"
    runs = f"{side.runs} runs, " if side.runs > 1 else ""
    return f"{format_number(side.mean)} ± {format_number(side.stddev)} ({runs}n={side.n})"


def change_text(comparison: Comparison) -> str:
    change = comparison.change
    if change is None:
        return DASH
    if comparison.kind == "success_rate":
        return f"{change:+.4g} pp"
    if math.isinf(change):
        return "+inf%" if change > 0 else "-inf%"
    return f"{change:+.1f}%"


def p_text(comparison: Comparison) -> tuple[str, str]:
    if comparison.method in TESTED and comparison.p_worse is not None and comparison.p_holm is not None:
        return f"{comparison.p_worse:.3g}", f"{comparison.p_holm:.3g}"
    if comparison.method == EXACT:
        return "exact", "exact"
    return DASH, DASH


def compare_rows(result: CompareResult) -> list[list[str]]:
    rows = []
    for c in result.comparisons:
        threshold = DASH if c.threshold_pct is None else f"{c.threshold_pct:g}%"
        rows.append(
            [
                c.key.label,
                c.metric,
                side_text(c, c.baseline),
                side_text(c, c.current),
                change_text(c),
                threshold,
                *p_text(c),
                c.verdict,
                c.note,
            ]
        )
    return rows


COMPARE_HEADERS = (
    "Benchmark",
    "Metric",
    "Baseline",
    "Current",
    "Change",
    "Threshold",
    "p (worse)",
    "p (Holm)",
    "Verdict",
    "Note",
)


def result_line(result: CompareResult) -> str:
    counts = []
    for verdict, n in result.counts().items():
        plural = "s" if n != 1 and verdict in ("regression", "improvement") else ""
        counts.append(f"{n} {verdict}{plural}")
    outcome = "FAIL (exit 1)" if result.failed else "ok (exit 0)"
    nothing = "nothing could be compared (no metric has ok rounds on both sides); " if result.nothing_compared else ""
    return f"Result: {nothing}{', '.join(counts)}: {outcome}"


def runs_line(label: str, runs: Sequence[Run], fmt: str) -> str:
    """``Baseline: `a.json` (date, commit …)``; several runs are listed after one another."""
    label = label if len(runs) == 1 else f"{label} ({len(runs)} runs)"
    return f"{label}: " + ", ".join(f"{code(run.path, fmt)} {run.details}" for run in runs)


COMPARE_CSV_HEADERS = (
    "platform",
    "target",
    "case",
    "hash",
    "metric",
    "baseline_n",
    "baseline_mean",
    "baseline_stddev",
    "current_n",
    "current_mean",
    "current_stddev",
    "change",
    "threshold_pct",
    "method",
    "p_worse",
    "p_holm",
    "verdict",
    "fails",
    "note",
)


def compare_csv(result: CompareResult) -> str:
    """One line per comparison at full precision; ``change`` is percent (percentage points for the success rate)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COMPARE_CSV_HEADERS)
    for c in result.comparisons:
        b, a = c.baseline, c.current
        if c.kind == "output":
            b_mean, a_mean = format_values(b.values), format_values(a.values)
        else:
            b_mean, a_mean = _raw(b.mean), _raw(a.mean)
        writer.writerow(
            [c.key.column, c.key.target, c.key.case, c.key.hash, c.metric, _count(b.n), b_mean, _raw(b.stddev),
             _count(a.n), a_mean, _raw(a.stddev), _raw(c.change), _raw(c.threshold_pct), c.method or "",
             _raw(c.p_worse), _raw(c.p_holm), c.verdict, "true" if c.fails else "false", c.note]
        )  # fmt: skip
    return out.getvalue()


def _count(n: int | None) -> str:
    return "" if n is None else str(n)


def render_compare(result: CompareResult, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(result.as_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return compare_csv(result)
    options = result.options
    floor = "" if options.min_success_rate is None else f" or below {options.min_success_rate * 100:g}%"
    gated = sorted(options.gate_metrics)
    informational = "startup_s and the node scope are" + (f" (gating here: {', '.join(gated)})" if gated else "")
    upgrade = []
    if result.versions is not None:
        platform, before, after = result.versions
        upgrade = [f"{platform} {before} → {after}: {result_line(result).removeprefix('Result: ')}", ""]
    lines = [
        *heading("retrain-bench compare", 1, fmt),
        "",
        *upgrade,
        runs_line("Baseline", result.baselines, fmt) + ("  " if fmt == "md" else ""),
        runs_line("Current", result.currents, fmt),
        "",
        (
            "Regression: a change beyond the metric's threshold and its noise floor in the worse direction and, "
            f"with at least {MIN_ROUNDS_FOR_TEST} ok rounds on both sides, a one-sided Welch p ≤ α = {options.alpha:g} "
            f"after Holm correction over the {result.tests} t-test(s) of this comparison; with several runs on a "
            "side the test is over the run means (the spread between runs); with fewer rounds, or zero variance "
            f"on both sides, the threshold and floor alone. {informational} informational: shown, not gating. "
            f"Success rate: any drop{floor} fails. Outputs (accuracies, drift decision, best C) are compared over "
            "the ok rounds; only changes are listed."
        ),
        "",
        *([result.caveat, ""] if result.caveat else []),
        *table(COMPARE_HEADERS, compare_rows(result), fmt),
        "",
    ]
    if result.notes:
        lines += [*(f"- {note}" if fmt == "md" else note for note in result.notes), ""]
    lines.append(result_line(result))
    return "\n".join(lines) + "\n"


# --- report --------------------------------------------------------------------------------------


class Footnotes:
    """Numbered reasons for n/a cells: one number per distinct reason, with the columns it applies to."""

    def __init__(self) -> None:
        self.reasons: dict[str, list[str]] = {}

    def mark(self, reason: str, column: str) -> str:
        columns = self.reasons.setdefault(reason, [])
        if column not in columns:
            columns.append(column)
        return f"n/a [{list(self.reasons).index(reason) + 1}]"

    def lines(self) -> list[str]:
        return [f"- [{i}] {reason} ({', '.join(cols)})" for i, (reason, cols) in enumerate(self.reasons.items(), 1)]


def cell_text(cell: Cell, row: Row, notes: Footnotes) -> str:
    if cell.missing is not None:
        return notes.mark(cell.missing, registry.title(cell.platform))
    if cell.sample is None:
        return f"{format_pct(cell.rate)} ({cell.ok}/{cell.measured})"
    text = f"{format_number(cell.sample.mean)} ± {format_number(cell.sample.stddev)} (n={cell.sample.n}"
    if len(row.scopes) > 1:
        text += f"; {cell.scope}, {cell.source or 'source unknown'}"
    return text + ")"


def derived_text(derived: Derived, notes: Footnotes, column: str, *, ratio: bool) -> str:
    if not derived.applicable:
        return DASH
    if derived.missing is not None or derived.value is None:
        return notes.mark(derived.missing or "not computable", column)
    if ratio:
        return f"{derived.value:.3g}×"
    if derived.pct is None:
        return f"{derived.value:+.4g} (n/a)"
    return f"{derived.value:+.4g} ({derived.pct:+.1f}%, {1 + derived.pct / 100:.3g}×)"


def row_label(row: Row) -> str:
    if not row.spec.resource:
        return row.spec.label
    scopes = row.scopes
    if len(scopes) == 1:
        scope, source = scopes[0]
        return f"{row.spec.label} [{scope} scope, {source or 'source unknown'}]"
    if scopes:
        return f"{row.spec.label} [scope per cell]"
    return f"{row.spec.label} [no value in any scope]"


def ratio_header() -> str:
    """The ratio column's header: the registry's pair, by title (Kubeflow / Flyte)."""
    pair = registry.ratio_pair()
    return " / ".join(registry.title(p) for p in pair) if pair else "ratio"


def overhead_header(platform: str) -> str:
    return f"{registry.title(platform)} over {_reference_title()}"


def report_headers(case: CaseTable) -> list[str]:
    headers = ["Metric", *(f"{registry.title(p)} (Mean ± Std Dev)" for p in case.platforms)]
    if case.has_ratio:
        headers.append(ratio_header())
    return headers + [overhead_header(p) for p in case.overhead_platforms]


def render_report(report: Report, fmt: str) -> str:
    if fmt == "csv":
        return report_csv(report)
    if fmt == "json":
        return dumps({"inputs": [run.path for run in report.inputs], "values": report_values(report)})
    lines = [*heading("retrain-bench report", 1, fmt), "", "Inputs:"]
    lines += [f"- {code(run.path, fmt)} {run.details}" for run in report.inputs]
    lines.append("")
    if "local" in report.targets:
        lines += [bold("Local target.", fmt) + " " + LOCAL_NOTE, *executor_lines(report), ""]
    if "server" in report.targets:
        lines += [bold("Server target.", fmt) + " " + SERVER_NOTE, ""]
    if "cluster" in report.targets:
        lines += [bold("Cluster target.", fmt) + " " + CLUSTER_NOTE, ""]
        lines += [*(f"- {fact}" for fact in report.cluster_facts), *([""] if report.cluster_facts else [])]
    costs = {(c.case, c.target, c.hash): c for c in report.costs}
    for case in report.tables:
        lines += heading(f"{case.case} (target {case.target}, case hash {case.hash})", 2, fmt)
        lines += ["", *case_table(case, fmt), ""]
        cost = costs.get((case.case, case.target, case.hash))
        if cost is not None and report.prices is not None:
            lines += [*cost_table(cost, fmt), "", f"Prices: {report.prices.describe()}.", COST_READING, ""]
    for pair in report.server_against_local:
        lines += heading(f"{pair.case}: server target against local (case hash {pair.hash})", 2, fmt)
        lines += ["", *server_against_local_table(pair, fmt), ""]
    for axis in report.growth:
        lines += heading(f"Growth: {AXIS_LABELS[axis.axis]} (target {axis.target})", 2, fmt)
        lines += ["", *growth_table(axis, fmt), ""]
    return "\n".join(lines)


def executor_lines(report: Report) -> list[str]:
    """One line per platform of the report's local tables: what its local executor is (from the
    registry; a platform not installed here is named without one)."""
    present = {platform_of(p) for t in report.tables if t.target == "local" for p in t.platforms}
    known = registry.platforms()
    return [
        f"- {registry.title(name)}: {known[name].local_executor if name in known else 'not installed here'}"
        for name in registry.in_order(present)
    ]


COST_READING = (
    "Usage = $/vCPU-hour × cpu_seconds / 3600 + $/GiB-hour × memory_avg_gib × window_s / 3600, per measured "
    "scope. Allocation (clusters) = each pod's requests × how long it ran, summed over the run's pods, + the "
    "control plane's requests × the round's total_s. Mean ± sample standard deviation over the ok measured rounds."
)


def cost_table(cost: CostTable, fmt: str) -> list[str]:
    notes = Footnotes()
    headers = ["Cost per run", *(f"{registry.title(p)} (Mean ± Std Dev)" for p in cost.platforms)]
    body = []
    for row in cost.rows:
        cells = []
        for cell in row.cells:
            if cell.missing is not None or cell.sample is None:
                cells.append(notes.mark(cell.missing or "no value", registry.title(cell.platform)))
            else:
                cells.append(
                    f"{format_number(cell.sample.mean)} ± {format_number(cell.sample.stddev)} (n={cell.sample.n})"
                )
        body.append([row.label, *cells])
    return [*table(headers, body, fmt), *notes.lines()]


GROWTH_HEADERS = ("Platform", "metric", "a", "b", "k ± se", "points")


def _reference_title() -> str:
    """The title of the platform every other one is compared with (Bare Python)."""
    return registry.title(registry.reference() or "the reference")


def growth_platform(series: Series) -> str:
    name = registry.title(series.platform)
    return f"{name} − {_reference_title()}" if series.overhead else name


def growth_metric(series: Series) -> str:
    return series.metric if series.scope is None else f"{series.metric} [{series.scope}]"


def growth_row(series: Series) -> list[str]:
    fit = series.fit
    points = f"{fit.points} x, {fit.values} values"
    if fit.missing is not None or fit.k is None:
        return [growth_platform(series), growth_metric(series), DASH, DASH, fit.missing or "not fitted", points]
    return [
        growth_platform(series),
        growth_metric(series),
        format_number(fit.a),
        format_number(fit.b),
        # Exponents live in 0..4: three decimals show an se worth reading and hide round-off of exact fits.
        f"{fit.k:.3f} ± {fit.se_k:.3f}",
        points,
    ]


def growth_table(axis: AxisGrowth, fmt: str) -> list[str]:
    where = ", ".join(f"{code(case, fmt)} x={x:g}" for case, x in axis.cases)
    reading = (
        f"Fitted t = a + b·x^k (scipy curve_fit, a ≥ 0, b ≥ 0, 0 ≤ k ≤ 4) on every ok measured round, not on "
        "the means; se = standard error from the fit's covariance (scaled by the residual variance). "
        f"Rows \"X − {_reference_title()}\": the same fit on the platform's value minus bare's in the round of "
        "the same index at each x, so a fixed start-up cost sits in a, not in k. "
        f"Fewer than {MIN_POINTS} distinct x: not fitted. Resource metrics read the widest scope measured."
    )
    return [f"Points: {where}.", "", *table(GROWTH_HEADERS, [growth_row(s) for s in axis.series], fmt), "", reading]


def case_table(case: CaseTable, fmt: str) -> list[str]:
    notes = Footnotes()
    body = []
    for row in case.rows:
        cells = [row_label(row), *(cell_text(c, row, notes) for c in row.cells)]
        if row.ratio is not None:
            cells.append(derived_text(row.ratio, notes, ratio_header(), ratio=True))
        cells += [
            derived_text(d, notes, overhead_header(p), ratio=False)
            for d, p in zip(row.overheads, case.overhead_platforms, strict=True)
        ]
        body.append(cells)
    reading = [
        READING,
        *([READING_RATIO] if case.has_ratio else []),
        *([READING_OVERHEAD] if case.overhead_platforms else []),
    ]
    return [*table(report_headers(case), body, fmt), "", " ".join(reading), *notes.lines()]


SERVER_READING = (
    "Each platform through its own control plane (scheduler, server, workers, database: --target=server) beside"
    " its SDK's local executor (--target=local). Server / local is the ratio of the means: what running as"
    " deployed adds. Resources are each target's total: the control plane's platform scope against the"
    " launcher's process tree."
)


def server_against_local_table(pair: ServerAgainstLocal, fmt: str) -> list[str]:
    notes = Footnotes()
    headers = ["Metric"]
    for platform in pair.platforms:
        title = registry.title(platform)
        headers += [f"{title} local", f"{title} server", f"{title} server / local"]
    body = []
    for spec, pairs in pair.rows:
        label = spec.label
        scopes = {(p.local.scope, p.server.scope) for p in pairs if p.local.scope and p.server.scope}
        if len(scopes) == 1:
            here, there = scopes.pop()
            label += f" [{here} / {there}]"
        cells = [label]
        for target_pair in pairs:
            title = registry.title(target_pair.platform)
            row = Row(spec, (target_pair.local,), None, ())
            cells += [
                cell_text(target_pair.local, row, notes),
                cell_text(target_pair.server, Row(spec, (target_pair.server,), None, ()), notes),
                derived_text(target_pair.ratio, notes, f"{title} server / local", ratio=True),
            ]
        body.append(cells)
    return [*table(headers, body, fmt), "", SERVER_READING, *notes.lines()]


def bold(text: str, fmt: str) -> str:
    return f"**{text}**" if fmt == "md" else text


CSV_HEADERS = (
    "case",
    "target",
    "hash",
    "metric",
    "key",
    "platform",
    "scope",
    "source",
    "n",
    "mean",
    "stddev",
    "missing",
)


def report_values(report: Report) -> list[dict[str, object]]:
    """Long format, one value per case × row × platform, numbers at full precision (CSV and JSON)."""
    found: list[dict[str, object]] = []
    for case in report.tables:
        for row in case.rows:
            for cell in row.cells:
                if cell.sample is not None:
                    n, mean, std = cell.sample.n, cell.sample.mean, cell.sample.stddev
                else:
                    n, mean, std = cell.measured, cell.rate, None
                count = n if cell.missing is None else None
                values = [case.case, case.target, case.hash, row.spec.label, cell.key or row.spec.name,
                          cell.platform, cell.scope, cell.source, count, mean, std, cell.missing]  # fmt: skip
                found.append(dict(zip(CSV_HEADERS, values, strict=True)))
    return found


def report_csv(report: Report) -> str:
    """``report_values`` as CSV: an empty cell for what is absent."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADERS)
    for value in report_values(report):
        writer.writerow(_raw(v) if isinstance(v, float) else "" if v is None else v for v in value.values())
    return out.getvalue()


def _raw(value: float | None) -> str:
    return "" if value is None else repr(value)


def dumps(value: object) -> str:
    return json.dumps(strict(value), indent=2, ensure_ascii=False) + "\n"
