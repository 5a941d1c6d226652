"""The endpoints a cluster run talks to: each given by the user, or port-forwarded on first use."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import requests

from retrain_bench.cluster.errors import ClusterError
from retrain_bench.cluster.kube import Kube
from retrain_bench.cluster.options import ClusterOptions
from retrain_bench.cluster.portforward import NotReady, PortForward, ServiceRef, grpc_ready, http_ready
from retrain_bench.measure.promapi import redact_url
from retrain_bench.platforms import registry
from retrain_bench.platforms.definition import ClusterSide
from retrain_bench.platforms.kfp.health import API_SERVER_DOWN, HEALTHZ, read_healthz

#: A health check per endpoint, run through the tunnel before it is handed out.
PROMETHEUS_READY = "/-/ready"


class ClusterEndpoints:
    """Flyte's gRPC address, KFP's and Prometheus's URLs; forwards are closed by ``close()``."""

    def __init__(self, options: ClusterOptions, kube: Kube | None = None, *, unreachable: bool = False) -> None:
        self.options = options
        self._kube = kube
        #: the caller already knows the cluster is not there: say so instead of trying again
        self._unreachable = unreachable
        self._forwards: dict[str, PortForward] = {}
        #: the API server's version, once ``kube()`` has connected
        self.server_version: str | None = None

    def kube(self) -> Kube:
        if self._unreachable:
            raise ClusterError("skipped: cluster unreachable")
        if self._kube is None:
            self._kube = Kube(self.options.target())
            # Fail here, within the connect timeout, if the cluster is not there.
            self.server_version = self._kube.version()
        return self._kube

    def _forward(self, service: ServiceRef, check: Callable[[str], bool]) -> PortForward:
        key = str(service)
        if key not in self._forwards:
            forward = PortForward(self.options.target(), service, check=check, kube=self.kube())
            self._forwards[key] = forward.start()
        return self._forwards[key]

    def flyte(self) -> tuple[str, bool]:
        """(HOST:PORT, plaintext?) of flyteadmin's gRPC API. Through a forward the hop to the pod is
        the tunnel itself, and flyte-binary's in-cluster gRPC port is plaintext."""
        if self.options.flyte_endpoint:
            return self.options.flyte_endpoint, self.options.flyte_insecure
        return self._forward(self.options.flyte_service, grpc_ready()).local_address, True

    def kfp(self) -> str:
        if self.options.kfp_host:
            return self.options.kfp_host
        return self._forward(self.options.kfp_service, http_ready(HEALTHZ, accept=_kfp_api_ready)).url()

    def prometheus(self) -> str:
        if self.options.prometheus_url:
            return self.options.prometheus_url
        return self._forward(self.options.prometheus_service, http_ready(PROMETHEUS_READY)).url()

    def close(self) -> None:
        for forward in self._forwards.values():
            forward.close()
        self._forwards.clear()
        if self._kube is not None:
            with contextlib.suppress(Exception):
                self._kube.close()

    def __enter__(self) -> ClusterEndpoints:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _kfp_api_ready(response: requests.Response) -> None:
    """Through the UI a 200 healthz says nothing about the API server: its ``apiServerReady`` does."""
    try:
        body = response.json()
    except ValueError:
        raise NotReady("the KFP healthz answered 200 but not JSON") from None
    if not isinstance(body, dict) or not read_healthz(body).ready:
        raise NotReady(API_SERVER_DOWN)


def _sides(platforms: Sequence[str]) -> list[ClusterSide]:
    """The cluster sides of ``platforms``, in the registry's order."""
    chosen = registry.platforms()
    return [p.cluster for name, p in chosen.items() if name in platforms and p.cluster is not None]


def cluster_preflight(options: ClusterOptions, platforms: Sequence[str]) -> str:
    """Connect, then reach each selected platform's API and Prometheus (forwarding where not given),
    each within the connect timeout; a one-line ``ClusterError`` for the first that is missing."""
    with ClusterEndpoints(options) as endpoints:
        kube = endpoints.kube()
        reached = [side.reach(endpoints) for side in _sides(platforms)]
        reached.append(f"Prometheus at {redact_url(endpoints.prometheus())}")
        return (
            f"cluster reachable (context {kube.context}, Kubernetes {endpoints.server_version}; {', '.join(reached)})"
        )
