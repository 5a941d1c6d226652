"""The pipeline on each platform's real local executor: same answers, and really a pipeline.

Runs flytekit local in this process and kfp.local in a child (which starts a process per task).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from retrain_bench.platforms.flyte import local as flyte_local
from retrain_bench.workload.cases import CASES, Case
from retrain_bench.workload.outcome import Outcome
from retrain_bench.workload.retraining import run_bare
from retrain_bench.workload.stamps import ENV, StampLog
from tests.helpers import run_kfp_local

pytestmark = pytest.mark.slow


def run(platform: str, case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Outcome, StampLog]:
    stamps = tmp_path / f"{platform}-stamps.jsonl"
    monkeypatch.setenv(ENV, str(stamps))
    if platform == "bare":
        run_bare(case)
    elif platform == "flyte":
        monkeypatch.setenv("FLYTE_LOCAL_CACHE_ENABLED", "false")
        flyte_local.run(case)
    else:
        run_kfp_local(case.to_json(), tmp_path / "kfp")
    log = StampLog.read(stamps)
    return log.outcome(case.grid), log


@pytest.mark.parametrize("name", ["base", "scaling", "tuning", "no_drift", "smoke"])
def test_every_platform_computes_the_same(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    bare, _ = run("bare", case, tmp_path, monkeypatch)
    flyte, _ = run("flyte", case, tmp_path, monkeypatch)
    kfp, _ = run("kfp", case, tmp_path, monkeypatch)
    assert flyte == bare
    assert kfp == bare
    assert bare.drift_detected == (case.drift != "none")


def test_flyte_returns_what_its_tasks_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_LOCAL_CACHE_ENABLED", "false")
    monkeypatch.delenv(ENV, raising=False)
    case = CASES["tuning"]
    returned = flyte_local.run(case)
    expected = run_bare(case)
    assert returned == {"accuracy": expected.final_accuracy, "best_c": expected.best_c}


@pytest.mark.parametrize(("name", "tune_tasks"), [("tuning", 5), ("no_drift", 0)])
def test_flyte_dynamic_builds_one_tune_task_per_c(
    name: str, tune_tasks: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    _, log = run("flyte", case, tmp_path, monkeypatch)
    tunes = log.of("tune")
    assert sorted(s.c or 0.0 for s in tunes) == (sorted(case.grid) if tune_tasks else [])
    # Each step ran as its own Flyte task execution, not as one task doing everything.
    assert len({s.unit for s in log.stamps}) == len(log.stamps) == 3 + tune_tasks + (1 if tune_tasks else 0)
    assert all(s.unit.startswith("flyte:") for s in log.stamps)


@pytest.mark.parametrize(("name", "iterations"), [("tuning", 5), ("no_drift", 0)])
def test_kfp_runs_one_loop_iteration_per_c_over_parquet_artifacts(
    name: str, iterations: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    _, log = run("kfp", case, tmp_path, monkeypatch)
    (run_root,) = (tmp_path / "kfp" / "kfp-outputs").iterdir()
    loop_dirs = sorted(run_root.glob("for-loop-*-iteration-*"))
    assert len(loop_dirs) == iterations
    tuned = sorted(
        json.loads((d / "tune" / "executor_output.json").read_text())["parameterValues"]["Output"] for d in loop_dirs
    )
    assert tuned == sorted(s.out["accuracy"] for s in log.of("tune"))
    for name_ in ("train_data", "drifted_data"):
        table = pq.read_table(run_root / "make-data" / name_)
        assert table.num_rows == case.rows and "label" in table.column_names
    assert (run_root / "select-best").exists() == bool(iterations)
    # A process per task: make_data, train, detect_drift, the iterations, select_best.
    assert len({s.pid for s in log.stamps}) == len(log.stamps) == 3 + iterations + (1 if iterations else 0)
