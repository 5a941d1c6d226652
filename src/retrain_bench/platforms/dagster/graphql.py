"""Dagster's GraphQL API at the webserver, spoken over HTTP with ``requests``.

Dagster's own client (``dagster_graphql.DagsterGraphQLClient``) lives in the platform's own
environment, which the harness's process cannot import: the harness sends the same GraphQL
documents itself. Every call is one POST with a bounded timeout; nothing here waits for a run.
"""

from __future__ import annotations

from typing import Any

import requests

from retrain_bench.errors import BenchError

#: One call's bound: the webserver answers in milliseconds when idle, seconds on two loaded cores.
TIMEOUT_S = 30.0
#: Events per ``logsForRun`` page (a smoke run records ~100, a tuning run ~400).
EVENTS_PAGE = 1000

LOCATIONS = """
query { workspaceOrError { __typename
  ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } }
  ... on PythonError { message } } }
"""

DAEMONS = "query { instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }"

VERSION = "query { version }"

LAUNCH = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on RunConfigValidationInvalid { errors { message } }
  ... on PythonError { message }
  ... on Error { message } } }
"""

STATUS = """
query Status($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { status }
  ... on PythonError { message }
  ... on Error { message } } }
"""

RECORD = """
query Record($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { runId status creationTime startTime endTime
    stepStats { stepKey status startTime endTime } }
  ... on PythonError { message }
  ... on Error { message } } }
"""

EVENTS = """
query Events($runId: ID!, $after: String, $limit: Int) {
  logsForRun(runId: $runId, afterCursor: $after, limit: $limit) { __typename
    ... on EventConnection { cursor hasMore events { __typename
      ... on MessageEvent { timestamp stepKey eventType message }
      ... on ExecutionStepFailureEvent { error { message cause { message } } }
      ... on RunFailureEvent { pipelineRunFailureError: error { message } } } }
    ... on PythonError { message }
    ... on Error { message } } }
"""

TERMINATE = """
mutation Terminate($runId: String!) { terminateRun(runId: $runId, terminatePolicy: SAFE_TERMINATE) { __typename
  ... on TerminateRunSuccess { run { status } }
  ... on TerminateRunFailure { message }
  ... on PythonError { message }
  ... on Error { message } } }
"""


def one_line(text: str) -> str:
    """A message of Dagster's on one line (its errors carry tracebacks and blank lines)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


class GraphQL:
    """The webserver's ``/graphql`` endpoint."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def call(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of one call; ``BenchError`` when the webserver cannot answer it."""
        try:
            answer = self.http.post(
                f"{self.base_url}/graphql", json={"query": document, "variables": variables or {}}, timeout=TIMEOUT_S
            )
        except requests.RequestException as exc:
            raise BenchError(f"the Dagster webserver at {self.base_url} did not answer: {type(exc).__name__}") from None
        try:
            body = answer.json()
        except ValueError:
            raise BenchError(f"the Dagster webserver answered HTTP {answer.status_code} without JSON") from None
        if body.get("errors"):
            raise BenchError(f"Dagster's GraphQL API refused a call: {one_line(str(body['errors'][0].get('message')))}")
        data: dict[str, Any] = body.get("data") or {}
        return data

    def location_loaded(self, location: str) -> bool:
        """True once the webserver answers and has loaded ``location`` from the code server."""
        try:
            data = self.call(LOCATIONS)
        except BenchError:
            return False
        workspace = data.get("workspaceOrError") or {}
        for entry in workspace.get("locationEntries") or ():
            if entry["name"] == location:
                loaded = entry.get("locationOrLoadError") or {}
                return entry.get("loadStatus") == "LOADED" and loaded.get("__typename") == "RepositoryLocation"
        return False

    def daemon_healthy(self) -> bool:
        """True once the daemon's queued-run coordinator has sent a heartbeat."""
        try:
            statuses = self.call(DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
        except (BenchError, KeyError, TypeError):
            return False
        return any(s["daemonType"] == "QUEUED_RUN_COORDINATOR" and s["healthy"] for s in statuses)

    def daemons(self) -> list[str]:
        """The daemons the instance runs (those it requires)."""
        statuses = self.call(DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
        return sorted(s["daemonType"] for s in statuses if s["required"])

    def version(self) -> str:
        return str(self.call(VERSION)["version"])

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """Every event Dagster recorded for the run, oldest first."""
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page = self.call(EVENTS, {"runId": run_id, "after": after, "limit": EVENTS_PAGE})["logsForRun"]
            if page["__typename"] != "EventConnection":
                raise BenchError(f"Dagster has no events of run {run_id}: {one_line(page.get('message', ''))}")
            found.extend(page["events"])
            if not page["hasMore"] or not page["events"]:
                return found
            after = page["cursor"]
