"""Run the Dagster graph with ``execute_in_process``: the in-process executor, steps one after another.

No ``DAGSTER_HOME`` and no daemon: the run goes to an ephemeral instance (in-memory run and event
storage, telemetry off) that ``prepare`` makes, as Airflow's metadata database and Prefect's server
are made before the timer; building it is most of Dagster's start-up (its storage layer, SQLAlchemy
and alembic, loads then). The IO managers write the run's parquet frames and model under the round's
own directory. Dagster logs every event at DEBUG to stderr (~76 lines a smoke run); the console
logger is set to WARNING so the round's log keeps only what went wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retrain_bench.workload.cases import Case

#: The console logger at WARNING: Dagster's per-event DEBUG lines would bury the round's log.
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

_instance: Any = None


def prepare() -> None:
    """Import Dagster and the graph and make the run's ephemeral instance: start-up, out of the timer."""
    global _instance  # noqa: PLW0603  # one launcher, one run: the instance prepare made for it
    from dagster import DagsterInstance

    import bench.dagster.pipeline  # noqa: F401

    _instance = DagsterInstance.ephemeral(settings={"telemetry": {"enabled": False}})


def run(case: Case, workdir: Path) -> Any:
    """One run; its ``ExecuteInProcessResult`` (which steps ran, which were skipped), which the
    harness ignores (it reads the stamps)."""
    from bench.dagster.pipeline import job

    if _instance is None:
        prepare()
    result = job(str(workdir / "dagster")).execute_in_process(
        run_config=RUN_CONFIG,
        instance=_instance,
        input_values={"case_json": case.to_json(), "grid": list(case.grid)},
    )
    # raise_on_error (the default) raises a failed op's own error; this catches anything else.
    if not result.success:
        raise RuntimeError(f"the Dagster run {result.run_id} did not succeed")
    return result
