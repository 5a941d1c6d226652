"""Session services' subprocesses: every stop takes the whole process group, also what outlives its leader."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from retrain_bench.errors import BenchError
from retrain_bench.platforms import groups

#: A leader that starts a child ignoring SIGTERM, writes the child's pid, then waits (or exits: argv[2]).
LEADER = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
time.sleep(0.3)  # the child has set its handler
open(sys.argv[1], "w").write(str(child.pid))
if sys.argv[2] == "wait":
    time.sleep(600)
"""


def _pid(path: Path) -> int:
    deadline = time.monotonic() + 30
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, "the leader never wrote its child's pid"
        time.sleep(0.05)
    return int(path.read_text())


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_running_stops_the_group_with_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    with groups.running([sys.executable, "-c", LEADER, str(pidfile), "wait"], os.environ, tmp_path / "log") as leader:
        child = _pid(pidfile)
        assert os.getpgid(child) == os.getpgid(leader.pid) == leader.pid != os.getpgid(0)
        assert {p.pid for p in groups.members(leader.pid)} == {leader.pid, child}
    assert leader.returncode == -signal.SIGTERM
    assert not _alive(child)
    assert groups.members(leader.pid) == []


def test_run_leaves_nothing_of_a_command_whose_child_outlives_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    groups.run([sys.executable, "-c", LEADER, str(pidfile), "exit"], os.environ, tmp_path / "log", 60, "the leader")
    assert not _alive(_pid(pidfile))


def test_run_says_in_one_line_that_a_command_failed_and_where_its_output_is(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    command = [sys.executable, "-c", "import sys; print('the reason'); sys.exit(3)"]
    with pytest.raises(BenchError) as caught:
        groups.run(command, os.environ, log, 60, "the step")
    assert str(caught.value) == f"the step failed (exit status 3); its output: {log}"
    assert log.read_text() == "the reason\n"


def test_run_kills_a_command_that_outlasts_its_timeout(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    pidfile = tmp_path / "child.pid"
    with pytest.raises(BenchError) as caught:
        groups.run([sys.executable, "-c", LEADER, str(pidfile), "wait"], os.environ, log, 2, "the step")
    assert str(caught.value) == f"the step took longer than 2 s; its output: {log}"
    assert not _alive(_pid(pidfile))
