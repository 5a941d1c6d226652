"""Is a platform's API answering, and which version is it? (For ``doctor`` and before runs.)"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import requests

from retrain_bench.cli.doctor import Check
from retrain_bench.cluster.kfp_health import API_SERVER_DOWN, HEALTHZ, KfpHealth, read_healthz
from retrain_bench.errors import BenchError


def flyte_api_check(address: str, *, insecure: bool, config_file: str | None, timeout_s: float) -> Check:
    """flyteadmin's GetVersion over gRPC: plaintext when ``insecure``, else TLS; auth from the
    flytekit config file when one is given (OAuth and client credentials are flytekit's)."""
    name = f"Flyte API at {address}"
    try:
        version = (
            _flytekit_version(address, insecure, config_file, timeout_s)
            if config_file
            else _raw_version(address, insecure, timeout_s)
        )
    except Exception as exc:  # grpc and flytekit raise many types; each is one line for the user
        detail = str(getattr(exc, "details", lambda: None)() or exc).splitlines()[0][:300]
        fix = "check --flyte-endpoint/--flyte-service, --flyte-insecure (plaintext) and --flyte-config (auth)"
        return Check(name, False, detail or type(exc).__name__, fix)
    return Check(name, True, f"flyteadmin {version}")


def _raw_version(address: str, insecure: bool, timeout_s: float) -> str:
    import grpc
    from flyteidl.admin.version_pb2 import GetVersionRequest
    from flyteidl.service.admin_pb2_grpc import AdminServiceStub

    channel = (
        grpc.insecure_channel(address) if insecure else grpc.secure_channel(address, grpc.ssl_channel_credentials())
    )
    with channel:
        response = AdminServiceStub(channel).GetVersion(GetVersionRequest(), timeout=timeout_s)
    return str(response.control_plane_version.Version or "(no version reported)")


def _flytekit_version(address: str, insecure: bool, config_file: str, timeout_s: float) -> str:
    from flytekit.clients.friendly import SynchronousFlyteClient
    from flytekit.configuration import Config

    platform = Config.auto(config_file=config_file).platform
    platform = dataclasses.replace(platform, endpoint=address, insecure=insecure or platform.insecure)
    result: dict[str, Any] = {}

    def call() -> None:
        try:
            result["version"] = SynchronousFlyteClient(platform).get_control_plane_version()
        except Exception as exc:
            result["error"] = exc

    # flytekit's client call takes no deadline (and may run an OAuth flow): bound it from outside.
    worker = threading.Thread(target=call, name="flyte-version", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    if "error" in result:
        raise result["error"]
    return str(result["version"])


def kfp_api_check(base_url: str, *, token: str | None, verify_tls: bool, timeout_s: float) -> Check:
    """KFP's healthz (v2beta1) from the API server, or through the UI (which must see its API server)."""
    name = f"KFP API at {base_url}"
    try:
        health = kfp_healthz(base_url, token=token, verify_tls=verify_tls, timeout_s=timeout_s)
    except KfpUnhealthy as exc:
        return Check(name, False, str(exc), exc.fix)
    return Check(name, True, f"healthz ok ({health.facts()})")


class KfpUnhealthy(BenchError):
    """KFP's healthz did not say the API server is there; ``fix`` says what to check."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def flyte_version(address: str, *, insecure: bool, config_file: str | None, timeout_s: float) -> str:
    """flyteadmin's control-plane version (GetVersion), as ``flyte_api_check`` reaches it; raises on failure."""
    if config_file:
        return _flytekit_version(address, insecure, config_file, timeout_s)
    return _raw_version(address, insecure, timeout_s)


def kfp_healthz(base_url: str, *, token: str | None, verify_tls: bool, timeout_s: float) -> KfpHealth:
    """The API server's health, from itself or as the UI reports it; ``KfpUnhealthy`` (one line, never
    the URL: it may carry credentials) when it is not there."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    where = "check --kfp-host/--kfp-service"
    try:
        response = requests.get(base_url.rstrip("/") + HEALTHZ, headers=headers, verify=verify_tls, timeout=timeout_s)
    except requests.RequestException as exc:
        raise KfpUnhealthy(f"no answer ({type(exc).__name__})", where) from None
    if response.status_code in (401, 403):
        raise KfpUnhealthy(f"HTTP {response.status_code}", "check --kfp-token-env and --kfp-namespace")
    try:
        body = response.json() if response.status_code == 200 else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise KfpUnhealthy(f"HTTP {response.status_code}, not the KFP API", where)
    health = read_healthz(body)
    if not health.ready:
        raise KfpUnhealthy(
            API_SERVER_DOWN,
            "check the API server (`kubectl -n kubeflow get deploy ml-pipeline`), or reach it directly with "
            "--kfp-service kubeflow/ml-pipeline:8888",
        )
    return health
