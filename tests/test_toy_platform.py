"""The cluster seam, proven from outside: a toy platform in its own distribution (tests/toy_platform/),
registered only through the ``retrain_bench.platforms`` entry point (a dist-info put on the child
processes' sys.path), driven against the stand-ins. Its options appear in pytest and ``doctor``,
``doctor`` checks it, and cluster rounds run through its runner. Nothing in ``src/`` names it.

What stands in: the Kubernetes API server (tests/k8s_standin.py) and the toy's control plane
(``ToyControlPlane`` below: for every run it creates the run's pods in the API stand-in, with logs
carrying stamp lines written by hand, then moves the run on to SUCCEEDED). What is real: the plugin,
the session, the round, the pod watch and log reads, the port-forwards, Prometheus.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.workload.stamps import LINE_PREFIX
from tests.helpers import REPO, BenchRun, records, repo_pythonpath
from tests.k8s_standin import FakePod, KubeStandin, add_prometheus, hostport, pod_object
from tests.prometheus import GIB, Series, container, remote_write, running_prometheus

TOY = Path(__file__).resolve().parent / "toy_platform"
VERSION = "0.1.0"
#: stamps of one run, as (task, C, start offset s, end offset s, outputs): select_best ends at 1.75 s,
#: detect_drift at 0.50 s, so retrain_tune_s = 1.25 s on every round
STAMPS = (
    ("make_data", None, 0.10, 0.20, {}),
    ("train", None, 0.25, 0.35, {"accuracy": 0.9}),
    ("detect_drift", None, 0.40, 0.50, {"accuracy": 0.5, "drift": True}),
    ("tune", 0.1, 0.60, 1.00, {"accuracy": 0.7}),
    ("tune", 1.0, 0.60, 1.20, {"accuracy": 0.8}),
    ("select_best", None, 1.50, 1.75, {"best_c": 1.0, "accuracy": 0.8}),
)


def registered(site: Path) -> str:
    """PYTHONPATH for a child process that sees the toy distribution as installed: its package, and a
    dist-info whose entry point names it (what `pip install tests/toy_platform` would leave)."""
    dist = site / f"retrain_bench_toy-{VERSION}.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: retrain-bench-toy\nVersion: {VERSION}\n")
    (dist / "entry_points.txt").write_text("[retrain_bench.platforms]\ntoy = retrain_bench_toy.definition:TOY\n")
    return os.pathsep.join([str(site), str(TOY), repo_pythonpath()])


class ToyControlPlane:
    """The toy's API: ``/healthz``, ``POST /runs`` (which plays the run's pods into the API stand-in),
    ``GET /runs/<id>``, ``POST /runs/<id>/terminate`` and ``/archive``. Every request is kept."""

    def __init__(self, kube: KubeStandin) -> None:
        self.kube = kube
        self.runs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()
        plane = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                self._answer(None)

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(json.loads(self.rfile.read(length) or b"null"))

            def _answer(self, body: Any) -> None:
                status, answer = plane.handle(self.command, self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ToyControlPlane:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def handle(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append((method, path, body))
        parts = path.strip("/").split("/")
        if (method, parts) == ("GET", ["healthz"]):
            return 200, {"version": VERSION}
        if (method, parts) == ("POST", ["runs"]):
            run_id = f"toy-{body['name']}"
            with self.lock:
                self.runs[run_id] = {"state": "PENDING", **body}
            threading.Thread(target=self._play, args=(run_id, body["namespace"]), daemon=True).start()
            return 200, {"id": run_id}
        if len(parts) >= 2 and parts[0] == "runs" and parts[1] in self.runs:
            run = self.runs[parts[1]]
            if method == "GET" and len(parts) == 2:
                return 200, {"id": parts[1], "state": run["state"]}
            if method == "POST" and parts[2:] == ["terminate"]:
                run["state"] = "TERMINATED"
                return 200, {}
            if method == "POST" and parts[2:] == ["archive"]:
                run["archived"] = True
                return 200, {}
        return 404, {"error": f"no {method} {path}"}

    def _play(self, run_id: str, namespace: str) -> None:
        zero = time.time_ns()
        for number, (task, c, start, end, out) in enumerate(STAMPS):
            pod = f"{run_id}-task-{number}"
            self.kube.pod_feed.put_pod(pod_object(namespace, pod, labels={"toy.example/run": run_id}))
            stamp = {
                "task": task, "start_ns": zero + int(start * 1e9), "end_ns": zero + int(end * 1e9), "pid": 1,
                "unit": pod, "c": c, "out": out,
            }  # fmt: skip
            self.kube.pod_feed.set_log(namespace, pod, "main", LINE_PREFIX + json.dumps(stamp))
        with self.lock:
            self.runs[run_id]["state"] = "RUNNING"
        time.sleep(0.3)
        with self.lock:
            self.runs[run_id]["state"] = "SUCCEEDED"


def add_toy(standin: KubeStandin, backend: tuple[str, int]) -> None:
    """The toy API's service: port 8080 → the pod's named port "http"."""
    standin.add_service(
        "toy",
        "toy-api",
        [{"name": "http", "port": 8080, "targetPort": "http"}],
        [FakePod("toy-api-0", ports=(("http", 8080),), backends=((8080, backend),))],
    )


@pytest.fixture
def toy_cluster(tmp_path: Path) -> Iterator[tuple[KubeStandin, ToyControlPlane, str]]:
    """The API stand-in with the toy's service and Prometheus (seeded with cAdvisor series of the
    toy's namespaces and a node series, as kube-prometheus-stack would scrape them)."""
    with running_prometheus(tmp_path / "prom") as prometheus, KubeStandin() as kube, ToyControlPlane(kube) as plane:
        now, times = time.time(), range(0, 120, 5)
        for ns in ("toy", "toy-runs"):
            series = container(ns, "p-0", "main", times=times, cpu=lambda t: t, memory=GIB, origin=now - 60)
            remote_write(prometheus, series, 5)
        node = Series("node_cpu_seconds_total", {"cpu": "0", "mode": "idle"}, tuple((now - 60 + t, t) for t in times))
        remote_write(prometheus, [node], 5)
        add_toy(kube, hostport(plane.url))
        add_prometheus(kube, hostport(prometheus))
        kube.namespaces.add("toy-runs")  # where its runs' pods go: doctor checks it exists
        yield kube, plane, prometheus


def retrain_bench(*args: str, pythonpath: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.run(
        [sys.executable, "-m", "retrain_bench", *args], capture_output=True, text=True, env=env, timeout=120, cwd=REPO
    )


def test_its_options_appear_through_the_entry_point_only(tmp_path: Path) -> None:
    toy = registered(tmp_path / "site")
    doctor = retrain_bench("doctor", "--help", pythonpath=toy)
    assert doctor.returncode == 0, doctor.stderr
    for option in ("--toy-url", "--toy-service", "--toy-namespace", "--flyte-endpoint", "--kfp-host"):
        assert option in doctor.stdout
    env = {**os.environ, "PYTHONPATH": toy}
    pytest_help = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--help"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert pytest_help.returncode == 0, pytest_help.stderr
    # its own options, and the per-platform ones the registry generates for every cluster side
    for option in ("--toy-url", "--toy-service", "--toy-namespace", "--toy-image", "--toy-kube-context"):
        assert option in pytest_help.stdout
    # without the dist-info nothing knows it: the options come from the registration, not from src/
    plain = retrain_bench("doctor", "--help", pythonpath=os.pathsep.join([str(TOY), repo_pythonpath()]))
    assert plain.returncode == 0 and "--toy-url" not in plain.stdout and "--flyte-endpoint" in plain.stdout


@pytest.mark.prometheus
def test_doctor_checks_it_through_its_forward(
    tmp_path: Path, toy_cluster: tuple[KubeStandin, ToyControlPlane, str]
) -> None:
    kube, plane, _ = toy_cluster
    toy = registered(tmp_path / "site")
    kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig")
    doctor = retrain_bench(
        "doctor", "--platform=toy", f"--kubeconfig={kubeconfig}", "--connect-timeout=3", pythonpath=toy
    )
    lines = doctor.stdout.splitlines()
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "PASS  RBAC pods/portforward in toy: allowed (get)" in lines
    assert "PASS  RBAC to watch pods and read their logs in toy-runs: allowed" in lines
    assert "PASS  Toy service toy/toy-api:8080: ready pod toy-api-0, port 8080" in lines
    (api,) = [line for line in lines if line.startswith("PASS  Toy API at http://127.0.0.1:")]
    assert api.endswith(f": toy {VERSION}")
    # live series are asked of its control plane's namespace only (its runs' may hold no pod)
    assert "PASS  cAdvisor series in toy: 1 container CPU series now" in lines
    assert "PASS  namespace toy-runs exists: yes (runs create their pods here; no live pods needed)" in lines
    # the check went through the tunnel to the toy's API
    assert ("GET", "/healthz", None) in plane.requests
    # and it fails when the toy's API does not answer: its own check says so, in one line
    plane.server.shutdown()
    down = retrain_bench(
        "doctor", "--platform=toy", f"--kubeconfig={kubeconfig}", "--connect-timeout=2", pythonpath=toy
    )
    assert down.returncode == 1
    assert [line for line in down.stdout.splitlines() if line.startswith("FAIL  Toy")], down.stdout


@pytest.mark.prometheus
def test_cluster_rounds_run_through_its_runner(
    bench_run: BenchRun, tmp_path: Path, toy_cluster: tuple[KubeStandin, ToyControlPlane, str]
) -> None:
    kube, plane, _ = toy_cluster
    bench_run.monkeypatch.setenv("PYTHONPATH", registered(tmp_path / "site"))
    # the toy is in no built-in inventory: the user's file names its namespaces
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("toy:\n  description: the toy API and its runs\n  namespaces: [toy, toy-runs]\n")
    result, document = bench_run.run(
        "--target=cluster", "--platform=toy", "--case=smoke", "--rounds=2", "--warmup=0",
        f"--kubeconfig={kube.kubeconfig(tmp_path / 'kubeconfig')}", "--connect-timeout=5", "--poll-interval=0.1",
        "--cooldown=0", "--scrape-interval=1", "--toy-image=ghcr.io/example/toy-task:1", "--toy-namespace=toy-runs",
        f"--platform-inventory={inventory}",
        timeout=180,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert document is not None
    record = records(document)["toy-smoke"]
    assert record["target"] == "cluster" and record["success_rate"] == 1.0
    rounds = record["rounds"]
    assert len(rounds) == 2
    for r in rounds:
        assert r["ok"], r["error"]
        assert r["retrain_tune_s"] == pytest.approx(1.25, abs=1e-6)
        assert r["accuracy"] == {"initial": 0.9, "drifted": 0.5, "final": 0.8}
        assert r["tasks"]["counts"] == {"make_data": 1, "train": 1, "detect_drift": 1, "tune": 2, "select_best": 1}
        assert len(r["pods"]) == 6
        assert r["platform_timings"] == {"source": "toy_api", "state": "SUCCEEDED"}
    # the runner submitted each run with the toy's own image and namespace, then archived it
    submitted = [body for method, path, body in plane.requests if (method, path) == ("POST", "/runs")]
    assert [(b["image"], b["namespace"], b["case"]) for b in submitted] == [
        ("ghcr.io/example/toy-task:1", "toy-runs", "smoke")
    ] * 2
    assert {path for method, path, _ in plane.requests if path.endswith("/archive")} == {
        f"/runs/{r['run_id']}/archive" for r in rounds
    }
    cluster = document["retrain_bench"]["cluster"]
    assert cluster["options"]["toy_namespace"] == "toy-runs"
    images = cluster["options"]["images"]
    assert set(images) == {"flyte", "kfp", "toy"} and images["toy"] == "ghcr.io/example/toy-task:1"
    assert cluster["manifests"]["toy"]["versions"] == {"toy_api": VERSION}


@pytest.mark.prometheus
def test_its_endpoint_fixture_is_generated_and_forwards(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    toy_cluster: tuple[KubeStandin, ToyControlPlane, str],
) -> None:
    kube, plane, _ = toy_cluster
    pytester.makepyfile(
        test_uses_it="""
        import requests

        def test_healthz(toy_url, kfp_host):
            assert kfp_host == "http://127.0.0.1:9"
            assert toy_url.startswith("http://127.0.0.1:")
            assert requests.get(toy_url + "/healthz", timeout=5).json() == {"version": "0.1.0"}

        def test_only_what_is_requested_is_forwarded(toy_url):
            assert toy_url
        """
    )
    monkeypatch.setenv("PYTHONPATH", registered(tmp_path / "site"))
    # kfp_host is generated too: given --kfp-host, it is that URL and nothing is forwarded for it
    result = pytester.runpytest_subprocess(
        "-p", "fixtures.endpoints", "-p", "no:cacheprovider",
        f"--kubeconfig={kube.kubeconfig(tmp_path / 'kubeconfig')}", "--connect-timeout=3",
        "--kfp-host=http://127.0.0.1:9", timeout=60,
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    # one forward for the session, kept by the session's ClusterEndpoints: its health check and the first
    # test's call (a forward per request would have checked twice)
    assert [r for r in plane.requests if r[1] == "/healthz"] == [("GET", "/healthz", None)] * 2
