"""The harness's records as values (results/records.py): they own their JSON and cannot be changed in place."""

from __future__ import annotations

import dataclasses
import json

import pytest

from retrain_bench.results.records import BenchmarkRecord, RoundRecord
from retrain_bench.workload.cases import CASES
from tests.test_results import result


def test_a_server_round_with_a_registry_step_round_trips_to_the_same_text() -> None:
    round_ = dataclasses.replace(result(1), target="server", register_s=0.25, notes=("cleanup failed",))
    record = RoundRecord.of(round_)
    text = json.dumps(record.to_json())
    assert json.dumps(RoundRecord.from_json(json.loads(text)).to_json()) == text
    # the keys only some rounds have, where files have always had them
    keys = list(record.to_json())
    assert keys[keys.index("missing") + 1 :] == ["run_id", "run_url", "notes", "register_s", "cost"]
    assert record.to_json()["notes"] == ["cleanup failed"] and record.register_s == 0.25


def test_a_local_round_has_no_remote_keys_and_keeps_unknown_keys_on_a_round_trip() -> None:
    raw = RoundRecord.of(result(1)).to_json()
    assert "run_id" not in raw and "register_s" not in raw and "pods" not in raw
    raw["later_key"] = {"a": 1}
    back = RoundRecord.from_json(raw)
    assert back.remote is None and back.extra == {"later_key": {"a": 1}}
    assert back.to_json() == raw


def test_values_cannot_be_changed_in_place_and_json_is_a_fresh_copy() -> None:
    record = BenchmarkRecord.of("bare", "local", CASES["base"], [result(0, warmup=True), result(1, total=3.0)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.success_rate = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.rounds[1].missing["total_s"] = "x"  # type: ignore[index]
    first = record.to_json()
    first["rounds"][1]["accuracy"]["final"] = -1.0
    assert record.to_json()["rounds"][1]["accuracy"]["final"] == 0.85
    assert record.summary["total_s"]["mean"] == 3.0 and record.success_rate == 1.0
    assert BenchmarkRecord.from_json(record.to_json()) == record
