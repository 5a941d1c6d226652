"""A STAND-IN for the Kubernetes API server (kube-apiserver), for tests only. It is not a cluster.

It implements just what ``retrain_bench.cluster`` calls, shaped as the real apiserver answers. Sources
(kubernetes/kubernetes unless named; each behaviour below also says where it comes from):
the kubernetes-client/python 30.1 models (``kubernetes/client/models``, which reject a missing
required field) and ``kubernetes/stream/ws_client.py`` (the channel framing); the API reference at
kubernetes.io (objects, lists, watch events); ``staging/src/k8s.io/apimachinery/pkg/api/errors``
(``Status`` bodies); ``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go``
(the "is forbidden" message); ``pkg/registry/core/pod`` (logs, port-forward); the kubelet's streaming
port-forward (``pkg/kubelet/cri/streaming/portforward``):

- ``GET /version`` (a full ``version.Info``);
- ``GET /api/v1/namespaces/<ns>/{services,endpoints,pods}/<name>`` and
  ``GET /apis/discovery.k8s.io/v1/namespaces/<ns>/endpointslices?labelSelector=k=v`` with
  ``kind``/``apiVersion``/``metadata`` as served; 404 and 403 as v1 ``Status`` objects;
- ``GET /api/v1/nodes`` and ``GET /apis/apps/v1/namespaces/<ns>/deployments`` (lists; ``add_node``,
  ``add_deployment``), 403 when ``nodes``/``deployments`` is in ``forbidden``;
- ``GET /api/v1/namespaces/<ns>/pods?labelSelector=k=v,...`` (a ``PodList`` with its
  ``resourceVersion``), the same with ``watch=true`` (``resourceVersion``, ``timeoutSeconds``:
  HTTP/1.1 chunked JSON event lines ``{"type": "ADDED"|"MODIFIED"|"DELETED", "object": pod}``
  until the timeout, or an ``ERROR`` event with a 410 ``Status`` once ``expire_watches()`` is
  called, as a compacted resource version gives) and ``GET .../pods/<name>/log?container=c``
  (the text; 400 for a missing or unknown container, 404 for a deleted pod), driven by
  ``put_pod`` / ``delete_pod`` / ``set_log`` (``pod_object`` builds a pod as it is served);
- ``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews``: allowed unless the resource
  (``pods/portforward`` style) or the verb and resource (``create pods/portforward``) is in ``forbidden``;
- the pod port-forward websocket upgrade (``v4.channel.k8s.io``, one port): the two initial
  3-byte port frames (data channel 0, error channel 1), then ``[0]+data`` relayed to a real local
  TCP server, error-channel text when that server refuses (as the kubelet reports it), a 403
  ``Status`` when ``get`` on ``pods/portforward`` is forbidden (and ``create`` from a ``git_version``
  of 1.35 on), and ``drop_next(after_bytes)`` to abort the
  next connection mid-stream.

Every request must carry ``Authorization: Bearer <token>`` (else 401 ``Unauthorized``, as the
apiserver's authentication filter answers, ``staging/src/k8s.io/apiserver/pkg/endpoints/filters/authentication.go``),
so auth is really sent.
Plain HTTP on 127.0.0.1 (no TLS), a thread per connection (``ThreadingHTTPServer``), and a
hand-written RFC 6455 server side: no extra dependency. ``kubeconfig(path)`` writes a kubeconfig
with the fake token pointing at it.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import io
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "fake-token-d0-n0t-le4k-7f3a9c"
PROTOCOL = "v4.channel.k8s.io"
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_BINARY, _CLOSE, _PING, _PONG = 0x2, 0x8, 0x9, 0xA


@dataclasses.dataclass(frozen=True)
class FakePod:
    """A pod behind a service: its container ports and where a port-forward to them really goes."""

    name: str
    ready: bool = True
    #: container port name → number, as the pod spec declares them
    ports: tuple[tuple[str, int], ...] = ()
    #: container port number → the real local TCP address a forward to it reaches
    backends: tuple[tuple[int, tuple[str, int]], ...] = ()


class KubeStandin:
    """The stand-in server and its state; a context manager that starts and stops it."""

    def __init__(self) -> None:
        self.token = TOKEN
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, ns, name) → object
        self.slices: list[dict[str, Any]] = []
        #: the namespaces that exist (``GET /api/v1/namespaces/<name>``); a service's is added with it
        self.namespaces: set[str] = {"default", "kube-system", "kube-public"}
        self.backends: dict[tuple[str, str, int], tuple[str, int]] = {}
        #: what RBAC forbids: a resource ("services", "pods/portforward": every verb) or "VERB resource"
        #: ("create pods/portforward": that verb only)
        self.forbidden: set[str] = set()
        #: without discovery.k8s.io/v1 (a pre-1.21 cluster): clients must fall back to Endpoints
        self.serve_slices = True
        self.requests: list[tuple[str, str]] = []
        self.bad_auth = 0
        #: answer every request with this HTTP status and a plain-text body, as something that is not the
        #: apiserver does (a wrong URL, a proxy in front): Go's ``http.NotFound`` writes "404 page not found"
        self.answer_all: int | None = None
        #: the gitVersion ``GET /version`` reports; RBAC for port-forwards follows it (see ``_portforward``)
        self.git_version = VERSION["gitVersion"]
        self._drop_after: int | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.standin = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self.pod_feed = PodFeed()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> KubeStandin:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="k8s-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.pod_feed.close()  # ends the open watches, or their handler threads outlive the server
        if self._thread is not None:  # shutdown() waits for serve_forever: only if it runs
            self._server.shutdown()
        with self._lock:
            for sock in self._sockets:
                _abort(sock)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> KubeStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubeconfig(self, path: Path, *, token: str | None = None, context: str = "standin") -> Path:
        """A kubeconfig for this server with the fake bearer token; returns ``path``."""
        return kubeconfig_for(path, self.url, token=token or self.token, context=context)

    def drop_next(self, after_bytes: int) -> None:
        """Abort (TCP reset) the next port-forward after relaying ``after_bytes`` to the client."""
        self._drop_after = after_bytes

    def add_service(
        self,
        namespace: str,
        name: str,
        ports: list[dict[str, Any]],
        pods: list[FakePod],
    ) -> None:
        """A Service with ``ports`` (``{"name", "port", "targetPort"}``), its EndpointSlice, Endpoints and pods."""
        self.namespaces.add(namespace)
        meta = {"name": name, "namespace": namespace, "uid": f"uid-{name}", "resourceVersion": "1"}
        self.objects["services", namespace, name] = {
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": meta,
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "10.96.0.10",
                "selector": {"app": name},
                "ports": [{"protocol": "TCP", **p} for p in ports],
            },
        }
        resolved = []  # the port list EndpointSlices carry: service port names, target numbers
        for p in ports:
            target = p.get("targetPort", p["port"])
            numbers = (
                {n for pod in pods for pn, n in pod.ports if pn == target} if isinstance(target, str) else {target}
            )
            for number in sorted(numbers)[:1]:
                resolved.append({"name": p.get("name", ""), "port": number, "protocol": "TCP"})
        refs = [
            (i, pod, {"kind": "Pod", "name": pod.name, "namespace": namespace, "uid": f"uid-{pod.name}"})
            for i, pod in enumerate(pods)
        ]
        self.slices.append(
            {
                "metadata": {
                    "name": f"{name}-x7k2p",
                    "namespace": namespace,
                    "labels": {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "standin"},
                },
                "addressType": "IPv4",
                "endpoints": [
                    {
                        "addresses": [f"10.244.0.{i + 10}"],
                        # discovery.k8s.io/v1 EndpointConditions, as the EndpointSlice controller sets them
                        "conditions": {"ready": pod.ready, "serving": pod.ready, "terminating": False},
                        "targetRef": ref,
                    }
                    for i, pod, ref in refs
                ],
                "ports": resolved,
            }
        )
        self.objects["endpoints", namespace, name] = {
            "kind": "Endpoints",
            "apiVersion": "v1",
            "metadata": meta,
            "subsets": [
                {
                    "addresses": [{"ip": f"10.244.0.{i + 10}", "targetRef": ref} for i, pod, ref in refs if pod.ready],
                    # v1 Endpoints split ready and not-ready addresses (the endpoints controller)
                    "notReadyAddresses": [
                        {"ip": f"10.244.0.{i + 10}", "targetRef": ref} for i, pod, ref in refs if not pod.ready
                    ],
                    "ports": resolved,
                }
            ],
        }
        for pod in pods:
            self.objects["pods", namespace, pod.name] = {
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": {"name": pod.name, "namespace": namespace, "labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "standin",
                            "ports": [{"name": pn, "containerPort": n, "protocol": "TCP"} for pn, n in pod.ports],
                        }
                    ]
                },
                "status": {"phase": "Running"},
            }
            for number, address in pod.backends:
                self.backends[namespace, pod.name, number] = address

    def scale_to_zero(self, namespace: str, name: str) -> None:
        """No pod behind the service any more (scaled to 0, or still scheduling). The EndpointSlice
        keeps existing with ``endpoints: null``: ``Endpoints []Endpoint `json:"endpoints"``` has no
        omitempty (kubernetes staging/src/k8s.io/api/discovery/v1/types.go), so a nil list is served as
        null, which the 30.1 client's ``V1EndpointSlice`` rejects (kubernetes-client/python#2214, #2423).
        v1 Endpoints drops its subsets (``Subsets []EndpointSubset `json:"subsets,omitempty"```)."""
        for one in self.slices:
            meta = one["metadata"]
            if meta["namespace"] == namespace and meta["labels"].get("kubernetes.io/service-name") == name:
                for pod in one["endpoints"] or []:
                    self.objects.pop(("pods", namespace, pod["targetRef"]["name"]), None)
                one["endpoints"] = None
                one["ports"] = None  # `kubectl get endpointslices` shows both <unset> (issue #2423's listing)
        self.objects["endpoints", namespace, name].pop("subsets", None)

    def replace_pod(self, namespace: str, name: str, new: FakePod, *, old_terminating: bool = False) -> None:
        """A rollout (or an eviction) of the service's only pod: the new pod is behind the service, and
        the old one is gone (a port-forward to it is a 404: the apiserver looks the pod up before the
        upgrade, pkg/registry/core/pod/rest/subresources.go), or, ``old_terminating``, still there with
        its process stopped (the kubelet's error channel reports the refused port; the endpoint
        controller has already taken it out of the slice)."""
        service = self.objects["services", namespace, name]
        for one in list(self.slices):
            meta = one["metadata"]
            if meta["namespace"] == namespace and meta["labels"].get("kubernetes.io/service-name") == name:
                for pod in one["endpoints"] or []:
                    old = pod["targetRef"]["name"]
                    if old_terminating:
                        for key in [k for k in self.backends if k[:2] == (namespace, old)]:
                            del self.backends[key]
                    else:
                        self.objects.pop(("pods", namespace, old), None)
                self.slices.remove(one)
        del self.objects["services", namespace, name]
        ports = [{k: v for k, v in p.items() if k != "protocol"} for p in service["spec"]["ports"]]
        self.add_service(namespace, name, ports, [new])

    def add_node(
        self,
        name: str,
        *,
        instance_type: str | None,
        cpu: str = "4",
        memory: str = "16303360Ki",
        allocatable: tuple[str, str] | None = None,
        kubelet: str = "v1.30.0",
        os_image: str = "Debian GNU/Linux 12 (bookworm)",
    ) -> None:
        """A Node as ``GET /api/v1/nodes`` lists it: well-known labels, capacity, allocatable and the
        complete ``nodeInfo`` (the client rejects a NodeSystemInfo missing any of its fields)."""
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
        if instance_type is not None:
            labels["node.kubernetes.io/instance-type"] = instance_type
        cpu_alloc, memory_alloc = allocatable or (cpu, memory)
        self.objects["nodes", "", name] = {
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1", "labels": labels},
            "spec": {"podCIDR": "10.244.0.0/24"},
            "status": {
                "capacity": {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "102626232Ki"},
                "allocatable": {"cpu": cpu_alloc, "memory": memory_alloc, "pods": "110"},
                "nodeInfo": {
                    "machineID": "0" * 32,
                    "systemUUID": f"uuid-{name}",
                    "bootID": f"boot-{name}",
                    "kernelVersion": "6.1.0-18-amd64",
                    "osImage": os_image,
                    "containerRuntimeVersion": "containerd://1.7.15",
                    "kubeletVersion": kubelet,
                    "kubeProxyVersion": kubelet,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        }

    def add_deployment(
        self,
        namespace: str,
        name: str,
        images: dict[str, str],
        labels: dict[str, str],
        *,
        replicas: int = 1,
        requests: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """A Deployment (apps/v1) with these containers (name -> image), metadata labels, and
        optionally container requests (container name -> {"cpu": ..., "memory": ...})."""

        def container(c: str, image: str) -> dict[str, Any]:
            found: dict[str, Any] = {"name": c, "image": image}
            if requests and c in requests:
                found["resources"] = {"requests": requests[c]}
            return found

        selector = {"app": name}
        self.objects["deployments", namespace, name] = {
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": selector},
                    "spec": {"containers": [container(c, image) for c, image in images.items()]},
                },
            },
            "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas},
        }

    def denied(self, verb: str, resource: str) -> bool:
        return resource in self.forbidden or f"{verb} {resource}" in self.forbidden

    def server_minor(self) -> int:
        return int(self.git_version.removeprefix("v").split(".")[1])

    def _take_drop(self) -> int | None:
        with self._lock:
            drop, self._drop_after = self._drop_after, None
            return drop

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            (self._sockets.add if add else self._sockets.discard)(sock)


def kubeconfig_for(
    path: Path, server: str, *, token: str = TOKEN, context: str = "standin", current: bool = True
) -> Path:
    """A kubeconfig whose cluster, user and context are all named after ``context``, pointing at ``server``;
    with ``current=False`` it sets no current-context (a file meant to be merged after another)."""
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {context}\n  cluster:\n    server: {server}\n"
        f"users:\n- name: {context}\n  user:\n    token: {token}\n"
        f"contexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\n"
        + (f"current-context: {context}\n" if current else "")
    )
    return path


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A TCP server that completes the handshake, reads and never answers: a hung apiserver, or a load
    balancer that accepts for a backend that is gone. Yields its ``http://127.0.0.1:PORT``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # kept open, never written to

    thread = threading.Thread(target=accept, name="silent-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for conn in held:
            conn.close()


@contextlib.contextmanager
def running_http(answer: Callable[[str], tuple[int, bytes]]) -> Iterator[str]:
    """Something at an API server's URL that is not one: ``answer(path)`` gives each GET and POST its
    status and JSON body. Yields ``http://127.0.0.1:PORT``."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            code, data = answer(self.path)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    with serving(Handler, "not-an-apiserver") as url:
        yield url


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], name: str, *, wrap: Any = None) -> Iterator[str]:
    """``handler`` on a free loopback port, a thread per connection, until the ``with`` ends; yields
    its URL (https when ``wrap``, an ``SSLContext``, wraps the socket)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if wrap is not None:
        server.socket = wrap.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
    thread.start()
    try:
        yield f"{'https' if wrap is not None else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- pods: list, watch, log ------------------------------------------------------------------------


def pod_object(
    namespace: str,
    name: str,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    node: str | None = "node-a",
    phase: str = "Succeeded",
    containers: tuple[str, ...] = ("main",),
    init_containers: tuple[str, ...] = (),
    created: str = "2024-01-01T00:00:00Z",
    started: str | None = "2024-01-01T00:00:01Z",
    finished: str | None = "2024-01-01T00:00:09Z",
    requests: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A pod as the apiserver serves it, its container states following ``phase``:
    Pending (waiting, not scheduled without ``node``), Running, Succeeded or Failed (terminated)."""

    def state(container: str) -> dict[str, Any]:
        if phase == "Pending":
            return {"waiting": {"reason": "ContainerCreating"}}
        if phase == "Running":
            return {"running": {"startedAt": started}}
        code = 0 if phase == "Succeeded" else 1
        reason = "Completed" if code == 0 else "Error"
        return {"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": finished}}

    done = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started}}

    def statuses(names: tuple[str, ...], init: bool) -> list[dict[str, Any]]:
        # Init containers have all finished by the time the main ones run.
        return [
            {
                "name": c,
                "state": done if init else state(c),
                "ready": phase == "Running" and not init,
                "restartCount": 0,
                "image": "standin:1",
                "imageID": "",
            }
            for c in names
        ]

    status_: dict[str, Any] = {"phase": phase}
    if node is not None and phase != "Pending":
        status_.update(startTime=started, containerStatuses=statuses(containers, False))
        if init_containers:
            status_["initContainerStatuses"] = statuses(init_containers, True)
    resources = {"resources": {"requests": requests, "limits": requests}} if requests else {}
    spec: dict[str, Any] = {"containers": [{"name": c, "image": "standin:1", **resources} for c in containers]}
    if init_containers:
        spec["initContainers"] = [{"name": c, "image": "standin:1"} for c in init_containers]
    if node is not None:
        spec["nodeName"] = node
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{name}",
            "creationTimestamp": created,
            "labels": dict(labels or {}),
            "annotations": dict(annotations or {}),
        },
        "spec": spec,
        "status": status_,
    }


def _selected(labels: dict[str, str], selector: str) -> bool:
    """Equality-based label selectors (``a=b``, ``a==b``, ``a!=b``, comma = and), as kubectl sends them."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        else:
            key, _, value = term.replace("==", "=").partition("=")
            if labels.get(key) != value:
                return False
    return True


class PodFeed:
    """The stand-in's pods as a resource-versioned history, the way list + watch see it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.version = 100
        #: below this resource version the history is gone (``expire_watches``): watches get 410
        self.compacted = 0
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, namespace, type, pod)
        self.logs: dict[tuple[str, str, str], str] = {}
        self.watches = 0  # watch requests served, so tests can see re-watches
        self.closed = False
        #: the next watch event goes out cut in half (a fault injection: what a proxy dropping the
        #: connection mid-line, or an object the client's model cannot read, does to the client's decoder)
        self.garble_next = False

    def put_pod(self, pod: dict[str, Any]) -> dict[str, Any]:
        """Create or update a pod (``pod_object``); watchers get ADDED or MODIFIED."""
        with self._cond:
            meta = pod["metadata"]
            key = (meta["namespace"], meta["name"])
            self.version += 1
            stored = json.loads(json.dumps(pod))
            stored["metadata"]["resourceVersion"] = str(self.version)
            kind = "MODIFIED" if key in self.pods else "ADDED"
            self.pods[key] = stored
            self.events.append((self.version, key[0], kind, stored))
            self._cond.notify_all()
            return stored

    def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod (garbage collection); its logs go with it; watchers get DELETED."""
        with self._cond:
            stored = self.pods.pop((namespace, name))
            self.version += 1
            final = json.loads(json.dumps(stored))
            final["metadata"]["resourceVersion"] = str(self.version)
            final["metadata"]["deletionTimestamp"] = final["metadata"]["creationTimestamp"]
            self.events.append((self.version, namespace, "DELETED", final))
            for key in [k for k in self.logs if k[:2] == (namespace, name)]:
                del self.logs[key]
            self._cond.notify_all()

    def set_log(self, namespace: str, pod: str, container: str, text: str) -> None:
        with self._cond:
            self.logs[namespace, pod, container] = text

    def expire_watches(self) -> None:
        """Compact the history: open watches end, and watching from an older version gives 410 Gone."""
        with self._cond:
            self.compacted = self.version + 1  # every version handed out so far is too old
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def listing(self, namespace: str, selector: str) -> tuple[int, list[dict[str, Any]]]:
        with self._cond:
            items = [
                {k: v for k, v in p.items() if k not in ("kind", "apiVersion")}  # list items carry neither
                for (ns, _), p in sorted(self.pods.items())
                if ns == namespace and _selected(p["metadata"].get("labels", {}), selector)
            ]
            return self.version, items

    def next_events(
        self, namespace: str, selector: str, after: int, started: int, deadline: float
    ) -> tuple[list[tuple[int, str, dict[str, Any]]], bool]:
        """Events after ``after``, waiting until there are some; True once the watch must end."""
        with self._cond:
            while True:
                if self.closed or self.compacted > started:
                    return [], True
                found = [
                    (rv, kind, pod)
                    for rv, ns, kind, pod in self.events
                    if rv > after and ns == namespace and _selected(pod["metadata"].get("labels", {}), selector)
                ]
                if found:
                    return found, False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return [], True
                self._cond.wait(min(remaining, 0.5))


def status(code: int, reason: str, message: str, **details: str) -> dict[str, Any]:
    """A v1 ``Status`` as the apiserver returns with errors (apimachinery ``pkg/api/errors``:
    ``NewNotFound`` writes ``<resource> "<name>" not found``, ``NewResourceExpired`` 410 Expired)."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details,
        "code": code,
    }


VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-standin",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-01-01T00:00:00Z",
    "goVersion": "go1.22.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # keep test output clean

    @property
    def standin(self) -> KubeStandin:
        return self.server.standin  # type: ignore[attr-defined,no-any-return]

    def _json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.standin.token}":
            return True
        self.standin.bad_auth += 1
        self._json(401, status(401, "Unauthorized", "Unauthorized"))
        return False

    def _answered_all(self) -> bool:
        """Not the apiserver: one status for everything, a text body (Go's net/http ``http.Error``)."""
        code = self.standin.answer_all
        if code is None:
            return False
        text = "404 page not found" if code == 404 else f"{code} {self.responses.get(code, ('',))[0]}"
        data = text.encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return True

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.standin.requests.append(("POST", self.path))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self._answered_all():
            return
        body = json.loads(raw or b"{}")
        if not self._authorized():
            return
        if urlsplit(self.path).path != "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
            # an unknown path: the apiserver's NotFound handler (apimachinery errors.NewGenericServerResponse)
            self._json(404, status(404, "NotFound", "the server could not find the requested resource"))
            return
        attrs = body.get("spec", {}).get("resourceAttributes", {})
        resource = attrs.get("resource", "") + ("/" + attrs["subresource"] if attrs.get("subresource") else "")
        allowed = not self.standin.denied(attrs.get("verb", ""), resource)
        answer = {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": body.get("spec", {}),
            "status": {"allowed": allowed, **({} if allowed else {"reason": "standin RBAC forbids " + resource})},
        }
        # a create answers 201 with the review and its status (pkg/registry/authorization/selfsubjectaccessreview)
        self._json(201, answer)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        standin = self.standin
        standin.requests.append(("GET", self.path))
        if self._answered_all() or not self._authorized():
            return
        split = urlsplit(self.path)
        parts = split.path.strip("/").split("/")
        query = parse_qs(split.query)
        if split.path.rstrip("/") == "/version":  # the client asks for /version/
            major, minor = standin.git_version.removeprefix("v").split(".")[:2]
            self._json(200, {**VERSION, "major": major, "minor": minor, "gitVersion": standin.git_version})
            return
        if self._inventory_list(split.path):
            return
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 4:
            self._namespace(parts[3])
            return
        if self._pods_route(parts, query):
            return
        if parts[:3] == ["apis", "discovery.k8s.io", "v1"] and len(parts) == 6 and parts[5] == "endpointslices":
            if not standin.serve_slices:  # no discovery.k8s.io/v1 before 1.21: the group is unknown
                self._json(404, status(404, "NotFound", "the server could not find the requested resource"))
                return
            if self._forbid("endpointslices", parts[4], "list"):
                return
            key, _, value = (query.get("labelSelector") or [""])[0].partition("=")
            items = [
                s
                for s in standin.slices
                if s["metadata"]["namespace"] == parts[4] and (not key or s["metadata"]["labels"].get(key) == value)
            ]
            self._json(
                200,
                {
                    "kind": "EndpointSliceList",
                    "apiVersion": "discovery.k8s.io/v1",
                    "metadata": {"resourceVersion": "1"},
                    "items": items,
                },
            )
            return
        if (
            parts[:3] == ["api", "v1", "namespaces"]
            and len(parts) == 7
            and parts[4] == "pods"
            and parts[6] == "portforward"
        ):
            self._portforward(parts[3], parts[5], query)
            return
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 6:
            ns, kind, name = parts[3], parts[4], parts[5]
            if self._forbid(kind, ns, "get"):
                return
            found = standin.objects.get((kind, ns, name))
            if found is None:
                self._json(404, status(404, "NotFound", f'{kind} "{name}" not found', name=name, kind=kind))
            else:
                self._json(200, found)
            return
        self._json(404, status(404, "NotFound", "the server could not find the requested resource"))

    def _namespace(self, name: str) -> None:
        """``GET /api/v1/namespaces/<name>``: cluster-scoped, so RBAC is a ClusterRole's; 404 NotFound when absent."""
        if self.standin.denied("get", "namespaces"):
            # responsewriters/errors.go forbiddenMessage for a cluster-scoped resource
            message = (
                f'namespaces "{name}" is forbidden: User "bench" cannot get resource "namespaces" '
                'in API group "" at the cluster scope'
            )
            self._json(403, status(403, "Forbidden", message))
            return
        if name not in self.standin.namespaces:
            self._json(404, status(404, "NotFound", f'namespaces "{name}" not found', name=name, kind="namespaces"))
            return
        meta = {
            "name": name,
            "uid": f"uid-ns-{name}",
            "resourceVersion": "1",
            "labels": {"kubernetes.io/metadata.name": name},
        }
        self._json(
            200,
            {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": meta,
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            },
        )

    def _inventory_list(self, path: str) -> bool:
        """``GET /api/v1/nodes`` and ``GET /apis/apps/v1/namespaces/<ns>/deployments``; False for other paths."""
        parts = path.strip("/").split("/")
        if parts == ["api", "v1", "nodes"]:
            kind, namespace, list_kind, api_version = "nodes", "", "NodeList", "v1"
        elif parts[:4] == ["apis", "apps", "v1", "namespaces"] and len(parts) == 6 and parts[5] == "deployments":
            kind, namespace, list_kind, api_version = "deployments", parts[4], "DeploymentList", "apps/v1"
        else:
            return False
        if kind in self.standin.forbidden:
            where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            group = "apps" if namespace else ""
            # responsewriters/errors.go forbiddenMessage: resource, user, verb, group, scope
            message = f'{kind} is forbidden: User "bench" cannot list resource "{kind}" in API group "{group}" {where}'
            self._json(403, status(403, "Forbidden", message))
            return True
        items = [o for (k, ns, _), o in sorted(self.standin.objects.items()) if k == kind and ns == namespace]
        self._json(
            200, {"kind": list_kind, "apiVersion": api_version, "metadata": {"resourceVersion": "1"}, "items": items}
        )
        return True

    def _forbid(self, resource: str, namespace: str, verb: str) -> bool:
        if not self.standin.denied(verb, resource):
            return False
        kind = resource.partition("/")[0]
        # responsewriters/errors.go forbiddenMessage, as for the lists above
        self._json(
            403,
            status(
                403,
                "Forbidden",
                f'{kind} is forbidden: User "bench" cannot {verb} resource "{resource}" in API group "" '
                f'in the namespace "{namespace}"',
            ),
        )
        return True

    # -- pods: list, watch, log -----------------------------------------------------------------

    def _pods_route(self, parts: list[str], query: dict[str, list[str]]) -> bool:
        """Serve the pod list/watch and pod logs; False when the path is not one of them."""
        if parts[:3] != ["api", "v1", "namespaces"] or len(parts) < 5 or parts[4] != "pods":
            return False
        namespace = parts[3]
        feed = self.standin.pod_feed
        if len(parts) == 5:
            # Go's strconv.ParseBool: the Python client sends "True"
            watching = (query.get("watch") or [""])[0] in ("1", "t", "T", "true", "TRUE", "True")
            if self._forbid("pods", namespace, "watch" if watching else "list"):
                return True
            selector = (query.get("labelSelector") or [""])[0]
            if watching:
                self._watch_pods(namespace, selector, query)
                return True
            version, items = feed.listing(namespace, selector)
            self._json(
                200,
                {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": str(version)}, "items": items},
            )
            return True
        if len(parts) == 7 and parts[6] == "log":
            if self._forbid("pods/log", namespace, "get"):
                return True
            self._pod_log(namespace, parts[5], (query.get("container") or [""])[0])
            return True
        return False

    def _pod_log(self, namespace: str, name: str, container: str) -> None:
        feed = self.standin.pod_feed
        pod = feed.pods.get((namespace, name))
        if pod is None:
            self._json(404, status(404, "NotFound", f'pods "{name}" not found', name=name, kind="pods"))
            return
        names = [c["name"] for c in pod["spec"]["containers"]]
        inits = [c["name"] for c in pod["spec"].get("initContainers", [])]
        # pkg/registry/core/pod/strategy.go LogLocation: a container must be named unless there is one
        if not container:
            if len(names) != 1:
                message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]" + (
                    f" or one of the init containers: [{' '.join(inits)}]" if inits else ""
                )
                self._json(400, status(400, "BadRequest", message))
                return
            container = names[0]
        if container not in names + inits:
            self._json(400, status(400, "BadRequest", f"container {container} is not valid for pod {name}"))
            return
        states = {s["name"]: s["state"] for s in pod["status"].get("containerStatuses", [])}
        states.update({s["name"]: s["state"] for s in pod["status"].get("initContainerStatuses", [])})
        # the kubelet's validateContainerLogStatus (pkg/kubelet/kubelet_pods.go): no log before it ran
        if "waiting" in states.get(container, {"waiting": {}}):
            reason = states.get(container, {}).get("waiting", {}).get("reason", "PodInitializing")
            message = f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            self._json(400, status(400, "BadRequest", message))
            return
        data = feed.logs.get((namespace, name, container), "").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _watch_pods(self, namespace: str, selector: str, query: dict[str, list[str]]) -> None:
        """A watch as the apiserver streams it: HTTP/1.1 chunked, one JSON event per line (the API
        reference's "Efficient detection of changes"; a compacted version is an ERROR event with a 410
        Expired Status, "too old resource version", from the watch cache)."""
        feed = self.standin.pod_feed
        with feed._cond:
            feed.watches += 1
            current = feed.version
        since = int((query.get("resourceVersion") or ["0"])[0] or 0)
        deadline = time.monotonic() + float((query.get("timeoutSeconds") or ["1800"])[0])
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            b"Cache-Control: no-cache, private\r\n\r\n"
        )
        self.close_connection = True

        def send(event: dict[str, Any]) -> None:
            line = json.dumps(event).encode() + b"\n"
            with feed._cond:
                garble, feed.garble_next = feed.garble_next, False
            if garble:
                line = line[: len(line) // 2] + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        try:
            if since and since < feed.compacted:
                message = f"too old resource version: {since} ({feed.compacted})"
                send({"type": "ERROR", "object": status(410, "Expired", message)})
            else:
                if not since:  # "0" or absent: the current state first, as synthetic ADDED events
                    for pod in feed.listing(namespace, selector)[1]:
                        send({"type": "ADDED", "object": {"kind": "Pod", "apiVersion": "v1", **pod}})
                    since = current
                while True:
                    events, ended = feed.next_events(namespace, selector, since, current, deadline)
                    for rv, kind, pod in events:
                        send({"type": kind, "object": pod})
                        since = rv
                    if ended:
                        break
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass  # the client went away: a watch it stopped

    # -- the port-forward websocket -------------------------------------------------------------

    def _portforward(self, namespace: str, pod: str, query: dict[str, list[str]]) -> None:
        standin = self.standin
        # A websocket port-forward is an HTTP GET, so the apiserver authorizes the verb "get" on
        # pods/portforward; from 1.35 the AuthorizePodWebsocketUpgradeCreatePermission gate (beta, on by
        # default) also requires "create", as SPDY's POST always did (kubernetes/kubernetes
        # pkg/registry/core/pod/rest/subresources.go; the feature-gate page on kubernetes.io).
        verbs = ("get", "create") if standin.server_minor() >= 35 else ("get",)
        if any(self._forbid("pods/portforward", namespace, verb) for verb in verbs):
            return
        if ("pods", namespace, pod) not in standin.objects:
            self._json(404, status(404, "NotFound", f'pods "{pod}" not found', name=pod, kind="pods"))
            return
        ports = [int(p) for p in ",".join(query.get("ports", [])).split(",") if p]
        offered = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if len(ports) != 1 or PROTOCOL not in offered or self.headers.get("Upgrade", "").lower() != "websocket":
            self._json(400, status(400, "BadRequest", "the stand-in forwards one port over v4.channel.k8s.io"))
            return
        port = ports[0]
        # The upgrade and framing as kubernetes/stream/ws_client.py expects them: subprotocol
        # v4.channel.k8s.io, then per port a 2-byte little-endian port number first on channel 0 (data)
        # and channel 1 (errors), every frame binary and prefixed by its channel byte.
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        self.wfile.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n"
            ).encode()
        )
        self.wfile.flush()
        self.close_connection = True
        client = self.connection
        standin._track(client, True)
        ws = _ServerSocket(client, self.rfile)
        try:
            head = port.to_bytes(2, "little")
            ws.send(bytes([0]) + head)
            ws.send(bytes([1]) + head)
            address = standin.backends.get((namespace, pod, port))
            try:
                if address is None:
                    raise ConnectionRefusedError
                upstream = socket.create_connection(address, timeout=2)
            except OSError:
                # What the kubelet writes on the error channel when the pod's port refuses
                # (pkg/kubelet/cri/streaming/portforward/websocket.go wraps the runtime's error; the
                # "failed to connect to localhost:<port> inside namespace" text is containerd's CRI).
                ws.send(
                    bytes([1])
                    + (
                        f"an error occurred forwarding {port} -> {port}: error forwarding port {port} to pod "
                        f"{pod}, uid : failed to execute portforward in network namespace: failed to connect "
                        f"to localhost:{port} inside namespace: connect: connection refused"
                    ).encode()
                )
                ws.close()
                return
            self._relay(ws, upstream, standin._take_drop())
        except OSError:
            pass
        finally:
            standin._track(client, False)

    def _relay(self, ws: _ServerSocket, upstream: socket.socket, drop_after: int | None) -> None:
        upstream.settimeout(None)

        def client_to_upstream() -> None:
            try:
                for opcode, payload in ws.frames():
                    if opcode == _BINARY and payload[:1] == b"\x00":
                        upstream.sendall(payload[1:])
            except OSError:
                pass
            finally:
                _shutdown(upstream)

        reader = threading.Thread(target=client_to_upstream, name="k8s-standin relay", daemon=True)
        reader.start()
        sent = 0
        aborted = False
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if drop_after is not None and sent + len(data) > drop_after:
                    ws.send(b"\x00" + data[: max(0, drop_after - sent)])
                    # A TCP reset mid-stream, no close frame, no error text: as a dying node would.
                    # SHUT_RD wakes the reader without sending anything; the real close (all the
                    # handler's file objects too) then sends the RST because of SO_LINGER 0.
                    _abort(ws.sock, shutdown=socket.SHUT_RD)
                    reader.join(timeout=5)
                    self.rfile.close()
                    self.wfile.close()
                    ws.sock.close()
                    self.wfile = io.BytesIO()  # http.server flushes it once more after the handler
                    aborted = True
                    break
                ws.send(b"\x00" + data)
                sent += len(data)
        except OSError:
            pass
        finally:
            if not aborted:
                ws.close()
            upstream.close()
            reader.join(timeout=5)


class _ServerSocket:
    """The server side of RFC 6455: unmasked frames out, masked frames in, one writer at a time."""

    def __init__(self, sock: socket.socket, rfile: Any) -> None:
        self.sock = sock
        self.rfile = rfile  # buffered: it may already hold the first frames
        self._write = threading.Lock()
        self._closed = False

    def send(self, payload: bytes, opcode: int = _BINARY) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        with self._write:
            self.sock.sendall(head + payload)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self.send(struct.pack("!H", 1000), _CLOSE)
            except OSError:
                pass
        _shutdown(self.sock)

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """Data frames from the client until it closes or the connection ends."""
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            opcode, n = head[0] & 0x0F, head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", self.rfile.read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            raw = self.rfile.read(n)
            if len(raw) < n:
                return
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(raw))
            if opcode == _CLOSE:
                self.close()
                return
            if opcode == _PING:
                self.send(payload, _PONG)
                continue
            yield opcode, payload


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _abort(sock: socket.socket, shutdown: int = socket.SHUT_RDWR) -> None:
    """Make the socket's close a TCP reset (SO_LINGER 0) and wake whoever blocks on it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(shutdown)
    except OSError:
        pass


def hostport(address: str) -> tuple[str, int]:
    """``("127.0.0.1", 9090)`` from ``http://127.0.0.1:9090`` or ``127.0.0.1:9090``."""
    host, _, port = address.removeprefix("http://").rpartition(":")
    return host, int(port)


# The services as the platforms' charts expose them; ``backend`` is where the pod's port really goes.


def add_prometheus(standin: KubeStandin, backend: tuple[str, int], *, target_port: str | int = "http-web") -> None:
    """prometheus-operated as kube-prometheus-stack gets it: the chart sets ``prometheusSpec.portName:
    http-web`` (prometheus-community/helm-charts charts/kube-prometheus-stack/values.yaml), and the
    operator names both the container port and its governing service's port after ``spec.portName``
    (prometheus-operator pkg/prometheus ``makeStatefulSetService``: Name and TargetPort are
    ``spec.portName``, default "web", what a bare operator install has): port "http-web" 9090 → pod
    port "http-web"."""
    standin.add_service(
        "monitoring",
        "prometheus-operated",
        [{"name": "http-web", "port": 9090, "targetPort": target_port}],
        [FakePod("prometheus-k8s-0", ports=(("http-web", 9090),), backends=((9090, backend),))],
    )


def add_flyte(standin: KubeStandin, backend: tuple[str, int]) -> None:
    """flyte-binary's gRPC service: port 8089 → the pod's named port "grpc"."""
    standin.add_service(
        "flyte",
        "flyte-binary-grpc",
        [{"name": "grpc", "port": 8089, "targetPort": "grpc"}],
        [FakePod("flyte-binary-0", ports=(("grpc", 8089),), backends=((8089, backend),))],
    )


def add_kfp_api(standin: KubeStandin, backend: tuple[str, int]) -> None:
    """KFP's API server service ml-pipeline: http 8888 and grpc 8887, numeric target ports
    (kubeflow/pipelines manifests/kustomize/base/pipeline/ml-pipeline-apiserver-service.yaml)."""
    standin.add_service(
        "kubeflow",
        "ml-pipeline",
        [{"name": "http", "port": 8888, "targetPort": 8888}, {"name": "grpc", "port": 8887, "targetPort": 8887}],
        [FakePod("ml-pipeline-7d9f8-x2k4q", ports=(("http", 8888), ("grpc", 8887)), backends=((8888, backend),))],
    )


def add_kfp_ui(standin: KubeStandin, backend: tuple[str, int]) -> None:
    """KFP's ml-pipeline-ui: port 80 → container port 3000
    (kubeflow/pipelines manifests/kustomize/base/pipeline/ml-pipeline-ui-service.yaml)."""
    standin.add_service(
        "kubeflow",
        "ml-pipeline-ui",
        [{"name": "http", "port": 80, "targetPort": 3000}],
        [FakePod("ml-pipeline-ui-0", ports=(("http", 3000),), backends=((3000, backend),))],
    )
