"""The plugin end to end: real launcher processes, real pytest-benchmark JSON (bare platform and
the smoke case unless a test needs more), run in a fresh pytest process through pytester."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from retrain_bench.results.contract import validate
from retrain_bench.workload.cases import CASES
from tests.helpers import BenchRun, records, repo_pythonpath
from tests.inline_run import InlineBenchRun


def leftover_processes(tmp: Path) -> list[psutil.Process]:
    """Processes still running with a TMPDIR under ``tmp``: what a round left behind."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("TMPDIR", "").startswith(str(tmp)):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_records_relate_to_the_rounds_they_summarise(bench_run: BenchRun) -> None:
    result, document = bench_run.run("--platform=bare", "--case=smoke", "--rounds=3", "--warmup=1")
    assert result.ret == 0
    assert document is not None
    (bench,) = document["benchmarks"]
    record = bench["extra_info"]["retrain_bench"]
    assert record["case"]["hash"] == CASES["smoke"].hash
    assert [r["warmup"] for r in record["rounds"]] == [True, False, False, False]
    measured = [r for r in record["rounds"] if not r["warmup"]]
    assert record["success_rate"] == sum(r["ok"] for r in measured) / len(measured) == 1.0
    totals = [r["total_s"] for r in measured]
    assert record["summary"]["total_s"]["n"] == 3
    assert record["summary"]["total_s"]["median"] == statistics.median(totals)
    assert record["summary"]["total_s"]["stddev"] == pytest.approx(statistics.stdev(totals))
    # pytest-benchmark's own stats are the measured rounds, replayed exactly.
    assert bench["stats"]["rounds"] == 3
    assert bench["stats"]["median"] == pytest.approx(statistics.median(totals), rel=1e-9)
    assert bench["stats"]["min"] == pytest.approx(min(totals), rel=1e-9)
    for r in measured:
        assert r["accuracy"]["initial"] - r["accuracy"]["drifted"] >= 0.15
        assert r["best_c"] in CASES["smoke"].grid
        assert r["tasks"]["counts"] == {"make_data": 1, "train": 1, "detect_drift": 1, "tune": 2, "select_best": 1}
        assert 0 <= r["queue_s"] < r["total_s"]
        assert 0 < r["retrain_tune_s"] < r["total_s"]
    for r in measured:
        tree = r["resources"]["process_tree"]
        assert tree["source"] == "psutil" and tree["samples"] >= 2
        assert tree["cpu_avg_mcpu"] == pytest.approx(1000 * tree["cpu_seconds"] / tree["window_s"])
        assert tree["memory_peak_gib"] >= tree["memory_avg_gib"] > 0
        assert tree["details"]["memory_rss_peak_gib"] >= tree["memory_peak_gib"]  # PSS never exceeds RSS
        # That the sampler brackets go -> result is tests/test_sampler_bracket.py's, on a clock that only
        # moves with events: |window_s - total_s| < 0.2 s here failed whenever load delayed a sample.
        assert tree["window_s"] > 0
        # Each round's usage cost at the default (Fargate list) prices, from its own figures.
        usage = 0.04048 * tree["cpu_seconds"] / 3600 + 0.004445 * tree["memory_avg_gib"] * tree["window_s"] / 3600
        assert r["cost"] == {"usage": {"process_tree_usd": pytest.approx(usage)}, "allocation_usd": None}
    cpu = [r["resources"]["process_tree"]["cpu_seconds"] for r in measured]
    assert record["summary"]["resources.process_tree.cpu_seconds"]["median"] == statistics.median(cpu)
    assert "resources" not in measured[0]["missing"]
    assert document["retrain_bench"]["versions"]["pytest-benchmark"] == bench_run_version("pytest-benchmark")
    # One progress line per round, warm-up included, even with capture on.
    lines = [line for line in result.outlines if line.startswith("[retrain-bench] bare/smoke")]
    assert len(lines) == 4 and all(line.endswith(" ok") for line in lines)


def bench_run_version(name: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(name)


def test_failing_round_is_recorded_and_the_others_still_run(bench_run: BenchRun) -> None:
    bench_run.inject_fault(nth_call=2)  # the second of three rounds
    result, document = bench_run.run("--platform=bare", "--case=smoke", "--rounds=3", "--warmup=0")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*bare/smoke: success rate 67% is below --min-success-rate 100%*injected fault*"])
    assert document is not None
    record = records(document)["bare-smoke"]
    assert [r["ok"] for r in record["rounds"]] == [True, False, True]
    failed = record["rounds"][1]
    assert "RuntimeError: injected fault in make_data call 2" in failed["error"]
    assert "last lines of bare-smoke-1.log" in failed["error"]
    assert failed["accuracy"] == {"initial": None, "drifted": None, "final": None}
    assert failed["missing"]["accuracy.final"] == "round failed"
    assert record["success_rate"] == pytest.approx(2 / 3)
    assert record["summary"]["total_s"]["n"] == 2
    ok_totals = [r["total_s"] for r in record["rounds"] if r["ok"]]
    assert record["summary"]["total_s"]["median"] == statistics.median(ok_totals)
    assert document["benchmarks"][0]["stats"]["rounds"] == 2


def test_sampler_off_leaves_resources_missing_with_a_reason(bench_run: BenchRun) -> None:
    result, document = bench_run.run("--platform=bare", "--case=smoke", "--rounds=1", "--warmup=0", "--sample-hz=0")
    assert result.ret == 0 and document is not None
    (round_,) = records(document)["bare-smoke"]["rounds"]
    assert round_["resources"] == {}
    assert round_["missing"]["resources"].startswith("not measured")
    assert not any(key.startswith("resources.") for key in records(document)["bare-smoke"]["summary"])


def test_min_success_rate_lets_a_partly_failing_benchmark_pass(bench_run: BenchRun) -> None:
    bench_run.inject_fault(nth_call=1)
    result, document = bench_run.run(
        "--platform=bare", "--case=smoke", "--rounds=2", "--warmup=0", "--min-success-rate=0.5"
    )
    assert result.ret == 0
    assert document is not None
    assert records(document)["bare-smoke"]["success_rate"] == 0.5


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "--platform=nope",
            "--platform: unknown 'nope'; choose from flyte, flyte2, kfp, bare, airflow, prefect, dagster",
        ),
        (
            "--case=base,huge",
            "--case: unknown 'huge'; choose from base, scaling, tuning, no_drift, smoke, covariate, "
            "covariate_data_drift, relabel, relabel_data_drift, scheduled",
        ),
        ("--rounds=0", "--rounds: '0' must be at least 1"),
        ("--warmup=x", "--warmup: 'x' is not an integer"),
        ("--min-success-rate=1.5", "--min-success-rate: '1.5' must be between 0 and 1"),
        ("--run-timeout=-3", "--run-timeout: '-3' must be at least 0.001"),
        ("--scale=1,0", "--scale: '0' not a positive integer; e.g. --scale=1,3,10"),
        ("--fanout=x", "--fanout: 'x' not a positive integer; e.g. --fanout=1,3,10"),
        ("--sample-hz=-1", "--sample-hz: '-1' must be between 0 and 1000"),
        ("--price-gib-hour=-2", "--price-gib-hour: '-2' must be a finite number ≥ 0 (dollars)"),
        ("--target=mars", "--target: unknown 'mars'; choose from local, cluster, server"),
        ("--target=cluster --kubeconfig=/nonexistent", "--kubeconfig: /nonexistent is not a file"),
    ],
)
def test_bad_options_are_usage_errors(inline_bench: InlineBenchRun, option: str, message: str) -> None:
    result, document = inline_bench.run(*option.split())
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str()
    assert document is None


def test_sweep_options_generate_the_cases(inline_bench: InlineBenchRun) -> None:
    result, _ = inline_bench.run("--platform=bare", "--scale=1,10", "--fanout=25", "--collect-only", "-q")
    assert result.ret == 0
    ids = [line.split("::")[1] for line in result.outlines if "::" in line]
    assert ids == [
        "test_retraining[bare-base@scale=1]",
        "test_retraining[bare-base@scale=10]",
        "test_retraining[bare-base@fanout=25]",
    ]
    result, _ = inline_bench.run("--platform=bare", "--case=smoke", "--scale=3", "--collect-only", "-q")
    assert [line.split("::")[1] for line in result.outlines if "::" in line] == [
        "test_retraining[bare-smoke]",
        "test_retraining[bare-base@scale=3]",
    ]


def test_platform_option_selects_the_benchmarks(inline_bench: InlineBenchRun) -> None:
    result, _ = inline_bench.run("--platform=flyte,bare", "--case=smoke,no_drift", "--collect-only", "-q")
    assert result.ret == 0
    ids = sorted(line.split("::")[1] for line in result.outlines if "::" in line)
    assert ids == sorted(f"test_retraining[{p}-{c}]" for p in ("flyte", "bare") for c in ("smoke", "no_drift"))


def test_timed_out_round_is_killed_with_everything_it_started(bench_run: BenchRun) -> None:
    # kfp.local starts a process per task; 4 s is inside the run, so there is a group to kill.
    result, document = bench_run.run(
        "--platform=kfp", "--case=smoke", "--rounds=1", "--warmup=0", "--run-timeout=4", "--min-success-rate=0"
    )
    assert result.ret == 0
    assert document is not None
    (round_,) = records(document)["kfp-smoke"]["rounds"]
    assert not round_["ok"]
    assert round_["error"].startswith("timed out after 4s (--run-timeout); process group killed")
    assert 4 <= round_["total_s"] < 10
    assert leftover_processes(bench_run.tmp) == []
    assert list(bench_run.tmp.glob("retrain-bench-*")) == []  # the round's TMPDIR is gone


@pytest.mark.e2e
def test_ctrl_c_kills_the_round_and_still_writes_the_json(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out.json"
    (tmp_path / "test_bench.py").write_text("from bench.test_retraining import test_retraining  # noqa: F401\n")
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": repo_pythonpath()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "test_bench.py",
            "--platform=kfp,bare",
            "--case=smoke",
            "--rounds=3",
            "--warmup=0",
            f"--benchmark-json={out}",
            f"--round-logs={tmp_path / 'logs'}",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        # Order: kfp, bare | bare, kfp | ... (the first platform rotates each round).
        if line.startswith("[retrain-bench] bare/smoke round 2/3"):
            break  # kfp's second round starts now and takes several seconds
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    output = "".join(seen) + rest
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    assert out.exists(), output
    document = json.loads(out.read_text())
    validate(document)
    assert document["retrain_bench"]["interrupted"] is True
    kfp = records(document)["kfp-smoke"]
    assert [r["ok"] for r in kfp["rounds"]] == [True, False]
    assert kfp["rounds"][1]["error"].startswith("interrupted (Ctrl-C)")
    assert [r["ok"] for r in records(document)["bare-smoke"]["rounds"]] == [True, True]
    assert leftover_processes(tmp) == []
