"""One ``--format`` vocabulary (text, md, csv, json): each command that prints tables accepts the ones it
can produce, with the same meaning. Expected values worked by hand from tests/golden.py."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from retrain_bench.cli.main import main

DATA = Path(__file__).parent / "data"
LOCAL = str(DATA / "report-local.json")
BASE, CURRENT = str(DATA / "compare-baseline.json"), str(DATA / "compare-current.json")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_json_carries_the_csv_rows_as_data(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "report", LOCAL, "--format", "json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["inputs"] == [LOCAL]
    values = document["values"]
    assert len(values) == 2 * 7 * 3  # cases × study rows × platforms, as the CSV
    # Flyte base total_s [116, 118, 118.5, 119, 120]: mean 118.3; deviations −2.3, −0.3, 0.2, 0.7, 1.7,
    # so sd √(8.8/4) = 1.4832
    assert values[0] == {
        "case": "base",
        "target": "local",
        "hash": "dc1daecf77ee",
        "metric": "Total Pipeline Time (s)",
        "key": "total_s",
        "platform": "flyte",
        "scope": None,
        "source": None,
        "n": 5,
        "mean": pytest.approx(118.3, rel=1e-15),
        "stddev": pytest.approx(math.sqrt(8.8 / 4), rel=1e-15),
        "missing": None,
    }
    failed = [v for v in values if v["case"] == "no_drift" and v["platform"] == "kfp" and v["key"] == "success_rate"]
    assert failed == [{**failed[0], "n": 5, "mean": 0.8, "stddev": None}]  # 4 of 5 rounds ok
    csv_lines = run(capsys, "report", LOCAL, "--format", "csv")[1].splitlines()
    assert len(csv_lines) == 1 + len(values)


def test_report_out_dir_writes_report_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", LOCAL, "--format", "json", "--out-dir", str(tmp_path / "r"))
    assert code == 0
    assert (tmp_path / "r" / "report.json").read_text() == out


def test_compare_csv_has_one_line_per_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "compare", BASE, CURRENT, "--format", "csv")
    assert code == 1  # the golden pair has regressions (test_compare.py)
    rows = list(csv.DictReader(io.StringIO(out)))
    as_json = json.loads(run(capsys, "compare", BASE, CURRENT, "--format", "json")[1])
    assert len(rows) == len(as_json["comparisons"])
    by = {(r["platform"], r["case"], r["metric"]): r for r in rows}
    # bare/base total_s 10 ×5 → 12 ×5: +20 %, zero variance both sides.
    bare = by[("bare", "base", "total_s")]
    assert (bare["baseline_n"], bare["baseline_mean"], bare["current_mean"]) == ("5", "10.0", "12.0")
    assert (float(bare["change"]), bare["method"], bare["verdict"], bare["fails"]) == (
        pytest.approx(20.0),
        "exact",
        "regression",
        "true",
    )
    # kfp/base success 5/5 → 4/5: −20 percentage points.
    kfp = by[("kfp", "base", "success_rate")]
    assert (kfp["baseline_mean"], kfp["current_mean"], kfp["change"], kfp["verdict"]) == (
        "1.0",
        "0.8",
        "-20.0",
        "regression",
    )
    # bare/tuning only in the baseline: a missing benchmark, no numbers.
    missing = by[("bare", "tuning", "benchmark")]
    assert (missing["baseline_mean"], missing["change"], missing["verdict"]) == ("", "", "missing")


@pytest.mark.parametrize("command", ["report", "compare"])
def test_every_table_command_accepts_text_md_and_json(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    files = [LOCAL] if command == "report" else [BASE, CURRENT]
    for fmt in ("text", "md", "csv", "json"):
        code, out, err = run(capsys, command, *files, "--format", fmt)
        assert code in (0, 1) and err.count("error") == 0 and out


def test_an_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", LOCAL, "--format", "markdown"])
    assert exc.value.code == 2
    assert "invalid choice: 'markdown' (choose from 'md', 'text', 'csv', 'json')" in capsys.readouterr().err
