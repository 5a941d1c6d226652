"""Two SDK versions inside one run: ``compare --versions``, the report's columns, and the benchmark run.

The golden run is ``tests/data/compare-versions.json`` (written by ``tests/golden.py``, where its
figures are worked out by hand). The run tests use the session's real flytekit 1.15.4 environment.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from retrain_bench.cli.main import main
from retrain_bench.harness.local import run_local_round
from retrain_bench.platforms.definition import Environment
from retrain_bench.workload.cases import CASES
from tests.envs_fixtures import Built
from tests.golden import DATA
from tests.helpers import BenchRun

VERSIONS = "compare-versions.json"
FLYTE = "flyte/smoke (local, 66c320791410)"


@pytest.fixture
def in_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths in the headers, and no pyproject.toml: the default thresholds.
    monkeypatch.chdir(DATA)


def compare(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["compare", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(out: str) -> dict[str, str]:
    return {line.split(" | ")[1]: line for line in out.splitlines() if line.startswith(f"| {FLYTE} | ")}


@pytest.mark.usefixtures("in_data_dir")
def test_an_upgrade_inside_one_run_reads_like_two_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = compare(capsys, VERSIONS, "--versions", "flyte@1.15.4,flyte@1.16.31")
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[2] == (
        "flyte 1.15.4 → 1.16.31: 2 regressions, 0 missing, 0 output changed, 1 improvement, 7 unchanged: FAIL (exit 1)"
    )
    assert "Baseline: `compare-versions.json [flyte@1.15.4]`" in out
    found = rows(out)
    # 2.0 → 2.4 s in all five rounds: +20 %, zero variance on both sides, beyond the 10 % of times.
    assert found["total_s"] == (
        f"| {FLYTE} | total_s | 2 ± 0 (n=5) | 2.4 ± 0 (n=5) | +20.0% | 10% | exact | exact | regression "
        "| zero variance on both sides: exact |"
    )
    # 1.0 → 1.2 CPU-seconds: +20 %, beyond the 15 % of average figures.
    assert (
        "| 1 ± 0 (n=5) | 1.2 ± 0 (n=5) | +20.0% | 15% | exact | exact | regression |"
        in found["resources.process_tree.cpu_seconds"]
    )
    # 0.30 → 0.36 GiB peak: +20 %, within the 25 % of peaks.
    assert "| +20.0% | 25% | exact | exact | unchanged |" in found["resources.process_tree.memory_peak_gib"]
    assert "| 5 ± 0 (n=5) | 4 ± 0 (n=5) | -20.0% | 10% | exact | exact | improvement |" in found["startup_s"]
    # bare/smoke is in the run but neither spec: not compared, not reported missing.
    assert "bare/smoke" not in out


@pytest.mark.usefixtures("in_data_dir")
def test_the_other_way_round_the_verdicts_turn(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = compare(capsys, VERSIONS, "--versions", "flyte@1.16.31,flyte@1.15.4", "--format", "json")
    result = json.loads(out)
    # 2.4 → 2.0 and 1.2 → 1.0: −16.7 %, beyond 10 % and 15 %: improvements; startup 4 → 5: +25 %, beyond
    # its 10 % and 0.02 s floor, would regress, but startup_s is informational (docs/comparison.md) and
    # never fails the build; the peak's −16.7 % stays within 25 %.
    verdicts = {c["metric"]: c["verdict"] for c in result["comparisons"]}
    assert verdicts["total_s"] == verdicts["resources.process_tree.cpu_seconds"] == "improvement"
    assert verdicts["startup_s"] == "informational"
    assert verdicts["resources.process_tree.memory_peak_gib"] == "unchanged"
    assert result["versions"] == {"platform": "flyte", "baseline": "1.16.31", "current": "1.15.4"}
    counts = {"regression": 0, "missing": 0, "output changed": 0, "improvement": 2, "unchanged": 7, "informational": 1}
    assert result["counts"] == counts
    assert code == result["exit_code"] == 0


@pytest.mark.usefixtures("in_data_dir")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--versions", "flyte@1.15.4,bare"],
            "--versions: flyte@1.15.4,bare: give two specs of one platform, e.g. flyte@1.15.4,flyte@1.16.31",
        ),
        (
            ["--versions", "flyte@1.15.4,flyte@1.16.0"],
            "--versions: compare-versions.json has no flyte@1.16.0 benchmark; it has bare, flyte@1.15.4, flyte@1.16.31",
        ),
        (
            ["--versions", "flyte@1.15.4"],
            "--versions: 'flyte@1.15.4': give BASE,CURRENT, e.g. flyte@1.15.4,flyte@1.16.31",
        ),
        (
            ["compare-baseline.json", "--versions", "a,b"],
            "--versions compares two specs inside ONE run: give one file, not 2",
        ),
        # Without --versions one file is the two-run command short of a side (cli/main.py split_compare_files).
        ([], "compare needs at least one baseline run before the 1 current run(s); got 1 file(s)"),
    ],
)
def test_bad_version_comparisons_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = compare(capsys, VERSIONS, *args)
    assert (code, out, err) == (2, "", f"retrain-bench: error: {message}\n")


@pytest.mark.usefixtures("in_data_dir")
def test_two_runs_match_each_spec_with_itself(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = compare(capsys, VERSIONS, VERSIONS, "--format", "json")
    result = json.loads(out)
    compared = {(c["key"]["platform"], c["key"]["version"]) for c in result["comparisons"]}
    assert compared == {("flyte", "1.15.4"), ("flyte", "1.16.31"), ("bare", None)}
    assert code == 0 and result["counts"]["regression"] == 0


@pytest.mark.usefixtures("in_data_dir")
def test_the_report_has_a_column_per_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", VERSIONS, "--format", "md"]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| Metric |"))
    # Flyte's versions in release order after the platform's display rank, bare Python last.
    assert header.startswith(
        "| Metric | Flyte 1.15.4 (Mean ± Std Dev) | Flyte 1.16.31 (Mean ± Std Dev) | Bare Python (Mean ± Std Dev) |"
    )


def test_two_versions_run_interleaved_each_in_its_environment(
    bench_run: BenchRun, flyte_1_15: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETRAIN_BENCH_ENVS", str(flyte_1_15.envs_dir))
    result, document = bench_run.run("--platform=flyte@1.15.4,flyte", "--case=smoke", "--rounds=2", "--warmup=0")
    assert result.ret == 0, result.stdout.str()
    assert document is not None
    by_name = {b["name"]: b["extra_info"]["retrain_bench"] for b in document["benchmarks"]}
    assert sorted(by_name) == ["test_retraining[flyte-smoke]", "test_retraining[flyte@1.15.4-smoke]"]
    old, main_env = by_name["test_retraining[flyte@1.15.4-smoke]"], by_name["test_retraining[flyte-smoke]"]
    assert (old["platform"], old["spec"], old["sdk"]) == (
        "flyte",
        "flyte@1.15.4",
        {"name": "flytekit", "version": "1.15.4"},
    )
    # The main environment's flytekit is the project's pin (constraints.txt), 1.16.31.
    assert (main_env["platform"], main_env["spec"], main_env["sdk"]["version"]) == ("flyte", "flyte", "1.16.31")
    assert old["success_rate"] == main_env["success_rate"] == 1.0
    # Interleaved, the first spec rotating: round 1 starts with flyte@1.15.4, round 2 with flyte.
    order = re.findall(r"\[retrain-bench\] (\S+)/smoke round (\d)/2", result.stdout.str())
    assert order == [("flyte@1.15.4", "1"), ("flyte", "1"), ("flyte", "2"), ("flyte@1.15.4", "2")]
    # What the environment held is in the run level, as the build recorded it; it was reused, not built.
    recorded = document["retrain_bench"]["environments"]
    assert list(recorded) == ["flyte@1.15.4"]
    assert recorded["flyte@1.15.4"]["freeze_hash"] == flyte_1_15.env.freeze_hash
    assert recorded["flyte@1.15.4"]["built"] is False
    assert document["retrain_bench"]["options"]["specs"] == ["flyte@1.15.4", "flyte"]
    # Each spec's rounds log under the spec's name, so two versions' logs never overwrite each other.
    logs = sorted(p.name for p in (bench_run.pytester.path / "logs").glob("*.log"))
    assert logs == ["flyte-smoke-0.log", "flyte-smoke-1.log", "flyte@1.15.4-smoke-0.log", "flyte@1.15.4-smoke-1.log"]
    # The study's table at the end has a column per spec, the main environment's first (registry.in_order).
    lines = result.stdout.lines
    heading = lines.index(next(line for line in lines if line.startswith("smoke (local, case hash ")))
    assert lines[heading + 1].split() == ["Flyte", "Flyte", "1.15.4"]


def test_kfp_below_2_17_is_refused_before_any_round(bench_run: BenchRun) -> None:
    result, document = bench_run.run("--platform=bare,kfp@2.16.1", "--case=smoke", "--rounds=1", "--warmup=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and document is None
    assert [line for line in result.stderr.lines if line] == [
        "ERROR: --platform: kfp@2.16.1 cannot run on the local target: kfp.local before 2.17 lacks dsl.If,"
        " dsl.ParallelFor and dsl.Collected and local.init(enable_caching=...); the first version that has them"
        " is 2.17.0"
    ]
    assert "[retrain-bench]" not in result.stdout.str()


def test_a_failing_build_stops_the_run_before_any_round(
    bench_run: BenchRun, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Offline with an empty uv cache: nothing to install from.
    monkeypatch.setenv("RETRAIN_BENCH_ENVS", str(tmp_path / "envs"))
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    result, document = bench_run.run("--platform=bare,flyte@1.15.4", "--case=smoke", "--rounds=1", "--warmup=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and document is None
    progress, line = [line for line in result.stderr.lines if line]
    assert progress.startswith("[retrain-bench] building the flyte@1.15.4 environment (flytekit==1.15.4) in ")
    assert line.startswith("ERROR: cannot build the flyte@1.15.4 environment: No solution found")
    assert "the network was disabled" in line
    assert "round 1/1" not in result.stdout.str()


def test_a_rounds_launchers_start_the_environment_it_is_given(tmp_path: Path) -> None:
    # The interpreter is a wrapper that notes each start, then runs this Python: if the round
    # ignored its environment (the platform's own, sys.executable) nothing would be noted.
    calls = tmp_path / "calls"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\necho started >> "{calls}"\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    result = run_local_round(
        "bare",
        CASES["smoke"],
        0,
        concurrency=2,
        warmup=False,
        run_timeout=120,
        log=tmp_path / "round.log",
        environment=Environment("bare@test", str(python)),
    )
    assert result.ok, result.error
    assert calls.read_text().splitlines() == ["started", "started"]  # one per launcher of the round
