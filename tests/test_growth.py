"""Growth laws: fits on values that follow known laws, refusals, overhead pairing, and the report's Growth table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retrain_bench.analysis.growth import Fit, build_growth, fit_power
from retrain_bench.cli.main import main
from retrain_bench.results.model import BenchKey, Benchmark
from retrain_bench.workload.cases import case_for
from tests import golden

DATA = Path(__file__).parent / "data"
SWEEP = DATA / "report-sweep.json"
XS = (1.0, 3.0, 10.0, 30.0)


def law(x: float, a: float = 2.0, b: float = 0.5, k: float = 1.5) -> float:
    return a + b * x**k


def test_exact_law_gives_its_parameters_back() -> None:
    # Three rounds at each of x = 1, 3, 10, 30, all exactly on t = 2 + 0.5·x^1.5.
    xs = [x for x in XS for _ in range(3)]
    fit = fit_power(xs, [law(x) for x in xs])
    assert fit.missing is None
    assert fit.a == pytest.approx(2.0, abs=1e-6)
    assert fit.b == pytest.approx(0.5, abs=1e-6)
    assert fit.k == pytest.approx(1.5, abs=1e-6)
    assert (fit.points, fit.values) == (4, 12)
    assert fit.se_k is not None and fit.se_k < 1e-6


def analytic_se_k(xs: list[float], offsets: list[float], a: float, b: float, k: float) -> float:
    """The standard error of k at the exact optimum, worked out independently of curve_fit:
    s² = Σd² / (n − 3) and cov = s² (JᵀJ)⁻¹ with J = [1, x^k, b·x^k·ln x] per value."""
    x = np.asarray(xs)
    jac = np.column_stack([np.ones_like(x), x**k, b * x**k * np.log(x)])
    s2 = float(np.sum(np.square(offsets))) / (len(xs) - 3)
    return float(np.sqrt(np.linalg.inv(jac.T @ jac)[2, 2] * s2))


@pytest.mark.parametrize("d", [0.1, 0.2])
def test_symmetric_offsets_keep_k_and_give_it_an_honest_se(d: float) -> None:
    # At every x the rounds are law − d, law, law + d: the offsets sum to zero at each x, so they are
    # orthogonal to every curve in x and the least-squares optimum is still a = 2, b = 0.5, k = 1.5.
    xs = [x for x in XS for _ in range(3)]
    offsets = [-d, 0.0, d] * 4
    fit = fit_power(xs, [law(x) + o for x, o in zip(xs, offsets, strict=True)])
    assert fit.k is not None and fit.se_k is not None
    assert fit.k == pytest.approx(1.5, abs=1e-6)
    assert fit.se_k > 0
    assert abs(fit.k - 1.5) <= fit.se_k
    # The se is the covariance's: s² (JᵀJ)⁻¹. With d = 0.1: s² = 4 × 2 × 0.01 / 9 = 0.00889.
    assert fit.se_k == pytest.approx(analytic_se_k(xs, offsets, 2.0, 0.5, 1.5), rel=1e-4)


def test_se_grows_with_the_scatter() -> None:
    # Doubling every offset doubles the residuals, leaves J at the same optimum: the se doubles.
    xs = [x for x in XS for _ in range(3)]
    small = fit_power(xs, [law(x) + o for x, o in zip(xs, [-0.1, 0.0, 0.1] * 4, strict=True)])
    large = fit_power(xs, [law(x) + o for x, o in zip(xs, [-0.2, 0.0, 0.2] * 4, strict=True)])
    assert small.se_k is not None and large.se_k is not None
    assert large.se_k == pytest.approx(2 * small.se_k, rel=1e-4)


def test_linear_and_quadratic_laws() -> None:
    xs = [1.0, 2.0, 4.0, 8.0, 16.0]
    assert fit_power(xs, [3 + 0.2 * x for x in xs]).k == pytest.approx(1.0, abs=1e-6)
    assert fit_power(xs, [0.5 + 0.01 * x**2 for x in xs]).k == pytest.approx(2.0, abs=1e-6)
    # No intercept: the bound a ≥ 0 is active and a is exactly 0, not round-off like 1e-25.
    through_zero = fit_power(xs, [0.5 * x**1.5 for x in xs])
    assert through_zero.a == 0.0 and through_zero.k == pytest.approx(1.5, abs=1e-6)


def test_three_points_are_not_fitted() -> None:
    fit = fit_power([1.0, 3.0, 10.0] * 5, [law(x) for x in [1.0, 3.0, 10.0] * 5])
    assert fit == Fit(3, 15, missing="not fitted: 3 points, need 4")


@pytest.mark.parametrize(
    ("ys", "reason"),
    [
        ([7.0] * 4, "not fitted: every value is 7, no growth to take an exponent of"),
        # Falling with x: a ≥ 0, b ≥ 0, k ≥ 0 can only draw it flat.
        ([10.0, 8.0, 6.0, 4.0], "not fitted: no growth with x (b·x^k is flat), so k is undefined"),
        # 1 + x^6 is steeper than the bound k ≤ 4 allows.
        ([1 + x**6 for x in XS], "not fitted: k reached its bound 4"),
    ],
)
def test_degenerate_series_are_not_fitted_with_the_reason(ys: list[float], reason: str) -> None:
    fit = fit_power(list(XS), ys)
    assert (fit.k, fit.missing) == (None, reason)


def entries_of(document: dict) -> list[Benchmark]:
    return [
        Benchmark(BenchKey.of(b["extra_info"]["retrain_bench"]), b["extra_info"]["retrain_bench"], ("run.json",), b)
        for b in document["benchmarks"]
    ]


def scale_record(platform: str, x: int, totals: list[float | None]) -> dict:
    return golden.record(platform, "local", case_for(f"base@scale={x}"), golden.rounds(totals))


def test_overhead_over_bare_pairs_rounds_by_index() -> None:
    # bare = 1 + x² with a different value per round; flyte = bare + 5 + 0.1·x in the same round.
    # The overhead is 5 + 0.1·x exactly in every pair: k = 1, a = 5, b = 0.1, although flyte's own
    # curve 6 + 0.1·x + x² (+ round noise) has no single exponent.
    records = []
    for x in (1, 3, 10, 30):
        bare = [1 + x**2 + r * 0.3 for r in range(3)]
        records.append(scale_record("bare", x, list(bare)))
        records.append(scale_record("flyte", x, [b + 5 + 0.1 * x for b in bare]))
    document = golden.document("local", records, commit="7" * 40, when="2026-11-07T10:00:00+00:00")
    (axis,) = build_growth(entries_of(document))
    overhead = next(s for s in axis.series if s.overhead and s.metric == "total_s")
    assert overhead.platform == "flyte"
    assert overhead.fit.k == pytest.approx(1.0, abs=1e-6)
    assert overhead.fit.a == pytest.approx(5.0, abs=1e-6)
    assert overhead.fit.b == pytest.approx(0.1, abs=1e-6)
    assert len(overhead.points) == 12


def test_a_failed_round_drops_its_pair_only() -> None:
    # flyte's round 1 at x = 10 failed: that pair goes, bare's round 1 there is not paired with anything else.
    records = []
    for x in (1, 3, 10, 30):
        bare = [1.0 + x, 2.0 + x, 3.0 + x]
        flyte: list[float | None] = [b + 5 + 0.1 * x for b in bare]
        if x == 10:
            flyte[1] = None
        records += [scale_record("bare", x, list(bare)), scale_record("flyte", x, flyte)]
    document = golden.document("local", records, commit="7" * 40, when="2026-11-07T10:00:00+00:00")
    (axis,) = build_growth(entries_of(document))
    overhead = next(s for s in axis.series if s.overhead and s.metric == "total_s")
    assert len(overhead.points) == 11
    # At x = 10 only rounds 0 and 2 pair up, each with an overhead of 5 + 0.1 × 10 = 6.
    assert [d for x, d in overhead.points if x == 10.0] == [pytest.approx(6.0), pytest.approx(6.0)]
    assert overhead.fit.k == pytest.approx(1.0, abs=1e-6)


def test_plain_base_is_x_one_only_without_its_own_point() -> None:
    document = json.loads(SWEEP.read_text())
    (scale, fanout) = build_growth(entries_of(document))
    assert scale.cases == (("base", 1.0), ("base@scale=3", 3.0), ("base@scale=10", 10.0), ("base@scale=30", 30.0))
    assert fanout.cases == (("base", 1.0), ("base@fanout=2", 2.0), ("base@fanout=4", 4.0))
    # With an explicit base@scale=1 next to plain base, the sweep's own point is used.
    extra = golden.record("bare", "local", case_for("base@scale=1"), golden.rounds([1.1] * 3))
    document["benchmarks"].append(golden.benchmark(extra))
    scale = build_growth(entries_of(document))[0]
    assert ("base@scale=1", 1.0) in scale.cases
    bare_points = next(s for s in scale.series if s.platform == "bare" and s.metric == "total_s").points
    assert [x for x, _ in bare_points].count(1.0) == 3


def test_a_run_without_sweeps_has_no_growth() -> None:
    document = json.loads((DATA / "report-local.json").read_text())
    assert build_growth(entries_of(document)) == ()


def test_golden_sweep_file_is_up_to_date() -> None:
    assert SWEEP.read_text() == golden.render("report-sweep.json")


def test_report_growth_table_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["report", str(SWEEP), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 0
    section = captured.out.split("## Growth: rows (× base rows) (target local)\n\n")[1].split("\n\n## ")[0]
    lines = section.splitlines()
    assert lines[0] == "Points: `base` x=1, `base@scale=3` x=3, `base@scale=10` x=10, `base@scale=30` x=30."
    assert lines[2:4] == ["| Platform | metric | a | b | k ± se | points |", "|---|---|---|---|---|---|"]

    def flat(platform: str, metric: str, value: float) -> str:
        reason = f"not fitted: every value is {value:g}, no growth to take an exponent of"
        return f"| {platform} | {metric} | - | - | {reason} | 4 x, 12 values |"

    tree = "[process_tree]"
    # Laws from tests/golden.py: bare 1 + 0.1·x^1.5, flyte 6 + 0.1·x^1.5, kfp 2 + 0.5·x^1.5 ± 0.1;
    # cpu_seconds is half of total_s (a and b halve). kfp's se: the covariance at the exact optimum,
    # checked against s² (JᵀJ)⁻¹ in test_symmetric_offsets_keep_k_and_give_it_an_honest_se.
    se_total = analytic_se_k([x for x in XS for _ in range(3)], [-0.1, 0.0, 0.1] * 4, 2.0, 0.5, 1.5)
    se_overhead = analytic_se_k([x for x in XS for _ in range(3)], [-0.1, 0.0, 0.1] * 4, 1.0, 0.4, 1.5)
    assert f"{se_total:.3f}" == "0.004" and f"{se_overhead:.3f}" == "0.005"
    assert lines[4:] == [
        "| Flyte | total_s | 6 | 0.1 | 1.500 ± 0.000 | 4 x, 12 values |",
        "| Kubeflow | total_s | 2 | 0.5 | 1.500 ± 0.004 | 4 x, 12 values |",
        "| Bare Python | total_s | 1 | 0.1 | 1.500 ± 0.000 | 4 x, 12 values |",
        *(flat(p, "retrain_tune_s", 2) for p in PLATFORMS),
        *(flat(p, f"memory_peak_gib {tree}", 1) for p in PLATFORMS),
        *(flat(p, f"memory_avg_gib {tree}", 0.5) for p in PLATFORMS),
        "| Flyte | cpu_seconds [process_tree] | 3 | 0.05 | 1.500 ± 0.000 | 4 x, 12 values |",
        "| Kubeflow | cpu_seconds [process_tree] | 1 | 0.25 | 1.500 ± 0.004 | 4 x, 12 values |",
        "| Bare Python | cpu_seconds [process_tree] | 0.5 | 0.05 | 1.500 ± 0.000 | 4 x, 12 values |",
        # flyte = bare + 5: a constant overhead has no exponent, it is not "scaling better".
        flat("Flyte − Bare Python", "total_s", 5),
        "| Kubeflow − Bare Python | total_s | 1 | 0.4 | 1.500 ± 0.005 | 4 x, 12 values |",
        *(flat(f"{p} − Bare Python", "retrain_tune_s", 0) for p in PAIRS),
        *(flat(f"{p} − Bare Python", f"memory_peak_gib {tree}", 0) for p in PAIRS),
        *(flat(f"{p} − Bare Python", f"memory_avg_gib {tree}", 0) for p in PAIRS),
        flat("Flyte − Bare Python", f"cpu_seconds {tree}", 2.5),
        "| Kubeflow − Bare Python | cpu_seconds [process_tree] | 0.5 | 0.2 | 1.500 ± 0.005 | 4 x, 12 values |",
        "",
        lines[-1],
    ]  # fmt: skip
    fanout = captured.out.split("## Growth: fan-out (C values) (target local)\n\n")[1].splitlines()
    assert fanout[4] == "| Flyte | total_s | - | - | not fitted: 3 points, need 4 | 3 x, 9 values |"
    assert all("not fitted: 3 points, need 4" in line for line in fanout[4:29])
    # 7 study charts + 5 growth charts per axis
    growth = sorted(p.name for p in (tmp_path / "out").glob("growth-*.png"))
    assert growth == sorted(
        f"growth-{axis}-{metric}-local.png"
        for axis in ("scale", "fanout")
        for metric in ("total_s", "retrain_tune_s", "memory_peak_gib", "memory_avg_gib", "cpu_seconds")
    )
    for name in growth:
        with Image.open(tmp_path / "out" / name) as image:
            assert image.format == "PNG" and image.size == (600, 400)
    assert captured.err == f"retrain-bench: wrote the report and 17 charts to {tmp_path / 'out'}\n"


PLATFORMS = ("Flyte", "Kubeflow", "Bare Python")
PAIRS = ("Flyte", "Kubeflow")
