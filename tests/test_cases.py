from __future__ import annotations

import dataclasses

import pytest

from retrain_bench.workload.cases import CASES, Case, case_for, log_grid, sweep_keys
from tests.slow_tune import SLOW_TUNE


def test_hash_follows_every_knob_but_not_the_name() -> None:
    base = CASES["base"]
    assert dataclasses.replace(base, name="renamed").hash == base.hash
    for field in ("rows", "seed", "drift_threshold", "features"):
        changed = dataclasses.replace(base, **{field: getattr(base, field) * 2})
        assert changed.hash != base.hash, field
    assert dataclasses.replace(base, grid=(1.0, 10.0)).hash != base.hash


def test_cases_differ_where_the_study_says() -> None:
    assert CASES["scaling"].rows == 3 * CASES["base"].rows
    assert CASES["tuning"].grid == (0.01, 0.1, 1.0, 10.0, 100.0)
    assert CASES["no_drift"].drift == "none"
    workloads = [case for case in CASES.values() if not case.variant]
    assert len({case.hash for case in workloads}) == len(workloads)


def test_the_shipped_registry_offers_no_test_variant() -> None:
    assert [case.key for case in CASES.values() if case.variant] == []
    assert [key for key in CASES if ":" in key] == []


def test_a_variant_is_the_same_workload_slowed_down() -> None:
    slow, smoke = SLOW_TUNE, CASES["smoke"]
    assert (slow.name, slow.hash, slow.grid) == (smoke.name, smoke.hash, smoke.grid)
    assert slow.tune_delay_s > 0 and smoke.tune_delay_s == 0
    assert slow.as_dict() == {**smoke.as_dict(), "variant": "slow_tune", "tune_delay_s": slow.tune_delay_s}


def test_a_case_survives_the_trip_through_json() -> None:
    for case in (*CASES.values(), SLOW_TUNE):
        assert Case.from_json(case.to_json()) == case


def test_a_case_whose_knobs_do_not_match_its_hash_is_refused() -> None:
    data = CASES["base"].as_dict()
    data["rows"] += 1
    with pytest.raises(ValueError, match="does not match its knobs"):
        Case.from_dict(data)


def test_log_grid() -> None:
    assert log_grid(1) == (1.0,)
    assert log_grid(5) == (0.01, 0.1, 1.0, 10.0, 100.0)
    assert log_grid(3) == (0.01, 1.0, 100.0)
    with pytest.raises(ValueError):
        log_grid(0)


def test_sweeps_are_one_dimensional_around_base_and_match_the_study_cases() -> None:
    base = CASES["base"]
    assert sweep_keys([1, 3], [5]) == ("base@scale=1", "base@scale=3", "base@fanout=5")
    # The same workload is the same benchmark whatever it is called: the hash says so.
    assert case_for("base@scale=1").hash == base.hash
    assert case_for("base@scale=3").hash == CASES["scaling"].hash
    assert case_for("base@fanout=5").hash == CASES["tuning"].hash
    big = case_for("base@scale=100")
    assert (big.name, big.rows, big.grid) == ("base@scale=100", 100 * base.rows, base.grid)
    wide = case_for("base@fanout=25")
    assert len(wide.grid) == 25 and wide.grid[0] == 0.01 and wide.grid[-1] == 100.0 and wide.rows == base.rows
    assert Case.from_json(wide.to_json()) == wide


@pytest.mark.parametrize("key", ["base@scale=0", "base@scale=x", "base@depth=3", "nope@scale=3", "base@"])
def test_unknown_sweep_keys_are_refused(key: str) -> None:
    with pytest.raises(KeyError):
        case_for(key)
