"""The retraining pipeline as an Airflow 3 TaskFlow DAG.

Airflow parses this file from its DAGs folder (``bench/airflow/dags``) as well as the launcher
importing it, so it imports nothing but the Task SDK and ``retrain_bench.workload``. DataFrames and
the model travel as files (parquet, joblib) under the run's ``outdir``; XComs carry their paths and
the scalars. The adaptive step is a ``@task.branch`` on the drift decision: on drift it follows
``c_values``, whose list the ``tune`` task is mapped over (``.partial().expand()``, one mapped task
instance per C value) and ``select_best`` reads the mapped results back in map-index order; without
drift it follows ``keep_current`` and Airflow skips the rest.

The file imports nothing heavy at its top: a scheduler's every task process (the server target)
parses it again before running its task, as does the dag-processor, and Airflow cancels a parse
after ``[core] dagbag_import_timeout``. The workload (pandas, scikit-learn) is imported in the task
bodies, before their stamps, as pandas and joblib already were; the local launcher imports it in
its start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import dag, get_current_context, task

from retrain_bench.workload import registry
from retrain_bench.workload.cases import Case
from retrain_bench.workload.stamps import stamp

DAG_ID = "retrain_bench"


def _unit() -> str:
    # dag.test() runs every task instance in this one process: its key tells them apart.
    ti = get_current_context()["ti"]
    return f"airflow:{ti.run_id}:{ti.task_id}:{ti.map_index}"


@task(multiple_outputs=True)
def make_data(case_json: str, outdir: str, stamps: str) -> dict[str, str]:
    from retrain_bench.workload import retraining

    with stamp("make_data", unit=_unit(), to=stamps):
        train_data, drifted_data = retraining.make_data(Case.from_json(case_json))
        Path(outdir).mkdir(parents=True, exist_ok=True)
        paths = {"train_data": f"{outdir}/train_data.parquet", "drifted_data": f"{outdir}/drifted_data.parquet"}
        train_data.to_parquet(paths["train_data"])
        drifted_data.to_parquet(paths["drifted_data"])
    return paths


@task(multiple_outputs=True)
def train(case_json: str, train_data: str, outdir: str, stamps: str) -> dict[str, Any]:
    import joblib
    import pandas as pd

    from retrain_bench.workload import retraining

    with stamp("train", unit=_unit(), to=stamps) as s:
        model, accuracy = retraining.train(Case.from_json(case_json), pd.read_parquet(train_data))
        path = f"{outdir}/model.joblib"
        joblib.dump(model, path)
        s.record(accuracy=accuracy)
    return {"model": path, "accuracy": accuracy}


@task(multiple_outputs=True)
def detect_drift(
    case_json: str, model: str, train_data: str, drifted_data: str, initial_accuracy: float, stamps: str
) -> dict[str, Any]:
    import joblib
    import pandas as pd

    from retrain_bench.workload import retraining

    with stamp("detect_drift", unit=_unit(), to=stamps) as s:
        detection = retraining.detect_drift(
            Case.from_json(case_json),
            joblib.load(model),
            pd.read_parquet(train_data),
            pd.read_parquet(drifted_data),
            initial_accuracy,
        )
        s.record(**detection.record())
    return {"accuracy": detection.accuracy, "drift": detection.drift}


@task.branch
def adapt(drift: bool) -> str:
    """Which way the run goes: retrain over the grid on drift, else the current model stands."""
    return "c_values" if drift else "keep_current"


@task
def c_values(grid: list[float]) -> list[float]:
    """The grid as this run's XCom, so ``tune`` is mapped over it at run time."""
    return [float(c) for c in grid]


@task
def tune(case_json: str, drifted_data: str, stamps: str, c: float) -> float:
    import pandas as pd

    from retrain_bench.workload import retraining

    with stamp("tune", c=c, unit=_unit(), to=stamps) as s:
        accuracy = retraining.tune(Case.from_json(case_json), pd.read_parquet(drifted_data), c)
        s.record(accuracy=accuracy)
    return accuracy


@task(multiple_outputs=True)
def select_best(grid: list[float], accuracies: Any, stamps: str) -> dict[str, float]:
    from retrain_bench.workload import retraining

    # The mapped results arrive as a lazy sequence in map-index order, i.e. grid order. Indexing up
    # to its len() reads each XCom once; iterating it probes one past the end, which Airflow logs
    # as an error ("XCom not found").
    tuned = [float(accuracies[i]) for i in range(len(accuracies))]
    with stamp("select_best", unit=_unit(), to=stamps) as s:
        best_c, accuracy = retraining.select_best(grid, tuned)
        s.record(best_c=best_c, accuracy=accuracy)
    return {"accuracy": accuracy, "best_c": best_c}


@task
def register(case_json: str, drifted_data: str, best_c: float, stamps: str) -> None:
    """The registry step (``--registry``): the selected model into the session's MLflow registry."""
    import pandas as pd

    with stamp("register", unit=_unit(), to=stamps) as s:
        s.record(**registry.register(Case.from_json(case_json), pd.read_parquet(drifted_data), best_c).record())


@task
def keep_current(accuracy: float) -> float:
    """No drift: the current model and its accuracy stand (no step of the pipeline runs)."""
    return accuracy


@dag(dag_id=DAG_ID, schedule=None, catchup=False, max_active_runs=1, tags=["retrain-bench"])
def retrain(
    case_json: str = "{}",
    grid: list[float] | None = None,  # noqa: B006
    outdir: str = "",
    stamps: str = "",
) -> None:
    """make_data -> train -> detect_drift -> adapt -> (c_values -> tune[C]... -> select_best | keep_current).

    ``stamps``: the run's own stamps file (the server target, whose task processes are started by a
    long-lived scheduler); empty, the tasks stamp to ``$BENCH_STAMPS`` as on the local target."""
    data = make_data(case_json, outdir, stamps)
    trained = train(case_json, data["train_data"], outdir, stamps)
    checked = detect_drift(
        case_json, trained["model"], data["train_data"], data["drifted_data"], trained["accuracy"], stamps
    )
    branch = adapt(checked["drift"])
    grid_values = c_values(grid)
    accuracies = tune.partial(case_json=case_json, drifted_data=data["drifted_data"], stamps=stamps).expand(
        c=grid_values
    )
    best = select_best(grid_values, accuracies, stamps)
    if registry.enabled():  # the launcher's environment names the session's registry (--registry, local only)
        register(case_json, data["drifted_data"], best["best_c"], stamps)
    current = keep_current(checked["accuracy"])
    branch >> [grid_values, current]


RETRAIN = retrain()
