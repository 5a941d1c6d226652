"""What the server target needs from a platform: its production control plane on this machine.

``--target=server`` runs a platform through its own scheduler, server, workers and database
(Airflow's api-server, scheduler and dag-processor on PostgreSQL; Prefect's server, work pool and
worker; Dagster's webserver and daemon), started once per session on free loopback ports, outside
every round. A round is one run submitted through the platform's public API and polled to its
end. The harness owns the clock, the poll loop, the timeout, Ctrl-C and the resource sampling; a
``ServerRunner`` only starts its control plane and speaks its API.

Stamps: the harness gives every run a ``RunRequest`` with a directory of its own; the pipeline's
tasks write their stamps to ``request.stamps`` (passed as a run parameter, as the case is) and
their data under ``request.workdir``. The harness reads the stamps after the run, as locally.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from retrain_bench.workload.cases import Case


@dataclasses.dataclass(frozen=True)
class ServerContext:
    """What a platform's control plane is given to start with."""

    #: the interpreter of the environment the platform's SDK is installed in (its own environment)
    python: str
    #: an empty directory for the session's state (databases, logs, DAG folders), removed at the end
    home: Path
    #: the benchmark's ``bench`` directory (``harness/pipelines.py``): where the pipeline modules are
    pipelines: Path | None
    #: one-line progress messages, shown as the harness's own
    progress: Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """One run the harness asks for."""

    case: Case
    #: short, unique in the session, lowercase letters and digits (usable as a run id or name)
    name: str
    #: a directory of this run's own, readable and writable by the platform's workers, removed after
    workdir: Path

    @property
    def stamps(self) -> Path:
        """Where the run's tasks append their stamps (``workload/stamps.py``)."""
        return self.workdir / "stamps.jsonl"


@dataclasses.dataclass(frozen=True)
class ServerRun:
    """One run the control plane accepted."""

    platform: str
    #: the platform's own id of the run (Airflow dag_run_id, Prefect flow-run id, Dagster run id)
    run_id: str
    #: the platform's UI page of the run, when known (never carries credentials)
    url: str | None = None


class ServerRunner(Protocol):
    """A running control plane: yielded by ``ServerSide.control_plane`` once everything is healthy."""

    platform: str

    def facts(self) -> Mapping[str, Any]:
        """What the JSON's ``services`` block records for this platform (JSON-ready, no secrets):
        the parts that run and their versions, the executor, the poll and heartbeat settings that
        shape the timings, the database."""
        ...

    def processes(self) -> tuple[int, ...]:
        """The process-group leaders of every service (database included): the ``platform`` scope
        follows their process trees; processes that appear in them during a round are its
        ``execution`` scope."""
        ...

    def submit(self, request: RunRequest) -> ServerRun:
        """Start one run of ``request.case`` through the public API; never waits for it."""
        ...

    def poll(self, run: ServerRun) -> ServerPoll:
        """One status call; never waits."""
        ...

    def terminate(self, run: ServerRun, reason: str) -> None:
        """Stop an unfinished run through the API (timeout, Ctrl-C). Idempotent."""
        ...

    def platform_timings(self, run: ServerRun) -> dict[str, Any]:
        """The orchestrator's own record of a finished run (JSON-ready), at least
        ``{"tasks": [{"task": name, "map_index"/"key": ..., "queued": unix s | None,
        "started": unix s | None, "ended": unix s | None, "state": str}, ...]}`` and the run's own
        ``queued``/``started``/``ended`` where the platform keeps them."""
        ...


@dataclasses.dataclass(frozen=True)
class ServerPoll:
    """What one poll saw. ``done`` once the run reached a terminal state; ``ok`` only if it succeeded."""

    done: bool
    ok: bool = False
    state: str = ""
    #: the platform's error message for a failed run (no credentials)
    error: str | None = None


#: Started once per session before the platform's first server round, stopped (every process group,
#: the database included) when the session ends or on any signal; a one-line ``BenchError`` naming
#: the log of the part that did not start.
ControlPlane = Callable[[ServerContext], contextlib.AbstractContextManager[ServerRunner]]


@dataclasses.dataclass(frozen=True)
class ServerSide:
    """A platform's production path on this machine (``--target=server``)."""

    #: one line on what runs, for the run-level note and docs ("api-server, scheduler, ... on PostgreSQL")
    parts: str
    control_plane: ControlPlane
