"""The server target's rounds, through Prefect's REST API: submit, poll, cancel, read the run's own record.

The harness speaks to the running control plane over HTTP with ``requests``, not with Prefect's
client: Prefect's SDK lives in the platform's own environment and cannot share the harness's
(its pins conflict with the project's), and every call here is one documented REST endpoint:

- submit: ``POST /deployments/{id}/create_flow_run`` with the run's parameters (the case, the
  run's stamps file and data directory), exactly what ``run_deployment`` sends;
- poll: ``GET /flow_runs/{id}``, the run's state type;
- terminate: ``POST /flow_runs/{id}/set_state`` CANCELLING, which the worker sees and acts on by
  killing the flow run's process (SIGTERM, then SIGKILL after Prefect's 30 s grace);
- timings: ``GET /flow_run_states/`` and ``POST /task_runs/filter``.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from retrain_bench.errors import BenchError
from retrain_bench.platforms.server import RunRequest, ServerPoll, ServerRun

#: Prefect's terminal state types; every other (SCHEDULED, PENDING, RUNNING, CANCELLING, PAUSED) is not done.
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})
#: One HTTP call's bound: the server answers a loopback call in milliseconds when it is healthy.
CALL_TIMEOUT_S = 30.0
#: Answers retried, as Prefect's own client retries them (``PrefectHttpxAsyncClient``: up to 5 times,
#: 2**n s apart): the server answers 503 when its database is busy (SQLite locked under load), and a
#: request it answered so rolled back, so even a run's creation is safe to send again.
RETRIED = frozenset({408, 429, 502, 503})
RETRIES = 5
#: Task-run states reach the database from the flow run's events, a moment after the flow run's own
#: final state: how long ``platform_timings`` waits for every task run to be recorded as finished.
RECORDED_WITHIN_S = 20.0


def unix(timestamp: str | None) -> float | None:
    """An API timestamp (``2026-12-07T20:29:11.242694Z``) as unix seconds."""
    if not timestamp:
        return None
    return datetime.datetime.fromisoformat(timestamp).timestamp()


@dataclasses.dataclass
class Api:
    """Calls to one Prefect server's API (``http://127.0.0.1:PORT/api``)."""

    url: str
    #: the server's log, named when the server does not answer
    log: Path

    def __post_init__(self) -> None:
        # requests, not Prefect's client: the SDK is installed only in the platform's own environment.
        self.http = requests.Session()
        # Loopback only: a proxy from the environment must not see these calls.
        self.http.trust_env = False

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = None
        for attempt in range(RETRIES + 1):
            try:
                answer = self.http.request(method, f"{self.url}{path}", json=body, timeout=CALL_TIMEOUT_S)
            except requests.RequestException as exc:
                raise BenchError(
                    f"the Prefect server at {self.url} did not answer {method} {path} ({type(exc).__name__});"
                    f" its log: {self.log}"
                ) from None
            if answer.status_code not in RETRIED or attempt == RETRIES:
                break
            time.sleep(2**attempt)
        assert answer is not None
        if answer.status_code >= 400:
            raise BenchError(
                f"the Prefect server answered {method} {path} with HTTP {answer.status_code}: {answer.text[:200]!r};"
                f" its log: {self.log}"
            )
        return answer.json() if answer.content else None


class PrefectRunner:
    """A running Prefect control plane (``ServerRunner``): one deployment, runs of it through the API."""

    platform = "prefect"

    def __init__(self, api: Api, deployment: str, facts: Mapping[str, Any], leaders: tuple[int, ...]) -> None:
        self.api = api
        self.deployment = deployment
        self._facts = dict(facts)
        self._leaders = leaders
        self._requests: dict[str, RunRequest] = {}

    def facts(self) -> Mapping[str, Any]:
        return self._facts

    def processes(self) -> tuple[int, ...]:
        return self._leaders

    def submit(self, request: RunRequest) -> ServerRun:
        case = request.case
        parameters = {
            "case_json": case.to_json(),
            "grid": list(case.grid),
            "outdir": str(request.workdir / "prefect-data"),
            "stamps": str(request.stamps),
        }
        created = self.api.call(
            "POST", f"/deployments/{self.deployment}/create_flow_run", {"name": request.name, "parameters": parameters}
        )
        run_id = str(created["id"])
        self._requests[run_id] = request
        # The server's UI is off (it is not part of what is measured): no page to link to.
        return ServerRun(platform=self.platform, run_id=run_id)

    def poll(self, run: ServerRun) -> ServerPoll:
        state = self.api.call("GET", f"/flow_runs/{run.run_id}")["state"] or {}
        kind = str(state.get("type") or "")
        done = kind in TERMINAL
        ok = kind == "COMPLETED"
        # Prefect's message for a failed run may hold a traceback's lines: one line for the harness.
        error = " ".join(str(state.get("message") or kind).split()) if done and not ok else None
        return ServerPoll(done=done, ok=ok, state=kind, error=error)

    def terminate(self, run: ServerRun, reason: str) -> None:
        kind = self.poll(run).state
        if kind in TERMINAL or kind == "CANCELLING":
            return
        # Not forced, as ``prefect flow-run cancel`` does it, so the server's rules apply: a run no worker
        # has taken yet (SCHEDULED) goes straight to CANCELLED (nothing to kill; a forced CANCELLING would
        # wait for a worker that never comes); a PENDING or RUNNING one goes to CANCELLING, which the
        # worker acts on by killing its process, and then to CANCELLED. A run that finished meanwhile
        # makes the server abort the transition: nothing to do either.
        self.api.call(
            "POST",
            f"/flow_runs/{run.run_id}/set_state",
            {"state": {"type": "CANCELLING", "message": f"retrain-bench: {reason}"}},
        )

    def platform_timings(self, run: ServerRun) -> dict[str, Any]:
        flow_run = self.api.call("GET", f"/flow_runs/{run.run_id}")
        completed = (flow_run.get("state") or {}).get("type") == "COMPLETED"
        tasks = self._task_runs(run, wait=completed)
        states = self.api.call("GET", f"/flow_run_states/?flow_run_id={run.run_id}") or []
        history = sorted((unix(s["timestamp"]) or 0.0, str(s["type"]), str(s["name"])) for s in states)
        submitted = next((at for at, kind, _ in history if kind == "PENDING"), None)
        return {
            # created: the API accepted the run (SCHEDULED, to start now); submitted: the worker took it
            # (PENDING); started: the flow's code began in the process the worker started (RUNNING).
            "queued": unix(flow_run.get("expected_start_time")),
            "submitted": submitted,
            "started": unix(flow_run.get("start_time")),
            "ended": unix(flow_run.get("end_time")),
            "state": str((flow_run.get("state") or {}).get("type") or ""),
            "states": [{"state": name, "at": at} for at, _, name in history],
            "tasks": [
                {
                    "task": str(t["task_key"]).rsplit("-", 1)[0],
                    "key": str(t["name"]),
                    # Prefect's own key of the task run within the flow run (a counter or an id, its choice).
                    "dynamic_key": t.get("dynamic_key"),
                    # queued: the flow submitted the task run (PENDING); started/ended: its body ran (RUNNING ->
                    # a final state). Prefect keeps no other queue: task runs are threads of the flow's process.
                    "queued": unix(t.get("expected_start_time")),
                    "started": unix(t.get("start_time")),
                    "ended": unix(t.get("end_time")),
                    "state": str(t.get("state_type") or ""),
                }
                for t in sorted(tasks, key=lambda t: (str(t.get("expected_start_time") or ""), str(t["name"])))
            ],
        }

    def _task_runs(self, run: ServerRun, wait: bool) -> list[dict[str, Any]]:
        """The run's task runs; with ``wait``, once every one the stamps name is recorded as finished
        (bounded). A run that did not complete is read once: its killed task runs never finish."""
        request = self._requests.get(run.run_id)
        expected = _stamp_count(request.stamps) if request else 0
        deadline = time.monotonic() + RECORDED_WITHIN_S
        while True:
            tasks: list[dict[str, Any]] = self.api.call(
                "POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": [run.run_id]}}}
            )
            finished = all(str(t.get("state_type")) in TERMINAL for t in tasks)
            if not wait or (finished and len(tasks) >= expected) or time.monotonic() >= deadline:
                return tasks
            time.sleep(0.2)


def _stamp_count(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text().splitlines() if line.strip())
    except OSError:
        return 0
