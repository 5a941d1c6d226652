"""Issue 26, item 6: the soak stops cleanly on Ctrl-C and SIGTERM, from its first line; bad --round-logs.

The signal goes to a real child ``python -m retrain_bench soak`` while it is still importing the CLI
(the window in which it used to die with a ``KeyboardInterrupt`` traceback, or a silent -15 and its
round directory left): a ``sitecustomize`` in the child writes a marker when the import of
``retrain_bench.cli.main`` begins and holds that import for a few seconds, so the signal lands there
whatever the machine's load. Usage errors are in-process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrain_bench.cli.main import main

HOLD_THE_IMPORT = """
import importlib.abc, os, sys, time

class _Hold(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "retrain_bench.cli.main":
            sys.meta_path.remove(self)
            open(os.environ["MARKER"], "w").close()
            time.sleep(1.5)
        return None

sys.meta_path.insert(0, _Hold())
"""


@pytest.mark.parametrize(("sig", "label"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_a_signal_while_the_cli_imports_stops_the_soak_cleanly(sig: signal.Signals, label: str, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HOLD_THE_IMPORT)
    marker, temp = tmp_path / "importing", tmp_path / "tmp"
    temp.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "MARKER": str(marker),
        "TMPDIR": str(temp),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "retrain_bench", "soak", "--platform", "bare", "--case", "smoke", "--rounds", "3"]
        + ["--round-logs", str(tmp_path / "logs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.exists(), "the child never began importing the CLI"
    child.send_signal(sig)
    out, err = child.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert child.returncode == 2, err
    assert out.splitlines() == [
        "soak: bare/smoke, 0 of 3 rounds (0 ok)",
        f"verdict: none: stopped ({label}) before the last round",
    ]
    assert list(temp.iterdir()) == []  # no round directory, no soak root left


def test_round_logs_naming_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "afile"
    taken.write_text("")
    code = main(["soak", "--platform", "bare", "--case", "smoke", "--rounds", "3", "--round-logs", str(taken)])
    assert code == 2
    assert capsys.readouterr().err == (
        f"retrain-bench: error: --round-logs: {taken} is a file, not a directory; name a directory to write into\n"
    )


def test_round_logs_where_no_file_can_be_created_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """/proc takes no files, not even from root (a read-only directory's mode does not stop root)."""
    code = main(["soak", "--platform", "bare", "--case", "smoke", "--rounds", "3", "--round-logs", "/proc/soak-logs"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("retrain-bench: error: --round-logs: cannot write in /proc (") and err.count("\n") == 1
