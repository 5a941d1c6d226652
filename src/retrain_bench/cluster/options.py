"""The cluster target's generic options (which cluster, how long to wait, which Prometheus), shared by
the pytest plugin and ``python -m retrain_bench doctor``. Each platform's own options (its endpoint,
its service) belong to its ``ClusterSide`` (``src/retrain_bench/platforms/definition.py``)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from retrain_bench.errors import BenchError

if TYPE_CHECKING:  # both import the kubernetes client: imported where used, not at option registration
    from retrain_bench.cluster.kube import KubeTarget
    from retrain_bench.cluster.portforward import ServiceRef

DEFAULT_PROMETHEUS_SERVICE = "monitoring/prometheus-operated:9090"


def add_cluster_options(add: Callable[..., Any]) -> None:
    """Register the options on a pytest option group or an argparse parser (same spelling)."""
    add("--kubeconfig", default=None, metavar="FILE", help="kubeconfig to use. Default: $KUBECONFIG or ~/.kube/config")
    add("--kube-context", default=None, metavar="NAME", help="kubeconfig context. Default: the current one")
    add("--connect-timeout", default=10.0, metavar="SECONDS", help="limit for every connection attempt. Default: 10")
    add("--prometheus-service", default=DEFAULT_PROMETHEUS_SERVICE, metavar="NS/SVC:PORT", help="port-forwarded")


@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    kubeconfig: str | None
    kube_context: str | None
    connect_timeout_s: float
    prometheus_url: str | None
    prometheus_service: ServiceRef

    def target(self) -> KubeTarget:
        from retrain_bench.cluster.kube import KubeTarget

        return KubeTarget(self.kubeconfig, self.kube_context, self.connect_timeout_s)


def parse_cluster_options(get: Callable[[str], Any]) -> ClusterOptions:
    """Validate the options (``get`` reads one by its dest name); BenchError naming the bad one."""
    try:
        timeout = float(get("connect_timeout"))
    except (TypeError, ValueError):
        raise BenchError(f"--connect-timeout: {get('connect_timeout')!r} is not a number of seconds") from None
    if not 0 < timeout <= 600:
        raise BenchError(f"--connect-timeout: {get('connect_timeout')!r} must be more than 0 and at most 600 seconds")
    existing_file("--kubeconfig", get("kubeconfig"))
    return ClusterOptions(
        kubeconfig=get("kubeconfig"),
        kube_context=get("kube_context"),
        connect_timeout_s=timeout,
        prometheus_url=get("prometheus_url"),
        prometheus_service=service_option("--prometheus-service", get("prometheus_service")),
    )


def existing_file(option: str, path: str | None) -> None:
    """A path option that, when given, must name a file."""
    if path and not os.path.isfile(path):
        raise BenchError(f"{option}: {path} is not a file")


def service_option(option: str, text: str) -> ServiceRef:
    """``NS/SVC:PORT`` of ``option``; BenchError naming the option."""
    from retrain_bench.cluster.portforward import ServiceRef

    try:
        return ServiceRef.parse(text)
    except BenchError as exc:
        raise BenchError(f"{option}: {exc}") from None
