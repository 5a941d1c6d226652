"""Stand-ins for the two control planes that cannot run on this machine, speaking their real
protocols: flyteadmin's gRPC AdminService (only GetVersion, served by grpcio from flyteidl's own
service definition) and the KFP API's HTTP healthz (``/apis/v2beta1/healthz`` with the JSON
fields of kfp-server-api's ``V2beta1GetHealthzResponse``). Only what ``doctor`` asks is answered.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from concurrent import futures
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
