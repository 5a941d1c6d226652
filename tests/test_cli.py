"""The CLI on checked-in runs: exact output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.cli import main

DATA = Path(__file__).parent / "data"
GOOD = DATA / "smoke-run.json"


def test_validate_accepts_a_real_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(GOOD)]) == 0
    assert capsys.readouterr().out == f"{GOOD}: ok, 3 benchmarks\n"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "run.json"
    path.write_text(text)
    return str(path)


def broken(tmp_path: Path, change: str) -> str:
    document = json.loads(GOOD.read_text())
    rounds = document["benchmarks"][0]["extra_info"]["retrain_bench"]["rounds"]
    if change == "negative-time":
        rounds[1]["total_s"] = -1.0
    elif change == "ok-with-error":
        rounds[1]["error"] = "but it was fine"
    elif change == "schema-2":
        document["benchmarks"][0]["extra_info"]["retrain_bench"]["schema"] = 2
    return write(tmp_path, json.dumps(document))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: str(tmp / "absent.json"), "{path}: cannot read it (No such file or directory)"),
        (
            lambda tmp: write(tmp, "{not json"),
            "{path}: not valid JSON (Expecting property name enclosed in double "
            "quotes: line 1 column 2 (char 1)); pass a file written with "
            "--benchmark-json",
        ),
        (
            lambda tmp: write(tmp, '{"benchmarks": [], "x": NaN}'),
            "{path}: not valid JSON (NaN is not JSON); pass a file written with --benchmark-json",
        ),
        (
            lambda tmp: write(tmp, "[1, 2]"),
            "{path}: not pytest-benchmark JSON (no 'benchmarks'); pass a file written with --benchmark-json",
        ),
        (
            lambda tmp: broken(tmp, "negative-time"),
            "{path}: does not match the retrain-bench schema at "
            "benchmarks/0/extra_info/retrain_bench/rounds/1/total_s: -1.0 is "
            "less than the minimum of 0",
        ),
        (
            lambda tmp: broken(tmp, "schema-2"),
            "{path}: does not match the retrain-bench schema at "
            "benchmarks/0/extra_info/retrain_bench/schema: 1 was expected",
        ),
    ],
)
def test_validate_rejects_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], str], message: str
) -> None:
    path = make(tmp_path)
    assert main(["validate", path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "retrain-bench: error: " + message.format(path=path) + "\n"


def test_an_ok_round_with_an_error_is_not_valid(tmp_path: Path) -> None:
    assert main(["validate", broken(tmp_path, "ok-with-error")]) == 2


def test_module_entry_point_exits_with_the_code() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "validate", "/nonexistent.json"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr == "retrain-bench: error: /nonexistent.json: cannot read it (No such file or directory)\n"


def test_upstream_pytest_benchmark_compare_loads_our_json(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", str(GOOD)], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    for name in ("test_retraining[bare-smoke]", "test_retraining[flyte-smoke]", "test_retraining[kfp-smoke]"):
        assert name in done.stdout
