"""Dagster through a real ``execute_in_process``: bare's answers on every case, its steps, a quiet log, no files.

The environment is the platform's own (dagster 1.13.28), built or reused by ``environments.ensure``;
every case runs in one child of its interpreter, as a launcher runs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain_bench.workload.cases import CASES
from retrain_bench.workload.retraining import run_bare
from tests.own_env_platforms import Batch, own_environment, parquet_tables, run_cases
from tests.slow_tune import SLOW_TUNE

pytestmark = pytest.mark.slow

NAMES = ("base", "scaling", "tuning", "no_drift", "smoke")
#: What Dagster recorded of the run: the steps that succeeded and those it skipped, and its run id.
EVIDENCE = """
def evidence(result):
    def steps(kind):
        return sorted(e.step_key for e in result.all_events if e.event_type_value == kind)
    return {"succeeded": steps("STEP_SUCCESS"), "skipped": steps("STEP_SKIPPED"), "run_id": result.run_id}
"""


@pytest.fixture(scope="module")
def dagster(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    env = own_environment("dagster")
    cases = [*(CASES[n] for n in NAMES), SLOW_TUNE]
    return run_cases("dagster", env, cases, tmp_path_factory.mktemp("dagster"), EVIDENCE)


@pytest.mark.parametrize("name", NAMES)
def test_dagster_computes_what_bare_computes_with_one_mapped_tune_per_c(name: str, dagster: Batch) -> None:
    case = CASES[name]
    run = dagster.runs[name]
    assert run.log.outcome(case.grid) == run_bare(case)
    steps = ["detect_drift", "make_data", "train"]
    if case.drift != "none":
        # fan_out's DynamicOut: one mapped tune step per C value, keyed in grid order.
        tunes = [f"tune[c{i:02d}]" for i in range(len(case.grid))]
        assert run.evidence["succeeded"] == sorted([*steps, "fan_out", "select_best", *tunes])
        assert run.evidence["skipped"] == []
        assert [s.unit for s in run.log.of("tune")] == [f"dagster:{t}" for t in tunes]
        assert [s.c for s in run.log.of("tune")] == list(case.grid)
    else:
        # detect_drift yielded no "drifted" output: everything downstream of it is a skipped step.
        assert run.evidence["succeeded"] == steps
        assert run.evidence["skipped"] == ["fan_out", "select_best"]
        assert run.log.of("tune") == []
    assert len({s.unit for s in run.log.stamps}) == len(run.log.stamps)


@pytest.mark.parametrize("name", ["tuning", "no_drift"])
def test_the_frames_travel_as_parquet_through_the_io_manager(name: str, dagster: Batch) -> None:
    case = CASES[name]
    run = dagster.runs[name]
    step = Path(run.workdir, "dagster", "frames", run.evidence["run_id"], "make_data")
    assert sorted(p.name for p in step.iterdir()) == ["drifted_data.parquet", "train_data.parquet"]
    tables = parquet_tables(step)
    assert [t.num_rows for t in tables] == [case.rows, case.rows]
    assert all("label" in t.column_names for t in tables)
    assert (Path(run.workdir, "dagster", "models", run.evidence["run_id"], "train", "model.joblib")).is_file()


def test_the_in_process_executor_runs_the_tunes_one_after_another(dagster: Batch) -> None:
    # smoke with 0.5 s of sleep in each tune body: the second tune starts after the first has ended.
    first, second = dagster.runs[SLOW_TUNE.key].log.of("tune")
    assert second.start_ns >= first.end_ns


def test_runs_are_quiet_and_write_nothing_outside_the_round(dagster: Batch) -> None:
    # No DAGSTER_HOME, no ~/.dagster (telemetry, instance), none of the ~76 DEBUG event lines.
    assert list(dagster.home.rglob("*")) == []
    assert [line for line in dagster.output.splitlines() if not line.startswith("EVIDENCE ")] == []
