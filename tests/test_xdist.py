"""pytest-xdist: each platform on its own worker, and still one pytest-benchmark JSON, one saved run
and one table, the same as without xdist (bare + flyte, the smoke case, two rounds each)."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from typing import Any

import pytest

from retrain_bench.errors import BenchError
from retrain_bench.pytest_plugin.xdist import ShippedBenchmark
from tests.helpers import BenchRun, records

SMOKE = ("--platform=bare,flyte", "--case=smoke", "--rounds=2", "--warmup=0")
NAMES = ["test_retraining[bare-smoke]", "test_retraining[flyte-smoke]"]
WARNING = "ParallelPlatformsWarning: pytest-xdist runs the platforms in parallel"


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_one_json_one_saved_run_one_table_with_or_without_xdist(bench_run: BenchRun, workers: int) -> None:
    result, document = bench_run.run(*SMOKE, "-n", str(workers), "--dist", "loadgroup", "--benchmark-autosave")
    assert result.ret == 0, result.stdout.str()
    assert document is not None  # and valid: BenchRun validates it against the schema
    assert [b["name"] for b in document["benchmarks"]] == NAMES  # collection order, as without xdist
    # The node ids are the benchmark's own, without the "@<group>" xdist adds under loadgroup.
    assert [b["fullname"] for b in document["benchmarks"]] == [f"test_bench.py::{name}" for name in NAMES]
    for bench in document["benchmarks"]:
        record = bench["extra_info"]["retrain_bench"]
        # Each platform ran its own two rounds, once: a worker did not also run the other platform.
        assert [r["index"] for r in record["rounds"]] == [0, 1]
        totals = [r["total_s"] for r in record["rounds"] if r["ok"] and not r["warmup"]]
        assert len(totals) == 2
        stats = bench["stats"]
        assert stats["rounds"] == 2 and stats["data"] == totals
        assert stats["mean"] == pytest.approx(statistics.fmean(totals), rel=1e-12)
        assert stats["min"] == min(totals) and stats["max"] == max(totals)
        assert stats["stddev"] == pytest.approx(abs(totals[0] - totals[1]) / math.sqrt(2), rel=1e-9)
    assert document["machine_info"]["python_version"] and "id" in document["commit_info"]

    run = document["retrain_bench"]
    contention = [note for note in run.get("notes", []) if "contend for CPU" in note]
    if workers:
        ran_on = run["xdist"]["workers"]
        assert set(ran_on) == {"bare/smoke", "flyte/smoke"}
        assert ran_on["bare/smoke"] != ran_on["flyte/smoke"]
        assert set(ran_on.values()) <= {"gw0", "gw1"}
        assert len(contention) == 1
    else:
        assert run["xdist"] is None and run["order"].startswith("interleaved")
        assert contention == []

    saved = list((bench_run.pytester.path / ".benchmarks").rglob("*.json"))
    assert len(saved) == 1
    stored = json.loads(saved[0].read_text())
    assert [b["name"] for b in stored["benchmarks"]] == NAMES
    assert [b["stats"]["mean"] for b in stored["benchmarks"]] == [b["stats"]["mean"] for b in document["benchmarks"]]
    assert records(stored) == records(document)
    assert stored["retrain_bench"]["xdist"] == run["xdist"]

    # Upstream's own reader lists both benchmarks.
    compare = subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", str(bench_run.pytester.path / "out.json")],
        cwd=bench_run.pytester.path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert compare.returncode == 0, compare.stderr
    assert all(any(line.startswith(name) for line in compare.stdout.splitlines()) for name in NAMES)

    # The controller's terminal: every round's progress line, one table with both rows.
    for platform in ("bare", "flyte"):
        progress = [line for line in result.outlines if line.startswith(f"[retrain-bench] {platform}/smoke round")]
        assert [line.split()[3] for line in progress] == ["1/2", "2/2"]
    assert len([line for line in result.outlines if line.startswith("Name (time in ")]) == 1
    for name in NAMES:
        assert len([line for line in result.outlines if line.startswith(name + " ")]) == 1
    assert (WARNING in result.stdout.str()) == bool(workers)


@pytest.mark.parametrize(
    ("args", "warned"),
    [
        (("-n", "2", "--platform=bare,flyte"), True),
        (("-n", "2", "--platform=bare"), False),  # one platform: one group, one worker at work
        (("-n", "1", "--platform=bare,flyte"), False),
        (("-n", "0", "--platform=bare,flyte"), False),
    ],
)
def test_contention_warning_only_when_platforms_run_at_once(
    bench_run: BenchRun, args: tuple[str, ...], warned: bool
) -> None:
    result, _ = bench_run.run(*args, "--case=smoke", "--dist", "loadgroup", "--collect-only", "-q", timeout=120)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert result.stdout.str().count(WARNING) == (1 if warned else 0)


def test_benchmark_skip_and_disable_still_work_under_xdist(bench_run: BenchRun) -> None:
    one = ("--platform=bare", "--case=smoke", "--rounds=1", "--warmup=0", "-n", "2")
    result, document = bench_run.run(*one, "--benchmark-skip")
    assert result.ret == 0
    result.assert_outcomes(skipped=1)
    assert document is None  # nothing measured, nothing saved: as without xdist
    assert not any(line.startswith("[retrain-bench]") for line in result.outlines)
    # With --benchmark-json it is refused (nothing would be written: docs/reliability.md); without, the
    # rounds run and pytest-benchmark records nothing, as without xdist.
    result, document = bench_run.run(*one, "--benchmark-disable")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and document is None
    result = bench_run.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--round-logs={bench_run.pytester.path / 'logs'}", *one, "--benchmark-disable",
        timeout=300,
    )  # fmt: skip
    assert result.ret == 0
    result.assert_outcomes(passed=1)
    assert [line.split()[-1] for line in result.outlines if line.startswith("[retrain-bench] bare/smoke")] == ["ok"]


def shipped(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "test_retraining[bare-smoke]",
        "fullname": "test_bench.py::test_retraining[bare-smoke]",
        "group": "smoke",
        "param": "bare-smoke",
        "params": {"bench_platform": "bare", "bench_case": "smoke"},
        "extra_info": {},
        "options": {"timer": "now"},
        "stats": {"iterations": 1, "data": [1.0, 2.0, 4.0]},
        "has_error": False,
        "order": 0,
    }
    return {**base, **changes}


def test_shipped_rounds_become_pytest_benchmark_stats() -> None:
    meta = ShippedBenchmark.from_output(shipped()).metadata()
    flat = meta.as_dict(include_data=False, flat=True)
    # By hand: mean 7/3; deviations -4/3, -1/3, 5/3 -> sample variance (16+1+25)/9/2 = 7/3.
    assert flat["mean"] == pytest.approx(7 / 3)
    assert flat["stddev"] == pytest.approx(math.sqrt(7 / 3))
    assert (flat["min"], flat["median"], flat["max"], flat["rounds"]) == (1.0, 2.0, 4.0, 3)
    assert flat["ops"] == pytest.approx(3 / 7)
    assert flat["fullname"] == "test_bench.py::test_retraining[bare-smoke]" and not meta.has_error


@pytest.mark.parametrize(
    "broken",
    [
        {"stats": {"iterations": 1, "data": []}},
        {"stats": {"iterations": 1, "data": ["1.0"]}},
        {"stats": {"iterations": 0, "data": [1.0]}},
        {"order": None},
    ],
)
def test_a_malformed_shipment_is_one_error(broken: dict[str, Any]) -> None:
    with pytest.raises(BenchError, match="a worker shipped"):
        ShippedBenchmark.from_output(shipped(**broken))
