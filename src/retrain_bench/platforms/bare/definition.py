"""Bare Python as a platform: no orchestrator, local only, the baseline others are compared with."""

from __future__ import annotations

from pathlib import Path

from retrain_bench.platforms.definition import Platform
from retrain_bench.workload.cases import Case


def _prepare() -> None:
    import retrain_bench.workload.retraining  # noqa: F401


def _run(case: Case, workdir: Path) -> None:
    from retrain_bench.workload.retraining import run_bare

    run_bare(case)


BARE = Platform(
    name="bare",
    title="Bare Python",
    order=30,
    local_executor="bare Python calls the steps one after another in the launcher",
    prepare=_prepare,
    run=_run,
    reference=True,
    registry_step=True,
)
