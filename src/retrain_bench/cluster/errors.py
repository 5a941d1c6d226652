"""Cluster errors: one line each, naming the context and what to check; never a credential.

Subclasses exist so a ``doctor`` (and the tests) can tell the cases apart without parsing text.
"""

from retrain_bench.errors import BenchError


class ClusterError(BenchError):
    """The cluster could not be used as asked."""


class KubeconfigError(ClusterError):
    """No kubeconfig, an unreadable one, or no such context in it."""


class ClusterUnreachable(ClusterError):
    """The API server did not answer (refused, timed out, TLS) or rejected the credentials."""


class ApiError(ClusterError):
    """The API server (or whatever answers at its URL) gave an HTTP status other than 401/403."""

    def __init__(self, message: str, *, status: int, detail: str) -> None:
        super().__init__(message)
        self.status = status
        #: the v1 Status ``message`` (or "HTTP <status>"), one line, for callers that say more themselves
        self.detail = detail


class Forbidden(ClusterError):
    """RBAC denied something the bench needs (reading services, pods/portforward, ...)."""


class ServiceNotFound(ClusterError):
    """No such Service in the namespace."""


class PortNotFound(ClusterError):
    """The Service has no such port, or its named targetPort matches no container port."""


class NoReadyPod(ClusterError):
    """The Service has no ready pod behind it."""


class EndpointSilent(ClusterError):
    """The tunnel opened but the endpoint never passed its health check in time."""
