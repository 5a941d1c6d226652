"""Run the Airflow DAG with ``dag.test()``: every task instance in this process, one after another.

Start-up (``prepare``, outside the timer): a fresh ``AIRFLOW_HOME`` under the round's TMPDIR with
a copy of the session's pre-migrated metadata database, Airflow's configuration set before its
first import, then the Task SDK and the DAG imported. The timed part is one ``dag.test()``: it
re-parses the DAG bundle into the database, creates the run and executes it through Airflow's
in-process execution API, whose set-up (about 4 s on the first task of a process) is Airflow's own
cost and stays in the timer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from retrain_bench.errors import BenchError
from retrain_bench.platforms.airflow import settings
from retrain_bench.workload.cases import Case


def _home() -> Path:
    """A new AIRFLOW_HOME for this launcher with a migrated metadata database in it."""
    # Under TMPDIR, which the harness points into the round's directory and removes with it.
    home = Path(tempfile.mkdtemp(prefix="airflow-home-"))
    template = os.environ.get(settings.TEMPLATE_DB_VARIABLE)
    if template:
        try:
            shutil.copyfile(template, home / settings.DB_NAME)
        except OSError as exc:
            raise BenchError(f"cannot copy the session's Airflow database {template}: {exc.strerror}") from None
    else:
        # Outside a session (no template): migrate one here; still start-up, only slower.
        done = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env={**os.environ, **settings.variables(home)},
            capture_output=True,
            text=True,
            start_new_session=True,
        )
        if done.returncode != 0:
            raise BenchError(f"airflow db migrate failed: {done.stdout[-500:]}{done.stderr[-500:]}")
    return home


def prepare() -> None:
    """Airflow's home and configuration, then the Task SDK and the DAG: start-up, outside the timer."""
    from bench.airflow import DAGS_FOLDER

    os.environ.update(settings.variables(_home(), DAGS_FOLDER))
    # Logged once a run by Airflow's own in-process API client: nothing a user of the DAG can act on.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    import bench.airflow.dags.retrain_bench_dag  # noqa: F401
    import retrain_bench.workload.retraining  # noqa: F401  (the DAG's tasks import it in their bodies)


def run(case: Case, workdir: Path) -> None:
    from bench.airflow.dags.retrain_bench_dag import RETRAIN

    run = RETRAIN.test(
        run_conf={"case_json": case.to_json(), "grid": list(case.grid), "outdir": str(workdir / "airflow-data")}
    )
    if run.state != "success":
        failed = sorted(ti.task_id for ti in run.get_task_instances() if ti.state == "failed")
        raise RuntimeError(f"the Airflow DAG run ended {run.state}; failed tasks: {', '.join(failed) or 'none'}")
