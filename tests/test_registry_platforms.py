"""The registry step on Flyte 2, Dagster, Airflow and Prefect: bare's registry outcome, exactly.

Each platform runs the same three rounds against the session's real MLflow server (one module-wide
server, a model-name prefix per platform so they never decide on each other's champion):
``scheduled`` twice, then ``covariate``. Worked out by hand from the champion rule: the first
``scheduled`` round registers version 1 and promotes it (no champion yet); the second registers the
same deterministic model as version 2, scores it equal to the champion and keeps the alias on 1
(ties keep); ``covariate`` keeps the current model under the accuracy rule, so there is no register
step at all. Bare runs the same rounds under its own prefix; every platform's register records
(version, accuracy, champion accuracy, promotion) and its champion alias must equal bare's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retrain_bench.workload import registry
from retrain_bench.workload.cases import CASES, Case
from retrain_bench.workload.stamps import ENV, StampLog
from tests.own_env_platforms import own_environment, run_cases
from tests.service_platforms import run_round, session

pytestmark = pytest.mark.slow

ROUNDS = ("scheduled", "scheduled", "covariate")
NO_EVIDENCE = "def evidence(*args):\n    return None\n"


def _use(server: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from retrain_bench.harness import registry_service

    for name, value in registry_service.variables_for(server, prefix).items():
        monkeypatch.setenv(name, value)


def _registered(log: StampLog) -> list[dict[str, Any]]:
    """The register records of one round, without the model's name (it carries the platform's prefix)."""
    return [{k: v for k, v in s.out.items() if k != "model"} for s in log.of("register")]


def _champion(server: str, prefix: str, case: Case, monkeypatch: pytest.MonkeyPatch) -> str:
    from mlflow import MlflowClient

    _use(server, prefix, monkeypatch)
    return str(MlflowClient(server).get_model_version_by_alias(registry.model_name(case), registry.ALIAS).version)


def _bare_rounds(server: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[StampLog]:
    from retrain_bench.workload.retraining import run_bare

    _use(server, f"bare-{prefix}", monkeypatch)
    logs = []
    for index, name in enumerate(ROUNDS):
        stamps = tmp_path / f"bare-{index}.jsonl"
        monkeypatch.setenv(ENV, str(stamps))
        run_bare(CASES[name])
        logs.append(StampLog.read(stamps))
    monkeypatch.delenv(ENV)
    return logs


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


def _platform_rounds(platform: str, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[StampLog]:
    _use(server, platform, monkeypatch)
    if platform in ("flyte2", "dagster"):
        # One child per round: the pipelines decide at import whether they have the step (as a launcher).
        return [
            run_cases(
                platform, own_environment(platform), [CASES[name]], _dir(tmp_path / f"{platform}-{index}"), NO_EVIDENCE
            )
            .runs[name]
            .log
            for index, name in enumerate(ROUNDS)
        ]
    with session(platform, tmp_path / f"{platform}-session") as running:
        return [
            run_round(running, CASES[name], tmp_path / f"{platform}-{index}", NO_EVIDENCE).log
            for index, name in enumerate(ROUNDS)
        ]


@pytest.mark.parametrize("platform", ["flyte2", "dagster", "airflow", "prefect"])
def test_the_registry_step_registers_and_promotes_what_bare_does(
    platform: str, mlflow_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = _bare_rounds(mlflow_url, platform, tmp_path, monkeypatch)
    logs = _platform_rounds(platform, mlflow_url, tmp_path, monkeypatch)
    case = CASES["scheduled"]
    first, second, kept = (_registered(log) for log in logs)
    # By hand (the module's docstring): v1 promoted, v2 the same model, a tie, not promoted; no step without drift.
    assert [(r["version"], r["champion_accuracy"], r["promoted"]) for r in first] == [(1, None, True)]
    assert [(r["version"], r["champion_accuracy"], r["promoted"]) for r in second] == [(2, first[0]["accuracy"], False)]
    assert kept == []
    assert [_registered(log) for log in logs] == [_registered(log) for log in bare]
    assert [log.outcome(CASES[n].grid) for log, n in zip(logs, ROUNDS, strict=True)] == [
        log.outcome(CASES[n].grid) for log, n in zip(bare, ROUNDS, strict=True)
    ]
    # The step follows select_best, and the alias stayed where bare's did.
    for log in logs[:2]:
        assert log.one("register").start_ns >= log.one("select_best").end_ns
    assert (
        _champion(mlflow_url, platform, case, monkeypatch)
        == _champion(mlflow_url, f"bare-{platform}", case, monkeypatch)
        == "1"
    )
