"""``compare`` on the hand-written golden runs: exact output, exit codes, the statistics worked by hand.

The golden numbers and what they should give are spelled out in tests/golden.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from retrain_bench.analysis.compare import holm
from retrain_bench.cli.main import main
from tests import golden

DATA = Path(__file__).parent / "data"
BASE = "compare-baseline.json"
CURRENT = "compare-current.json"
FLYTE = "flyte/base (local, dc1daecf77ee)"
KFP = "kfp/base (local, dc1daecf77ee)"
BARE = "bare/base (local, dc1daecf77ee)"


@pytest.fixture(autouse=True)
def in_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths in the headers, and no pyproject.toml: the default thresholds.
    monkeypatch.chdir(DATA)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["compare", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(out: str) -> dict[tuple[str, str], str]:
    """Markdown rows by (benchmark, metric)."""
    found = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) == 10 and cells[0] != "Benchmark":
            found[(cells[0], cells[1])] = line
    return found


def write(tmp_path: Path, name: str, document: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def test_holm_on_a_hand_worked_example() -> None:
    # m = 4, sorted: 0.005 × 4 = 0.02, 0.01 × 3 = 0.03, 0.03 × 2 = 0.06, 0.04 × 1 = 0.04 → 0.06 (monotone).
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx((0.03, 0.06, 0.06, 0.02))
    # Capped at 1; a single test is not corrected.
    assert holm([0.5, 0.6]) == (1.0, 1.0)
    assert holm([0.2]) == (0.2,)
    assert holm([]) == ()


def test_golden_rows_worked_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, BASE, CURRENT)[1]
    found = rows(out)
    # 10 → 12 on every round: +20 %, both variances zero, so exact and beyond 10 %.
    assert found[(BARE, "total_s")] == (
        f"| {BARE} | total_s | 10 ± 0 (n=5) | 12 ± 0 (n=5) | +20.0% | 10% | exact | exact | regression "
        "| zero variance on both sides: exact |"
    )
    assert found[(BARE, "resources.process_tree.memory_peak_gib")] == (
        f"| {BARE} | resources.process_tree.memory_peak_gib | 1 ± 0 (n=5) | 1.3 ± 0 (n=5) | +30.0% | 25% | exact "
        "| exact | regression | zero variance on both sides: exact |"
    )
    assert found[(BARE, "resources.process_tree.cpu_avg_mcpu")] == (
        f"| {BARE} | resources.process_tree.cpu_avg_mcpu | 400 ± 0 (n=5) | 300 ± 0 (n=5) | -25.0% | 15% | exact "
        "| exact | improvement | zero variance on both sides: exact |"
    )
    assert found[(BARE, "resources.process_tree.cpu_seconds")].endswith(
        "| 4 ± 0 (n=5) | 3.6 ± 0 (n=5) | -10.0% | 15% | exact | exact | unchanged "
        "| zero variance on both sides: exact |"
    )
    assert found[(KFP, "success_rate")] == (
        f"| {KFP} | success_rate | 100% (5/5) | 80% (4/5) | -20 pp | - | - | - | regression "
        "| dropped below the baseline |"
    )
    assert found[(KFP, "total_s")] == (
        f"| {KFP} | total_s | 20 ± 0 (n=5) | 20 ± 0 (n=4) | +0.0% | 10% | - | - | unchanged "
        "| fewer than 5 ok rounds (5 vs 4): threshold alone |"
    )
    assert found[("bare/tuning (local, ecea38f63cd3)", "benchmark")] == (
        "| bare/tuning (local, ecea38f63cd3) | benchmark | present | missing | - | - | - | - | missing "
        "| not in the current run |"
    )
    assert found[("flyte/tuning (local, ecea38f63cd3)", "best_c")] == (
        "| flyte/tuning (local, ecea38f63cd3) | best_c | 1 | 10 | - | - | - | - | output changed "
        "| the pipeline computed something else |"
    )
    assert out.endswith(
        "Result: 4 regressions, 1 missing, 1 output changed, 1 improvement, 35 unchanged: FAIL (exit 1)\n"
    )


def test_welch_p_values_and_holm_match_scipy(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, BASE, CURRENT, "--format", "json")[1]
    result = json.loads(out)
    by_metric = {(c["key"]["platform"], c["key"]["case"], c["metric"]): c for c in result["comparisons"]}
    total = by_metric[("flyte", "base", "total_s")]
    retrain = by_metric[("flyte", "base", "retrain_tune_s")]
    # Computed here independently, on the numbers written in tests/golden.py.
    p_total = stats.ttest_ind([6, 17, 11, 9, 13], [8, 12, 10, 9, 11], equal_var=False, alternative="greater").pvalue
    p_retrain = stats.ttest_ind(
        [3.6, 3.7, 3.5, 3.6, 3.6], [3.0, 3.1, 2.9, 3.0, 3.0], equal_var=False, alternative="greater"
    ).pvalue
    assert total["p_worse"] == pytest.approx(p_total, rel=1e-12)
    assert retrain["p_worse"] == pytest.approx(p_retrain, rel=1e-12)
    assert 0.28 < p_total < 0.29
    # Two t-tests in this invocation: the smaller p doubles, the larger stays (max of the two steps).
    assert result["tests"] == 2
    assert retrain["p_holm"] == pytest.approx(2 * p_retrain)
    assert total["p_holm"] == pytest.approx(max(2 * p_retrain, p_total))
    assert (total["change"], total["verdict"], retrain["verdict"]) == (pytest.approx(12.0), "unchanged", "regression")
    assert result["exit_code"] == 1
    assert result["counts"] == {
        "regression": 4,
        "missing": 1,
        "output changed": 1,
        "improvement": 1,
        "unchanged": 35,
    }


def two_welch_tests(shift: float, *, second: bool) -> dict[str, Any]:
    """bare/base with total_s and (if ``second``) retrain_tune_s both shifted by ``shift`` over a spread
    of [8, 12, 10, 9, 11]: each one-sided Welch p is the same."""
    spread = [8.0, 12.0, 10.0, 9.0, 11.0]
    totals = [v + shift for v in spread]
    retrain = [v + shift for v in spread] if second else [10.0] * 5
    record = golden.record("bare", "local", golden.BASE, golden.rounds(totals, retrain=retrain))
    return golden.document("local", [record], commit="6" * 40, when="2026-11-06T10:00:00+00:00")


def test_holm_correction_decides_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # +22 % on a spread whose std is 1.581 on both sides: t = 2.2 with 8 degrees of freedom.
    p = stats.ttest_ind([v + 2.2 for v in [8, 12, 10, 9, 11]], [8, 12, 10, 9, 11], equal_var=False,
                        alternative="greater").pvalue  # fmt: skip
    assert 0.025 < p < 0.05 < 2 * p
    # One t-test (retrain_tune_s is 10 on every round of both sides: exact): significant on its own.
    baseline = write(tmp_path, "base-one.json", two_welch_tests(0.0, second=False))
    code, out, _ = run(capsys, baseline, write(tmp_path, "one.json", two_welch_tests(2.2, second=False)))
    assert code == 1
    assert rows(out)[(BARE, "total_s")].endswith(
        f"| +22.0% | 10% | {p:.3g} | {p:.3g} | regression | significant after Holm over 1 t-tests |"
    )
    # Two equally significant t-tests: Holm doubles the smaller p, and neither is significant any more.
    baseline = write(tmp_path, "base-two.json", two_welch_tests(0.0, second=True))
    code, out, _ = run(capsys, baseline, write(tmp_path, "two.json", two_welch_tests(2.2, second=True)))
    assert code == 0
    for metric in ("total_s", "retrain_tune_s"):
        assert rows(out)[(BARE, metric)].endswith(
            f"| +22.0% | 10% | {p:.3g} | {2 * p:.3g} | unchanged "
            "| beyond threshold but not significant (α=0.05, Holm) |"
        )


def test_fewer_than_five_rounds_the_threshold_alone_decides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def two_rounds(totals: list[float]) -> dict[str, Any]:
        record = golden.record("bare", "local", golden.BASE, golden.rounds(totals))
        return golden.document("local", [record], commit="7" * 40, when="2026-11-07T10:00:00+00:00")

    code, out, _ = run(
        capsys, write(tmp_path, "a.json", two_rounds([10, 12])), write(tmp_path, "b.json", two_rounds([12, 14]))
    )
    assert code == 1
    assert rows(out)[(BARE, "total_s")] == (
        f"| {BARE} | total_s | 11 ± 1.414 (n=2) | 13 ± 1.414 (n=2) | +18.2% | 10% | - | - | regression "
        "| fewer than 5 ok rounds (2 vs 2): threshold alone |"
    )


def test_a_run_against_itself_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, BASE, BASE)
    # Issue 26 item 15: clean, but not silently.
    assert code == 0 and err.startswith(f"retrain-bench: warning: {BASE} (current) is the baseline {BASE}: ")
    assert out.endswith(
        "Result: 0 regressions, 0 missing, 0 output changed, 0 improvements, 50 unchanged: ok (exit 0)\n"
    )


def without(name: str, platform: str, case: str) -> dict[str, Any]:
    document = json.loads((DATA / name).read_text())
    document["benchmarks"] = [
        b
        for b in document["benchmarks"]
        if (b["extra_info"]["retrain_bench"]["platform"], b["extra_info"]["retrain_bench"]["case"]["name"])
        != (platform, case)
    ]
    return document


def test_missing_benchmark_fails_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    current = write(tmp_path, "current.json", without(BASE, "bare", "tuning"))
    code, out, _ = run(capsys, BASE, current)
    assert code == 1
    assert out.endswith(
        "Result: 0 regressions, 1 missing, 0 output changed, 0 improvements, 40 unchanged: FAIL (exit 1)\n"
    )
    code, out, _ = run(capsys, BASE, current, "--allow-missing")
    assert code == 0
    assert "| missing | not in the current run; allowed by --allow-missing |" in out
    assert out.endswith(
        "Result: 0 regressions, 1 missing, 0 output changed, 0 improvements, 40 unchanged: ok (exit 0)\n"
    )


def test_a_benchmark_only_in_the_current_run_is_noted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = write(tmp_path, "baseline.json", without(BASE, "bare", "tuning"))
    code, out, _ = run(capsys, baseline, BASE)
    assert code == 0
    assert "- only in the current run, not compared: bare/tuning (local, ecea38f63cd3)\n" in out


def test_missing_metric_gives_the_rounds_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads((DATA / BASE).read_text())
    record = document["benchmarks"][0]["extra_info"]["retrain_bench"]
    assert (record["platform"], record["case"]["name"]) == ("bare", "base")
    for round_ in record["rounds"]:
        round_["resources"] = {}
        round_["missing"]["resources"] = "sampler crashed: psutil.NoSuchProcess"
    current = write(tmp_path, "current.json", document)
    code, out, _ = run(capsys, BASE, current)
    assert code == 1
    assert rows(out)[(BARE, "resources.process_tree.cpu_seconds")] == (
        f"| {BARE} | resources.process_tree.cpu_seconds | 4 ± 0 (n=5) | missing | - | 15% | - | - | missing "
        "| sampler crashed: psutil.NoSuchProcess |"
    )
    assert out.endswith(
        "Result: 0 regressions, 5 missing, 0 output changed, 0 improvements, 45 unchanged: FAIL (exit 1)\n"
    )
    assert run(capsys, BASE, current, "--allow-missing")[0] == 0


def test_output_change_fails_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads((DATA / BASE).read_text())
    for round_ in document["benchmarks"][1]["extra_info"]["retrain_bench"]["rounds"]:
        round_["accuracy"]["final"] = 0.8
    current = write(tmp_path, "current.json", document)
    code, out, _ = run(capsys, BASE, current)
    assert code == 1
    assert rows(out)[(FLYTE, "accuracy.final")] == (
        f"| {FLYTE} | accuracy.final | 0.85 | 0.8 | - | - | - | - | output changed "
        "| the pipeline computed something else |"
    )
    code, out, _ = run(capsys, BASE, current, "--allow-output-change")
    assert code == 0
    assert rows(out)[(FLYTE, "accuracy.final")].endswith("| output changed | allowed by --allow-output-change |")


def test_min_success_rate_is_a_floor_on_top_of_no_drop(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, CURRENT, CURRENT)[0] == 0
    code, out, _ = run(capsys, CURRENT, CURRENT, "--min-success-rate", "0.9")
    assert code == 1
    assert rows(out)[(KFP, "success_rate")] == (
        f"| {KFP} | success_rate | 80% (4/5) | 80% (4/5) | +0 pp | - | - | - | regression "
        "| below --min-success-rate 90% |"
    )
    assert "Success rate: any drop or below 90% fails." in out


def test_thresholds_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, BASE, CURRENT, "--threshold", "total_s=25", "--threshold", "memory_peak_gib=30", "--format", "text"
    )
    assert code == 1
    assert "+20.0%  25%        exact      exact     unchanged" in out
    assert "+30.0%  30%        exact      exact     unchanged" in out


def test_thresholds_from_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.retrain-bench.thresholds]\ntotal_s = 25\n")
    monkeypatch.chdir(tmp_path)
    out = run(capsys, str(DATA / BASE), str(DATA / CURRENT))[1]
    assert rows(out)[(BARE, "total_s")].endswith(
        "| +20.0% | 25% | exact | exact | unchanged | zero variance on both sides: exact |"
    )


def test_differing_machines_and_versions_warn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads((DATA / BASE).read_text())
    document["machine_info"]["node"] = "another-runner"
    document["machine_info"]["cpu"] = {"arch": "ARM_8", "count": 4}
    document["retrain_bench"]["versions"]["flytekit"] = "1.17.0"
    code, _, err = run(capsys, BASE, write(tmp_path, "current.json", document))
    assert code == 0
    assert err == (
        "retrain-bench: warning: machine_info differs (cpu; node bench-runner → another-runner): absolute numbers "
        "from different machines are not comparable\n"
        "retrain-bench: warning: versions differ (flytekit 1.16.31 → 1.17.0): the change may not be the code's\n"
    )


def test_differing_concurrency_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads((DATA / BASE).read_text())
    document["retrain_bench"]["options"]["concurrency"] = 4
    code, _, err = run(capsys, BASE, write(tmp_path, "current.json", document))
    assert code == 0
    # the golden baseline predates --concurrency: it ran one execution per round
    assert err == (
        "retrain-bench: warning: --concurrency differs (1 → 4): above 1 a round's total_s is the makespan of that "
        "many executions at once, so the times measure different things\n"
    )


def other_target(tmp_path: Path) -> str:
    document = copy.deepcopy(json.loads((DATA / CURRENT).read_text()))
    document["retrain_bench"]["target"] = "cluster"
    for benchmark in document["benchmarks"]:
        benchmark["extra_info"]["retrain_bench"]["target"] = "cluster"
    return write(tmp_path, "cluster.json", document)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            lambda tmp: [BASE, "compare-hash-mismatch.json"],
            "flyte/base: case hash differs (baseline dc1daecf77ee, current 9d5db735e6e3): the workload changed, so its "
            "numbers are not comparable; record a new baseline",
        ),
        (
            lambda tmp: [BASE, other_target(tmp)],
            "flyte/base: target differs (baseline local, current cluster): local and cluster numbers are not "
            "comparable",
        ),
        (
            lambda tmp: [BASE, "smoke-run.json"],
            "compare-baseline.json and smoke-run.json have no benchmark in common (platform, target, case and case "
            "hash must all match)",
        ),
        (lambda tmp: [BASE, "absent.json"], "absent.json: cannot read it (No such file or directory)"),
        (
            lambda tmp: [BASE, text_file(tmp, "{oops")],
            "{tmp}/bad.json: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 "
            "(char 1)); pass a file written with --benchmark-json",
        ),
        (
            lambda tmp: [text_file(tmp, '{"machine_info": {}}'), CURRENT],
            "{tmp}/bad.json: not pytest-benchmark JSON (no 'benchmarks'); pass a file written with --benchmark-json",
        ),
        (
            lambda tmp: [BASE, schema_2(tmp)],
            "{tmp}/schema-2.json: written with retrain-bench JSON schema 2; this release reads schema 1: use the "
            "release that wrote it, or re-run the benchmark",
        ),
        (
            lambda tmp: [BASE, CURRENT, "--threshold", "latency=5"],
            "--threshold 'latency=5': unknown metric 'latency'; valid metrics: total_s, retrain_tune_s, queue_s, "
            "startup_s, memory_peak_gib, memory_avg_gib, cpu_seconds, cpu_avg_mcpu, cpu_peak_mcpu (or "
            "resources.<scope>.<figure> for one scope, scope one of process_tree, execution, platform, node)",
        ),
        (
            lambda tmp: [BASE, CURRENT, "--threshold", "total_s=-1"],
            "--threshold 'total_s=-1': -1.0 must be a percentage of at least 0",
        ),
        (lambda tmp: [BASE, CURRENT, "--alpha", "1"], "--alpha: '1' must be strictly between 0 and 1"),
        (lambda tmp: [BASE, CURRENT, "--min-success-rate", "x"], "--min-success-rate: 'x' is not a number"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: Callable[[Path], list[str]], message: str
) -> None:
    code, out, err = run(capsys, *args(tmp_path))
    assert (code, out) == (2, "")
    assert err == f"retrain-bench: error: {message.format(tmp=tmp_path)}\n"


def text_file(tmp_path: Path, text: str) -> str:
    (tmp_path / "bad.json").write_text(text)
    return str(tmp_path / "bad.json")


def schema_2(tmp_path: Path) -> str:
    document = json.loads((DATA / CURRENT).read_text())
    for benchmark in document["benchmarks"]:
        benchmark["extra_info"]["retrain_bench"]["schema"] = 2
    return write(tmp_path, "schema-2.json", document)


def test_a_benchmark_twice_in_one_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads((DATA / BASE).read_text())
    document["benchmarks"].append(document["benchmarks"][0])
    code, _, err = run(capsys, write(tmp_path, "twice.json", document), CURRENT)
    assert code == 2
    assert err == (
        f"retrain-bench: error: bare/base (local, dc1daecf77ee) appears more than once (in {tmp_path / 'twice.json'}); "
        "pass --merge-rounds to pool its rounds\n"
    )


def test_text_format_is_aligned(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, BASE, CURRENT, "--format", "text")[1]
    lines = out.splitlines()
    assert lines[:2] == ["retrain-bench compare", "====================="]
    header = next(i for i, line in enumerate(lines) if line.startswith("Benchmark"))
    assert lines[header + 2].startswith(
        f"{FLYTE}    total_s                                 10 ± 1.581 (n=5)   11.2 ± 4.147 (n=5)   +12.0%  10%  "
    )


def test_beyond_is_strict_and_ignores_float_noise() -> None:
    from retrain_bench.analysis.compare import beyond, change_pct

    assert change_pct(0.3, 0.33) == 10.000000000000009  # binary floating point
    assert not beyond(change_pct(0.3, 0.33), 10.0)
    assert not beyond(change_pct(10.0, 11.0), 10.0)
    assert beyond(change_pct(10.0, 11.01), 10.0)
    assert beyond(change_pct(0.0, 0.5), 1000.0)  # from nothing to something is beyond any threshold
    assert not beyond(change_pct(0.0, 0.0), 0.0)


# --- noise floors, informational metrics, several runs a side (tests/data/gate, worked in tests/golden.py) ---

GATE = DATA / "gate"


def gate_files(*names: str) -> list[str]:
    return [str(GATE / n) for n in names]


def gate_row(out: str, metric: str) -> str:
    return rows(out)[(BARE, metric)]


def test_gate_golden_files_are_what_tests_golden_writes() -> None:
    from retrain_bench.results.contract import validate

    assert sorted(p.name for p in GATE.glob("*.json")) == sorted(golden.GATE_FILES)
    for name in golden.GATE_FILES:
        assert (GATE / name).read_text() == golden.render(name), "regenerate: PYTHONPATH=. python -m tests.golden"
        validate(json.loads((GATE / name).read_text()))


def test_a_change_below_the_noise_floor_is_never_a_regression(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *gate_files("gate-floor-baseline.json", "gate-floor-current.json"))
    # +30 % but 15 ms: under the 20 ms default floor for times.
    assert gate_row(out, "total_s").endswith(
        "| +30.0% | 10% | exact | exact | unchanged | below the noise floor (\\|change\\| 0.015 ≤ 0.02 s) |"
    )
    assert gate_row(out, "queue_s").endswith("| unchanged | below the noise floor (\\|change\\| 0.0001 ≤ 0.02 s) |")
    # Two psutil ticks of CPU are the floor: 5 ms more CPU time is not a regression at +25 %.
    assert gate_row(out, "resources.process_tree.cpu_seconds").endswith(
        "| +25.0% | 15% | exact | exact | unchanged | below the noise floor (\\|change\\| 0.005 ≤ 0.02 CPU-s) |"
    )
    # 30 ms over a 20 ms floor and +60 % over 10 %: the one regression.
    assert gate_row(out, "retrain_tune_s").endswith("| +60.0% | 10% | exact | exact | regression "
                                                    "| zero variance on both sides: exact |")  # fmt: skip
    assert code == 1
    assert out.endswith(
        "Result: 1 regression, 0 missing, 0 output changed, 0 improvements, 8 unchanged, 1 informational: "
        "FAIL (exit 1)\n"
    )


def test_floors_are_configurable_like_thresholds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = gate_files("gate-floor-baseline.json", "gate-floor-current.json")
    # 30 ms is within a 50 ms floor: nothing gating regresses any more.
    code, out, _ = run(capsys, *files, "--floor", "retrain_tune_s=0.05")
    assert code == 0
    assert "| unchanged | below the noise floor (\\|change\\| 0.03 ≤ 0.05 s) |" in gate_row(out, "retrain_tune_s")
    # A 10 ms floor from a config file lets the 15 ms change of total_s count.
    config = tmp_path / "gate.toml"
    config.write_text("[floors]\ntotal_s = 0.01\n")
    code, out, _ = run(capsys, *files, "--config", str(config), "--format", "json")
    by_metric = {c["metric"]: c for c in json.loads(out)["comparisons"]}
    assert (by_metric["total_s"]["verdict"], by_metric["total_s"]["floor"]) == ("regression", 0.01)
    assert by_metric["queue_s"]["floor"] == 0.02  # the default where the file says nothing
    assert code == 1


def test_informational_metrics_are_shown_but_gate_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    files = gate_files("gate-floor-baseline.json", "gate-floor-current.json")
    code, out, _ = run(capsys, *files, "--floor", "retrain_tune_s=0.05", "--format", "json")
    result = json.loads(out)
    startup = next(c for c in result["comparisons"] if c["metric"] == "startup_s")
    # 1 s → 2 s is beyond threshold and floor, but startup_s does not gate by default.
    assert (startup["verdict"], startup["fails"], startup["gating"]) == ("informational", False, False)
    assert (code, result["counts"]["informational"], result["exit_code"]) == (0, 1, 0)
    code, out, _ = run(capsys, *files, "--floor", "retrain_tune_s=0.05", "--gate-metric", "startup_s")
    assert gate_row(out, "startup_s").endswith("| +100.0% | 10% | exact | exact | regression "
                                               "| zero variance on both sides: exact |")  # fmt: skip
    assert code == 1


def test_one_run_a_side_says_the_rounds_were_not_interleaved(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *gate_files("gate-runs-1.json", "gate-runs-4.json"))
    # Tight rounds (sd 0.07) 2.5 s apart: Welch over the rounds calls it a regression...
    assert code == 1
    assert "| +25.0% | 10% |" in gate_row(out, "total_s") and "| regression |" in gate_row(out, "total_s")
    # ...and the output says, once, what that significance is about.
    assert out.count(ONE_RUN) == 1
    code, out, _ = run(capsys, *gate_files("gate-runs-1.json", "gate-runs-4.json"), "--interleaved")
    assert ONE_RUN not in out


ONE_RUN = "One run a side, not interleaved: significance describes the rounds of these two runs only"


def test_several_baseline_runs_test_against_the_spread_between_runs(capsys: pytest.CaptureFixture[str]) -> None:
    files = gate_files("gate-runs-1.json", "gate-runs-2.json", "gate-runs-3.json", "gate-runs-4.json")
    code, out, _ = run(capsys, *files)
    # Run means 10, 11, 12 (mean 11, sd 1) against 12.5: t = 1.5 / √(4/3), df 2, p = 1/2 − t / (2√(2 + t²)).
    t = 1.5 / (4 / 3) ** 0.5
    p = 0.5 - t / (2 * (2 + t * t) ** 0.5)
    assert f"{p:.3g}" == "0.162"
    assert gate_row(out, "total_s") == (
        f"| {BARE} | total_s | 11 ± 1 (3 runs, n=15) | 12.5 ± n/a (n=5) | +13.6% | 10% | 0.162 | 0.162 | unchanged "
        "| beyond threshold but not significant (α=0.05, Holm); between 3 and 1 runs |"
    )
    assert code == 0 and ONE_RUN not in out
    assert "Baseline (3 runs): " in out
    result = json.loads(run(capsys, *files, "--format", "json")[1])
    total = next(c for c in result["comparisons"] if c["metric"] == "total_s")
    assert total["method"] == "between runs" and total["p_worse"] == pytest.approx(p, rel=1e-9)
    assert (result["caveat"], result["tests"], len(result["baselines"])) == (None, 1, 3)


def test_several_current_runs_use_welch_on_the_run_means(capsys: pytest.CaptureFixture[str]) -> None:
    files = gate_files(*(f"gate-runs-{n}.json" for n in (1, 2, 3, 5, 6)))
    code, out, _ = run(capsys, *files, "--current-runs", "2", "--format", "json")
    total = next(c for c in json.loads(out)["comparisons"] if c["metric"] == "total_s")
    # Means [10, 11, 12] vs [14, 15]: t = 3.5 / √(1/3 + 1/4); Welch–Satterthwaite df = (7/12)² / ((1/3)²/2 + (1/4)²).
    t = 3.5 / (1 / 3 + 1 / 4) ** 0.5
    df = (7 / 12) ** 2 / ((1 / 3) ** 2 / 2 + (1 / 4) ** 2)
    assert (round(t, 4), round(df, 3)) == (4.5826, 2.882)
    assert total["p_worse"] == pytest.approx(stats.t.sf(t, df), rel=1e-9)
    assert (total["verdict"], total["current"]["runs"], total["current"]["n"]) == ("regression", 2, 10)
    assert total["current"]["mean"] == pytest.approx(14.5) and total["current"]["stddev"] == pytest.approx(0.5**0.5)
    assert code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gate-runs-1.json"], "compare needs at least one baseline run before the 1 current run(s); got 1 file(s)"),
        (["gate-runs-1.json", "gate-runs-2.json", "--current-runs", "0"], "--current-runs: '0' must be at least 1"),
        (["gate-runs-1.json", "gate-runs-2.json", "--current-runs", "x"], "--current-runs: 'x' is not a whole number"),
        (
            ["gate-runs-1.json", "gate-runs-1.json", "gate-runs-2.json"],
            "gate/gate-runs-1.json is given twice on one side; each run counts once",
        ),
        (
            ["gate-runs-1.json", "gate-runs-2.json", "--floor", "total_s=-1"],
            "--floor 'total_s=-1': -1.0 must be at least 0",
        ),
        (
            ["gate-runs-1.json", "gate-runs-2.json", "--floor", "total_s=5%"],
            "--floor 'total_s=5%': '5%' is not a number in the metric's unit",
        ),
        (
            ["gate-runs-1.json", "gate-runs-2.json", "--gate-metric", "latency"],
            "--gate-metric 'latency': unknown metric 'latency'; valid metrics: total_s, retrain_tune_s, queue_s, "
            "startup_s, memory_peak_gib, memory_avg_gib, cpu_seconds, cpu_avg_mcpu, cpu_peak_mcpu (or "
            "resources.<scope>.<figure> for one scope, scope one of process_tree, execution, platform, node)",
        ),
    ],
)
def test_bad_compare_runs_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, *(f"gate/{a}" if a.endswith(".json") else a for a in args))
    assert (code, out, err) == (2, "", f"retrain-bench: error: {message}\n")


def test_success_rate_change_is_exact_from_the_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """7/10 → 9/10 is +20 pp, 1/3 → 2/3 is +100/3 pp: from the counts, not from the fractions' floats
    ((0.9 − 0.7) × 100 = 20.000000000000018 and (2/3 − 1/3) × 100 = 33.33333333333333)."""
    code, out, _ = run(capsys, "compare-rates-baseline.json", "compare-rates-current.json", "--format", "json")
    assert code == 0
    found = {c["key"]["platform"]: c for c in json.loads(out)["comparisons"] if c["metric"] == "success_rate"}
    assert found["bare"]["change"] == 20.0
    assert found["flyte"]["change"] == 100 / 3  # the nearest float, 33.333333333333336
    assert (found["bare"]["baseline"]["ok"], found["bare"]["current"]["ok"]) == (7, 9)
    assert [found[p]["verdict"] for p in ("bare", "flyte")] == ["improvement", "improvement"]
    table = rows(run(capsys, "compare-rates-baseline.json", "compare-rates-current.json")[1])
    assert "| 70% (7/10) | 90% (9/10) | +20 pp |" in table[(BARE, "success_rate")]
    assert "| 33.33% (1/3) | 66.67% (2/3) | +33.33 pp |" in table[(FLYTE, "success_rate")]


def test_runs_whose_every_round_failed_are_not_ok(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing was measured on either side: a CI gate must not pass it (docs/comparison.md)."""
    code, out, err = run(
        capsys, "compare-all-failed-baseline.json", "compare-all-failed-current.json", "--format", "text"
    )
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[-3].split("  ")[0] == BARE
    assert lines[-3].endswith("regression  no ok round now: nothing measured to compare, on either side")
    assert lines[-1] == (
        "Result: nothing could be compared (no metric has ok rounds on both sides); "
        "1 regression, 0 missing, 0 output changed, 0 improvements, 0 unchanged: FAIL (exit 1)"
    )


def test_a_current_run_that_succeeds_after_a_failed_baseline_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """The baseline never ran: nothing to regress from, the current run is healthy, so exit 0 — but said."""
    code, out, _ = run(capsys, "compare-all-failed-baseline.json", "compare-rates-current.json", "--format", "json")
    result = json.loads(out)
    assert (code, result["nothing_compared"], result["exit_code"]) == (0, True, 0)
    (bare,) = [c for c in result["comparisons"] if c["key"]["platform"] == "bare"]
    assert (bare["metric"], bare["verdict"], bare["change"]) == ("success_rate", "improvement", 90.0)  # 0/5 → 9/10
    assert (
        bare["note"] == "higher than the baseline; the baseline has no ok round, so no metric of it could be compared"
    )


def test_one_run_twice_on_a_side_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A copy among the baseline runs would shrink the spread between runs."""
    copy = tmp_path / "copy.json"
    copy.write_text((DATA / "gate" / "gate-runs-1.json").read_text())
    code, out, err = run(
        capsys, *gate_files("gate-runs-1.json", "gate-runs-2.json"), str(copy), "gate/gate-runs-4.json"
    )
    assert (code, out) == (2, "")
    assert err == (
        f"retrain-bench: error: {copy} and {GATE / 'gate-runs-1.json'} on the baseline side hold the same run "
        "(datetime 2026-11-11T10:00:00+00:00, commit 1111111, node bench-runner); each run counts once\n"
    )
