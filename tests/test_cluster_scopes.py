"""Cluster resource scopes (execution, platform, node) against a REAL Prometheus holding planted data.

The data (tests/prometheus.py conventions): offsets from T0 over 0…300, cAdvisor samples every
10 s and node-exporter every 30 s (kube-prometheus-stack's intervals), each CPU counter
``slope·t`` and each working set constant, so every figure over the window [62, 242] is steady
and exact. A container's cpu_seconds is ``slope × 180`` (the counter read linearly at the
window's edges); its memory peak and average are its constant working set. No scrape interval is
given: the collector finds 10 s and 30 s in the samples. Rate window 30 s.

  namespace                 pod                                          cores   MiB   node
  flytesnacks-development   rbf1-n0-0            (Flyte run rbf1)         0.5     100   node-a
                            rbf1-n1-0                                     0.25     50   node-a
                            rbf10-n0-0           (another run: rbf1 + 0)  1.0    1024
  flyte                     flyte-binary-7d9f8-x2x4z                      0.125   200
                            postgres-0                                    0.0625   64
                            minio-5c4d9-q8w2e                             0.0625   32
  kubeflow                  retrain-x7k2q-system-container-impl-1111      0.5     300   node-a
                            retrain-x7k2q-system-container-impl-2222      0.25    100   node-b
                            retrain-x7k2q-system-container-driver-3333    no samples    node-b
                            retrain-x7k2q-system-dag-driver-4444          no samples    node-b
                            retrain-q9z8w-system-container-impl-5555      1.0    1024   (another run)
                            ml-pipeline-5f6b9-aaaaa                       0.125   256
                            mysql-6c7d8-bbbbb                             0.0625  512
                            seaweedfs-0                                   0.0625  128
                            workflow-controller-7e8f9-ccccc               0.125    64
  flytesnacks-staging       zzzz-n0-0            (not in any inventory)   4.0    1024
node-exporter (namespace monitoring), non-idle cores / memory in use:
  node-a 0.5 user + 0.25 system on cpu 0, 0.5 user on cpu 1 (0.25 idle: not counted) = 1.25, 8 − 6 = 2 GiB
  node-b 1.0 user (1.0 idle) = 1.0, 8 − 4 = 4 GiB;  node-c (no run's pod) 2.0, 16 GiB
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain_bench.cluster.inventory import load_inventory, parse_inventory
from retrain_bench.cluster.pods import PodSeen
from retrain_bench.errors import BenchError
from retrain_bench.harness.scopes import ClusterPrometheusPlan
from retrain_bench.measure.profile import default_profile_path, load_profile
from retrain_bench.measure.prometheus import PrometheusSettings
from retrain_bench.measure.stats import GIB, ResourceStats
from retrain_bench.platforms import registry
from retrain_bench.platforms.remote import Submitted
from retrain_bench.results.round import RoundResult
from tests.prometheus import MIB, T0, Series, container, free_port, running_prometheus

CADVISOR = range(0, 301, 10)
NODE_EXPORTER = range(0, 301, 30)
WINDOW = (T0 + 62.0, T0 + 242.0)
STEADY = 180  # seconds of counter growth inside the window, see the module docstring
# samples inside the window per series: cAdvisor 70…240, node-exporter 90…240
CADVISOR_SAMPLES, NODE_SAMPLES = 18, 6
FLYTE_NS, KFP_NS = "flytesnacks-development", "kubeflow"
WF = "retrain-x7k2q"


def pod(namespace: str, name: str, cores: float, mib: float, container_name: str = "main") -> list[Series]:
    return container(namespace, name, container_name, times=CADVISOR, cpu=lambda t: cores * t, memory=mib * MIB)


def node_exporter(
    instance: str, nodename: str, cpu: dict[tuple[str, str], float], total: int, free: int
) -> list[Series]:
    base = {"instance": instance, "job": "node-exporter", "namespace": "monitoring", "pod": f"node-exporter-{nodename}"}
    out = [
        Series(
            "node_cpu_seconds_total",
            {**base, "cpu": c, "mode": mode},
            tuple((T0 + t, slope * t) for t in NODE_EXPORTER),
            counter=True,
        )
        for (c, mode), slope in cpu.items()
    ]
    out.append(Series("node_memory_MemTotal_bytes", base, tuple((T0 + t, float(total * GIB)) for t in NODE_EXPORTER)))
    out.append(
        Series("node_memory_MemAvailable_bytes", base, tuple((T0 + t, float(free * GIB)) for t in NODE_EXPORTER))
    )
    out.append(Series("node_uname_info", {**base, "nodename": nodename}, tuple((T0 + t, 1.0) for t in NODE_EXPORTER)))
    return out


def planted() -> list[Series]:
    return [
        *pod(FLYTE_NS, "rbf1-n0-0", 0.5, 100, "rbf1-n0-0"),
        *pod(FLYTE_NS, "rbf1-n1-0", 0.25, 50, "rbf1-n1-0"),
        *pod(FLYTE_NS, "rbf10-n0-0", 1.0, 1024, "rbf10-n0-0"),
        *pod("flyte", "flyte-binary-7d9f8-x2x4z", 0.125, 200, "flyte"),
        *pod("flyte", "postgres-0", 0.0625, 64, "postgresql"),
        *pod("flyte", "minio-5c4d9-q8w2e", 0.0625, 32, "minio"),
        *pod(KFP_NS, f"{WF}-system-container-impl-1111", 0.5, 300),
        *pod(KFP_NS, f"{WF}-system-container-impl-2222", 0.25, 100),
        *pod(KFP_NS, "retrain-q9z8w-system-container-impl-5555", 1.0, 1024),
        *pod(KFP_NS, "ml-pipeline-5f6b9-aaaaa", 0.125, 256, "ml-pipeline-api-server"),
        *pod(KFP_NS, "mysql-6c7d8-bbbbb", 0.0625, 512, "mysql"),
        *pod(KFP_NS, "seaweedfs-0", 0.0625, 128, "seaweedfs"),
        *pod(KFP_NS, "workflow-controller-7e8f9-ccccc", 0.125, 64, "workflow-controller"),
        *pod("flytesnacks-staging", "zzzz-n0-0", 4.0, 1024),
        *node_exporter(
            "10.0.0.1:9100",
            "node-a",
            {("0", "user"): 0.5, ("0", "system"): 0.25, ("0", "idle"): 0.25, ("1", "user"): 0.5},
            8,
            6,
        ),  # noqa: E501
        *node_exporter("10.0.0.2:9100", "node-b", {("0", "user"): 1.0, ("0", "idle"): 1.0}, 8, 4),
        *node_exporter("10.0.0.3:9100", "node-c", {("0", "user"): 2.0}, 16, 0),
    ]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_prometheus(tmp_path_factory.mktemp("cluster-prometheus"), planted()) as address:
        yield address


def settings(url: str) -> PrometheusSettings:
    return PrometheusSettings(url, rate_window_s=30)


def plan(url: str, nodes: bool = True) -> ClusterPrometheusPlan:
    s = settings(url)
    node_profile = load_profile(default_profile_path().with_name("node-exporter.yaml"))
    return ClusterPrometheusPlan(
        s,
        load_inventory(None, registry.cluster_names()),
        dataclasses.replace(s, profile=node_profile) if nodes else None,
    )


def seen(namespace: str, name: str, node: str | None) -> PodSeen:
    return PodSeen(name, namespace, node, "Succeeded", None, None, None, (), ("main",))


def cluster_round(platform: str, run: Submitted, pods: tuple[PodSeen, ...]) -> RoundResult:
    return RoundResult(
        platform=platform,
        case="smoke",
        index=0,
        warmup=False,
        ok=True,
        error=None,
        total_s=180.0,
        startup_s=None,
        queue_s=1.0,
        retrain_tune_s=2.0,
        outcome=None,
        task_counts={},
        units=0,
        log=Path("unused.log"),
        window=WINDOW,
        target="cluster",
        run=run,
        pods=pods,
    )


FLYTE_RUN = Submitted("flyte", "rbf1", FLYTE_NS, "execution-id=rbf1")
FLYTE_PODS = (seen(FLYTE_NS, "rbf1-n0-0", "node-a"), seen(FLYTE_NS, "rbf1-n1-0", "node-a"))
KFP_RUN = Submitted("kfp", "7c1d0b5e", KFP_NS, "pipeline/runid=7c1d0b5e")
KFP_PODS = (
    seen(KFP_NS, f"{WF}-system-dag-driver-4444", "node-b"),
    seen(KFP_NS, f"{WF}-system-container-driver-3333", "node-b"),
    seen(KFP_NS, f"{WF}-system-container-impl-1111", "node-a"),
    seen(KFP_NS, f"{WF}-system-container-impl-2222", "node-b"),
)


def collect(url: str, *rounds: RoundResult, nodes: bool = True) -> list[dict[str, ResourceStats]]:
    warnings: list[str] = []
    out = plan(url, nodes).collect(list(rounds), warnings.append, sleep=lambda s: pytest.fail(f"slept {s}"))
    assert warnings == []
    return [r.resources for r in out]


def figures(stats: ResourceStats) -> tuple[float | None, float | None, float | None]:
    return stats.cpu_seconds, stats.memory_peak_gib, stats.memory_avg_gib


@pytest.mark.prometheus
def test_a_flyte_runs_scopes(url: str) -> None:
    (scopes,) = collect(url, cluster_round("flyte", FLYTE_RUN, FLYTE_PODS))
    run, platform, node = scopes["execution"], scopes["platform"], scopes["node"]
    # the run's two pods: (0.5 + 0.25) × 185; 100 + 50 MiB. Not rbf10-n0-0 nor staging's pod.
    assert figures(run) == (0.75 * STEADY, 150 * MIB / GIB, 150 * MIB / GIB)
    assert run.cpu_peak_mcpu == pytest.approx(750, rel=1e-12)
    assert run.samples == 2 * 2 * CADVISOR_SAMPLES  # 2 containers × (memory, cpu)
    assert run.details["kubernetes"] == {"pods_seen": 2, "pods_with_samples": 2, "pods_without_samples": []}
    assert run.details["selector"] == 'namespace="flytesnacks-development",pod=~"rbf1-n0-0|rbf1-n1-0"'
    # namespaces flyte + flytesnacks-development, every pod: flyte-binary, postgres, minio
    # (0.125 + 0.0625 + 0.0625) + this run (0.75) + the other run (1.0) = 2.0 cores;
    # 200 + 64 + 32 + 150 + 1024 = 1470 MiB
    assert figures(platform) == (2.0 * STEADY, 1470 * MIB / GIB, 1470 * MIB / GIB)
    assert platform.samples == 6 * 2 * CADVISOR_SAMPLES
    # node-a only: 0.5 + 0.25 + 0.5 non-idle cores, 8 − 6 GiB
    assert figures(node) == (1.25 * STEADY, 2.0, 2.0)
    assert node.cpu_peak_mcpu == pytest.approx(1250, rel=1e-12)
    assert node.samples == 2 * NODE_SAMPLES
    assert node.details["scope"] == {"nodes": ["node-a"], "label": "nodename"}
    # cAdvisor every 10 s beside node-exporter every 30 s, each found in its own samples
    for metric in ("memory", "cpu_counter"):
        assert run.details["intervals"][metric]["interval_s"] == 10
        assert run.details["intervals"][metric]["source"] == "samples"
        assert node.details["intervals"][metric]["interval_s"] == 30
        assert node.details["intervals"][metric]["source"] == "samples of spacing_query"
    assert node.details["queries"]["memory"].endswith("[780s:30s]")


@pytest.mark.prometheus
def test_a_kfp_runs_scopes_report_the_drivers_seen_without_samples(url: str) -> None:
    (scopes,) = collect(url, cluster_round("kfp", KFP_RUN, KFP_PODS))
    run, platform, node = scopes["execution"], scopes["platform"], scopes["node"]
    # the two executors: (0.5 + 0.25) × 185; 300 + 100 MiB. The drivers add nothing, the other run stays out.
    assert figures(run) == (0.75 * STEADY, 400 * MIB / GIB, 400 * MIB / GIB)
    assert run.missing == {}
    assert run.details["kubernetes"] == {
        "pods_seen": 4,
        "pods_with_samples": 2,
        "pods_without_samples": [f"{WF}-system-container-driver-3333", f"{WF}-system-dag-driver-4444"],
    }
    # all of kubeflow: executors 0.75 + other run 1.0 + ml-pipeline 0.125 + mysql 0.0625 + seaweedfs
    # 0.0625 + workflow-controller 0.125 = 2.125 cores; 300 + 100 + 1024 + 256 + 512 + 128 + 64 = 2384 MiB
    assert figures(platform) == (2.125 * STEADY, 2384 * MIB / GIB, 2384 * MIB / GIB)
    assert platform.details["scope"] == {"namespaces": ["kubeflow"], "pod_regex": None, "pods": None}
    # node-a and node-b: 1.25 + 1.0 cores, 2 + 4 GiB (node-c runs none of the run's pods)
    assert figures(node) == (2.25 * STEADY, 6.0, 6.0)


@pytest.mark.prometheus
def test_without_pods_seen_flyte_falls_back_to_its_name_pattern_and_kfp_has_no_execution_scope(url: str) -> None:
    flyte, kfp = collect(url, cluster_round("flyte", FLYTE_RUN, ()), cluster_round("kfp", KFP_RUN, ()))
    # rbf1-.* is anchored: rbf10-n0-0 stays out, so the figures are those of the exact list
    assert figures(flyte["execution"]) == (0.75 * STEADY, 150 * MIB / GIB, 150 * MIB / GIB)
    assert flyte["execution"].details["scope_note"] == (
        "no pod of the run was seen by Kubernetes; scope is the run's pod name pattern rbf1-.*"
    )
    assert flyte["execution"].details["kubernetes"]["pods_seen"] == 0
    reason = "no pod of the run was seen by Kubernetes, so its pods cannot be named"
    assert kfp["execution"].cpu_seconds is None and kfp["execution"].missing["cpu_seconds"] == reason
    assert kfp["platform"].cpu_seconds == 2.125 * STEADY  # the platform is measured all the same
    assert kfp["node"].missing["memory_peak_gib"] == "no pod of the run was seen on a node"


@pytest.mark.prometheus
def test_a_node_without_node_exporter_data_is_null_not_zero(url: str) -> None:
    lost = (seen(FLYTE_NS, "rbf1-n0-0", "node-gone"),)
    (scopes,) = collect(url, cluster_round("flyte", FLYTE_RUN, lost))
    node = scopes["node"]
    assert node.cpu_seconds is None and node.memory_peak_gib is None
    assert node.missing["cpu_seconds"] == "Prometheus has no cpu_counter data for node(s) node-gone in the window"


def test_an_unreachable_prometheus_gives_null_scopes_with_the_reason() -> None:
    warnings: list[str] = []
    down = f"http://127.0.0.1:{free_port()}"
    measured = plan(down)
    rounds = [cluster_round("flyte", FLYTE_RUN, FLYTE_PODS), cluster_round("flyte", FLYTE_RUN, FLYTE_PODS)]
    first, second = measured.collect(rounds, warnings.append)
    refused = f"metric memory: cannot reach Prometheus at {down} (Connection refused)"  # the execution scope's first
    skipped = f"not measured: Prometheus was skipped for the rest of the run after a request failed ({refused})"
    for result in (first, second):
        assert sorted(result.resources) == ["execution", "node", "platform"]
        for stats in result.resources.values():
            assert stats.cpu_seconds is None and stats.memory_peak_gib is None
    # The first refused request opens the breaker: every later scope and round asks nothing.
    assert [first.resources[s].missing["cpu_seconds"] for s in ("execution", "platform", "node")] == [
        refused,
        skipped,
        skipped,
    ]
    assert {s.missing["cpu_seconds"] for s in second.resources.values()} == {skipped}
    assert warnings == [
        f"Prometheus resources are missing: {refused}; the rest of the run skips this Prometheus (null figures)"
    ]
    assert measured.run_level()["skipped"] == refused


def test_rounds_without_a_run_or_window_are_left_alone() -> None:
    refused = dataclasses.replace(cluster_round("flyte", FLYTE_RUN, ()), run=None, ok=False, error="submit failed")
    out = plan(f"http://127.0.0.1:{free_port()}").collect([refused], pytest.fail)
    assert out == [refused]


@pytest.mark.prometheus
def test_a_user_inventory_narrows_the_platform_scope(url: str, tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("flyte:\n  namespaces: [flyte]\n  pod_regex: flyte-binary-.*|postgres-.*\n")
    custom = dataclasses.replace(plan(url, nodes=False), inventory=load_inventory(path, registry.cluster_names()))
    (result,) = custom.collect([cluster_round("flyte", FLYTE_RUN, FLYTE_PODS)], pytest.fail)
    # flyte-binary 0.125 + postgres 0.0625 cores; 200 + 64 MiB (minio does not match the regex)
    assert figures(result.resources["platform"]) == (0.1875 * STEADY, 264 * MIB / GIB, 264 * MIB / GIB)
    assert "node" not in result.resources
    level = custom.run_level()
    assert level["inventory"]["platforms"]["flyte"]["pod_regex"] == "flyte-binary-.*|postgres-.*"
    assert level["scopes"] == ["execution", "platform"] and level["node_profile"] is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flyte: {namespaces: []}\n", "platform 'flyte': 'namespaces' must be a non-empty list"),
        ("argo: {namespaces: [argo]}\n", "platform 'argo': unknown platform; choose from flyte, kfp"),
        ("kfp: {namespaces: [kubeflow], pods: x}\n", "platform 'kfp': unknown key 'pods'"),
        ("kfp: {namespaces: [kubeflow], pod_regex: '(?!x)'}\n", "lookaround or a backreference"),
        ("kfp: [kubeflow]\n", "platform 'kfp': expected a mapping with 'namespaces'"),
        ("- flyte\n", "expected a mapping of platform name"),
    ],
)
def test_a_bad_inventory_names_the_file_and_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    with pytest.raises(BenchError) as caught:
        load_inventory(path, registry.cluster_names())
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_default_inventory_and_a_missing_platform() -> None:
    inventory = load_inventory(None, registry.cluster_names())
    assert inventory.of("flyte").namespaces == ("flyte", "flytesnacks-development")
    assert inventory.of("kfp").namespaces == ("kubeflow",)
    only_flyte = parse_inventory({"flyte": {"namespaces": ["flyte"]}}, "mine.yaml", registry.cluster_names())
    with pytest.raises(BenchError, match="mine.yaml: the platform inventory has no entry 'kfp'"):
        only_flyte.of("kfp")


def test_from_options_loads_everything_at_start_up(tmp_path: Path) -> None:
    assert (
        ClusterPrometheusPlan.from_options(
            url=None, profile=None, scrape_interval=30, insecure_skip_verify=False, inventory=None, nodes=True
        )
        is None
    )
    with pytest.raises(BenchError, match="cannot read the platform inventory"):
        ClusterPrometheusPlan.from_options(
            url="http://p:9090",
            profile=None,
            scrape_interval=30,
            insecure_skip_verify=False,
            inventory=str(tmp_path / "none.yaml"),
            nodes=False,
        )
    made = ClusterPrometheusPlan.from_options(
        url="http://user:pw@p:9090",
        profile=None,
        scrape_interval="15",
        insecure_skip_verify=False,
        inventory=None,
        nodes=True,
    )
    assert made is not None and made.node_settings is not None
    assert made.node_settings.profile.name == "node-exporter" and made.settings.scrape_interval_s == 15
    level = made.run_level()
    assert "pw" not in str(level) and level["scopes"] == ["execution", "platform", "node"]
