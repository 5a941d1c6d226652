"""The retraining triggers: hand-worked KS/PSI decisions, the case knobs, and what each new case shows."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

from retrain_bench.workload import retraining, triggers
from retrain_bench.workload.cases import CASES, TRIGGER_CASES, Case
from retrain_bench.workload.triggers import FeatureShift


def test_psi_by_hand() -> None:
    # reference [1,2,3,4], two bins cut at its median 2.5: shares (1/2, 1/2). current [1,3,4,5]:
    # one value below the cut, three above: (1/4, 3/4). PSI = (1/4-1/2)ln(1/2) + (3/4-1/2)ln(3/2)
    # = 1/4 (ln 2 + ln 3/2) = 1/4 ln 3.
    assert triggers.psi([1, 2, 3, 4], [1, 3, 4, 5], bins=2) == pytest.approx(math.log(3) / 4, abs=1e-12)
    # A bin the current data empties counts with the 1e-4 floor: (1e-4 - 1/2) ln(1e-4 / (1/2)) + (1 - 1/2) ln 2.
    emptied = 0.4999 * math.log(5000) + 0.5 * math.log(2)
    assert triggers.psi([1, 2, 3, 4], [3, 4, 5, 6], bins=2) == pytest.approx(emptied, abs=1e-12)
    # A value on the cut goes to the bin above: [2.5]*4 is all in the upper bin, as [3,4,5,6] was.
    assert triggers.psi([1, 2, 3, 4], [2.5, 2.5, 2.5, 2.5], bins=2) == pytest.approx(emptied, abs=1e-12)
    assert triggers.psi([1, 2, 3, 4], [1, 2, 3, 4], bins=2) == 0.0


def _frames(**columns: tuple[list[float], list[float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = pd.DataFrame({name: pair[0] for name, pair in columns.items()})
    current = pd.DataFrame({name: pair[1] for name, pair in columns.items()})
    return reference, current


def test_ks_exact_p_value_and_the_bonferroni_correction_by_hand() -> None:
    # Two samples of four, every value of one below every value of the other: D = 1, and of the
    # C(8,4) = 70 equally likely splits under the null exactly 2 are that extreme: p = 2/70 = 1/35.
    separated = ([0.0, 1.0, 2.0, 3.0], [10.0, 11.0, 12.0, 13.0])
    same = ([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0])
    reference, current = _frames(f0=separated, f1=same)
    shifts = triggers.feature_shifts(reference, current, ["f0", "f1"], bins=2)
    assert shifts[0].ks_statistic == 1.0
    assert shifts[0].ks_pvalue == pytest.approx(1 / 35, abs=1e-12)
    assert shifts[1].ks_statistic == 0.0
    # f0 alone: 1/35 = 0.0286 < 0.05, and its PSI (every value above the cut) is far over 0.2.
    assert triggers.drifted_features(shifts[:1], alpha=0.05, psi_threshold=0.2) == ("f0",)
    # f0 among two features: Bonferroni asks for p < 0.05 / 2 = 0.025, and 0.0286 is not.
    assert triggers.drifted_features(shifts, alpha=0.05, psi_threshold=0.2) == ()
    statistic = triggers.data_drift_statistic(shifts, ())
    assert statistic == {
        "ks_max": 1.0,
        "ks_pvalue_min": shifts[0].ks_pvalue,
        "psi_max": shifts[0].psi,
        "drifted_features": [],
    }


def test_a_feature_drifts_only_when_significant_and_material() -> None:
    shifts = [
        FeatureShift("small", ks_statistic=0.05, ks_pvalue=0.001, psi=0.1),  # significant, PSI below 0.2
        FeatureShift("both", ks_statistic=0.30, ks_pvalue=0.001, psi=0.3),  # 0.001 < 0.05/3 and 0.3 >= 0.2
        FeatureShift("weak", ks_statistic=0.20, ks_pvalue=0.02, psi=0.5),  # 0.02 >= 0.05/3 = 0.0167
    ]
    assert triggers.drifted_features(shifts, alpha=0.05, psi_threshold=0.2) == ("both",)
    assert triggers.drifted_features(shifts, alpha=0.05, psi_threshold=0.3) == ("both",)
    assert triggers.drifted_features(shifts, alpha=0.05, psi_threshold=0.31) == ()
    assert triggers.drifted_features(shifts, alpha=0.09, psi_threshold=0.2) == ("both", "weak")


@dataclasses.dataclass(frozen=True)
class _Scored:
    """A model whose accuracy on any data is ``accuracy``: the decision, not the fit, is under test."""

    accuracy: float

    def score(self, x: object, y: object) -> float:
        return self.accuracy


def _detect(trigger: str, initial: float, accuracy: float) -> retraining.Detection:
    case = dataclasses.replace(CASES["smoke"], trigger=trigger)
    train_data, drifted_data = retraining.make_data(dataclasses.replace(case, drift="none"))
    return retraining.detect_drift(case, _Scored(accuracy), train_data, drifted_data, initial)  # type: ignore[arg-type]


def test_the_accuracy_trigger_by_hand() -> None:
    # 0.875 - 0.75 = 0.125 > 0.10 (both exact in binary): retrain.
    found = _detect("accuracy", 0.875, 0.75)
    assert (found.accuracy, found.drift, found.statistic) == (0.75, True, {"accuracy_drop": 0.125})
    # 0.875 - 0.8125 = 0.0625: keep.
    assert not _detect("accuracy", 0.875, 0.8125).drift
    assert found.record() == {
        "accuracy": 0.75,
        "drift": True,
        "trigger": "accuracy",
        "statistic": {"accuracy_drop": 0.125},
    }


def test_the_scheduled_trigger_always_retrains_and_the_data_trigger_ignores_accuracy() -> None:
    kept = _detect("always", 0.875, 0.875)
    assert (kept.drift, kept.trigger, kept.statistic) == (True, "always", {})
    # Accuracy collapsed, but the features are two halves of one draw: no data drift.
    unchanged = _detect("data_drift", 0.875, 0.25)
    assert not unchanged.drift
    assert unchanged.statistic["drifted_features"] == []


def test_the_trigger_knobs_join_the_hash_only_when_they_matter() -> None:
    # The study's cases keep the hashes they had before triggers existed (their baselines still match).
    assert {k: CASES[k].hash for k in ("base", "scaling", "tuning", "no_drift", "smoke")} == {
        "base": "dc1daecf77ee",
        "scaling": "cc5e441ee643",
        "tuning": "ecea38f63cd3",
        "no_drift": "efd33ceccee1",
        "smoke": "66c320791410",
    }
    base = CASES["base"]
    data = dataclasses.replace(base, trigger="data_drift")
    assert len({base.hash, data.hash, dataclasses.replace(base, trigger="always").hash}) == 3
    # The data-drift thresholds are in the hash under that trigger, and only there.
    assert dataclasses.replace(data, ks_alpha=0.01).hash != data.hash
    assert dataclasses.replace(data, psi_threshold=0.1).hash != data.hash
    assert dataclasses.replace(base, ks_alpha=0.01).hash == base.hash
    # The record names the trigger and survives the trip through JSON with its hash.
    assert "trigger" not in base.as_dict()
    assert data.as_dict()["trigger"] == "data_drift"
    assert Case.from_json(data.to_json()) == data
    with pytest.raises(ValueError, match="unknown trigger 'sometimes'"):
        Case.from_dict({**base.as_dict(), "trigger": "sometimes", "hash": None} | {"hash": base.hash})


@pytest.mark.parametrize(
    ("name", "retrains"),
    [
        # covariate shift: f0's distribution moves, the concept holds, so accuracy holds
        ("covariate", False),
        ("covariate_data_drift", True),
        # concept change without marginal shift: accuracy collapses, no feature moves
        ("relabel", True),
        ("relabel_data_drift", False),
        # a schedule retrains on unchanged data
        ("scheduled", True),
    ],
)
def test_each_trigger_case_shows_what_its_trigger_decides(name: str, retrains: bool) -> None:
    case = CASES[name]
    assert name in TRIGGER_CASES
    train_data, drifted_data = retraining.make_data(case)
    assert len(train_data) == len(drifted_data) == case.rows
    model, initial = retraining.train(case, train_data)
    found = retraining.detect_drift(case, model, train_data, drifted_data, initial)
    assert found.drift is retrains
    under_accuracy = retraining.detect_drift(
        dataclasses.replace(case, trigger="accuracy"), model, train_data, drifted_data, initial
    )
    under_data = retraining.detect_drift(
        dataclasses.replace(case, trigger="data_drift"), model, train_data, drifted_data, initial
    )
    if case.drift == "covariate":
        assert abs(under_accuracy.statistic["accuracy_drop"]) < case.drift_threshold / 2
        assert under_data.statistic["drifted_features"] == ["f0"]
    if case.drift == "relabel":
        assert under_accuracy.statistic["accuracy_drop"] > 2 * case.drift_threshold
        assert under_data.statistic["drifted_features"] == []
    outcome = retraining.run_bare(case)
    assert outcome.drift_detected is retrains
    assert (outcome.best_c is not None) is retrains
