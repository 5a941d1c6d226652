"""Prefect's production path on this machine (``--target=server``): server, process work pool, worker.

What runs, each in a process group of its own, all state under the session's home:

1. ``prefect server start`` on a free loopback port: the REST API, Prefect's own background
   services (scheduler, late runs, cancellation clean-up, the event and task-run recorders) in the
   same process, and its database, SQLite (Prefect's default; a file under the home).
2. A one-off set-up in the platform's interpreter (``deploy.py``): a ``process`` work pool and one
   deployment of the benchmark's flow (``bench/prefect/flow.py``, the local target's very module)
   from a source directory under the home: no image, no remote storage.
3. ``prefect worker start --type process`` on that pool: it polls the server for scheduled runs
   and starts each one as a process of its own (Prefect's workspace supervisor, which execs
   ``python -m prefect.engine``); the flow's tasks run in that process's threads (the flow's
   ``ThreadPoolTaskRunner``, as on the local target).

The worker's polling and heartbeat settings are fixed here (``WORKER_SETTINGS``), not left to
Prefect's defaults, because they shape every run's timings; ``facts()`` records them.

Prefect starts each flow-run process in a session of its own (so a signal to the worker's group
does not reach it): it is still the worker's child, so the ``platform`` scope's process trees hold
it, but stopping the worker's group alone could leave it behind. Teardown therefore notes every
descendant of the services first and kills whatever of them outlives the groups.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from retrain_bench.errors import BenchError
from retrain_bench.platforms import groups
from retrain_bench.platforms.prefect.server_api import RETRIED, RETRIES, Api, PrefectRunner
from retrain_bench.platforms.prefect.service import HOST, free_port, server_variables
from retrain_bench.platforms.prefect.service import healthy as server_healthy
from retrain_bench.platforms.server import ServerContext

POOL = "retrain-bench"
WORKER = "retrain-bench-worker"
DEPLOYMENT = "retrain-bench"
#: The flow's module under the deployment's source directory (the shim that imports the benchmark's flow).
FLOW_FILE = "retrain_bench_flow.py"
FLOW_ENTRYPOINT = f"{FLOW_FILE}:retrain"

SERVER_HEALTHY_TIMEOUT_S = 240.0
DEPLOY_TIMEOUT_S = 240.0
WORKER_ONLINE_TIMEOUT_S = 180.0

#: The worker's settings that shape a run's timings, fixed rather than left to Prefect's defaults. The
#: flow-run processes inherit the worker's environment, so they hold there too.
WORKER_SETTINGS: dict[str, str] = {
    # How often the worker asks the server for runs to start (Prefect's default: 10 s): a run waits
    # up to this long in SCHEDULED before the worker sees it.
    "PREFECT_WORKER_QUERY_SECONDS": "1",
    # How far ahead it looks for scheduled runs (default 10 s): ours are scheduled "now".
    "PREFECT_WORKER_PREFETCH_SECONDS": "1",
    # How often it reports itself to the server (default 30 s, kept).
    "PREFECT_WORKER_HEARTBEAT_SECONDS": "30",
    # Cancellation: the worker hears of CANCELLING runs over a websocket; this polling fallback
    # would otherwise wait 120 s. And runs cancelled while still PENDING are killed too.
    "PREFECT_WORKER_CANCELLATION_POLL_SECONDS": "1",
    "PREFECT_WORKER_ENABLE_CANCELLATION": "true",
    # The flow run's own heartbeat (Prefect's default 180 s, kept): longer than any case's run.
    "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "180",
    # As on the local target: nothing persisted, warnings and errors only.
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}
#: Fixed by Prefect's code, not settable: recorded beside the settings.
CANCEL_GRACE_S = 30.0

FLOW_SOURCE = '''"""The benchmark's Prefect flow, as the server target's deployment loads it (written for the session).

It imports the package ``bench`` by location, as a local-target launcher does, so the deployed
flow is the very module the local target runs and nothing else of the repository is importable.
"""

from pathlib import Path

from retrain_bench.harness.pipelines import import_pipelines

import_pipelines(Path({bench!r}))

from bench.prefect.flow import retrain  # noqa: E402,F401
'''


def _environment(extra: dict[str, str]) -> dict[str, str]:
    # The harness's own stamps variable must not leak into the services: each run names its file.
    inherited = {k: v for k, v in os.environ.items() if k != "BENCH_STAMPS" and not k.startswith("PREFECT_")}
    return {**inherited, **extra}


def _wait(ready: Any, process: Any, what: str, log: Path, timeout_s: float) -> float:
    """Seconds until ``ready()``; one-line ``BenchError`` naming ``log`` if the part exits or takes too long."""
    started = time.perf_counter()
    while not ready():
        if process.poll() is not None:
            raise BenchError(f"{what} exited with status {process.returncode} before it was ready; its log: {log}")
        if time.perf_counter() - started > timeout_s:
            raise BenchError(f"{what} was not ready within {timeout_s:g} s; its log: {log}")
        time.sleep(0.25)
    return time.perf_counter() - started


def _worker_online(api: Api) -> bool:
    try:
        workers = api.call("POST", f"/work_pools/{POOL}/workers/filter", {})
    except BenchError:
        return False
    return any(w.get("name") == WORKER and w.get("status") == "ONLINE" for w in workers or [])


def _descendants(leaders: list[int]) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for pid in leaders:
        with contextlib.suppress(psutil.Error):
            found.extend(psutil.Process(pid).children(recursive=True))
    return found


def _kill_survivors(noted: list[psutil.Process]) -> None:
    """SIGKILL what is left of ``noted`` (each with its own group: a flow run's process starts its own)."""
    for process in noted:
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                os.killpg(os.getpgid(process.pid), signal.SIGKILL)
    psutil.wait_procs(noted, timeout=5)


@contextlib.contextmanager
def control_plane(context: ServerContext) -> Iterator[PrefectRunner]:
    """Server, work pool + deployment, worker: healthy, then yielded; every group stopped afterwards."""
    if context.pipelines is None:
        raise BenchError("Prefect's server target deploys the benchmark's flow: run from the repository's root")
    home = context.home
    server_home, client_home, source, tmp = (home / d for d in ("server", "client", "flow-source", "tmp"))
    for directory in (server_home, client_home, source, tmp):
        directory.mkdir(parents=True, exist_ok=True)
    (source / FLOW_FILE).write_text(FLOW_SOURCE.format(bench=str(context.pipelines)))
    port = free_port()
    url = f"http://{HOST}:{port}/api"
    api = Api(url, home / "prefect-server.log")
    client = {"PREFECT_API_URL": url, "PREFECT_HOME": str(client_home), "TMPDIR": str(tmp)}
    #: server_s: to healthy; then worker_s (to online) and deploy_s run side by side; total_s: all of it
    startup: dict[str, float] = {}
    began = time.perf_counter()

    with contextlib.ExitStack() as stack:
        context.progress(f"[retrain-bench] prefect: starting the server on {HOST}:{port}")
        server_env = _environment({**server_variables(server_home), "TMPDIR": str(tmp)})
        command = [context.python, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)]
        server = stack.enter_context(groups.running(command, server_env, api.log))
        # Before the server stops: the harness's side closes its connections first.
        stack.callback(api.http.close)
        healthy = lambda: server_healthy(url)  # noqa: E731
        startup["server_s"] = _wait(healthy, server, "the Prefect server", api.log, SERVER_HEALTHY_TIMEOUT_S)
        context.progress(
            f"[retrain-bench] prefect: server healthy in {startup['server_s']:.1f} s; starting the worker, deploying"
        )

        # The worker starts (imports Prefect, registers) while the flow is deployed: both only need the server.
        worker_log = home / "prefect-worker.log"
        worker_command = [context.python, "-m", "prefect", "worker", "start", "--pool", POOL, "--type", "process"]
        worker_command += ["--name", WORKER]
        # Run after the worker's group is stopped: whatever the worker started in sessions of its own.
        noted: list[psutil.Process] = []
        stack.callback(_kill_survivors, noted)
        worker_started = time.perf_counter()
        worker_env = _environment({**client, **WORKER_SETTINGS})
        worker = stack.enter_context(groups.running(worker_command, worker_env, worker_log))
        # Run first on the way out, while the worker still holds its flow-run processes.
        leaders = [server.pid, worker.pid]
        stack.callback(lambda: noted.extend(_descendants(leaders)))

        out = home / "deployment.json"
        deploy = [context.python, "-m", "retrain_bench.platforms.prefect.deploy"]
        deploy += [POOL, str(source), FLOW_ENTRYPOINT, DEPLOYMENT, str(out)]
        startup["deploy_s"] = groups.run(
            deploy, _environment(client), home / "prefect-deploy.log", DEPLOY_TIMEOUT_S, "deploying the Prefect flow"
        )
        deployed = json.loads(out.read_text())
        _wait(lambda: _worker_online(api), worker, "the Prefect worker", worker_log, WORKER_ONLINE_TIMEOUT_S)
        startup["worker_s"] = time.perf_counter() - worker_started
        startup["total_s"] = time.perf_counter() - began
        context.progress(f"[retrain-bench] prefect: flow deployed, worker online ({startup['total_s']:.1f} s in all)")

        version = api.call("GET", "/admin/version")
        facts = {
            "parts": [
                "prefect server (REST API and its background services in one process; UI off)",
                f"process work pool {POOL!r} with one deployment of bench/prefect/flow.py (source directory)",
                "prefect worker --type process (one process per flow run)",
            ],
            "versions": {"prefect": str(version)},
            "executor": (
                "process worker: each flow run in a process of its own started by the worker (Prefect's workspace"
                " supervisor exec'ing python -m prefect.engine); its tasks in that process's threads"
                " (ThreadPoolTaskRunner)"
            ),
            "settings": dict(WORKER_SETTINGS),
            # Not settable: fixed in Prefect's code, recorded beside the settings.
            "fixed_by_prefect": {"cancellation_grace_s": CANCEL_GRACE_S},
            "server_settings": {k: v for k, v in server_variables(server_home).items() if k != "PREFECT_HOME"},
            "database": "SQLite (aiosqlite), Prefect's default, a file under the session's home",
            "client": (
                f"REST over HTTP (requests); HTTP {', '.join(map(str, sorted(RETRIED)))} retried up to {RETRIES} times,"
                " 2**n s apart, as Prefect's own client does"
            ),
            "deployment": {"entrypoint": FLOW_ENTRYPOINT, "pull_steps": "set_working_directory", **deployed},
            "startup_s": startup,
        }
        yield PrefectRunner(api, deployed["deployment"], facts, tuple(leaders))
