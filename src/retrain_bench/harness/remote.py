"""One cluster round, from the harness's side: submit, watch the pods, poll to the end, read the stamps.

The harness owns the clock, the poll loop, the timeout and Ctrl-C; a ``RemoteRunner``
(``src/retrain_bench/platforms/remote.py``) only speaks its platform's API. The phases are those of a local round
(``docs/metrics.md``): ``total_s`` is submit → terminal state seen by this poll loop (monotonic clock),
``queue_s`` and ``retrain_tune_s`` come from the stamp lines the tasks wrote to their pods' logs,
read back through the Kubernetes API once the run has finished. A failing run, a timeout or a
record with missing stamps is a failed round, not an exception; Ctrl-C terminates the run and
raises ``RoundInterrupted`` carrying the round.

The pod watch starts right after submit, on the namespace and label selector the runner
returned: pods that finish and are garbage-collected during the run are still recorded, and the
cluster resource scopes are built from them (``src/retrain_bench/harness/scopes.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from retrain_bench.cluster.errors import ClusterError
from retrain_bench.cluster.kube import Kube
from retrain_bench.cluster.pods import PodLogs, PodSeen, PodWatch, read_stamps
from retrain_bench.errors import BenchError
from retrain_bench.harness.engine import (
    RoundInterrupted,
    RoundResult,
    _with_tail,
    folded,
    from_stamps,
    timed_out,
    unmeasured,
)
from retrain_bench.harness.stopping import STOP
from retrain_bench.platforms.remote import Poll, RemoteRunner, Submitted
from retrain_bench.results.round import Concurrency, ExecutionResult
from retrain_bench.workload.cases import Case

#: Flyte hashes pod names over 50 characters (``<execution>-<node>-<attempt>``): keep names short.
NAME_LENGTH = 20
NAME = re.compile(r"[a-z][a-z0-9-]*")
#: consecutive failed status calls tolerated before the round gives up (a blip is not a failed run)
POLL_ERRORS_TOLERATED = 3
CLUSTER_MISSING = {"startup_s": "local only: no launcher process on the cluster target"}


class ExecutionNames:
    """Execution names for one session: ``rb`` + a random token + a running number, e.g. ``rbk3x9q2``.

    Lowercase, starting with a letter, at most ``NAME_LENGTH`` characters, and unique within the
    session (the number) and, very likely, across sessions sharing a platform (the token).
    """

    def __init__(self, token: str | None = None) -> None:
        alphabet = string.ascii_lowercase + string.digits
        self.token = token if token is not None else "".join(secrets.choice(alphabet) for _ in range(6))
        if not re.fullmatch(r"[a-z0-9]{1,10}", self.token):
            raise BenchError(f"execution name token {self.token!r}: use 1 to 10 lowercase letters or digits")
        self._numbers = itertools.count()

    def next(self) -> str:
        return execution_name(self.token, next(self._numbers))


def execution_name(token: str, number: int) -> str:
    """``rb<token><number>``; BenchError when it would not be a short lowercase name."""
    name = f"rb{token}{number}"
    if len(name) > NAME_LENGTH or not NAME.fullmatch(name):
        raise BenchError(
            f"execution name {name!r} must be at most {NAME_LENGTH} lowercase letters, digits or '-', "
            "starting with a letter: use a shorter token"
        )
    return name


@dataclasses.dataclass
class _Log:
    """The round's log file: what the harness saw, then the pods' logs."""

    path: Path

    def line(self, text: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        with self.path.open("a") as out:
            out.write(f"{stamp} {text}\n")

    def pods(self, logs: PodLogs) -> None:
        with self.path.open("a") as out:
            for pod, container, text in logs.texts:
                out.write(f"--- pod {pod} container {container} ---\n{text}")
                if text and not text.endswith("\n"):
                    out.write("\n")


def run_remote_round(
    runner: RemoteRunner,
    case: Case,
    index: int,
    *,
    warmup: bool,
    poll_interval: float,
    run_timeout: float,
    name: str,
    kube: Kube,
    cleanup: bool,
    log: Path,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall_ns: Callable[[], int] = time.time_ns,
    pod_watch: Callable[[Kube, str, str], PodWatch] = PodWatch,
    stop: threading.Event | None = None,
) -> RoundResult:
    """Run one round on the runner's platform and return what happened (see the module docstring).

    With ``cleanup`` the runner retires the run afterwards, whatever its end; a failure there is
    only noted on the round. ``stop`` set from another thread acts as Ctrl-C does here (a round
    running in a worker thread never sees the KeyboardInterrupt itself).
    """
    try:
        result = _round(
            runner,
            case,
            index,
            warmup=warmup,
            poll_interval=poll_interval,
            run_timeout=run_timeout,
            name=name,
            kube=kube,
            log=log,
            clock=clock,
            sleep=sleep,
            wall_ns=wall_ns,
            pod_watch=pod_watch,
            stop=stop,
        )
    except RoundInterrupted as interrupted:
        raise RoundInterrupted(_cleaned(runner, interrupted.result, cleanup)) from None
    return _cleaned(runner, result, cleanup)


def _cleaned(runner: RemoteRunner, result: RoundResult, cleanup: bool) -> RoundResult:
    if not cleanup or result.run is None:
        return result
    try:
        runner.cleanup(result.run)
    except Exception as exc:  # noqa: BLE001 - cleanup is a courtesy: noted, never fatal
        return dataclasses.replace(result, notes=(*result.notes, f"cleanup failed: {_one_line(exc)}"))
    return result


def _round(
    runner: RemoteRunner,
    case: Case,
    index: int,
    *,
    warmup: bool,
    poll_interval: float,
    run_timeout: float,
    name: str,
    kube: Kube,
    log: Path,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall_ns: Callable[[], int] = time.time_ns,
    pod_watch: Callable[[Kube, str, str], PodWatch] = PodWatch,
    stop: threading.Event | None = None,
) -> RoundResult:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = _Log(log)
    fields = {**unmeasured(runner.platform, case, index, warmup, log), "target": "cluster"}
    fields["missing"] = dict(CLUSTER_MISSING)
    notes: list[str] = []
    run: Submitted | None = None
    watch: PodWatch | None = None
    try:
        submit_ns, started = wall_ns(), clock()
        try:
            run = runner.submit(case, name)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - the platform's client raises its own types
            out.line(f"submit failed: {exc}")
            return RoundResult(ok=False, error=f"submit failed: {_one_line(exc)}", **fields)
        fields["run"] = run
        out.line(f"submitted {run.platform} run {run.run_id} as {name} ({run.url or 'no console URL'})")
        watch = pod_watch(kube, run.namespace, run.pod_selector).start()
        poll, failure = _poll_until_done(
            runner, run, out, notes, started, poll_interval, run_timeout, clock, sleep, stop
        )
        fields["total_s"] = clock() - started
        fields["window"] = (submit_ns / 1e9, wall_ns() / 1e9)
        pods = watch.stop()
        fields["pods"] = pods
        notes.extend(f"pod watch: {e}" for e in watch.errors)
        watch = None
        if failure is not None:
            return RoundResult(ok=False, error=failure, notes=tuple(notes), **fields)
        assert poll is not None
        logs = _read_logs(kube, pods, out)
        if not poll.ok:
            error = poll.error or f"the run ended in state {poll.state or 'unknown'}"
            return RoundResult(ok=False, error=_with_tail(error, log), notes=tuple(notes), **fields)
        fields["platform_timings"] = _platform_timings(runner, run, fields["missing"])
        if isinstance(logs, str):
            error = f"pipeline finished but its stamps could not be read: {logs}"
            return RoundResult(ok=False, error=error, notes=tuple(notes), **fields)
        done = from_stamps(logs.stamps, case, submit_ns, fields["total_s"])
        fields.update(task_counts=done.task_counts, units=done.units)
        if not done.ok:
            error = done.error or ""
            if logs.unread:
                error += f" (logs of deleted pods not read: {', '.join(logs.unread)})"
            return RoundResult(ok=False, error=error, notes=tuple(notes), **fields)
        fields.update(outcome=done.outcome, queue_s=done.queue_s, retrain_tune_s=done.retrain_tune_s)
        return RoundResult(ok=True, error=None, notes=tuple(notes), **fields)
    except KeyboardInterrupt:
        with STOP.shielded():  # a second signal must not leave the run going on the cluster
            if run is not None:
                _terminate(runner, run, f"interrupted ({STOP.label})", notes, out)
            if watch is not None:
                fields["pods"] = watch.stop()
                watch = None
        what = "execution terminated" if run is not None else "before the platform accepted the run"
        interrupted = RoundResult(ok=False, error=f"interrupted ({STOP.label}); {what}", notes=tuple(notes), **fields)
        raise RoundInterrupted(interrupted) from None
    finally:
        if watch is not None:
            watch.stop()


def _poll_until_done(
    runner: RemoteRunner,
    run: Submitted,
    out: _Log,
    notes: list[str],
    started: float,
    poll_interval: float,
    run_timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    stop: threading.Event | None = None,
) -> tuple[Poll | None, str | None]:
    """Poll every ``poll_interval`` on the monotonic clock: (the terminal poll, None) or (None, why not)."""
    due, errors, state = started, 0, None
    while True:
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        try:
            poll: Poll | None = runner.poll(run)
            errors = 0
        except Exception as exc:  # noqa: BLE001 - the platform's client raises its own types
            errors += 1
            out.line(f"poll failed ({errors}): {exc}")
            if errors > POLL_ERRORS_TOLERATED:
                _terminate(runner, run, "status calls keep failing", notes, out)
                return None, f"status calls failed {errors} times in a row: {_one_line(exc)}; execution terminated"
            poll = None
        now = clock()
        if poll is not None:
            if poll.state != state:
                out.line(f"state {poll.state or '?'} after {now - started:.3f}s")
                state = poll.state
            if poll.done:
                return poll, None
        if now - started >= run_timeout:
            reason = timed_out(run_timeout)
            stopped = _terminate(runner, run, reason, notes, out)
            return None, f"{reason}; {'execution terminated' if stopped else 'terminating the execution failed'}"
        # A fixed schedule (submit + k × interval), not interval after each answer: slow status
        # calls do not stretch it, and a late wake-up does not make the next polls burst.
        due += poll_interval
        if due < now:
            due = now
        pause = max(0.0, min(due, started + run_timeout) - now)
        if stop is not None:
            stop.wait(pause)
        else:
            sleep(pause)


def _terminate(runner: RemoteRunner, run: Submitted, reason: str, notes: list[str], out: _Log) -> bool:
    try:
        runner.terminate(run, reason)
    except Exception as exc:  # noqa: BLE001 - the round is already failing; say so, go on
        out.line(f"terminate failed: {exc}")
        notes.append(f"terminating the run failed: {_one_line(exc)}")
        return False
    out.line(f"terminated: {reason}")
    return True


def _read_logs(kube: Kube, pods: tuple[PodSeen, ...], out: _Log) -> PodLogs | str:
    """The pods' stamps (their logs copied into the round's log), or why they could not be read."""
    try:
        logs = read_stamps(kube, pods)
    except ClusterError as exc:
        out.line(f"reading the pods' logs failed: {exc}")
        return str(exc)
    if not pods:
        out.line("no pod of the run was seen")
    out.pods(logs)
    return logs


def _platform_timings(runner: RemoteRunner, run: Submitted, missing: dict[str, str]) -> dict[str, Any]:
    try:
        return dict(runner.platform_timings(run))
    except Exception as exc:  # noqa: BLE001 - a finished run stays ok without the platform's view
        missing["platform_timings"] = f"the platform's timings could not be read: {_one_line(exc)}"
        return {}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:500]


def run_remote_rounds_together(
    runner: RemoteRunner,
    case: Case,
    index: int,
    *,
    names: Sequence[str],
    warmup: bool,
    poll_interval: float,
    run_timeout: float,
    kube: Kube,
    cleanup: bool,
    log: Path,
) -> RoundResult:
    """``--concurrency N`` on a cluster: N runs of the case submitted at once, each polled in its own
    thread; one round whose ``total_s`` is the makespan (first submit -> last terminal state seen),
    with the ``concurrency`` block of a local concurrent round. Ctrl-C terminates every run."""

    n = len(names)
    stop = threading.Event()
    results: list[RoundResult | None] = [None] * n

    def one(k: int) -> None:
        try:
            results[k] = run_remote_round(
                runner, case, index, warmup=warmup, poll_interval=poll_interval, run_timeout=run_timeout,
                name=names[k], kube=kube, cleanup=cleanup, log=log.with_name(f"{log.stem}.{k + 1}{log.suffix}"),
                stop=stop,
            )  # fmt: skip
        except RoundInterrupted as interrupted:
            results[k] = interrupted.result

    threads = [threading.Thread(target=one, args=(k,), name=f"run-{k}", daemon=True) for k in range(n)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # short joins: Ctrl-C reaches the main thread between them
    except KeyboardInterrupt:
        stop.set()
        with STOP.shielded():
            for thread in threads:
                thread.join(60)
        raise RoundInterrupted(_together(runner, case, index, warmup, log, results, interrupted=True)) from None
    return _together(runner, case, index, warmup, log, results, interrupted=False)


def _together(
    runner: RemoteRunner,
    case: Case,
    index: int,
    warmup: bool,
    log: Path,
    found: Sequence[RoundResult | None],
    *,
    interrupted: bool,
) -> RoundResult:
    rounds = [r for r in found if r is not None]
    executions = tuple(
        ExecutionResult(
            ok=r.ok, error=r.error, total_s=r.total_s, queue_s=r.queue_s, retrain_tune_s=r.retrain_tune_s,
            outcome=r.outcome, task_counts=dict(r.task_counts), units=r.units,
        )
        for r in rounds
    )  # fmt: skip
    windows = [r.window for r in rounds if r.window is not None]
    window = (min(w[0] for w in windows), max(w[1] for w in windows)) if windows else None
    makespan = window[1] - window[0] if window else None
    fields = folded(executions)
    if interrupted:
        fields.update(ok=False, error="interrupted (Ctrl-C); executions terminated")
    missing = dict(CLUSTER_MISSING)
    for r in rounds:
        missing.update(r.missing)
    first = rounds[0].run if rounds else None
    runs = [r.run.run_id for r in rounds if r.run is not None]
    return RoundResult(
        platform=runner.platform, case=case.key, index=index, warmup=warmup, log=log, total_s=makespan,
        startup_s=None, **fields, window=window, target="cluster", run=first,
        pods=tuple(p for r in rounds for p in r.pods),
        platform_timings={r.run.run_id: dict(r.platform_timings or {}) for r in rounds if r.run is not None},
        missing=missing,
        notes=(f"runs of this round: {', '.join(runs)}", *(n for r in rounds for n in r.notes)),
        concurrency=Concurrency(len(found), executions, makespan),
    )  # fmt: skip
