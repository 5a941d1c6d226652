"""Prefect's production path (``--target=server``): a real server, process work pool and worker, runs through the API.

One control plane for the module, started from the platform's own environment (prefect 3.9.1,
built or reused by ``environments.ensure``) exactly as the harness starts it. The three cases run
side by side through the runner (the worker starts a process per run), then each is checked
against bare's answers and against Prefect's own record; a slow run is cancelled through the API;
the last test stops the control plane and looks for anything it left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from retrain_bench.errors import BenchError
from retrain_bench.platforms import groups
from retrain_bench.platforms.prefect import server
from retrain_bench.platforms.prefect.server_api import PrefectRunner
from retrain_bench.platforms.server import RunRequest, ServerContext, ServerPoll, ServerRun, ServerRunner
from retrain_bench.workload.cases import CASES, Case
from retrain_bench.workload.retraining import run_bare
from retrain_bench.workload.stamps import StampLog
from tests.helpers import REPO
from tests.own_env_platforms import own_environment
from tests.service_platforms import live_processes_with

pytestmark = pytest.mark.slow

#: Bounds on waiting for things the control plane does; never a measure of speed.
RUN_BOUND_S = 400.0
CASE_NAMES = ("smoke", "no_drift", "tuning")


@dataclasses.dataclass
class Plane:
    """The module's running control plane and what the tests saw of it."""

    runner: PrefectRunner
    home: Path
    port: int
    stack: contextlib.ExitStack
    #: every process seen under a service leader during runs (the flow runs'): pid -> (leader, its command)
    seen: dict[int, tuple[int, list[str]]] = dataclasses.field(default_factory=dict)

    @property
    def worker(self) -> int:
        return self.runner.processes()[1]

    def watch(self) -> None:
        """Note every process under the service leaders now (the flow-run processes come and go); the
        latest command wins (Prefect's supervisor execs the engine in the same process)."""
        for leader in self.runner.processes():
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(leader).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        self.seen[child.pid] = (leader, child.cmdline())


@dataclasses.dataclass(frozen=True)
class Finished:
    request: RunRequest
    run: ServerRun
    poll: ServerPoll
    timings: dict[str, Any]


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    env = own_environment("prefect")
    home = tmp_path_factory.mktemp("prefect-server")
    context = _context(str(env.python), home)
    with contextlib.ExitStack() as stack:
        runner = stack.enter_context(server.control_plane(context))
        contract: ServerRunner = runner  # what the harness holds it as
        assert contract.platform == "prefect"
        port = int(runner.api.url.removeprefix("http://127.0.0.1:").removesuffix("/api"))
        yield Plane(runner, home, port, stack)


def _context(python: str, home: Path) -> ServerContext:
    return ServerContext(python=python, home=home, pipelines=REPO / "bench", progress=lambda line: None)


def _request(root: Path, case: Case, name: str) -> RunRequest:
    workdir = root / name
    workdir.mkdir(parents=True)
    return RunRequest(case=case, name=name, workdir=workdir)


def _process_of(plane: Plane, run: ServerRun) -> psutil.Process:
    """The process the worker started for ``run`` (the flow run's id is in its environment)."""
    deadline = time.monotonic() + RUN_BOUND_S
    while True:
        for child in psutil.Process(plane.worker).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if child.environ().get("PREFECT__FLOW_RUN_ID") == run.run_id:
                    return child
        assert time.monotonic() < deadline, f"no process of run {run.run_id} appeared under the worker"
        time.sleep(0.2)


def _wait_done(plane: Plane, runs: dict[str, ServerRun]) -> dict[str, ServerPoll]:
    polls: dict[str, ServerPoll] = {}
    deadline = time.monotonic() + RUN_BOUND_S
    while len(polls) < len(runs):
        assert time.monotonic() < deadline, f"runs not done within {RUN_BOUND_S:g} s: {sorted(set(runs) - set(polls))}"
        plane.watch()
        for name, run in runs.items():
            if name not in polls and (seen := plane.runner.poll(run)).done:
                polls[name] = seen
        time.sleep(0.2)
    return polls


@pytest.fixture(scope="module")
def slow(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> tuple[RunRequest, ServerRun]:
    """A run whose every tune sleeps 600 s, submitted before the cases so that its start overlaps theirs."""
    case = dataclasses.replace(CASES["smoke"], variant="slow_tune", tune_delay_s=600.0)
    request = _request(tmp_path_factory.mktemp("prefect-slow"), case, "slowrun")
    return request, plane.runner.submit(request)


@pytest.fixture(scope="module")
def finished(
    plane: Plane, slow: tuple[RunRequest, ServerRun], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Finished]:
    """smoke, no_drift and tuning submitted together through the runner and polled to their end."""
    root = tmp_path_factory.mktemp("prefect-runs")
    requests = {name: _request(root, CASES[name], f"r{i}{name.replace('_', '')}") for i, name in enumerate(CASE_NAMES)}
    # And one that fails in its tune task: scikit-learn refuses a negative C.
    requests["failing"] = _request(root, dataclasses.replace(CASES["smoke"], grid=(-1.0,)), "failing")
    runs = {name: plane.runner.submit(request) for name, request in requests.items()}
    polls = _wait_done(plane, runs)
    return {
        name: Finished(requests[name], runs[name], polls[name], plane.runner.platform_timings(runs[name]))
        for name in requests
    }


@pytest.mark.parametrize("name", CASE_NAMES)
def test_a_run_through_the_api_computes_what_bare_computes_in_a_process_the_worker_started(
    name: str, plane: Plane, finished: dict[str, Finished]
) -> None:
    done = finished[name]
    case = done.request.case
    assert done.poll == ServerPoll(done=True, ok=True, state="COMPLETED", error=None)
    assert done.run.platform == "prefect" and done.run.url is None
    log = StampLog.read(done.request.stamps)
    assert log.outcome(case.grid) == run_bare(case)
    drift = case.drift != "none"
    assert sorted(s.c for s in log.of("tune")) == (sorted(case.grid) if drift else [])
    # Every step a task run of its own (its unit is the task run's id), all in one process: the
    # flow-run process the worker started, as Prefect's process worker runs a flow.
    assert len({s.unit for s in log.stamps}) == len(log.stamps) == (3 + len(case.grid) + 1 if drift else 3)
    pids = {s.pid for s in log.stamps}
    assert len(pids) == 1
    pid = pids.pop()
    assert pid != os.getpid() and pid not in plane.runner.processes()
    assert pid in plane.seen, "the flow-run process was never seen under the services"
    leader, command = plane.seen[pid]
    assert leader == plane.worker
    assert command[1:3] in (["-m", "prefect.engine"], ["-m", "prefect.runner._workspace_supervisor"]), command
    # Its data went to the run's own directory.
    assert (done.request.workdir / "prefect-data" / "model.joblib").is_file()


@pytest.mark.parametrize("name", CASE_NAMES)
def test_platform_timings_hold_every_task_run_in_order(name: str, finished: dict[str, Finished]) -> None:
    done = finished[name]
    timings = done.timings
    log = StampLog.read(done.request.stamps)
    tasks = timings["tasks"]
    # One task run per stamp: the same task names as often as the tasks really ran.
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task["task"]] = counts.get(task["task"], 0) + 1
    assert counts == log.task_counts()
    for task in tasks:
        assert task["state"] == "COMPLETED"
        assert task["queued"] <= task["started"] <= task["ended"], task
    # The run's own record: accepted, taken by the worker, started, ended, in that order, and every
    # task inside its run; stamps inside their task runs (same clock, the same machine).
    assert timings["state"] == "COMPLETED"
    assert timings["queued"] <= timings["submitted"] <= timings["started"] <= timings["ended"]
    assert timings["started"] <= min(t["queued"] for t in tasks)
    assert max(t["ended"] for t in tasks) <= timings["ended"]
    assert [s["state"] for s in timings["states"]][0] == "Scheduled"
    assert [s["state"] for s in timings["states"]][-1] == "Completed"
    for stamp in log.stamps:
        assert any(t["started"] <= stamp.start_ns / 1e9 and stamp.end_ns / 1e9 <= t["ended"] for t in tasks), stamp


def test_a_run_whose_task_fails_is_done_not_ok_with_prefects_message_in_one_line(
    finished: dict[str, Finished],
) -> None:
    done = finished["failing"]
    assert (done.poll.done, done.poll.ok, done.poll.state) == (True, False, "FAILED")
    assert done.poll.error and "\n" not in done.poll.error
    assert done.timings["state"] == "FAILED"
    # The steps before tune ran; tune raised inside its body, so it left no stamp, and select_best never ran.
    assert StampLog.read(done.request.stamps).task_counts() == {"make_data": 1, "train": 1, "detect_drift": 1}


def test_facts_record_what_runs_and_the_settings_the_worker_really_has(plane: Plane) -> None:
    facts = plane.runner.facts()
    assert facts["versions"] == {"prefect": "3.9.1"}
    assert "SQLite" in facts["database"]
    settings = facts["settings"]
    assert settings["PREFECT_WORKER_QUERY_SECONDS"] == "1"
    worker = psutil.Process(plane.worker)
    assert worker.cmdline()[1:] == ["-m", "prefect", "worker", "start", "--pool", server.POOL, "--type", "process"] + [
        "--name",
        server.WORKER,
    ]
    environment = worker.environ()
    assert {k: environment.get(k) for k in server.WORKER_SETTINGS} == server.WORKER_SETTINGS
    assert set(facts["startup_s"]) == {"server_s", "deploy_s", "worker_s", "total_s"}


def test_each_service_leads_a_process_group_of_its_own_and_the_server_listens_on_loopback(plane: Plane) -> None:
    leaders = plane.runner.processes()
    assert len(leaders) == 2
    for leader in leaders:
        assert os.getpgid(leader) == leader != os.getpgid(0)
    listening = [c for c in psutil.Process(leaders[0]).net_connections("tcp") if c.status == psutil.CONN_LISTEN]
    assert [(c.laddr.ip, c.laddr.port) for c in listening] == [("127.0.0.1", plane.port)]


def test_terminate_cancels_a_running_run_through_the_api_and_the_worker_kills_its_process(
    plane: Plane, slow: tuple[RunRequest, ServerRun]
) -> None:
    request, run = slow
    # Running: the flow's code has begun in the run's own process under the worker (the flow run's id is in
    # its environment); its tune will sleep for 600 s.
    deadline = time.monotonic() + RUN_BOUND_S
    while plane.runner.poll(run).state != "RUNNING":
        assert time.monotonic() < deadline, "the slow run never started running"
        time.sleep(0.2)
    process = _process_of(plane, run)
    plane.runner.terminate(run, "timeout")
    poll = _wait_done(plane, {"slow": run})["slow"]
    assert poll.done and not poll.ok
    assert poll.state == "CANCELLED"
    # The worker killed it: no tune finished (each would sleep 600 s) and nothing after them ran.
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    assert StampLog.read(request.stamps).of("tune") == StampLog.read(request.stamps).of("select_best") == []
    plane.runner.terminate(run, "again")  # idempotent: a finished run is left alone
    assert plane.runner.poll(run).state == "CANCELLED"
    assert plane.runner.platform_timings(run)["state"] == "CANCELLED"


def test_terminate_right_after_submit_cancels_the_run_before_any_task(plane: Plane, tmp_path: Path) -> None:
    # Still SCHEDULED (the server cancels it outright) or just taken by the worker (its process is
    # killed while it starts): either way the run ends cancelled and no task ran.
    request = _request(tmp_path, CASES["smoke"], "early")
    run = plane.runner.submit(request)
    plane.runner.terminate(run, "interrupted")
    poll = _wait_done(plane, {"early": run})["early"]
    assert (poll.done, poll.ok, poll.state) == (True, False, "CANCELLED")
    assert StampLog.read(request.stamps).stamps == ()


def test_a_control_plane_whose_port_is_taken_fails_in_one_line_naming_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = own_environment("prefect")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(server, "free_port", lambda: port)
        context = _context(str(env.python), tmp_path)
        with pytest.raises(BenchError) as caught:
            with server.control_plane(context):
                pass
    log = tmp_path / "prefect-server.log"
    assert str(caught.value) == f"the Prefect server exited with status 1 before it was ready; its log: {log}"
    assert f"Port {port} is already in use" in log.read_text()
    assert live_processes_with("PREFECT_HOME", tmp_path) == []


def test_a_control_plane_without_prefect_fails_in_one_line_naming_its_log(tmp_path: Path) -> None:
    # The harness's interpreter has no Prefect: the server part exits at once.
    context = _context(sys.executable, tmp_path)
    with pytest.raises(BenchError) as caught:
        with server.control_plane(context):
            pass
    log = tmp_path / "prefect-server.log"
    assert "\n" not in str(caught.value)
    assert str(caught.value) == f"the Prefect server exited with status 1 before it was ready; its log: {log}"
    assert "No module named prefect" in log.read_text()


def test_after_the_control_plane_stops_nothing_is_left_but_its_home(
    plane: Plane, finished: dict[str, Finished], tmp_path: Path
) -> None:
    leaders = plane.runner.processes()
    flow_runs = [pid for pid, (leader, _) in plane.seen.items() if leader == plane.worker]
    assert flow_runs, "no flow-run process was seen"
    # A run still in flight when the session ends (Ctrl-C): Prefect starts its process in a session of its
    # own, out of reach of a signal to the worker's group; it must not outlive the control plane either.
    slow = dataclasses.replace(CASES["smoke"], variant="slow_tune", tune_delay_s=600.0)
    in_flight = _process_of(plane, plane.runner.submit(_request(tmp_path, slow, "inflight")))
    assert os.getpgid(in_flight.pid) not in leaders
    plane.stack.close()
    assert not in_flight.is_running() or in_flight.status() == psutil.STATUS_ZOMBIE
    for leader in leaders:
        assert groups.members(leader) == []
    assert live_processes_with("PREFECT_HOME", plane.home) == []
    for pid in flow_runs:
        with contextlib.suppress(psutil.NoSuchProcess):
            assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    # Nobody listens on its port, and a new server can take it (as servers bind: with SO_REUSEADDR,
    # which lets a listener bind over the connections the old one left in TIME_WAIT).
    assert [
        c for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == plane.port and c.status == "LISTEN"
    ] == []
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", plane.port))
        probe.listen()
    # The home is the harness's to remove: its logs and database are still there to read.
    assert (plane.home / "prefect-server.log").is_file() and (plane.home / "prefect-worker.log").is_file()
