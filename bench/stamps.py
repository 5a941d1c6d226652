"""Wall-clock stamps taken at the first and last line of every task body.

One definition of the phases on every platform: each task appends one JSON line to the file named
by ``$BENCH_STAMPS`` (O_APPEND, one ``write`` per line, so parallel KFP iterations do not tear
each other's lines). The harness reads the file after the round. Stamping writes a side file and
never touches what the pipeline computes; without ``$BENCH_STAMPS`` it is a no-op.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.outcome import Outcome

ENV = "BENCH_STAMPS"


class _Recorder:
    def __init__(self) -> None:
        self.out: dict[str, Any] = {}

    def record(self, **values: Any) -> None:
        self.out.update(values)


@contextlib.contextmanager
def stamp(task: str, *, c: float | None = None, unit: str | None = None) -> Iterator[_Recorder]:
    """Stamp a task body; ``record()`` the scalars it produced. ``unit`` names the execution
    unit that ran it (default: this process), so tests can tell tasks apart from one big task."""
    start = time.time_ns()
    recorder = _Recorder()
    yield recorder
    end = time.time_ns()
    path = os.environ.get(ENV)
    if not path:
        return
    line = {
        "task": task,
        "start_ns": start,
        "end_ns": end,
        "pid": os.getpid(),
        "unit": unit or f"pid:{os.getpid()}",
        "c": c,
        "out": recorder.out,
    }
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


@dataclasses.dataclass(frozen=True)
class Stamp:
    task: str
    start_ns: int
    end_ns: int
    pid: int
    unit: str
    c: float | None
    out: dict[str, Any]


class StampError(Exception):
    """The stamps of a round do not describe a complete run of the pipeline."""


@dataclasses.dataclass(frozen=True)
class StampLog:
    stamps: tuple[Stamp, ...]

    @classmethod
    def read(cls, path: Path) -> StampLog:
        if not path.exists():
            return cls(())
        return cls(tuple(Stamp(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()))

    def of(self, task: str) -> list[Stamp]:
        return sorted((s for s in self.stamps if s.task == task), key=lambda s: s.start_ns)

    def one(self, task: str) -> Stamp:
        found = self.of(task)
        if len(found) != 1:
            raise StampError(f"expected one {task!r} stamp, found {len(found)}")
        return found[0]

    def task_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.stamps:
            counts[s.task] = counts.get(s.task, 0) + 1
        return counts

    def outcome(self, grid: Sequence[float]) -> Outcome:
        """What the run computed, read off the tasks' own records."""
        initial = float(self.one("train").out["accuracy"])
        detect = self.one("detect_drift")
        drifted, drift = float(detect.out["accuracy"]), bool(detect.out["drift"])
        if not drift:
            if self.of("tune") or self.of("select_best"):
                raise StampError("the adaptive branch ran although no drift was detected")
            return Outcome(initial, drifted, False, drifted, None)
        tuned = sorted(s.c for s in self.of("tune") if s.c is not None)
        if tuned != sorted(grid):
            raise StampError(f"tune ran for C values {tuned}, expected {sorted(grid)}")
        best = self.one("select_best")
        return Outcome(initial, drifted, True, float(best.out["accuracy"]), float(best.out["best_c"]))

    def phases(self, submit_ns: int) -> dict[str, float | None]:
        """queue_s and retrain_tune_s per DESIGN.md; retrain_tune_s is None without drift."""
        first = min(s.start_ns for s in self.stamps)
        queue = (first - submit_ns) / 1e9
        select = self.of("select_best")
        retrain = (select[0].end_ns - self.one("detect_drift").end_ns) / 1e9 if select else None
        return {"queue_s": queue, "retrain_tune_s": retrain}
