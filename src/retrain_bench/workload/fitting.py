"""How every step splits and fits: one split and one deterministic fit per case, shared by the steps of
``retraining`` and by the registry step, which refits the model ``select_best`` chose (so ``registry``
does not import ``retraining``, which calls it)."""

from __future__ import annotations

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from retrain_bench.workload.cases import Case

#: the label column of every frame the workload makes
LABEL = "label"


def split(case: Case, data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    x = data.drop(columns=[LABEL])
    x_train, x_test, y_train, y_test = train_test_split(
        x, data[LABEL], test_size=case.test_fraction, random_state=case.seed, stratify=data[LABEL]
    )
    return x_train, x_test, y_train, y_test


def fit(case: Case, x: pd.DataFrame, y: pd.Series, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=case.max_iter).fit(x, y)


def fit_selected(
    case: Case, drifted_data: pd.DataFrame, c: float
) -> tuple[LogisticRegression, pd.DataFrame, pd.Series]:
    """The model ``tune`` fitted for this C (the same split, the same deterministic fit), with
    drifted_data's held-out split it was scored on: what the registry step registers."""
    x_train, x_test, y_train, y_test = split(case, drifted_data)
    return fit(case, x_train, y_train, c), x_test, y_test
