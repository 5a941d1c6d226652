"""The pipeline's ML steps, once, for every platform; and the ``bare`` platform built from them.

Each platform wraps these functions in its own tasks and moves the DataFrames between them as
parquet; nothing here knows about Flyte or KFP. Deterministic for a given case, so every platform
must arrive at the same accuracies, drift decision and best C.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from retrain_bench.workload import registry, triggers
from retrain_bench.workload.cases import Case
from retrain_bench.workload.fitting import LABEL, fit, split
from retrain_bench.workload.outcome import Outcome
from retrain_bench.workload.stamps import stamp


def _draw(case: Case, rows: int, random_state: int) -> pd.DataFrame:
    x, y = make_classification(
        n_samples=rows,
        n_features=case.features,
        n_informative=case.informative,
        n_redundant=0,
        random_state=random_state,
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(case.features)])
    frame[LABEL] = y.astype(np.int64)
    return frame


def make_data(case: Case) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``train_data`` and ``drifted_data``, ``case.rows`` rows each.

    - ``concept``: the drifted rows come from a generator with another seed: other class centroids
      on other informative features, so the features move and a model fit on train_data really
      loses accuracy;
    - ``none``: both halves are one draw from the same generator (the control case);
    - ``covariate``: the features move, the concept holds. The drifted rows are the third of a
      further draw from the same generator with the largest ``f0``: a biased sample (a new customer
      segment, say), so p(label | features) is train_data's while f0's distribution is not;
    - ``relabel``: the features hold, the concept changes. The second half of the same draw as
      ``none`` with every label swapped (the classes' meaning inverted, say a flag's encoding
      changed upstream): every feature's distribution is train_data's, the rule mapping them to
      labels is the opposite one, and a retrain learns it back.
    """
    if case.drift == "none":
        both = _draw(case, 2 * case.rows, case.seed)
        return both.iloc[: case.rows].reset_index(drop=True), both.iloc[case.rows :].reset_index(drop=True)
    if case.drift == "concept":
        return _draw(case, case.rows, case.seed), _draw(case, case.rows, case.drift_seed)
    if case.drift == "covariate":
        pool = _draw(case, 4 * case.rows, case.seed)
        train_data, rest = pool.iloc[: case.rows], pool.iloc[case.rows :]
        # A stable sort: ties (none in practice) keep draw order, the same on every platform.
        segment = rest.sort_values("f0", ascending=False, kind="stable").iloc[: case.rows].sort_index()
        return train_data.reset_index(drop=True), segment.reset_index(drop=True)
    if case.drift == "relabel":
        both = _draw(case, 2 * case.rows, case.seed)
        train_data, drifted = (
            both.iloc[: case.rows].reset_index(drop=True),
            both.iloc[case.rows :].reset_index(drop=True),
        )
        drifted[LABEL] = (1 - drifted[LABEL]).astype(np.int64)
        return train_data, drifted
    raise ValueError(f"case {case.name!r}: unknown drift kind {case.drift!r}")


def train(case: Case, train_data: pd.DataFrame) -> tuple[LogisticRegression, float]:
    """Fit on train_data's training split (C=1); accuracy on its held-out split."""
    x_train, x_test, y_train, y_test = split(case, train_data)
    model = fit(case, x_train, y_train, 1.0)
    return model, float(model.score(x_test, y_test))


@dataclasses.dataclass(frozen=True)
class Detection:
    """What the detection step found: the model's accuracy on drifted_data (the accuracy that
    stands without a retrain), the decision, and the statistic the case's trigger decided on."""

    accuracy: float
    drift: bool
    trigger: str
    statistic: dict[str, Any]

    def record(self) -> dict[str, Any]:
        """The detection stamp's record: the same JSON on every platform for the same case."""
        return {"accuracy": self.accuracy, "drift": self.drift, "trigger": self.trigger, "statistic": self.statistic}


def detect_drift(
    case: Case,
    model: LogisticRegression,
    train_data: pd.DataFrame,
    drifted_data: pd.DataFrame,
    initial_accuracy: float,
) -> Detection:
    """The model's accuracy on all of drifted_data, and whether to retrain by the case's trigger:

    - ``accuracy``: that accuracy fell more than ``drift_threshold`` below the held-out accuracy;
    - ``data_drift``: any feature of drifted_data shifted against train_data (``triggers``);
      the labels are not looked at;
    - ``always``: yes, without looking (a scheduled retrain).
    """
    accuracy = float(model.score(drifted_data.drop(columns=[LABEL]), drifted_data[LABEL]))
    if case.trigger == "accuracy":
        drop = initial_accuracy - accuracy
        return Detection(accuracy, drop > case.drift_threshold, case.trigger, {"accuracy_drop": drop})
    if case.trigger == "data_drift":
        columns = [c for c in train_data.columns if c != LABEL]
        shifts = triggers.feature_shifts(train_data, drifted_data, columns, case.psi_bins)
        drifted = triggers.drifted_features(shifts, case.ks_alpha, case.psi_threshold)
        return Detection(accuracy, bool(drifted), case.trigger, triggers.data_drift_statistic(shifts, drifted))
    if case.trigger == "always":
        return Detection(accuracy, True, case.trigger, {})
    raise ValueError(f"case {case.name!r}: unknown trigger {case.trigger!r}")


def tune(case: Case, drifted_data: pd.DataFrame, c: float) -> float:
    """Fit with this C on drifted_data's training split; accuracy on its held-out split."""
    x_train, x_test, y_train, y_test = split(case, drifted_data)
    if case.tune_delay_s:
        time.sleep(case.tune_delay_s)  # a test plugin's case variant (see Case.variant)
    return float(fit(case, x_train, y_train, c).score(x_test, y_test))


def select_best(grid: Sequence[float], accuracies: Sequence[float]) -> tuple[float, float]:
    """(best C, its accuracy): the highest accuracy; ties go to the smallest C."""
    if len(grid) != len(accuracies) or not grid:
        raise ValueError(f"need one accuracy per C value, got {len(grid)} C values and {len(accuracies)} accuracies")
    best_c, best_accuracy = min(zip(grid, accuracies, strict=True), key=lambda pair: (-pair[1], pair[0]))
    return float(best_c), float(best_accuracy)


def run_bare(case: Case) -> Outcome:
    """The pipeline as plain function calls in this process: the floor every platform is held to.

    Stamps are taken around each step exactly as the platforms' tasks take them.
    """
    with stamp("make_data"):
        train_data, drifted_data = make_data(case)
    with stamp("train") as s:
        model, initial = train(case, train_data)
        s.record(accuracy=initial)
    with stamp("detect_drift") as s:
        detection = detect_drift(case, model, train_data, drifted_data, initial)
        s.record(**detection.record())
    drifted = detection.accuracy
    if not detection.drift:
        return Outcome(initial, drifted, False, drifted, None)
    accuracies = []
    for c in case.grid:
        with stamp("tune", c=c) as s:
            accuracy = tune(case, drifted_data, c)
            s.record(accuracy=accuracy)
        accuracies.append(accuracy)
    with stamp("select_best") as s:
        best_c, best = select_best(case.grid, accuracies)
        s.record(best_c=best_c, accuracy=best)
    if registry.enabled():
        with stamp("register") as s:
            s.record(**registry.register(case, drifted_data, best_c).record())
    return Outcome(initial, drifted, True, best, best_c)
