"""Stand-ins for the two control planes that cannot run on this machine, speaking their real
protocols: flyteadmin's gRPC AdminService (only GetVersion, served by grpcio from flyteidl's own
service definition) and the KFP API's HTTP healthz (``/apis/v2beta1/healthz`` with the JSON
fields of kfp-server-api's ``V2beta1GetHealthzResponse``). Only what ``doctor`` asks is answered.
``kfp_runs_api`` stands in for more of the KFP API (experiments and runs) for the remote runner.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from flyteidl.admin.version_pb2 import GetVersionResponse, Version
from flyteidl.service import admin_pb2_grpc

from tests.prometheus import free_port


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


@contextlib.contextmanager
def kfp_api(token: str | None = None, tag_name: str | None = None) -> Iterator[str]:
    """A KFP healthz stand-in on loopback, requiring ``Bearer <token>`` when a token is given. With a
    ``tag_name`` it also answers ``commit_sha`` and ``tag_name``, as the API server's own handler does."""
    build = {"commit_sha": "0" * 40, "tag_name": tag_name} if tag_name else {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if token and self.headers.get("Authorization") != f"Bearer {token}":
                self._send(401, {"error": "Unauthorized", "code": 16})
            elif self.path == "/apis/v2beta1/healthz":
                self._send(200, {**build, "multi_user": False, "pipeline_store": "database"})
            else:
                self._send(404, {"error": "Not Found", "code": 5})

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, name="kfp-standin", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


#: The zero times the KFP API reports for "not yet" (a run's finished_at, an unfinished node).
KFP_UNSET_TIME = "1970-01-01T00:00:00Z"


class KfpRunsStandin:
    """State of a KFP v2beta1 runs/experiments stand-in: what it holds and every request it saw.
    Tests move a run on by editing ``runs[run_id]`` (a V2beta1Run as JSON)."""

    def __init__(self, token: str | None) -> None:
        self.token = token
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
            return 200, {"multi_user": False, "pipeline_store": "database"}
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
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    standin.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="kfp-runs-standin", daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
