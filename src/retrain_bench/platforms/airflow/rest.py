"""Airflow's public REST API (``/api/v2``) as the server target's runner: submit, poll, terminate, read back.

The harness process speaks HTTP with ``requests`` rather than through Airflow's own client: Airflow
is installed only in the platform's own environment (its pins conflict with the harness's), so
nothing of it can be imported here. One run is one DAG run of the same DAG as the local target
(``bench/airflow/dags``), with the case, the grid, its data directory and its stamps file in the
run's ``conf`` (the DAG's params).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import requests

from retrain_bench.errors import BenchError
from retrain_bench.platforms.server import RunRequest, ServerPoll, ServerRun

PLATFORM = "airflow"
#: one call's bound: a poll "never waits" for the run, only for one answer of a local server
REQUEST_TIMEOUT_S = 30.0
#: Airflow's default ``[api] maximum_page_limit``: task instances are read page by page
PAGE = 100
TERMINAL = {"success", "failed"}


def unix(value: str | None) -> float | None:
    """An ISO-8601 time of the API (``2026-12-07T20:28:58.656000Z``) as unix seconds."""
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class Api:
    """An authorised session with one api-server; the token is fetched again when it expires."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._session = requests.Session()
        self._token: str | None = None

    def _authorise(self) -> None:
        # Simple auth manager with every user an admin: GET /auth/token hands out a token without a password.
        answer = self._session.get(f"{self.base_url}/auth/token", timeout=REQUEST_TIMEOUT_S)
        if answer.status_code not in (200, 201):
            raise BenchError(
                f"Airflow's api-server refused a token ({answer.status_code}) at {self.base_url}/auth/token"
            )
        self._token = str(answer.json()["access_token"])

    def call(self, method: str, path: str, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """One API call; its JSON answer. A one-line ``BenchError`` with Airflow's ``detail`` when it fails."""
        for attempt in (1, 2):
            if self._token is None:
                self._authorise()
            try:
                answer = self._session.request(
                    method,
                    f"{self.base_url}/api/v2{path}",
                    json=json,
                    params=params,
                    headers={"Authorization": f"Bearer {self._token}"},
                    timeout=REQUEST_TIMEOUT_S,
                )
            except requests.RequestException as exc:
                raise BenchError(
                    f"Airflow's api-server did not answer {method} /api/v2{path}: {type(exc).__name__}"
                ) from None
            if answer.status_code == 401 and attempt == 1:
                self._token = None  # expired: one new token, one more try
                continue
            if answer.status_code >= 400:
                raise BenchError(
                    f"Airflow's API answered {answer.status_code} to {method} /api/v2{path}: {_detail(answer)}"
                )
            return answer.json() if answer.content else None
        raise AssertionError("unreachable")

    def healthy(self) -> dict[str, str]:
        """Every part's status as ``/api/v2/monitor/health`` reports it (no token needed); {} when unreachable."""
        try:
            answer = self._session.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
            found = answer.json() if answer.status_code == 200 else {}
        except (requests.RequestException, ValueError):
            return {}
        return {part: str(status.get("status")) for part, status in found.items() if isinstance(status, dict)}

    def close(self) -> None:
        self._session.close()


def _detail(answer: requests.Response) -> str:
    try:
        detail = answer.json().get("detail", answer.text)
    except ValueError:
        detail = answer.text
    return " ".join(str(detail).split())[:300]


class AirflowRunner:
    """A running control plane, through its REST API (``ServerRunner``)."""

    platform = PLATFORM

    def __init__(self, api: Api, dag_id: str, leaders: tuple[int, ...], facts: Mapping[str, Any]) -> None:
        self._api = api
        self._dag_id = dag_id
        self._leaders = leaders
        self._facts = dict(facts)

    def facts(self) -> Mapping[str, Any]:
        return self._facts

    def processes(self) -> tuple[int, ...]:
        return self._leaders

    def _run_path(self, run: ServerRun) -> str:
        return f"/dags/{self._dag_id}/dagRuns/{run.run_id}"

    def submit(self, request: RunRequest) -> ServerRun:
        case = request.case
        created = self._api.call(
            "POST",
            f"/dags/{self._dag_id}/dagRuns",
            json={
                "dag_run_id": request.name,
                "logical_date": None,  # a manual run, not one of a schedule's intervals
                "conf": {
                    "case_json": case.to_json(),
                    "grid": list(case.grid),
                    "outdir": str(request.workdir / "airflow-data"),
                    "stamps": str(request.stamps),
                },
            },
        )
        run_id = str(created["dag_run_id"])
        return ServerRun(PLATFORM, run_id, url=f"{self._api.base_url}/dags/{self._dag_id}/runs/{run_id}")

    def poll(self, run: ServerRun) -> ServerPoll:
        state = str(self._api.call("GET", self._run_path(run))["state"])
        if state not in TERMINAL:
            return ServerPoll(done=False, state=state)
        if state == "success":
            return ServerPoll(done=True, ok=True, state=state)
        failed = sorted(t["task"] for t in self._task_instances(run) if t["state"] in ("failed", "upstream_failed"))
        error = f"failed tasks: {', '.join(failed)}" if failed else "the DAG run was marked failed"
        return ServerPoll(done=True, ok=False, state=state, error=error)

    def terminate(self, run: ServerRun, reason: str) -> None:
        # Marking the run failed makes the scheduler stop scheduling it; its running task processes see
        # the state at their next heartbeat ([workers] min_heartbeat_interval) and are killed.
        if str(self._api.call("GET", self._run_path(run))["state"]) in TERMINAL:
            return
        self._api.call(
            "PATCH", self._run_path(run), json={"state": "failed", "note": f"retrain-bench: {reason}"[:1000]}
        )

    def _task_instances(self, run: ServerRun) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self._api.call(
                "GET",
                f"{self._run_path(run)}/taskInstances",
                params={"limit": PAGE, "offset": len(found), "order_by": "id"},
            )
            items = page["task_instances"]
            found.extend(
                {
                    "task": item["task_id"],
                    "map_index": item["map_index"],
                    "queued": unix(item.get("queued_when")),
                    "started": unix(item.get("start_date")),
                    "ended": unix(item.get("end_date")),
                    "state": item.get("state") or "none",
                    "scheduled": unix(item.get("scheduled_when")),
                    "try_number": item.get("try_number"),
                    "pid": item.get("pid"),
                }
                for item in items
            )
            if not items or len(found) >= int(page.get("total_entries") or 0):
                return sorted(found, key=lambda t: (t["started"] or float("inf"), t["task"], t["map_index"]))

    def platform_timings(self, run: ServerRun) -> dict[str, Any]:
        record = self._api.call("GET", self._run_path(run))
        return {
            "run_id": run.run_id,
            "state": record["state"],
            "queued": unix(record.get("queued_at")),
            "started": unix(record.get("start_date")),
            "ended": unix(record.get("end_date")),
            "tasks": self._task_instances(run),
        }
