"""Reading a run: bounded in size, regular files only, consistent with its rounds, and an interrupted or
overlapping run said as such (issue 26 items 8, 15, 16, 21)."""

from __future__ import annotations

import copy
import gzip
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.cli.main import main
from retrain_bench.results.contract import SUMMARY_KEYS, success_rate, summarise
from retrain_bench.results.model import Run

DATA = Path(__file__).parent / "data"
GOOD = DATA / "smoke-run.json"
BASE, CURRENT = DATA / "compare-baseline.json", DATA / "compare-current.json"
GATE1, GATE2 = DATA / "gate" / "gate-runs-1.json", DATA / "gate" / "gate-runs-2.json"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def save(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps(document))
    return str(path)


# -- item 8: bounded, regular files only --------------------------------------------------------


def test_a_device_is_refused_in_one_line_without_reading_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", "/dev/zero")
    assert (code, out) == (2, "")
    assert err == "retrain-bench: error: /dev/zero: not a regular file (a character device); pass a saved run\n"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "run.json"
    os.mkfifo(fifo)
    done: list[int] = []
    worker = threading.Thread(target=lambda: done.append(main(["validate", str(fifo)])), daemon=True)
    worker.start()
    worker.join(60)
    assert done == [2]
    assert capsys.readouterr().err == f"retrain-bench: error: {fifo}: not a regular file (a FIFO); pass a saved run\n"


def test_a_directory_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "validate", str(tmp_path))
    assert (
        code == 2 and err == f"retrain-bench: error: {tmp_path}: not a regular file (a directory); pass a saved run\n"
    )


def test_a_file_over_the_limit_is_refused_and_the_option_raises_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The smoke run padded with whitespace to just over 1 MiB: valid JSON, too large for --max-input-mb 1.
    text = GOOD.read_text()
    big = tmp_path / "big.json"
    big.write_text(text + " " * (1024 * 1024 + 1 - len(text.encode())))
    code, _, err = run(capsys, "validate", str(big), "--max-input-mb", "1")
    assert code == 2
    assert err == (
        f"retrain-bench: error: {big}: larger than 1 MiB, more than a run holds; "
        "pass --max-input-mb to read it anyway\n"
    )
    assert run(capsys, "validate", str(big), "--max-input-mb", "2")[0] == 0


def test_a_gzip_bomb_is_refused_by_its_unzipped_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bomb = tmp_path / "run.json.gz"
    bomb.write_bytes(gzip.compress(GOOD.read_bytes() + b" " * (3 * 1024 * 1024)))
    assert bomb.stat().st_size < 1024 * 1024
    code, _, err = run(capsys, "merge", str(bomb), "--max-input-mb", "1")
    assert code == 2 and err.endswith("pass --max-input-mb to read it anyway (its gunzipped size)\n")


def test_the_limit_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "validate", str(GOOD), "--max-input-mb", "0")
    assert code == 2 and err == "retrain-bench: error: --max-input-mb: 0 must be at least 1\n"


# -- item 21: consistency beyond the schema ------------------------------------------------------


def test_a_benchmark_without_rounds_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(BASE.read_text())
    record = document["benchmarks"][0]["extra_info"]["retrain_bench"]
    record["rounds"], record["success_rate"] = [], None
    code, _, err = run(capsys, "validate", save(tmp_path / "empty.json", document))
    assert code == 2
    assert err == (
        f"retrain-bench: error: {tmp_path / 'empty.json'}: bare/base (local, dc1daecf77ee) has no rounds; "
        "a benchmark holds at least one, re-run it\n"
    )


def test_a_baseline_benchmark_without_rounds_does_not_drop_out_of_compare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(BASE.read_text())
    record = document["benchmarks"][0]["extra_info"]["retrain_bench"]
    record["rounds"], record["success_rate"] = [], None
    code, out, err = run(capsys, "compare", save(tmp_path / "base.json", document), str(CURRENT))
    assert (code, out) == (2, "") and "has no rounds" in err


def test_a_success_rate_contradicting_the_rounds_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(BASE.read_text())
    record = document["benchmarks"][0]["extra_info"]["retrain_bench"]
    record["rounds"][1]["ok"] = False
    record["rounds"][1]["error"] = "boom"
    # success_rate still 1.0: the report would print 100% (4/5)
    path = save(tmp_path / "edited.json", document)
    code, _, err = run(capsys, "report", path)
    assert code == 2
    assert err == (
        f"retrain-bench: error: {path}: bare/base (local, dc1daecf77ee): success_rate 1.0 contradicts its rounds "
        "(4 ok of 5 measured); the file was changed after it was written, re-run it or restore it\n"
    )


def test_every_file_the_tests_ship_is_consistent(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in DATA.rglob("*.json") if "invalid" not in p.name and "broken" not in p.name)
    loaded = [f for f in files if run(capsys, "validate", f)[0] == 0]
    assert str(BASE) in loaded and str(GATE1) in loaded


# -- item 15: a baseline that holds the current run ------------------------------------------------


def test_a_merged_baseline_holding_the_current_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    merged = tmp_path / "m12.json"
    assert main(["merge", str(GATE1), str(GATE2), "--out", str(merged)]) == 0
    code, out, err = run(capsys, "compare", str(merged), str(GATE2))
    assert (code, out) == (2, "")
    assert err == (
        f"retrain-bench: error: {GATE2} (current) holds the rounds of a run that the baseline {merged} holds too "
        "(datetime 2026-11-12T10:00:00+00:00, commit 2222222, node bench-runner); "
        "compare a run with a baseline that does not contain it\n"
    )


def test_a_run_compared_with_itself_is_not_silent(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "compare", str(GATE1), str(GATE1))
    assert code == 0
    assert err.startswith(
        f"retrain-bench: warning: {GATE1} (current) is the baseline {GATE1}: a run compared with itself cannot "
        "show a change; compare it with another run\n"
    )


# -- item 16: an interrupted current run -------------------------------------------------------


def interrupted(document: dict[str, Any], cut: int) -> dict[str, Any]:
    """The run as a SIGTERM during its last ``cut`` rounds leaves it (harness/engine.py: not ok, no figure)."""
    document = copy.deepcopy(document)
    document["retrain_bench"]["interrupted"] = True
    for benchmark in document["benchmarks"]:
        record = benchmark["extra_info"]["retrain_bench"]
        for round_ in record["rounds"][-cut:]:
            round_.update(ok=False, error="interrupted (SIGTERM); the round's executions were stopped")
            for key in SUMMARY_KEYS:
                round_[key] = None
        record["success_rate"] = success_rate(record["rounds"])
        record["summary"] = summarise(record["rounds"], tuple(record["summary"]))
    return document


def test_an_interrupted_run_is_judged_on_the_rounds_that_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stopped = save(tmp_path / "stopped.json", interrupted(json.loads(CURRENT.read_text()), cut=2))
    code, out, err = run(capsys, "compare", str(BASE), stopped, "--format", "json")
    result = json.loads(out)
    (bare,) = [c for c in result["comparisons"] if c["metric"] == "success_rate" and c["key"]["platform"] == "bare"]
    # 5/5 before, 3 of the 3 rounds that ran now; counting the 2 cut short as failures gave 60 %: a regression
    assert (bare["verdict"], bare["current"]["mean"]) == ("unchanged", 1.0), bare
    assert f"{stopped} was interrupted (8 rounds cut short): its success rates are over the rounds that ran" in err
    assert Run.load(stopped).benchmarks[0].success_counts() == (3, 3)


def test_a_report_says_interrupted_and_counts_the_rounds_that_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stopped = save(tmp_path / "stopped.json", interrupted(json.loads(CURRENT.read_text()), cut=2))
    code, out, _ = run(capsys, "report", stopped, "--format", "text")
    assert code == 0
    assert f"- {stopped} (2026-11-02T10:00:00+00:00, commit " in out and ", interrupted)" in out
    assert "100% (3/3)" in out and "60%" not in out
