"""Airflow's real control plane (``--target=server``): PostgreSQL, api-server, scheduler, dag-processor.

One control plane for the module (its start-up is ~30-60 s here), driven only through the
``ServerRunner`` the harness gets: runs of the local target's DAG submitted through the REST API and
polled to their end compute exactly what bare Python computes, each task in a process of its own
that the LocalExecutor started under the scheduler's group; the orchestrator's own account of every
task instance is ordered; a terminated run ends failed through the API; and when the context exits
nothing of it is left running or listening. Control planes that cannot start come first, before
the module's own is up, so they do not compete with it for the machine's two cores.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from retrain_bench.errors import BenchError
from retrain_bench.platforms import postgres, registry
from retrain_bench.platforms.airflow import server
from retrain_bench.platforms.server import RunRequest, ServerContext, ServerPoll, ServerRun, ServerRunner
from retrain_bench.workload.cases import CASES, Case
from retrain_bench.workload.retraining import run_bare
from retrain_bench.workload.stamps import StampLog
from tests.helpers import REPO
from tests.own_env_platforms import own_environment
from tests.service_platforms import live_processes_with

pytestmark = pytest.mark.slow

RUN_TIMEOUT_S = 600.0


def context(home: Path) -> ServerContext:
    home.mkdir(parents=True, exist_ok=True)
    return ServerContext(
        python=str(own_environment("airflow").python), home=home, pipelines=REPO / "bench", progress=lambda line: None
    )


def left_behind(home: Path) -> list[psutil.Process]:
    """Live processes of a control plane under ``home``: every part starts there (its cwd) or names it
    (PostgreSQL's -D, Airflow's AIRFLOW_HOME; setproctitle may overwrite a process's environ, so not that alone)."""
    found = {process.pid: process for process in live_processes_with("AIRFLOW_HOME", home)}
    for process in psutil.process_iter(["cmdline", "cwd", "status"]):
        with contextlib.suppress(psutil.Error):
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cwd = process.info["cwd"]
            if (cwd and Path(cwd).is_relative_to(home)) or str(home) in " ".join(process.info["cmdline"] or ()):
                found[process.pid] = process
    return list(found.values())


def port_free(port: int) -> bool:
    """Nothing listens on ``port``. SO_REUSEADDR, as servers bind: connections the api-server closed
    linger in TIME_WAIT for a minute and would make a plain bind fail with nothing listening."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((postgres.HOST, port))
        except OSError:
            return False
        return True


# --- control planes that cannot start ------------------------------------------------------------


def test_postgresql_binaries_missing_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(BenchError) as caught:
        postgres.binaries(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "install Debian's postgresql package" in message


def test_api_servers_port_taken_is_one_line_naming_its_log_and_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind((postgres.HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(server, "api_port", lambda: port)
        with pytest.raises(BenchError) as caught, server.control_plane(context(home)):
            pytest.fail("a control plane whose api-server cannot listen must not be yielded")
    message = str(caught.value)
    log = home / "airflow-api-server.log"
    assert "\n" not in message
    assert message.startswith("Airflow's api-server exited") and message.endswith(f"its log: {log}")
    assert "address already in use" in log.read_text().lower()
    assert left_behind(home) == []


def test_postgresql_that_cannot_listen_is_one_line_naming_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with socket.socket() as taken:
        taken.bind((postgres.HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(postgres, "free_port", lambda: port)
        with pytest.raises(BenchError) as caught, postgres.cluster(home, "airflow"):
            pytest.fail("a cluster that cannot listen must not be yielded")
    message = str(caught.value)
    assert "\n" not in message and message.endswith(f"its log: {home / 'postgres.log'}")
    assert "could not bind" in (home / "postgres.log").read_text()
    assert left_behind(home) == []


# --- one control plane for the rest of the module ------------------------------------------------


class ControlPlane:
    """The module's control plane, closable by the test that checks what its exit leaves."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._stack = contextlib.ExitStack()
        control = registry.platform("airflow").server
        assert control is not None
        self.runner: ServerRunner = self._stack.enter_context(control.control_plane(context(home)))
        self.leaders = self.runner.processes()
        facts = self.runner.facts()
        self.ports = (int(facts["database"]["port"]), int(str(facts["api"]).rsplit(":", 1)[1].split("/")[0]))

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    running = ControlPlane(tmp_path_factory.mktemp("airflow-server") / "home")
    try:
        yield running
    finally:
        running.close()


class Descendants:
    """Every pid seen below the control plane's group leaders while a run runs (sampled every 0.1 s)."""

    def __init__(self, leaders: tuple[int, ...]) -> None:
        self.leaders = leaders
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for leader in self.leaders:
                with contextlib.suppress(psutil.Error):
                    self.seen.update(child.pid for child in psutil.Process(leader).children(recursive=True))
            self._stop.wait(0.1)

    def __enter__(self) -> Descendants:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_to_end(runner: ServerRunner, request: RunRequest) -> tuple[ServerRun, ServerPoll]:
    run = runner.submit(request)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not (seen := runner.poll(run)).done:
        assert time.monotonic() < deadline, f"run {run.run_id} not done within {RUN_TIMEOUT_S:g} s: {seen}"
        time.sleep(0.2)
    return run, seen


def request(case: Case, name: str, tmp_path: Path) -> RunRequest:
    workdir = tmp_path / name
    workdir.mkdir()
    return RunRequest(case=case, name=name, workdir=workdir)


def expected_task_instances(case: Case) -> dict[tuple[str, int], str]:
    """Every task instance of a finished run and its state, worked out from the DAG's shape."""
    common = {(step, -1): "success" for step in ("make_data", "train", "detect_drift", "adapt")}
    if case.drift == "none":
        # The branch skipped the mapped task before expanding it: its one unexpanded instance is skipped.
        skipped = {(step, -1): "skipped" for step in ("c_values", "tune", "select_best")}
        return {**common, **skipped, ("keep_current", -1): "success"}
    tunes = {("tune", i): "success" for i in range(len(case.grid))}
    return {
        **common,
        **tunes,
        ("c_values", -1): "success",
        ("select_best", -1): "success",
        ("keep_current", -1): "skipped",
    }


@pytest.mark.parametrize("name", ["smoke", "no_drift"])
def test_a_run_through_the_api_computes_what_bare_computes_each_task_a_process_of_the_scheduler(
    name: str, plane: ControlPlane, tmp_path: Path
) -> None:
    case = CASES[name]
    with Descendants(plane.leaders) as descendants:
        run, seen = run_to_end(plane.runner, request(case, f"{name.replace('_', '')}1", tmp_path))
    assert (seen.ok, seen.state, seen.error) == (True, "success", None)
    assert run.platform == "airflow" and run.url is not None and run.run_id in run.url
    log = StampLog.read(tmp_path / run.run_id / "stamps.jsonl")
    assert log.outcome(case.grid) == run_bare(case)
    drift = case.drift != "none"
    assert sorted(s.c for s in log.of("tune")) == (sorted(case.grid) if drift else [])
    # Each task ran in a process of its own that the LocalExecutor started below the scheduler's group
    # (not in the harness, not re-parented away), and Airflow's record names that very process.
    pids = [s.pid for s in log.stamps]
    assert len(set(pids)) == len(pids) and os.getpid() not in pids
    assert set(pids) <= descendants.seen
    timings = plane.runner.platform_timings(run)
    instances = {(t["task"], t["map_index"]): t for t in timings["tasks"]}
    assert {key: t["state"] for key, t in instances.items()} == expected_task_instances(case)
    ran = {key: t for key, t in instances.items() if t["state"] == "success"}
    assert {s.pid for s in log.stamps} <= {t["pid"] for t in ran.values()}
    assert {s.task: s.pid for s in log.stamps if s.task != "tune"} == {
        s.task: ran[(s.task, -1)]["pid"] for s in log.stamps if s.task != "tune"
    }
    assert sorted(s.pid for s in log.of("tune")) == sorted(t["pid"] for k, t in ran.items() if k[0] == "tune")
    # Airflow's own clock: every task instance that ran was queued, started and ended within its run,
    # and no step was queued before the step it reads from had ended.
    assert timings["state"] == "success" and timings["run_id"] == run.run_id
    assert timings["queued"] <= timings["started"] <= timings["ended"]
    for key, task in ran.items():
        assert None not in (task["queued"], task["started"], task["ended"]), key
        assert timings["started"] <= task["queued"] <= task["started"] <= task["ended"] <= timings["ended"], key
    chain = ["make_data", "train", "detect_drift", "adapt", "c_values" if drift else "keep_current"]
    for before, after in zip(chain, chain[1:], strict=False):
        assert ran[(before, -1)]["ended"] <= ran[(after, -1)]["queued"], (before, after)
    if drift:
        tunes = [ran[("tune", i)] for i in range(len(case.grid))]
        assert ran[("c_values", -1)]["ended"] <= min(t["queued"] for t in tunes)
        assert max(t["ended"] for t in tunes) <= ran[("select_best", -1)]["queued"]


def test_terminate_ends_a_running_run_failed_through_the_api(plane: ControlPlane, tmp_path: Path) -> None:
    runner = plane.runner
    run = runner.submit(request(CASES["smoke"], "terminated1", tmp_path))
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while runner.poll(run).state != "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    runner.terminate(run, "test: timeout")
    seen = runner.poll(run)  # marking the run failed is immediate: no waiting for its tasks
    assert (seen.done, seen.ok, seen.state) == (True, False, "failed")
    assert seen.error is not None and "\n" not in seen.error
    runner.terminate(run, "again")  # idempotent on a finished run
    timings: dict[str, Any] = runner.platform_timings(run)
    assert timings["state"] == "failed"
    # The scheduler started nothing after the run was failed: select_best (the last step) never ran.
    assert {t["state"] for t in timings["tasks"] if t["task"] == "select_best"} != {"success"}


def test_facts_record_the_parts_settings_and_database_without_secrets(plane: ControlPlane) -> None:
    facts = plane.runner.facts()
    assert facts["parts"] == ["postgresql", "api-server", "scheduler", "dag-processor"]
    assert facts["executor"] == "LocalExecutor"
    assert facts["versions"]["apache-airflow"] == "3.3.2"
    assert facts["settings"]["scheduler.scheduler_idle_sleep_time"] == "1"
    assert facts["database"]["kind"] == "postgresql" and facts["database"]["runs_as"]
    assert len(plane.leaders) == 4 and all(psutil.pid_exists(pid) for pid in plane.leaders)
    text = repr(facts)
    assert "password" not in text.lower() and "secret" not in text.lower() and "@127.0.0.1" not in text


def test_after_the_context_exits_no_process_or_port_is_left_and_home_stays(plane: ControlPlane) -> None:
    pids = [process.pid for process in left_behind(plane.home)]
    assert set(plane.leaders) <= set(pids)
    plane.close()
    alive = [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    assert left_behind(plane.home) == []
    assert all(port_free(port) for port in plane.ports)
    assert (plane.home / "airflow-scheduler.log").is_file()  # the harness removes the home, not the control plane
