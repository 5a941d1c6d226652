"""The study's table at the end of a run: a real run's lines against means worked out from its JSON,
and the layout rules (100 columns, -q, the off switch, missing values) on hand-made records."""

from __future__ import annotations

import statistics
from typing import Any

from retrain_bench.analysis.metrics import format_number
from retrain_bench.pytest_plugin.summary import summary_lines
from retrain_bench.results.records import BenchmarkRecord
from tests import golden
from tests.helpers import BenchRun, records


def block(lines: list[str]) -> list[str]:
    """The table's lines: from its heading to the report command."""
    start = next(i for i, line in enumerate(lines) if line.startswith("retrain-bench: the study's table"))
    end = next(i for i, line in enumerate(lines) if line.startswith("Tables and charts: "))
    return lines[start : end + 1]


def row(lines: list[str], label: str) -> list[str]:
    """A row's cells: the columns are separated by at least two spaces."""
    (line,) = [line for line in lines if line.startswith(label)]
    return [cell.strip() for cell in line[len(label) :].split("  ") if cell.strip()]


def mean_std(values: list[float], n: int) -> str:
    return f"{format_number(statistics.mean(values))} ± {format_number(statistics.stdev(values))} (n={n})"


def test_the_table_shows_what_the_json_holds(bench_run: BenchRun) -> None:
    result, document = bench_run.run("-q", "--platform=bare", "--case=smoke", "--rounds=3", "--warmup=1")
    assert result.ret == 0 and document is not None
    lines = block(result.outlines)
    assert all(len(line) <= 100 for line in lines[:-2])  # the last two hold pytester's long path
    # The means by hand: the JSON's ok non-warm-up rounds, not its summary.
    measured = [r for r in records(document)["bare-smoke"]["rounds"] if not r["warmup"]]
    assert len(measured) == 3 and all(r["ok"] for r in measured)
    totals = [r["total_s"] for r in measured]
    tune = [r["retrain_tune_s"] for r in measured]
    peaks = [r["resources"]["process_tree"]["memory_peak_gib"] for r in measured]
    cpu = [r["resources"]["process_tree"]["cpu_avg_mcpu"] for r in measured]
    assert row(lines, "Total Pipeline Time (s)") == [mean_std(totals, 3)]
    assert row(lines, "Retraining and Tuning Time (s)") == [mean_std(tune, 3)]
    assert row(lines, "Peak Total Memory (GiB)") == [mean_std(peaks, 3)]
    assert row(lines, "Average Total CPU (mCPU)") == [mean_std(cpu, 3)]
    assert row(lines, "Reliability (Success Rate %)") == ["100% (3/3)"]
    assert lines[1:3] == ["", f"smoke (local, case hash {golden.CASES['smoke'].hash})"]
    assert lines[3].strip() == "Bare Python"  # the column header
    assert any(line.startswith("Local target: ") and "not cluster numbers" in line for line in lines)
    out = bench_run.pytester.path / "out.json"
    assert lines[-2:] == [f"JSON: {out}", f"Tables and charts: python -m retrain_bench report {out} --out-dir report/"]


def test_the_table_can_be_turned_off(bench_run: BenchRun) -> None:
    result, _ = bench_run.run("--platform=bare", "--case=smoke", "--rounds=1", "--warmup=0", "--no-summary-table")
    assert result.ret == 0
    assert not any("the study's table" in line for line in result.outlines)


def local_record(platform: str, totals: list[float | None], case: Any = golden.BASE) -> BenchmarkRecord:
    rounds = golden.rounds(totals, scopes=golden.local(1.0, 0.5, 4.0, 10.0, 1e3))
    return BenchmarkRecord.from_json(golden.record(platform, "local", case, rounds))


def test_platforms_in_registry_order_and_wrapped_to_the_width() -> None:
    # Given bare first, shown Flyte, Kubeflow, Bare Python: the registry's order.
    found = [local_record("bare", [1.0, 3.0]), local_record("kfp", [10.0, 14.0]), local_record("flyte", [2.0, 2.0])]
    lines = summary_lines(found, "run.json", width=70)
    tables = lines[lines.index("base (local, case hash dc1daecf77ee)") + 1 : -4]
    assert len(tables) == 2 * 9 and all(len(line) <= 70 for line in tables)  # 2 blocks of header, rule, 7 rows
    headers = [line.split() for line in lines if line.startswith(" ")]
    # Labels 30 + Flyte 2+14 ("1000 ± 0 (n=2)") + Kubeflow 2+16 ("12 ± 2.828 (n=2)") = 64; Bare Python's 2+15
    # more would be 81 > 70: it continues in a second block.
    assert headers == [["Flyte", "Kubeflow"], ["Bare", "Python"]]
    assert [line for line in lines if line.startswith("Total Pipeline Time (s)")] == [
        "Total Pipeline Time (s)         2 ± 0 (n=2)     12 ± 2.828 (n=2)",  # sqrt(((10-12)² + (14-12)²) / 1) = 2.828
        "Total Pipeline Time (s)         2 ± 1.414 (n=2)",  # bare: mean 2, sqrt(2)
    ]
    assert lines[-1] == "Tables and charts: python -m retrain_bench report run.json --out-dir report/"


def test_missing_values_say_why_and_a_failed_round_counts() -> None:
    rounds = golden.rounds([1.0, None, 3.0], drift=False)
    no_drift = BenchmarkRecord.from_json(golden.record("bare", "local", golden.NO_DRIFT, rounds))
    lines = summary_lines([no_drift], None)
    assert row(lines, "Retraining and Tuning Time (s)") == ["n/a [1]"]
    assert f"[1] {golden.NO_DRIFT_REASON} (Bare Python)" in lines
    assert row(lines, "Reliability (Success Rate %)") == ["66.67% (2/3)"]  # 2 ok of 3 measured
    assert row(lines, "Total Pipeline Time (s)") == ["2 ± 1.414 (n=2)"]  # the ok rounds 1 and 3
    assert lines[-1] == "JSON: not written; add --benchmark-json=run.json to keep these numbers"


def test_no_records_no_table() -> None:
    assert summary_lines([], "run.json") == []
