"""``export``: github-action-benchmark (a file per direction) and Bencher BMF, resources included, checked
against the consumers' published formats and github-action-benchmark's alert rule."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from retrain_bench.cli.main import main
from retrain_bench.output.export import bmf, github_action_benchmark
from retrain_bench.results.model import BenchKey, Benchmark
from tests import golden

DATA = Path(__file__).parent / "data"
NAME = "bare/base/local/dc1daecf77ee"


@pytest.fixture
def small(tmp_path: Path) -> str:
    """bare/base, two rounds of 10 s and 12 s, process-tree resources the same in both."""
    record = golden.record(
        "bare", "local", golden.BASE, golden.rounds([10.0, 12.0], scopes=golden.local(1.0, 0.5, 4.0, 10.0, 1000.0))
    )
    path = tmp_path / "small.json"
    path.write_text(json.dumps(golden.document("local", [record], commit="8" * 40, when="2026-11-08T10:00:00+00:00")))
    return str(path)


def export(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main(["export", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_github_action_benchmark(small: str, capsys: pytest.CaptureFixture[str]) -> None:
    scope = "n=2 ok rounds\nscope: process_tree (psutil)"
    down = "(smaller is better)"
    assert export(capsys, small, "--format", "github-action-benchmark") == [
        {"name": f"{NAME} total_s {down}", "unit": "s", "value": 11.0, "range": "± 1.41421", "extra": "n=2 ok rounds"},
        {"name": f"{NAME} retrain_tune_s {down}", "unit": "s", "value": 2.0, "range": "± 0", "extra": "n=2 ok rounds"},
        {"name": f"{NAME} queue_s {down}", "unit": "s", "value": 0.5, "range": "± 0", "extra": "n=2 ok rounds"},
        {"name": f"{NAME} startup_s {down}", "unit": "s", "value": 1.0, "range": "± 0", "extra": "n=2 ok rounds"},
        {"name": f"{NAME} resources.process_tree.memory_peak_gib {down}", "unit": "GiB", "value": 1.0, "range": "± 0",
         "extra": scope},
        {"name": f"{NAME} resources.process_tree.memory_avg_gib {down}", "unit": "GiB", "value": 0.5, "range": "± 0",
         "extra": scope},
        {"name": f"{NAME} resources.process_tree.cpu_seconds {down}", "unit": "CPU-s", "value": 4.0, "range": "± 0",
         "extra": scope},
        {"name": f"{NAME} resources.process_tree.cpu_avg_mcpu {down}", "unit": "mCPU", "value": 400.0, "range": "± 0",
         "extra": scope},
        {"name": f"{NAME} resources.process_tree.cpu_peak_mcpu {down}", "unit": "mCPU", "value": 1000.0, "range": "± 0",
         "extra": scope},
        {"name": f"{NAME} failure_rate {down}", "unit": "%", "value": 0.0, "extra": "0 of 2 measured rounds failed"},
    ]  # fmt: skip


def test_bmf(small: str, capsys: pytest.CaptureFixture[str]) -> None:
    exported = export(capsys, small, "--format", "bmf")
    assert list(exported) == [NAME]
    measures = exported[NAME]
    assert measures["total_s"] == {
        "value": 11.0,
        "lower_value": pytest.approx(11.0 - math.sqrt(2)),
        "upper_value": pytest.approx(11.0 + math.sqrt(2)),
    }
    assert measures["resources.process_tree.cpu_avg_mcpu"] == {
        "value": 400.0,
        "lower_value": 400.0,
        "upper_value": 400.0,
    }
    assert measures["success_rate"] == {"value": 1.0}
    assert list(measures) == [
        "total_s",
        "retrain_tune_s",
        "queue_s",
        "startup_s",
        "resources.process_tree.memory_peak_gib",
        "resources.process_tree.memory_avg_gib",
        "resources.process_tree.cpu_seconds",
        "resources.process_tree.cpu_avg_mcpu",
        "resources.process_tree.cpu_peak_mcpu",
        "accuracy.initial",
        "accuracy.final",
        "success_rate",
    ]


def test_missing_values_are_left_out_never_zero(capsys: pytest.CaptureFixture[str]) -> None:
    exported = export(capsys, str(DATA / "report-cluster.json"), "--format", "bmf")
    kfp, flyte = exported["kfp/base/cluster/dc1daecf77ee"], exported["flyte/base/cluster/dc1daecf77ee"]
    # Kubeflow's platform-scope CPU peak had no Prometheus data; startup_s is local only.
    assert "resources.platform.cpu_peak_mcpu" not in kfp
    assert "resources.platform.cpu_peak_mcpu" in flyte
    assert "startup_s" not in kfp and "startup_s" not in flyte
    assert len(kfp) == 3 + 2 * 5 - 1 + 2 + 1  # times, 2 scopes x 5 figures but one, 2 accuracies, success rate


def test_failed_rounds_become_a_failure_rate(capsys: pytest.CaptureFixture[str]) -> None:
    exported = export(capsys, str(DATA / "compare-current.json"), "--format", "github-action-benchmark")
    failure = next(e for e in exported if e["name"].startswith("kfp/base/local/dc1daecf77ee failure_rate"))
    assert failure == {
        "name": "kfp/base/local/dc1daecf77ee failure_rate (smaller is better)",
        "unit": "%",
        "value": 20.0,  # (5 - 4) / 5 * 100, from the counts: exactly 20.0, not 19.999999999999996
        "extra": "1 of 5 measured rounds failed",
    }


def test_export_to_a_file(small: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", small, "--format", "bmf", "--out", str(tmp_path / "bmf.json")]) == 0
    assert capsys.readouterr().out == ""
    assert list(json.loads((tmp_path / "bmf.json").read_text())) == [NAME]


# -- the consumers' published formats and semantics ------------------------------------------------

#: github-action-benchmark's ``BenchmarkResult`` (src/extract.ts): ``extractCustomBenchmarkResult``
#: keeps exactly these five fields of each entry of the array; value is a number, range/extra optional.
GAB_ENTRY = {
    "type": "object",
    "required": ["name", "value", "unit"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "value": {"type": "number"},
        "unit": {"type": "string"},
        "range": {"type": "string"},
        "extra": {"type": "string"},
    },
}
#: Bencher's published BMF JSON Schema (https://bencher.dev/bmf.json, bencher.dev/docs/reference/
#: bencher-metric-format); the same page limits a measure's slug or name to 64 characters.
BMF_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema",
    "type": "object",
    "patternProperties": {
        ".+": {
            "type": "object",
            "patternProperties": {
                ".+": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "number"},
                        "lower_value": {"type": "number"},
                        "upper_value": {"type": "number"},
                    },
                    "required": ["value"],
                }
            },
        }
    },
}


def gab_alerts(previous: list[dict[str, Any]], current: list[dict[str, Any]], tool: str) -> set[str]:
    """github-action-benchmark's alert rule (src/write/findAlerts.ts, src/write/biggerIsBetter.ts):
    entries matched by name; ratio prev/cur for customBiggerIsBetter, cur/prev for
    customSmallerIsBetter; an alert when the ratio exceeds the threshold (default alert-threshold 200%)."""
    before = {e["name"]: e["value"] for e in previous}
    alerts = set()
    for entry in current:
        if entry["name"] not in before:
            continue
        prev, cur = before[entry["name"]], entry["value"]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.float64(prev) / cur if tool == "customBiggerIsBetter" else np.float64(cur) / prev
        if ratio > 2.0:
            alerts.add(entry["name"].split(" ")[1])
    return alerts


def written(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(golden.document("local", records, commit="8" * 40, when="2026-11-08T10:00:00+00:00")))
    return str(path)


def test_each_direction_alerts_when_things_get_worse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scopes = golden.local(1.0, 0.5, 4.0, 10.0, 1000.0)
    before = golden.record("bare", "local", golden.BASE, golden.rounds([10.0, 10.0, 10.0, 10.0], scopes=scopes))
    # Now 3x slower, 3 of 4 rounds failed (success 100% -> 25%), and the final accuracy 0.85 -> 0.3.
    rounds = golden.rounds([30.0, None, None, None], scopes=scopes)
    rounds[0]["accuracy"] = {"initial": 0.9, "drifted": 0.6, "final": 0.3}
    after = golden.record("bare", "local", golden.BASE, rounds)
    base, now = written(tmp_path, "base.json", [before]), written(tmp_path, "now.json", [after])
    smaller = [export(capsys, f, "--format", "github-action-benchmark") for f in (base, now)]
    bigger = [export(capsys, f, "--format", "github-action-benchmark", "--direction", "bigger") for f in (base, now)]
    for entry in [*smaller[0], *smaller[1], *bigger[0], *bigger[1]]:
        jsonschema.validate(entry, GAB_ENTRY)
    assert all(e["name"].endswith(" (smaller is better)") for e in smaller[1])
    assert all(e["name"].endswith(" (bigger is better)") for e in bigger[1])
    # 30 / 10 = 3 > 2; failure rate 0% -> 75%: 75 / 0 = inf. Memory and CPU did not change: ratio 1.
    assert gab_alerts(*smaller, "customSmallerIsBetter") == {"total_s", "failure_rate"}
    # 0.85 / 0.3 = 2.83 > 2; success 100 / 25 = 4 > 2; the initial accuracy 0.9 stayed.
    assert gab_alerts(*bigger, "customBiggerIsBetter") == {"accuracy.final", "success_rate"}
    # Fed to the other tool, the same files would stay silent: the reason entries name their direction.
    assert gab_alerts(*smaller, "customBiggerIsBetter") == set()


def test_throughput_goes_out_bigger_is_better_and_to_bmf() -> None:
    rounds = golden.rounds([60.0, 30.0])
    for round_, throughput in zip(rounds, (4.0, 8.0), strict=True):
        round_["concurrency"] = {"throughput_per_min": throughput}  # only the figure the exports read
    record = golden.record("bare", "local", golden.BASE, rounds)
    entry = Benchmark(BenchKey.of(record), record, ("x.json",), {})
    (throughput,) = [e for e in github_action_benchmark([entry], "bigger") if "throughput" in e["name"]]
    assert throughput == {
        "name": f"{NAME} concurrency.throughput_per_min (bigger is better)",
        "unit": "runs/min",
        "value": 6.0,  # (4 + 8) / 2
        "range": "± 2.82843",  # sqrt(((4 - 6)² + (8 - 6)²) / 1)
        "extra": "n=2 ok rounds",
    }
    assert not any("throughput" in e["name"] for e in github_action_benchmark([entry], "smaller"))
    assert bmf([entry])[NAME]["concurrency.throughput_per_min"] == {
        "value": 6.0,
        "lower_value": pytest.approx(6.0 - math.sqrt(8)),
        "upper_value": pytest.approx(6.0 + math.sqrt(8)),
    }


@pytest.mark.parametrize("name", ["report-sweep.json", "report-cluster.json", "compare-current.json"])
def test_bmf_is_what_bencher_accepts(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    exported = export(capsys, str(DATA / name), "--format", "bmf")
    jsonschema.validate(exported, BMF_SCHEMA)
    measures = {key for benchmark in exported.values() for key in benchmark}
    assert measures and all(len(key) <= 64 for key in measures)


def test_direction_is_for_github_action_benchmark_only(small: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", small, "--format", "bmf", "--direction", "bigger"]) == 2
    assert capsys.readouterr().err == (
        "retrain-bench: error: --direction: only for --format github-action-benchmark; "
        "BMF carries every metric at once\n"
    )
