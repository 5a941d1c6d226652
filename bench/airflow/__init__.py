"""The pipeline on Airflow 3: a TaskFlow DAG in ``dags/``, the folder Airflow parses as its DAG bundle.

This package imports no Airflow itself: the launcher sets ``AIRFLOW_HOME`` and the rest of
Airflow's configuration before anything imports ``airflow`` (``retrain_bench.platforms.airflow.local``).
"""

from __future__ import annotations

from pathlib import Path

#: Airflow's ``[core] dags_folder``: ``dag.test()`` re-parses it and writes the DAG to the metadata DB.
DAGS_FOLDER = Path(__file__).resolve().parent / "dags"
