"""Dagster as a platform: ``execute_in_process`` on an ephemeral instance locally; on the server target its
code server, webserver and daemon on one instance directory (``server.py``); its own environment."""

from __future__ import annotations

from retrain_bench.platforms.definition import Platform, lazy
from retrain_bench.platforms.sdks import Sdk
from retrain_bench.platforms.server import ServerSide

DAGSTER = Platform(
    name="dagster",
    title="Dagster",
    order=60,
    local_executor=(
        "Dagster execute_in_process runs every op in one process, one after another (the DynamicOut"
        " tune fan-out included: serial), on an ephemeral in-memory instance; no server, no daemon"
    ),
    prepare=lazy("retrain_bench.platforms.dagster.local:prepare"),
    run=lazy("retrain_bench.platforms.dagster.local:run"),
    needs_pipelines=True,
    sdk_distributions=("dagster",),
    sdk=Sdk(
        "dagster",
        "dagster",
        own_version="1.13.28",
        constraints="constraints/dagster.txt",
        # The server target's GraphQL API is served by the webserver, a distribution of its own
        # (it brings dagster-graphql); it pins dagster to its own version, so it follows the SDK.
        requires=("dagster-webserver",),
    ),
    default=False,
    registry_step=True,
    server=ServerSide(
        parts=(
            "code server (dagster api grpc), webserver and daemon (QueuedRunCoordinator, DefaultRunLauncher) on one"
            " instance directory with SQLite storage; the multiprocess executor, each step its own process"
        ),
        control_plane=lazy("retrain_bench.platforms.dagster.server:control_plane"),
    ),
)
