"""The retraining pipeline as a Prefect 3 flow.

Each step is a ``@task``; the flow calls the first three in order (each a task run of its own,
executed in the flow's thread), decides on drift with a plain ``if`` (the branch is Python, as
Prefect means it to be), and fans the tuning out with ``tune.map`` over the grid: one task run per
C value, submitted to the flow's task runner (Prefect's default ``ThreadPoolTaskRunner``: threads,
so they run concurrently). ``select_best`` gets the mapped futures' results in grid order.
DataFrames and the model travel as files (parquet, joblib) under the run's ``outdir``; the tasks
pass their paths. No result is persisted and no cache is consulted: every round computes everything.

``stamps`` names the file the tasks append their stamps to. The local target leaves it empty (the
launcher's ``$BENCH_STAMPS`` is used); on the server target the flow runs in a process the worker
starts, so each run passes its own file as a parameter, beside the case.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context

from retrain_bench.workload import registry, retraining
from retrain_bench.workload.cases import Case
from retrain_bench.workload.stamps import stamp

#: every task: computed each time, nothing written to result storage
step = task(persist_result=False, cache_policy=NO_CACHE)


def _unit() -> str:
    # Task runs share the launcher's process (and the mapped ones its threads): the run id tells them apart.
    context = get_run_context()
    return f"prefect:{context.task_run.id}" if hasattr(context, "task_run") else "prefect:flow"


class Data(NamedTuple):
    train_data: str
    drifted_data: str


class Trained(NamedTuple):
    model: str
    accuracy: float


class Drift(NamedTuple):
    accuracy: float
    drift: bool


class Result(NamedTuple):
    accuracy: float
    best_c: float | None


@step
def make_data(case_json: str, outdir: str, stamps: str = "") -> Data:
    with stamp("make_data", unit=_unit(), to=stamps):
        train_data, drifted_data = retraining.make_data(Case.from_json(case_json))
        Path(outdir).mkdir(parents=True, exist_ok=True)
        paths = Data(f"{outdir}/train_data.parquet", f"{outdir}/drifted_data.parquet")
        train_data.to_parquet(paths.train_data)
        drifted_data.to_parquet(paths.drifted_data)
    return paths


@step
def train(case_json: str, train_data: str, outdir: str, stamps: str = "") -> Trained:
    import joblib
    import pandas as pd

    with stamp("train", unit=_unit(), to=stamps) as s:
        model, accuracy = retraining.train(Case.from_json(case_json), pd.read_parquet(train_data))
        path = f"{outdir}/model.joblib"
        joblib.dump(model, path)
        s.record(accuracy=accuracy)
    return Trained(path, accuracy)


@step
def detect_drift(
    case_json: str, model: str, train_data: str, drifted_data: str, initial_accuracy: float, stamps: str = ""
) -> Drift:
    import joblib
    import pandas as pd

    with stamp("detect_drift", unit=_unit(), to=stamps) as s:
        detection = retraining.detect_drift(
            Case.from_json(case_json),
            joblib.load(model),
            pd.read_parquet(train_data),
            pd.read_parquet(drifted_data),
            initial_accuracy,
        )
        s.record(**detection.record())
    return Drift(detection.accuracy, detection.drift)


@step
def tune(case_json: str, drifted_data: str, c: float, stamps: str = "") -> float:
    import pandas as pd

    with stamp("tune", c=c, unit=_unit(), to=stamps) as s:
        accuracy = retraining.tune(Case.from_json(case_json), pd.read_parquet(drifted_data), c)
        s.record(accuracy=accuracy)
    return accuracy


@step
def select_best(grid: list[float], accuracies: list[float], stamps: str = "") -> Result:
    with stamp("select_best", unit=_unit(), to=stamps) as s:
        best_c, accuracy = retraining.select_best(grid, accuracies)
        s.record(best_c=best_c, accuracy=accuracy)
    return Result(accuracy, best_c)


@step
def register(case_json: str, drifted_data: str, best_c: float, stamps: str = "") -> None:
    """The registry step (``--registry``): the selected model into the session's MLflow registry."""
    import pandas as pd

    with stamp("register", unit=_unit(), to=stamps) as s:
        s.record(**registry.register(Case.from_json(case_json), pd.read_parquet(drifted_data), best_c).record())


@flow(name="retrain-bench", persist_result=False, validate_parameters=False)
def retrain(case_json: str, grid: list[float], outdir: str, stamps: str = "") -> Result:
    data = make_data(case_json, outdir, stamps)
    trained = train(case_json, data.train_data, outdir, stamps)
    checked = detect_drift(case_json, trained.model, data.train_data, data.drifted_data, trained.accuracy, stamps)
    if not checked.drift:
        return Result(checked.accuracy, None)
    tuned = tune.map(
        case_json=unmapped(case_json), drifted_data=unmapped(data.drifted_data), c=grid, stamps=unmapped(stamps)
    )
    best = select_best(grid, tuned.result(), stamps)
    if registry.enabled() and best.best_c is not None:  # the launcher's environment names the session's registry
        register(case_json, data.drifted_data, best.best_c, stamps)
    return best
