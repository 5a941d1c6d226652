"""Airflow as a platform: Airflow 3's ``dag.test()`` on the local target, its own control plane on the
server target (``server.py``); no cluster runner."""

from __future__ import annotations

from retrain_bench.platforms.definition import Platform, lazy
from retrain_bench.platforms.sdks import Sdk
from retrain_bench.platforms.server import ServerSide

AIRFLOW = Platform(
    name="airflow",
    title="Airflow",
    order=40,
    local_executor=(
        "Airflow dag.test() runs every task instance in the launcher, one after another (mapped tune"
        " tasks serial), through its in-process execution API on a per-round copy of a pre-migrated"
        " SQLite metadata DB; no server process"
    ),
    prepare=lazy("retrain_bench.platforms.airflow.local:prepare"),
    run=lazy("retrain_bench.platforms.airflow.local:run"),
    needs_pipelines=True,
    sdk_distributions=("apache-airflow",),
    sdk=Sdk(
        "airflow",
        "apache-airflow",
        own_version="3.3.2",
        constraints="constraints/airflow.txt",
        # The server target's metadata DB is PostgreSQL: its api-server, scheduler and dag-processor
        # need both drivers (sync and async), else they die on "No module named 'asyncpg'".
        requires=("psycopg2-binary", "asyncpg"),
    ),
    default=False,
    registry_step=True,
    services=lazy("retrain_bench.platforms.airflow.service:template_database"),
    server=ServerSide(
        parts="api-server, scheduler (LocalExecutor, a process per task instance) and dag-processor on PostgreSQL",
        control_plane=lazy("retrain_bench.platforms.airflow.server:control_plane"),
    ),
)
