"""Prefect as a platform: Prefect 3 flows in the launcher against a server started for the session."""

from __future__ import annotations

from retrain_bench.platforms.definition import Platform, lazy
from retrain_bench.platforms.sdks import Sdk
from retrain_bench.platforms.server import ServerSide

PREFECT = Platform(
    name="prefect",
    title="Prefect",
    order=50,
    local_executor=(
        "Prefect runs the flow in the launcher, the mapped tune tasks concurrently in threads"
        " (ThreadPoolTaskRunner), reporting to one prefect server started for the session: a process"
        " outside the round's process tree, so its CPU and memory are not in the round's figures"
    ),
    prepare=lazy("retrain_bench.platforms.prefect.local:prepare"),
    run=lazy("retrain_bench.platforms.prefect.local:run"),
    needs_pipelines=True,
    sdk_distributions=("prefect",),
    sdk=Sdk("prefect", "prefect", own_version="3.9.1", constraints="constraints/prefect.txt"),
    default=False,
    registry_step=True,
    services=lazy("retrain_bench.platforms.prefect.service:server"),
    server=ServerSide(
        parts="prefect server (SQLite), a process work pool with the flow deployed, prefect worker (a process per run)",
        control_plane=lazy("retrain_bench.platforms.prefect.server:control_plane"),
    ),
)
