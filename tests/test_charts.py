"""The report's bar charts: a log axis past a 10x span, the mean on every bar, one colour per platform."""

from __future__ import annotations

from pathlib import Path

from matplotlib.colors import to_hex

from retrain_bench.analysis.report import ROWS, build_report
from retrain_bench.output.charts import chart_figure, draw_charts, needs_log_axis
from retrain_bench.output.platform_style import platform_colour
from retrain_bench.results.model import BenchKey, Benchmark, Run
from tests import golden


def local(platform: str, totals: list[float], peak_gib: float) -> Benchmark:
    scopes = golden.local(peak_gib, peak_gib / 2, 4.0, 10.0, 1000.0)
    record = golden.record(platform, "local", golden.BASE, golden.rounds(totals, scopes=scopes))
    return Benchmark(BenchKey.of(record), record, ("run.json",), {})


# The local target's shape: KFP ~7 s, Flyte ~0.25 s, bare ~0.04 s; memory within 2x.
FOUND = [local("bare", [0.03, 0.05], 0.18), local("kfp", [6.0, 8.0], 0.25), local("flyte", [0.2, 0.3], 0.24)]


def chart(name: str, found: list[Benchmark] = FOUND) -> object:
    report = build_report([Run("run.json", {"benchmarks": []})], found)
    index = next(i for i, spec in enumerate(ROWS) if spec.name == name)
    return chart_figure(ROWS[index], "local", report.tables, [t.rows[index] for t in report.tables])


def test_a_span_over_10x_gets_a_log_axis_and_a_narrow_one_does_not() -> None:
    assert needs_log_axis([0.04, 0.25, 7.0])  # 7 / 0.04 = 175
    assert not needs_log_axis([0.18, 0.24, 0.25])  # 0.25 / 0.18 = 1.4
    assert not needs_log_axis([0.0, 5.0])  # a log axis cannot show 0
    assert chart("total_s").axes[0].get_yscale() == "log"  # type: ignore[attr-defined]
    assert chart("memory_peak_gib").axes[0].get_yscale() == "linear"  # type: ignore[attr-defined]


def test_every_bar_carries_its_mean() -> None:
    axes = chart("total_s").axes[0]  # type: ignore[attr-defined]
    printed = sorted(t.get_text() for t in axes.texts)
    # Means by hand: bare (0.03 + 0.05) / 2 = 0.04, Flyte 0.25, KFP 7.
    assert printed == ["0.04", "0.25", "7"]


def test_a_platform_keeps_its_colour_in_every_chart() -> None:
    def colours(figure: object) -> dict[str, str]:
        axes = figure.axes[0]  # type: ignore[attr-defined]
        return {c.get_label(): to_hex(c.patches[0].get_facecolor()) for c in axes.containers if hasattr(c, "patches")}

    everything = colours(chart("total_s"))
    without_kfp = colours(chart("total_s", [FOUND[0], FOUND[2]]))
    assert everything == {
        "Flyte": platform_colour("flyte"),
        "Kubeflow": platform_colour("kfp"),
        "Bare Python": platform_colour("bare"),
    }
    assert len(set(everything.values())) == 3
    # Without Kubeflow, bare does not move up to Kubeflow's colour.
    assert without_kfp == {"Flyte": everything["Flyte"], "Bare Python": everything["Bare Python"]}


def test_the_charts_are_written(tmp_path: Path) -> None:
    report = build_report([Run("run.json", {"benchmarks": []})], FOUND)
    written = draw_charts(report, tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{spec.name}-local.png" for spec in ROWS)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)
