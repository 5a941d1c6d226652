"""Flyte's side of the cluster target: its options, flyteadmin's gRPC endpoint, its checks.

Imports of the cluster layer (the kubernetes client) stay inside the functions: the registry, and so
this module, is read by every launcher, and none of them talks to a cluster.
"""

from __future__ import annotations

import dataclasses
import re
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

DEFAULT_SERVICE = "flyte/flyte-binary-grpc:8089"
DEFAULT_PROJECT = "flytesnacks"
DEFAULT_DOMAIN = "development"
#: A method every flyteadmin serves; the empty message is a valid ``GetVersionRequest``: the health
#: check of a forward to flyteadmin (``cluster.portforward.grpc_ready``).
GET_VERSION = "/flyteidl.service.AdminService/GetVersion"
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")


@dataclasses.dataclass(frozen=True)
class FlyteOptions:
    """Flyte's own cluster options, validated."""

    #: flyteadmin's gRPC HOST:PORT as given (no forward), or None
    endpoint: str | None
    #: forwarded when no endpoint is given
    service: ServiceRef
    #: plaintext gRPC to the given endpoint
    insecure: bool
    #: a flytekit config (its auth); its endpoint is replaced by ours
    config: str | None
    project: str = DEFAULT_PROJECT
    domain: str = DEFAULT_DOMAIN
    #: ``--flyte-namespace``: where the task pods run when flyteadmin's namespace mapping is not the default
    namespace: str | None = None

    @property
    def run_namespace(self) -> str:
        """Where flytepropeller creates the task pods: flyteadmin's default ``namespace_mapping.template``
        is ``{{ project }}-{{ domain }}`` (flyteadmin/pkg/runtime/namespace_config_provider.go,
        ``namespaceMappingKey``; flyte-binary's chart keeps it), unless ``--flyte-namespace`` says otherwise."""
        return self.namespace or f"{self.project}-{self.domain}"

    def namespaces(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.control_namespaces(), *self.run_namespaces())))

    def control_namespaces(self) -> tuple[str, ...]:
        return (self.service.namespace,)

    def run_namespaces(self) -> tuple[str, ...]:
        return (self.run_namespace,)

    def as_json(self) -> dict[str, Any]:
        return {"flyte_project": self.project, "flyte_domain": self.domain, "flyte_namespace": self.run_namespace}


def add_options(add: AddOption) -> None:
    """Register the options on a pytest option group or an argparse parser (same spelling)."""
    add("--flyte-endpoint", default=None, metavar="HOST:PORT", help="flyteadmin gRPC; skips the port-forward")
    add("--flyte-service", default=DEFAULT_SERVICE, metavar="NS/SVC:PORT", help="port-forwarded otherwise")
    add("--flyte-insecure", action="store_true", help="plaintext gRPC to --flyte-endpoint (explicit opt-in)")
    add("--flyte-config", default=None, metavar="FILE", help="flytekit config (auth is flytekit's)")
    add("--flyte-project", default=DEFAULT_PROJECT, metavar="NAME", help="Default: flytesnacks")
    add("--flyte-domain", default=DEFAULT_DOMAIN, metavar="NAME", help="Default: development")
    add(
        "--flyte-namespace",
        default=None,
        metavar="NS",
        help="where the task pods run when flyteadmin's namespace_mapping is not the default. Default: PROJECT-DOMAIN",
    )


def parse_options(get: Callable[[str], Any]) -> FlyteOptions:
    """Validate the options (``get`` reads one by its dest name); BenchError naming the bad one."""
    from retrain_bench.cluster.options import existing_file, service_option
    from retrain_bench.cluster.remote_options import dns_label

    existing_file("--flyte-config", get("flyte_config"))
    if get("flyte_config"):
        check_flytekit_config(get("flyte_config"))
    endpoint, namespace = get("flyte_endpoint"), get("flyte_namespace")
    if endpoint and not _HOST_PORT.match(endpoint):
        raise BenchError(f"--flyte-endpoint: {endpoint!r} is not HOST:PORT (e.g. flyte.example.com:443)")
    return FlyteOptions(
        endpoint=endpoint,
        service=service_option("--flyte-service", get("flyte_service")),
        insecure=bool(get("flyte_insecure")),
        config=get("flyte_config"),
        # project and domain become the namespace ``{project}-{domain}``: DNS labels
        project=dns_label("--flyte-project", get("flyte_project")),
        domain=dns_label("--flyte-domain", get("flyte_domain")),
        namespace=None if namespace is None else dns_label("--flyte-namespace", namespace),
    )


def check_flytekit_config(path: str) -> None:
    """The config file read as flytekit reads it, but refused in one line when it is malformed: flytekit's
    ``ConfigFile`` (flytekit/configuration/file.py) reads ``*.yaml``/``*.yml`` with ``yaml.safe_load`` and only
    logs a warning on a YAMLError, then runs without the file (no auth, the default endpoint); any other
    name is read as the legacy INI format with ``configparser``."""
    import configparser

    import yaml

    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"--flyte-config: cannot read {path} ({type(exc).__name__})") from None
    if path.endswith(("yaml", "yml")):
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            raise BenchError(
                f"--flyte-config: {path} is not valid YAML{line}: fix it or leave the option out"
            ) from None
        if not isinstance(document, dict):
            raise BenchError(f"--flyte-config: {path} is not a flytekit config (expected a mapping, e.g. admin: ...)")
        return
    try:
        configparser.ConfigParser().read_string(text, source=path)
    except configparser.Error as exc:
        raise BenchError(
            f"--flyte-config: {path} is not a valid legacy flytekit config ({type(exc).__name__}); use a config.yaml"
        ) from None


def flyteadmin(endpoints: ClusterEndpoints, options: FlyteOptions) -> tuple[str, bool]:
    """(HOST:PORT, plaintext?) of flyteadmin's gRPC API. Through a forward the hop to the pod is
    the tunnel itself, and flyte-binary's in-cluster gRPC port is plaintext."""
    from retrain_bench.cluster.portforward import grpc_ready

    if options.endpoint:
        return options.endpoint, options.insecure
    return endpoints.forward(options.service, grpc_ready(GET_VERSION)).local_address, True


def runner(endpoints: ClusterEndpoints, cluster: ClusterOptions, settings: RemoteSettings) -> RemoteRunner:
    from retrain_bench.platforms.flyte.remote import FlyteRunner

    options: FlyteOptions = settings.options
    address, insecure = flyteadmin(endpoints, options)
    return FlyteRunner(address, insecure, options.config, settings)


def forwarded(options: FlyteOptions) -> ServiceRef | None:
    return None if options.endpoint else options.service


def api_check(endpoints: ClusterEndpoints, options: FlyteOptions) -> Check:
    from retrain_bench.platforms.flyte.api import flyte_api_check

    address, insecure = flyteadmin(endpoints, options)
    return flyte_api_check(
        address, insecure=insecure, config_file=options.config, timeout_s=endpoints.options.connect_timeout_s
    )


def reach(endpoints: ClusterEndpoints, options: FlyteOptions) -> str:
    return f"Flyte at {flyteadmin(endpoints, options)[0]}"


def control_plane_version(endpoints: ClusterEndpoints, options: FlyteOptions) -> Callable[[], str]:
    """flyteadmin's GetVersion, asked when the manifest is collected."""

    def version() -> str:
        from retrain_bench.platforms.flyte.api import flyte_version

        address, insecure = flyteadmin(endpoints, options)
        return flyte_version(
            address, insecure=insecure, config_file=options.config, timeout_s=endpoints.options.connect_timeout_s
        )

    return version
