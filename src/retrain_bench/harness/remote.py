"""One execution on a cluster, for the round engine: submit, watch the pods, poll to the end, read the stamps.

The engine (``harness/engine.py``) owns the clock, the timeout and Ctrl-C; ``poll_until_done`` owns
the poll schedule, shared with the server target; a ``RemoteRunner``
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
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from retrain_bench.cluster.errors import ClusterError
from retrain_bench.cluster.kube import Kube
from retrain_bench.cluster.pods import PodLogs, PodSeen, PodWatch, read_stamps
from retrain_bench.errors import BenchError
from retrain_bench.harness.engine import Clock, from_stamps, timed_out, with_tail
from retrain_bench.harness.stopping import STOP
from retrain_bench.platforms.remote import Poll, RemoteRunner, Submitted
from retrain_bench.results.round import ExecutionResult
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


class RemoteExecution:
    """One run of the case on a cluster through the platform's ``RemoteRunner``.

    ``go`` submits it and starts the pod watch on the namespace and selector the runner returned;
    ``wait`` polls on the engine's clock; ``finish`` stops the watch, copies the pods' logs into the
    execution's log, reads the stamps and the platform's timings, and retires the run
    (``cleanup``) whatever its end. ``stop`` (Ctrl-C) terminates the run.
    """

    measures_startup = False
    pids: tuple[int, ...] = ()

    def __init__(
        self,
        runner: RemoteRunner,
        case: Case,
        *,
        name: str,
        kube: Kube,
        cleanup: bool,
        log: Path,
        poll_interval: float,
        clock: Clock,
        run_timeout: float | None = None,
        pod_watch: Callable[[Kube, str, str], PodWatch] = PodWatch,
    ) -> None:
        self.runner, self.case, self.name, self.kube = runner, case, name, kube
        self.cleanup, self.log, self.poll_interval, self.clock = cleanup, log, poll_interval, clock
        self.pod_watch = pod_watch
        self.run_timeout = run_timeout
        self.out = _Log(log)
        self.run: Submitted | None = None
        self.submit_error: str | None = None
        self.watch: PodWatch | None = None
        self.pods: tuple[PodSeen, ...] = ()
        self.poll: Poll | None = None
        self.notes: list[str] = []
        self.stopping = threading.Event()
        self.stopped = False

    def ready(self, timeout: float) -> str | None:
        return None  # the runner was prepared once for the session (registered, compiled)

    def go(self) -> None:
        try:
            self.run = self.runner.submit(self.case, self.name)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - the platform's client raises its own types
            self.out.line(f"submit failed: {exc}")
            self.submit_error = f"submit failed: {one_line(exc)}"
            return
        run = self.run
        self.out.line(f"submitted {run.platform} run {run.run_id} as {self.name} ({run.url or 'no console URL'})")
        self.watch = self.pod_watch(self.kube, run.namespace, run.pod_selector).start()

    def wait(self, timeout: float) -> str | None:
        if self.run is None:
            return self.submit_error or "never submitted"
        run = self.run
        poll, failure = poll_until_done(
            lambda: self.runner.poll(run),
            self.out.line,
            lambda reason: self._terminate(reason),
            self.poll_interval,
            timeout,
            self.clock,
            self.stopping,
            self.run_timeout,
        )
        self.poll = poll
        if failure is not None:
            return failure
        assert poll is not None
        if not poll.ok:
            return poll.error or f"the run ended in state {poll.state or 'unknown'}"
        return None

    def finish(self, go_ns: int, total_s: float | None, error: str | None) -> ExecutionResult:
        missing = dict(CLUSTER_MISSING)
        self._stop_watch()
        if self.run is None or self.stopped:
            result = ExecutionResult(ok=False, error=error, total_s=total_s)
        else:
            result = self._read_back(go_ns, total_s, error, missing)
        if self.cleanup and self.run is not None:
            try:
                self.runner.cleanup(self.run)
            except Exception as exc:  # noqa: BLE001 - cleanup is a courtesy: noted, never fatal
                self.notes.append(f"cleanup failed: {one_line(exc)}")
        return dataclasses.replace(
            result, run=self.run, pods=self.pods, missing={**missing, **result.missing}, notes=tuple(self.notes)
        )

    def _read_back(
        self, go_ns: int, total_s: float | None, error: str | None, missing: dict[str, str]
    ) -> ExecutionResult:
        assert self.run is not None
        if self.poll is None:  # timed out, or the status calls kept failing
            return ExecutionResult(ok=False, error=error, total_s=total_s)
        logs = _read_logs(self.kube, self.pods, self.out)
        if error is not None:
            return ExecutionResult(ok=False, error=with_tail(error, self.log), total_s=total_s)
        timings = _platform_timings(self.runner, self.run, missing)
        if isinstance(logs, str):
            error = f"pipeline finished but its stamps could not be read: {logs}"
            return ExecutionResult(ok=False, error=error, total_s=total_s, platform_timings=timings)
        done = from_stamps(logs.stamps, self.case, go_ns, total_s)
        if not done.ok and logs.unread:
            done = dataclasses.replace(
                done, error=f"{done.error} (logs of deleted pods not read: {', '.join(logs.unread)})"
            )
        return dataclasses.replace(done, platform_timings=timings)

    def stop(self) -> str:
        self.stopping.set()
        self.stopped = True
        if self.run is None:
            return "before the platform accepted the run"
        self._terminate(f"interrupted ({STOP.label})")
        return "execution terminated"

    def close(self) -> None:
        self._stop_watch()

    def _stop_watch(self) -> None:
        if self.watch is not None:
            self.pods = self.watch.stop()
            self.notes.extend(f"pod watch: {e}" for e in self.watch.errors)
            self.watch = None

    def _terminate(self, reason: str) -> bool:
        assert self.run is not None
        try:
            self.runner.terminate(self.run, reason)
        except Exception as exc:  # noqa: BLE001 - the round is already failing; say so, go on
            self.out.line(f"terminate failed: {exc}")
            self.notes.append(f"terminating the run failed: {one_line(exc)}")
            return False
        self.out.line(f"terminated: {reason}")
        return True


class _Status(Protocol):
    """What the poll loop reads of an answer (a cluster's ``Poll``, a control plane's ``ServerPoll``)."""

    @property
    def done(self) -> bool: ...

    @property
    def state(self) -> str: ...


S = TypeVar("S", bound=_Status)


def poll_until_done(
    poll: Callable[[], S],
    say: Callable[[str], None],
    terminate: Callable[[str], bool],
    poll_interval: float,
    timeout: float,
    clock: Clock,
    stopping: threading.Event,
    run_timeout: float | None = None,
) -> tuple[S | None, str | None]:
    """Poll every ``poll_interval`` on ``clock``: (the terminal poll, None) or (None, why not). A run
    still going at ``timeout`` (what is left of ``run_timeout``, the option the message names) is
    terminated; ``stopping`` set from another thread ends the loop."""
    started = clock.now()
    due, errors, state = started, 0, None
    while True:
        if stopping.is_set():
            return None, "stopped"
        try:
            answer: S | None = poll()
            errors = 0
        except Exception as exc:  # noqa: BLE001 - the platform's client raises its own types
            errors += 1
            say(f"poll failed ({errors}): {exc}")
            if errors > POLL_ERRORS_TOLERATED:
                terminate("status calls keep failing")
                return None, f"status calls failed {errors} times in a row: {one_line(exc)}; execution terminated"
            answer = None
        now = clock.now()
        if answer is not None:
            if answer.state != state:
                say(f"state {answer.state or '?'} after {now - started:.3f}s")
                state = answer.state
            if answer.done:
                return answer, None
        if now - started >= timeout:
            reason = timed_out(timeout if run_timeout is None else run_timeout)
            stopped = terminate(reason)
            return None, f"{reason}; {'execution terminated' if stopped else 'terminating the execution failed'}"
        # A fixed schedule (go + k × interval), not interval after each answer: slow status
        # calls do not stretch it, and a late wake-up does not make the next polls burst.
        due += poll_interval
        if due < now:
            due = now
        pause = max(0.0, min(due, started + timeout) - now)
        clock.sleep(pause, stopping)


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
        missing["platform_timings"] = f"the platform's timings could not be read: {one_line(exc)}"
        return {}


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:500]
