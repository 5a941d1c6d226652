"""User errors of the commands that read runs and write files: one line, exit 2, no traceback (issue 16,
item 8), and files written atomically. Inputs are the checked-in golden runs, altered where the test says."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from retrain_bench.cli.main import main

DATA = Path(__file__).parent / "data"
GOOD = DATA / "smoke-run.json"
LOCAL = str(DATA / "report-local.json")
SWEEP_GZ = Path(__file__).parents[1] / "docs" / "results" / "local-sweep-2026-11-28" / "sweep.json.gz"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error(message: str) -> str:
    return f"retrain-bench: error: {message}\n"


# --- reading runs --------------------------------------------------------------------------------


def test_the_projects_own_gzip_sweep_validates(capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(gzip.decompress(SWEEP_GZ.read_bytes()))
    assert len(document["benchmarks"]) == 30 and not document["retrain_bench"].get("failed_benchmarks")
    assert run(capsys, "validate", str(SWEEP_GZ)) == (0, f"{SWEEP_GZ}: ok, 30 benchmarks\n", "")


def test_a_gzip_run_reads_as_its_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    packed = tmp_path / "report-local.json.gz"
    packed.write_bytes(gzip.compress(Path(LOCAL).read_bytes()))
    plain = run(capsys, "report", LOCAL, "--format", "csv")
    assert run(capsys, "report", str(packed), "--format", "csv") == plain


def test_a_damaged_gzip_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    packed = tmp_path / "run.json.gz"
    packed.write_bytes(gzip.compress(GOOD.read_bytes())[:100])
    code, out, err = run(capsys, "validate", str(packed))
    assert (code, out) == (2, "")
    assert err.startswith(f"retrain-bench: error: {packed}: a damaged gzip file (") and err.count("\n") == 1
    assert err.endswith("); compress the run again\n")


def test_non_utf8_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD.read_text().replace('"ci-runner"', '"c\u00e9-runner"', 1)
    assert "c\u00e9-runner" in text
    path = tmp_path / "latin1.json"
    path.write_bytes(text.encode("latin-1"))
    offset = text.index("\u00e9")  # every character before it is ASCII: bytes = characters
    assert run(capsys, "validate", str(path)) == (
        2,
        "",
        error(f"{path}: not UTF-8 text (byte 0xe9 at offset {offset}); pass a file written with --benchmark-json"),
    )


@pytest.mark.parametrize("depth", [2_000, 200_000])
def test_deeply_nested_json_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], depth: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"benchmarks": ' + "[" * depth + "]" * depth + "}")
    assert run(capsys, "report", str(path)) == (
        2,
        "",
        error(f"{path}: nested too deeply to be a run; pass a file written with --benchmark-json"),
    )


@pytest.mark.parametrize(
    ("literal", "shown"), [("1e308", "1e308"), ("1e999", "1e999"), ("1" + "0" * 120, "100000000000…(121 digits)")]
)
def test_a_number_no_measurement_can_be_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], literal: str, shown: str
) -> None:
    """1e308 twice overflowed math.fsum (OverflowError); 1e999 parsed as inf."""
    document = json.loads(GOOD.read_text())
    for round_ in document["benchmarks"][0]["extra_info"]["retrain_bench"]["rounds"]:
        round_["total_s"] = "HUGE" if round_["ok"] else None
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(document).replace('"HUGE"', literal))
    assert run(capsys, "report", str(path)) == (
        2,
        "",
        error(
            f"{path}: the number {shown} is too large for a measurement (the limit is 1e+100); "
            "pass a file written with --benchmark-json"
        ),
    )


def test_a_non_utf8_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gate.toml"
    config.write_bytes(b"# seuil \xe9lev\xe9\n[thresholds]\ntotal_s = 12\n")
    base, current = str(DATA / "compare-baseline.json"), str(DATA / "compare-current.json")
    assert run(capsys, "compare", base, current, "--config", str(config)) == (
        2,
        "",
        error(f"{config}: not UTF-8 text (byte 0xe9 at offset 8); TOML files are UTF-8"),
    )


# --- writing files -------------------------------------------------------------------------------


def test_report_out_dir_that_is_a_file_is_refused_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine")
    assert run(capsys, "report", LOCAL, "--out-dir", str(afile)) == (
        2,
        "",
        error(f"--out-dir: {afile} is a file, not a directory; name a directory to write into"),
    )
    assert run(capsys, "report", LOCAL, "--out-dir", str(afile / "sub")) == (
        2,
        "",
        error(f"--out-dir: {afile / 'sub'}: {afile} is a file, so the directory cannot be created"),
    )
    assert afile.read_text() == "mine"


def test_report_out_dir_is_checked_before_the_runs_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    code, _, err = run(capsys, "report", str(tmp_path / "absent.json"), "--out-dir", str(afile))
    assert (code, err) == (2, error(f"--out-dir: {afile} is a file, not a directory; name a directory to write into"))


def test_report_out_dir_creates_missing_parents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a" / "b"
    code, printed, _ = run(capsys, "report", LOCAL, "--out-dir", str(out))
    assert code == 0 and (out / "report.md").read_text() == printed
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no temporary file left


@pytest.mark.parametrize("command", ["export", "merge"])
def test_an_unwritable_out_file_is_refused_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    fmt = ["--format", "bmf"] if command == "export" else []
    missing = tmp_path / "nope" / "x.json"
    assert run(capsys, command, LOCAL, *fmt, "--out", str(missing)) == (
        2,
        "",
        error(f"--out: {missing}: the directory {missing.parent} does not exist; create it or name another path"),
    )
    assert run(capsys, command, LOCAL, *fmt, "--out", str(tmp_path)) == (
        2,
        "",
        error(f"--out: {tmp_path} is a directory; name a file in it"),
    )
    # Checked before the runs are read: the unreadable run is not what is reported.
    code, _, err = run(capsys, command, str(tmp_path / "absent.json"), *fmt, "--out", str(missing))
    assert (code, err) == (
        2,
        error(f"--out: {missing}: the directory {missing.parent} does not exist; create it or name another path"),
    )


def test_a_failed_write_keeps_the_previous_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bmf.json"
    out.write_text("the previous export\n")

    def full_disk(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    assert run(capsys, "export", LOCAL, "--format", "bmf", "--out", str(out)) == (
        2,
        "",
        error(f"--out: {out}: cannot write it (No space left on device)"),
    )
    assert out.read_text() == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["bmf.json"]  # the temporary file is gone


def test_a_written_export_is_readable_like_any_new_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bmf.json"
    assert run(capsys, "export", LOCAL, "--format", "bmf", "--out", str(out))[0] == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert json.loads(out.read_text())


def test_no_traceback_from_a_subprocess(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "retrain_bench", "report", LOCAL, "--out-dir", str(afile)],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == error(f"--out-dir: {afile} is a file, not a directory; name a directory to write into")
