"""``report --out-dir DIR``: the directory for the report file and charts; ``--out``, its old
spelling, still works but is no longer shown (everywhere else ``--out`` is a file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain_bench.cli.main import main

LOCAL = str(Path(__file__).parent / "data" / "report-local.json")


@pytest.mark.parametrize("option", ["--out-dir", "--out"])
def test_both_spellings_write_the_directory(option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", LOCAL, option, str(tmp_path / "r")]) == 0
    printed = capsys.readouterr()
    assert (tmp_path / "r" / "report.md").read_text() == printed.out
    assert printed.err == f"retrain-bench: wrote the report and 7 charts to {tmp_path / 'r'}\n"  # 7 study rows


def test_help_shows_only_out_dir(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    text = capsys.readouterr().out
    assert "--out-dir DIR" in text
    assert "--out " not in text and "--out\n" not in text
