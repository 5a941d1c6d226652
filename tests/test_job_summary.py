"""``compare`` appends its verdict and table to GitHub's job summary when GITHUB_STEP_SUMMARY is set,
and writes nothing anywhere when it is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain_bench.cli.main import main

DATA = Path(__file__).parent / "data"
BASELINE, CURRENT = str(DATA / "compare-baseline.json"), str(DATA / "compare-current.json")


def test_the_verdict_and_table_are_appended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("## an earlier step\n")  # GitHub's file is shared by the job's steps: append only
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code = main(["compare", BASELINE, CURRENT])
    markdown = capsys.readouterr().out  # --format md is the default: the summary is what was printed
    assert code == 1  # the golden current run regresses (tests/golden.py compare_current)
    assert summary.read_text() == "## an earlier step\n" + markdown
    assert "| Benchmark | Metric | Baseline | Current |" in markdown
    assert markdown.rstrip().splitlines()[-1].endswith(": FAIL (exit 1)")


def test_the_summary_is_markdown_whatever_the_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    main(["compare", BASELINE, CURRENT, "--format", "json"])
    assert capsys.readouterr().out.startswith("{")
    assert summary.read_text().startswith("# retrain-bench compare\n")


def test_untouched_when_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    main(["compare", BASELINE, CURRENT])
    assert capsys.readouterr().out.startswith("# retrain-bench compare")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_summary_is_one_warning_and_the_verdict_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 26 item 18: the summary is best effort; before, this exited 2 after printing the verdict.
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "missing-dir" / "summary.md"))
    assert main(["compare", BASELINE, CURRENT]) == 1
    err = capsys.readouterr().err
    assert err.startswith("retrain-bench: warning: GITHUB_STEP_SUMMARY=") and err.count("\n") == 1
    assert "cannot append the job summary (No such file or directory)" in err
