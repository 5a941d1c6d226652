"""The platforms a round can run on, as the launcher sees them: import, then run once."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from retrain_bench.workload.cases import Case


def _prepare_bare() -> None:
    import retrain_bench.workload.retraining  # noqa: F401


def _run_bare(case: Case, workdir: Path) -> None:
    from retrain_bench.workload.retraining import run_bare

    run_bare(case)


def _prepare_flyte() -> None:
    from retrain_bench.platforms.flyte import local

    local.prepare()


def _run_flyte(case: Case, workdir: Path) -> None:
    from retrain_bench.platforms.flyte import local

    local.run(case)


def _prepare_kfp() -> None:
    from retrain_bench.platforms.kfp import local

    local.prepare()


def _run_kfp(case: Case, workdir: Path) -> None:
    from retrain_bench.platforms.kfp import local

    local.run(case, workdir)


@dataclasses.dataclass(frozen=True)
class Platform:
    name: str
    title: str
    #: Imports the SDK and the pipeline definition: start-up, kept out of the timer.
    prepare: Callable[[], None]
    #: One pipeline run with the platform's own local executor; raises when it fails.
    run: Callable[[Case, Path], None]


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform("flyte", "Flyte", _prepare_flyte, _run_flyte),
        Platform("kfp", "Kubeflow", _prepare_kfp, _run_kfp),
        Platform("bare", "Bare Python", _prepare_bare, _run_bare),
    )
}
