"""A round on Dagster's control plane: launch, poll, read and terminate runs through GraphQL.

A run is the code location's ``retrain_bench`` job launched with ``launchRun``; its run config
carries what ``execute_in_process``'s arguments carry locally (the case, the grid) plus the run's
stamps file and data directory, and fixes the multiprocess executor's settings. The
QueuedRunCoordinator queues it; the daemon dequeues it and the DefaultRunLauncher has the code
server start its run worker, which starts one process per step.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from retrain_bench.errors import BenchError
from retrain_bench.platforms.dagster.graphql import LAUNCH, RECORD, STATUS, TERMINATE, GraphQL, one_line
from retrain_bench.platforms.server import RunRequest, ServerPoll, ServerRun

JOB = "retrain_bench"
#: A code location made from a ``Definitions`` object holds one repository of this name.
REPOSITORY = "__repository__"
#: The multiprocess executor's settings, fixed in every run's config (its defaults, spelt out):
#: each step a ``spawn``ed process, at most one per core at once.
EXECUTOR = "multiprocess"
START_METHOD = "spawn"
MAX_CONCURRENT = os.cpu_count() or 1
#: The console logger at WARNING, as locally: Dagster's per-event DEBUG lines would fill the code
#: server's log (the events themselves are stored in the instance's event log all the same).
CONSOLE_LOG_LEVEL = "WARNING"
#: The tag naming the harness's run on Dagster's run.
RUN_TAG = "retrain_bench/run"

TERMINAL = {"SUCCESS": True, "FAILURE": False, "CANCELED": False}
#: Dagster's event types a step's and a run's own record is read from.
STEP_QUEUED = "STEP_WORKER_STARTING"
STEP_ENDS = {"STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"}
RUN_ENDS = {"RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED"}


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """What the control plane was started with (``server.control_plane``)."""

    location: str
    dagster_home: Path
    ports: dict[str, int]
    leaders: dict[str, int]
    logs: dict[str, str]
    startup_s: dict[str, float]
    dequeue_interval_s: int
    daemon_heartbeat_s: int


def run_config(request: RunRequest) -> dict[str, Any]:
    """The run's config: the graph's inputs, its IO managers' root, the executor's settings."""
    root = str(request.workdir / "dagster")
    return {
        "inputs": {
            "case_json": {"value": request.case.to_json()},
            "grid": list(request.case.grid),
            "stamps": {"value": str(request.stamps)},
        },
        "resources": {"frames": {"config": {"root": root}}, "models": {"config": {"root": root}}},
        "execution": {"config": {"max_concurrent": MAX_CONCURRENT, "start_method": {START_METHOD: {}}}},
        "loggers": {"console": {"config": {"log_level": CONSOLE_LOG_LEVEL}}},
    }


def _seconds(value: Any) -> float | None:
    """Dagster's times: ``Run`` fields in unix seconds, event timestamps in unix milliseconds (strings)."""
    return None if value is None else float(value)


def _task(step_key: str) -> tuple[str, str | None]:
    """``tune[c01]`` -> (``tune``, ``c01``): the op and the mapping key of a mapped step."""
    name, _, rest = step_key.partition("[")
    return name, (rest.rstrip("]") or None)


class DagsterRunner:
    """The running control plane, as the harness uses it (``ServerRunner``)."""

    platform = "dagster"

    def __init__(self, api: GraphQL, settings: ServerSettings) -> None:
        self.api = api
        self.settings = settings
        self._facts: dict[str, Any] | None = None

    def facts(self) -> dict[str, Any]:
        if self._facts is None:
            s = self.settings
            self._facts = {
                "parts": {
                    "code server": {"command": "dagster api grpc", "port": s.ports["code server"]},
                    "webserver": {"command": "dagster-webserver", "port": s.ports["webserver"]},
                    "daemon": {"command": "dagster-daemon run", "daemons": self.api.daemons()},
                },
                "versions": {"dagster": self.api.version()},
                "executor": {"name": EXECUTOR, "start_method": START_METHOD, "max_concurrent": MAX_CONCURRENT},
                "run_coordinator": {"class": "QueuedRunCoordinator", "dequeue_interval_s": s.dequeue_interval_s},
                "run_launcher": "DefaultRunLauncher (the code server starts each run worker as its child)",
                "run_monitoring": False,
                "daemon_heartbeat_s": s.daemon_heartbeat_s,
                "console_log_level": CONSOLE_LOG_LEVEL,
                "database": {
                    "kind": "sqlite",
                    "why": "Dagster's default storage on the instance directory; dagster-postgres has no"
                    " release for dagster 1.13.28 (its 0.29.27 pins dagster 1.13.27)",
                    "path": str(s.dagster_home / "storage"),
                },
                "startup_s": dict(s.startup_s),
            }
        return self._facts

    def processes(self) -> tuple[int, ...]:
        return tuple(self.settings.leaders.values())

    def submit(self, request: RunRequest) -> ServerRun:
        selector = {"repositoryLocationName": self.settings.location, "repositoryName": REPOSITORY, "jobName": JOB}
        params = {
            "selector": selector,
            "runConfigData": run_config(request),
            "executionMetadata": {"tags": [{"key": RUN_TAG, "value": request.name}]},
        }
        answer = self.api.call(LAUNCH, {"params": params})["launchRun"]
        if answer["__typename"] != "LaunchRunSuccess":
            errors = answer.get("errors") or [answer]
            why = one_line(str(errors[0].get("message")))
            raise BenchError(f"Dagster refused the run of {request.case.key}: {why}")
        run_id = str(answer["run"]["runId"])
        return ServerRun(self.platform, run_id, f"{self.api.base_url}/runs/{run_id}")

    def _run(self, document: str, run: ServerRun) -> dict[str, Any]:
        found: dict[str, Any] = self.api.call(document, {"runId": run.run_id})["runOrError"]
        if found["__typename"] != "Run":
            raise BenchError(f"Dagster has no run {run.run_id}: {one_line(str(found.get('message')))}")
        return found

    def poll(self, run: ServerRun) -> ServerPoll:
        state = str(self._run(STATUS, run)["status"])
        if state not in TERMINAL:
            return ServerPoll(done=False, state=state)
        ok = TERMINAL[state]
        return ServerPoll(done=True, ok=ok, state=state, error=None if ok else self._error(run, state))

    def _error(self, run: ServerRun, state: str) -> str:
        """The first failed step's error (the op's own exception, which Dagster wraps in a
        ``DagsterExecutionStepExecutionError``), else the run's failure message."""
        messages = []
        for event in self.api.events(run.run_id):
            error = event.get("error") or event.get("pipelineRunFailureError")
            if error and error.get("cause"):
                error = error["cause"]
            if error and error.get("message"):
                step = f"step {event['stepKey']}: " if event.get("stepKey") else ""
                return f"{step}{one_line(error['message'])}"
            if event.get("eventType") in RUN_ENDS and event.get("message"):
                messages.append(one_line(event["message"]))
        return messages[-1] if messages else f"the run ended {state}"

    def terminate(self, run: ServerRun, reason: str) -> None:
        # Dagster's terminateRun takes no reason: the run ends CANCELED, the harness keeps ``reason``.
        answer = self.api.call(TERMINATE, {"runId": run.run_id})["terminateRun"]
        if answer["__typename"] == "TerminateRunSuccess":
            return
        if answer["__typename"] == "TerminateRunFailure":
            now = self.poll(run)
            if now.done or now.state == "CANCELING":
                return  # already over or on its way: terminating twice is not an error
        raise BenchError(f"Dagster could not terminate run {run.run_id}: {one_line(str(answer.get('message')))}")

    def platform_timings(self, run: ServerRun) -> dict[str, Any]:
        """Dagster's own account: per step, the executor launching its process (``queued``), the op
        starting in it (``started``, ``STEP_START``) and its end; the run's enqueue, launch
        (the daemon dequeued it and asked the code server to start it), start and end."""
        record = self._run(RECORD, run)
        events = self.api.events(run.run_id)
        first: dict[tuple[str | None, str], float] = {}
        for event in events:
            if event.get("eventType") and event.get("timestamp") is not None:
                first.setdefault((event.get("stepKey"), event["eventType"]), float(event["timestamp"]) / 1000.0)
        tasks = []
        for stats in record["stepStats"]:
            key = stats["stepKey"]
            task, mapping_key = _task(key)
            ended = _seconds(stats["endTime"])
            if ended is None:
                ended = next((first[(key, kind)] for kind in STEP_ENDS if (key, kind) in first), None)
            tasks.append(
                {
                    "task": task,
                    "key": mapping_key,
                    "step": key,
                    "queued": first.get((key, STEP_QUEUED)),
                    "started": _seconds(stats["startTime"]),
                    "ended": ended,
                    "state": str(stats["status"]),
                }
            )
        run_end = next((first[(None, kind)] for kind in RUN_ENDS if (None, kind) in first), None)
        return {
            "run_id": record["runId"],
            "state": record["status"],
            "queued": first.get((None, "RUN_ENQUEUED"), _seconds(record["creationTime"])),
            "launched": first.get((None, "RUN_STARTING")),
            "started": _seconds(record["startTime"]),
            "ended": _seconds(record["endTime"]) or run_end,
            "executor": EXECUTOR,
            "tasks": tasks,
        }
