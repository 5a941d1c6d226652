"""KFP as a platform: ``kfp.local`` here, KFP standalone (on Argo) through ``kfp.Client`` on a cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from retrain_bench.checks import Check
from retrain_bench.errors import BenchError
from retrain_bench.platforms.definition import ClusterSide, Platform, lazy

if TYPE_CHECKING:
    from retrain_bench.cluster.endpoints import ClusterEndpoints
    from retrain_bench.cluster.options import ClusterOptions
    from retrain_bench.cluster.portforward import ServiceRef
    from retrain_bench.cluster.settings import RemoteSettings
    from retrain_bench.platforms.remote import RemoteRunner

#: The API server itself: the UI (ml-pipeline-ui:80) answers healthz on its own, 200 even with the API
#: server down (frontend/server/handlers/healthz.ts).
DEFAULT_SERVICE = "kubeflow/ml-pipeline:8888"
#: Argo's controller in KFP standalone; its image tag is the Argo version KFP runs on.
ARGO_CONTROLLER = "workflow-controller"


def _runner(endpoints: ClusterEndpoints, options: ClusterOptions, settings: RemoteSettings) -> RemoteRunner:
    from retrain_bench.platforms.kfp.remote import KfpRunner

    return KfpRunner(endpoints.kfp(), options.kfp_token(), not options.kfp_insecure_skip_verify, settings)


def _forwarded(options: ClusterOptions) -> ServiceRef | None:
    return None if options.kfp_host else options.kfp_service


def _api_check(endpoints: ClusterEndpoints, options: ClusterOptions) -> Check:
    from retrain_bench.platforms.kfp.api import kfp_api_check

    return kfp_api_check(
        endpoints.kfp(),
        token=options.kfp_token(),
        verify_tls=not options.kfp_insecure_skip_verify,
        timeout_s=options.connect_timeout_s,
    )


def _reach(endpoints: ClusterEndpoints) -> str:
    return f"KFP at {endpoints.kfp()}"


def _control_plane_version(endpoints: ClusterEndpoints, options: ClusterOptions) -> Callable[[], str]:
    """The KFP API's healthz ``tag_name``, asked when the manifest is collected."""

    def version() -> str:
        from retrain_bench.platforms.kfp.api import kfp_healthz

        health = kfp_healthz(
            endpoints.kfp(),
            token=options.kfp_token(),
            verify_tls=not options.kfp_insecure_skip_verify,
            timeout_s=options.connect_timeout_s,
        )
        # The API server answers "unknown" when its TAG_NAME is unset (custom builds).
        if health.tag is None:
            raise BenchError("the KFP API reports no tag_name (its TAG_NAME is unset)")
        return health.tag

    return version


KFP = Platform(
    name="kfp",
    title="Kubeflow",
    order=20,
    local_executor="kfp.local runs a process per task with at most 2 loop iterations at once",
    prepare=lazy("retrain_bench.platforms.kfp.local:prepare"),
    run=lazy("retrain_bench.platforms.kfp.local:run"),
    needs_pipelines=True,
    sdk_distributions=("kfp",),
    # The study's tables compare Kubeflow with Flyte as a ratio.
    ratio_over="flyte",
    cluster=ClusterSide(
        label="KFP",
        default_service=DEFAULT_SERVICE,
        runner=_runner,
        forwarded=_forwarded,
        namespaces=lambda options: options.kfp_namespaces(),
        run_namespaces=lambda options: (options.kfp_namespace,),
        api_check=_api_check,
        reach=_reach,
        version_key="kfp_api",
        control_plane_version=_control_plane_version,
        engine_deployments=(("argo", lambda settings: f"{settings.kfp_namespace}/{ARGO_CONTROLLER}"),),
    ),
)
