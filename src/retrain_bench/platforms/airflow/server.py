"""Airflow's production control plane on this machine (``--target=server``).

Parts, each in a process group of its own, all state under the session's home:

- PostgreSQL (``platforms/postgres.py``): the metadata database, a throwaway cluster; Airflow's
  documentation rules out SQLite for anything but trying it out (it serialises every write).
- ``airflow api-server``: the public REST API the harness submits and polls through, and the
  execution API the task processes report to (Airflow 3 tasks never touch the database).
- ``airflow scheduler`` with the LocalExecutor: creates task instances, queues them and hands them
  to its forked worker processes, each of which starts a supervised process per task instance; so
  every task of a round is a descendant of the scheduler's group leader.
- ``airflow dag-processor``: parses the DAG folder (``bench/airflow/dags``, the local target's DAG)
  into the database; Airflow 3 no longer parses in the scheduler.

No triggerer: the DAG has no deferrable task. The scheduler runs with ``--skip-serve-logs`` (its log
server would listen on 0.0.0.0:8793); the api-server reads task logs from the shared log folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from retrain_bench.errors import BenchError
from retrain_bench.platforms import groups, postgres
from retrain_bench.platforms.airflow import server_settings
from retrain_bench.platforms.airflow.rest import AirflowRunner, Api
from retrain_bench.platforms.server import ServerContext
from retrain_bench.workload.stamps import ENV as STAMPS_VARIABLE

DAG_ID = "retrain_bench"
DATABASE = "airflow"
MIGRATE_TIMEOUT_S = 600.0
#: api-server, scheduler and dag-processor healthy and the DAG parsed (~27 s here on 2 loaded cores)
HEALTHY_TIMEOUT_S = 300.0
POLL_S = 0.5

#: What the platform's interpreter reports before anything starts: the versions, and whether the
#: PostgreSQL drivers are there (an environment built before ``Sdk.requires`` lacks them).
VERSIONS = """
import importlib.metadata as m, importlib.util as u, json
names = ("apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk", "psycopg2-binary", "asyncpg")
found = {}
for name in names:
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""


def api_port() -> int:
    """A free loopback port for the api-server (a function of its own so a test can hand it a taken one)."""
    return postgres.free_port()


def _versions(python: str) -> dict[str, str | None]:
    done = subprocess.run([python, "-c", VERSIONS], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise BenchError(f"the airflow environment's interpreter {python} does not run: {done.stderr.strip()[-200:]}")
    found: dict[str, str | None] = json.loads(done.stdout)
    missing = [name for name in ("apache-airflow", "psycopg2-binary", "asyncpg") if not found.get(name)]
    if missing:
        raise BenchError(
            f"the airflow environment lacks {', '.join(missing)} (the server target's PostgreSQL drivers):"
            " rebuild it (the Sdk in retrain_bench.platforms.airflow.definition lists them in its requires)"
        )
    return found


def _dags_folder(context: ServerContext) -> Path:
    if context.pipelines is None:
        raise BenchError(
            "the Airflow server target needs the benchmark's bench/ directory (its DAG in bench/airflow/dags)"
        )
    folder = context.pipelines / "airflow" / "dags"
    if not (folder / "retrain_bench_dag.py").is_file():
        raise BenchError(f"no Airflow DAG at {folder}/retrain_bench_dag.py: run from the repository's bench/ directory")
    return folder


def _services_environment(variables: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **variables}
    # A run names its own stamps file (the DAG's ``stamps`` param); nothing of the harness's leaks in.
    env.pop(STAMPS_VARIABLE, None)
    return env


def _wait_healthy(api: Api, parts: dict[str, tuple[Any, Path]], started: float) -> None:
    """Until the health endpoint reports every part healthy and the DAG is parsed; a part that exits,
    or the time running out, is a one-line ``BenchError`` naming the log of the part at fault."""
    deadline = started + HEALTHY_TIMEOUT_S
    while True:
        for name, (process, log) in parts.items():
            if process.poll() is not None:
                raise BenchError(
                    f"Airflow's {name} exited with status {process.returncode} before the control plane"
                    f" was healthy; its log: {log}"
                )
        health = api.healthy()
        waiting = [
            name
            for name, key in (("scheduler", "scheduler"), ("dag-processor", "dag_processor"))
            if health.get(key) != "healthy"
        ]
        if health.get("metadatabase") != "healthy":
            waiting.insert(0, "api-server")
        if not waiting:
            with contextlib.suppress(BenchError):
                api.call("GET", f"/dags/{DAG_ID}")
                return
            waiting = ["dag-processor"]  # healthy, but the DAG is not parsed yet (or failed to import)
        if time.perf_counter() > deadline:
            name = waiting[0]
            raise BenchError(
                f"Airflow's {name} was not healthy within {HEALTHY_TIMEOUT_S:g} s"
                f" (health: {health or 'no answer'}); its log: {parts[name][1]}"
            )
        time.sleep(POLL_S)


@contextlib.contextmanager
def control_plane(context: ServerContext) -> Iterator[AirflowRunner]:
    """PostgreSQL, api-server, scheduler and dag-processor running and healthy, the DAG unpaused;
    every group stopped afterwards (also on an exception or Ctrl-C)."""
    started = time.perf_counter()
    dags = _dags_folder(context)
    versions = _versions(context.python)
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(postgres.cluster(context.home, DATABASE, context.progress))
        home = context.home / "airflow-home"
        home.mkdir()
        port = api_port()
        env = _services_environment(
            server_settings.variables(home, dags, database.url(), port, secrets.token_urlsafe(32))
        )
        context.progress("[retrain-bench] airflow: migrating the metadata database")
        migrate_s = groups.run(
            [context.python, "-m", "airflow", "db", "migrate"],
            env,
            context.home / "airflow-db-migrate.log",
            MIGRATE_TIMEOUT_S,
            "airflow db migrate (the server target's metadata database)",
        )
        commands = {
            "api-server": ["api-server", "--host", postgres.HOST, "--port", str(port)],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
        }
        parts: dict[str, tuple[Any, Path]] = {}
        for name, arguments in commands.items():
            log = context.home / f"airflow-{name}.log"
            process = stack.enter_context(groups.running([context.python, "-m", "airflow", *arguments], env, log))
            parts[name] = (process, log)
        context.progress(f"[retrain-bench] airflow: api-server on {postgres.HOST}:{port}, scheduler, dag-processor")
        # HTTP with requests from the harness's process: Airflow's own client cannot be imported here.
        api = Api(f"http://{postgres.HOST}:{port}")
        stack.callback(api.close)
        _wait_healthy(api, parts, started)
        api.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
        startup_s = time.perf_counter() - started
        context.progress(f"[retrain-bench] airflow: control plane healthy in {startup_s:.1f} s")
        facts = {
            "parts": ["postgresql", *commands],
            "versions": {**{k: v for k, v in versions.items() if v}, "postgresql": database.version},
            "executor": server_settings.EXECUTOR,
            "settings": {
                key.removeprefix("AIRFLOW__").lower().replace("__", "."): value
                for key, value in server_settings.SETTINGS.items()
            },
            "auth": "simple auth manager, every user an admin (a token without credentials), loopback only",
            "database": database.facts(),
            "api": f"http://{postgres.HOST}:{port}/api/v2",
            "dag_id": DAG_ID,
            "startup_s": round(startup_s, 3),
            "migrate_s": round(migrate_s, 3),
        }
        leaders = (database.leader, *(process.pid for process, _ in parts.values()))
        yield AirflowRunner(api, DAG_ID, leaders, facts)
