"""Is the KFP API answering, and which version is it? (The doctor, the runner, the manifest.)"""

from __future__ import annotations

from typing import Any

import requests

from retrain_bench.checks import Check
from retrain_bench.errors import BenchError


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
