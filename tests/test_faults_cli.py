"""Issue 26, items 7, 12, 13, 14, 18, 22, 23, 24, 25 and 26: the CLI and the options, in-process.

Each test calls ``main()`` (or ``parse_options``, or pytest in-process) and captures: no subprocess
per usage error. Item 25 (a full disk) runs one child whose file-size limit makes writes fail for real.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.cli.main import main
from retrain_bench.errors import BenchError
from retrain_bench.harness.session import interleaved
from retrain_bench.options import parse_options

DATA = Path(__file__).parent / "data"
LOCAL = str(DATA / "report-local.json")
BASELINE, CURRENT = str(DATA / "compare-baseline.json"), str(DATA / "compare-current.json")
VERSIONS = str(DATA / "compare-versions.json")
REPO = Path(__file__).resolve().parents[1]


def options(**given: Any) -> Any:
    base: dict[str, Any] = dict(
        platform=None, case=None, rounds=5, warmup=1, target="local", run_timeout=1800, min_success_rate=0.0
    )
    return parse_options(**{**base, **given})


# -- 14: --platform= / ' ' / --case= ---------------------------------------------------------------


@pytest.mark.parametrize(("option", "raw"), [("platform", ""), ("platform", " "), ("case", ""), ("case", "  ")])
def test_an_empty_platform_or_case_is_refused_not_the_defaults(option: str, raw: str) -> None:
    with pytest.raises(BenchError) as caught:
        options(**{option: raw})
    message = str(caught.value)
    assert message.startswith(f"--{option}: {raw!r} names nothing (an unset variable?); leave --{option} out")


def test_left_out_they_are_still_the_defaults() -> None:
    chosen = options()
    assert chosen.platforms == ("flyte", "kfp", "bare")
    assert chosen.cases == ("base", "scaling", "tuning", "no_drift")


def test_pytest_refuses_an_empty_platform_with_its_usage_exit_code(pytester: pytest.Pytester) -> None:
    """Item 22: a usage error of a run is pytest's exit 4 (docs/reliability.md says so now), in one line."""
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_inprocess("--platform=", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR == 4
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert errors == [
        "ERROR: --platform: '' names nothing (an unset variable?); leave --platform out for the defaults, or "
        "choose from flyte, flyte2, kfp, bare, airflow, prefect, dagster"
    ]


# -- 7: --rounds bound, lazy schedule ---------------------------------------------------------------


def test_rounds_above_the_bound_need_allow_large() -> None:
    with pytest.raises(BenchError) as caught:
        options(rounds="1000000000000")
    assert str(caught.value) == (
        "--rounds: 1000000000000 is above 10000 (1000000000000 measured rounds per platform x case); "
        "pass --allow-large to run it anyway (docs/reliability.md)"
    )
    with pytest.raises(BenchError, match="--warmup: 20000 is above 10000"):
        options(warmup="20000")
    assert options(rounds="10000").rounds == 10000
    assert options(rounds="1000000000000", allow_large=True).rounds == 10**12


def test_the_schedule_is_built_lazily() -> None:
    # A list of 3e12 pairs was the MemoryError: checked on a small schedule first, so that a list-building
    # interleaved fails here instead of eating the machine.
    assert not isinstance(interleaved(["flyte"], 2), list)
    order = interleaved(["flyte", "kfp", "bare"], 10**12)
    assert list(itertools.islice(order, 7)) == [
        (0, "flyte"),
        (0, "kfp"),
        (0, "bare"),
        (1, "kfp"),
        (1, "bare"),
        (1, "flyte"),
        (2, "bare"),
    ]


# -- 23: prices --------------------------------------------------------------------------------------


@pytest.mark.parametrize("price", ["1e308", "1000001"])
def test_a_price_above_a_million_dollars_an_hour_is_refused(price: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", LOCAL, "--price-gib-hour", price]) == 2
    assert capsys.readouterr().err == (
        f"retrain-bench: error: --price-gib-hour: {price!r} is above 1,000,000 dollars per hour; "
        "give the price of one unit-hour\n"
    )
    with pytest.raises(BenchError, match="--price-vcpu-hour"):
        options(price_vcpu_hour=price)


# -- 26: two spellings of one table; --versions with --current-runs ---------------------------------


def test_a_config_with_both_table_spellings_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gate.toml"
    config.write_text("[tool.retrain-bench.thresholds]\ntotal_s = 10\n\n[thresholds]\ntotal_s = 50\n")
    assert main(["compare", BASELINE, CURRENT, "--config", str(config)]) == 2
    assert capsys.readouterr().err == (
        f"retrain-bench: error: {config}: has both [tool.retrain-bench.thresholds] and [thresholds]; "
        "keep one of them (they would not be merged)\n"
    )


def test_one_spelling_alone_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gate.toml"
    config.write_text("[floors]\ntotal_s = 0.05\n\n[tool.retrain-bench.thresholds]\ntotal_s = 10\n")
    assert main(["compare", BASELINE, CURRENT, "--config", str(config)]) == 1  # the golden regression
    assert "error" not in capsys.readouterr().err


def test_versions_with_current_runs_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compare", VERSIONS, "--versions", "flyte@1.15.4,flyte@1.16.31", "--current-runs", "2"])
    assert code == 2
    assert capsys.readouterr().err == (
        "retrain-bench: error: --current-runs splits several files into baseline and current runs; --versions "
        "compares two specs inside one run: drop one of them\n"
    )


# -- 18: the job summary is best effort ---------------------------------------------------------------


@pytest.mark.parametrize(("current", "verdict"), [(BASELINE, 0), (CURRENT, 1)])
def test_an_unwritable_job_summary_warns_and_keeps_the_verdicts_exit_code(
    current: str, verdict: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing-dir" / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert main(["compare", BASELINE, current]) == verdict
    captured = capsys.readouterr()
    assert captured.out.rstrip().splitlines()[-1].endswith(f"(exit {verdict})")
    assert captured.err.splitlines()[-1] == (
        f"retrain-bench: warning: GITHUB_STEP_SUMMARY={target}: cannot append the job summary "
        "(No such file or directory); the verdict and its exit code stand"
    )


# -- 12: a stdout that cannot encode '±' ------------------------------------------------------------


def test_report_on_an_ascii_stdout_spells_the_symbols_in_ascii(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["report", LOCAL]) == 0
    stdout.flush()
    text = raw.getvalue().decode("ascii")
    assert " +/- " in text and "±" not in text
    assert "Total Pipeline Time (s)" in text


# -- 13: a closed stdout ------------------------------------------------------------------------------


def test_a_closed_stdout_is_exit_1_not_0(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdout", None)  # what Python makes of `>&-`
    assert main(["export", LOCAL, "--format", "bmf"]) == 1
    assert capsys.readouterr().err == (
        "retrain-bench: error: export: standard output is closed, so nothing was written; redirect it to a file "
        "(or pass --out where the command has it)\n"
    )


def test_a_closed_stdout_from_the_shell(tmp_path: Path) -> None:
    """The same through a real ``>&-`` (one child: the closed descriptor is the point)."""
    done = subprocess.run(
        f"{sys.executable} -m retrain_bench export {LOCAL} --format bmf >&-",
        shell=True,
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "standard output is closed" in done.stderr


# -- 24: control characters in names ------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["base\n| injected | row |", "base\x1b]0;owned\x07"])
def test_a_name_with_a_control_character_is_refused(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(Path(LOCAL).read_text())
    document["benchmarks"][0]["group"] = bad
    run = tmp_path / "run.json"
    run.write_text(json.dumps(document))
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"retrain-bench: error: {run}: the name {bad!r} at benchmarks/0/group holds a control character; names "
        "must be printable (a newline or a terminal escape would be printed raw): fix the name and re-run\n"
    )
    assert "\x1b" not in err


# -- 25: report --out-dir on a full disk ---------------------------------------------------------------

FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
from retrain_bench.cli.main import main
raise SystemExit(main(sys.argv[2:]))
"""


def test_a_full_disk_leaves_the_previous_report_and_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["report", LOCAL, "--out-dir", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "report.md" in before and len(before) == 8
    # Every file fits in 64 KiB but the charts are larger than 4 KiB: the report file is written, a chart fails.
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, "4096", "report", LOCAL, "--out-dir", str(out), "--format", "csv"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"retrain-bench: error: --out-dir: {out}: cannot write the report (File too large); "
        "what the directory held before is left as it was\n"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no report.csv, no staging dir


def test_a_full_disk_with_no_previous_report_leaves_none(tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, "4096", "report", LOCAL, "--out-dir", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    assert list(out.iterdir()) == []


def test_the_full_disk_child_sees_the_repository(tmp_path: Path) -> None:
    """The child imports this worktree's retrain_bench, not another install."""
    done = subprocess.run(
        [sys.executable, "-c", "import retrain_bench, sys; print(retrain_bench.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ},
    )
    assert done.stdout.strip().startswith(str(REPO))
