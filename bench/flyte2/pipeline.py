"""The retraining pipeline on Flyte 2: async tasks of one ``TaskEnvironment``.

Flyte 2 drops flytekit's workflow DSL and ``@dynamic``: the driver ``retrain`` is itself an async
task whose body is plain Python, so the adaptive branch is an ``if`` on the drift decision and the
tuning fan-out is ``asyncio.gather`` over one ``tune`` call per C value. Every call of a task from
the driver is a Flyte action of its own (its own inputs, outputs and metadata directory), on a
cluster its own container. DataFrames travel as parquet (Flyte's pandas DataFrame type), the
fitted model as a joblib ``flyte.io.File``.

``tune`` is a sync task, awaited through ``tune.aio(...)``: Flyte runs a sync task's body in a
thread of its own (``run_sync_in_thread``), so the C values really run side by side, as their
actions would on a cluster. An async ``tune`` with the same CPU-bound body would block the event
loop and run the grid one value after another, whatever ``gather`` says.
"""

from __future__ import annotations

import asyncio
import os
import tempfile

import flyte
import joblib
import pandas as pd
from flyte.io import File

from retrain_bench.workload import registry, retraining
from retrain_bench.workload.cases import Case
from retrain_bench.workload.stamps import stamp

# No cache on any task: a cached round measures nothing.
env = flyte.TaskEnvironment(name="retrain_bench", cache="disable")


def _unit() -> str:
    # Every task runs in this one process: the action's name tells the tasks apart.
    return f"flyte2:{flyte.ctx().action.name}"


@env.task
async def make_data(case_json: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    with stamp("make_data", unit=_unit()):
        train_data, drifted_data = retraining.make_data(Case.from_json(case_json))
    return train_data, drifted_data


@env.task
async def train(case_json: str, train_data: pd.DataFrame) -> tuple[File, float]:
    with stamp("train", unit=_unit()) as s:
        model, accuracy = retraining.train(Case.from_json(case_json), train_data)
        # Written under TMPDIR (the round's own directory), then handed to Flyte, which copies it
        # into the run's raw data path.
        fd, path = tempfile.mkstemp(suffix=".joblib")
        os.close(fd)
        joblib.dump(model, path)
        s.record(accuracy=accuracy)
    return await File.from_local(path), accuracy


@env.task
async def detect_drift(
    case_json: str, model: File, train_data: pd.DataFrame, drifted_data: pd.DataFrame, initial_accuracy: float
) -> tuple[float, bool]:
    with stamp("detect_drift", unit=_unit()) as s:
        fitted = joblib.load(await model.download())
        detection = retraining.detect_drift(
            Case.from_json(case_json), fitted, train_data, drifted_data, initial_accuracy
        )
        s.record(**detection.record())
    return detection.accuracy, detection.drift


@env.task
def tune(case_json: str, drifted_data: pd.DataFrame, c: float) -> float:
    with stamp("tune", c=c, unit=_unit()) as s:
        accuracy = retraining.tune(Case.from_json(case_json), drifted_data, c)
        s.record(accuracy=accuracy)
    return accuracy


@env.task
async def select_best(grid: list[float], accuracies: list[float]) -> tuple[float, float]:
    with stamp("select_best", unit=_unit()) as s:
        best_c, accuracy = retraining.select_best(grid, accuracies)
        s.record(best_c=best_c, accuracy=accuracy)
    return accuracy, best_c


@env.task
async def register(case_json: str, drifted_data: pd.DataFrame, best_c: float) -> None:
    """The registry step (``--registry``): the selected model into the session's MLflow registry."""
    with stamp("register", unit=_unit()) as s:
        s.record(**registry.register(Case.from_json(case_json), drifted_data, best_c).record())


@env.task
async def retrain(case_json: str, grid: list[float]) -> tuple[float, float | None]:
    """(final accuracy, best C): without drift the current accuracy stands and no tune action is
    created; with drift, one tune action per C value, concurrently, and select_best over them."""
    train_data, drifted_data = await make_data(case_json)
    model, initial_accuracy = await train(case_json, train_data)
    accuracy, drift = await detect_drift(case_json, model, train_data, drifted_data, initial_accuracy)
    if not drift:
        return accuracy, None
    accuracies = await asyncio.gather(*(tune.aio(case_json, drifted_data, c) for c in grid))
    best_accuracy, best_c = await select_best(grid, list(accuracies))
    if registry.enabled():  # the launcher's environment says whether the session has a registry
        await register(case_json, drifted_data, best_c)
    return best_accuracy, best_c
