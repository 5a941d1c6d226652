"""`pytest bench/ --target=cluster` end to end, against STAND-INS of what cannot run here.

What is real: the plugin, the session, the remote round, the pod watch and log reads, the
port-forwards, kfp.Client and the KFP runner, the Prometheus collector and a real Prometheus.
What stands in: the Kubernetes API server (tests/k8s_standin.py), the KFP API server
(tests/platform_standins.py ``kfp_runs_api``) and flyteadmin (``flyteadmin_standin``, gRPC). No
pipeline runs: scripted controller threads (``ScriptedKfp``, ``ScriptedFlyte`` below) play Argo and
the KFP backend, or flytepropeller — for every run the suite creates they add the run's pods to the
API stand-in, with logs carrying stamp lines written by hand, then move the run on to its end, as
the real backends report it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import execution_pb2 as core_execution_pb2

from retrain_bench.measure.cost import DEFAULT_PRICES, allocation_cost
from retrain_bench.workload.stamps import LINE_PREFIX
from tests.helpers import BenchRun, records
from tests.k8s_standin import KubeStandin, add_flyte, add_kfp_api, add_prometheus, hostport, pod_object
from tests.platform_standins import AdminState, KfpRunsStandin, flyteadmin_standin, kfp_runs_api
from tests.prometheus import running_prometheus

pytestmark = pytest.mark.prometheus

#: stamps of one run, as (task, C, start offset s, end offset s, recorded outputs); offsets are
#: from the moment the scripted controller saw the run. detect_drift ends at 0.50 s, select_best at
#: 1.75 s: retrain_tune_s = 1.75 - 0.50 = 1.25 s on every round.
STAMPS = (
    ("make_data", None, 0.10, 0.20, {}),
    ("train", None, 0.25, 0.35, {"accuracy": 0.9}),
    ("detect_drift", None, 0.40, 0.50, {"accuracy": 0.5, "drift": True}),
    ("tune", 0.1, 0.60, 1.00, {"accuracy": 0.7}),
    ("tune", 1.0, 0.60, 1.20, {"accuracy": 0.8}),
    ("select_best", None, 1.50, 1.75, {"best_c": 1.0, "accuracy": 0.8}),
)


TASK_REQUESTS = {"cpu": "500m", "memory": "1Gi"}


def _line(task: str, c: float | None, start_ns: int, end_ns: int, out: dict[str, Any], pod: str) -> str:
    stamp = {"task": task, "start_ns": start_ns, "end_ns": end_ns, "pid": 1, "unit": pod, "c": c, "out": out}
    return LINE_PREFIX + json.dumps(stamp)


class Scripted:
    """A controller thread: every run that appears in ``pending()`` is played once by ``play()``."""

    def __init__(self) -> None:
        self.done: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Scripted:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            for run in [r for r in self.pending() if r not in self.done]:
                self.done.add(run)
                self._play(run)

    def pending(self) -> list[str]:
        raise NotImplementedError

    def _play(self, run: str) -> None:
        raise NotImplementedError


class ScriptedKfp(Scripted):
    """Plays the KFP backend and Argo for every new run: pods with stamp logs, then the run's states."""

    def __init__(self, api: KfpRunsStandin, kube: KubeStandin) -> None:
        super().__init__()
        self.api, self.kube = api, kube

    def pending(self) -> list[str]:
        with self.api.lock:
            return list(self.api.runs)

    def _play(self, run_id: str) -> None:
        zero = time.time_ns()
        feed = self.kube.pod_feed
        for number, (task, c, start, end, out) in enumerate(STAMPS):
            pod = f"{run_id}-system-container-impl-{number}"
            labels = {"pipeline/runid": run_id}
            # executors request what --task-cpu/--task-memory asked for and run 00:00:01 -> 00:00:09
            executor = pod_object(
                "kubeflow", pod, labels=labels, init_containers=("kfp-launcher",), requests=TASK_REQUESTS
            )
            feed.put_pod(executor)
            feed.set_log(
                "kubeflow", pod, "main", _line(task, c, zero + int(start * 1e9), zero + int(end * 1e9), out, pod)
            )
            # a driver pod: no stamps, and the launcher's init container logs nothing of ours
            feed.put_pod(pod_object("kubeflow", f"{run_id}-system-container-driver-{number}", labels=labels))
        with self.api.lock:
            self.api.runs[run_id]["state"] = "RUNNING"
        time.sleep(0.3)
        with self.api.lock:
            run = self.api.runs[run_id]
            run["state"] = "SUCCEEDED"
            run["finished_at"] = "2026-08-21T10:02:07Z"
            # the backend's whole-second task records (api_converter.go: no pod_name, children by Argo
            # node id, create_time the workflow's): the train DAG node 10:00:10 -> 10:00:32 is 22 s
            run["run_details"] = {
                "task_details": [
                    {"run_id": run_id, "task_id": "5d0c6a1e-0001", "display_name": "train", "state": "SUCCEEDED",
                     "create_time": "2026-08-21T10:00:00Z", "start_time": "2026-08-21T10:00:10Z",
                     "end_time": "2026-08-21T10:00:32Z", "child_tasks": [{"pod_name": f"{run_id}-1234567891"}]},
                    {"run_id": run_id, "task_id": "5d0c6a1e-0002", "display_name": "executor", "state": "SUCCEEDED",
                     "create_time": "2026-08-21T10:00:00Z", "start_time": "2026-08-21T10:00:11Z",
                     "end_time": "2026-08-21T10:00:32Z"},
                    {"run_id": run_id, "task_id": "5d0c6a1e-0000", "display_name": "train-driver",
                     "state": "SUCCEEDED", "create_time": "2026-08-21T10:00:00Z",
                     "start_time": "2026-08-21T10:00:05Z", "end_time": "2026-08-21T10:00:09Z"},
                ]
            }  # fmt: skip


@pytest.fixture
def kfp_cluster(tmp_path: Path) -> Iterator[tuple[Path, KfpRunsStandin]]:
    """A kubeconfig whose cluster serves KFP (its API server, ml-pipeline) and a real Prometheus, both forwarded."""
    with (
        running_prometheus(tmp_path / "prom") as prometheus,
        kfp_runs_api() as api,
        KubeStandin() as kube,
        ScriptedKfp(api, kube),
    ):
        add_kfp_api(kube, hostport(api.url.removeprefix("http://")))
        add_prometheus(kube, hostport(prometheus))
        # the control plane the allocation cost amortises: 2 × (1 core, 2Gi)
        kube.add_deployment(
            "kubeflow", "ml-pipeline", {"api": "kfp-api-server:2.17.0"}, {}, replicas=2,
            requests={"api": {"cpu": "1", "memory": "2Gi"}},
        )  # fmt: skip
        yield kube.kubeconfig(tmp_path / "kubeconfig"), api


def test_kfp_rounds_on_a_standin_cluster_are_recorded_like_the_study(
    bench_run: BenchRun, kfp_cluster: tuple[Path, KfpRunsStandin]
) -> None:
    kubeconfig, api = kfp_cluster
    result, document = bench_run.run(
        "--target=cluster", "--platform=kfp", "--case=smoke", "--rounds=2", "--warmup=0",
        f"--kubeconfig={kubeconfig}", "--connect-timeout=5", "--poll-interval=0.1", "--cooldown=0",
        "--scrape-interval=1", "--task-image=ghcr.io/example/retrain-bench-task:test",
        "--task-cpu=500m", "--task-memory=1Gi",
        timeout=180,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert document is not None
    record = records(document)["kfp-smoke"]
    assert record["target"] == "cluster" and record["success_rate"] == 1.0
    rounds = record["rounds"]
    assert len(rounds) == 2
    for r in rounds:
        assert r["ok"], r["error"]
        assert r["retrain_tune_s"] == pytest.approx(1.25, abs=1e-6)
        assert r["accuracy"] == {"initial": 0.9, "drifted": 0.5, "final": 0.8}
        assert r["drift_detected"] is True and r["best_c"] == 1.0
        assert r["tasks"]["counts"] == {"make_data": 1, "train": 1, "detect_drift": 1, "tune": 2, "select_best": 1}
        # the platform's own view keeps the user's task and drops the driver: 22 whole seconds
        assert [(t["name"], t["duration_s"]) for t in r["platform_timings"]["tasks"]] == [("train", 22)]
        # the run's pods as Kubernetes saw them: six executors and six drivers
        assert len(r["pods"]) == 12
        # nothing was scraped for these pods: null with a reason, never 0
        execution = r["resources"]["execution"]
        assert execution["cpu_seconds"] is None and "resources.execution.cpu_seconds" in r["missing"]
        assert execution["details"]["kubernetes"]["pods_seen"] == 12
    run_ids = [r["run_id"] for r in rounds]
    assert len(set(run_ids)) == 2
    # every run was submitted with caching off and then archived (--cleanup is on by default)
    submitted = [body for method, path, _, body in api.requests if (method, path) == ("POST", "/apis/v2beta1/runs")]
    assert len(submitted) == 2
    archived = {path for method, path, _, _ in api.requests if method == "POST" and path.endswith(":archive")}
    assert archived == {f"/apis/v2beta1/runs/{run_id}:archive" for run_id in run_ids}
    cluster = document["retrain_bench"]["cluster"]
    assert cluster["options"]["resources"] == {"cpu": "500m", "memory": "1Gi"}
    assert cluster["manifests"]["kfp"]["control_plane_requests"] == {"cpu": 2.0, "memory_gib": 4.0}
    for r in rounds:
        # six executors × 8 s × 0.5 core = 24 core-s and × 1 GiB = 48 GiB-s; the drivers state no requests
        held = r["tasks"]["allocated"]
        assert (held["cpu_core_seconds"], held["memory_gib_seconds"], held["pods_counted"]) == (24.0, 48.0, 6)
        assert len(held["pods_not_counted"]) == 6
        # the record cannot price it (the manifest comes after the rounds): it says who does
        assert r["cost"]["allocation_usd"] is None
        assert r["missing"]["cost.allocation_usd"].startswith("priced by `python -m retrain_bench report`")
        # priced from the run level: pods + control plane (2 cores, 4 GiB) over the round's total_s
        dollars, why = allocation_cost(r, "kfp", "cluster", document["retrain_bench"], DEFAULT_PRICES)
        vcpu, gib = DEFAULT_PRICES.vcpu_hour, DEFAULT_PRICES.gib_hour
        expected = (24 * vcpu + 48 * gib) / 3600 + (2 * vcpu + 4 * gib) * r["total_s"] / 3600
        assert why is None and dollars == pytest.approx(expected, rel=1e-12)
    result.stdout.fnmatch_lines(["*kfp/smoke round 1/2 *s ok*", "*kfp/smoke round 2/2 *s ok*"])
    # the report says what the platform scope held (the built-in inventory: namespace kubeflow)
    out = bench_run.pytester.path / "out.json"
    report = subprocess.run(
        [sys.executable, "-m", "retrain_bench", "report", str(out), "--out", str(bench_run.pytester.path / "report")],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert "- Kubeflow platform scope: namespaces kubeflow, every pod" in report.stdout.splitlines()


def test_bare_is_refused_on_the_cluster_target(bench_run: BenchRun) -> None:
    result, document = bench_run.run("--target=cluster", "--platform=bare")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and document is None
    result.stderr.fnmatch_lines(
        ["ERROR: --platform: bare runs only on the local target; with --target=cluster choose from flyte, kfp"]
    )


class ScriptedFlyte(Scripted):
    """Plays flytepropeller for every new execution: its pods with stamp logs, then SUCCEEDED —
    or, with ``hang``, leaves it RUNNING forever so the harness must terminate it."""

    def __init__(
        self, admin: AdminState, kube: KubeStandin, *, hang: bool = False, namespace: str = "flytesnacks-development"
    ) -> None:
        super().__init__()
        self.admin, self.kube, self.hang = admin, kube, hang
        #: where flytepropeller creates the pods: flyteadmin's namespace_mapping (default {project}-{domain})
        self.namespace = namespace

    def pending(self) -> list[str]:
        return list(self.admin.executions)

    def _play(self, name: str) -> None:
        zero = time.time_ns()
        namespace = self.namespace
        for number, (task, c, start, end, out) in enumerate(STAMPS):
            pod = f"{name}-n{number}-0"
            self.kube.pod_feed.put_pod(pod_object(namespace, pod, labels={"execution-id": name}))
            line = _line(task, c, zero + int(start * 1e9), zero + int(end * 1e9), out, pod)
            self.kube.pod_feed.set_log(namespace, pod, "main", line)
        execution = self.admin.executions[name]
        execution.closure.started_at.GetCurrentTime()
        execution.closure.phase = core_execution_pb2.WorkflowExecution.RUNNING
        if self.hang:
            return
        time.sleep(0.3)
        execution.closure.duration.FromMilliseconds(2500)
        execution.closure.phase = core_execution_pb2.WorkflowExecution.SUCCEEDED


@pytest.fixture
def flyte_cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, AdminState]]:
    """A kubeconfig whose cluster serves flyteadmin (flyte-binary-grpc) and a real Prometheus."""
    with (
        running_prometheus(tmp_path / "prom") as prometheus,
        flyteadmin_standin() as (address, admin),
        KubeStandin() as kube,
        ScriptedFlyte(admin, kube, hang=getattr(request, "param", False)),
    ):
        add_flyte(kube, hostport(address))
        add_prometheus(kube, hostport(prometheus))
        yield kube.kubeconfig(tmp_path / "kubeconfig"), admin


CLUSTER_ARGS = (
    "--target=cluster", "--case=smoke", "--warmup=0", "--connect-timeout=5", "--poll-interval=0.1",
    "--cooldown=0", "--scrape-interval=1", "--task-image=ghcr.io/example/retrain-bench-task:test",
)  # fmt: skip


def test_flyte_rounds_on_a_standin_cluster_register_once_and_read_stamps_from_pod_logs(
    bench_run: BenchRun, flyte_cluster: tuple[Path, AdminState]
) -> None:
    kubeconfig, admin = flyte_cluster
    result, document = bench_run.run(
        *CLUSTER_ARGS, "--platform=flyte", "--rounds=2", f"--kubeconfig={kubeconfig}", timeout=180
    )
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert document is not None
    rounds = records(document)["flyte-smoke"]["rounds"]
    assert [r["ok"] for r in rounds] == [True, True]
    for r in rounds:
        assert r["retrain_tune_s"] == pytest.approx(1.25, abs=1e-6)
        assert (r["drift_detected"], r["best_c"]) == (True, 1.0)
        assert r["platform_timings"]["execution"]["duration_s"] == 2.5
        assert sorted(p["name"] for p in r["pods"]) == sorted(f"{r['run_id']}-n{i}-0" for i in range(6))
    # registered once for the session (seven tasks: the six that run and register, the --registry step that
    # adapt's hints name; one workflow), one execution per round, each archived
    assert len(admin.tasks) == 7 and len(admin.workflows) == 1
    assert sorted(admin.created) == sorted(r["run_id"] for r in rounds)
    archived = [detail for method, detail in admin.calls if method == "UpdateExecution"]
    assert sorted(archived) == sorted(admin.created)
    # the tasks' environment sends stamps to the pod log
    for request in admin.created.values():
        assert {kv.key: kv.value for kv in request.spec.envs.values}["BENCH_STAMPS"] == "stdout"


@pytest.mark.parametrize("flyte_cluster", [True], indirect=True)
def test_a_flyte_execution_past_the_run_timeout_is_terminated_and_recorded_as_failed(
    bench_run: BenchRun, flyte_cluster: tuple[Path, AdminState]
) -> None:
    kubeconfig, admin = flyte_cluster
    result, document = bench_run.run(
        *CLUSTER_ARGS, "--platform=flyte", "--rounds=1", "--run-timeout=1", f"--kubeconfig={kubeconfig}", timeout=180
    )
    # the benchmark fails (success rate 0 < 1.0) but the JSON is written with the failed round
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert document is not None
    (only,) = records(document)["flyte-smoke"]["rounds"]
    assert not only["ok"] and only["error"].startswith("timed out after 1s (--run-timeout)")
    terminated = [detail for method, detail in admin.calls if method == "TerminateExecution"]
    assert terminated == [only["run_id"]]
    execution = admin.executions[only["run_id"]]
    assert execution.closure.phase == core_execution_pb2.WorkflowExecution.ABORTED


@pytest.fixture
def both_platforms_cluster(tmp_path: Path) -> Iterator[Path]:
    """One stand-in cluster serving flyteadmin, KFP and a real Prometheus."""
    with (
        running_prometheus(tmp_path / "prom") as prometheus,
        flyteadmin_standin() as (address, admin),
        kfp_runs_api() as api,
        KubeStandin() as kube,
        ScriptedFlyte(admin, kube),
        ScriptedKfp(api, kube),
    ):
        add_flyte(kube, hostport(address))
        add_kfp_api(kube, hostport(api.url.removeprefix("http://")))
        add_prometheus(kube, hostport(prometheus))
        yield kube.kubeconfig(tmp_path / "kubeconfig")


def test_xdist_refuses_two_platforms_on_one_cluster(bench_run: BenchRun, tmp_path: Path) -> None:
    with KubeStandin() as kube:
        kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig")
        result, document = bench_run.run(
            *CLUSTER_ARGS, "-n", "2", "--dist", "loadgroup", f"--kubeconfig={kubeconfig}", timeout=120
        )
    assert result.ret == pytest.ExitCode.USAGE_ERROR and document is None
    result.stderr.fnmatch_lines(["ERROR: *flyte and kfp*same cluster*--allow-shared-cluster*"])


def test_xdist_runs_each_platform_on_its_worker_and_merges_their_manifests(
    bench_run: BenchRun, both_platforms_cluster: Path
) -> None:
    result, document = bench_run.run(
        *CLUSTER_ARGS, "-n", "2", "--dist", "loadgroup", "--allow-shared-cluster", "--rounds=1",
        f"--kubeconfig={both_platforms_cluster}", timeout=240,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert document is not None
    found = records(document)
    assert sorted(found) == ["flyte-smoke", "kfp-smoke"]
    assert all(r["ok"] for record in found.values() for r in record["rounds"])
    level = document["retrain_bench"]
    workers = level["xdist"]["workers"]
    assert workers["flyte/smoke"] != workers["kfp/smoke"]
    # each platform's manifest comes from the worker that ran it
    assert sorted(level["cluster"]["manifests"]) == ["flyte", "kfp"]
    assert level["cluster"]["manifests"]["flyte"]["runner"]["namespace"] == "flytesnacks-development"
    assert level["cluster"]["manifests"]["kfp"]["runner"]["experiment"] == "retrain-bench"


def test_concurrency_submits_that_many_runs_at_once_and_records_their_throughput(
    bench_run: BenchRun, kfp_cluster: tuple[Path, KfpRunsStandin]
) -> None:
    kubeconfig, api = kfp_cluster
    result, document = bench_run.run(
        *CLUSTER_ARGS, "--platform=kfp", "--rounds=1", "--concurrency=2", f"--kubeconfig={kubeconfig}", timeout=180
    )
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert document is not None
    (only,) = records(document)["kfp-smoke"]["rounds"]
    assert only["ok"], only["error"]
    block = only["concurrency"]
    assert block["n"] == 2 and [e["ok"] for e in block["executions"]] == [True, True]
    # the round's time is the makespan over both runs, at least as long as each of them
    assert all(e["total_s"] <= only["total_s"] for e in block["executions"])
    assert block["throughput_per_min"] == pytest.approx(2 / only["total_s"] * 60, rel=1e-12)
    assert only["retrain_tune_s"] == pytest.approx(1.25, abs=1e-6)  # the median of two 1.25 s phases
    assert len(only["pods"]) == 24  # twelve pods per run
    assert only["tasks"]["counts"]["tune"] == 4
    created = list(api.runs)
    assert len(created) == 2
    assert set(only["notes"][0].removeprefix("runs of this round: ").split(", ")) == set(created)
    assert sorted(only["platform_timings"]) == sorted(created)
    assert all(api.runs[run_id]["storage_state"] == "ARCHIVED" for run_id in created)
