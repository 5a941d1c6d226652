"""The round's sampler brackets go -> end: started before the first execution is released, stopped
after the last one ended, so ``resources.process_tree.window_s`` covers ``total_s``.

The end-to-end tests asserted this as ``|window_s - total_s| < 0.2 s`` on a real round, which
fails whenever a loaded machine delays a sample. Here the engine runs on a clock that moves only
when something happens, so the order is checked, not a duration.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from retrain_bench.harness.engine import Clock, Execution, RoundPlan, run_round
from retrain_bench.measure.stats import ResourceStats
from retrain_bench.results.round import ExecutionResult
from retrain_bench.workload.cases import CASES


class Timeline:
    """A clock that advances one second per event, and the events at their times."""

    def __init__(self) -> None:
        self.t = 0.0
        self.events: list[tuple[str, float]] = []
        self.lock = threading.Lock()

    def now(self) -> float:
        with self.lock:
            return self.t

    def mark(self, name: str) -> None:
        with self.lock:
            self.t += 1.0
            self.events.append((name, self.t))

    def at(self, name: str) -> list[float]:
        return [t for event, t in self.events if event == name]


class FakeExecution:
    pids: tuple[int, ...] = ()
    measures_startup = False

    def __init__(self, timeline: Timeline, k: int) -> None:
        self.timeline, self.k = timeline, k

    def ready(self, timeout: float) -> str | None:
        return None

    def go(self) -> None:
        self.timeline.mark("go")

    def wait(self, timeout: float) -> str | None:
        for _ in range(3 + self.k):  # the run takes a few events; the second execution longer
            self.timeline.mark(f"run {self.k}")
        self.timeline.mark("end")
        return None

    def finish(self, go_ns: int, total_s: float | None, error: str | None) -> ExecutionResult:
        return ExecutionResult(ok=error is None, error=error, total_s=total_s)

    def stop(self) -> str:
        return "stopped"

    def close(self) -> None:
        pass


class FakeSampler:
    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline

    def start(self) -> None:
        self.timeline.mark("sampler start")

    def stop(self) -> Mapping[str, ResourceStats]:
        self.timeline.mark("sampler stop")
        return {}

    def halt(self) -> None:
        pass


@pytest.mark.parametrize("n", [1, 2])
def test_the_sampler_starts_before_the_first_go_and_stops_after_the_last_end(tmp_path: Path, n: int) -> None:
    timeline = Timeline()
    plan = RoundPlan(
        platform="bare",
        case=CASES["smoke"],
        index=0,
        warmup=False,
        target="local",
        logs=tuple(tmp_path / f"{k}.log" for k in range(n)),
        run_timeout=600.0,
        clock=Clock(now=timeline.now, wall_ns=lambda: int(timeline.now() * 1e9)),
    )

    def make(k: int, log: Path) -> Execution:
        return FakeExecution(timeline, k)

    def sampler(executions: Sequence[Execution]) -> FakeSampler:
        return FakeSampler(timeline)

    result = run_round(plan, make, sampler)
    assert result.ok, result.error
    (start,), (stop,) = timeline.at("sampler start"), timeline.at("sampler stop")
    gos, ends = timeline.at("go"), timeline.at("end")
    assert len(gos) == len(ends) == n
    assert start < min(gos) and stop > max(ends)
    # total_s is the makespan, first go -> last end: inside the sampled window.
    assert result.total_s is not None and result.total_s <= stop - start
    assert result.total_s >= max(ends) - min(gos)
