"""Wall-clock stamps taken at the first and last line of every task body.

One definition of the phases on every platform: each task appends one JSON line to the file named
by ``$BENCH_STAMPS`` (O_APPEND, one ``write`` per line, so parallel KFP iterations do not tear
each other's lines). The harness reads the file after the round. Stamping writes a side file and
never touches what the pipeline computes; without ``$BENCH_STAMPS`` it is a no-op.

On a cluster the tasks run in pods that share no file with the harness: there ``$BENCH_STAMPS``
is ``stdout`` and each stamp is one line ``RETRAIN_BENCH_STAMP {json}`` on the task's standard
output, which the harness reads back from the pods' logs through the Kubernetes API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from retrain_bench.workload.outcome import Outcome

ENV = "BENCH_STAMPS"
#: ``$BENCH_STAMPS`` value that sends stamps to standard output (pods on a cluster)
STDOUT = "stdout"
#: prefix of a stamp line in a pod's log
LINE_PREFIX = "RETRAIN_BENCH_STAMP "


class _Recorder:
    def __init__(self) -> None:
        self.out: dict[str, Any] = {}

    def record(self, **values: Any) -> None:
        self.out.update(values)


@contextlib.contextmanager
def stamp(task: str, *, c: float | None = None, unit: str | None = None, to: str | None = None) -> Iterator[_Recorder]:
    """Stamp a task body; ``record()`` the scalars it produced. ``unit`` names the execution
    unit that ran it (default: this process), so tests can tell tasks apart from one big task.
    ``to`` (a path, when not empty) wins over ``$BENCH_STAMPS``: on the server target the workers
    are long-lived services, so each run names its own stamps file as a run parameter."""
    start = time.time_ns()
    recorder = _Recorder()
    yield recorder
    end = time.time_ns()
    path = to or os.environ.get(ENV)
    if not path:
        return
    line = {
        "task": task,
        "start_ns": start,
        "end_ns": end,
        "pid": os.getpid(),
        # pods on a cluster all run their task as pid 1 or so: the host name tells them apart
        "unit": unit or f"{socket.gethostname()}:pid:{os.getpid()}",
        "c": c,
        "out": recorder.out,
    }
    if path == STDOUT:
        sys.stdout.write(LINE_PREFIX + json.dumps(line) + "\n")
        sys.stdout.flush()
        return
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

    @classmethod
    def from_log_lines(cls, lines: Iterable[str]) -> StampLog:
        """The stamps among log lines (``RETRAIN_BENCH_STAMP {json}``), other lines ignored.

        Log collectors may prefix lines with a timestamp, so the marker is searched, not anchored.
        """
        stamps = []
        for line in lines:
            at = line.find(LINE_PREFIX)
            if at >= 0:
                stamps.append(Stamp(**json.loads(line[at + len(LINE_PREFIX) :])))
        return cls(tuple(stamps))

    def of(self, task: str) -> list[Stamp]:
        return sorted((s for s in self.stamps if s.task == task), key=lambda s: s.start_ns)

    def one(self, task: str) -> Stamp:
        found = self.of(task)
        if len(found) != 1:
            raise StampError(f"expected one {task!r} stamp, found {len(found)}")
        return found[0]

    def units(self) -> int:
        """How many execution units (processes, pods, threads as the platform names them) ran tasks."""
        return len({s.unit for s in self.stamps})

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
        """queue_s, retrain_tune_s and register_s as ``docs/metrics.md`` defines them; retrain_tune_s
        is None without drift, register_s without a registry step (no ``--registry``, or no drift)."""
        first = min(s.start_ns for s in self.stamps)
        queue = (first - submit_ns) / 1e9
        select = self.of("select_best")
        retrain = (select[0].end_ns - self.one("detect_drift").end_ns) / 1e9 if select else None
        registered = self.of("register")
        register = (self.one("register").end_ns - select[0].end_ns) / 1e9 if registered and select else None
        return {"queue_s": queue, "retrain_tune_s": retrain, "register_s": register}
