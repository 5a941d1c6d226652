"""The model registry of ``--registry=mlflow``: one real MLflow tracking server for the session.

Started once per session before the first round that needs it, like the Prefect server
(``platforms/prefect/service.py``): ``mlflow server`` from the harness's interpreter, on a free
127.0.0.1 port, its backend store an SQLite file and its artifacts (served through the server,
``--serve-artifacts``) under the session's directory, in a process group of its own that is
stopped as a group when the session ends. Healthy (``GET /health``) and its experiment created
before any round, so MLflow's first-use schema work (18 s on SQLite here) is never in a round.
Its CPU and memory are not in any round's figures: it is not in the round's process tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from retrain_bench.errors import BenchError
from retrain_bench.platforms import groups
from retrain_bench.platforms.prefect.service import HOST, free_port
from retrain_bench.workload import registry

HEALTHY_TIMEOUT_S = 180.0
EXPERIMENT = "retrain-bench"
#: MLflow 3 otherwise sends usage telemetry and writes an id under ~/.config/mlflow.
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _create_experiment(url: str) -> None:
    request = urllib.request.Request(
        f"{url}/api/2.0/mlflow/experiments/create",
        data=json.dumps({"name": EXPERIMENT}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        answer.read()


def client_variables(url: str, prefix: str) -> dict[str, str]:
    """What a launcher gets: the registry to use and the name prefix of its registered models."""
    return {
        registry.ENV: "mlflow",
        registry.PREFIX_ENV: prefix,
        "MLFLOW_TRACKING_URI": url,
        "MLFLOW_EXPERIMENT_NAME": EXPERIMENT,
        # MLflow's INFO lines (model version created, waiting for it): warnings and errors stay.
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        **QUIET,
    }


@contextlib.contextmanager
def mlflow_server(
    home: Path, log: Path, progress: Callable[[str], None], python: str = sys.executable
) -> Iterator[str]:
    """An MLflow tracking server on a free loopback port, its store under ``home``, its output in
    ``log``; healthy, with the experiment created; yields its URL. ``BenchError`` naming ``log``
    when it does not come up."""
    store = home / "registry"
    store.mkdir(parents=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://{HOST}:{port}"
    command = [
        python, "-m", "mlflow", "server", "--host", HOST, "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination", str(store / "artifacts"),
    ]  # fmt: skip
    progress(f"[retrain-bench] registry: starting the session's MLflow server on {HOST}:{port}")
    started = time.perf_counter()
    env = {**os.environ, **QUIET, "HOME": str(home)}
    try:
        with groups.running(command, env, log) as process:
            while not _healthy(url):
                if process.poll() is not None:
                    status = f"exited with status {process.returncode}"
                    raise BenchError(f"the MLflow server {status} before it was healthy; its log: {log}")
                if time.perf_counter() - started > HEALTHY_TIMEOUT_S:
                    limit = f"{HEALTHY_TIMEOUT_S:g} s"
                    raise BenchError(f"the MLflow server was not healthy within {limit}; its log: {log}")
                time.sleep(0.25)
            try:
                _create_experiment(url)
            except (urllib.error.URLError, OSError) as exc:
                raise BenchError(f"the MLflow server did not create its experiment ({exc}); its log: {log}") from None
            progress(f"[retrain-bench] registry: MLflow server ready in {time.perf_counter() - started:.1f} s")
            yield url
    except FileNotFoundError as exc:
        raise BenchError(f"cannot start the MLflow server ({exc}); its log: {log}") from None


def variables_for(url: str, spec: str) -> Mapping[str, str]:
    return client_variables(url, f"retrain-bench-{spec}")
