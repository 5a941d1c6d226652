"""The server target's faults through real child pytests on Airflow's real control plane
(PostgreSQL, api-server, scheduler, dag-processor): a run past ``--run-timeout`` is terminated
through the API and recorded as failed, a SIGTERM mid-run keeps the rounds so far, and in both
nothing of the control plane is left running. Each test starts one control plane (~30-60 s here).
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import psutil
import pytest

from tests.test_reliability import Child

pytestmark = pytest.mark.slow


def left_running(tmp: Path) -> list[str]:
    """Processes that started under ``tmp`` (the child's TMPDIR, where every control plane's home
    is made) or name it: the api-server rewrites its own environ, so its cwd and command line too."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd", "status"]):
        with contextlib.suppress(psutil.Error):
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cwd, cmdline = process.info["cwd"] or "", " ".join(process.info["cmdline"] or ())
            if cwd.startswith(str(tmp)) or str(tmp) in cmdline or process.environ().get("TMPDIR") == str(tmp):
                found.append(f"{process.pid} {cmdline[:120]}")
    return found


def server_child(tmp_path: Path, *args: str) -> Child:
    return Child(tmp_path, "--target=server", "--platform=airflow", "--case=smoke", "--warmup=0", *args)


def test_a_run_past_the_run_timeout_is_terminated_through_the_api_and_nothing_is_left(tmp_path: Path) -> None:
    # A smoke run is seven task instances, each a process of its own: never done in 2 s.
    child = server_child(tmp_path, "--rounds=1", "--run-timeout=2")
    code, output = child.finish(timeout=600)
    assert code == 1, output  # the benchmark's success rate is below --min-success-rate
    document = child.document(output)
    assert document["benchmarks"] == []  # no ok round: the benchmark is among the run's failed ones
    [failed] = document["retrain_bench"]["failed_benchmarks"]
    [round_] = failed["extra_info"]["retrain_bench"]["rounds"]
    assert round_["ok"] is False
    assert round_["error"] == "timed out after 2s (--run-timeout); execution terminated"
    assert round_["run_id"]  # the control plane accepted it before it was terminated
    services = document["retrain_bench"]["services"]["airflow"]
    assert services["error"] is None and services["start_s"] > 0
    assert left_running(child.tmp) == []
    assert list(child.tmp.glob("retrain-bench-server-*")) == []


def test_sigterm_during_a_round_keeps_the_rounds_so_far_and_stops_the_control_plane(tmp_path: Path) -> None:
    child = server_child(tmp_path, "--rounds=3")
    child.wait_for("airflow/smoke round 1/3")
    child.signal(signal.SIGTERM)
    code, output = child.finish(timeout=300)
    assert code == 2, output
    document = child.document(output)
    assert document["retrain_bench"]["interrupted"] is True
    rounds = document["benchmarks"][0]["extra_info"]["retrain_bench"]["rounds"] if document["benchmarks"] else []
    failed = document["retrain_bench"]["failed_benchmarks"]
    kept = rounds or failed[0]["extra_info"]["retrain_bench"]["rounds"]
    assert kept[0]["ok"] is True, kept[0]["error"]  # the round that had ended is kept as it was
    assert all(r["ok"] or r["error"].startswith("interrupted (SIGTERM)") for r in kept[1:])
    assert left_running(child.tmp) == []
    assert list(child.tmp.glob("retrain-bench-server-*")) == []
