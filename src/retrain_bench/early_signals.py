"""SIGINT and SIGTERM held from the first line of ``python -m retrain_bench`` until a command takes them.

Importing the CLI takes about a second; a Ctrl-C or SIGTERM in that second used to end ``soak`` with
a ``KeyboardInterrupt`` traceback or a silent exit -15. ``hold`` (the first thing ``__main__`` does)
records such a signal instead; ``soak`` takes it over as its stop request, other commands get it
re-delivered as soon as ``main`` has parsed its arguments (``release``), with Python's own handlers:
the same end as before, a few milliseconds later. Standard library only: this runs before any import.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_caught: list[int] = []
_previous: dict[int, Any] = {}


def _record(signum: int, frame: FrameType | None) -> None:
    _caught.append(signum)


def hold() -> None:
    """Record SIGINT and SIGTERM from now on instead of acting on them."""
    if not _previous:
        _previous.update({s: signal.signal(s, _record) for s in SIGNALS})


def take() -> int | None:
    """The first signal held so far (forgetting it and any others), or None."""
    first = _caught[0] if _caught else None
    _caught.clear()
    return first


def release() -> None:
    """Python's own handlers back; a signal held meanwhile is delivered to them now."""
    if not _previous:
        return
    for s, handler in _previous.items():
        signal.signal(s, handler)
    _previous.clear()
    first = take()
    if first is not None:
        signal.raise_signal(first)
