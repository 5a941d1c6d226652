"""KFP as a platform: ``kfp.local`` here, KFP standalone (on Argo) through ``kfp.Client`` on a cluster."""

from __future__ import annotations

from retrain_bench.platforms.definition import ClusterSide, Platform, lazy
from retrain_bench.platforms.kfp import cluster
from retrain_bench.platforms.sdks import Floor, LetGo, Sdk

KFP = Platform(
    name="kfp",
    title="Kubeflow",
    order=20,
    local_executor="kfp.local runs a process per task with at most 2 loop iterations at once",
    prepare=lazy("retrain_bench.platforms.kfp.local:prepare"),
    run=lazy("retrain_bench.platforms.kfp.local:run"),
    needs_pipelines=True,
    sdk_distributions=("kfp",),
    sdk=Sdk(
        "kfp",
        "kfp",
        floors=(
            (
                "local",
                Floor(
                    "2.17.0",
                    "kfp.local before 2.17 lacks dsl.If, dsl.ParallelFor and dsl.Collected"
                    " and local.init(enable_caching=...)",
                ),
            ),
        ),
        let_go=(LetGo("2.15", ("click",), "kfp 2.14 pins click==8.1.8"),),
    ),
    # The study's tables compare Kubeflow with Flyte as a ratio.
    ratio_over="flyte",
    cluster=ClusterSide(
        label="KFP",
        add_options=cluster.add_options,
        parse_options=cluster.parse_options,
        runner=cluster.runner,
        fixture="kfp_host",
        endpoint=cluster.kfp_host,
        forwarded=cluster.forwarded,
        namespaces=lambda options: options.namespaces(),
        run_namespaces=lambda options: options.run_namespaces(),
        api_check=cluster.api_check,
        reach=cluster.reach,
        version_key="kfp_api",
        control_plane_version=cluster.control_plane_version,
        engine_deployments=(("argo", cluster.argo_controller),),
    ),
    registry_step=True,
)
