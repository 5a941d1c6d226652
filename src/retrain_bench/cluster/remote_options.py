"""The options of remote runs (what the tasks get, how often we poll, which cluster each platform
uses), validated once into ``RemoteOptions``; and the rule that parallel platforms need separate
clusters.

The kubeconfig file and base context (``--kubeconfig``, ``--kube-context``) belong to the cluster
options (``retrain_bench.cluster.options``), and each platform's own options (a project, an
experiment, a namespace) to its cluster side: they are read through the same ``get`` and never
registered twice. Which platforms run on a cluster is given by the caller (the registry sits above).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from retrain_bench.cluster.errors import KubeconfigError
from retrain_bench.cluster.settings import RemoteSettings, SideOptions, TaskResources
from retrain_bench.errors import BenchError
from retrain_bench.measure.quantities import quantity_value

DEFAULT_TASK_CPU = "1"
DEFAULT_TASK_MEMORY = "1Gi"
DEFAULT_POLL_INTERVAL_S = 1.0
#: Below this a task cannot import pandas, scikit-learn and its SDK: it would be OOM-killed, not measured.
MIN_TASK_MEMORY_BYTES = 128 * 2**20


def package_version() -> str:
    try:
        return importlib.metadata.version("retrain-bench")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


def default_task_image() -> str:
    """The image ``docker/task.Dockerfile`` builds, tagged with this package's version."""
    return f"retrain-bench-task:{package_version()}"


def add_remote_options(add: Callable[..., Any], sides: Mapping[str, str]) -> None:
    """Register the options on a pytest option group or an argparse parser (same spelling). ``sides``:
    every platform that runs on a cluster, name -> label; each gets ``--<name>-image`` and
    ``--<name>-kube-context``. A platform's own options are its cluster side's (``add_options``)."""
    add("--task-cpu", default=DEFAULT_TASK_CPU, metavar="QUANTITY", help="CPU request = limit of every task (500m, 1)")
    add("--task-memory", default=DEFAULT_TASK_MEMORY, metavar="QUANTITY", help="memory request = limit (512Mi, 1Gi)")
    add("--task-image", default=None, metavar="IMAGE", help="the image every platform's tasks run (docker/)")
    for name, label in sides.items():
        add(f"--{name}-image", default=None, metavar="IMAGE", help=f"{label}'s task image. Default: --task-image")
    add(
        "--poll-interval",
        default=None,
        metavar="SECONDS",
        help="status polls of a run. Default: 1 on a cluster, 0.25 on the server target",
    )
    add("--cooldown", default=None, metavar="SECONDS", help="pause between rounds. Default: rate window + scrape")
    add("--cleanup", dest="cleanup", action="store_true", default=True, help="archive what the suite created (default)")
    add("--no-cleanup", dest="cleanup", action="store_false", help="keep the runs the suite created")
    add("--platform-inventory", default=None, metavar="FILE", help="replaces the built-in per-platform inventory")
    for name, label in sides.items():
        add(
            f"--{name}-kube-context",
            default=None,
            metavar="NAME",
            help=f"{label}'s cluster. Default: --kube-context",
        )
    add(
        "--allow-shared-cluster",
        action="store_true",
        help="let parallel platforms share one cluster (their measurements then contaminate each other)",
    )
    add(
        "--node-resources",
        action="store_true",
        help="also measure the nodes the run's pods ran on (node-exporter series)",
    )


@dataclasses.dataclass(frozen=True)
class RemoteOptions:
    resources: TaskResources
    task_image: str
    #: per platform; equal to ``task_image`` unless overridden
    images: Mapping[str, str]
    poll_interval_s: float
    cooldown_s: float
    cleanup: bool
    platform_inventory: str | None
    #: per platform; None means the kubeconfig's current context
    kube_contexts: Mapping[str, str | None]
    allow_shared_cluster: bool
    #: per platform that runs on a cluster: its own options, as its cluster side parsed them
    platform_options: Mapping[str, SideOptions] = dataclasses.field(default_factory=dict)

    def image_for(self, platform: str) -> str:
        return self.images[platform]

    def kube_context_for(self, platform: str) -> str | None:
        return self.kube_contexts[platform]

    def settings_for(self, platform: str) -> RemoteSettings:
        if platform not in self.images:
            raise BenchError(
                f"--platform: {platform!r} does not run on a cluster; choose from {', '.join(self.images)}"
            )
        return RemoteSettings(
            image=self.image_for(platform), resources=self.resources, options=self.platform_options.get(platform)
        )

    def warnings(self) -> list[str]:
        """What makes the comparison unfair or a run likely to fail, one line each."""
        notes = []
        if len(set(self.images.values())) > 1:
            notes.append(
                "the platforms run different task images ("
                + ", ".join(f"{p}: {image}" for p, image in self.images.items())
                + "): differences in Python, libraries or image size show up as platform differences"
            )
        for image in dict.fromkeys(self.images.values()):
            if _tag(image) in (None, "latest"):
                notes.append(
                    f"task image {image} has no tag or :latest, so Kubernetes pulls it on every pod "
                    "(imagePullPolicy Always): an image loaded with `kind load docker-image` is then not used"
                )
        return notes

    def as_json(self) -> dict[str, Any]:
        """For the run's top-level JSON: what every round ran with."""
        return {
            "resources": self.resources.as_dict(),
            "images": dict(self.images),
            "poll_interval_s": self.poll_interval_s,
            "cooldown_s": self.cooldown_s,
            "cleanup": self.cleanup,
            # each platform's own (a project, an experiment, a namespace), under the keys it chose
            **{key: value for options in self.platform_options.values() for key, value in options.as_json().items()},
            "kube_contexts": dict(self.kube_contexts),
            "allow_shared_cluster": self.allow_shared_cluster,
        }


def parse_remote_options(
    get: Callable[[str], Any],
    platform_options: Mapping[str, SideOptions],
    *,
    scrape_interval_s: float,
    rate_window_s: float,
) -> RemoteOptions:
    """Validate the options (``get`` reads one by its dest name, the cluster options' too); BenchError
    naming the bad one. ``platform_options``: every platform that runs on a cluster, with its own
    options as its cluster side parsed them. The default cooldown lets the last round's CPU rate
    window and one more scrape pass, so a round's peak never includes the previous round's tail."""
    task_image = _image("--task-image", get("task_image") or default_task_image())
    images = {
        platform: _image(f"--{platform}-image", get(f"{platform}_image")) if get(f"{platform}_image") else task_image
        for platform in platform_options
    }
    cooldown = get("cooldown")
    inventory = get("platform_inventory")
    if inventory and not os.path.isfile(inventory):
        raise BenchError(f"--platform-inventory: {inventory} is not a file; pass a YAML inventory or leave it out")
    base_context = get("kube_context")
    return RemoteOptions(
        resources=TaskResources(
            cpu=cpu_quantity("--task-cpu", get("task_cpu")), memory=memory_quantity("--task-memory", get("task_memory"))
        ),
        task_image=task_image,
        images=images,
        poll_interval_s=_seconds(
            "--poll-interval",
            DEFAULT_POLL_INTERVAL_S if get("poll_interval") is None else get("poll_interval"),
            low=0.01,
            allow_zero=False,
        ),
        cooldown_s=(
            scrape_interval_s + rate_window_s if cooldown is None else _seconds("--cooldown", cooldown, allow_zero=True)
        ),
        cleanup=bool(get("cleanup")),
        platform_inventory=inventory,
        kube_contexts={p: get(f"{p}_kube_context") or base_context for p in platform_options},
        allow_shared_cluster=bool(get("allow_shared_cluster")),
        platform_options=dict(platform_options),
    )


# -- Kubernetes quantities ------------------------------------------------------------------------


def cpu_quantity(option: str, raw: Any) -> str:
    text = str(raw).strip()
    value = quantity_value(text)
    if value is None:
        raise BenchError(
            f"{option}: {raw!r} is not a Kubernetes CPU quantity; write cores (1, 1.5) or millicores (500m)"
        )
    if value < Decimal("0.001") or value != value.quantize(Decimal("0.001")):
        raise BenchError(f"{option}: {raw!r} must be a whole number of millicores, at least 1m (e.g. 500m)")
    return text


def memory_quantity(option: str, raw: Any) -> str:
    text = str(raw).strip()
    value = quantity_value(text)
    if value is None:
        raise BenchError(f"{option}: {raw!r} is not a Kubernetes memory quantity; write e.g. 512Mi, 1Gi or 1G")
    if value < MIN_TASK_MEMORY_BYTES:
        hint = " ('m' means milli, not mega: write Mi)" if text.endswith("m") else ""
        raise BenchError(f"{option}: {raw!r} is below 128Mi, too little for a task to import its libraries{hint}")
    return text


# -- other values ---------------------------------------------------------------------------------

# A Docker image reference: [registry[:port]/]path[:tag][@digest], path components lowercase; a first
# component is a registry only with a dot, a port or as localhost (as docker reads it).
_IMAGE = re.compile(
    r"^(?:(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::[0-9]+)?/|[A-Za-z0-9-]+:[0-9]+/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _image(option: str, raw: Any) -> str:
    text = str(raw).strip()
    if not _IMAGE.match(text):
        raise BenchError(f"{option}: {raw!r} is not an image reference; write e.g. retrain-bench-task:0.1.0")
    return text


def _tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ("digest" if "@" in image else None)


def _seconds(option: str, raw: Any, *, low: float = 0.0, allow_zero: bool) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise BenchError(f"{option}: {raw!r} is not a number of seconds") from None
    if value != value or value > 3600 or (value < low and not (allow_zero and value == 0)):
        bound = f"0 or between {low:g} and 3600" if allow_zero and low else f"between {low:g} and 3600"
        raise BenchError(f"{option}: {raw!r} must be {bound} seconds")
    return value


def dns_label(option: str, raw: Any) -> str:
    """A name that becomes (part of) a namespace: a DNS label, like namespaces."""
    text = str(raw or "").strip()
    if not _DNS_LABEL.match(text):
        raise BenchError(f"{option}: {raw!r} is not a lowercase DNS label (letters, digits, '-'; e.g. flytesnacks)")
    return text


def nonempty_text(option: str, raw: Any) -> str:
    text = str(raw or "").strip()
    if not text:
        raise BenchError(f"{option}: must not be empty")
    return text


# -- one cluster per platform ---------------------------------------------------------------------


def cluster_server(kubeconfig: str | None, context: str | None) -> str:
    """The API server URL (credentials removed) a kubeconfig context points at, read from the file
    alone: no credentials plugin runs and nothing goes over the network."""
    from kubernetes.config.kube_config import KubeConfigMerger

    from retrain_bench.cluster.kube import KubeTarget

    target = KubeTarget(kubeconfig, context)
    path = target.kubeconfig_path()
    if not target.has_kubeconfig():
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
        if host and port and not kubeconfig and not context:  # in a pod: the service account's cluster (kube.py)
            return _normalise(f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}")
        raise KubeconfigError(f"no kubeconfig at {path}: pass --kubeconfig or set KUBECONFIG")
    try:
        config = KubeConfigMerger(path).config
        contexts, current = config["contexts"], config["current-context"] if context is None else context
    except Exception:  # noqa: BLE001 - yaml and loader errors can quote the file: say nothing of it
        raise KubeconfigError(
            f"kubeconfig {path} is not a valid kubeconfig (YAML with contexts and clusters): "
            "check `kubectl config view`"
        ) from None
    try:
        cluster = contexts.get_with_name(current)["context"]["cluster"]
        server = str(config["clusters"].get_with_name(cluster)["cluster"]["server"])
    except Exception:  # noqa: BLE001 - the loader's messages can quote the file: say nothing of it
        which = f"context {context!r}" if context else "current context"
        raise KubeconfigError(
            f"kubeconfig {path} has no usable {which} with a cluster server: check `kubectl config view`"
        ) from None
    return _normalise(server)


def _normalise(server: str) -> str:
    """One spelling per server: scheme and host lowercase, default port explicit, no trailing slash;
    user info, query and fragment dropped (they can carry credentials)."""
    parts = urlsplit(server.strip())
    scheme = (parts.scheme or "https").lower()
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}{parts.path.rstrip('/')}"


def platform_servers(options: RemoteOptions, kubeconfig: str | None, platforms: Iterable[str]) -> dict[str, str]:
    """Each remote platform's API server, from its kube context."""
    return {
        platform: cluster_server(kubeconfig, options.kube_context_for(platform))
        for platform in platforms
        if platform in options.kube_contexts
    }


def check_separate_clusters(servers: Mapping[str, str], *, parallel: bool, allow_shared: bool) -> None:
    """With platforms running at the same time (pytest-xdist), each needs its own cluster: on a shared
    one their pods compete for the same nodes and each platform's namespaces see the other's load."""
    if not parallel or allow_shared:
        return
    by_server: dict[str, list[str]] = {}
    for platform, server in servers.items():
        by_server.setdefault(server, []).append(platform)
    for server, sharing in by_server.items():
        if len(sharing) > 1:
            raise BenchError(
                f"{' and '.join(sharing)} would run in parallel on the same cluster ({server}) and would contaminate "
                "each other's measurements; give each platform its own cluster with "
                f"{'/'.join(f'--{p}-kube-context' for p in sharing)}, or pass --allow-shared-cluster"
            )
