"""The toy platform's cluster side: its options, its API's endpoint and health check, its doctor check."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from retrain_bench.checks import Check
from retrain_bench.errors import BenchError

if TYPE_CHECKING:
    from retrain_bench.cluster.endpoints import ClusterEndpoints
    from retrain_bench.cluster.options import ClusterOptions
    from retrain_bench.cluster.portforward import ServiceRef
    from retrain_bench.cluster.settings import RemoteSettings
    from retrain_bench.platforms.definition import AddOption
    from retrain_bench.platforms.remote import RemoteRunner

DEFAULT_SERVICE = "toy/toy-api:8080"
DEFAULT_NAMESPACE = "toy-runs"
HEALTHZ = "/healthz"


@dataclasses.dataclass(frozen=True)
class ToyOptions:
    url: str | None
    service: ServiceRef
    #: where the toy control plane creates its runs' pods
    namespace: str

    def as_json(self) -> dict[str, Any]:
        return {"toy_namespace": self.namespace}


def add_options(add: AddOption) -> None:
    add("--toy-url", default=None, metavar="URL", help="the toy API; skips the port-forward")
    add("--toy-service", default=DEFAULT_SERVICE, metavar="NS/SVC:PORT", help="port-forwarded otherwise")
    add("--toy-namespace", default=DEFAULT_NAMESPACE, metavar="NS", help="where its runs' pods run")


def parse_options(get: Callable[[str], Any]) -> ToyOptions:
    from retrain_bench.cluster.options import service_option
    from retrain_bench.cluster.remote_options import dns_label

    url = get("toy_url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise BenchError(f"--toy-url: {url!r} is not an http(s) URL")
    return ToyOptions(
        url=url,
        service=service_option("--toy-service", get("toy_service")),
        namespace=dns_label("--toy-namespace", get("toy_namespace")),
    )


def toy_url(endpoints: ClusterEndpoints, options: ToyOptions) -> str:
    """The toy API's URL: the one given, or a forward to its service once its healthz answers 200."""
    from retrain_bench.cluster.portforward import http_ready

    if options.url:
        return options.url
    return endpoints.forward(options.service, http_ready(HEALTHZ)).url()


def runner(endpoints: ClusterEndpoints, cluster: ClusterOptions, settings: RemoteSettings) -> RemoteRunner:
    from retrain_bench_toy.runner import ToyRunner

    return ToyRunner(toy_url(endpoints, settings.options), settings)


def forwarded(options: ToyOptions) -> ServiceRef | None:
    return None if options.url else options.service


def _version(url: str, timeout_s: float) -> str:
    import requests

    with requests.Session() as session:
        session.trust_env = False
        answer = session.get(url + HEALTHZ, timeout=timeout_s)
    answer.raise_for_status()
    return str(answer.json()["version"])


def api_check(endpoints: ClusterEndpoints, options: ToyOptions) -> Check:
    url = toy_url(endpoints, options)
    try:
        version = _version(url, endpoints.options.connect_timeout_s)
    except Exception as exc:  # requests' and JSON errors alike: one line
        return Check(f"Toy API at {url}", False, type(exc).__name__, "check --toy-url/--toy-service")
    return Check(f"Toy API at {url}", True, f"toy {version}")


def reach(endpoints: ClusterEndpoints, options: ToyOptions) -> str:
    return f"Toy at {toy_url(endpoints, options)}"


def control_plane_version(endpoints: ClusterEndpoints, options: ToyOptions) -> Callable[[], str]:
    return lambda: _version(toy_url(endpoints, options), endpoints.options.connect_timeout_s)
