"""One local round, from the harness's side: a fresh launcher process, timed from "go" to result.

The launcher runs in its own session so that a timeout or Ctrl-C can kill everything it started
(kfp.local's task subprocesses included) with one ``killpg``; its TMPDIR and stamps live in a
per-round directory that is removed afterwards, and its output goes to a log file whose tail a
failed round keeps as its error.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from retrain_bench.harness.launcher import CASE_FILE
from retrain_bench.platforms import registry
from retrain_bench.platforms.definition import Environment
from retrain_bench.results.round import RoundResult
from retrain_bench.workload.cases import Case

LOG_TAIL_LINES = 20


def unmeasured(platform: str, case: Case, index: int, warmup: bool, log: Path) -> dict[str, Any]:
    """A round's ``RoundResult`` fields before anything is measured: every figure still None."""
    return dict(
        platform=platform,
        case=case.key,
        index=index,
        warmup=warmup,
        log=log,
        total_s=None,
        startup_s=None,
        queue_s=None,
        retrain_tune_s=None,
        outcome=None,
        task_counts={},
        units=0,
    )


def timed_out(run_timeout: float) -> str:
    """The one timeout message of every kind of round; each adds what it did about it."""
    return f"timed out after {run_timeout:g}s (--run-timeout)"


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


class Launcher:
    """The launcher process of one round; ``kill()`` takes its whole process group down."""

    def __init__(
        self,
        platform: str,
        case: Case,
        workdir: Path,
        log: Path,
        pipelines: Path | None = None,
        environment: Environment | None = None,
    ) -> None:
        self.workdir = workdir
        tmp = workdir / "tmp"
        tmp.mkdir(parents=True)
        # The case goes in a file, not on the command line: a wide grid is longer than one
        # argument may be (E2BIG at ~9,300 C values; Linux limits an argument to 128 KiB).
        (workdir / CASE_FILE).write_text(case.to_json())
        env = dict(os.environ)
        launch = environment or registry.platform(platform).environment
        env.update(launch.variables)
        env.update(
            TMPDIR=str(tmp),
            BENCH_STAMPS=str(workdir / "stamps.jsonl"),
            FLYTE_LOCAL_CACHE_ENABLED="false",
            PYTHONUNBUFFERED="1",
        )
        read_fd, write_fd = os.pipe()
        self._status = os.fdopen(read_fd, "r")
        self._buffer = ""
        try:
            self.process = self._start(platform, workdir, log, write_fd, pipelines, launch, env)
        except BaseException:
            self._status.close()
            raise
        finally:
            os.close(write_fd)

    @staticmethod
    def _start(
        platform: str,
        workdir: Path,
        log: Path,
        write_fd: int,
        pipelines: Path | None,
        launch: Environment,
        env: dict[str, str],
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [
                    # A NAME@VERSION spec's own environment, else where the platform says it runs.
                    launch.interpreter(),
                    "-m",
                    "retrain_bench.harness.launcher",
                    platform,
                    str(workdir),
                    str(write_fd),
                    str(pipelines or ""),
                ],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,
                cwd=workdir,
                env=env,
            )

    def read_status(self, timeout: float) -> dict[str, Any] | None:
        """The next status message, or None on timeout or when the launcher died silently."""
        deadline = time.monotonic() + timeout
        while "\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._status], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._status.fileno(), 65536).decode()
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split("\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        # The group outlives the launcher when kfp.local's task processes are still running, so
        # kill the group whether or not the launcher itself has exited.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        if self.process.stdin and not self.process.stdin.closed:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        self._status.close()


class RoundInterrupted(Exception):
    """Ctrl-C during a round; carries the round, recorded as failed."""

    def __init__(self, result: RoundResult) -> None:
        super().__init__(result.error)
        self.result = result


def _with_tail(reason: str, log: Path) -> str:
    tail = _log_tail(log)
    return f"{reason}\n--- last lines of {log.name} ---\n{tail}" if tail else reason
