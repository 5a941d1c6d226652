"""``kubectl port-forward svc/...`` in-process: resolve a Service to a ready pod, relay local TCP to it.

Resolution: the Service (its port by name or number) → EndpointSlices (``discovery.k8s.io/v1``,
label ``kubernetes.io/service-name``; falling back to v1 Endpoints) → the first ready address
backed by a pod → the target port (a named ``targetPort`` looked up in that pod's container ports).

The relay is our own, on websocket-client, rather than ``kubernetes.stream.portforward``: in the
30.x client (kfp pins ``<31``) the proxy thread of ``PortForward`` (``kubernetes/base/stream/ws_client.py``)
selects without a timeout, dies on an abrupt drop in older releases, and leaves the TCP socket open
when the server closes (websocket-client's ``close()`` returns early once a CLOSE frame arrived).
Each accepted local connection gets its own websocket to
``/api/v1/namespaces/<ns>/pods/<pod>/portforward?ports=<port>`` with subprotocol
``v4.channel.k8s.io``. Every frame is binary, ``[channel] + payload``: channel 0 carries data,
channel 1 error text; the first frame on each channel is the 3-byte ``[channel, port (LE16)]``.
EOF from either side ends the connection (no half-close: the server would drop the reply).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import select
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import certifi
import requests
import urllib3
import websocket

from retrain_bench.cluster.errors import (
    ApiError,
    ClusterError,
    ClusterUnreachable,
    EndpointSilent,
    Forbidden,
    NoReadyPod,
    PortNotFound,
    ServiceNotFound,
)
from retrain_bench.cluster.kube import Kube, KubeTarget
from retrain_bench.errors import BenchError

PROTOCOL = "v4.channel.k8s.io"
DATA, ERROR = 0, 1
#: How often blocked loops look at the stop flag: bounds ``close()``.
_TICK_S = 0.1
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclasses.dataclass(frozen=True)
class ServiceRef:
    """``namespace/name:port``; the port is a service port name (``http-web``) or number (``9090``)."""

    namespace: str
    name: str
    port: str

    @classmethod
    def parse(cls, text: str) -> ServiceRef:
        namespace, slash, rest = text.strip().partition("/")
        name, colon, port = rest.rpartition(":")
        usage = f"bad service {text!r}: expected namespace/name:port, e.g. monitoring/prometheus-operated:http-web"
        if not (slash and colon and namespace and name and port):
            raise BenchError(usage)
        if not (_NAME.match(namespace) and _NAME.match(name)):
            raise BenchError(f"{usage} (namespace and name are lowercase DNS names)")
        if port.isdigit():
            if not 0 < int(port) < 65536:
                raise BenchError(f"{usage} (port number out of range)")
        elif not _PORT_NAME.match(port):
            raise BenchError(f"{usage} (a port is a number or a lowercase port name)")
        return cls(namespace, name, port)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}:{self.port}"


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where a service port really goes: one ready pod and a container port number."""

    service: ServiceRef
    pod: str
    port: int


def resolve(kube: Kube, service: ServiceRef) -> Endpoint:
    """The first ready pod behind ``service`` and the numeric port to forward to."""
    ns, name = service.namespace, service.name
    where = f"in context {kube.context}"
    try:
        svc = kube.call(
            f"read service {ns}/{name}", lambda: kube.core().read_namespaced_service(name, ns, **kube.opts())
        )
    except ApiError as error:
        if error.status == 404 and error.detail != f"HTTP {error.status}":  # the apiserver's own NotFound Status
            raise ServiceNotFound(
                f"no service {ns}/{name} {where}: check --*-service and `kubectl -n {ns} get svc`"
            ) from None
        raise
    ports = list(svc.spec.ports or []) if svc.spec else []
    wanted = [p for p in ports if (str(p.port) == service.port if service.port.isdigit() else p.name == service.port)]
    if not wanted:
        have = ", ".join(f"{p.name}={p.port}" if p.name else str(p.port) for p in ports) or "none"
        raise PortNotFound(f"service {ns}/{name} {where} has no port {service.port!r} (it has: {have})")
    port = wanted[0]
    target = port.target_port if port.target_port is not None else port.port
    ready = _ready_pods(kube, service, port.name)
    if not ready:
        raise NoReadyPod(
            f"service {ns}/{name} {where} has no ready pod behind it: check "
            f"`kubectl -n {ns} get endpointslices -l kubernetes.io/service-name={name}` and the pods' readiness"
        )
    pod, slice_port = ready[0]
    if isinstance(target, int) or str(target).isdigit():
        return Endpoint(service, pod, int(target))
    return Endpoint(service, pod, _named_port(kube, service, pod, str(target), slice_port))


def _ready_pods(kube: Kube, service: ServiceRef, port_name: str | None) -> list[tuple[str, int | None]]:
    """(pod, the slice's number for the port) of ready pod-backed addresses, sorted for a stable pick."""
    ns, name = service.namespace, service.name
    found: list[tuple[str, int | None]] = []

    def list_slices() -> dict[str, Any]:
        # Read as JSON, not through the client's model: V1EndpointSlice (kubernetes/client/models/
        # v1_endpoint_slice.py, 30.1) rejects ``endpoints: null``, which the apiserver serves for a
        # slice with no endpoint (scaled to 0, still scheduling; kubernetes-client/python#2214, #2423).
        response = kube.discovery().list_namespaced_endpoint_slice(
            ns, label_selector=f"kubernetes.io/service-name={name}", _preload_content=False, **kube.opts()
        )
        body = json.loads(response.data)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list | None):
            raise ValueError("not an EndpointSliceList")
        return body

    try:
        slices: dict[str, Any] | None = kube.call(f"list endpointslices in {ns}", list_slices)
    except (ApiError, Forbidden):
        slices = None  # discovery.k8s.io/v1 missing (before 1.21) or not readable: v1 Endpoints below
    if slices is not None and slices.get("items"):
        for one in slices["items"]:
            numbers = [p.get("port") for p in one.get("ports") or [] if (p.get("name") or None) == (port_name or None)]
            for address in one.get("endpoints") or []:
                ref = address.get("targetRef") or {}
                conditions = address.get("conditions") or {}
                # A nil "ready" means unknown, which the API docs say to treat as ready.
                ready = conditions.get("ready") is not False
                if ready and ref.get("kind") == "Pod" and ref.get("name"):
                    found.append((str(ref["name"]), int(numbers[0]) if numbers and numbers[0] else None))
        return sorted(set(found), key=lambda f: f[0])
    try:
        endpoints = kube.call(
            f"read endpoints {ns}/{name}", lambda: kube.core().read_namespaced_endpoints(name, ns, **kube.opts())
        )
    except ApiError as error:
        if error.status == 404:
            return []
        raise
    for subset in endpoints.subsets or []:
        numbers = [p.port for p in subset.ports or [] if (p.name or None) == (port_name or None)]
        for address in subset.addresses or []:  # notReadyAddresses are, by definition, not ready
            ref = address.target_ref
            if ref is not None and ref.kind == "Pod" and ref.name:
                found.append((str(ref.name), numbers[0] if numbers else None))
    return sorted(set(found), key=lambda f: f[0])


def _named_port(kube: Kube, service: ServiceRef, pod: str, target: str, slice_port: int | None) -> int:
    """A named targetPort as the pod declares it; the slice's number if the pod cannot be read."""
    ns = service.namespace
    try:
        spec = kube.call(f"read pod {ns}/{pod}", lambda: kube.core().read_namespaced_pod(pod, ns, **kube.opts())).spec
    except (ApiError, Forbidden):
        if slice_port is not None:
            return slice_port
        raise
    for container in spec.containers or []:
        for port in container.ports or []:
            if port.name == target:
                return int(port.container_port)
    raise PortNotFound(
        f"service {service} targets the named port {target!r} but pod {ns}/{pod} in context {kube.context} "
        f"declares no container port of that name: check the Service's targetPort and the pod's ports"
    )


class PodGone(ClusterError):
    """The pod a forward resolved is gone (the apiserver answered the upgrade 404)."""


#: What a connection may have sent before the pod first answered and still be replayed to a new pod.
_REPLAY_CAP = 1 << 20


@dataclasses.dataclass
class _Replay:
    """What a local connection sent before the pod first answered (for a retry elsewhere), up to the cap."""

    data: bytearray = dataclasses.field(default_factory=bytearray)
    overflow: bool = False

    def keep(self, chunk: bytes) -> None:
        if self.overflow:
            return
        self.data.extend(chunk)
        if len(self.data) > _REPLAY_CAP:
            self.data.clear()
            self.overflow = True


class NotReady(Exception):  # noqa: N818 - a health check's verdict, not an error of ours
    """Raised by a health check that got an answer saying no: its text becomes the forward's last problem."""


def http_ready(
    path: str = "/-/ready",
    scheme: str = "http",
    timeout_s: float = 2.0,
    accept: Callable[[requests.Response], None] | None = None,
) -> Callable[[str], bool]:
    """A health check for ``PortForward``: ``GET <scheme>://<local address><path>`` answers 200, and
    ``accept(response)`` (when given) raises no ``NotReady``."""

    def check(local_address: str) -> bool:
        with requests.Session() as session:
            session.trust_env = False  # never send loopback through an environment proxy
            session.verify = False  # the tunnel ends at a pod: its certificate is not for 127.0.0.1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                response = session.get(f"{scheme}://{local_address}{path}", timeout=timeout_s)
        if response.status_code != 200:
            return False
        if accept is not None:
            accept(response)
        return True

    return check


def grpc_ready(method: str, timeout_s: float = 2.0) -> Callable[[str], bool]:
    """A health check for ``PortForward`` of a plaintext gRPC port: one call of ``method`` (a method
    the server serves, taking an empty message) with a deadline.

    Any answer from a gRPC server counts, an error status included (UNAUTHENTICATED when the server
    wants a token, UNIMPLEMENTED from another server): it travelled through the tunnel and back. Only
    UNAVAILABLE (the kubelet refused, the pod's port is closed, the relay dropped) and
    DEADLINE_EXCEEDED (nothing speaks HTTP/2 there) mean the endpoint is not usable. Opening our own
    listener proves nothing: it always accepts.
    """

    def check(local_address: str) -> bool:
        import grpc

        # No environment proxy for loopback, and one attempt: grpc's own reconnect backoff is not ours.
        options = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]
        with grpc.insecure_channel(local_address, options=options) as channel:
            call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
            try:
                call(b"", timeout=timeout_s, wait_for_ready=False)
            except grpc.RpcError as error:
                code = error.code() if callable(getattr(error, "code", None)) else None
                return code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        return True

    return check


class PortForward:
    """A local listener on 127.0.0.1 relaying each connection to ``service``'s ready pod.

    ``start()`` resolves the service, listens, and runs ``check(local_address)`` until it returns true
    or ``target.connect_timeout_s`` passes. ``close()`` (or leaving the ``with``) stops the listener
    and every relay and joins their threads.
    """

    def __init__(
        self,
        target: KubeTarget,
        service: ServiceRef,
        *,
        check: Callable[[str], bool] | None = None,
        kube: Kube | None = None,
        io_timeout_s: float = 30.0,
    ) -> None:
        self.target = target
        self.service = service
        self.check = check
        self._own_kube = kube is None
        self._kube = kube
        self._io_timeout = io_timeout_s
        self.endpoint: Endpoint | None = None
        self._listener: socket.socket | None = None
        self._address: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._locals: set[socket.socket] = set()
        self._problems: list[ClusterError | str] = []
        #: one re-resolution at a time (connections failing together find the new pod once)
        self._resolving = threading.Lock()

    # -- public ---------------------------------------------------------------------------------

    @property
    def local_address(self) -> str:
        """``127.0.0.1:PORT`` of the listener (kept after ``close()`` for messages)."""
        if self._address is None:
            raise RuntimeError("PortForward not started")
        return self._address

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://{self.local_address}"

    @property
    def problems(self) -> list[str]:
        """What went wrong on relayed connections so far (error-channel text, refusals, drops)."""
        with self._lock:
            return [str(p) for p in self._problems]

    def start(self) -> PortForward:
        try:
            if self._kube is None:
                self._kube = Kube(self.target)
            self.endpoint = resolve(self._kube, self.service)
            self._listener = socket.create_server(("127.0.0.1", 0))
            self._listener.settimeout(_TICK_S)
            self._address = "{}:{}".format(*self._listener.getsockname()[:2])
            self._spawn(self._accept_loop, "acceptor")
            if self.check is not None:
                self._health_check(self.check)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        self._stop.set()
        # Twice: the acceptor may hand a last connection to a new thread while the first pass joins.
        for _ in range(2):
            with self._lock:
                threads = [t for t in self._threads if t.is_alive() and t is not threading.current_thread()]
                for conn in self._locals:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)  # wakes a relay blocked on the local side
            for thread in threads:
                thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        if self._own_kube and self._kube is not None:
            self._kube.close()
            self._kube = None

    def __enter__(self) -> PortForward:
        return self.start() if self._listener is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- health check ---------------------------------------------------------------------------

    def _health_check(self, check: Callable[[str], bool]) -> None:
        deadline = time.monotonic() + self.target.connect_timeout_s
        while True:
            try:
                if check(self.local_address):
                    return
            except NotReady as verdict:
                self._note(str(verdict))
            except Exception:  # noqa: BLE001, S110 - no answer yet: the loop tries again until the deadline
                pass
            with self._lock:
                fatal = next((p for p in self._problems if isinstance(p, Forbidden | ClusterUnreachable)), None)
            if fatal is not None:
                raise fatal
            if time.monotonic() >= deadline:
                break
            time.sleep(_TICK_S)
        assert self.endpoint is not None
        last = self.problems[-1:] or ["no answer"]
        raise EndpointSilent(
            f"endpoint {self.service} (pod {self.service.namespace}/{self.endpoint.pod} port {self.endpoint.port}) "
            f"never answered within {self.target.connect_timeout_s:g} s in context {self._context()}: "
            f"last problem: {last[0]}"
        )

    # -- threads --------------------------------------------------------------------------------

    def _spawn(self, fn: Callable[..., None], label: str, *args: Any) -> None:
        thread = threading.Thread(target=fn, args=args, name=f"bench-portforward {self.service} {label}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        count = 0
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._stop.is_set():  # accepted while close() began: do not open a websocket for it
                conn.close()
                return
            count += 1
            conn.settimeout(self._io_timeout)
            with self._lock:
                self._locals.add(conn)
            self._spawn(self._serve, f"conn {count}", conn)

    def _serve(self, conn: socket.socket) -> None:
        """Relay one local connection. The pod behind the service may have been replaced since the
        forward resolved it (a rollout, an eviction, a drain): a 404 on the upgrade (the pod is gone) or
        the kubelet's error text before the pod said anything (its port is closed: terminating) resolves
        the service again and tries once more, replaying what the client had sent, as a new
        ``kubectl port-forward`` would reach the new pod."""
        ws: websocket.WebSocket | None = None
        try:
            endpoint = self._current()
            sent = _Replay()
            for attempt in (1, 2):
                try:
                    ws = self._open(endpoint)
                except PodGone as gone:
                    if attempt == 2:
                        raise
                    endpoint = self._resolve_again(endpoint, str(gone))
                    continue
                refused = self._pump(conn, ws, endpoint, sent)
                if refused is None:
                    return
                _close_websocket(ws)
                ws = None
                if attempt == 2 or sent.overflow:  # too much sent to replay, or the new pod refuses too
                    self._note(f"error from the kubelet: {refused}")
                    return
                endpoint = self._resolve_again(endpoint, f"error from the kubelet: {refused}")
        except ClusterError as error:
            self._note(error)
        except (websocket.WebSocketException, OSError) as error:
            if not self._stop.is_set():
                self._note(f"connection dropped ({type(error).__name__})")
        finally:
            _close_websocket(ws)
            with self._lock:
                self._locals.discard(conn)
            conn.close()

    def _current(self) -> Endpoint:
        with self._lock:
            assert self.endpoint is not None
            return self.endpoint

    def _resolve_again(self, failed: Endpoint, why: str) -> Endpoint:
        """The service's ready pod now; resolved once for all the connections that saw ``failed`` fail."""
        assert self._kube is not None
        with self._resolving:
            current = self._current()
            if current != failed:
                return current  # another connection already found the new pod
            fresh = resolve(self._kube, self.service)
            with self._lock:
                self.endpoint = fresh
            if fresh.pod != failed.pod:
                self._note(f"pod {self.service.namespace}/{failed.pod} failed ({why}): now pod {fresh.pod}")
            return fresh

    def _note(self, problem: ClusterError | str) -> None:
        with self._lock:
            self._problems.append(problem)
            del self._problems[:-20]  # a long-lived forward must not grow without bound

    def _context(self) -> str:
        return self._kube.context if self._kube is not None else str(self.target.context)

    # -- the websocket --------------------------------------------------------------------------

    def _open(self, endpoint: Endpoint) -> websocket.WebSocket:
        assert self._kube is not None
        config = self._kube.client.configuration
        ns, pod, port = self.service.namespace, endpoint.pod, endpoint.port
        host = str(config.host).rstrip("/")
        base = "wss://" + host[len("https://") :] if host.startswith("https://") else "ws://" + host[len("http://") :]
        url = f"{base}/api/v1/namespaces/{quote(ns)}/pods/{quote(pod)}/portforward?ports={port}"
        ws = websocket.WebSocket(sslopt=_sslopt(config), skip_utf8_validation=True)
        options: dict[str, Any] = {
            "header": _auth_headers(config),
            "subprotocols": [PROTOCOL],
            "timeout": self.target.connect_timeout_s,
        }
        if config.proxy:
            proxy = urlsplit(str(config.proxy))
            options.update(http_proxy_host=proxy.hostname, http_proxy_port=proxy.port, proxy_type="http")
        else:
            options["http_no_proxy"] = ["*"]  # as the REST client: no environment proxy
        try:
            ws.connect(url, **options)
        except websocket.WebSocketBadStatusException as error:
            _close_websocket(ws)
            where = f"pod {ns}/{pod} (service {self.service}) in context {self._kube.context}"
            if error.status_code == 403:
                try:
                    needed = self._kube.portforward_verbs()
                except ClusterError:
                    needed = ("get", "create")  # the version is unknown: name every verb a server may want
                verbs = " and ".join(f"`{verb}`" for verb in needed)
                raise Forbidden(
                    f"forbidden to port-forward to {where}: the kubeconfig's user needs RBAC {verbs} on "
                    f"`pods/portforward` in namespace {ns} (check `kubectl auth can-i get pods/portforward -n {ns}`)"
                ) from None
            if error.status_code == 404:
                # The apiserver looks the pod up before it upgrades (pkg/registry/core/pod/rest/subresources.go,
                # PortForwardREST.Connect -> pod.PortForwardLocation -> getPod): a pod replaced since we resolved.
                message = _body_message(error.resp_body)
                raise PodGone(f"pod {ns}/{pod} not found (404)" + (f": {message}" if message else "")) from None
            if error.status_code == 401:
                raise ClusterUnreachable(
                    f"the API server of context {self._kube.context} rejected the credentials (401) "
                    f"for a port-forward to {where}: refresh them"
                ) from None
            raise ClusterError(
                f"port-forward to {where} refused: HTTP {error.status_code} {_body_message(error.resp_body)}"
            ) from None
        except (websocket.WebSocketException, OSError) as error:
            _close_websocket(ws)
            raise ClusterError(
                f"port-forward to pod {ns}/{pod} in context {self._kube.context} failed to open "
                f"({type(error).__name__}) via {self._kube.server}"
            ) from None
        ws.settimeout(self._io_timeout)
        return ws

    def _pump(self, conn: socket.socket, ws: websocket.WebSocket, endpoint: Endpoint, sent: _Replay) -> str | None:
        """Relay until either side ends. ``sent`` holds what the client sent until the pod first answered
        and is sent first (a replay); the kubelet's error text when it came before any answer (the
        connection may be tried again elsewhere), else None."""
        port = endpoint.port
        opened: set[int] = set()
        answered = False
        if sent.data:
            ws.send(bytes([DATA]) + bytes(sent.data), websocket.ABNF.OPCODE_BINARY)
        while not self._stop.is_set():
            sock = ws.sock
            if sock is None:
                return None
            # TLS may hold decrypted bytes select() cannot see.
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            readable = [sock] if pending else select.select([conn, sock], [], [], _TICK_S)[0]
            if conn in readable:
                data = conn.recv(65536)
                if not data:
                    return None
                if not answered:
                    sent.keep(data)
                ws.send(bytes([DATA]) + data, websocket.ABNF.OPCODE_BINARY)
            if sock in readable:
                opcode, frame = ws.recv_data_frame(True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return None
                if opcode != websocket.ABNF.OPCODE_BINARY:
                    continue  # pings are answered inside websocket-client
                payload = bytes(frame.data)
                if not payload or payload[0] not in (DATA, ERROR):
                    raise ClusterError(f"port-forward to {self.service}: bad frame from the API server")
                channel, body = payload[0], payload[1:]
                if channel not in opened:
                    if len(body) != 2 or int.from_bytes(body, "little") != port:
                        raise ClusterError(f"port-forward to {self.service}: bad initial frame on channel {channel}")
                    opened.add(channel)
                elif channel == DATA:
                    answered = True
                    conn.sendall(body)
                elif body:
                    text = " ".join(body.decode("utf-8", "replace").split())[:300]
                    if not answered:
                        return text
                    self._note(f"error from the kubelet: {text}")
                    return None
        return None


def _auth_headers(config: Any) -> list[str]:
    """The headers the REST client would send (bearer token or basic), fresh: a token may be refreshed."""
    headers = []
    for setting in config.auth_settings().values():
        if setting.get("in") == "header" and setting.get("value"):
            headers.append(f"{setting['key']}: {setting['value']}")
    return headers


def _sslopt(config: Any) -> dict[str, Any]:
    """TLS as the kubeconfig says: verified (its CA, else certifi) unless insecure-skip-tls-verify."""
    if config.verify_ssl:
        options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": config.ssl_ca_cert or certifi.where()}
        if config.assert_hostname is not None:
            options["check_hostname"] = config.assert_hostname
    else:
        options = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
    if config.cert_file:
        options["certfile"] = config.cert_file
    if config.key_file:
        options["keyfile"] = config.key_file
    if config.tls_server_name:
        options["server_hostname"] = config.tls_server_name
    return options


def _body_message(body: bytes | None) -> str:
    try:
        message = json.loads(body or b"").get("message")
    except (ValueError, AttributeError):
        message = None
    return " ".join(str(message).split())[:300] if message else ""


def _close_websocket(ws: websocket.WebSocket | None) -> None:
    """Close and really release the socket: after a server CLOSE, ``close()`` alone leaves it open."""
    if ws is None:
        return
    with contextlib.suppress(Exception):
        if ws.connected:
            ws.close(timeout=0.2)
    with contextlib.suppress(Exception):
        if ws.sock is not None:
            ws.shutdown()
