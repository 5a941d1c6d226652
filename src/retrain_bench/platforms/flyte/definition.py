"""Flyte as a platform: flytekit's local executor here, flyte-binary through FlyteRemote on a cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from retrain_bench.checks import Check
from retrain_bench.platforms.definition import ClusterSide, Platform
from retrain_bench.workload.cases import Case

if TYPE_CHECKING:
    from retrain_bench.cluster.endpoints import ClusterEndpoints
    from retrain_bench.cluster.options import ClusterOptions
    from retrain_bench.cluster.portforward import ServiceRef
    from retrain_bench.cluster.settings import RemoteSettings
    from retrain_bench.platforms.remote import RemoteRunner

DEFAULT_SERVICE = "flyte/flyte-binary-grpc:8089"
#: flyte-binary's own namespace, then where its task pods run by default: ``{project}-{domain}``
DEFAULT_NAMESPACES = ("flyte", "flytesnacks-development")


def _prepare() -> None:
    from retrain_bench.platforms.flyte import local

    local.prepare()


def _run(case: Case, workdir: Path) -> None:
    from retrain_bench.platforms.flyte import local

    local.run(case)


def _runner(endpoints: ClusterEndpoints, options: ClusterOptions, settings: RemoteSettings) -> RemoteRunner:
    from retrain_bench.platforms.flyte.remote import FlyteRunner

    address, insecure = endpoints.flyte()
    return FlyteRunner(address, insecure, options.flyte_config, settings)


def _forwarded(options: ClusterOptions) -> ServiceRef | None:
    return None if options.flyte_endpoint else options.flyte_service


def _api_check(endpoints: ClusterEndpoints, options: ClusterOptions) -> Check:
    from retrain_bench.platforms.flyte.api import flyte_api_check

    address, insecure = endpoints.flyte()
    return flyte_api_check(
        address, insecure=insecure, config_file=options.flyte_config, timeout_s=options.connect_timeout_s
    )


def _reach(endpoints: ClusterEndpoints) -> str:
    return f"Flyte at {endpoints.flyte()[0]}"


def _control_plane_version(endpoints: ClusterEndpoints, options: ClusterOptions) -> Callable[[], str]:
    """flyteadmin's GetVersion, asked when the manifest is collected."""

    def version() -> str:
        from retrain_bench.platforms.flyte.api import flyte_version

        address, insecure = endpoints.flyte()
        return flyte_version(
            address, insecure=insecure, config_file=options.flyte_config, timeout_s=options.connect_timeout_s
        )

    return version


FLYTE = Platform(
    name="flyte",
    title="Flyte",
    order=10,
    local_executor="Flyte local runs tasks one after another in one process",
    prepare=_prepare,
    run=_run,
    needs_pipelines=True,
    sdk_distributions=("flytekit",),
    cluster=ClusterSide(
        label="Flyte",
        default_service=DEFAULT_SERVICE,
        runner=_runner,
        forwarded=_forwarded,
        namespaces=lambda options: options.flyte_namespaces(),
        run_namespaces=lambda options: options.flyte_namespaces()[1:],
        api_check=_api_check,
        reach=_reach,
        version_key="flyteadmin",
        control_plane_version=_control_plane_version,
        # Flyte names a run's pods <execution>-<node>-<attempt>.
        pods_named_after_run=True,
    ),
)
