"""Flyte 2 as a platform: ``flyte.run`` in local mode, local target only, in its own environment."""

from __future__ import annotations

from retrain_bench.platforms.definition import Platform, lazy
from retrain_bench.platforms.sdks import Sdk

FLYTE2 = Platform(
    name="flyte2",
    title="Flyte 2",
    order=15,
    local_executor=(
        "Flyte 2 local mode runs every task as an action in one process, async tasks on one event loop;"
        " the tune fan-out is sync tasks awaited with asyncio.gather, each in a thread of its own"
        " (concurrent, under the GIL); no server"
    ),
    prepare=lazy("retrain_bench.platforms.flyte2.local:prepare"),
    run=lazy("retrain_bench.platforms.flyte2.local:run"),
    needs_pipelines=True,
    sdk_distributions=("flyte",),
    sdk=Sdk("flyte2", "flyte", own_version="2.12.1", constraints="constraints/flyte2.txt"),
    default=False,
    registry_step=True,
)
