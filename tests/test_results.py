from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrain_bench.results.contract import strict, summarise
from retrain_bench.results.records import benchmark_record
from retrain_bench.results.round import RoundResult
from retrain_bench.workload.cases import CASES
from retrain_bench.workload.outcome import Outcome


def result(
    index: int, *, ok: bool = True, total: float | None = 1.0, warmup: bool = False, drift: bool = True
) -> RoundResult:
    outcome = Outcome(0.9, 0.6, drift, 0.85 if drift else 0.6, 1.0 if drift else None) if ok else None
    return RoundResult(
        platform="bare",
        case="base",
        index=index,
        warmup=warmup,
        ok=ok,
        error=None if ok else "boom",
        total_s=total,
        startup_s=0.5,
        queue_s=0.01 if ok else None,
        retrain_tune_s=0.2 if ok and drift else None,
        outcome=outcome,
        task_counts={},
        units=1,
        log=Path("x.log"),
    )


def test_summary_counts_ok_measured_rounds_only() -> None:
    rounds = [
        result(0, warmup=True, total=100.0),
        result(1, total=3.0),
        result(2, ok=False, total=50.0),
        result(3, total=1.0),
        result(4, total=2.0),
    ]
    record = benchmark_record("bare", "local", CASES["base"], rounds)
    assert record["summary"]["total_s"] == {"n": 3, "mean": 2.0, "stddev": 1.0, "min": 1.0, "median": 2.0, "max": 3.0}
    assert record["success_rate"] == 0.75


def test_one_round_has_no_stddev_and_no_rounds_no_rate() -> None:
    assert summarise([{"ok": True, "warmup": False, "total_s": 4.0}], ["total_s"])["total_s"]["stddev"] is None
    record = benchmark_record("bare", "local", CASES["base"], [result(0, warmup=True)])
    assert record["success_rate"] is None
    assert record["summary"]["total_s"]["n"] == 0 and record["summary"]["total_s"]["mean"] is None


def test_missing_values_carry_reasons() -> None:
    no_drift = benchmark_record("bare", "local", CASES["no_drift"], [result(0, drift=False)])["rounds"][0]
    assert no_drift["retrain_tune_s"] is None
    assert no_drift["missing"]["retrain_tune_s"].startswith("not_applicable")
    assert no_drift["missing"]["best_c"].startswith("not_applicable")
    failed = benchmark_record("bare", "local", CASES["base"], [result(0, ok=False, total=None)])["rounds"][0]
    assert failed["missing"]["total_s"] == "round failed before this was measured"
    assert failed["error"] == "boom"


def test_strict_makes_numpy_plain_and_non_finite_null() -> None:
    value = strict({"a": np.float64(1.5), "b": [np.int64(3), float("nan")], "c": (np.bool_(True), float("inf"))})
    assert value == {"a": 1.5, "b": [3, None], "c": [True, None]}
    assert type(value["a"]) is float and type(value["b"][0]) is int
    json.dumps(value, allow_nan=False)


def test_stats_from_numpy_inputs_stay_strict() -> None:
    record = benchmark_record("bare", "local", CASES["base"], [result(0, total=np.float64(2.5))])  # type: ignore[arg-type]
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    assert record["summary"]["total_s"]["median"] == pytest.approx(2.5)
