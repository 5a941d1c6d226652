"""The one round engine: N executions of a case readied, released together, waited for, read back.

The seam is ``Execution``: something the harness can get ready, release ("go") and wait for.
``run_together`` owns the clock: it readies every execution (start-up stays out of the timer),
releases them one right after the other, waits for all of them in parallel, and returns each one's
own go -> result time and the makespan (first go -> last result). Locally an execution is a
launcher process (``harness/local.py``).

The round's ``total_s`` is the makespan; its ``queue_s`` and ``retrain_tune_s`` are the medians over
the executions, whose own figures and spread go in the round's ``concurrency`` block (``--concurrency
N``, N > 1). The round is ok only when every execution is ok and all computed the same outcome.
``from_stamps`` is the one place that turns a run's stamps into its outcome and phases, for local
and cluster executions alike.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from retrain_bench.harness.stopping import STOP
from retrain_bench.measure.sampler import TreeSampler
from retrain_bench.measure.stats import ResourceStats
from retrain_bench.results.round import ExecutionResult, RoundResult
from retrain_bench.workload.cases import Case
from retrain_bench.workload.outcome import Outcome
from retrain_bench.workload.stamps import StampError, StampLog

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


class RoundInterrupted(Exception):
    """Ctrl-C during a round; carries the round, recorded as failed."""

    def __init__(self, result: RoundResult) -> None:
        super().__init__(result.error)
        self.result = result


def _with_tail(reason: str, log: Path) -> str:
    tail = _log_tail(log)
    return f"{reason}\n--- last lines of {log.name} ---\n{tail}" if tail else reason


class Execution(Protocol):
    """One execution the harness can ready, release and wait for (local launcher or remote run)."""

    #: process trees the local sampler follows; () when the execution runs elsewhere
    pids: tuple[int, ...]

    def ready(self, timeout: float) -> str | None:
        """Block until "go" starts the run with no start-up left; the error, or None when ready."""

    def go(self) -> None:
        """Release (submit) the run."""

    def wait(self, timeout: float) -> tuple[bool, str | None]:
        """Block until the run ends or ``timeout`` passes: (ok, error). Called from a worker thread."""

    def finish(self, go_ns: int, total_s: float) -> ExecutionResult:
        """After ``wait`` said ok: read what the run recorded (phases from stamps, outcome)."""

    def stop(self) -> None:
        """Kill the run now; safe while another thread waits on it (its ``wait`` then returns)."""

    def close(self) -> None:
        """Release everything the execution holds (idempotent)."""


@dataclasses.dataclass(frozen=True)
class Together:
    """What ``run_together`` saw."""

    executions: tuple[ExecutionResult, ...]
    #: first launcher start -> last ready
    startup_s: float | None
    makespan_s: float | None
    #: (first go, last result) in unix seconds
    window: tuple[float, float] | None
    resources: dict[str, ResourceStats]


def run_together(
    executions: Sequence[Execution], run_timeout: float, sample_hz: float | None, started: float
) -> Together:
    """Ready every execution, release them together, wait for all; raises KeyboardInterrupt after
    stopping them all. The caller closes the executions."""
    deadline = started + run_timeout
    errors = [e.ready(max(deadline - time.perf_counter(), 0.0)) for e in executions]
    if any(errors):
        failed = [
            ExecutionResult(ok=False, error=error or "not released: another execution of the round failed to start")
            for error in errors
        ]
        return Together(tuple(failed), None, None, None, {})
    startup_s = time.perf_counter() - started
    roots = tuple(pid for e in executions for pid in e.pids)
    sampler = TreeSampler(roots, sample_hz) if sample_hz and roots else None
    done: list[float | None] = [None] * len(executions)
    ended: list[tuple[bool, str | None]] = [(False, "never waited for")] * len(executions)
    go_ns: list[int] = []
    go_at: list[float] = []
    deadline = time.perf_counter() + run_timeout

    def wait(k: int) -> None:
        try:
            # --run-timeout counts from this execution's own release, as its total_s does.
            ended[k] = executions[k].wait(max(go_at[k] + run_timeout - time.perf_counter(), 0.0))
        except Exception as exc:  # a broken status line fails this execution, not the harness
            ended[k] = (False, f"{type(exc).__name__}: {exc}")
        done[k] = time.perf_counter()

    threads = [
        threading.Thread(target=wait, args=(k,), name=f"execution-{k}", daemon=True) for k in range(len(executions))
    ]
    try:
        if sampler:
            sampler.start()  # baseline: every tree just before the first "go"
        for k, execution in enumerate(executions):
            go_ns.append(time.time_ns())
            go_at.append(time.perf_counter())
            execution.go()
            threads[k].start()
        for thread in threads:
            thread.join()
        resources = {"process_tree": sampler.stop()} if sampler else {}
    except KeyboardInterrupt:
        with STOP.shielded():
            for execution in executions:
                execution.stop()
            for thread in threads:
                if thread.ident is not None:  # started
                    thread.join(timeout=15)
        raise
    finally:
        if sampler is not None:
            with STOP.shielded():
                sampler.halt()
    makespan = max(t if t is not None else deadline for t in done) - go_at[0]
    results = []
    for k, execution in enumerate(executions):
        ok, error = ended[k]
        total = (done[k] or deadline) - go_at[k]
        results.append(
            execution.finish(go_ns[k], total) if ok else ExecutionResult(ok=False, error=error, total_s=total)
        )
    window = (go_ns[0] / 1e9, go_ns[0] / 1e9 + makespan)
    return Together(tuple(results), startup_s, makespan, window, resources)


def from_stamps(stamps: StampLog, case: Case, go_ns: int, total_s: float | None) -> ExecutionResult:
    """A finished run as its stamps tell it: outcome, phases (from ``go_ns``), task counts; failed
    when they do not describe a complete pipeline of ``case``."""
    counts, units = stamps.task_counts(), len({s.unit for s in stamps.stamps})
    try:
        outcome = stamps.outcome(case.grid)
        phases = stamps.phases(go_ns)
    except (StampError, KeyError, ValueError) as exc:
        error = f"pipeline finished but its record is incomplete: {exc}"
        return ExecutionResult(ok=False, error=error, total_s=total_s, task_counts=counts, units=units)
    return ExecutionResult(
        ok=True, error=None, total_s=total_s, outcome=outcome, task_counts=counts, units=units, **phases
    )


def median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def combined_verdict(results: Sequence[ExecutionResult]) -> tuple[bool, str | None, Outcome | None]:
    n = len(results)
    for k, r in enumerate(results):
        if not r.ok:
            return False, f"execution {k + 1}/{n}: {r.error}" if n > 1 else r.error, None
    outcomes = {r.outcome for r in results}
    if len(outcomes) > 1:
        shown = "; ".join(f"{k + 1}: {r.outcome}" for k, r in enumerate(results))
        return False, f"the {n} executions computed different outcomes: {shown}", None
    return True, None, results[0].outcome


def folded(results: Sequence[ExecutionResult]) -> dict[str, Any]:
    """The round's fields that N executions decide together: the verdict and outcome, the phases'
    medians, the summed task counts and execution units (local and cluster rounds alike)."""
    ok, error, outcome = combined_verdict(results)
    counts: dict[str, int] = {}
    for r in results:
        for task, count in r.task_counts.items():
            counts[task] = counts.get(task, 0) + count
    return dict(
        ok=ok,
        error=error,
        outcome=outcome,
        queue_s=median([r.queue_s for r in results]),
        retrain_tune_s=median([r.retrain_tune_s for r in results]),
        task_counts=counts,
        units=sum(r.units for r in results),
    )
