"""The Airflow configuration of a round and of the session's template database, as environment variables.

Airflow reads its configuration when ``airflow`` is first imported, so these are set before that
(in the launcher's ``prepare``, in the migration's environment). Every path lives under the home
given: nothing goes to ``~/airflow``.
"""

from __future__ import annotations

from pathlib import Path

#: The session's pre-migrated metadata database (``service.py``), which each round copies.
TEMPLATE_DB_VARIABLE = "RETRAIN_BENCH_AIRFLOW_DB"
DB_NAME = "airflow.db"


def variables(home: Path, dags_folder: Path | None = None) -> dict[str, str]:
    """Airflow's configuration for an ``AIRFLOW_HOME`` of ``home`` (and the DAG bundle's folder)."""
    found = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / DB_NAME}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # ~115 INFO lines a run otherwise (scheduling, XCom pushes, execution API calls) on stdout.
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # Anonymous usage reporting (Scarf): off, and the machine may have no internet at all.
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    }
    if dags_folder is not None:
        found["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    return found
