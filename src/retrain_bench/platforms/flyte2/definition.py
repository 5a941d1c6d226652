"""Flyte 2 as a platform: ``flyte.run`` in local mode, local target only, in its own environment."""

from __future__ import annotations

from pathlib import Path

from retrain_bench.platforms.definition import Platform
from retrain_bench.workload.cases import Case


def _prepare() -> None:
    from retrain_bench.platforms.flyte2 import local

    local.prepare()


def _run(case: Case, workdir: Path) -> None:
    from retrain_bench.platforms.flyte2 import local

    local.run(case, workdir)


FLYTE2 = Platform(
    name="flyte2",
    title="Flyte 2",
    order=15,
    local_executor=(
        "Flyte 2 local mode runs every task as an action in one process, async tasks on one event loop;"
        " the tune fan-out is sync tasks awaited with asyncio.gather, each in a thread of its own"
        " (concurrent, under the GIL); no server"
    ),
    prepare=_prepare,
    run=_run,
    needs_pipelines=True,
    sdk_distributions=("flyte",),
    default=False,
)
