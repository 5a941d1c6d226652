"""The retraining pipeline as a Flyte workflow.

DataFrames travel between tasks as Flyte's StructuredDataset (parquet); the fitted model as a
joblib ``FlyteFile``. The adaptive step is a ``@dynamic`` task: it sees the drift decision and
the grid as plain values at run time and builds one ``tune`` node per C value plus
``select_best`` only when there is drift, and ``register`` after it when the session has a
registry (``--registry``).

No task declares resources or an image: on a cluster both come from the registration's
serialization settings (``src/retrain_bench/platforms/flyte/remote.py``), which flytekit also
hands to ``adapt``'s pod so
the nodes it compiles there get the same; a static ``requests=`` here would override that.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import flytekit
import joblib
import pandas as pd
from flytekit import dynamic, task, workflow
from flytekit.types.file import FlyteFile

from retrain_bench.workload import registry, retraining
from retrain_bench.workload.cases import Case
from retrain_bench.workload.stamps import stamp


def _unit() -> str:
    # flytekit local runs every task in this one process; each task execution gets its own
    # working directory, which tells tasks apart where the pid cannot.
    return f"flyte:{flytekit.current_context().working_directory}"


class Data(NamedTuple):
    train_data: pd.DataFrame
    drifted_data: pd.DataFrame


class Trained(NamedTuple):
    model: FlyteFile
    accuracy: float


class Drift(NamedTuple):
    accuracy: float
    drift: bool


class Result(NamedTuple):
    accuracy: float
    best_c: float | None


@task(cache=False)
def make_data(case_json: str) -> Data:
    with stamp("make_data", unit=_unit()):
        train_data, drifted_data = retraining.make_data(Case.from_json(case_json))
    return Data(train_data=train_data, drifted_data=drifted_data)


@task(cache=False)
def train(case_json: str, train_data: pd.DataFrame) -> Trained:
    with stamp("train", unit=_unit()) as s:
        model, accuracy = retraining.train(Case.from_json(case_json), train_data)
        path = os.path.join(flytekit.current_context().working_directory, "model.joblib")
        joblib.dump(model, path)
        s.record(accuracy=accuracy)
    return Trained(model=FlyteFile(path), accuracy=accuracy)


@task(cache=False)
def detect_drift(
    case_json: str, model: FlyteFile, train_data: pd.DataFrame, drifted_data: pd.DataFrame, initial_accuracy: float
) -> Drift:
    with stamp("detect_drift", unit=_unit()) as s:
        detection = retraining.detect_drift(
            Case.from_json(case_json), joblib.load(model.download()), train_data, drifted_data, initial_accuracy
        )
        s.record(**detection.record())
    return Drift(accuracy=detection.accuracy, drift=detection.drift)


@task(cache=False)
def tune(case_json: str, drifted_data: pd.DataFrame, c: float) -> float:
    with stamp("tune", c=c, unit=_unit()) as s:
        accuracy = retraining.tune(Case.from_json(case_json), drifted_data, c)
        s.record(accuracy=accuracy)
    return accuracy


@task(cache=False)
def select_best(grid: list[float], accuracies: list[float]) -> Result:
    with stamp("select_best", unit=_unit()) as s:
        best_c, accuracy = retraining.select_best(grid, accuracies)
        s.record(best_c=best_c, accuracy=accuracy)
    return Result(accuracy=accuracy, best_c=best_c)


@task(cache=False)
def register(case_json: str, drifted_data: pd.DataFrame, accuracy: float, best_c: float | None) -> Result:
    """The registry step (``--registry``): registers the selected model, passes the result on."""
    assert best_c is not None  # select_best always selects one
    with stamp("register", unit=_unit()) as s:
        s.record(**registry.register(Case.from_json(case_json), drifted_data, best_c).record())
    return Result(accuracy=accuracy, best_c=best_c)


# The hints register tune and select_best with the workflow (flytekit would otherwise only meet
# them inside the pod), so flyteadmin and the console know every task of the pipeline.
@dynamic(cache=False, node_dependency_hints=[tune, select_best, register])
def adapt(
    case_json: str, drift: bool, drifted_data: pd.DataFrame, current_accuracy: float, grid: list[float]
) -> Result:
    """Without drift the current accuracy stands and no node is created; with drift, one tune
    node per C value and select_best over them."""
    if not drift:
        return Result(accuracy=current_accuracy, best_c=None)
    accuracies = [tune(case_json=case_json, drifted_data=drifted_data, c=c) for c in grid]
    best = select_best(grid=grid, accuracies=accuracies)
    if not registry.enabled():  # the launcher's environment says whether the session has a registry
        return best
    return register(case_json=case_json, drifted_data=drifted_data, accuracy=best.accuracy, best_c=best.best_c)


@workflow
def retrain(case_json: str, grid: list[float]) -> Result:
    data = make_data(case_json=case_json)
    trained = train(case_json=case_json, train_data=data.train_data)
    checked = detect_drift(
        case_json=case_json,
        model=trained.model,
        train_data=data.train_data,
        drifted_data=data.drifted_data,
        initial_accuracy=trained.accuracy,
    )
    return adapt(
        case_json=case_json,
        drift=checked.drift,
        drifted_data=data.drifted_data,
        current_accuracy=checked.accuracy,
        grid=grid,
    )
