"""retrain_bench.cluster.portforward through the kube-apiserver stand-in to a real Prometheus (and to bad targets).

What is real here: the Prometheus (tests.prometheus), the kubernetes 30.x client's REST calls and
models, websocket-client, the TCP sockets. What is not: the API server and kubelet, which
tests.k8s_standin imitates (so RBAC, readiness and the kubelet's error text are as configured there).
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests

from retrain_bench.cluster.errors import (
    ClusterUnreachable,
    EndpointSilent,
    Forbidden,
    NoReadyPod,
    PortNotFound,
    ServiceNotFound,
)
from retrain_bench.cluster.kube import Kube, KubeTarget
from retrain_bench.cluster.portforward import PortForward, ServiceRef, grpc_ready, http_ready, resolve
from retrain_bench.errors import BenchError
from retrain_bench.platforms.flyte.cluster import GET_VERSION
from tests.k8s_standin import TOKEN, FakePod, KubeStandin, add_flyte, add_prometheus, hostport
from tests.platform_standins import flyteadmin
from tests.prometheus import MIB, T0, free_port

PROM = ServiceRef("monitoring", "prometheus-operated", "http-web")


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Every test ends with no relay thread and no socket of ours: forwards clean up on close."""
    before = set(threading.enumerate())
    yield
    assert not [t.name for t in threading.enumerate() if t.name.startswith("bench-portforward")]
    # The stand-in's own handler threads end when the peer's socket closes: give them a moment.
    deadline = time.monotonic() + 3
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [t.name for t in set(threading.enumerate()) - before]


@pytest.fixture
def target(standin: KubeStandin, tmp_path: Path) -> KubeTarget:
    return KubeTarget(str(standin.kubeconfig(tmp_path / "config")), None, 2.0)


def query(base: str, promql: str, at: float | None = None) -> list[dict[str, object]]:
    params = {"query": promql, **({"time": str(at)} if at is not None else {})}
    with requests.Session() as session:
        session.trust_env = False
        body = session.get(f"{base}/api/v1/query", params=params, timeout=5).json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def clean(error: BaseException) -> str:
    text = str(error)
    assert TOKEN not in text and "\n" not in text
    return text


def our_sockets(*ports: int) -> list[object]:
    """Sockets of this process listening on or connected to ``ports``."""
    return [
        c
        for c in psutil.Process().net_connections(kind="tcp")
        if (c.laddr and c.laddr.port in ports and c.status == psutil.CONN_LISTEN) or (c.raddr and c.raddr.port in ports)
    ]


# -- ServiceRef ------------------------------------------------------------------------------------


def test_service_ref_parses_names_and_numbers() -> None:
    assert ServiceRef.parse("monitoring/prometheus-operated:http-web") == PROM
    assert ServiceRef.parse("kubeflow/ml-pipeline-ui:80") == ServiceRef("kubeflow", "ml-pipeline-ui", "80")
    assert str(ServiceRef.parse("flyte/flyte-binary-grpc:8089")) == "flyte/flyte-binary-grpc:8089"


@pytest.mark.parametrize(
    "text", ["prometheus:9090", "monitoring/prometheus", "a/b:", "/b:1", "A/b:1", "a/b:0", "a/b:Web"]
)
def test_service_ref_rejects_bad_syntax(text: str) -> None:
    with pytest.raises(BenchError, match="expected namespace/name:port"):
        ServiceRef.parse(text)


def test_the_usage_example_resolves_on_a_kube_prometheus_stack_cluster(kube: Kube, standin: KubeStandin) -> None:
    # The example the usage line suggests must name a port the chart really has (http-web, not web).
    add_prometheus(standin, ("127.0.0.1", free_port()))
    with pytest.raises(BenchError) as caught:
        ServiceRef.parse("prometheus:9090")
    example = re.search(r"e\.g\. (\S+)", str(caught.value))
    assert example is not None
    endpoint = resolve(kube, ServiceRef.parse(example[1]))
    assert (endpoint.pod, endpoint.port) == ("prometheus-k8s-0", 9090)


# -- through the tunnel to a real Prometheus -------------------------------------------------------


@pytest.mark.prometheus
def test_named_port_forward_answers_promql(standin: KubeStandin, target: KubeTarget, prometheus_url: str) -> None:
    add_prometheus(standin, hostport(prometheus_url))
    with PortForward(target, PROM, check=http_ready("/-/ready")) as forward:
        assert forward.endpoint is not None
        assert (forward.endpoint.pod, forward.endpoint.port) == ("prometheus-k8s-0", 9090)
        assert forward.local_address.startswith("127.0.0.1:")
        assert forward.url("http") == f"http://{forward.local_address}"
        planted = 'container_memory_working_set_bytes{namespace="bench",pod="ab-n0-0",container="main"}'
        [series] = query(forward.url(), planted, at=T0 + 100)
        assert float(series["value"][1]) == 100 * MIB  # type: ignore[index]
    paths = [p for _, p in standin.requests]
    assert "/apis/discovery.k8s.io/v1/namespaces/monitoring/endpointslices" in {p.split("?")[0] for p in paths}
    assert "/api/v1/namespaces/monitoring/pods/prometheus-k8s-0" in paths  # the named port came from the pod
    assert any(p.endswith("/pods/prometheus-k8s-0/portforward?ports=9090") for p in paths)
    assert standin.bad_auth == 0


@pytest.mark.prometheus
def test_endpoints_fallback_and_numbered_ports(standin: KubeStandin, target: KubeTarget, prometheus_url: str) -> None:
    standin.serve_slices = False  # a cluster without discovery.k8s.io/v1
    add_prometheus(standin, hostport(prometheus_url), target_port=9090)
    with PortForward(target, ServiceRef("monitoring", "prometheus-operated", "9090"), check=http_ready()) as forward:
        assert query(forward.url(), "vector(1)")
    paths = {p.split("?")[0] for _, p in standin.requests}
    assert "/api/v1/namespaces/monitoring/endpoints/prometheus-operated" in paths


@pytest.mark.prometheus
def test_concurrent_connections(standin: KubeStandin, target: KubeTarget, prometheus_url: str) -> None:
    add_prometheus(standin, hostport(prometheus_url))
    with PortForward(target, PROM, check=http_ready()) as forward, ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: query(forward.url(), f"vector({i})"), range(12)))
    assert [float(a[0]["value"][1]) for a in answers] == list(range(12))  # type: ignore[index]
    assert sum(p.endswith("portforward?ports=9090") for _, p in standin.requests) >= 12


def raw_get(local: tuple[str, int], path: str) -> bytes:
    """One HTTP/1.0-style exchange over a plain socket: everything until EOF."""
    with socket.create_connection(local, timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.prometheus
def test_a_dropped_connection_then_a_working_one(standin: KubeStandin, target: KubeTarget, prometheus_url: str) -> None:
    add_prometheus(standin, hostport(prometheus_url))
    path = "/api/v1/query?query=container_cpu_usage_seconds_total&time=" + str(T0 + 100)
    with PortForward(target, PROM, check=http_ready()) as forward:
        local = hostport(forward.url())
        whole = raw_get(local, path)
        assert whole.startswith(b"HTTP/1.1 200") and len(whole) > 1000
        standin.drop_next(after_bytes=len(whole) // 2)  # a TCP reset in the middle of the body
        cut = raw_get(local, path)
        assert len(cut) < len(whole)
        assert query(forward.url(), "vector(2)")[0]["value"][1] == "2"  # type: ignore[index]
        assert any("connection dropped" in p for p in forward.problems)


@pytest.mark.prometheus
def test_close_leaves_no_listener_and_no_socket(standin: KubeStandin, target: KubeTarget, prometheus_url: str) -> None:
    add_prometheus(standin, hostport(prometheus_url))
    api_port = hostport(standin.url)[1]
    forward = PortForward(target, PROM, check=http_ready()).start()
    local = hostport(forward.url())
    # A connection left open by its client: close() must still end its relay.
    idle = socket.create_connection(local)
    idle.sendall(b"GET /-/ready HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(100).startswith(b"HTTP/1.1 200")
    assert our_sockets(local[1])
    forward.close()
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(local, timeout=1)
    assert not our_sockets(local[1])
    assert not [c for c in our_sockets(api_port) if c.status != psutil.CONN_LISTEN and c.laddr.port != api_port]  # type: ignore[attr-defined]


# -- each failure, one line, no token --------------------------------------------------------------


def test_no_cluster(tmp_path: Path) -> None:
    config = tmp_path / "config"
    server = KubeStandin()
    config.write_text(server.kubeconfig(config).read_text().replace(server.url, f"http://127.0.0.1:{free_port()}"))
    server.stop()
    started = time.monotonic()
    with pytest.raises(ClusterUnreachable, match="cannot reach the API server of context standin") as caught:
        PortForward(KubeTarget(str(config), None, 1.0), PROM, check=http_ready()).start()
    assert time.monotonic() - started < 1.5
    clean(caught.value)


def test_no_service(target: KubeTarget) -> None:
    with pytest.raises(ServiceNotFound) as caught:
        PortForward(target, PROM).start()
    assert clean(caught.value) == (
        "no service monitoring/prometheus-operated in context standin: "
        "check --*-service and `kubectl -n monitoring get svc`"
    )


def test_no_such_service_port(standin: KubeStandin, target: KubeTarget) -> None:
    add_prometheus(standin, ("127.0.0.1", free_port()))
    # "web" is a bare operator's name; kube-prometheus-stack's is "http-web"
    with pytest.raises(PortNotFound, match=r"has no port 'web' \(it has: http-web=9090\)") as caught:
        PortForward(target, ServiceRef("monitoring", "prometheus-operated", "web")).start()
    clean(caught.value)


def test_no_ready_pod(standin: KubeStandin, target: KubeTarget) -> None:
    standin.add_service(
        "monitoring",
        "prometheus-operated",
        [{"name": "http-web", "port": 9090, "targetPort": "http-web"}],
        [FakePod("prometheus-k8s-0", ready=False, ports=(("http-web", 9090),))],
    )
    with pytest.raises(NoReadyPod, match="has no ready pod behind it: check `kubectl -n monitoring get") as caught:
        PortForward(target, PROM).start()
    clean(caught.value)


def test_wrong_named_target_port(standin: KubeStandin, target: KubeTarget) -> None:
    add_prometheus(standin, ("127.0.0.1", free_port()), target_port="metrics")
    with pytest.raises(
        PortNotFound, match="targets the named port 'metrics' but pod monitoring/prometheus-k8s-0"
    ) as caught:
        PortForward(target, PROM).start()
    clean(caught.value)


@pytest.mark.prometheus
def test_rbac_forbids_portforward(standin: KubeStandin, target: KubeTarget, prometheus_url: str) -> None:
    add_prometheus(standin, hostport(prometheus_url))
    standin.forbidden = {"pods/portforward"}
    started = time.monotonic()
    with pytest.raises(Forbidden) as caught:
        PortForward(target, PROM, check=http_ready()).start()
    assert time.monotonic() - started < 1.0  # not the whole health-check timeout
    text = clean(caught.value)
    assert "pods/portforward" in text and "namespace monitoring" in text and str(PROM) in text
    assert "needs RBAC `get` on `pods/portforward`" in text  # a 1.30 server: the websocket GET needs `get`


@pytest.mark.prometheus
@pytest.mark.parametrize(("version", "denied"), [("v1.34.1", "get"), ("v1.35.0", "create")])
def test_the_verb_a_port_forward_needs_follows_the_server_version(
    standin: KubeStandin, target: KubeTarget, prometheus_url: str, version: str, denied: str
) -> None:
    add_prometheus(standin, hostport(prometheus_url))
    standin.git_version = version
    standin.forbidden = {f"{denied} pods/portforward"}
    with pytest.raises(Forbidden) as caught:
        PortForward(target, PROM, check=http_ready()).start()
    needs = "`get`" if version < "v1.35" else "`get` and `create`"
    assert f"needs RBAC {needs} on `pods/portforward` in namespace monitoring" in clean(caught.value)


@pytest.mark.prometheus
def test_create_alone_is_not_needed_before_1_35(standin: KubeStandin, target: KubeTarget, prometheus_url: str) -> None:
    add_prometheus(standin, hostport(prometheus_url))
    standin.forbidden = {"create pods/portforward"}  # the stand-in reports v1.30: only `get` is checked
    with PortForward(target, PROM, check=http_ready()) as forward:
        assert query(forward.url(), "vector(1)")


def test_target_port_refuses(standin: KubeStandin, target: KubeTarget) -> None:
    add_prometheus(standin, ("127.0.0.1", free_port()))  # nothing listens there
    quick = KubeTarget(target.kubeconfig, None, 1.0)
    with pytest.raises(EndpointSilent) as caught:
        PortForward(quick, PROM, check=http_ready(timeout_s=0.3)).start()
    text = clean(caught.value)
    assert text.startswith(
        "endpoint monitoring/prometheus-operated:http-web (pod monitoring/prometheus-k8s-0 port 9090) "
        "never answered within 1 s"
    )
    assert "error from the kubelet" in text and "connection refused" in text


def test_endpoint_accepts_and_never_answers(standin: KubeStandin, target: KubeTarget) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; nobody ever reads
        add_prometheus(standin, silent.getsockname())
        quick = KubeTarget(target.kubeconfig, None, 1.0)
        started = time.monotonic()
        with pytest.raises(EndpointSilent, match="never answered within 1 s") as caught:
            PortForward(quick, PROM, check=http_ready(timeout_s=0.3)).start()
        assert time.monotonic() - started < 2.0
        clean(caught.value)


# -- what the stand-in cannot show: TLS and credential options as the kubeconfig sets them ------------


def test_tls_and_auth_options_follow_the_client_configuration() -> None:
    from kubernetes.client import Configuration

    from retrain_bench.cluster.portforward import _auth_headers, _sslopt

    config = Configuration()
    config.api_key = {"authorization": f"Bearer {TOKEN}"}
    config.ssl_ca_cert = "/ca.crt"
    config.cert_file, config.key_file = "/client.crt", "/client.key"
    assert _auth_headers(config) == [f"authorization: Bearer {TOKEN}"]
    verified = _sslopt(config)
    assert verified["cert_reqs"] == ssl.CERT_REQUIRED and verified["ca_certs"] == "/ca.crt"
    assert (verified["certfile"], verified["keyfile"]) == ("/client.crt", "/client.key")
    config.verify_ssl = False  # insecure-skip-tls-verify: true in the kubeconfig
    assert _sslopt(config)["cert_reqs"] == ssl.CERT_NONE


# -- gRPC endpoints: the check goes through the tunnel --------------------------------------------

FLYTE = ServiceRef("flyte", "flyte-binary-grpc", "8089")


def test_a_flyte_forward_is_checked_with_a_grpc_call(standin: KubeStandin, target: KubeTarget) -> None:
    with flyteadmin("v1.16.8") as admin:
        add_flyte(standin, hostport(admin))
        with PortForward(target, FLYTE, check=grpc_ready(GET_VERSION)) as forward:
            assert forward.problems == []
    # the call really went through: the stand-in's API server relayed a websocket to the pod's port
    assert any(
        path.startswith("/api/v1/namespaces/flyte/pods/flyte-binary-0/portforward") for _, path in standin.requests
    )


def test_a_closed_flyte_pod_port_fails_the_forward_not_the_first_run(standin: KubeStandin, target: KubeTarget) -> None:
    # Nothing listens on the pod's port: the kubelet reports it on the error channel. Our own
    # listener still accepts, so a TCP connect to it (the old check) passed.
    add_flyte(standin, ("127.0.0.1", free_port()))
    quick = KubeTarget(target.kubeconfig, None, 1.0)
    with pytest.raises(EndpointSilent) as caught:
        PortForward(quick, FLYTE, check=grpc_ready(GET_VERSION, timeout_s=0.3)).start()
    text = clean(caught.value)
    assert text.startswith("endpoint flyte/flyte-binary-grpc:8089 (pod flyte/flyte-binary-0 port 8089) never answered")
    assert "error from the kubelet" in text and "connection refused" in text


def test_a_flyte_pod_port_that_is_not_grpc_fails(standin: KubeStandin, target: KubeTarget) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never speaks HTTP/2
        add_flyte(standin, silent.getsockname())
        quick = KubeTarget(target.kubeconfig, None, 1.0)
        with pytest.raises(EndpointSilent, match="never answered within 1 s"):
            PortForward(quick, FLYTE, check=grpc_ready(GET_VERSION, timeout_s=0.3)).start()


def test_a_forbidden_flyte_forward_is_named(standin: KubeStandin, target: KubeTarget) -> None:
    with flyteadmin("v1.16.8") as admin:
        add_flyte(standin, hostport(admin))
        standin.forbidden = {"pods/portforward"}
        with pytest.raises(Forbidden, match="forbidden to port-forward to pod flyte/flyte-binary-0"):
            PortForward(target, FLYTE, check=grpc_ready(GET_VERSION)).start()


def test_the_flyte_endpoint_is_handed_out_only_once_grpc_answers(standin: KubeStandin, tmp_path: Path) -> None:
    import argparse

    from retrain_bench.cluster.endpoints import ClusterEndpoints
    from retrain_bench.cluster.options import parse_cluster_options
    from retrain_bench.options import add_cluster_target_options, parse_cluster_side_options
    from retrain_bench.platforms.flyte.cluster import flyteadmin

    parser = argparse.ArgumentParser()
    add_cluster_target_options(parser.add_argument, remote=False)
    parser.add_argument("--prometheus-url")
    args = parser.parse_args([f"--kubeconfig={standin.kubeconfig(tmp_path / 'config')}", "--connect-timeout=1"])
    add_flyte(standin, ("127.0.0.1", free_port()))  # the pod's port is closed
    own = parse_cluster_side_options(lambda dest: getattr(args, dest))["flyte"]
    with ClusterEndpoints(parse_cluster_options(lambda dest: getattr(args, dest))) as endpoints:
        with pytest.raises(EndpointSilent, match="error from the kubelet"):
            flyteadmin(endpoints, own)
