"""The fairness manifest against the Kubernetes API stand-in (tests/k8s_standin.py: nodes and
deployments as the apiserver lists them) and the flyteadmin / KFP API stand-ins
(tests/platform_standins.py), with objects chosen here; the warnings asserted word for word."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.cluster.endpoints import ClusterEndpoints
from retrain_bench.cluster.kube import Kube, KubeTarget
from retrain_bench.cluster.manifest import collect_manifest, fairness_warnings, image_tag
from retrain_bench.cluster.options import parse_cluster_options
from retrain_bench.cluster.settings import RemoteSettings, TaskResources
from retrain_bench.options import cluster_sides, parse_cluster_side_options
from retrain_bench.platforms import registry
from tests.k8s_standin import TOKEN, KubeStandin
from tests.platform_standins import flyteadmin, kfp_api, kfp_ui
from tests.prometheus import free_port

ARGO_IMAGE = "quay.io/argoproj/workflow-controller:v4.0.5@sha256:" + "ab" * 32
SETTINGS = RemoteSettings(image="retrain-bench-task:0.1.0", resources=TaskResources("1", "1Gi"))


@pytest.fixture
def standin() -> Iterator[KubeStandin]:
    with KubeStandin() as server:
        server.add_node("worker-a", instance_type="m5.xlarge", allocatable=("3800m", "15500000Ki"))
        server.add_node("worker-b", instance_type="c5.2xlarge", cpu="8", memory="16000000Ki", kubelet="v1.30.2")
        server.add_node("control-plane", instance_type=None, cpu="2", memory="8000000Ki")
        server.add_deployment(
            "flyte",
            "flyte-binary",
            {"flyte": "cr.flyte.org/flyteorg/flyte-binary-release:v1.16.8"},
            {CHART: "flyte-binary-v1.16.8", VERSION: "1.16.8", "app.kubernetes.io/name": "flyte-binary"},
            replicas=2,
            requests={"flyte": {"cpu": "250m", "memory": "512Mi"}},
        )
        server.add_deployment("flyte", "postgres", {"postgres": "postgres:15"}, {"app": "postgres"})
        server.add_deployment(
            "kubeflow", "ml-pipeline", {"ml-pipeline-api-server": "ghcr.io/kubeflow/kfp-api-server:2.17.0"},
            {"application-crd-id": "kubeflow-pipelines"},
        )  # fmt: skip
        server.add_deployment("kubeflow", "workflow-controller", {"workflow-controller": ARGO_IMAGE}, {})
        yield server


CHART, VERSION = "helm.sh/chart", "app.kubernetes.io/version"


def options(**given: Any) -> dict[str, Any]:
    """The option values (by dest name) the cluster options and the cluster sides' own are parsed from."""
    return {
        "kubeconfig": None, "kube_context": None, "connect_timeout": 3, "flyte_endpoint": None,
        "flyte_service": "flyte/flyte-binary-grpc:8089", "flyte_insecure": False, "flyte_config": None,
        "flyte_project": "flytesnacks", "flyte_domain": "development", "flyte_namespace": None,
        "kfp_host": None, "kfp_token_file": None, "kfp_ui_url": None, "kfp_service": "kubeflow/ml-pipeline:8888",
        "kfp_insecure_skip_verify": False,
        "kfp_token_env": None, "kfp_namespace": "kubeflow", "kfp_experiment": "retrain-bench", "prometheus_url": None,
        "prometheus_service": "monitoring/prometheus-operated:9090", **given,
    }  # fmt: skip


def manifest_of(standin: KubeStandin, tmp_path: Path, platform: str, values: dict[str, Any], **kw: Any) -> dict:
    target = KubeTarget(str(standin.kubeconfig(tmp_path / "kubeconfig")), None, 3.0)
    cluster = parse_cluster_options(values.__getitem__)
    own = parse_cluster_side_options(values.__getitem__)[platform]
    side = cluster_sides()[platform]
    with Kube(target) as kube, ClusterEndpoints(cluster, kube) as endpoints:
        manifest = collect_manifest(
            kube,
            platform,
            settings=kw.pop("settings", SETTINGS),
            namespaces=side.namespaces(own),
            control_plane=side.control_plane(endpoints, own),
            sdks=registry.sdk_distributions(registry.cluster_names()),
            **kw,
        )
    text = json.dumps(manifest, allow_nan=False)  # JSON-ready as it is
    assert TOKEN not in text
    return manifest


def node(name: str, kind: str | None, cpu: str, memory: str, alloc: tuple[str, str], kubelet: str) -> dict[str, Any]:
    return {
        "name": name,
        "instance_type": kind,
        "kubelet_version": kubelet,
        "os_image": "Debian GNU/Linux 12 (bookworm)",
        "capacity": {"cpu": cpu, "memory": memory},
        "allocatable": {"cpu": alloc[0], "memory": alloc[1]},
    }


WORKER_A = node("worker-a", "m5.xlarge", "4", "16303360Ki", ("3800m", "15500000Ki"), "v1.30.0")
WORKER_B = node("worker-b", "c5.2xlarge", "8", "16000000Ki", ("8", "16000000Ki"), "v1.30.2")
CONTROL = node("control-plane", None, "2", "8000000Ki", ("2", "8000000Ki"), "v1.30.0")


def test_flyte_manifest_on_the_nodes_its_pods_ran_on(standin: KubeStandin, tmp_path: Path) -> None:
    with flyteadmin("v1.16.8") as admin:
        got = manifest_of(
            standin, tmp_path, "flyte", options(flyte_endpoint=admin, flyte_insecure=True), node_names={"worker-a"}
        )
    sdk = got.pop("sdk")
    assert sdk["flytekit"].startswith("1.16.") and sdk["kfp"].startswith("2.17.")
    assert sdk["kubernetes"].startswith("30.") and sdk["python"].startswith("3.11.")
    assert got == {
        "platform": "flyte",
        "kubernetes": {"context": "standin", "server": standin.url, "version": "v1.30.0-standin"},
        "nodes_scope": "pods",
        "nodes": [WORKER_A],
        "versions": {"flyteadmin": "v1.16.8"},
        "charts": [{"chart": "flyte-binary-v1.16.8", "app_version": "1.16.8"}],
        "deployments": {
            "flyte/flyte-binary": {
                "chart": "flyte-binary-v1.16.8",
                "app_version": "1.16.8",
                "images": ["cr.flyte.org/flyteorg/flyte-binary-release:v1.16.8"],
                "replicas": 2,
                # 2 replicas × 250m = 0.5 cores; 2 × 512Mi = 1 GiB
                "requests": {"cpu": 0.5, "memory_gib": 1.0},
            },
            "flyte/postgres": {
                "chart": None,
                "app_version": None,
                "images": ["postgres:15"],
                "replicas": 1,
                "requests": {"cpu": 0.0, "memory_gib": 0.0},  # states no requests
            },
        },
        "control_plane_requests": {"cpu": 0.5, "memory_gib": 1.0},
        # no task Python: nothing reports it (issue 24 item 5), so the manifest claims none
        "task": {"image": "retrain-bench-task:0.1.0", "resources": {"cpu": "1", "memory": "1Gi"}},
        "runner": {},
        "missing": {},
    }


def test_kfp_manifest_reads_argo_from_its_controller_and_all_nodes(standin: KubeStandin, tmp_path: Path) -> None:
    with kfp_api(tag_name="2.17.0") as kfp:
        got = manifest_of(standin, tmp_path, "kfp", options(kfp_host=kfp), runner_facts={"python": "3.11.9"})
    assert got["nodes_scope"] == "all"
    assert got["nodes"] == [CONTROL, WORKER_A, WORKER_B]  # sorted by name
    assert got["versions"] == {"kfp_api": "2.17.0", "argo": "v4.0.5"}
    assert got["charts"] is None
    assert got["deployments"]["kubeflow/workflow-controller"]["images"] == [ARGO_IMAGE]
    assert "python" not in got["task"]  # a runner's fact stays the runner's, not a claim about the tasks
    assert got["runner"] == {"python": "3.11.9"}
    assert got["missing"] == {
        "charts": "no deployment in kubeflow carries a helm.sh/chart label (not installed with helm)"
    }


def test_what_cannot_be_read_is_null_with_a_reason(standin: KubeStandin, tmp_path: Path) -> None:
    standin.forbidden = {"nodes"}
    del standin.objects["deployments", "kubeflow", "workflow-controller"]
    with kfp_api() as kfp:  # a healthz without tag_name
        got = manifest_of(standin, tmp_path, "kfp", options(kfp_host=kfp), node_names={"worker-a"})
    assert got["nodes"] is None
    assert got["versions"] == {"kfp_api": None, "argo": None}
    missing = got["missing"]
    assert missing["nodes"].startswith("forbidden to list nodes in context standin: nodes is forbidden")
    assert missing["versions.kfp_api"] == "the KFP API reports no tag_name (its TAG_NAME is unset)"
    assert missing["versions.argo"] == "no deployment kubeflow/workflow-controller"
    standin.forbidden = {"deployments"}
    dead = f"127.0.0.1:{free_port()}"
    got = manifest_of(standin, tmp_path, "flyte", options(flyte_endpoint=dead, flyte_insecure=True, connect_timeout=1))
    assert (got["deployments"], got["charts"]) == (None, None)
    assert got["missing"]["deployments"].startswith("forbidden to list deployments in flyte in context standin: ")
    assert got["missing"]["charts"] == "the deployments could not be read: " + got["missing"]["deployments"]
    assert got["versions"] == {"flyteadmin": None}
    assert got["missing"]["versions.flyteadmin"]  # grpc's own one-line detail, e.g. "failed to connect"
    assert "\n" not in got["missing"]["versions.flyteadmin"]


def test_a_node_that_is_gone_is_named(standin: KubeStandin, tmp_path: Path) -> None:
    with kfp_api(tag_name="2.17.0") as kfp:
        got = manifest_of(standin, tmp_path, "kfp", options(kfp_host=kfp), node_names={"worker-b", "worker-z"})
    assert got["nodes"] == [WORKER_B]
    assert got["missing"]["nodes"] == "not among the cluster's nodes any more: worker-z"


def test_image_tag() -> None:
    assert image_tag(ARGO_IMAGE) == "v4.0.5"
    assert image_tag("localhost:5000/argo/workflow-controller") is None
    assert image_tag("localhost:5000/workflow-controller:v3.5.14") == "v3.5.14"


# -- warnings ---------------------------------------------------------------------------------------


def manifest(platform: str, nodes: list[dict[str, Any]] | None, image: str, cpu: str, python: str | None) -> dict:
    """A manifest; ``python`` is what a runner might report among its facts: never compared (issue 24 item 5)."""
    return {
        "platform": platform,
        "nodes": copy.deepcopy(nodes),
        "task": {"image": image, "resources": {"cpu": cpu, "memory": "1Gi"}},
        "runner": {"python": python},
    }


def test_like_for_like_platforms_get_no_warning() -> None:
    flyte = manifest("flyte", [WORKER_A], "bench:1", "1", "3.11.9")
    kfp = manifest("kfp", [WORKER_A], "bench:1", "1", "3.11.9")
    assert fairness_warnings([flyte, kfp]) == []
    assert fairness_warnings([flyte]) == []


def test_every_difference_is_one_warning() -> None:
    flyte = manifest("flyte", [WORKER_A], "bench:1", "1", "3.11.9")
    kfp = manifest("kfp", [WORKER_B, WORKER_A], "bench-kfp:1", "500m", "3.12.4")
    assert fairness_warnings([flyte, kfp]) == [
        "the platforms ran on different node types (flyte on m5.xlarge; kfp on c5.2xlarge, m5.xlarge): "
        "node speed shows up as platform speed",
        "different task images (flyte: bench:1, kfp: bench-kfp:1): the comparison is not like for like",
        "different task resources (flyte: cpu 1, memory 1Gi, kfp: cpu 500m, memory 1Gi): "
        "the comparison is not like for like",
    ]


def test_unknowns_are_not_compared_and_unlabelled_nodes_compare_by_capacity() -> None:
    flyte = manifest("flyte", None, "bench:1", "1", None)
    kfp = manifest("kfp", [WORKER_B], "bench:1", "1", "3.12.4")
    assert fairness_warnings([flyte, kfp]) == []
    small = manifest("flyte", [CONTROL], "bench:1", "1", None)
    same = manifest("kfp", [dict(CONTROL, name="other-control-plane")], "bench:1", "1", None)
    assert fairness_warnings([small, same]) == []
    assert fairness_warnings([small, kfp]) == [
        "the platforms ran on different node types (flyte on 2 CPU/8000000Ki memory (no "
        "node.kubernetes.io/instance-type label); kfp on c5.2xlarge): node speed shows up as platform speed"
    ]


def test_kfp_version_through_the_ui_is_the_api_servers(standin: KubeStandin, tmp_path: Path) -> None:
    # The UI's healthz has no tag_name, only apiServerTagName (frontend/server/handlers/healthz.ts):
    # reading tag_name there left versions.kfp_api null on every UI-fronted install.
    with kfp_api(tag_name="2.17.0") as api, kfp_ui(api) as ui:
        got = manifest_of(standin, tmp_path, "kfp", options(kfp_host=ui))
    assert got["versions"]["kfp_api"] == "2.17.0"
