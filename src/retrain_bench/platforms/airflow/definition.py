"""Airflow as a platform: Airflow 3's ``dag.test()`` on the local target; no cluster runner."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from retrain_bench.platforms.definition import Platform, ServiceContext
from retrain_bench.workload.cases import Case


def _prepare() -> None:
    from retrain_bench.platforms.airflow import local

    local.prepare()


def _run(case: Case, workdir: Path) -> None:
    from retrain_bench.platforms.airflow import local

    local.run(case, workdir)


def _services(context: ServiceContext) -> contextlib.AbstractContextManager[Mapping[str, str]]:
    from retrain_bench.platforms.airflow import service

    return service.template_database(context)


AIRFLOW = Platform(
    name="airflow",
    title="Airflow",
    order=40,
    local_executor=(
        "Airflow dag.test() runs every task instance in the launcher, one after another (mapped tune"
        " tasks serial), through its in-process execution API on a per-round copy of a pre-migrated"
        " SQLite metadata DB; no server process"
    ),
    prepare=_prepare,
    run=_run,
    needs_pipelines=True,
    sdk_distributions=("apache-airflow",),
    default=False,
    services=_services,
)
