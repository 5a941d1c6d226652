"""The configuration of Airflow's control plane on the server target, as environment variables.

Every interval that shapes how long a run waits between its tasks is set here explicitly, even
where it equals Airflow 3.3's default, so the timings do not move with a default and the JSON
records what was compared (``SETTINGS``). The rest of the configuration is the local target's
(``settings.variables``): every path under the session's home, no example DAGs, no usage reporting.
"""

from __future__ import annotations

from pathlib import Path

from retrain_bench.platforms.airflow import settings

EXECUTOR = "LocalExecutor"

#: ``AIRFLOW__<SECTION>__<KEY>`` -> value: the settings that shape the timings, recorded in ``facts()``.
SETTINGS: dict[str, str] = {
    "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
    # LocalExecutor forks this many worker processes when the scheduler starts (fork start method):
    # more than the widest fan-out of the cases (tuning's 5 C values), fewer than the default 32
    # idle forks of the scheduler, whose memory would count as the platform's.
    "AIRFLOW__CORE__PARALLELISM": "8",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "8",
    # The scheduler loop sleeps this long when a loop found nothing to do (its poll interval).
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "1",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "5",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "5",
    # A task process checks its own state with the api-server this often (how soon a terminated run's
    # tasks are killed).
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
    # The DAG folder is listed at start-up and then every refresh_interval; the file re-parsed every
    # min_file_process_interval (the DAG does not change during a session).
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "300",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
    "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "5",
    # Every task process parses the DAG file before its task runs; on a loaded machine the default
    # 30 s bound cancels slow parses and reschedules the task (the DAG keeps its top level light).
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
    "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "180",
    "AIRFLOW__API__WORKERS": "1",
}


def variables(
    home: Path,
    dags_folder: Path,
    database_url: str,
    api_port: int,
    secret: str,
) -> dict[str, str]:
    """The whole configuration of every part (api-server, scheduler, dag-processor) and of its tasks.

    ``database_url`` (psycopg2; Airflow derives its asyncpg twin from it) and ``secret`` are
    credentials: they only ever go to the parts' environments."""
    return {
        **settings.variables(home, dags_folder),
        **SETTINGS,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        # Services log at Airflow's default level into their own log files (the local target's
        # WARNING is for a launcher's stdout): their logs are what a failed start-up names.
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        # Where task processes reach the api-server's execution API (tasks do not touch the database).
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        # The api-server signs and the scheduler's workers present the same task tokens.
        "AIRFLOW__API_AUTH__JWT_SECRET": secret,
        "AIRFLOW__API__SECRET_KEY": secret,
        # Simple auth manager, everyone an admin: a token without a password, on a loopback port.
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # unpaused through the API, explicitly
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",  # it would listen on 0.0.0.0:8974
    }
