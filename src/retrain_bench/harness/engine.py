"""The one round engine: N executions of a case readied, released together, waited for, read back.

Every target runs its rounds through ``run_round``. What differs between targets is the
``Execution``: a launcher process on this machine (``harness/local.py``), a run submitted to a
platform on Kubernetes (``harness/remote.py``), a run submitted to an orchestrator's control plane
on this machine (``harness/server.py``). The engine owns what they share:

- one clock: every execution is readied first (a launcher's start-up stays out of the timer), then
  released one right after the other; each one's ``total_s`` is its own go -> end, the round's the
  makespan (first go -> last end);
- one timeout: ``--run-timeout`` counts from each execution's own go, and every kind says so with
  ``timed_out``;
- one interrupt path: Ctrl-C or SIGTERM stops every execution (shielded, so no second signal cuts
  that short), reads back what there is, closes them, and raises ``RoundInterrupted`` carrying the
  round recorded as failed;
- one clean-up: every execution is closed whatever happened;
- one ``RoundResult``, built here and only here.

The round's ``queue_s`` and ``retrain_tune_s`` are the medians over the executions, whose own figures
and spread go in the round's ``concurrency`` block (``--concurrency N``, N > 1). The round is ok only
when every execution is ok and all computed the same outcome. ``from_stamps`` is the one place that
turns a run's stamps into its outcome and phases, on every target.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from retrain_bench.harness.stopping import STOP
from retrain_bench.measure.stats import ResourceStats
from retrain_bench.results.round import Concurrency, ExecutionResult, RoundResult
from retrain_bench.workload.cases import Case
from retrain_bench.workload.outcome import Outcome
from retrain_bench.workload.stamps import StampError, StampLog

LOG_TAIL_LINES = 20


def timed_out(run_timeout: float) -> str:
    """The one timeout message of every kind of execution; each adds what it did about it."""
    return f"timed out after {run_timeout:g}s (--run-timeout)"


def log_tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


def with_tail(reason: str, log: Path) -> str:
    """``reason`` followed by the last lines of the execution's log, the way failed rounds keep them."""
    tail = log_tail(log)
    return f"{reason}\n--- last lines of {log.name} ---\n{tail}" if tail else reason


class RoundInterrupted(Exception):
    """Ctrl-C or SIGTERM during a round; carries the round, recorded as failed."""

    def __init__(self, result: RoundResult) -> None:
        super().__init__(result.error)
        self.result = result


def _pause(seconds: float, stopping: threading.Event) -> None:
    stopping.wait(seconds)  # a stop from another thread wakes it at once; a signal interrupts it


@dataclasses.dataclass(frozen=True)
class Clock:
    """The engine's clocks: monotonic seconds for durations, wall nanoseconds for windows and stamps,
    and the pause between two polls (ended early when ``stopping`` is set). Tests of a poll loop hand
    in a fake one that moves when the loop pauses."""

    now: Callable[[], float] = time.perf_counter
    wall_ns: Callable[[], int] = time.time_ns
    sleep: Callable[[float, threading.Event], None] = _pause


REAL_CLOCK = Clock()


class Execution(Protocol):
    """One execution of a case the engine can ready, release, wait for and read back."""

    #: the process trees the round's sampler follows (a launcher); () when it runs elsewhere
    pids: tuple[int, ...]
    #: whether ``ready`` does start-up work the round records as ``startup_s`` (a launcher importing
    #: its SDK); False where the platform was prepared once for the session and ``go`` just submits
    measures_startup: bool

    def ready(self, timeout: float) -> str | None:
        """Block until "go" starts the run with no start-up left; the error, or None when ready."""

    def go(self) -> None:
        """Release (submit) the run. A refusal is recorded for ``wait``, not raised."""

    def wait(self, timeout: float) -> str | None:
        """Block until the run ends or ``timeout`` passes; None when it ended ok, else why not (a
        timeout also stops the run). Returns as soon as the end is seen: reading back is ``finish``'s."""

    def finish(self, go_ns: int, total_s: float | None, error: str | None) -> ExecutionResult:
        """What the run recorded, ok or not: ``error`` is what ``wait`` (or the engine) saw; the
        stamps can still fail an ended run. Called once, also after ``stop``."""

    def stop(self) -> str:
        """Stop the run now (Ctrl-C); safe while another thread waits on it (its ``wait`` then
        returns). Says what it did, e.g. "process group killed"."""

    def close(self) -> None:
        """Release everything the execution holds (idempotent)."""


class RoundSampler(Protocol):
    """Resources sampled over a round's go -> end (the local process tree, a control plane's scopes)."""

    def start(self) -> None: ...

    def stop(self) -> Mapping[str, ResourceStats]: ...

    def halt(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class RoundPlan:
    """One round as the session asks for it; ``logs`` has one file per execution."""

    platform: str
    case: Case
    index: int
    warmup: bool
    target: str
    logs: tuple[Path, ...]
    run_timeout: float
    clock: Clock = REAL_CLOCK


def execution_logs(log: Path, n: int) -> tuple[Path, ...]:
    """``log`` for one execution; ``<log stem>.<k>.log`` (k = 1..N) for N."""
    return (log,) if n == 1 else tuple(log.with_name(f"{log.stem}.{k + 1}{log.suffix}") for k in range(n))


def not_run(plan: RoundPlan, error: str, missing: Mapping[str, str] | None = None) -> RoundResult:
    """A round that failed before any execution existed (its platform's services did not start)."""
    return RoundResult(
        platform=plan.platform,
        case=plan.case.key,
        index=plan.index,
        warmup=plan.warmup,
        ok=False,
        error=error,
        total_s=None,
        startup_s=None,
        queue_s=None,
        retrain_tune_s=None,
        outcome=None,
        task_counts={},
        units=0,
        log=plan.logs[0],
        target=plan.target,
        missing=dict(missing or {}),
    )


def run_round(
    plan: RoundPlan,
    make: Callable[[int, Path], Execution],
    sampler: Callable[[Sequence[Execution]], RoundSampler | None] = lambda executions: None,
) -> RoundResult:
    """Run one round of one execution per ``plan.logs`` (``make(k, log)`` builds the k-th) and return it; a
    failing run is a failed round, not an exception. Ctrl-C or SIGTERM (``stopping.STOP``) stops
    every execution and raises ``RoundInterrupted`` carrying the round; no signal cuts the stopping,
    the reading back or the closing short."""
    for log in plan.logs:
        log.parent.mkdir(parents=True, exist_ok=True)
    executions: list[Execution] = []
    run = _Run(plan)
    try:
        # Made and recorded in one piece, before the round may be interrupted: a signal meanwhile
        # would leak what an execution holds, and a stop asked for just before the round then
        # stops executions that exist (the interruptible section raises as it is entered).
        with STOP.shielded():
            run.started = plan.clock.now()
            for k, log in enumerate(plan.logs):
                executions.append(make(k, log))
        with STOP.interruptible():
            run.drive(executions, sampler(executions))
        with STOP.shielded():  # read back before closing: closing removes what the run left
            return run.result(executions)
    except KeyboardInterrupt:
        with STOP.shielded():
            stopped = run.stop(executions)
            result = run.result(executions, interrupted=f"interrupted ({STOP.label}); {stopped}")
        raise RoundInterrupted(result) from None
    finally:
        with STOP.shielded():
            for execution in executions:
                execution.close()


class _Run:
    """The engine's bookkeeping of one round: who was released when, who ended when."""

    def __init__(self, plan: RoundPlan) -> None:
        self.plan = plan
        self.started: float | None = None
        self.startup_s: float | None = None
        self.not_released: list[str | None] | None = None
        self.go_ns: list[int] = []
        self.go_at: list[float] = []
        self.done: list[float | None] = []
        self.ended: list[str | None] = []
        self.threads: list[threading.Thread] = []
        self.resources: dict[str, ResourceStats] = {}

    def drive(self, executions: Sequence[Execution], sampler: RoundSampler | None) -> None:
        plan, clock = self.plan, self.plan.clock
        assert self.started is not None
        deadline = self.started + plan.run_timeout
        errors = [e.ready(max(deadline - clock.now(), 0.0)) for e in executions]
        if any(errors):
            self.not_released = errors
            return
        if all(e.measures_startup for e in executions):
            self.startup_s = clock.now() - self.started
        n = len(executions)
        self.done = [None] * n
        self.ended = ["never waited for"] * n

        def wait(k: int) -> None:
            try:
                # --run-timeout counts from this execution's own release, as its total_s does.
                self.ended[k] = executions[k].wait(max(self.go_at[k] + plan.run_timeout - clock.now(), 0.0))
            except Exception as exc:  # a broken status line fails this execution, not the harness
                self.ended[k] = f"{type(exc).__name__}: {exc}"
            self.done[k] = clock.now()

        try:
            if sampler is not None:
                sampler.start()  # baseline: just before the first "go"
            for execution in executions:
                self.go_ns.append(clock.wall_ns())
                self.go_at.append(clock.now())
                execution.go()
            if n == 1:
                # One execution waits in this thread: a signal reaches it wherever it blocks.
                wait(0)
            else:
                self.threads = [
                    threading.Thread(target=wait, args=(k,), name=f"execution-{k}", daemon=True) for k in range(n)
                ]
                for thread in self.threads:
                    thread.start()
                for thread in self.threads:
                    thread.join()
            if sampler is not None:
                self.resources = dict(sampler.stop())
        finally:
            if sampler is not None:
                with STOP.shielded():
                    sampler.halt()

    def stop(self, executions: Sequence[Execution]) -> str:
        """Stop every execution; what was done, in one phrase."""
        if not executions:
            return "before any execution started"
        said = list(dict.fromkeys(e.stop() for e in executions))
        for thread in self.threads:
            if thread.ident is not None:  # started
                thread.join(timeout=15)
        return "; ".join(said) if len(executions) == 1 else f"{len(executions)} executions stopped: {'; '.join(said)}"

    def result(self, executions: Sequence[Execution], interrupted: str | None = None) -> RoundResult:
        if self.not_released is not None:
            results = [
                e.finish(0, None, error or "not released: another execution of the round failed to start")
                for e, error in zip(executions, self.not_released, strict=True)
            ]
            return self._assemble(executions, results, None, None, interrupted)
        if interrupted is not None:
            # An interrupted round keeps what its executions saw (runs, pods, notes) but no figure.
            results = [e.finish(0, None, interrupted) for e in executions]
            return self._assemble(executions, results, None, None, interrupted)
        # Not interrupted and every execution ready: drive released them all and waited for each
        # (``done`` and ``ended`` have one entry per execution; a wait that never returned has None).
        end = self.plan.clock.now()
        ended_at = [done if done is not None else end for done in self.done]
        results = [
            execution.finish(self.go_ns[k], ended_at[k] - self.go_at[k], self.ended[k])
            for k, execution in enumerate(executions)
        ]
        makespan = max(ended_at) - self.go_at[0]
        window = (self.go_ns[0] / 1e9, self.go_ns[0] / 1e9 + makespan)
        return self._assemble(executions, results, makespan, window, interrupted)

    def _assemble(
        self,
        executions: Sequence[Execution],
        results: Sequence[ExecutionResult],
        makespan: float | None,
        window: tuple[float, float] | None,
        interrupted: str | None,
    ) -> RoundResult:
        plan = self.plan
        n = len(results)
        ok, error, outcome = (False, interrupted, None) if interrupted is not None else combined_verdict(results)
        counts: dict[str, int] = {}
        for r in results:
            for task, count in r.task_counts.items():
                counts[task] = counts.get(task, 0) + count
        runs = [r.run for r in results if r.run is not None]
        missing: dict[str, str] = {}
        for r in results:
            missing.update(r.missing)
        notes = tuple(note for r in results for note in r.notes)
        timings: Mapping[str, Any] | None
        if n == 1:
            timings = results[0].platform_timings
        elif runs:
            notes = (f"runs of this round: {', '.join(run.run_id for run in runs)}", *notes)
            timings = {r.run.run_id: dict(r.platform_timings or {}) for r in results if r.run is not None}
        else:
            timings = None
        return RoundResult(
            platform=plan.platform,
            case=plan.case.key,
            index=plan.index,
            warmup=plan.warmup,
            ok=ok,
            error=error,
            total_s=makespan,
            startup_s=self.startup_s,
            queue_s=median([r.queue_s for r in results]),
            retrain_tune_s=median([r.retrain_tune_s for r in results]),
            outcome=outcome,
            task_counts=counts,
            units=sum(r.units for r in results),
            log=plan.logs[0],
            resources=self.resources,
            window=window,
            target=plan.target,
            run=runs[0] if runs else None,
            pods=tuple(pod for r in results for pod in r.pods),
            platform_timings=timings,
            missing=missing,
            notes=notes,
            process_groups=tuple(pid for e in executions for pid in e.pids),
            concurrency=Concurrency(n, tuple(results), makespan) if n > 1 else None,
            register_s=median([r.register_s for r in results]),
        )


def from_stamps(stamps: StampLog, case: Case, go_ns: int, total_s: float | None) -> ExecutionResult:
    """A finished run as its stamps tell it: outcome, phases (from ``go_ns``), task counts; failed
    when they do not describe a complete pipeline of ``case``."""
    counts, units = stamps.task_counts(), stamps.units()
    try:
        outcome = stamps.outcome(case.grid)
        phases = stamps.phases(go_ns)
    except (StampError, KeyError, ValueError) as exc:
        error = f"pipeline finished but its record is incomplete: {exc}"
        return ExecutionResult(ok=False, error=error, total_s=total_s, task_counts=counts, units=units)
    return ExecutionResult(
        ok=True,
        error=None,
        total_s=total_s,
        queue_s=phases["queue_s"],
        retrain_tune_s=phases["retrain_tune_s"],
        register_s=phases["register_s"],
        outcome=outcome,
        task_counts=counts,
        units=units,
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
