"""The study's table at the end of a run, in pytest's terminal summary.

Per case, the platforms side by side with the study's row names (mean ± sample std dev over the
ok measured rounds, as ``report`` prints them), one line saying what the target's numbers are,
and where the JSON is with the command that renders it. Sized for a 100-column CI log: when the
platforms do not fit side by side they continue in a second block of the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from retrain_bench.analysis.report import build_row, rows_for
from retrain_bench.output.platform_style import platform_order, platform_title
from retrain_bench.output.render import Footnotes, cell_text, table
from retrain_bench.results.model import Benchmark

if TYPE_CHECKING:
    from retrain_bench.results.records import BenchmarkRecord

WIDTH = 100
CAVEATS = {
    "local": "Local target: each SDK's local executor on this machine, not cluster numbers (docs/methodology.md)",
    "cluster": "Cluster target: one execution per round as deployed, resources from Prometheus (docs/cluster.md)",
    "server": (
        "Server target: one run per round through each orchestrator's own control plane on this machine;"
        " platform = every service process incl. the database (docs/platforms.md)"
    ),
}


def summary_lines(records: Iterable[BenchmarkRecord], json_path: str | None, *, width: int = WIDTH) -> list[str]:
    """The table for these benchmarks' records; empty without records."""
    by_case: dict[tuple[str, str, str], dict[str, Benchmark]] = {}
    for record in records:
        benchmark = Benchmark.of(record.to_json())
        key = benchmark.key
        by_case.setdefault((key.case, key.target, key.hash), {})[key.column] = benchmark
    if not by_case:
        return []
    lines = ["retrain-bench: the study's table, mean ± std dev over the ok measured rounds (n)"]
    for (case, target, hash_), found in by_case.items():
        notes = Footnotes()
        columns = platform_order(found)
        rows = [build_row(spec, columns, found, target) for spec in rows_for(found.values())]
        cells = [[row.spec.label, *(cell_text(c, row, notes) for c in row.cells)] for row in rows]
        lines += ["", f"{case} ({target}, case hash {hash_})"]
        for chunk in _fitting(cells, [platform_title(p) for p in columns], width):
            lines += chunk
        lines += [line.removeprefix("- ") for line in notes.lines()]
    targets = list(dict.fromkeys(target for _, target, _ in by_case))
    lines += ["", *(CAVEATS.get(t, f"{t} target") for t in targets)]
    if json_path is None:
        lines.append("JSON: not written; add --benchmark-json=run.json to keep these numbers")
    else:
        report = f"python -m retrain_bench report {json_path} --out-dir report/"
        lines += [f"JSON: {json_path}", f"Tables and charts: {report}"]
    return lines


def _fitting(cells: Sequence[Sequence[str]], titles: Sequence[str], width: int) -> list[list[str]]:
    """The rows as text tables, as many platform columns per table as fit in ``width``."""
    label = max(len(row[0]) for row in cells)
    blocks: list[list[int]] = [[]]
    used = label
    for index, title in enumerate(titles):
        column = 2 + max(len(title), *(len(row[index + 1]) for row in cells))
        if blocks[-1] and used + column > width:
            blocks.append([])
            used = label
        blocks[-1].append(index)
        used += column
    return [
        table(["", *(titles[i] for i in block)], [[row[0], *(row[i + 1] for i in block)] for row in cells], "text")
        for block in blocks
    ]


def add_summary_option(addoption: Any) -> None:
    addoption(
        "--no-summary-table",
        action="store_true",
        help="do not print the study's table (time, memory, CPU, success rate per platform) at the end of the run",
    )


def write_summary(reporter: Any, config: Any) -> None:
    """At the end of the run (on xdist's controller, which holds every worker's benchmarks)."""
    if config.getoption("no_summary_table") or hasattr(config, "workerinput"):
        return
    from retrain_bench.pytest_plugin.benchmark_api import benchmarks
    from retrain_bench.results.records import BenchmarkRecord

    metas = benchmarks(config)
    # pytest-benchmark (and xdist's shipping) carries each record as its JSON: read back as the harness built it
    found = [m.extra_info["retrain_bench"] for m in metas if "retrain_bench" in m.extra_info]
    records = [BenchmarkRecord.from_json(record) for record in found]
    json_path = config.getoption("benchmark_json", None)
    lines = summary_lines(records, None if json_path is None else str(json_path))
    if lines:
        reporter.write_sep("-", "retrain-bench")
        for line in lines:
            reporter.write_line(line)
