"""Every trigger case on all seven platforms: bare's outcome and bare's detection record, exactly.

The detection stamp's record (accuracy, decision, trigger and its statistic: the accuracy drop, or
the KS and PSI figures and the features that drifted) must be the same JSON on every platform, not
only the decision: each platform hands train_data and drifted_data to the step through its own
serialisation, and a lossy trip (a float, a column order, a dtype) would show here first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.platforms.flyte import local as flyte_local
from retrain_bench.workload.cases import CASES, TRIGGER_CASES, Case
from retrain_bench.workload.stamps import ENV, StampLog
from tests.helpers import run_kfp_local
from tests.own_env_platforms import Batch, own_environment, run_cases
from tests.service_platforms import Session, run_round, session

pytestmark = pytest.mark.slow

#: Every trigger under its cases: accuracy (covariate, relabel), data_drift (the *_data_drift ones), always (scheduled).
NAMES = TRIGGER_CASES
NO_EVIDENCE = "def evidence(*args):\n    return None\n"


def _bare(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StampLog:
    from retrain_bench.workload.retraining import run_bare

    stamps = tmp_path / "bare-stamps.jsonl"
    monkeypatch.setenv(ENV, str(stamps))
    run_bare(case)
    monkeypatch.delenv(ENV)
    return StampLog.read(stamps)


def _same_as_bare(case: Case, log: StampLog, bare: StampLog) -> None:
    assert log.outcome(case.grid) == bare.outcome(case.grid)
    assert log.one("detect_drift").out == bare.one("detect_drift").out
    assert sorted(s.c for s in log.of("tune") if s.c is not None) == sorted(
        s.c for s in bare.of("tune") if s.c is not None
    )


def _expected(name: str) -> bool:
    # What each case shows (tests/test_triggers.py checks why): retrain or keep.
    return name in ("covariate_data_drift", "relabel", "scheduled")


@pytest.mark.parametrize("name", NAMES)
def test_bare_flyte_and_kfp_decide_and_compute_the_same(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    bare = _bare(case, tmp_path, monkeypatch)
    assert bare.outcome(case.grid).drift_detected is _expected(name)
    assert bare.one("detect_drift").out["trigger"] == case.trigger

    flyte_stamps = tmp_path / "flyte-stamps.jsonl"
    monkeypatch.setenv(ENV, str(flyte_stamps))
    monkeypatch.setenv("FLYTE_LOCAL_CACHE_ENABLED", "false")
    flyte_local.run(case)
    _same_as_bare(case, StampLog.read(flyte_stamps), bare)

    kfp_stamps = tmp_path / "kfp-stamps.jsonl"
    run_kfp_local(case.to_json(), tmp_path / "kfp", {ENV: str(kfp_stamps)})
    _same_as_bare(case, StampLog.read(kfp_stamps), bare)


@pytest.fixture(scope="module")
def own_env_batches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Batch]:
    cases = [CASES[n] for n in NAMES]
    return {
        name: run_cases(name, own_environment(name), cases, tmp_path_factory.mktemp(name), NO_EVIDENCE)
        for name in ("flyte2", "dagster")
    }


@pytest.mark.parametrize("platform", ["flyte2", "dagster"])
@pytest.mark.parametrize("name", NAMES)
def test_flyte2_and_dagster_decide_and_compute_what_bare_does(
    platform: str, name: str, own_env_batches: dict[str, Batch], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    _same_as_bare(case, own_env_batches[platform].runs[name].log, _bare(case, tmp_path, monkeypatch))


@pytest.fixture(scope="module", params=["airflow", "prefect"])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    with session(request.param, tmp_path_factory.mktemp(f"{request.param}-session")) as running:
        yield running


@pytest.mark.parametrize("name", NAMES)
def test_airflow_and_prefect_decide_and_compute_what_bare_does(
    name: str, service: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    run: Any = run_round(service, case, tmp_path / "round", NO_EVIDENCE)
    _same_as_bare(case, run.log, _bare(case, tmp_path, monkeypatch))
