"""The retraining pipeline as a KFP v2 pipeline.

DataFrames travel as parquet ``Dataset`` artifacts and the model as a joblib ``Model`` artifact.
The adaptive step is ``dsl.If`` on the drift decision around a ``dsl.ParallelFor`` over the grid,
whose accuracies reach ``select_best`` through ``dsl.Collected``. Components are lightweight
Python components whose bodies import ``bench`` (KFP ships only the function's source), and they
install nothing at run time (``install_kfp_package=False``): the interpreter, or on a cluster the
image, already has kfp and the suite.

``retrain`` is the pipeline the local target runs. ``build_pipeline`` makes the same pipeline for
a cluster: every task from one image, with the same CPU and memory requests and limits, and the
same environment (``$BENCH_STAMPS=stdout``), so nothing about a task differs but where it runs.
"""

# No `from __future__ import annotations`: kfp reads the annotations as types, not strings.
import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

PIPELINE_NAME = "retrain-bench"
#: The image a cluster run starts each task from; the remote runner replaces it with the suite's
#: own image (same Python on both platforms). Locally it only names the interpreter's version.
BASE_IMAGE = "python:3.11"

component = functools.partial(dsl.component, base_image=BASE_IMAGE, install_kfp_package=False)


@component
def make_data(case_json: str, train_data: Output[Dataset], drifted_data: Output[Dataset]) -> None:
    from retrain_bench.workload import retraining
    from retrain_bench.workload.cases import Case
    from retrain_bench.workload.stamps import stamp

    with stamp("make_data"):
        train, drifted = retraining.make_data(Case.from_json(case_json))
        train.to_parquet(train_data.path)
        drifted.to_parquet(drifted_data.path)


@component
def train(case_json: str, train_data: Input[Dataset], model: Output[Model]) -> float:
    import joblib
    import pandas as pd

    from retrain_bench.workload import retraining
    from retrain_bench.workload.cases import Case
    from retrain_bench.workload.stamps import stamp

    with stamp("train") as s:
        fitted, accuracy = retraining.train(Case.from_json(case_json), pd.read_parquet(train_data.path))
        joblib.dump(fitted, model.path)
        s.record(accuracy=accuracy)
    return accuracy


@component
def detect_drift(
    case_json: str,
    model: Input[Model],
    train_data: Input[Dataset],
    drifted_data: Input[Dataset],
    initial_accuracy: float,
    accuracy: dsl.OutputPath(float),  # type: ignore[valid-type]
) -> bool:
    # The decision is the main output on purpose: kfp.local 2.17's condition evaluator resolves
    # `<task>-Output` channels only and silently takes the false branch for a named output.
    import joblib
    import pandas as pd

    from retrain_bench.workload import retraining
    from retrain_bench.workload.cases import Case
    from retrain_bench.workload.stamps import stamp

    with stamp("detect_drift") as s:
        detection = retraining.detect_drift(
            Case.from_json(case_json),
            joblib.load(model.path),
            pd.read_parquet(train_data.path),
            pd.read_parquet(drifted_data.path),
            initial_accuracy,
        )
        with open(accuracy, "w") as out:
            out.write(str(detection.accuracy))
        s.record(**detection.record())
    return detection.drift


@component
def tune(case_json: str, drifted_data: Input[Dataset], c: float) -> float:
    import pandas as pd

    from retrain_bench.workload import retraining
    from retrain_bench.workload.cases import Case
    from retrain_bench.workload.stamps import stamp

    with stamp("tune", c=c) as s:
        accuracy = retraining.tune(Case.from_json(case_json), pd.read_parquet(drifted_data.path), c)
        s.record(accuracy=accuracy)
    return accuracy


@component
def select_best(grid: list[float], accuracies: list[float]) -> NamedTuple("Result", [("accuracy", float), ("best_c", float)]):  # type: ignore[valid-type]  # noqa: E501, UP014  # fmt: skip
    from collections import namedtuple

    from retrain_bench.workload import retraining
    from retrain_bench.workload.stamps import stamp

    with stamp("select_best") as s:
        best_c, accuracy = retraining.select_best(grid, accuracies)
        s.record(best_c=best_c, accuracy=accuracy)
    # mypy reads the call-form NamedTuple annotation as `tuple`; kfp needs exactly that form.
    return namedtuple("Result", ["accuracy", "best_c"])(accuracy, best_c)  # type: ignore[call-arg, arg-type]


@component
def register(case_json: str, drifted_data: Input[Dataset], best_c: float) -> None:
    import pandas as pd

    from retrain_bench.workload import registry
    from retrain_bench.workload.cases import Case
    from retrain_bench.workload.stamps import stamp

    with stamp("register") as s:
        case = Case.from_json(case_json)
        s.record(**registry.register(case, pd.read_parquet(drifted_data.path), best_c).record())


#: The components in pipeline order; the remote runner's timings keep exactly these task names.
COMPONENTS = (make_data, train, detect_drift, tune, select_best)
#: Task name as the compiled pipeline (and so the KFP API) spells it -> the step's name everywhere else
TASK_NAMES = {c.name: c.python_func.__name__ for c in COMPONENTS}  # type: ignore[attr-defined]


def build_pipeline(
    image: str = BASE_IMAGE,
    resources: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    registry: bool = False,
) -> Callable[..., Any]:
    """The retraining pipeline with every task from ``image``, with CPU and memory requests equal
    to limits (``{"cpu": "500m", "memory": "1Gi"}``, Kubernetes quantities) and with ``env`` set.
    Caching is off on every task. The defaults give exactly the local pipeline; ``registry`` adds
    the registry step after select_best (local target only: ``--registry``)."""
    if image == BASE_IMAGE:
        parts = COMPONENTS
    else:
        # The image is a property of the component, so the functions are wrapped again for it.
        parts = tuple(
            dsl.component(c.python_func, base_image=image, install_kfp_package=False)  # type: ignore[attr-defined]
            for c in COMPONENTS
        )
    make_data_c, train_c, detect_drift_c, tune_c, select_best_c = parts

    def task(t: dsl.PipelineTask) -> dsl.PipelineTask:
        t.set_caching_options(False)
        if resources is not None:
            t.set_cpu_request(resources["cpu"]).set_cpu_limit(resources["cpu"])
            t.set_memory_request(resources["memory"]).set_memory_limit(resources["memory"])
        for name, value in (env or {}).items():
            t.set_env_variable(name, value)
        return t

    @dsl.pipeline(name=PIPELINE_NAME)
    def retrain(case_json: str, grid: list[float]) -> None:
        data = task(make_data_c(case_json=case_json))
        trained = task(train_c(case_json=case_json, train_data=data.outputs["train_data"]))
        checked = task(
            detect_drift_c(
                case_json=case_json,
                model=trained.outputs["model"],
                train_data=data.outputs["train_data"],
                drifted_data=data.outputs["drifted_data"],
                initial_accuracy=trained.outputs["Output"],
            )
        )
        with dsl.If(checked.outputs["Output"] == True):  # noqa: E712 (a KFP condition, not Python truth)
            with dsl.ParallelFor(items=grid) as c:
                tuned = task(tune_c(case_json=case_json, drifted_data=data.outputs["drifted_data"], c=c))
            selected = task(select_best_c(grid=grid, accuracies=dsl.Collected(tuned.output)))
            if registry:
                registered = register(
                    case_json=case_json, drifted_data=data.outputs["drifted_data"], best_c=selected.outputs["best_c"]
                )
                task(registered)

    return retrain


def _with_registry() -> bool:
    from retrain_bench.workload import registry

    return registry.enabled()


#: The pipeline the local target runs; with the registry step when the launcher's environment
#: names the session's registry (``--registry``), decided when the launcher imports this module.
retrain = build_pipeline(registry=_with_registry())
