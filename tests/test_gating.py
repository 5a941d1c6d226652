"""compare and report on real output of the suite: a slowed-down pipeline fails.

How often same code passes is a rate, not a test: ``scripts/calibrate_gate.py`` measures it (and
``.ci/run`` runs it on a tiny case); ``tests/test_gate.py`` runs the gate's plumbing against HEAD.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrain_bench.cli.main import main
from retrain_bench.workload.cases import CASES
from tests.helpers import BenchRun


def saved(bench_run: BenchRun, path: Path, *args: str) -> str:
    result, document = bench_run.run("--platform=bare", "--rounds=5", "--warmup=1", *args)
    assert result.ret == 0 and document is not None, result.stdout.str()
    path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.slow
def test_a_slower_pipeline_is_a_regression_naming_the_metric(
    bench_run: BenchRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = saved(bench_run, tmp_path / "base.json", "--case=smoke")
    slow = saved(bench_run, tmp_path / "slow.json", "-p", "tests.slow_tune", "--case=smoke:slow_tune")
    capsys.readouterr()  # pytester's own lines
    assert main(["compare", base, slow, "--format", "json"]) == 1
    verdicts = {(c["metric"], c["verdict"]) for c in json.loads(capsys.readouterr().out)["comparisons"]}
    # Two tune tasks sleeping 0.5 s each: about a second more, on a round of well under one.
    assert ("total_s", "regression") in verdicts
    assert ("retrain_tune_s", "regression") in verdicts
    assert ("queue_s", "regression") not in verdicts  # the delay is inside tune, after the first task
    assert not any(metric.startswith("accuracy") or metric == "best_c" for metric, _ in verdicts)
    assert main(["compare", base, slow]) == 1
    text = capsys.readouterr().out
    assert "total_s" in text and "regression" in text
    assert main(["report", base, "--format", "text"]) == 0
    report = capsys.readouterr().out
    assert "Total Pipeline Time (s)" in report and "Bare Python" in report
    assert CASES["smoke"].hash in report
