"""The registry step (--registry=mlflow): the champion decision by hand, a real MLflow server, its faults."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain_bench.errors import BenchError
from retrain_bench.workload import registry, retraining
from retrain_bench.workload.cases import CASES
from retrain_bench.workload.stamps import ENV, StampLog


@pytest.mark.parametrize(
    ("accuracy", "champion", "promoted"),
    [
        (0.875, None, True),  # no champion yet: the first model is it
        (0.875, 0.75, True),  # better on the same held-out data
        (0.875, 0.875, False),  # a tie keeps the old champion
        (0.75, 0.875, False),  # worse
    ],
)
def test_the_champion_decision_by_hand(accuracy: float, champion: float | None, promoted: bool) -> None:
    assert registry.promote(accuracy, champion) is promoted


def test_model_names_are_per_spec_and_case_and_never_hold_an_alias_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES["relabel"]
    monkeypatch.setenv(registry.PREFIX_ENV, "retrain-bench-flyte@1.15.4")
    assert registry.model_name(case) == f"retrain-bench-flyte-1-15-4-relabel-{case.hash}"
    monkeypatch.delenv(registry.ENV, raising=False)
    assert not registry.enabled()
    monkeypatch.setenv(registry.ENV, "mlflow")
    assert registry.enabled()


@pytest.mark.slow
def test_register_promotes_only_a_strictly_better_model(mlflow_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    from retrain_bench.harness import registry_service

    for name, value in registry_service.variables_for(mlflow_url, "test").items():
        monkeypatch.setenv(name, value)
    case = CASES["relabel"]
    _, drifted = retraining.make_data(case)
    # On relabel's held-out split (worked out once with scikit-learn; the decisions follow by hand):
    # C=1e-4 fits a nearly flat model (0.914), C=0.1 the tuned one (0.944).
    weak = registry.register(case, drifted, 1e-4)
    assert (weak.version, weak.champion_accuracy, weak.promoted) == (1, None, True)
    strong = registry.register(case, drifted, 0.1)
    assert (strong.version, strong.champion_accuracy, strong.promoted) == (2, weak.accuracy, True)
    assert strong.accuracy > weak.accuracy
    again = registry.register(case, drifted, 0.1)
    assert (again.version, again.champion_accuracy, again.promoted) == (3, strong.accuracy, False)
    champion = MlflowClient(mlflow_url).get_model_version_by_alias(registry.model_name(case), registry.ALIAS)
    assert champion.version == "2"  # the tie kept it


@pytest.mark.slow
def test_bare_with_a_registry_has_a_register_step_timed_as_register_s(
    mlflow_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrain_bench.harness import registry_service

    for name, value in registry_service.variables_for(mlflow_url, "bare-phase").items():
        monkeypatch.setenv(name, value)
    stamps = tmp_path / "stamps.jsonl"
    monkeypatch.setenv(ENV, str(stamps))
    case = CASES["scheduled"]
    outcome = retraining.run_bare(case)
    log = StampLog.read(stamps)
    assert log.outcome(case.grid) == outcome
    record = log.one("register").out
    assert (record["version"], record["promoted"], record["accuracy"]) == (1, True, outcome.final_accuracy)
    phases = log.phases(log.one("make_data").start_ns)
    assert phases["register_s"] == (log.one("register").end_ns - log.one("select_best").end_ns) / 1e9
    # Without drift there is nothing to register, and no register step.
    stamps.unlink()
    retraining.run_bare(CASES["covariate"])
    assert StampLog.read(stamps).of("register") == []


def test_a_registry_that_cannot_start_fails_in_one_line_naming_its_log(tmp_path: Path) -> None:
    from retrain_bench.harness import registry_service

    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'no mlflow here' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "logs" / "mlflow-server.log"
    with (
        pytest.raises(BenchError) as failed,
        registry_service.mlflow_server(tmp_path / "home", log, lambda line: None, python=str(broken)),
    ):
        pass
    message = str(failed.value)
    assert message == f"the MLflow server exited with status 3 before it was healthy; its log: {log}"
    assert "no mlflow here" in log.read_text()
    assert os.path.exists(log)


@pytest.mark.slow
def test_a_session_whose_registry_did_not_start_fails_its_rounds_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    from retrain_bench.harness import registry_service
    from retrain_bench.harness.session import BenchSession
    from retrain_bench.options import parse_options

    @contextlib.contextmanager
    def refused(home: Path, log: Path, progress: object) -> Iterator[str]:
        raise BenchError(f"the MLflow server exited with status 1 before it was healthy; its log: {log}")
        yield ""

    monkeypatch.setattr(registry_service, "mlflow_server", refused)
    options = parse_options(
        platform="bare", case="scheduled", rounds=2, warmup=0, target="local", run_timeout=300,
        min_success_rate=1.0, model_registry="mlflow",
    )  # fmt: skip
    warnings: list[str] = []
    with BenchSession.open(options, tmp_path / "logs", lambda line: None, warn=warnings.append) as session:
        session.plan_everything()
        session.rounds_of("bare", "scheduled")
        record = session.record("bare", "scheduled")
        notes = session.run_level()["notes"]
    assert notes[-1].startswith("registry mlflow: a register step after select_best")
    assert "the server's CPU and memory are not in the rounds' figures" in notes[-1]
    log = tmp_path / "logs" / "mlflow-server.log"
    reason = (
        "the model registry (--registry=mlflow) did not start: the MLflow server exited with status 1 before "
        f"it was healthy; its log: {log}"
    )
    assert [(r["ok"], r["error"]) for r in record["rounds"]] == [(False, reason), (False, reason)]
    assert warnings == [f"{reason}; the rounds that need it fail"]
    assert record["success_rate"] == 0.0


def test_the_registry_is_checked_as_an_option() -> None:
    from retrain_bench.options import parse_options

    common = {"platform": "bare", "case": "smoke", "rounds": 1, "warmup": 0, "run_timeout": 60, "min_success_rate": 1}
    assert parse_options(target="local", **common).registry is None  # off by default
    assert parse_options(target="local", model_registry="mlflow", **common).registry == "mlflow"
    with pytest.raises(BenchError, match=r"^--registry: unknown 'wandb'; choose from mlflow$"):
        parse_options(target="local", model_registry="wandb", **common)
    with pytest.raises(BenchError, match=r"^--registry: runs on the local target only"):
        parse_options(target="server", model_registry="mlflow", **{**common, "platform": "prefect"})
    # Every platform has the step now (tests/test_registry_platforms.py): none is refused.
    every = "bare,flyte,kfp,flyte2,airflow,prefect,dagster"
    assert parse_options(target="local", model_registry="mlflow", **{**common, "platform": every}).registry == "mlflow"
