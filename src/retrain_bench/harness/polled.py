"""What a run submitted to a platform and polled to its end shares, on a cluster and on a server.

``PolledExecution`` is the part of an ``engine.Execution`` that both remote kinds have in common:
``go`` submits (a refusal is recorded, not raised), ``wait`` polls on a fixed schedule until the run
ends or ``--run-timeout`` passes (then terminates it), ``stop`` terminates it on Ctrl-C. Each kind
says how to submit, poll and terminate through its platform's API and what ``finish`` reads back.
Nothing here imports a platform's client or the Kubernetes one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
import string
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from retrain_bench.errors import BenchError
from retrain_bench.harness.engine import Clock, timed_out
from retrain_bench.harness.stopping import STOP

#: Flyte hashes pod names over 50 characters (``<execution>-<node>-<attempt>``): keep names short.
NAME_LENGTH = 20
NAME = re.compile(r"[a-z][a-z0-9-]*")
#: consecutive failed status calls tolerated before the round gives up (a blip is not a failed run)
POLL_ERRORS_TOLERATED = 3


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


class RoundLog:
    """An execution's log file: what the harness saw, one time-stamped line at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def line(self, text: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        with self.path.open("a") as out:
            out.write(f"{stamp} {text}\n")


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:500]


class Status(Protocol):
    """What the poll loop reads of an answer (a cluster's ``Poll``, a control plane's ``ServerPoll``)."""

    @property
    def done(self) -> bool: ...

    @property
    def ok(self) -> bool: ...

    @property
    def state(self) -> str: ...

    @property
    def error(self) -> str | None: ...


S = TypeVar("S", bound=Status)
R = TypeVar("R")


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


class PolledExecution(Generic[R, S]):
    """A run submitted through a platform's API at "go" and polled to its end; see the module docstring."""

    measures_startup = False
    pids: tuple[int, ...] = ()
    #: what ``stop`` says before the platform accepted the run
    NOT_ACCEPTED = "before the platform accepted the run"

    def __init__(self, log: Path, poll_interval: float, clock: Clock, run_timeout: float | None) -> None:
        self.log, self.poll_interval, self.clock, self.run_timeout = log, poll_interval, clock, run_timeout
        self.out = RoundLog(log)
        self.run: R | None = None
        self.submit_error: str | None = None
        self.poll: S | None = None
        self.notes: list[str] = []
        self.stopping = threading.Event()
        self.stopped = False

    # -- what each kind says through its platform's API --

    def submit(self) -> R:
        raise NotImplementedError

    def status(self, run: R) -> S:
        raise NotImplementedError

    def terminate_run(self, run: R, reason: str) -> None:
        raise NotImplementedError

    def submitted(self, run: R) -> None:
        """Called once the platform accepted the run (the cluster starts its pod watch here)."""

    # -- the engine's ``Execution`` --

    def ready(self, timeout: float) -> str | None:
        return None  # prepared once for the session (registered, compiled, deployed): "go" submits at once

    def go(self) -> None:
        try:
            self.run = self.submit()
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - the platform's client raises its own types
            self.out.line(f"submit failed: {exc}")
            self.submit_error = f"submit failed: {one_line(exc)}"
            return
        self.submitted(self.run)

    def wait(self, timeout: float) -> str | None:
        if self.run is None:
            return self.submit_error or "never submitted"
        run = self.run
        poll, failure = poll_until_done(
            lambda: self.status(run),
            self.out.line,
            self.terminate,
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

    def stop(self) -> str:
        self.stopping.set()
        self.stopped = True
        if self.run is None:
            return self.NOT_ACCEPTED
        self.terminate(f"interrupted ({STOP.label})")
        return "execution terminated"

    def terminate(self, reason: str) -> bool:
        """Terminate the run, noting a failure to (the round is already failing: say so, go on)."""
        assert self.run is not None
        try:
            self.terminate_run(self.run, reason)
        except Exception as exc:  # noqa: BLE001 - the platform's client raises its own types
            self.out.line(f"terminate failed: {exc}")
            self.notes.append(f"terminating the run failed: {one_line(exc)}")
            return False
        self.out.line(f"terminated: {reason}")
        return True
