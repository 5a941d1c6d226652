"""Is a platform's API answering, and which version is it? (For ``doctor`` and before runs.)"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import requests

from retrain_bench.cli.doctor import Check
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
    """KFP's healthz (v2beta1) through the UI or API service."""
    name = f"KFP API at {base_url}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = requests.get(
            base_url.rstrip("/") + "/apis/v2beta1/healthz", headers=headers, verify=verify_tls, timeout=timeout_s
        )
    except requests.RequestException as exc:
        return Check(name, False, f"no answer ({type(exc).__name__})", "check --kfp-host/--kfp-service")
    if response.status_code in (401, 403):
        return Check(name, False, f"HTTP {response.status_code}", "check --kfp-token-env and --kfp-namespace")
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        return Check(name, False, f"HTTP {response.status_code}, not the KFP API", "check --kfp-host/--kfp-service")
    facts = ", ".join(f"{k}={body[k]}" for k in ("tag_name", "multi_user", "pipeline_store") if k in body)
    return Check(name, True, f"healthz ok ({facts or 'no details'})")


def flyte_version(address: str, *, insecure: bool, config_file: str | None, timeout_s: float) -> str:
    """flyteadmin's control-plane version (GetVersion), as ``flyte_api_check`` reaches it; raises on failure."""
    if config_file:
        return _flytekit_version(address, insecure, config_file, timeout_s)
    return _raw_version(address, insecure, timeout_s)


def kfp_healthz(base_url: str, *, token: str | None, verify_tls: bool, timeout_s: float) -> dict[str, Any]:
    """The KFP API's healthz body (``tag_name``, ``commit_sha``, ``multi_user``...); a one-line
    ``BenchError`` otherwise (never the URL: it may carry credentials)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = requests.get(
            base_url.rstrip("/") + "/apis/v2beta1/healthz", headers=headers, verify=verify_tls, timeout=timeout_s
        )
    except requests.RequestException as exc:
        raise BenchError(f"no answer from the KFP API ({type(exc).__name__})") from None
    try:
        body = response.json() if response.status_code == 200 else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BenchError(f"KFP healthz answered HTTP {response.status_code}, not the KFP API's JSON")
    return body
