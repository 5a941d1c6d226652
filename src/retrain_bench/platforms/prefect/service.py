"""The Prefect session service: one ``prefect server start`` for the session, outside every round.

Without ``PREFECT_API_URL`` every flow run starts a temporary server of its own (6-12 s per
launcher); one server for the session, healthy before the first round, keeps that out of the
rounds and out of their timers. It runs in its own process group (its uvicorn child outlives a
leader killed alone) and is stopped as a group when the session ends. Its CPU and memory are not
in any round's figures: it is not in the round's process tree.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from retrain_bench.errors import BenchError
from retrain_bench.platforms import groups
from retrain_bench.platforms.definition import ServiceContext

HOST = "127.0.0.1"
HEALTHY_TIMEOUT_S = 180.0


def server_variables(home: Path) -> dict[str, str]:
    """The server's settings: its database under ``home``, offline, no UI."""
    return {
        "PREFECT_HOME": str(home),
        # Telemetry to Prefect's servers: off (and this machine may have no internet).
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }


def client_variables(api_url: str, home: Path) -> dict[str, str]:
    """What every launcher of the session gets: the server to report to, a home of the session's."""
    return {
        "PREFECT_API_URL": api_url,
        # The client's own files (memo_store.toml, profiles) go here, not to ~/.prefect.
        "PREFECT_HOME": str(home),
        # Flow and task run INFO lines (~10 a run) on stdout: warnings and errors stay.
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return bool(answer.status == 200 and answer.read().strip() == b"true")
    except (urllib.error.URLError, OSError, ValueError):
        return False


@contextlib.contextmanager
def server(context: ServiceContext) -> Iterator[Mapping[str, str]]:
    """A Prefect server on a free loopback port, healthy; stopped (its whole group) afterwards."""
    home = context.home / "server"
    client_home = context.home / "client"
    home.mkdir()
    client_home.mkdir()
    log = context.home / "prefect-server.log"
    port = free_port()
    url = f"http://{HOST}:{port}/api"
    command = [context.python, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)]
    context.progress(f"[retrain-bench] prefect: starting the session's server on {HOST}:{port}")
    started = time.perf_counter()
    with groups.running(command, {**os.environ, **server_variables(home)}, log) as process:
        while not healthy(url):
            if process.poll() is not None:
                code = process.returncode
                raise BenchError(f"the Prefect server exited with status {code} before it was healthy; its log: {log}")
            if time.perf_counter() - started > HEALTHY_TIMEOUT_S:
                raise BenchError(f"the Prefect server was not healthy within {HEALTHY_TIMEOUT_S:g} s; its log: {log}")
            time.sleep(0.25)
        context.progress(f"[retrain-bench] prefect: server healthy in {time.perf_counter() - started:.1f} s")
        yield client_variables(url, client_home)
