"""One local round, from the harness's side: fresh launcher processes, timed from "go" to result.

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
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retrain_bench.harness.engine import (
    Execution,
    RoundPlan,
    execution_logs,
    from_stamps,
    run_round,
    timed_out,
    with_tail,
)
from retrain_bench.harness.launcher import CASE_FILE
from retrain_bench.measure.sampler import TreeSampler
from retrain_bench.measure.stats import ResourceStats
from retrain_bench.platforms import registry
from retrain_bench.platforms.definition import Environment
from retrain_bench.results.round import ExecutionResult, RoundResult
from retrain_bench.workload.cases import Case
from retrain_bench.workload.stamps import StampLog


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


class LocalExecution:
    """One launcher process with its own round directory and log."""

    measures_startup = True

    def __init__(
        self,
        platform: str,
        case: Case,
        log: Path,
        run_timeout: float,
        pipelines: Path | None = None,
        environment: Environment | None = None,
    ) -> None:
        self.case = case
        self.log = log
        self.run_timeout = run_timeout
        self.workdir = Path(tempfile.mkdtemp(prefix=f"retrain-bench-{platform}-{case.key}-"))
        try:
            self.launcher = Launcher(platform, case, self.workdir, log, pipelines, environment)
        except BaseException:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        self.pids: tuple[int, ...] = (self.launcher.process.pid,)

    def ready(self, timeout: float) -> str | None:
        message = self.launcher.read_status(timeout)
        if message and message.get("ready"):
            return None
        reason = (message or {}).get("error") or f"launcher not ready within {timeout:g}s"
        return with_tail(str(reason), self.log)

    def go(self) -> None:
        self.launcher.go()

    def wait(self, timeout: float) -> str | None:
        message = self.launcher.read_status(timeout)
        if message is None:
            process = self.launcher.process
            error = (
                f"{timed_out(self.run_timeout)}; process group killed"
                if process.poll() is None
                else f"launcher exited with code {process.returncode} without a result"
            )
            return with_tail(error, self.log)
        if not message.get("ok"):
            return with_tail(str(message.get("error")), self.log)
        return None

    def finish(self, go_ns: int, total_s: float | None, error: str | None) -> ExecutionResult:
        if error is not None:
            return ExecutionResult(ok=False, error=error, total_s=total_s)
        return from_stamps(StampLog.read(self.workdir / "stamps.jsonl"), self.case, go_ns, total_s)

    def stop(self) -> str:
        # Only the signal: closing the status pipe here would pull it from under a waiting thread.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.launcher.process.pid, signal.SIGKILL)
        return "process group killed"

    def close(self) -> None:
        self.launcher.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


class ProcessTrees:
    """The local round's sampler: the launchers' process trees, summed (``measure/sampler.py``)."""

    def __init__(self, executions: Sequence[Execution], hz: float) -> None:
        self.sampler = TreeSampler(tuple(pid for e in executions for pid in e.pids), hz)

    def start(self) -> None:
        self.sampler.start()

    def stop(self) -> dict[str, ResourceStats]:
        return {"process_tree": self.sampler.stop()}

    def halt(self) -> None:
        self.sampler.halt()


def run_local_round(
    platform: str,
    case: Case,
    index: int,
    *,
    concurrency: int = 1,
    warmup: bool,
    run_timeout: float,
    log: Path,
    sample_hz: float | None = None,
    pipelines: Path | None = None,
    environment: Environment | None = None,
) -> RoundResult:
    """One local round of ``concurrency`` launchers released together (``engine.run_round``); a
    failing pipeline is a result, not an exception. Logs: ``log`` for one launcher, ``<log
    stem>.<k>.log`` (k = 1..N) for N. ``environment``: where the launchers run when not where the
    platform says (a NAME@VERSION spec's own)."""
    plan = RoundPlan(platform, case, index, warmup, "local", execution_logs(log, concurrency), run_timeout)

    def make(k: int, log: Path) -> Execution:
        return LocalExecution(platform, case, log, run_timeout, pipelines, environment)

    def sampler(executions: Sequence[Execution]) -> ProcessTrees | None:
        return ProcessTrees(executions, sample_hz) if sample_hz else None

    return run_round(plan, make, sampler)
