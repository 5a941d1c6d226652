"""Cluster plumbing: a kubeconfig target, an API client, and port-forwards to in-cluster services.

``kube`` turns a ``KubeTarget`` (kubeconfig, context, connect timeout) into a ``Kube``: an API
client plus the checks a ``doctor`` needs (server version, RBAC through SelfSubjectAccessReview).
``portforward`` resolves ``ns/service:port`` to a ready pod and relays local TCP connections to
it over the pod port-forward websocket, the way ``kubectl port-forward svc/...`` does.

The names below are re-exported lazily (PEP 562): importing any ``retrain_bench.cluster.*``
module runs this file first, and eager re-exports would import kubernetes (about a second) into
every pytest process that loads the plugin and every CLI start, cluster target or not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrain_bench.cluster.errors import ClusterError
    from retrain_bench.cluster.kube import Kube, KubeTarget, api_client
    from retrain_bench.cluster.portforward import Endpoint, PortForward, ServiceRef, http_ready, resolve

_HOME = {
    "ClusterError": "retrain_bench.cluster.errors",
    "Kube": "retrain_bench.cluster.kube",
    "KubeTarget": "retrain_bench.cluster.kube",
    "api_client": "retrain_bench.cluster.kube",
    "Endpoint": "retrain_bench.cluster.portforward",
    "PortForward": "retrain_bench.cluster.portforward",
    "ServiceRef": "retrain_bench.cluster.portforward",
    "http_ready": "retrain_bench.cluster.portforward",
    "resolve": "retrain_bench.cluster.portforward",
}

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


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
