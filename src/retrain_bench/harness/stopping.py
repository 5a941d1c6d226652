"""Ctrl-C, SIGTERM and SIGHUP: one way to stop a run, whenever they arrive, however often (docs/reliability.md).

``STOP`` is the process's stop request. The plugin installs it as the handler of SIGINT and
SIGTERM; the first signal records itself, and what happens next depends on where the harness is:

- inside an ``interruptible()`` section (a round, the scrape wait, Prometheus collection) it raises
  ``KeyboardInterrupt`` there, which the round turns into killed process groups and an interrupted
  round, and the session into "stop after saving what ran";
- inside a ``shielded()`` section (a round's cleanup: killpg, wait, rmtree) it waits until the
  section is done, so no cleanup is ever cut short;
- elsewhere (the session's own bookkeeping, pytest between tests) it only records the request when
  rounds have run that pytest-benchmark has not been handed yet, and the session stops at its next
  check; with nothing of ours to lose it raises ``KeyboardInterrupt`` as Python's own handler would.

It raises at most once per run: a second signal (a quick double Ctrl-C, ``timeout`` following up)
joins the stop already under way instead of escaping from its cleanup. Sections are re-entrant and
no-ops off the main thread. Without ``install()`` (the soak command, tests calling a round directly),
``shielded()`` still holds SIGINT/SIGTERM back for its duration and re-delivers it afterwards.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

#: SIGHUP too: a closed terminal or ssh session must stop a run as SIGTERM does (its rounds saved, its
#: launchers killed), not end the process with no JSON and orphaned launchers.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _always() -> bool:
    return True


class Stop:
    def __init__(self) -> None:
        #: the first signal's name (``SIGINT``, ``SIGTERM``); None while nobody asked to stop
        self.requested: str | None = None
        #: every signal received after the first
        self.repeats = 0
        #: whether stopping now at once loses nothing (no rounds waiting to be handed to pytest-benchmark)
        self.nothing_to_lose: Callable[[], bool] = _always
        #: called with the signal number on the first signal, before anything else (pytest-xdist's
        #: controller passes it on to its workers)
        self.on_first: list[Callable[[int], None]] = []
        self._previous: dict[int, Any] | None = None
        self._installs = 0
        self._armed = 0
        self._shielded = 0
        self._raised = False

    @property
    def installed(self) -> bool:
        return self._previous is not None

    @property
    def label(self) -> str:
        """How messages name the stop: ``Ctrl-C``, ``SIGTERM`` or ``SIGHUP``."""
        return self.requested if self.requested in ("SIGTERM", "SIGHUP") else "Ctrl-C"

    def install(self, nothing_to_lose: Callable[[], bool] = _always) -> None:
        """Handle SIGINT and SIGTERM from now on (main thread only; a fresh request). Nested
        installs (a pytest run inside a pytest run) count: the outermost uninstall restores."""
        if not _main_thread():
            return
        self._installs += 1
        if self.installed:
            return
        self.requested, self.repeats, self._raised = None, 0, False
        self.nothing_to_lose = nothing_to_lose
        self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}

    def uninstall(self) -> None:
        if self._previous is None or not _main_thread():
            return
        self._installs -= 1
        if self._installs > 0:
            return
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = None
        self.nothing_to_lose = _always
        self.on_first = []

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is None:
            self.requested = signal.Signals(signum).name
            for listener in self.on_first:
                listener(signum)
        else:
            self.repeats += 1
        if self._raised or self._shielded:
            return
        if self._armed or self.nothing_to_lose():
            self._interrupt()

    def _interrupt(self) -> None:
        self._raised = True
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A section a stop may end at once with ``KeyboardInterrupt`` (also one asked for just before)."""
        if not self.installed or not _main_thread():
            yield
            return
        self._armed += 1
        try:
            if self.requested is not None and not self._raised:
                self._interrupt()
            yield
        finally:
            self._armed -= 1

    @contextlib.contextmanager
    def shielded(self) -> Iterator[None]:
        """A section no signal cuts short. Installed, a stop that came meanwhile raises at the end of
        the section when it sits in an interruptible one (else the session sees it at its next check);
        not installed, the signal is re-delivered to the previous handler at the end."""
        if not _main_thread():
            yield
            return
        if not self.installed:
            with _held_back():
                yield
            return
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1
        if not self._shielded and self._armed and self.requested is not None and not self._raised:
            self._interrupt()


@contextlib.contextmanager
def _held_back() -> Iterator[None]:
    caught: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous = {s: signal.signal(s, hold) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if caught:
            signal.raise_signal(caught[0])


#: the process's stop request (signal handlers are per process)
STOP = Stop()
