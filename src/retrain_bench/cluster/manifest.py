"""The fairness manifest: what each platform's numbers rest on, recorded beside them.

Per platform: the Kubernetes version, the nodes its pods ran on (all nodes when that is not known),
the control plane's versions, the charts and images of its deployments, the SDKs of the harness,
and the image and resources its tasks got. Whatever cannot be read is ``null`` with the reason in
``missing`` (dotted key -> reason), as in a round's record. Nothing here carries a credential: the
API server URL is redacted, and only labels, images and versions are read.

``fairness_warnings`` compares the manifests of the platforms of one run.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform as _platform
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from retrain_bench.cluster.kube import Kube, status_message
from retrain_bench.cluster.settings import RemoteSettings
from retrain_bench.errors import BenchError
from retrain_bench.measure.quantities import requested

INSTANCE_TYPE = "node.kubernetes.io/instance-type"
CHART = "helm.sh/chart"
APP_VERSION = "app.kubernetes.io/version"


@dataclasses.dataclass(frozen=True)
class ControlPlane:
    """What the manifest asks of one platform's control plane (its cluster side says how)."""

    #: the manifest's ``versions`` key of the control plane's own version
    key: str
    #: asks its API for that version when the manifest is collected
    version: Callable[[], str]
    #: deployments whose image tag is a version: versions key -> ``<namespace>/<deployment>``
    #: (e.g. the workflow engine underneath)
    engines: Mapping[str, str] = dataclasses.field(default_factory=dict)


def collect_manifest(
    kube: Kube,
    platform: str,
    *,
    settings: RemoteSettings,
    namespaces: Sequence[str],
    control_plane: ControlPlane,
    sdks: Sequence[str],
    node_names: Collection[str] | None = None,
    runner_facts: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of one platform. ``namespaces``: where its deployments live (its inventory's);
    ``control_plane``: what its cluster side says to ask; ``sdks``: the distributions of the client
    side (every cluster platform's SDK); ``node_names``: the nodes its pods ran on, when the pod watch
    saw them; ``runner_facts``: what its runner's ``prepare()`` reported. The tasks' Python is not
    recorded: no runner and no task reports it (the image, named in ``task.image``, decides it)."""
    missing: dict[str, str] = {}
    facts = dict(runner_facts or {})

    def attempt(key: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - every failure is one item's null with its reason
            missing[key] = _reason(exc)
            return None

    deployments = attempt("deployments", lambda: _deployments(kube, namespaces)) or {}
    nodes, scope = _nodes(kube, node_names, missing)
    unread = "the deployments could not be read: " + missing["deployments"] if "deployments" in missing else None
    versions: dict[str, Any] = {control_plane.key: attempt(f"versions.{control_plane.key}", control_plane.version)}
    for key, deployment in control_plane.engines.items():
        versions[key] = _engine(deployments, deployment, key, missing) if unread is None else None
        if unread is not None:
            missing[f"versions.{key}"] = unread
    charts = sorted({(d["chart"], d["app_version"]) for d in deployments.values() if d["chart"]})
    if not charts:
        missing["charts"] = unread or (
            f"no deployment in {', '.join(namespaces)} carries a {CHART} label (not installed with helm)"
        )
    return {
        "platform": platform,
        "kubernetes": {
            "context": kube.context,
            "server": kube.server,
            "version": attempt("kubernetes.version", kube.version),
        },
        "nodes_scope": scope,
        "nodes": nodes,
        "versions": versions,
        "charts": [{"chart": c, "app_version": v} for c, v in charts] or None,
        "deployments": deployments if "deployments" not in missing else None,
        # requests of the deployments in the platform's namespaces (StatefulSets, e.g. a database
        # installed as one, are not counted): the always-on part that allocation cost amortises
        "control_plane_requests": control_plane_requests(deployments) if "deployments" not in missing else None,
        "sdk": {**{name: _version(name) for name in (*sdks, "kubernetes")}, "python": _platform.python_version()},
        "task": {"image": settings.image, "resources": settings.resources.as_dict()},
        "runner": facts,
        "missing": missing,
    }


def _reason(exc: BaseException) -> str:
    """One line: our errors say what to do; gRPC errors have details(); others only their class
    (their text may quote a URL with credentials)."""
    if isinstance(exc, BenchError):
        return str(exc).splitlines()[0][:300]
    if isinstance(exc, ApiException):
        return f"the API server answered {status_message(exc)}"
    details = getattr(exc, "details", None)
    if callable(details) and details():
        return str(details()).splitlines()[0][:300]
    return type(exc).__name__


def _nodes(
    kube: Kube, names: Collection[str] | None, missing: dict[str, str]
) -> tuple[list[dict[str, Any]] | None, str]:
    scope = "pods" if names else "all"
    try:
        items = kube.call("list nodes", lambda: kube.core().list_node(**kube.opts())).items
    except Exception as exc:  # noqa: BLE001 - nodes are one item of the manifest
        missing["nodes"] = _reason(exc)
        return None, scope
    found = [_node(n) for n in items if not names or n.metadata.name in names]
    unseen = sorted(set(names or ()) - {n["name"] for n in found})
    if unseen:
        missing["nodes"] = f"not among the cluster's nodes any more: {', '.join(unseen)}"
    return sorted(found, key=lambda n: str(n["name"])), scope


def _node(node: k8s.V1Node) -> dict[str, Any]:
    labels = node.metadata.labels or {}
    status = node.status
    info = status.node_info if status else None
    capacity, allocatable = (status.capacity or {}, status.allocatable or {}) if status else ({}, {})
    return {
        "name": node.metadata.name,
        "instance_type": labels.get(INSTANCE_TYPE),
        "kubelet_version": info.kubelet_version if info else None,
        "os_image": info.os_image if info else None,
        "capacity": {"cpu": capacity.get("cpu"), "memory": capacity.get("memory")},
        "allocatable": {"cpu": allocatable.get("cpu"), "memory": allocatable.get("memory")},
    }


def _deployments(kube: Kube, namespaces: Sequence[str]) -> dict[str, dict[str, Any]]:
    apps = k8s.AppsV1Api(kube.client)
    found: dict[str, dict[str, Any]] = {}
    for namespace in dict.fromkeys(namespaces):
        listed = kube.call(
            f"list deployments in {namespace}", lambda ns=namespace: apps.list_namespaced_deployment(ns, **kube.opts())
        )
        for item in listed.items:
            labels = item.metadata.labels or {}
            containers = item.spec.template.spec.containers if item.spec and item.spec.template.spec else []
            replicas = item.spec.replicas if item.spec and item.spec.replicas is not None else 1
            found[f"{namespace}/{item.metadata.name}"] = {
                "chart": labels.get(CHART),
                "app_version": labels.get(APP_VERSION),
                "images": [c.image for c in containers],
                "replicas": replicas,
                "requests": {
                    # unstated requests count 0: the deployment holds nothing it did not ask for
                    "cpu": replicas * (requested(containers, "cpu", 1.0) or 0.0),
                    "memory_gib": replicas * (requested(containers, "memory", float(1024**3)) or 0.0),
                },
            }
    return dict(sorted(found.items()))


def control_plane_requests(deployments: Mapping[str, Mapping[str, Any]] | None) -> dict[str, float] | None:
    """What the platform's always-on deployments request together: cores and GiB."""
    if not deployments:
        return None
    return {
        "cpu": sum(d["requests"]["cpu"] for d in deployments.values()),
        "memory_gib": sum(d["requests"]["memory_gib"] for d in deployments.values()),
    }


def _engine(
    deployments: Mapping[str, Mapping[str, Any]], key: str, version: str, missing: dict[str, str]
) -> str | None:
    """The image tag of deployment ``key`` (``<namespace>/<name>``): the version of what it runs."""
    controller = deployments.get(key)
    if controller is None:
        missing[f"versions.{version}"] = f"no deployment {key}"
        return None
    for image in controller["images"]:
        tag = image_tag(image)
        if tag:
            return tag
    missing[f"versions.{version}"] = f"the image of {key} has no tag"
    return None


def image_tag(image: str) -> str | None:
    """``v3.5.14`` from ``quay.io/argoproj/workflow-controller:v3.5.14[@sha256:...]``; None without a tag."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


# -- comparing the platforms ----------------------------------------------------------------------


def fairness_warnings(manifests: Sequence[Mapping[str, Any]]) -> list[str]:
    """What differs between the platforms beyond the platform itself, one line each. Unknown
    values (null) are not compared: the manifest says why they are missing."""
    if len(manifests) < 2:
        return []
    warnings = []
    shapes = {str(m["platform"]): _node_shapes(m) for m in manifests}
    known = {p: s for p, s in shapes.items() if s is not None}
    if len(known) > 1 and len({frozenset(s) for s in known.values()}) > 1:
        ran = "; ".join(f"{p} on {', '.join(sorted(s))}" for p, s in known.items())
        warnings.append(f"the platforms ran on different node types ({ran}): node speed shows up as platform speed")
    for what, get in (
        ("task images", lambda m: m["task"]["image"]),
        ("task resources", lambda m: _resources(m["task"]["resources"])),
    ):
        values = {str(m["platform"]): get(m) for m in manifests}
        present = {p: v for p, v in values.items() if v is not None}
        if len(present) > 1 and len(set(present.values())) > 1:
            listed = ", ".join(f"{p}: {v}" for p, v in present.items())
            warnings.append(f"different {what} ({listed}): the comparison is not like for like")
    return warnings


def _node_shapes(manifest: Mapping[str, Any]) -> set[str] | None:
    """Instance types; a node without the label is described by its capacity instead."""
    nodes = manifest.get("nodes")
    if not nodes:
        return None
    return {
        n["instance_type"] or f"{n['capacity']['cpu']} CPU/{n['capacity']['memory']} memory (no {INSTANCE_TYPE} label)"
        for n in nodes
    }


def _resources(resources: Mapping[str, str]) -> str:
    return f"cpu {resources['cpu']}, memory {resources['memory']}"
