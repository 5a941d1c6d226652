"""The cluster target's options, shared by the pytest plugin and ``python -m retrain_bench doctor``."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from retrain_bench.cluster.kube import KubeTarget
from retrain_bench.cluster.portforward import ServiceRef
from retrain_bench.errors import BenchError
from retrain_bench.platforms.flyte import definition as flyte
from retrain_bench.platforms.kfp import definition as kfp

DEFAULT_PROMETHEUS_SERVICE = "monitoring/prometheus-operated:9090"
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")


def add_cluster_options(add: Callable[..., Any]) -> None:
    """Register the options on a pytest option group or an argparse parser (same spelling)."""
    # The Flyte and KFP options keep the spelling users know; their defaults are the platforms' own.
    add("--kubeconfig", default=None, metavar="FILE", help="kubeconfig to use. Default: $KUBECONFIG or ~/.kube/config")
    add("--kube-context", default=None, metavar="NAME", help="kubeconfig context. Default: the current one")
    add("--connect-timeout", default=10.0, metavar="SECONDS", help="limit for every connection attempt. Default: 10")
    add("--flyte-endpoint", default=None, metavar="HOST:PORT", help="flyteadmin gRPC; skips the port-forward")
    add("--flyte-service", default=flyte.DEFAULT_SERVICE, metavar="NS/SVC:PORT", help="port-forwarded otherwise")
    add("--flyte-insecure", action="store_true", help="plaintext gRPC to --flyte-endpoint (explicit opt-in)")
    add("--flyte-config", default=None, metavar="FILE", help="flytekit config (auth is flytekit's)")
    add("--kfp-host", default=None, metavar="URL", help="KFP API; skips the port-forward")
    add("--kfp-service", default=kfp.DEFAULT_SERVICE, metavar="NS/SVC:PORT", help="port-forwarded otherwise")
    add("--kfp-insecure-skip-verify", action="store_true", help="do not verify KFP's TLS certificate (explicit)")
    add("--kfp-token-env", default=None, metavar="NAME", help="environment variable holding a KFP bearer token")
    add("--kfp-namespace", default="kubeflow", metavar="NS", help="KFP user namespace. Default: kubeflow")
    add("--prometheus-service", default=DEFAULT_PROMETHEUS_SERVICE, metavar="NS/SVC:PORT", help="port-forwarded")


@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    kubeconfig: str | None
    kube_context: str | None
    connect_timeout_s: float
    flyte_endpoint: str | None
    flyte_service: ServiceRef
    flyte_insecure: bool
    flyte_config: str | None
    kfp_host: str | None
    kfp_service: ServiceRef
    kfp_insecure_skip_verify: bool
    #: the token itself never lives here: only the variable's name, read when a client is made
    kfp_token_env: str | None
    kfp_namespace: str
    prometheus_url: str | None
    prometheus_service: ServiceRef

    def kfp_token(self) -> str | None:
        return os.environ.get(self.kfp_token_env) if self.kfp_token_env else None

    def target(self) -> KubeTarget:
        return KubeTarget(self.kubeconfig, self.kube_context, self.connect_timeout_s)

    def flyte_namespaces(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.flyte_service.namespace, *flyte.DEFAULT_NAMESPACES[1:])))

    def kfp_namespaces(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.kfp_service.namespace, self.kfp_namespace)))


def parse_cluster_options(get: Callable[[str], Any]) -> ClusterOptions:
    """Validate the options (``get`` reads one by its dest name); BenchError naming the bad one."""
    try:
        timeout = float(get("connect_timeout"))
    except (TypeError, ValueError):
        raise BenchError(f"--connect-timeout: {get('connect_timeout')!r} is not a number of seconds") from None
    if not 0 < timeout <= 600:
        raise BenchError(f"--connect-timeout: {get('connect_timeout')!r} must be more than 0 and at most 600 seconds")
    for option, dest in (("--kubeconfig", "kubeconfig"), ("--flyte-config", "flyte_config")):
        path = get(dest)
        if path and not os.path.isfile(path):
            raise BenchError(f"{option}: {path} is not a file")
    endpoint = get("flyte_endpoint")
    if endpoint and not _HOST_PORT.match(endpoint):
        raise BenchError(f"--flyte-endpoint: {endpoint!r} is not HOST:PORT (e.g. flyte.example.com:443)")
    host = get("kfp_host")
    if host and (urlsplit(host).scheme not in ("http", "https") or not urlsplit(host).hostname):
        raise BenchError(f"--kfp-host: {host!r} is not an http(s) URL")
    token_env = get("kfp_token_env")
    if token_env and not os.environ.get(token_env):
        raise BenchError(f"--kfp-token-env: the environment variable {token_env} is not set or empty")
    return ClusterOptions(
        kubeconfig=get("kubeconfig"),
        kube_context=get("kube_context"),
        connect_timeout_s=timeout,
        flyte_endpoint=endpoint,
        flyte_service=_service("--flyte-service", get("flyte_service")),
        flyte_insecure=bool(get("flyte_insecure")),
        flyte_config=get("flyte_config"),
        kfp_host=host,
        kfp_service=_service("--kfp-service", get("kfp_service")),
        kfp_insecure_skip_verify=bool(get("kfp_insecure_skip_verify")),
        kfp_token_env=token_env,
        kfp_namespace=get("kfp_namespace"),
        prometheus_url=get("prometheus_url"),
        prometheus_service=_service("--prometheus-service", get("prometheus_service")),
    )


def _service(option: str, text: str) -> ServiceRef:
    try:
        return ServiceRef.parse(text)
    except BenchError as exc:
        raise BenchError(f"{option}: {exc}") from None
