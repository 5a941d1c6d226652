"""A kubeconfig target and the API client built from it, with one-line errors and no secrets in them.

Every message names the context and the server (through ``redact_url``) and says what to check.
None of them quotes the kubeconfig, an exception from its loader (those can echo file contents),
or an ``ApiException`` as a whole (its text carries response headers and the raw body): only the
HTTP status and the ``message`` of a v1 ``Status`` body, which the apiserver writes for humans.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from retrain_bench.cluster.errors import ApiError, ClusterError, ClusterUnreachable, Forbidden, KubeconfigError
from retrain_bench.measure.promapi import redact_url


@dataclasses.dataclass(frozen=True)
class KubeTarget:
    """Which cluster: a kubeconfig file (None: $KUBECONFIG or ~/.kube/config) and context (None: current)."""

    kubeconfig: str | None = None
    context: str | None = None
    #: Bound on connecting to the API server, and on a forward's first health check.
    connect_timeout_s: float = 10.0

    def kubeconfig_paths(self) -> tuple[str, ...]:
        """The files to read: ``--kubeconfig``, else every file of a ``KUBECONFIG`` list, else the default."""
        if self.kubeconfig:
            return (os.path.expanduser(self.kubeconfig),)
        listed = [path for path in os.environ.get("KUBECONFIG", "").split(os.pathsep) if path]
        return tuple(os.path.expanduser(path) for path in listed) or (os.path.expanduser("~/.kube/config"),)

    def kubeconfig_path(self) -> str:
        """Those files as the client takes them: joined like ``KUBECONFIG``. Its ``KubeConfigMerger``
        (kubernetes/config/kube_config.py) splits the string again and merges every file that exists,
        the first definition of a name winning, as kubectl merges them."""
        return os.pathsep.join(self.kubeconfig_paths())

    def has_kubeconfig(self) -> bool:
        return any(os.path.isfile(path) for path in self.kubeconfig_paths())


def api_client(target: KubeTarget) -> k8s.ApiClient:
    """An ``ApiClient`` for ``target``; ``KubeconfigError`` without a usable kubeconfig or context."""
    return _load(target)[0]


def _load(target: KubeTarget) -> tuple[k8s.ApiClient, str]:
    path = target.kubeconfig_path()
    if not target.has_kubeconfig():
        if not target.kubeconfig and not target.context and os.environ.get(SERVICE_HOST_ENV):
            return _in_cluster(target), IN_CLUSTER
        raise KubeconfigError(
            f"no kubeconfig at {path}: pass --kubeconfig or set KUBECONFIG (check `kubectl config view`)"
        )
    try:
        contexts, current = k8s_config.list_kube_config_contexts(config_file=path)
    except Exception:  # noqa: BLE001 - yaml and loader errors can quote the file: say nothing of it
        raise KubeconfigError(f"kubeconfig {path} is not a valid kubeconfig: check `kubectl config view`") from None
    names = [str(c.get("name")) for c in contexts or []]
    context = target.context or (current or {}).get("name")
    if not context:
        raise KubeconfigError(f"kubeconfig {path} has no current context: pass --kube-context (it has: {_list(names)})")
    if context not in names:
        raise KubeconfigError(
            f"kubeconfig {path} has no context {context!r}: pass --kube-context one of {_list(names)}"
        )
    _refuse_proxy_url(target, context)
    configuration = type.__call__(k8s.Configuration)
    # No urllib3 retries: its default Retry(3) would quadruple the bound the caller asked for. Set
    # before the ApiClient exists: kubernetes/client/rest.py (RESTClientObject.__init__) reads
    # ``retries`` once, when it builds the pool manager; the loader copies only host, TLS and auth.
    configuration.retries = 0
    try:
        with _loader_log() as logged:
            client = k8s_config.new_client_from_config(
                config_file=path, context=context, persist_config=False, client_configuration=configuration
            )
    except (ConfigException, Exception):  # noqa: BLE001 - same reason: the loader's text is not ours to show
        raise KubeconfigError(
            f"context {context!r} in kubeconfig {path} cannot be loaded (cluster, user or credentials plugin): "
            f"check `kubectl --context {context} get --raw /version`"
        ) from None
    plugin = next((m for m in logged if m.startswith("exec:")), None)
    if plugin is not None:
        # The loader logs an exec plugin's failure (and its stderr) and goes on without credentials
        # (kubernetes/config/kube_config.py _load_from_exec_plugin, exec_provider.py): one line instead.
        client.close()
        raise KubeconfigError(
            f"the credentials plugin of context {context!r} failed: {_one_line(plugin.removeprefix('exec:'))}; "
            f"check `kubectl --context {context} get ns` (log in again?)"
        )
    # No proxy unless the kubeconfig says so (the 30.x loader never does).
    client.configuration.proxy = None
    hook = client.configuration.refresh_api_key_hook
    if hook is not None:  # a token with an expiry (an exec plugin's): refreshed before requests, plugin and all
        client.configuration.refresh_api_key_hook = _quiet_refresh(hook, context)
    return client, context


def _quiet_refresh(hook: Any, context: str) -> Any:
    """The loader's refresh hook (kube_config.py ``_set_config``), whose plugin failures are logged raw and
    then ignored (the request goes out with the old token): one KubeconfigError instead, as kubectl fails."""

    def refresh(configuration: Any) -> None:
        with _loader_log() as logged:
            hook(configuration)
        plugin = next((m for m in logged if m.startswith("exec:")), None)
        if plugin is not None:
            raise KubeconfigError(
                f"the credentials plugin of context {context!r} failed to refresh the token: "
                f"{_one_line(plugin.removeprefix('exec:'))}; check `kubectl --context {context} get ns` (log in again?)"
            )

    return refresh


#: Running in a pod without a kubeconfig: the service account kubelet mounts, as client-go's rest.InClusterConfig
#: and the Python client's ``load_incluster_config`` (kubernetes/config/incluster_config.py) read it.
SERVICE_HOST_ENV = "KUBERNETES_SERVICE_HOST"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
IN_CLUSTER = "in-cluster"


def _in_cluster(target: KubeTarget) -> k8s.ApiClient:
    """The pod's service account: host from KUBERNETES_SERVICE_HOST/PORT, its token (re-read as the
    kubelet rotates it) and CA."""
    from kubernetes.config.incluster_config import InClusterConfigLoader

    configuration = type.__call__(k8s.Configuration)
    configuration.retries = 0  # as for a kubeconfig, see _load
    try:
        InClusterConfigLoader(
            token_filename=os.path.join(SERVICE_ACCOUNT_DIR, "token"),
            cert_filename=os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt"),
        ).load_and_set(configuration)
    except Exception:  # noqa: BLE001 - its text may quote the environment
        raise KubeconfigError(
            f"no kubeconfig at {target.kubeconfig_path()}, and the in-cluster service account "
            f"({SERVICE_ACCOUNT_DIR}) cannot be loaded: pass --kubeconfig, or mount the pod's service account token"
        ) from None
    configuration.proxy = None
    return k8s.ApiClient(configuration)


def _refuse_proxy_url(target: KubeTarget, context: str) -> None:
    """A cluster reached through ``proxy-url`` (a bastion, Teleport): the 30.x client's loader ignores the
    field (kubernetes/config/kube_config.py has no proxy support; kfp needs the client <31), so every call
    would go direct and time out as "check the cluster is up". Refused in one line instead."""
    import yaml

    cluster: str | None = None
    clusters: dict[str, Any] = {}
    for file in target.kubeconfig_paths():  # merged as the loader does: the first definition wins
        try:
            with open(file, encoding="utf-8") as handle:
                document = yaml.safe_load(handle)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if not isinstance(document, dict):
            continue
        for entry in document.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == context and cluster is None:
                cluster = (entry.get("context") or {}).get("cluster")
        for entry in document.get("clusters") or []:
            if isinstance(entry, dict) and entry.get("name") not in clusters:
                clusters[str(entry.get("name"))] = entry.get("cluster") or {}
    if cluster is not None and isinstance(clusters.get(cluster), dict) and clusters[cluster].get("proxy-url"):
        raise KubeconfigError(
            f"context {context!r} reaches its cluster through proxy-url, which the Kubernetes Python client "
            "(30.x) cannot use: open the way yourself (e.g. `kubectl proxy --port=8001` and a kubeconfig with "
            "server http://127.0.0.1:8001, or your bastion's local tunnel) and point --kubeconfig at it"
        )


@contextlib.contextmanager
def _loader_log() -> Iterator[list[str]]:
    """What the kubeconfig loader logs through the root logger, kept instead of printed. Its
    ``logging.error`` would otherwise call ``basicConfig`` and print ``ERROR:root:...`` raw to stderr."""
    kept: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            with contextlib.suppress(Exception):
                kept.append(record.getMessage())

    handler = Keep(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield kept
    finally:
        root.removeHandler(handler)


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


def _list(names: list[str]) -> str:
    return ", ".join(sorted(names)) or "none"


class Kube:
    """A connected-to-be cluster: the API client, the context name, and the checks a doctor runs."""

    def __init__(self, target: KubeTarget, client: k8s.ApiClient | None = None, context: str | None = None) -> None:
        self.target = target
        if client is None:
            client, context = _load(target)
        self.client = client
        self.context = context or target.context or "(current)"
        self.server = redact_url(str(client.configuration.host))
        timeout = target.connect_timeout_s
        #: (connect, read) for every REST call: a server that accepts and never answers is given up on
        #: within the same bound as one that refuses (watches set their own, longer read timeout).
        self.timeout = (timeout, timeout)
        self._version: str | None = None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.client)

    def discovery(self) -> k8s.DiscoveryV1Api:
        return k8s.DiscoveryV1Api(self.client)

    def version(self) -> str:
        """The API server's ``gitVersion`` (``GET /version``), e.g. ``v1.30.2``; asked once."""
        if self._version is None:
            info = self.call("get the server version", lambda: k8s.VersionApi(self.client).get_code(**self.opts()))
            self._version = str(info.git_version)
        return self._version

    def portforward_verbs(self) -> tuple[str, ...]:
        """The RBAC verbs a websocket port-forward needs on this server (``portforward_verbs``)."""
        return portforward_verbs(self.version())

    def can_i(self, verb: str, resource: str, namespace: str, *, subresource: str = "", group: str = "") -> bool:
        """May the current user ``verb`` ``resource[/subresource]`` in ``namespace``? (SelfSubjectAccessReview)"""
        review = k8s.V1SelfSubjectAccessReview(
            spec=k8s.V1SelfSubjectAccessReviewSpec(
                resource_attributes=k8s.V1ResourceAttributes(
                    namespace=namespace, verb=verb, resource=resource, subresource=subresource or None, group=group
                )
            )
        )
        answer = self.call(
            f"check RBAC for {verb} {resource}",
            lambda: k8s.AuthorizationV1Api(self.client).create_self_subject_access_review(review, **self.opts()),
        )
        return bool(answer.status and answer.status.allowed)

    def namespace_exists(self, namespace: str) -> bool:
        """``GET /api/v1/namespaces/<ns>``: False on the apiserver's own NotFound (a Status body);
        ``Forbidden`` without ``get`` on namespaces (cluster-scoped: deploy/rbac.yaml's ClusterRole)."""
        try:
            self.call(f"get namespace {namespace}", lambda: self.core().read_namespace(namespace, **self.opts()))
        except ApiError as error:
            if error.status == 404 and error.detail != "HTTP 404":
                return False
            raise
        return True

    def opts(self) -> dict[str, Any]:
        return {"_request_timeout": self.timeout}

    def call(self, what: str, fn: Any) -> Any:
        """``fn()``; every failure becomes a one-line ``ClusterError``: connection failures and 401 are
        ``ClusterUnreachable``, 403 ``Forbidden``, any other status an ``ApiError`` carrying it, a body
        the client cannot read (something else behind the URL) a ``ClusterError``."""
        try:
            return fn()
        except ApiException as error:
            if error.status == 401:
                raise ClusterUnreachable(
                    f"the API server of context {self.context} ({self.server}) rejected the credentials "
                    f"(401) while trying to {what}: refresh them (`kubectl --context {self.context} get ns`)"
                ) from None
            if error.status == 403:
                raise Forbidden(
                    f"forbidden to {what} in context {self.context}: {status_message(error)}; "
                    "check the RBAC of the kubeconfig's user"
                ) from None
            detail = status_message(error)
            raise ApiError(
                f"the API server of context {self.context} ({self.server}) answered HTTP {error.status} "
                f"while trying to {what}" + ("" if detail == f"HTTP {error.status}" else f": {detail}") + "; "
                f"check the server URL in the kubeconfig and `kubectl --context {self.context} get --raw /version`",
                status=int(error.status or 0),
                detail=detail,
            ) from None
        except (ValueError, TypeError, KeyError, AttributeError):
            # The client's models reject JSON that is not the object asked for (kubernetes/client/models
            # raise ValueError on a missing required field): a proxy or another service at the URL.
            raise ClusterError(
                f"the server of context {self.context} ({self.server}) answered something that is not the "
                f"Kubernetes API while trying to {what}: check the server URL in the kubeconfig "
                f"(`kubectl --context {self.context} get --raw /version`)"
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ClusterUnreachable(
                f"cannot reach the API server of context {self.context} ({self.server}) within "
                f"{self.target.connect_timeout_s:g} s ({_reason(error)}): check the cluster is up and "
                f"`kubectl --context {self.context} get --raw /version`"
            ) from None


#: The first minor release whose apiserver also wants ``create`` for a websocket port-forward.
_CREATE_FOR_WEBSOCKET_FROM = (1, 35)


def portforward_verbs(git_version: str) -> tuple[str, ...]:
    """RBAC verbs on ``pods/portforward`` for our websocket port-forward, by server version.

    The websocket upgrade is an HTTP GET, which the apiserver authorizes as ``get``; from 1.35 the
    ``AuthorizePodWebsocketUpgradeCreatePermission`` gate (beta, on by default) adds a check for
    ``create``, the verb SPDY's POST always needed (kubernetes/kubernetes
    pkg/registry/core/pod/rest/subresources.go, kubernetes issue 133515). A version we cannot read
    (a vendor's odd string) gets both: asking for one verb too many is the safe mistake.
    """
    found = re.match(r"^v?(\d+)\.(\d+)", git_version.strip())
    if found and (int(found[1]), int(found[2])) < _CREATE_FOR_WEBSOCKET_FROM:
        return ("get",)
    return ("get", "create")


def status_message(error: ApiException) -> str:
    """The ``message`` of a v1 ``Status`` body, on one line; the bare HTTP status otherwise (a body that
    is not a Status, from a proxy say, is not quoted: it may echo the request)."""
    try:
        body = json.loads(error.body or "")
        message = body.get("message") if body.get("kind") == "Status" else None
    except (ValueError, AttributeError):
        message = None
    text = str(message) if message else f"HTTP {error.status}"
    return " ".join(text.split())[:300]


def _reason(error: BaseException) -> str:
    """A short cause: the innermost exception's class, never its text (that may hold a URL with a query)."""
    inner: BaseException = error
    reason = getattr(error, "reason", None)
    if isinstance(reason, BaseException):
        inner = reason
    name = type(inner).__name__
    if "Timeout" in name or isinstance(inner, TimeoutError):
        return "timed out"
    if isinstance(inner, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return "connection refused or no route"
    if isinstance(inner, urllib3.exceptions.SSLError):
        return "TLS failure: check the cluster's CA in the kubeconfig"
    return name
