from __future__ import annotations

import pytest

from retrain_bench.workload import retraining
from retrain_bench.workload.cases import CASES


@pytest.mark.parametrize("name", ["base", "scaling", "tuning", "smoke"])
def test_drift_is_real_in_every_drifting_case(name: str) -> None:
    case = CASES[name]
    train_data, drifted_data = retraining.make_data(case)
    model, initial = retraining.train(case, train_data)
    found = retraining.detect_drift(case, model, train_data, drifted_data, initial)
    drifted, drift = found.accuracy, found.drift
    assert initial - drifted >= 0.15
    assert drift


def test_no_drift_case_keeps_its_accuracy() -> None:
    case = CASES["no_drift"]
    train_data, drifted_data = retraining.make_data(case)
    model, initial = retraining.train(case, train_data)
    found = retraining.detect_drift(case, model, train_data, drifted_data, initial)
    drifted, drift = found.accuracy, found.drift
    assert abs(initial - drifted) < case.drift_threshold
    assert not drift


def test_data_is_seeded_and_sized() -> None:
    case = CASES["scaling"]
    first, second = retraining.make_data(case), retraining.make_data(case)
    assert first[0].equals(second[0]) and first[1].equals(second[1])
    assert len(first[0]) == len(first[1]) == case.rows
    assert list(first[0].columns) == [f"f{i}" for i in range(case.features)] + ["label"]


def test_select_best_prefers_accuracy_then_the_smallest_c() -> None:
    assert retraining.select_best([10.0, 0.1, 1.0], [0.8, 0.9, 0.9]) == (0.1, 0.9)
    assert retraining.select_best([100.0, 0.01], [0.7, 0.7]) == (0.01, 0.7)
    assert retraining.select_best([1.0, 0.1], [0.95, 0.9]) == (1.0, 0.95)
    with pytest.raises(ValueError, match="one accuracy per C value"):
        retraining.select_best([1.0, 2.0], [0.5])


def test_tuning_scores_every_c_on_the_drifted_data() -> None:
    case = CASES["tuning"]
    _, drifted_data = retraining.make_data(case)
    scores = [retraining.tune(case, drifted_data, c) for c in case.grid]
    assert len(set(scores)) > 1  # C matters, or the grid would be decoration
    outcome = retraining.run_bare(case)
    assert outcome.best_c == retraining.select_best(case.grid, scores)[0]
    assert outcome.final_accuracy == max(scores)
