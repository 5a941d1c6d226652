"""Stand-ins for the two control planes that cannot run on this machine, speaking their real
protocols: flyteadmin's gRPC AdminService (served by grpcio from flyteidl's own service definition)
and the KFP API over HTTP (JSON shaped as kfp-server-api's v2beta1 models).

``flyteadmin()`` answers GetVersion only (what ``doctor`` asks). ``flyteadmin_standin()`` also
keeps what ``FlyteRunner`` registers and submits: Create/Get of tasks, workflows and launch plans,
Create/Get/Terminate/UpdateExecution, ListNodeExecutions (by parent) and ListTaskExecutions. It
runs nothing: a test scripts each execution's phase and its node and task records. Its "compiled"
workflow is the registered template with its tasks, without flyteadmin's connection analysis.
``kfp_api()`` answers the API server's healthz; ``kfp_ui()`` is the UI server in front of an API
server (its own healthz, the rest proxied); ``kfp_runs_api`` stands in for more of the KFP API
(experiments and runs) for the remote runner.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import http.server
import json
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from flyteidl.admin import (
    execution_pb2,
    launch_plan_pb2,
    node_execution_pb2,
    task_execution_pb2,
    task_pb2,
    workflow_pb2,
)
from flyteidl.admin.version_pb2 import GetVersionResponse, Version
from flyteidl.core import compiler_pb2, identifier_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.service import admin_pb2_grpc

from tests.k8s_standin import serving


class _Admin(admin_pb2_grpc.AdminServiceServicer):  # type: ignore[misc]
    def __init__(self, version: str) -> None:
        self.version = version

    def GetVersion(self, request: Any, context: Any) -> GetVersionResponse:  # noqa: N802 (gRPC's name)
        return GetVersionResponse(control_plane_version=Version(Version=self.version, Build="standin"))


@contextlib.contextmanager
def flyteadmin(version: str = "v1.16.8") -> Iterator[str]:
    """A plaintext gRPC flyteadmin stand-in on loopback; yields HOST:PORT."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    admin_pb2_grpc.add_AdminServiceServicer_to_server(_Admin(version), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None).wait()


def _key(identifier: identifier_pb2.Identifier) -> tuple[str, str, str, str]:
    return (identifier.project, identifier.domain, identifier.name, identifier.version)


_TERMINAL = {
    core_execution_pb2.WorkflowExecution.SUCCEEDED,
    core_execution_pb2.WorkflowExecution.FAILED,
    core_execution_pb2.WorkflowExecution.ABORTED,
    core_execution_pb2.WorkflowExecution.TIMED_OUT,
}


@dataclasses.dataclass
class AdminState:
    """What the flyteadmin stand-in holds; tests read it and script executions through it."""

    tasks: dict[tuple[str, str, str, str], Any] = dataclasses.field(default_factory=dict)
    workflows: dict[tuple[str, str, str, str], Any] = dataclasses.field(default_factory=dict)
    launch_plans: dict[tuple[str, str, str, str], Any] = dataclasses.field(default_factory=dict)
    #: execution name -> the ExecutionCreateRequest it came from
    created: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: execution name -> its admin Execution message (tests set closure fields to move it on)
    executions: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: execution name -> parent unique node id ("" = top level) -> NodeExecution messages
    node_executions: dict[str, dict[str, list[Any]]] = dataclasses.field(default_factory=dict)
    #: execution name -> unique node id -> TaskExecution messages
    task_executions: dict[str, dict[str, list[Any]]] = dataclasses.field(default_factory=dict)
    #: (method, detail) of every call, in order
    calls: list[tuple[str, str]] = dataclasses.field(default_factory=list)


class _StatefulAdmin(_Admin):
    def __init__(self, version: str, state: AdminState) -> None:
        super().__init__(version)
        self.state = state
        self.lock = threading.Lock()

    def _create(self, store: dict[Any, Any], method: str, identifier: Any, value: Any, context: Any) -> None:
        with self.lock:
            self.state.calls.append((method, identifier.name))
            if _key(identifier) in store:
                # flyteadmin's answer to the same id registered twice (its repositories map a unique-key
                # violation to AlreadyExists: pkg/repositories/errors)
                context.abort(grpc.StatusCode.ALREADY_EXISTS, f"{identifier.name} already exists")
            store[_key(identifier)] = value

    def _get(self, store: dict[Any, Any], method: str, identifier: Any, context: Any) -> Any:
        with self.lock:
            self.state.calls.append((method, identifier.name))
            found = store.get(_key(identifier))
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"missing entity {identifier.name}")
        return found

    def CreateTask(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._create(self.state.tasks, "CreateTask", request.id, request, context)
        return task_pb2.TaskCreateResponse()

    def CreateWorkflow(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._create(self.state.workflows, "CreateWorkflow", request.id, request, context)
        return workflow_pb2.WorkflowCreateResponse()

    def CreateLaunchPlan(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._create(self.state.launch_plans, "CreateLaunchPlan", request.id, request, context)
        return launch_plan_pb2.LaunchPlanCreateResponse()

    def GetWorkflow(self, request: Any, context: Any) -> Any:  # noqa: N802
        created = self._get(self.state.workflows, "GetWorkflow", request.id, context)
        template = created.spec.template
        tasks = [
            compiler_pb2.CompiledTask(template=t.spec.template)
            for key, t in self.state.tasks.items()
            if key[3] == request.id.version
        ]
        compiled = compiler_pb2.CompiledWorkflowClosure(
            primary=compiler_pb2.CompiledWorkflow(template=template, connections=compiler_pb2.ConnectionSet()),
            tasks=tasks,
        )
        return workflow_pb2.Workflow(id=created.id, closure=workflow_pb2.WorkflowClosure(compiled_workflow=compiled))

    def GetLaunchPlan(self, request: Any, context: Any) -> Any:  # noqa: N802
        created = self._get(self.state.launch_plans, "GetLaunchPlan", request.id, context)
        workflow = self._get(self.state.workflows, "GetWorkflow", created.spec.workflow_id, context)
        interface = workflow.spec.template.interface
        closure = launch_plan_pb2.LaunchPlanClosure(expected_outputs=interface.outputs)
        return launch_plan_pb2.LaunchPlan(id=created.id, spec=created.spec, closure=closure)

    def CreateExecution(self, request: Any, context: Any) -> Any:  # noqa: N802
        identifier = identifier_pb2.WorkflowExecutionIdentifier(
            project=request.project, domain=request.domain, name=request.name
        )
        with self.lock:
            self.state.calls.append(("CreateExecution", request.name))
            if request.name in self.state.executions:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, f"execution {request.name} already exists")
            closure = execution_pb2.ExecutionClosure(phase=core_execution_pb2.WorkflowExecution.QUEUED)
            closure.created_at.FromDatetime(datetime.datetime.now(datetime.UTC).replace(tzinfo=None))
            self.state.created[request.name] = request
            self.state.executions[request.name] = execution_pb2.Execution(
                id=identifier, spec=request.spec, closure=closure
            )
        return execution_pb2.ExecutionCreateResponse(id=identifier)

    def _execution(self, method: str, identifier: Any, context: Any) -> Any:
        with self.lock:
            self.state.calls.append((method, identifier.name))
            found = self.state.executions.get(identifier.name)
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"missing execution {identifier.name}")
        return found

    def GetExecution(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._execution("GetExecution", request.id, context)

    def TerminateExecution(self, request: Any, context: Any) -> Any:  # noqa: N802
        execution = self._execution("TerminateExecution", request.id, context)
        if execution.closure.phase in _TERMINAL:
            # what flyteadmin's state checks answer for a finished execution
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "execution already in a terminal state")
        execution.closure.phase = core_execution_pb2.WorkflowExecution.ABORTED
        execution.closure.abort_metadata.cause = request.cause
        return execution_pb2.ExecutionTerminateResponse()

    def UpdateExecution(self, request: Any, context: Any) -> Any:  # noqa: N802
        execution = self._execution("UpdateExecution", request.id, context)
        execution.closure.state_change_details.state = request.state
        return execution_pb2.ExecutionUpdateResponse()

    def ListNodeExecutions(self, request: Any, context: Any) -> Any:  # noqa: N802
        name = request.workflow_execution_id.name
        with self.lock:
            self.state.calls.append(("ListNodeExecutions", f"{name}/{request.unique_parent_id}"))
            nodes = self.state.node_executions.get(name, {}).get(request.unique_parent_id, [])
        page, token = _page(nodes, request.limit, request.token)
        return node_execution_pb2.NodeExecutionList(node_executions=page, token=token)

    def ListTaskExecutions(self, request: Any, context: Any) -> Any:  # noqa: N802
        node = request.node_execution_id
        with self.lock:
            self.state.calls.append(("ListTaskExecutions", f"{node.execution_id.name}/{node.node_id}"))
            tasks = self.state.task_executions.get(node.execution_id.name, {}).get(node.node_id, [])
        page, token = _page(tasks, request.limit, request.token)
        return task_execution_pb2.TaskExecutionList(task_executions=page, token=token)


def _page(items: list[Any], limit: int, token: str) -> tuple[list[Any], str]:
    """flyteadmin's offset tokens: the token is the offset of the next page, given whenever a page is
    full, so a list of exactly ``limit`` items ends with an empty page (flyteadmin's list managers,
    e.g. pkg/manager/impl/node_execution_manager.go: ``if len(...) == int(request.Limit)``)."""
    start = int(token or 0)
    page = items[start : start + (limit or 100)]
    return page, (str(start + len(page)) if len(page) == (limit or 100) else "")


@contextlib.contextmanager
def flyteadmin_standin(version: str = "v1.16.8") -> Iterator[tuple[str, AdminState]]:
    """A plaintext, stateful flyteadmin stand-in on loopback; yields (HOST:PORT, its state)."""
    state = AdminState()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    admin_pb2_grpc.add_AdminServiceServicer_to_server(_StatefulAdmin(version, state), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", state
    finally:
        server.stop(grace=None).wait()


def _send_json(handler: http.server.BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    """Answer as the KFP API server does: JSON with its length."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def api_server_healthz(tag_name: str | None) -> dict[str, Any]:
    """The API server's own healthz body (kubeflow/pipelines backend/src/apiserver/main.go,
    ``newHealthzResponse``): COMMIT_SHA and TAG_NAME default to "unknown" when unset."""
    return {
        "commit_sha": "0" * 40 if tag_name else "unknown",
        "tag_name": tag_name or "unknown",
        "multi_user": False,
        "pipeline_store": "database",
    }


@contextlib.contextmanager
def kfp_api(token: str | None = None, tag_name: str | None = None) -> Iterator[str]:
    """A KFP API server healthz stand-in on loopback (``api_server_healthz``; no ``tag_name``: the
    "unknown" of an unset TAG_NAME), requiring ``Bearer <token>`` when a token is given."""
    build = api_server_healthz(tag_name)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if token and self.headers.get("Authorization") != f"Bearer {token}":
                _send_json(self, 401, {"error": "Unauthorized", "code": 16})
            elif self.path == "/apis/v2beta1/healthz":
                _send_json(self, 200, build)
            else:
                _send_json(self, 404, {"error": "Not Found", "code": 5})

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler, "kfp-standin") as url:
        yield url


@contextlib.contextmanager
def kfp_ui(api_server: str | None) -> Iterator[str]:
    """KFP's UI server (ml-pipeline-ui) in front of an API server at ``api_server`` (None: one that is
    down), as kubeflow/pipelines frontend/server/app.ts wires it:

    - ``/apis/v1beta1/healthz`` and ``/apis/v2beta1/healthz`` are the UI's own handler
      (frontend/server/handlers/healthz.ts): it fetches the API server's healthz with a 1 s timeout and
      answers 200 in every case, ``apiServerReady`` false when that failed, the API server's fields
      renamed (``apiServerTagName``...) when it worked, plus the UI's build metadata; fields it never
      set are absent (express ``res.json`` drops undefined);
    - every other ``/apis/v1beta1/*`` and ``/apis/v2beta1/*`` request is proxied to the API server
      (http-proxy-middleware, method, headers and body as sent); with the API server down the proxy
      answers 504 and a text line (http-proxy-middleware v3's error-response plugin, ECONNREFUSED);
    - anything else is the single-page app's index.html.
    """
    build = {"buildDate": "Tue Nov 04 2025", "frontendCommitHash": "f" * 40, "frontendTagName": "2.17.0"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self._answer()

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self._answer()

        def _answer(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if self.command == "GET" and path in ("/apis/v1beta1/healthz", "/apis/v2beta1/healthz"):
                _send_json(self, 200, self._healthz(path))
            elif path.startswith(("/apis/v1beta1/", "/apis/v2beta1/")):
                self._proxy(body)
            else:
                self._send(200, "text/html", b"<!doctype html><html><body><div id=root></div></body></html>")

        def _healthz(self, path: str) -> dict[str, Any]:
            stats: dict[str, Any] = dict(build)
            try:
                if api_server is None:
                    raise ConnectionRefusedError
                try:
                    with urllib.request.urlopen(api_server + path, timeout=1) as answer:  # noqa: S310 - loopback
                        raw = answer.read()
                except urllib.error.HTTPError as error:
                    raw = error.read()  # fetch() resolves on any HTTP status: only the JSON parse can fail
                server = json.loads(raw)
                stats["apiServerReady"] = True
                stats.update(
                    apiServerCommitHash=server.get("commit_sha"), apiServerTagName=server.get("tag_name"),
                    apiServerMultiUser=server.get("multi_user"), multi_user=server.get("multi_user"),
                    pipelineStore=server.get("pipeline_store"),
                )  # fmt: skip
            except Exception:  # noqa: BLE001 - the handler's catch-all: any failure is "not ready"
                stats["apiServerReady"] = False
            return {k: v for k, v in stats.items() if v is not None}

        def _proxy(self, body: bytes | None) -> None:
            if api_server is None:
                self._send(
                    504, "text/plain", f"Error occurred while trying to proxy: {self.headers['Host']}{self.path}"
                )
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            request = urllib.request.Request(api_server + self.path, data=body, headers=headers, method=self.command)
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
                    status, kind, data = answer.status, answer.headers.get("Content-Type", ""), answer.read()
            except urllib.error.HTTPError as error:
                status, kind, data = error.code, error.headers.get("Content-Type", ""), error.read()
            self._send(status, kind, data)

        def _send(self, status: int, kind: str, data: bytes | str) -> None:
            raw = data.encode() if isinstance(data, str) else data
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler, "kfp-ui-standin") as url:
        yield url


#: The zero times the KFP API reports for "not yet" (a run's finished_at, an unfinished node).
KFP_UNSET_TIME = "1970-01-01T00:00:00Z"


class KfpRunsStandin:
    """State of a KFP v2beta1 runs/experiments stand-in: what it holds and every request it saw.
    Tests move a run on by editing ``runs[run_id]`` (a V2beta1Run as JSON)."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.tag_name: str | None = "2.17.0"
        self.url = ""
        self.lock = threading.Lock()
        self.experiments: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        #: (method, path with query, Authorization header or None, JSON body or None)
        self.requests: list[tuple[str, str, str | None, Any]] = []
        self._ids = 0

    def new_id(self, kind: str) -> str:
        self._ids += 1
        return f"{kind}-{self._ids:04d}-standin"

    def handle(self, method: str, target: str, auth: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append((method, target, auth, body))
            if self.token and auth != f"Bearer {self.token}":
                return 401, {"code": 16, "message": "Unauthorized: invalid bearer token", "details": []}
            parsed = urllib.parse.urlsplit(target)
            query = dict(urllib.parse.parse_qsl(parsed.query))
            return self._route(method, parsed.path.removeprefix("/apis/v2beta1"), query, body)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        if (method, path) == ("GET", "/healthz"):
            return 200, api_server_healthz(self.tag_name)
        if (method, path) == ("GET", "/experiments"):
            return 200, self._list_experiments(query)
        if (method, path) == ("POST", "/experiments"):
            experiment = {
                "experiment_id": self.new_id("exp"),
                "display_name": body["display_name"],
                "namespace": body.get("namespace", ""),
                "created_at": "2026-08-21T09:00:00Z",
                "storage_state": "AVAILABLE",
                "last_run_created_at": KFP_UNSET_TIME,
            }
            self.experiments[experiment["experiment_id"]] = experiment
            return 200, experiment
        if (method, path) == ("POST", "/runs"):
            run = {
                **body,
                "run_id": self.new_id("run"),
                "storage_state": "AVAILABLE",
                "created_at": "2026-08-21T10:00:00Z",
                "scheduled_at": "2026-08-21T10:00:00Z",
                "finished_at": KFP_UNSET_TIME,
                "state": "PENDING",
            }
            self.runs[run["run_id"]] = run
            return 200, run
        run_id, _, verb = path.removeprefix("/runs/").partition(":")
        if not path.startswith("/runs/") or run_id not in self.runs:
            return 404, {"code": 5, "message": f"Run {run_id} not found", "details": []}
        run = self.runs[run_id]
        if (method, verb) == ("GET", ""):
            return 200, run
        if (method, verb) == ("POST", "terminate"):
            if run["state"] in ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"):
                # the stand-in's choice: refuse like a failed precondition, as the real API may
                return 400, {"code": 9, "message": f"Run {run_id} already ended", "details": []}
            run["state"] = "CANCELING"
            return 200, {}
        if (method, verb) == ("POST", "archive"):
            run["storage_state"] = "ARCHIVED"
            return 200, {}
        return 404, {"code": 5, "message": f"no route {method} {path}", "details": []}

    def _list_experiments(self, query: dict[str, str]) -> dict[str, Any]:
        wanted = None
        if "filter" in query:
            (predicate,) = json.loads(query["filter"])["predicates"]
            # protobuf JSON allows an enum by name or number; kfp.Client sends EQUALS as 1
            assert (predicate["key"], predicate["operation"]) in {("display_name", "EQUALS"), ("display_name", 1)}
            wanted = predicate["stringValue"]
        found = [
            e
            for e in self.experiments.values()
            if wanted in (None, e["display_name"]) and query.get("namespace", e["namespace"]) == e["namespace"]
        ]
        # grpc-gateway leaves out an empty list; the count is always there
        return {"experiments": found, "total_size": len(found)} if found else {"total_size": 0}


@contextlib.contextmanager
def kfp_runs_api(token: str | None = None, tls: tuple[Path, Path] | None = None) -> Iterator[KfpRunsStandin]:
    """A stand-in for the KFP API server's v2beta1 REST API (healthz, experiments, runs: create,
    get, terminate, archive) on loopback, JSON shaped like kfp-server-api's models. No pipelines
    run: tests set the runs' states. Requires ``Bearer <token>`` when a token is given; serves
    HTTPS with ``tls=(certificate file, key file)``."""
    standin = KfpRunsStandin(token)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self._answer()

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            try:
                status, answer = standin.handle(self.command, self.path, self.headers.get("Authorization"), body)
            except Exception as exc:  # a request the stand-in does not understand: say so, do not hang up
                status, answer = 500, {"code": 13, "message": f"stand-in: {exc!r}", "details": []}
            _send_json(self, status, answer)

        def log_message(self, *args: Any) -> None:
            pass

    context = None
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
    with serving(Handler, "kfp-runs-standin", wrap=context) as url:
        standin.url = url
        yield standin
