"""Dagster's production control plane on this machine (``--target=server``): started once per session.

Three parts, each a process group of its own, all on one instance directory (``DAGSTER_HOME``
under the session's home, default SQLite storage):

- the code server (``dagster api grpc``) serving the code location ``bench.dagster.pipeline:
  definitions``, the same graph as the local target. It is started by us, not by the webserver
  and the daemon (each would spawn a code server of its own on a port of Dagster's choosing):
  one code server, on a loopback port we picked, as Dagster's own deployments run a code location;
  the DefaultRunLauncher asks it to start each run, so every run worker (and its step processes)
  is its descendant, inside its group.
- the webserver (``dagster-webserver``): the GraphQL API the harness launches, polls, reads and
  terminates runs through.
- the daemon (``dagster-daemon run``): the QueuedRunCoordinator's dequeue loop (every
  ``DEQUEUE_INTERVAL_S``) hands queued runs to the DefaultRunLauncher.

The job runs with the multiprocess executor (Dagster's default for a job: each step its own
spawned process), its settings fixed in every run's config and recorded in ``facts()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from subprocess import Popen

from retrain_bench.errors import BenchError
from retrain_bench.platforms import groups
from retrain_bench.platforms.dagster.graphql import GraphQL
from retrain_bench.platforms.dagster.runner import DagsterRunner, ServerSettings
from retrain_bench.platforms.server import ControlPlane, ServerContext

HOST = "127.0.0.1"
#: The code location's name in the workspace and in every run's selector.
LOCATION = "retrain_bench"
#: How long each part gets to be healthy (its imports take 10-40 s on two loaded cores).
HEALTHY_TIMEOUT_S = 240.0
#: How often start-up checks a part (a TCP connect, one GraphQL call).
CHECK_EVERY_S = 0.5
#: The QueuedRunCoordinator's dequeue loop: the daemon's default is 5 s; 1 s (its minimum, an
#: integer) keeps the queue from dominating a run. Recorded in ``facts()``.
DEQUEUE_INTERVAL_S = 1
#: The daemon's heartbeat: fixed by Dagster (``DEFAULT_HEARTBEAT_INTERVAL_SECONDS``), no setting.
DAEMON_HEARTBEAT_S = 30


def free_port() -> int:
    """A free port on the loopback interface (released now, taken by a part a moment later)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def instance_yaml(dequeue_interval_s: object = DEQUEUE_INTERVAL_S) -> str:
    """``dagster.yaml``: the queued coordinator and the default launcher fixed, telemetry off,
    run monitoring off (a dead run worker is found by the harness's run timeout, not a 120 s loop);
    storage is Dagster's default, SQLite files under ``DAGSTER_HOME/storage``."""
    config = {
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"dequeue_interval_seconds": dequeue_interval_s},
        },
        "run_launcher": {"module": "dagster._core.launcher", "class": "DefaultRunLauncher"},
        "run_monitoring": {"enabled": False},
    }
    # JSON is YAML: no YAML library in the harness's environment for one small file.
    return json.dumps(config, indent=2) + "\n"


def workspace_yaml(code_port: int) -> str:
    location = {"grpc_server": {"host": HOST, "port": code_port, "location_name": LOCATION}}
    return json.dumps({"load_from": [location]}, indent=2) + "\n"


def _parts_environment(dagster_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    # A stamps file named by the environment would catch every run's stamps: each run names its own.
    env.pop("BENCH_STAMPS", None)
    env["DAGSTER_HOME"] = str(dagster_home)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((HOST, port)) == 0


class _Starting:
    """The parts started so far, each with its log; one-line failures naming the log."""

    def __init__(self, stack: contextlib.ExitStack, env: Mapping[str, str], home: Path) -> None:
        self.stack, self.env, self.home = stack, env, home
        self.processes: dict[str, Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def start(self, part: str, command: Sequence[str]) -> Popen[bytes]:
        log = self.home / f"{part}.log"
        self.logs[part] = log
        process = self.stack.enter_context(groups.running(command, self.env, log))
        self.processes[part] = process
        return process

    def check_alive(self, part: str) -> None:
        process = self.processes[part]
        if process.poll() is not None:
            raise BenchError(
                f"the Dagster {part} exited with status {process.returncode} before it was healthy;"
                f" its log: {self.logs[part]}"
            )

    def check_deadline(self, part: str, started: float) -> None:
        if time.perf_counter() - started > HEALTHY_TIMEOUT_S:
            raise BenchError(
                f"the Dagster {part} was not healthy within {HEALTHY_TIMEOUT_S:g} s; its log: {self.logs[part]}"
            )


def _link_pipelines(pipelines: Path | None, home: Path) -> Path:
    """A working directory holding only ``bench`` (a link to the benchmark's pipelines): the code
    server, its run workers and their step processes import ``bench.dagster.pipeline`` from it, and
    nothing else of the repository joins their import path (as ``harness/pipelines.py`` ensures)."""
    if pipelines is None or not (pipelines / "dagster" / "pipeline.py").is_file():
        raise BenchError(
            f"the Dagster server target needs the benchmark's pipelines (bench/dagster/pipeline.py), not found"
            f" under {pipelines}: run from the repository's root"
        )
    code = home / "code"
    code.mkdir()
    (code / "bench").symlink_to(pipelines.resolve(), target_is_directory=True)
    return code


@contextlib.contextmanager
def control_plane(context: ServerContext) -> Iterator[DagsterRunner]:
    """The code server, webserver and daemon, healthy; every group stopped on the way out."""
    home = context.home
    code_dir = _link_pipelines(context.pipelines, home)
    dagster_home = home / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(instance_yaml())
    ports = {"code server": free_port(), "webserver": free_port()}
    workspace = home / "workspace.yaml"
    workspace.write_text(workspace_yaml(ports["code server"]))
    python = context.python
    startup: dict[str, float] = {}
    began = time.perf_counter()
    with contextlib.ExitStack() as stack:
        parts = _Starting(stack, _parts_environment(dagster_home), home)
        context.progress(f"[retrain-bench] dagster: starting the code server on {HOST}:{ports['code server']}")
        started = time.perf_counter()
        parts.start(
            "code server",
            [
                python, "-m", "dagster", "api", "grpc",
                "--host", HOST, "--port", str(ports["code server"]),
                "--module-name", "bench.dagster.pipeline", "--attribute", "definitions",
                "--working-directory", str(code_dir), "--location-name", LOCATION,
                "--log-level", "warning",
            ],
        )  # fmt: skip
        # The code server loads the definitions before it listens: its port answering is its health.
        while not _accepts(ports["code server"]):
            parts.check_alive("code server")
            parts.check_deadline("code server", started)
            time.sleep(CHECK_EVERY_S)
        startup["code_server_s"] = time.perf_counter() - started
        context.progress(
            f"[retrain-bench] dagster: starting the webserver on {HOST}:{ports['webserver']} and the daemon"
        )
        started = time.perf_counter()
        parts.start(
            "webserver",
            [
                python, "-m", "dagster_webserver", "--host", HOST, "--port", str(ports["webserver"]),
                "--workspace", str(workspace), "--uvicorn-log-level", "warning", "--dagster-log-level", "warning",
            ],
        )  # fmt: skip
        parts.start(
            "daemon",
            [python, "-m", "dagster._daemon", "run", "--workspace", str(workspace), "--log-level", "warning"],
        )
        # The harness's environment cannot hold Dagster's client library (the SDK lives in the
        # platform's own environment): the harness speaks GraphQL over HTTP with ``requests``.
        api = GraphQL(f"http://{HOST}:{ports['webserver']}")
        webserver_s = daemon_s = None
        while webserver_s is None or daemon_s is None:
            for part in ("code server", "webserver", "daemon"):
                parts.check_alive(part)
            if webserver_s is None:
                parts.check_deadline("webserver", started)
                if api.location_loaded(LOCATION):
                    webserver_s = time.perf_counter() - started
            elif daemon_s is None:
                parts.check_deadline("daemon", started)
                if api.daemon_healthy():
                    daemon_s = time.perf_counter() - started
            if webserver_s is None or daemon_s is None:
                time.sleep(CHECK_EVERY_S)
        startup["webserver_s"], startup["daemon_s"] = webserver_s, daemon_s
        startup["total_s"] = time.perf_counter() - began
        context.progress(f"[retrain-bench] dagster: control plane healthy in {startup['total_s']:.1f} s")
        settings = ServerSettings(
            location=LOCATION,
            dagster_home=dagster_home,
            ports=dict(ports),
            leaders={part: process.pid for part, process in parts.processes.items()},
            logs={part: str(log) for part, log in parts.logs.items()},
            startup_s=startup,
            dequeue_interval_s=DEQUEUE_INTERVAL_S,
            daemon_heartbeat_s=DAEMON_HEARTBEAT_S,
        )
        yield DagsterRunner(api, settings)


#: mypy checks here that the runner is a ``ServerRunner`` and this a ``ControlPlane``.
_CONTRACT: ControlPlane = control_plane
