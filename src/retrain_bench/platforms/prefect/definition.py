"""Prefect as a platform: Prefect 3 flows in the launcher against a server started for the session."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from retrain_bench.platforms.definition import Platform, ServiceContext
from retrain_bench.workload.cases import Case


def _prepare() -> None:
    from retrain_bench.platforms.prefect import local

    local.prepare()


def _run(case: Case, workdir: Path) -> None:
    from retrain_bench.platforms.prefect import local

    local.run(case, workdir)


def _services(context: ServiceContext) -> contextlib.AbstractContextManager[Mapping[str, str]]:
    from retrain_bench.platforms.prefect import service

    return service.server(context)


PREFECT = Platform(
    name="prefect",
    title="Prefect",
    order=50,
    local_executor=(
        "Prefect runs the flow in the launcher, the mapped tune tasks concurrently in threads"
        " (ThreadPoolTaskRunner), reporting to one prefect server started for the session: a process"
        " outside the round's process tree, so its CPU and memory are not in the round's figures"
    ),
    prepare=_prepare,
    run=_run,
    needs_pipelines=True,
    sdk_distributions=("prefect",),
    default=False,
    services=_services,
)
