"""Airflow and Prefect through the real harness: a child ``pytest bench/`` on their own environments and services.

Shows what only the harness can: the rounds are ok with bare's answers, the session services start
once and are recorded, start-up (an SDK import made 20 s slower in the launchers) lands in
``startup_s`` and not in ``total_s``, and nothing is left behind: no process, no file outside the
session's and the rounds' directories (``~/.prefect``, ``~/airflow``).
"""

from __future__ import annotations

import json
import os

import pytest

from retrain_bench.workload.cases import CASES
from retrain_bench.workload.retraining import run_bare
from tests.envs_fixtures import shared_envs_dir
from tests.helpers import REPO, BenchRun, records, repo_pythonpath
from tests.service_platforms import live_processes_with, own_environment

pytestmark = pytest.mark.slow

#: The launchers' SDK imports made this much slower: far more than a smoke run takes on either.
DELAY_S = 20.0
SDK_MODULES = {"airflow": "airflow.sdk", "prefect": "prefect"}


def test_airflow_and_prefect_rounds_keep_start_up_out_of_the_timer_and_leave_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SDK_MODULES:
        own_environment(name)  # built or reused here, so the child run only reuses it
    monkeypatch.setenv("RETRAIN_BENCH_ENVS", str(shared_envs_dir()))
    home = pytester.path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    bench = BenchRun(pytester, monkeypatch)
    slow_log = pytester.path / "slow-imports.jsonl"
    plan = {"modules": sorted(SDK_MODULES.values()), "seconds": DELAY_S, "log": str(slow_log)}
    monkeypatch.setenv("RETRAIN_BENCH_SLOW_IMPORT", json.dumps(plan))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "tests" / "slow_import"), repo_pythonpath()]))

    result, document = bench.run("--platform=airflow,prefect", "--case=smoke", "--rounds=1", "--warmup=0", timeout=900)

    assert result.ret == 0, "\n".join(result.outlines[-40:])
    assert document is not None
    expected = run_bare(CASES["smoke"])
    found = records(document)
    assert sorted(found) == ["airflow-smoke", "prefect-smoke"]
    delays = [json.loads(line) for line in slow_log.read_text().splitlines()]
    # One slowed import per launcher: the SDK of its own platform.
    assert sorted((d["platform"], d["module"]) for d in delays) == sorted(SDK_MODULES.items())
    for name in SDK_MODULES:
        (round_,) = found[f"{name}-smoke"]["rounds"]
        assert round_["ok"], round_["error"]
        assert round_["accuracy"] == {
            "initial": expected.initial_accuracy,
            "drifted": expected.drifted_accuracy,
            "final": expected.final_accuracy,
        }
        assert (round_["drift_detected"], round_["best_c"]) == (True, expected.best_c)
        assert round_["tasks"]["counts"] == {"make_data": 1, "train": 1, "detect_drift": 1, "tune": 2, "select_best": 1}
        # The delay is start-up, and none of it is in the timed part.
        assert round_["startup_s"] >= DELAY_S
        assert round_["total_s"] < DELAY_S
    services = document["retrain_bench"]["services"]
    assert set(services) == {"airflow", "prefect"}
    assert all(s["error"] is None and s["start_s"] > 0 for s in services.values())

    # Nothing left: no round directory, no session home, nothing in HOME, no process.
    assert sorted(p.name for p in bench.tmp.iterdir() if p.name.startswith("retrain-bench-")) == []
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*") if "prefect" in p.name or "airflow" in p.name) == []
    for variable in ("TMPDIR", "PREFECT_HOME", "AIRFLOW_HOME"):
        assert live_processes_with(variable, bench.tmp) == []
