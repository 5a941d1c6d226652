"""The registry step (``--registry=mlflow``): the selected model into an MLflow model registry,
promoted to the alias ``champion`` only if it beats the current champion.

Runs after ``select_best`` as a pipeline step of its own, on every platform that has it, only when
the session started a registry: the launcher's environment then names it (``ENV`` and MLflow's own
``MLFLOW_TRACKING_URI``/``MLFLOW_EXPERIMENT_NAME``). Without it no platform adds the step, so a
round without ``--registry`` is the pipeline the study measured.

The step refits the selected C on drifted_data's training split (the tune steps return accuracies,
not models; the fit is deterministic, so it is the model ``select_best`` picked), loads the current
champion if there is one and scores both on drifted_data's held-out split, logs the new model with
its C and accuracy as a run, registers it as a new version, and moves ``champion`` to it only if its
accuracy is strictly higher (``promote``: ties keep the old champion, so re-registering an equal
model never churns the alias). ``log_model`` gets explicit ``pip_requirements`` and no input
example: left to infer them MLflow spends about a minute in a subprocess per call.
"""

from __future__ import annotations

import dataclasses
import os
import re
from importlib import metadata
from typing import TYPE_CHECKING, Any

from retrain_bench.workload.cases import Case

if TYPE_CHECKING:
    import pandas as pd

#: Set (to ``mlflow``) in every launcher of a session run with ``--registry=mlflow``.
ENV = "RETRAIN_BENCH_REGISTRY"
#: The registered model's name prefix for this launcher (one model per platform spec and case, so
#: platforms interleaved in one session do not decide on each other's champions).
PREFIX_ENV = "RETRAIN_BENCH_REGISTRY_PREFIX"
ALIAS = "champion"


def enabled() -> bool:
    """Whether this run has a registry step."""
    return os.environ.get(ENV, "") == "mlflow"


def promote(accuracy: float, champion_accuracy: float | None) -> bool:
    """Whether the new model becomes the champion: there is none yet, or it is strictly better on
    the same held-out data. A tie keeps the old champion."""
    return champion_accuracy is None or accuracy > champion_accuracy


def model_name(case: Case) -> str:
    """The registered model's name: prefix, case and hash, with anything but letters, digits, ``-``
    and ``_`` made ``-`` (``@`` would read as an alias in a ``models:/`` URI)."""
    prefix = os.environ.get(PREFIX_ENV, "retrain-bench")
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{prefix}-{case.key}-{case.hash}")


@dataclasses.dataclass(frozen=True)
class Registered:
    """What the registry step did: the version it registered and whether it is now the champion."""

    model: str
    version: int
    accuracy: float
    champion_accuracy: float | None
    promoted: bool

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def register(case: Case, drifted_data: pd.DataFrame, best_c: float) -> Registered:
    """Log, register and maybe promote the model ``select_best`` chose; raises what MLflow raises."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from retrain_bench.workload.fitting import fit_selected

    model, x_test, y_test = fit_selected(case, drifted_data, best_c)
    accuracy = float(model.score(x_test, y_test))
    name = model_name(case)
    client = MlflowClient()
    try:
        current = client.get_model_version_by_alias(name, ALIAS)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise
        current = None
    champion_accuracy = None
    if current is not None:
        champion = mlflow.sklearn.load_model(f"models:/{name}@{ALIAS}")
        champion_accuracy = float(champion.score(x_test, y_test))
    with mlflow.start_run():
        mlflow.log_params({"C": best_c, "case": case.key, "case_hash": case.hash})
        mlflow.log_metric("accuracy", accuracy)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            pip_requirements=[f"scikit-learn=={metadata.version('scikit-learn')}"],
            registered_model_name=name,
        )
    version = int(info.registered_model_version)
    promoted = promote(accuracy, champion_accuracy)
    if promoted:
        client.set_registered_model_alias(name, ALIAS, str(version))
    return Registered(name, version, accuracy, champion_accuracy, promoted)
