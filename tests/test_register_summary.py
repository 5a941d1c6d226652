"""The registry step's time (register_s, --registry) in the summaries, the end-of-run table and compare,
only for runs whose rounds ran the step; a run without it keeps its summaries, table and comparison."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.cli.main import main
from retrain_bench.pytest_plugin.summary import summary_lines
from retrain_bench.results.contract import strict, success_rate, summarise
from retrain_bench.results.records import BenchmarkRecord, benchmark_record
from retrain_bench.workload.cases import CASES
from tests import golden
from tests.test_results import result

ROW = "Model Registration Time (s)"


def registered(index: int, seconds: float | None) -> Any:
    return dataclasses.replace(result(index), register_s=seconds)


def test_register_s_is_summarised_only_when_a_round_ran_the_step() -> None:
    # rounds 1..3 registered in 0.5, 1.5, 1.0 s; the warm-up's 9 s and round 4 without the step are not counted
    rounds = [registered(0, 9.0), registered(1, 0.5), registered(2, 1.5), registered(3, 1.0), registered(4, None)]
    rounds[0] = dataclasses.replace(rounds[0], warmup=True)
    record = benchmark_record("bare", "local", CASES["base"], rounds)
    keys = list(record["summary"])
    assert keys[:5] == ["total_s", "queue_s", "retrain_tune_s", "startup_s", "register_s"]
    assert record["summary"]["register_s"] == {
        "n": 3,
        "mean": 1.0,
        "stddev": 0.5,
        "min": 0.5,
        "median": 1.0,
        "max": 1.5,
    }
    without = benchmark_record("bare", "local", CASES["base"], [result(0), result(1)])
    assert "register_s" not in without["summary"]
    assert list(without["summary"])[:4] == ["total_s", "queue_s", "retrain_tune_s", "startup_s"]


def with_register(record: dict[str, Any], seconds: list[float]) -> dict[str, Any]:
    """A golden record whose measured rounds registered in ``seconds``, summarised as the harness does."""
    rounds = [{**r, "register_s": s} for r, s in zip(record["rounds"], seconds, strict=True)]
    keys = (*record["summary"], "register_s")
    return strict(
        {**record, "rounds": rounds, "summary": summarise(rounds, keys), "success_rate": success_rate(rounds)}
    )


def test_the_end_of_run_table_shows_the_row_only_when_present() -> None:
    plain = golden.record("bare", "local", golden.BASE, golden.rounds([1.0, 3.0]))
    lines = summary_lines([BenchmarkRecord.from_json(with_register(plain, [2.0, 4.0]))], None)
    (line,) = [x for x in lines if x.startswith(ROW)]
    assert line.split(ROW)[1].strip() == "3 ± 1.414 (n=2)"  # mean 3, sqrt(((2-3)² + (4-3)²) / 1)
    assert lines.index(line) == lines.index(next(x for x in lines if x.startswith("Retraining and Tuning"))) + 1
    assert not any(x.startswith(ROW) for x in summary_lines([BenchmarkRecord.from_json(plain)], None))


def test_compare_shows_register_s_when_both_sides_have_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def write(name: str, seconds: list[float] | None) -> str:
        record = golden.record("bare", "local", golden.BASE, golden.rounds([1.0, 1.0, 1.0]))
        record = record if seconds is None else with_register(record, seconds)
        path = tmp_path / name
        path.write_text(json.dumps(golden.document("local", [record], commit=name, when="2026-12-01T00:00:00")))
        return str(path)

    code = main(["compare", write("a.json", [1.0, 1.0, 1.0]), write("b.json", [2.0, 2.0, 2.0])])
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if "| register_s |" in x]
    # 1 s -> 2 s: +100 % over the 10 % time threshold, a regression that fails the comparison
    assert "| 1 ± 0 (n=3) | 2 ± 0 (n=3) | +100.0% | 10% |" in line and "| regression |" in line
    assert code == 1
    # its own threshold when given one: +100 % is within 150 %
    code = main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--threshold", "register_s=150"])
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "| register_s |" in x]
    assert "| +100.0% | 150% |" in line and "| regression |" not in line and code == 0
    main(["compare", write("c.json", None), write("d.json", None)])
    assert "| register_s |" not in capsys.readouterr().out
