"""Subprocesses of a platform's session services, each in a process group of its own.

A service's command may start children of its own (``prefect server start`` runs uvicorn in a
child that outlives its leader when the leader alone is killed), so every stop here signals the
whole group, and no command returns before its group is gone or declared stuck.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import psutil

from retrain_bench.errors import BenchError

#: How long a group gets to exit after SIGTERM before it is sent SIGKILL.
GRACE_S = 10.0


def _open(command: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,  # its own session and group: pgid == pid
        )


def members(pgid: int) -> list[psutil.Process]:
    """The live (not zombie) processes of the group ``pgid``."""
    found = []
    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error):
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


def _signal(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _gone(pgid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop(process: subprocess.Popen[bytes], grace_s: float = GRACE_S) -> None:
    """SIGTERM the process's group, SIGKILL whatever is left of it after ``grace_s``; reap the leader."""
    pgid = process.pid
    _signal(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    if not _gone(pgid, 0.0 if process.returncode is None else 1.0):
        _signal(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    _gone(pgid, grace_s)


def run(command: Sequence[str], env: Mapping[str, str], log: Path, timeout_s: float, what: str) -> float:
    """Run ``command`` to its end in a group of its own, its output appended to ``log``; the seconds
    it took. One-line ``BenchError`` naming ``log`` when it fails or outlasts ``timeout_s``."""
    started = time.perf_counter()
    process = _open(command, env, log, log.parent)
    try:
        code = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what} took longer than {timeout_s:g} s; its output: {log}") from None
    finally:
        # Also on success and Ctrl-C: nothing it started outlives it.
        stop(process, grace_s=2.0)
    if code != 0:
        raise BenchError(f"{what} failed (exit status {code}); its output: {log}")
    return time.perf_counter() - started


@contextlib.contextmanager
def running(command: Sequence[str], env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running in a group of its own while the block runs; the group stopped after it."""
    process = _open(command, env, log, log.parent)
    try:
        yield process
    finally:
        stop(process)
