"""The toy platform: local-only in name (it has no local executor), a cluster side in full."""

from __future__ import annotations

from pathlib import Path

from retrain_bench.errors import BenchError
from retrain_bench.platforms.definition import ClusterSide, Platform
from retrain_bench.workload.cases import Case
from retrain_bench_toy import cluster


def _prepare() -> None:
    pass


def _run(case: Case, workdir: Path) -> None:
    raise BenchError("the toy platform runs only on a cluster: pass --target=cluster")


TOY = Platform(
    name="toy",
    title="Toy",
    order=90,
    local_executor="none: the toy platform runs only on a cluster",
    prepare=_prepare,
    run=_run,
    # never in the default local list: it has no local executor
    default=False,
    cluster=ClusterSide(
        label="Toy",
        add_options=cluster.add_options,
        parse_options=cluster.parse_options,
        runner=cluster.runner,
        fixture="toy_url",
        endpoint=cluster.toy_url,
        forwarded=cluster.forwarded,
        namespaces=lambda options: (options.service.namespace, options.namespace),
        run_namespaces=lambda options: (options.namespace,),
        api_check=cluster.api_check,
        reach=cluster.reach,
        version_key="toy_api",
        control_plane_version=cluster.control_plane_version,
    ),
)
