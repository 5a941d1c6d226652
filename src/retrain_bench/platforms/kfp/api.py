"""Is the KFP API answering, and which version is it? (The doctor, the runner, the manifest.)"""

from __future__ import annotations

import requests

from retrain_bench.checks import Check
from retrain_bench.errors import BenchError
from retrain_bench.platforms.kfp.health import API_SERVER_DOWN, HEALTHZ, KfpHealth, read_healthz


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


def kfp_healthz(base_url: str, *, token: str | None, verify_tls: bool, timeout_s: float) -> KfpHealth:
    """The API server's health, from itself or as the UI reports it; ``KfpUnhealthy`` (one line, never
    the URL: it may carry credentials) when it is not there."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    where = "check --kfp-host/--kfp-service"
    auth = (
        "check --kfp-token-file/--kfp-token-env (multi-user KFP wants a token for the audience "
        "pipelines.kubeflow.org: `kubectl create token SA -n NS --audience=pipelines.kubeflow.org`) and --kfp-namespace"
    )
    try:
        # No redirects: behind oauth2-proxy/Dex an unauthenticated request is a 302 to a login page,
        # which followed answers 200 with HTML (oauth2-proxy oauthproxy.go, OAuthStart / sign-in redirect).
        response = requests.get(
            base_url.rstrip("/") + HEALTHZ, headers=headers, verify=verify_tls, timeout=timeout_s, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise KfpUnhealthy(f"no answer ({type(exc).__name__})", where) from None
    if response.is_redirect:
        raise KfpUnhealthy(
            f"HTTP {response.status_code}: redirected to a login page, an authenticating proxy (oauth2-proxy, Dex) "
            "is in front and did not accept the request",
            auth,
        )
    if response.status_code in (401, 403):
        raise KfpUnhealthy(f"HTTP {response.status_code}", auth)
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


def read_token_file(path: str) -> str:
    """The token in ``path``, stripped, as kfp's ``read_token_from_file`` reads it
    (kfp/client/token_credentials_base.py); BenchError (never the content) when unreadable or empty."""
    try:
        with open(path, encoding="utf-8") as file:
            token = file.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"--kfp-token-file: cannot read {path} ({type(exc).__name__})") from None
    if not token:
        raise BenchError(f"--kfp-token-file: {path} is empty")
    return token
