"""SIGHUP (a closed terminal or ssh session) stops a run as SIGTERM does (issue 26 item 5): the rounds
before it saved, the interrupted round's process group killed, exit 2, nothing left behind. A real
child pytest runs the real benchmark and gets a real signal (tests/test_reliability.py's ``Child``)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.helpers import records
from tests.test_reliability import SLOW, Child


def test_sighup_during_a_round_kills_it_and_keeps_the_rounds_before(tmp_path: Path) -> None:
    child = Child(tmp_path, *SLOW, "--rounds=3")
    child.wait_for("[retrain-bench] bare/smoke:slow_tune round 1/3")
    time.sleep(0.6)  # round 2 runs (each tune task sleeps 0.5 s)
    child.signal(signal.SIGHUP)
    code, output = child.finish()
    assert code == pytest.ExitCode.INTERRUPTED, output
    document = child.document(output)
    assert document["retrain_bench"]["interrupted"] is True
    (record,) = records(document).values()
    assert [r["ok"] for r in record["rounds"]] == [True, False]
    assert record["rounds"][1]["error"] == "interrupted (SIGHUP); process group killed"
    assert child.left_behind() == ([], [])
