"""Cluster plumbing: a kubeconfig target, an API client, and port-forwards to in-cluster services.

``kube`` turns a ``KubeTarget`` (kubeconfig, context, connect timeout) into a ``Kube``: an API
client plus the checks a ``doctor`` needs (server version, RBAC through SelfSubjectAccessReview).
``portforward`` resolves ``ns/service:port`` to a ready pod and relays local TCP connections to
it over the pod port-forward websocket, the way ``kubectl port-forward svc/...`` does.
"""

from retrain_bench.cluster.errors import ClusterError
from retrain_bench.cluster.kube import Kube, KubeTarget, api_client
from retrain_bench.cluster.portforward import Endpoint, PortForward, ServiceRef, http_ready, resolve

__all__ = [
    "ClusterError",
    "Endpoint",
    "Kube",
    "KubeTarget",
    "PortForward",
    "ServiceRef",
    "api_client",
    "http_ready",
    "resolve",
]
