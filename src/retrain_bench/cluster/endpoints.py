"""The endpoints a cluster run talks to: each given by the user, or port-forwarded on first use.

Generic: the Kubernetes API, any service through ``forward(service, check)``, and Prometheus. A
platform's own endpoint (its API, and the health check that proves a tunnel reaches it) is its
``ClusterSide``'s, which asks ``forward`` here for the tunnel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from retrain_bench.cluster.errors import ClusterError
from retrain_bench.cluster.kube import Kube
from retrain_bench.cluster.options import ClusterOptions
from retrain_bench.cluster.portforward import PortForward, ServiceRef, http_ready
from retrain_bench.measure.promapi import redact_url

#: A health check per endpoint, run through the tunnel before it is handed out.
PROMETHEUS_READY = "/-/ready"


class ClusterEndpoints:
    """The API client, forwards to services and Prometheus's URL; forwards are closed by ``close()``."""

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

    def forward(self, service: ServiceRef, check: Callable[[str], bool]) -> PortForward:
        """The one forward to ``service`` of this session, started (and ``check``ed) on first use."""
        key = str(service)
        if key not in self._forwards:
            forward = PortForward(self.options.target(), service, check=check, kube=self.kube())
            self._forwards[key] = forward.start()
        return self._forwards[key]

    def prometheus(self) -> str:
        if self.options.prometheus_url:
            return self.options.prometheus_url
        return self.forward(self.options.prometheus_service, http_ready(PROMETHEUS_READY)).url()

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


#: How a platform says it is reachable: "<label> at <address>", reaching its API (forwarding it when needed).
Reach = Callable[[ClusterEndpoints], str]


def cluster_preflight(options: ClusterOptions, reach: Sequence[Reach]) -> str:
    """Connect, then reach each platform's API (``reach``, from its cluster side) and Prometheus,
    forwarding where not given, each within the connect timeout; a one-line ``ClusterError`` for the
    first that is missing."""
    with ClusterEndpoints(options) as endpoints:
        kube = endpoints.kube()
        reached = [each(endpoints) for each in reach]
        reached.append(f"Prometheus at {redact_url(endpoints.prometheus())}")
        return (
            f"cluster reachable (context {kube.context}, Kubernetes {endpoints.server_version}; {', '.join(reached)})"
        )
