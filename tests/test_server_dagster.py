"""Dagster's control plane for ``--target=server``: one real code server, webserver and daemon for the module.

The environment is the platform's own (dagster 1.13.28 with dagster-webserver), built or reused by
``environments.ensure``; the control plane runs from this process as the harness starts it, and
every run goes through the webserver's GraphQL API. Runs are slow here (each step a spawned
process importing Dagster and the workload: 10-30 s a step on two loaded cores), so the runs the
tests read are submitted together once (``runs``), the one to terminate among them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from retrain_bench.errors import BenchError
from retrain_bench.platforms import groups
from retrain_bench.platforms.dagster import runner as runner_module
from retrain_bench.platforms.dagster import server
from retrain_bench.platforms.dagster.runner import DagsterRunner
from retrain_bench.platforms.server import RunRequest, ServerContext, ServerPoll, ServerRun
from retrain_bench.workload.cases import CASES
from retrain_bench.workload.retraining import run_bare
from retrain_bench.workload.stamps import StampLog
from tests.helpers import REPO
from tests.own_env_platforms import own_environment

pytestmark = pytest.mark.slow

#: A bound on waiting for a run, so a broken control plane fails the test instead of hanging it.
RUN_BOUND_S = 900.0
NAMES = ("smoke", "no_drift")


@dataclasses.dataclass
class Plane:
    runner: DagsterRunner
    python: str
    home: Path
    stack: contextlib.ExitStack
    ports: tuple[int, ...]
    leaders: dict[str, int]


@dataclasses.dataclass(frozen=True)
class Finished:
    request: RunRequest
    run: ServerRun
    poll: ServerPoll
    log: StampLog
    timings: dict[str, object]
    #: every process seen below a leader while the runs ran: pid -> the part it was below
    seen: dict[int, str]


def _context(python: str, home: Path) -> ServerContext:
    return ServerContext(python=python, home=home, pipelines=REPO / "bench", progress=lambda line: None)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    env = own_environment("dagster")
    home = tmp_path_factory.mktemp("dagster-server") / "home"
    home.mkdir()
    stack = contextlib.ExitStack()
    with stack:
        runner = stack.enter_context(server.control_plane(_context(str(env.python), home)))
        ports = tuple(runner.settings.ports.values())
        yield Plane(runner, str(env.python), home, stack, ports, dict(runner.settings.leaders))


def _request(plane: Plane, name: str, run_name: str) -> RunRequest:
    workdir = plane.home.parent / "runs" / run_name
    workdir.mkdir(parents=True)
    return RunRequest(CASES[name], run_name, workdir)


def _descendants(leaders: dict[str, int]) -> dict[int, str]:
    found = {}
    for part, pid in leaders.items():
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children(recursive=True):
                found[child.pid] = part
    return found


@dataclasses.dataclass(frozen=True)
class Terminated:
    run: ServerRun
    #: the state it was in when terminated
    state_then: str
    poll: ServerPoll
    timings: dict[str, object]


@dataclasses.dataclass(frozen=True)
class Runs:
    finished: dict[str, Finished]
    terminated: Terminated
    broken: ServerPoll


@pytest.fixture(scope="module")
def runs(plane: Plane) -> Runs:
    """``smoke`` and ``no_drift`` submitted together and polled to their end, every process below
    the leaders sampled meanwhile; beside them a ``smoke`` run terminated once it runs, and a run
    whose first step fails."""
    runner = plane.runner
    requests = {name: _request(plane, name, name.replace("_", "")) for name in NAMES}
    submitted = {name: runner.submit(request) for name, request in requests.items()}
    doomed = runner.submit(_request(plane, "smoke", "terminated"))
    # A run whose directory does not exist: its first stamp cannot be written, its first step fails.
    broken = runner.submit(RunRequest(CASES["no_drift"], "broken", plane.home.parent / "runs" / "missing"))
    polls: dict[str, ServerPoll] = {}
    seen: dict[int, str] = {}
    state_then: str | None = None
    deadline = time.monotonic() + RUN_BOUND_S
    while len(polls) < len(submitted) + 2:
        assert time.monotonic() < deadline, f"runs still going after {RUN_BOUND_S:g} s: {polls}"
        seen.update(_descendants(plane.leaders))
        for name, run in [*submitted.items(), ("terminated", doomed), ("broken", broken)]:
            if name in polls:
                continue
            poll = runner.poll(run)
            if poll.done:
                polls[name] = poll
            elif name == "terminated" and state_then is None and poll.state == "STARTED":
                state_then = poll.state
                runner.terminate(doomed, "timeout")
        time.sleep(0.2)
    finished = {
        name: Finished(
            requests[name],
            submitted[name],
            polls[name],
            StampLog.read(requests[name].stamps),
            runner.platform_timings(submitted[name]),
            seen,
        )
        for name in NAMES
    }
    runner.terminate(doomed, "timeout")  # idempotent once it is over
    terminated = Terminated(doomed, state_then or "never STARTED", polls["terminated"], runner.platform_timings(doomed))
    return Runs(finished, terminated, polls["broken"])


@pytest.fixture(scope="module")
def finished(runs: Runs) -> dict[str, Finished]:
    return runs.finished


def test_the_control_plane_is_three_groups_and_records_its_settings(plane: Plane) -> None:
    pids = plane.runner.processes()
    assert sorted(plane.leaders) == ["code server", "daemon", "webserver"]
    assert sorted(pids) == sorted(plane.leaders.values()) and len(set(pids)) == 3
    for pid in pids:
        assert psutil.Process(pid).is_running() and psutil.Process(pid).ppid() != 1
        assert groups.members(pid), "each part leads a process group of its own"
    facts = plane.runner.facts()
    json.dumps(facts)
    assert facts["versions"] == {"dagster": "1.13.28"}
    assert facts["executor"]["name"] == "multiprocess" and facts["executor"]["start_method"] == "spawn"
    assert facts["run_coordinator"] == {"class": "QueuedRunCoordinator", "dequeue_interval_s": 1}
    assert "QUEUED_RUN_COORDINATOR" in facts["parts"]["daemon"]["daemons"]
    assert facts["database"]["kind"] == "sqlite"
    assert Path(facts["database"]["path"]).is_relative_to(plane.home)
    assert set(facts["startup_s"]) == {"code_server_s", "webserver_s", "daemon_s", "total_s"}


@pytest.mark.parametrize("name", NAMES)
def test_a_run_through_graphql_computes_what_bare_computes(name: str, finished: dict[str, Finished]) -> None:
    done, case = finished[name], CASES[name]
    assert done.poll == ServerPoll(done=True, ok=True, state="SUCCESS", error=None)
    # The stamps reached the file the run named (the parts' environment names none).
    assert done.log.outcome(case.grid) == run_bare(case)
    if case.drift != "none":
        # One tune per C value, each its own mapped step (they run side by side: any order).
        tunes = done.log.of("tune")
        assert sorted((s.unit, s.c) for s in tunes) == [(f"dagster:tune[c{i:02d}]", c) for i, c in enumerate(case.grid)]
    else:
        assert done.log.of("tune") == [] and done.log.of("select_best") == []
    # The multiprocess executor: every step in a process of its own.
    assert len({s.pid for s in done.log.stamps}) == len(done.log.stamps)
    # Its frames and model went under the run's own directory.
    assert list((done.request.workdir / "dagster" / "frames" / done.run.run_id).rglob("*.parquet"))


def test_every_step_ran_below_the_code_server(finished: dict[str, Finished]) -> None:
    for done in finished.values():
        parts = {s.task: done.seen.get(s.pid) for s in done.log.stamps}
        assert set(parts.values()) == {"code server"}, parts


@pytest.mark.parametrize("name", NAMES)
def test_platform_timings_hold_every_step_in_order(name: str, finished: dict[str, Finished]) -> None:
    done, case = finished[name], CASES[name]
    timings = done.timings
    tasks = {t["step"]: t for t in timings["tasks"]}  # type: ignore[attr-defined]
    ran = ["make_data", "train", "detect_drift"]
    if case.drift != "none":
        ran += ["fan_out", *(f"tune[c{i:02d}]" for i in range(len(case.grid))), "select_best"]
        assert sorted(tasks) == sorted(ran)
    else:
        assert sorted(tasks) == sorted([*ran, "fan_out", "select_best"])
        assert {tasks[k]["state"] for k in ("fan_out", "select_best")} == {"SKIPPED"}
    for key in ran:
        task = tasks[key]
        assert task["state"] == "SUCCESS"
        assert task["queued"] <= task["started"] <= task["ended"], task
    tunes = [t for t in tasks.values() if t["task"] == "tune"]
    if len(tunes) > 1 and runner_module.MAX_CONCURRENT >= len(tunes):
        # The mapped tunes were ready at once, with a slot each: the executor launched all their
        # processes before any op began.
        assert max(t["queued"] for t in tunes) <= min(t["started"] for t in tunes)
    # Dagster's start and end of a step enclose its op body's own stamp.
    for stamp in done.log.stamps:
        step = stamp.unit.removeprefix("dagster:")
        assert tasks[step]["started"] <= stamp.start_ns / 1e9 <= stamp.end_ns / 1e9 <= tasks[step]["ended"]
        assert tasks[step]["task"] == stamp.task
    assert timings["state"] == "SUCCESS" and timings["executor"] == "multiprocess"
    assert timings["queued"] <= timings["launched"] <= timings["started"] <= timings["ended"]  # type: ignore[operator]
    assert timings["started"] <= min(t["started"] for t in tasks.values() if t["started"])  # type: ignore[operator]


def test_terminate_ends_a_running_run_through_the_api(runs: Runs) -> None:
    terminated = runs.terminated
    assert terminated.state_then == "STARTED"
    assert (terminated.poll.done, terminated.poll.ok, terminated.poll.state) == (True, False, "CANCELED")
    assert terminated.timings["state"] == "CANCELED"
    # It stopped before its end: no select_best succeeded.
    succeeded = {t["task"] for t in terminated.timings["tasks"] if t["state"] == "SUCCESS"}  # type: ignore[attr-defined]
    assert "select_best" not in succeeded


def test_a_failed_run_is_done_not_ok_with_its_steps_error(runs: Runs) -> None:
    poll = runs.broken
    assert (poll.done, poll.ok, poll.state) == (True, False, "FAILURE")
    assert poll.error is not None and "\n" not in poll.error
    assert poll.error.startswith("step make_data: ") and "stamps.jsonl" in poll.error, poll.error


def test_a_run_the_code_location_does_not_hold_is_refused_in_one_line(
    plane: Plane, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(runner_module, "JOB", "no_such_job")
    with pytest.raises(BenchError, match=r"^Dagster refused the run of smoke: .*no_such_job[^\n]*$"):
        plane.runner.submit(RunRequest(CASES["smoke"], "refused", tmp_path))


def _free(port: int) -> bool:
    """Nothing listens on ``port``: a server can bind it (as servers do, with SO_REUSEADDR, which
    lets the closed connections' TIME_WAIT states be)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((server.HOST, port))
        except OSError:
            return False
        probe.listen()
        return True


def _processes_under(home: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(home) in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def test_a_webserver_that_cannot_bind_its_port_is_one_line_naming_its_log(
    plane: Plane, finished: dict[str, Finished], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind((server.HOST, 0))
        taken.listen()
        ports = iter([server.free_port(), taken.getsockname()[1]])
        monkeypatch.setattr(server, "free_port", lambda: next(ports))
        home = tmp_path / "home"
        home.mkdir()
        with pytest.raises(BenchError) as failed, server.control_plane(_context(plane.python, home)):
            pass
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("the Dagster webserver exited") and message.endswith(f"its log: {home / 'webserver.log'}")
    assert (home / "webserver.log").is_file()
    # The code server it had started (and the daemon) are gone too.
    assert _processes_under(home) == []


def test_after_the_context_no_process_or_port_is_left_and_the_home_stays(
    plane: Plane, finished: dict[str, Finished]
) -> None:
    plane.stack.close()
    for pid in plane.leaders.values():
        assert groups.members(pid) == []
    assert _processes_under(plane.home) == []
    assert all(_free(port) for port in plane.ports)
    assert (plane.home / "dagster_home" / "storage").is_dir()  # left for the harness to remove
