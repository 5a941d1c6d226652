"""Dagster as a platform: ``execute_in_process`` on an ephemeral instance, local target only, own environment."""

from __future__ import annotations

from pathlib import Path

from retrain_bench.platforms.definition import Platform
from retrain_bench.workload.cases import Case


def _prepare() -> None:
    from retrain_bench.platforms.dagster import local

    local.prepare()


def _run(case: Case, workdir: Path) -> None:
    from retrain_bench.platforms.dagster import local

    local.run(case, workdir)


DAGSTER = Platform(
    name="dagster",
    title="Dagster",
    order=60,
    local_executor=(
        "Dagster execute_in_process runs every op in one process, one after another (the DynamicOut"
        " tune fan-out included: serial), on an ephemeral in-memory instance; no server, no daemon"
    ),
    prepare=_prepare,
    run=_run,
    needs_pipelines=True,
    sdk_distributions=("dagster",),
    default=False,
)
