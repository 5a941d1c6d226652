"""--concurrency N: the block's arithmetic by hand, the sampler over several trees, then real runs of
the bare platform through pytester (N launchers per round, released together)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from retrain_bench.harness.engine import combined_verdict
from retrain_bench.measure.sampler import TreeSampler
from retrain_bench.results.round import Concurrency, ExecutionResult
from retrain_bench.workload.outcome import Outcome
from tests.helpers import BenchRun, records
from tests.inline_run import InlineBenchRun
from tests.test_plugin import leftover_processes

ROUND_KEYS = {
    "index", "warmup", "ok", "error", "total_s", "queue_s", "retrain_tune_s", "startup_s", "accuracy",
    "drift_detected", "best_c", "tasks", "platform_timings", "resources", "missing", "cost",
}  # fmt: skip
OUTCOME = Outcome(0.8, 0.5, True, 0.75, 0.1)


def test_the_block_is_worked_out_from_the_executions() -> None:
    executions = (
        ExecutionResult(ok=True, error=None, total_s=2.0, queue_s=0.1, retrain_tune_s=1.0, outcome=OUTCOME),
        ExecutionResult(ok=False, error="boom", total_s=3.0),
        ExecutionResult(ok=True, error=None, total_s=4.0, queue_s=0.3, retrain_tune_s=1.5, outcome=OUTCOME),
    )
    block = Concurrency(3, executions, makespan_s=5.0).as_dict()
    assert block["throughput_per_min"] == 24.0  # 2 ok executions in 5 s
    assert block["spread"]["total_s"] == {"min": 2.0, "median": 3.0, "max": 4.0}
    assert block["spread"]["queue_s"] == {"min": 0.1, "median": 0.2, "max": 0.3}  # the failed one measured none
    assert [e["ok"] for e in block["executions"]] == [True, False, True]
    assert block["executions"][1] == {"total_s": 3.0, "queue_s": None, "retrain_tune_s": None, "ok": False,
                                      "error": "boom"}  # fmt: skip
    never = Concurrency(2, (ExecutionResult(ok=False, error="x"),) * 2, makespan_s=None)
    assert never.as_dict()["throughput_per_min"] is None
    assert set(never.missing()) == {
        "concurrency.throughput_per_min",
        "concurrency.spread.total_s",
        "concurrency.spread.queue_s",
        "concurrency.spread.retrain_tune_s",
    }


def test_a_round_is_ok_only_when_every_execution_is_and_they_agree() -> None:
    ok = ExecutionResult(ok=True, error=None, total_s=1.0, outcome=OUTCOME)
    assert combined_verdict([ok, ok]) == (True, None, OUTCOME)
    failed = ExecutionResult(ok=False, error="RuntimeError: x")
    assert combined_verdict([ok, failed]) == (False, "execution 2/2: RuntimeError: x", None)
    other = ExecutionResult(ok=True, error=None, total_s=1.0, outcome=Outcome(0.8, 0.5, True, 0.7, 1.0))
    agree, error, outcome = combined_verdict([ok, other])
    assert not agree and outcome is None
    assert error is not None and error.startswith("the 2 executions computed different outcomes")


HOLD = "import sys, time\nblock = bytearray({mib} * 1024 * 1024)\nblock[::4096] = b'x' * len(block[::4096])\n" \
       "print('ready', flush=True)\ntime.sleep(60)\n"  # fmt: skip


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    procs = [
        subprocess.Popen([sys.executable, "-c", HOLD.format(mib=mib)], stdout=subprocess.PIPE, text=True)
        for mib in (64, 96)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.mark.e2e
def test_one_sampler_over_several_trees_measures_their_sum(holders: list[subprocess.Popen[str]]) -> None:
    mib = 1024 * 1024
    alone = []
    for proc in holders:
        sampler = TreeSampler(proc.pid, 20)
        sampler.sample()
        time.sleep(0.05)
        sampler.sample()
        alone.append(sampler.stats().memory_peak_gib)
    both = TreeSampler([p.pid for p in holders], 20)
    both.sample()
    time.sleep(0.05)
    both.sample()
    peak = both.stats().memory_peak_gib
    assert alone[0] is not None and alone[1] is not None and peak is not None
    assert alone[0] * 1024**3 > 64 * mib and alone[1] * 1024**3 > 96 * mib  # each holds its block
    # The two trees share nothing but the interpreter's pages, which PSS splits between them.
    assert peak == pytest.approx(alone[0] + alone[1], rel=0.05)


def test_concurrency_2_runs_two_executions_per_round(bench_run: BenchRun) -> None:
    result, document = bench_run.run("--platform=bare", "--case=smoke", "--rounds=2", "--warmup=0", "--concurrency=2")
    assert result.ret == 0, result.stdout.str()
    assert document is not None  # validated against the schema by BenchRun
    record = records(document)["bare-smoke"]
    throughputs = []
    for round_ in record["rounds"]:
        block = round_["concurrency"]
        assert round_["ok"] and block["n"] == 2 and len(block["executions"]) == 2
        totals = [e["total_s"] for e in block["executions"]]
        assert all(e["ok"] and e["error"] is None for e in block["executions"])
        assert round_["total_s"] >= max(totals)  # the makespan covers every execution
        assert block["throughput_per_min"] == pytest.approx(2 / round_["total_s"] * 60, rel=1e-12)
        assert block["spread"]["total_s"] == {"min": min(totals), "median": statistics.median(totals),
                                              "max": max(totals)}  # fmt: skip
        queues = [e["queue_s"] for e in block["executions"]]
        assert round_["queue_s"] == statistics.median(queues)
        # both executions ran the whole pipeline, in two separate launchers
        assert round_["tasks"]["counts"] == {"make_data": 2, "train": 2, "detect_drift": 2, "tune": 4,
                                             "select_best": 2}  # fmt: skip
        assert round_["tasks"]["execution_units"] == 2
        tree = round_["resources"]["process_tree"]
        assert tree["window_s"] > 0  # brackets the makespan: tests/test_sampler_bracket.py, not a timing here
        throughputs.append(block["throughput_per_min"])
    assert record["summary"]["concurrency.throughput_per_min"]["median"] == statistics.median(throughputs)
    assert document["retrain_bench"]["options"]["concurrency"] == 2
    logs = sorted(p.name for p in (bench_run.pytester.path / "logs").iterdir())
    assert logs == ["bare-smoke-0.1.log", "bare-smoke-0.2.log", "bare-smoke-1.1.log", "bare-smoke-1.2.log"]
    assert not list(bench_run.tmp.glob("retrain-bench-*")) and not leftover_processes(bench_run.tmp)


def test_concurrency_1_keeps_the_record_as_it_was(bench_run: BenchRun) -> None:
    result, document = bench_run.run("--platform=bare", "--case=smoke", "--rounds=1", "--warmup=0", "--concurrency=1")
    assert result.ret == 0 and document is not None
    record = records(document)["bare-smoke"]
    (round_,) = record["rounds"]
    assert set(round_) == ROUND_KEYS
    assert round_["tasks"]["counts"]["tune"] == 2
    assert not any(key.startswith("concurrency") for key in record["summary"])
    assert not any(key.startswith("concurrency") for key in round_["missing"])
    assert (bench_run.pytester.path / "logs" / "bare-smoke-0.log").exists()


def test_one_failing_execution_fails_the_round_and_counts_in_throughput(bench_run: BenchRun) -> None:
    bench_run.inject_fault(nth_call=2)  # the second make_data across both executions
    result, document = bench_run.run(
        "--platform=bare", "--case=smoke", "--rounds=1", "--warmup=0", "--concurrency=2", "--min-success-rate=0"
    )
    assert result.ret == 0 and document is not None
    (round_,) = records(document)["bare-smoke"]["rounds"]
    block = round_["concurrency"]
    assert not round_["ok"] and sorted(e["ok"] for e in block["executions"]) == [False, True]
    failed = next(k for k, e in enumerate(block["executions"]) if not e["ok"])
    assert round_["error"].startswith(f"execution {failed + 1}/2: RuntimeError: injected fault in make_data call 2")
    assert block["throughput_per_min"] == pytest.approx(1 / round_["total_s"] * 60, rel=1e-12)
    assert records(document)["bare-smoke"]["success_rate"] == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "--concurrency: '0' must be at least 1"), ("x", "--concurrency: 'x' is not an integer")],
)
def test_bad_concurrency_is_a_usage_error(inline_bench: InlineBenchRun, value: str, message: str) -> None:
    result, document = inline_bench.run(f"--concurrency={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str() and document is None
