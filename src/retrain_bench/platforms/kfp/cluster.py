"""KFP's side of the cluster target: its options, the API server's endpoint and readiness, its checks.

Imports of the cluster layer (the kubernetes client) stay inside the functions: the registry, and so
this module, is read by every launcher, and none of them talks to a cluster.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from retrain_bench.checks import Check
from retrain_bench.errors import BenchError
from retrain_bench.platforms.kfp.health import API_SERVER_DOWN, HEALTHZ, read_healthz

if TYPE_CHECKING:
    import requests

    from retrain_bench.cluster.endpoints import ClusterEndpoints
    from retrain_bench.cluster.options import ClusterOptions
    from retrain_bench.cluster.portforward import ServiceRef
    from retrain_bench.cluster.settings import RemoteSettings
    from retrain_bench.platforms.definition import AddOption
    from retrain_bench.platforms.remote import RemoteRunner

#: The API server itself: the UI (ml-pipeline-ui:80) answers healthz on its own, 200 even with the API
#: server down (frontend/server/handlers/healthz.ts).
DEFAULT_SERVICE = "kubeflow/ml-pipeline:8888"
DEFAULT_NAMESPACE = "kubeflow"
DEFAULT_EXPERIMENT = "retrain-bench"
#: Argo's controller in KFP standalone; its image tag is the Argo version KFP runs on.
ARGO_CONTROLLER = "workflow-controller"


@dataclasses.dataclass(frozen=True)
class KfpOptions:
    """KFP's own cluster options, validated."""

    #: the KFP API's URL as given (no forward), or None
    host: str | None
    #: forwarded when no host is given
    service: ServiceRef
    insecure_skip_verify: bool
    #: the token itself never lives here: only the variable's name, read when a client is made
    token_env: str | None
    #: the user namespace runs are created in
    namespace: str = DEFAULT_NAMESPACE
    #: created when missing
    experiment: str = DEFAULT_EXPERIMENT
    #: a file holding the bearer token, read again for every request (a projected or rotated token)
    token_file: str | None = None
    #: the KFP UI's URL for the console links recorded with each round; None: no link (the API
    #: server serves no UI, and a forwarded address is gone after the session)
    ui_url: str | None = None

    def token(self) -> str | None:
        """The bearer token now: the file's content (read on every call) or the variable's value."""
        if self.token_file:
            from retrain_bench.platforms.kfp.api import read_token_file

            return read_token_file(self.token_file)
        return os.environ.get(self.token_env) if self.token_env else None

    def namespaces(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.service.namespace, self.namespace)))

    def control_namespaces(self) -> tuple[str, ...]:
        return (self.service.namespace,)

    def run_namespaces(self) -> tuple[str, ...]:
        # standalone: kubeflow itself; multi-user: the profile's namespace (no pods between runs)
        return (self.namespace,)

    def as_json(self) -> dict[str, Any]:
        return {"kfp_experiment": self.experiment, "kfp_namespace": self.namespace}


def add_options(add: AddOption) -> None:
    """Register the options on a pytest option group or an argparse parser (same spelling)."""
    add("--kfp-host", default=None, metavar="URL", help="KFP API; skips the port-forward")
    add("--kfp-service", default=DEFAULT_SERVICE, metavar="NS/SVC:PORT", help="port-forwarded otherwise")
    add("--kfp-insecure-skip-verify", action="store_true", help="do not verify KFP's TLS certificate (explicit)")
    add("--kfp-token-env", default=None, metavar="NAME", help="environment variable holding a KFP bearer token")
    add(
        "--kfp-token-file",
        default=None,
        metavar="FILE",
        help="file holding a KFP bearer token, re-read for every request (audience pipelines.kubeflow.org)",
    )
    add("--kfp-ui-url", default=None, metavar="URL", help="the KFP UI, for the console links recorded per round")
    add("--kfp-namespace", default=DEFAULT_NAMESPACE, metavar="NS", help="KFP user namespace. Default: kubeflow")
    add("--kfp-experiment", default=DEFAULT_EXPERIMENT, metavar="NAME", help="Default: retrain-bench")


def parse_options(get: Callable[[str], Any]) -> KfpOptions:
    """Validate the options (``get`` reads one by its dest name); BenchError naming the bad one."""
    from retrain_bench.cluster.options import existing_file, service_option
    from retrain_bench.cluster.remote_options import dns_label, nonempty_text

    host = get("kfp_host")
    if host and (urlsplit(host).scheme not in ("http", "https") or not urlsplit(host).hostname):
        raise BenchError(f"--kfp-host: {host!r} is not an http(s) URL")
    token_env, token_file, ui_url = get("kfp_token_env"), get("kfp_token_file"), get("kfp_ui_url")
    if token_env and token_file:
        raise BenchError("--kfp-token-env and --kfp-token-file: give one of them")
    if token_env and not os.environ.get(token_env):
        raise BenchError(f"--kfp-token-env: the environment variable {token_env} is not set or empty")
    if token_file:
        from retrain_bench.platforms.kfp.api import read_token_file

        existing_file("--kfp-token-file", token_file)
        read_token_file(token_file)
    if ui_url and (urlsplit(ui_url).scheme not in ("http", "https") or not urlsplit(ui_url).hostname):
        raise BenchError(f"--kfp-ui-url: {ui_url!r} is not an http(s) URL")
    return KfpOptions(
        host=host,
        service=service_option("--kfp-service", get("kfp_service")),
        insecure_skip_verify=bool(get("kfp_insecure_skip_verify")),
        token_env=token_env,
        namespace=dns_label("--kfp-namespace", get("kfp_namespace")),
        experiment=nonempty_text("--kfp-experiment", get("kfp_experiment")),
        token_file=token_file,
        ui_url=ui_url.rstrip("/") if ui_url else None,
    )


def api_ready(response: requests.Response) -> None:
    """Through the UI a 200 healthz says nothing about the API server: its ``apiServerReady`` does."""
    from retrain_bench.cluster.portforward import NotReady

    try:
        body = response.json()
    except ValueError:
        raise NotReady("the KFP healthz answered 200 but not JSON") from None
    if not isinstance(body, dict) or not read_healthz(body).ready:
        raise NotReady(API_SERVER_DOWN)


def kfp_host(endpoints: ClusterEndpoints, options: KfpOptions) -> str:
    """The KFP API's URL: the one given, or a forward to the service once its healthz says ready."""
    from retrain_bench.cluster.portforward import http_ready

    if options.host:
        return options.host
    return endpoints.forward(options.service, http_ready(HEALTHZ, accept=api_ready)).url()


def runner(endpoints: ClusterEndpoints, cluster: ClusterOptions, settings: RemoteSettings) -> RemoteRunner:
    from retrain_bench.platforms.kfp.remote import KfpRunner

    options: KfpOptions = settings.options
    return KfpRunner(
        kfp_host(endpoints, options),
        options.token(),
        not options.insecure_skip_verify,
        settings,
        token_file=options.token_file,
    )


def forwarded(options: KfpOptions) -> ServiceRef | None:
    return None if options.host else options.service


def api_check(endpoints: ClusterEndpoints, options: KfpOptions) -> Check:
    from retrain_bench.platforms.kfp.api import kfp_api_check

    return kfp_api_check(
        kfp_host(endpoints, options),
        token=options.token(),
        verify_tls=not options.insecure_skip_verify,
        timeout_s=endpoints.options.connect_timeout_s,
    )


def reach(endpoints: ClusterEndpoints, options: KfpOptions) -> str:
    return f"KFP at {kfp_host(endpoints, options)}"


def control_plane_version(endpoints: ClusterEndpoints, options: KfpOptions) -> Callable[[], str]:
    """The KFP API's healthz ``tag_name``, asked when the manifest is collected."""

    def version() -> str:
        from retrain_bench.platforms.kfp.api import kfp_healthz

        health = kfp_healthz(
            kfp_host(endpoints, options),
            token=options.token(),
            verify_tls=not options.insecure_skip_verify,
            timeout_s=endpoints.options.connect_timeout_s,
        )
        # The API server answers "unknown" when its TAG_NAME is unset (custom builds).
        if health.tag is None:
            raise BenchError("the KFP API reports no tag_name (its TAG_NAME is unset)")
        return health.tag

    return version


def argo_controller(options: KfpOptions) -> str:
    return f"{options.namespace}/{ARGO_CONTROLLER}"
