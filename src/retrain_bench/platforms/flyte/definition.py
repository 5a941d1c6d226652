"""Flyte as a platform: flytekit's local executor here, flyte-binary through FlyteRemote on a cluster."""

from __future__ import annotations

from pathlib import Path

from retrain_bench.platforms.definition import ClusterSide, Platform
from retrain_bench.platforms.flyte import cluster
from retrain_bench.platforms.sdks import LetGo, Sdk
from retrain_bench.workload.cases import Case


def _prepare() -> None:
    from retrain_bench.platforms.flyte import local

    local.prepare()


def _run(case: Case, workdir: Path) -> None:
    from retrain_bench.platforms.flyte import local

    local.run(case)


FLYTE = Platform(
    name="flyte",
    title="Flyte",
    order=10,
    local_executor="Flyte local runs tasks one after another in one process",
    prepare=_prepare,
    run=_run,
    needs_pipelines=True,
    sdk_distributions=("flytekit",),
    sdk=Sdk(
        "flyte",
        "flytekit",
        let_go=(LetGo("1.16", ("grpcio", "grpcio-status"), "flytekit 1.15 requires grpcio<=1.68.0"),),
    ),
    cluster=ClusterSide(
        label="Flyte",
        add_options=cluster.add_options,
        parse_options=cluster.parse_options,
        runner=cluster.runner,
        fixture="flyte_endpoint",
        endpoint=cluster.flyteadmin,
        forwarded=cluster.forwarded,
        namespaces=lambda options: options.namespaces(),
        run_namespaces=lambda options: options.run_namespaces(),
        api_check=cluster.api_check,
        reach=cluster.reach,
        version_key="flyteadmin",
        control_plane_version=cluster.control_plane_version,
        # Flyte names a run's pods <execution>-<node>-<attempt>.
        pods_named_after_run=True,
    ),
    registry_step=True,
)
