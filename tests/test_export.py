"""``export``: github-action-benchmark (customSmallerIsBetter) and Bencher BMF, resources included."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.cli.main import main
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
