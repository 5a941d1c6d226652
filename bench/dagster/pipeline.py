"""The retraining pipeline as a Dagster graph of ops.

The adaptive branch is Dagster's optional outputs: ``detect_drift`` always yields its accuracy and
yields the ``drifted`` gate only on drift; the ops downstream of an output that was never yielded
are skipped, so without drift ``fan_out``, every ``tune`` and ``select_best`` are skipped steps.
The fan-out is a ``DynamicOut``: ``fan_out`` yields one ``DynamicOutput`` per C value, ``tune`` is
mapped over them and ``collect()`` hands the accuracies to ``select_best`` in mapping-key order,
which is the grid's order.

DataFrames travel as parquet files and the fitted model as a joblib file, each written and read
by an IO manager (``FramesIOManager``, ``ModelIOManager``) under the directory the run is given;
scalars stay in the in-process run's memory. ``fan_out`` is orchestration, not a pipeline step,
so it takes no stamp (Flyte's ``adapt`` takes none either).

Two bindings of the one graph: ``job(root)`` for the local target (``execute_in_process``, the
in-process executor, IO managers rooted at ``root``), and ``definitions``, the code location the
server target's code server loads: the same graph with the multiprocess executor (each step its
own process) and IO managers rooted where each run's config says. The ``stamps`` input names the
run's stamps file there (the code server and its run workers are long-lived, a variable of theirs
cannot name it per run); empty, as locally, ``$BENCH_STAMPS`` is used.
"""

# No `from __future__ import annotations`: Dagster reads the annotations as types (a string
# `context: OpExecutionContext` is refused, and inputs would lose their Dagster types).
from collections.abc import Iterator
from typing import Any

import joblib
import pandas as pd
from dagster import (
    Definitions,
    DynamicOut,
    DynamicOutput,
    In,
    InputContext,
    OpExecutionContext,
    Out,
    Output,
    OutputContext,
    UPathIOManager,
    graph,
    io_manager,
    multiprocess_executor,
    op,
)
from upath import UPath

from retrain_bench.workload import registry, retraining
from retrain_bench.workload.cases import Case
from retrain_bench.workload.stamps import stamp

FRAMES = "frames"
MODELS = "models"


class FramesIOManager(UPathIOManager):
    """A DataFrame output as a parquet file, read back by every op that takes it as input."""

    extension = ".parquet"

    def dump_to_path(self, context: OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        obj.to_parquet(path)

    def load_from_path(self, context: InputContext, path: UPath) -> pd.DataFrame:
        return pd.read_parquet(path)


class ModelIOManager(UPathIOManager):
    """The fitted model as a joblib file."""

    extension = ".joblib"

    def dump_to_path(self, context: OutputContext, obj: Any, path: UPath) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(obj, path)

    def load_from_path(self, context: InputContext, path: UPath) -> Any:
        return joblib.load(path)


#: The run's stamps file: an input of every stamped op, empty unless the run names one (server target).
STAMPS = In(str, default_value="")


def _unit(context: OpExecutionContext) -> str:
    # Locally every op runs in one process, on the server each in its own: the step (a mapped tune's
    # with its mapping key) names the unit on both; the stamp's pid tells the processes apart.
    key = context.get_mapping_key()
    return f"dagster:{context.op_handle}" + (f"[{key}]" if key else "")


@op(
    ins={"stamps": STAMPS},
    out={
        "train_data": Out(pd.DataFrame, io_manager_key=FRAMES),
        "drifted_data": Out(pd.DataFrame, io_manager_key=FRAMES),
    },
)
def make_data(context: OpExecutionContext, case_json: str, stamps: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    with stamp("make_data", unit=_unit(context), to=stamps):
        train_data, drifted_data = retraining.make_data(Case.from_json(case_json))
    return train_data, drifted_data


@op(ins={"stamps": STAMPS}, out={"model": Out(io_manager_key=MODELS), "accuracy": Out(float)})
def train(context: OpExecutionContext, case_json: str, train_data: pd.DataFrame, stamps: str) -> tuple[Any, float]:
    with stamp("train", unit=_unit(context), to=stamps) as s:
        model, accuracy = retraining.train(Case.from_json(case_json), train_data)
        s.record(accuracy=accuracy)
    return model, accuracy


@op(ins={"stamps": STAMPS}, out={"accuracy": Out(float), "drifted": Out(bool, is_required=False)})
def detect_drift(
    context: OpExecutionContext,
    case_json: str,
    model: Any,
    train_data: pd.DataFrame,
    drifted_data: pd.DataFrame,
    initial_accuracy: float,
    stamps: str,
) -> Iterator[Output[Any]]:
    with stamp("detect_drift", unit=_unit(context), to=stamps) as s:
        detection = retraining.detect_drift(
            Case.from_json(case_json), model, train_data, drifted_data, initial_accuracy
        )
        s.record(**detection.record())
    yield Output(detection.accuracy, "accuracy")
    if detection.drift:
        yield Output(True, "drifted")


@op(ins={"grid": In(list), "drifted": In(bool)}, out=DynamicOut(float))
def fan_out(grid: list[float], drifted: bool) -> Iterator[DynamicOutput[float]]:
    # Zero-padded keys: collect() orders by mapping key, so c00, c01, ... keep the grid's order.
    for index, c in enumerate(grid):
        yield DynamicOutput(float(c), mapping_key=f"c{index:02d}")


@op(ins={"stamps": STAMPS})
def tune(context: OpExecutionContext, case_json: str, drifted_data: pd.DataFrame, c: float, stamps: str) -> float:
    with stamp("tune", c=c, unit=_unit(context), to=stamps) as s:
        accuracy = retraining.tune(Case.from_json(case_json), drifted_data, c)
        s.record(accuracy=accuracy)
    return accuracy


@op(
    ins={"grid": In(list), "accuracies": In(list), "stamps": STAMPS},
    out={"accuracy": Out(float), "best_c": Out(float)},
)
def select_best(
    context: OpExecutionContext, grid: list[float], accuracies: list[float], stamps: str
) -> tuple[float, float]:
    with stamp("select_best", unit=_unit(context), to=stamps) as s:
        best_c, accuracy = retraining.select_best(grid, accuracies)
        s.record(best_c=best_c, accuracy=accuracy)
    return accuracy, best_c


@op(ins={"stamps": STAMPS})
def register(
    context: OpExecutionContext, case_json: str, drifted_data: pd.DataFrame, best_c: float, stamps: str
) -> None:
    """The registry step (``--registry``): the selected model into the session's MLflow registry."""
    with stamp("register", unit=_unit(context), to=stamps) as s:
        s.record(**registry.register(Case.from_json(case_json), drifted_data, best_c).record())


@graph
def retrain(case_json: str, grid: list[float], stamps: str) -> None:
    train_data, drifted_data = make_data(case_json, stamps)
    model, initial_accuracy = train(case_json, train_data, stamps)
    _accuracy, drifted = detect_drift(case_json, model, train_data, drifted_data, initial_accuracy, stamps)
    accuracies = fan_out(grid, drifted).map(lambda c: tune(case_json, drifted_data, c, stamps)).collect()
    _best_accuracy, best_c = select_best(grid, accuracies, stamps)
    # Decided when the graph is built (at import): the launcher's environment names the session's
    # registry (--registry, local target only), as KFP's pipeline is built with or without the step.
    if registry.enabled():
        register(case_json, drifted_data, best_c, stamps)


def job(root: str) -> Any:
    """The graph as a job whose IO managers write under ``root``."""
    return retrain.to_job(
        name="retrain_bench",
        resource_defs={FRAMES: FramesIOManager(UPath(root) / FRAMES), MODELS: ModelIOManager(UPath(root) / MODELS)},
    )


@io_manager(config_schema={"root": str})
def _frames_under_root(init_context: Any) -> FramesIOManager:
    return FramesIOManager(UPath(init_context.resource_config["root"]) / FRAMES)


@io_manager(config_schema={"root": str})
def _models_under_root(init_context: Any) -> ModelIOManager:
    return ModelIOManager(UPath(init_context.resource_config["root"]) / MODELS)


#: The server target's code location: the graph with the multiprocess executor (Dagster's default
#: for a job, each step in a process of its own) and IO managers rooted by each run's config
#: (``resources: {frames: {config: {root: ...}}, models: ...}``).
definitions = Definitions(
    jobs=[
        retrain.to_job(
            name="retrain_bench",
            resource_defs={FRAMES: _frames_under_root, MODELS: _models_under_root},
            executor_def=multiprocess_executor,
        )
    ]
)
