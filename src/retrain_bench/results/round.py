"""What the harness saw of one round, local or on a cluster: the value every record is written from.

The harness (``src/retrain_bench/harness/``) produces it; ``results/records.py`` (``RoundRecord.of``) turns it
into the JSON contract's ``rounds[]`` entry. It lives here, below the harness, so the contract does not
depend on the machinery that runs rounds.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain_bench.measure.stats import ResourceStats
from retrain_bench.platforms.remote import Submitted
from retrain_bench.platforms.server import ServerRun
from retrain_bench.workload.outcome import Outcome

if TYPE_CHECKING:  # the kubernetes client is not imported for local rounds
    from retrain_bench.cluster.pods import PodSeen


PHASES = ("total_s", "queue_s", "retrain_tune_s")


@dataclasses.dataclass(frozen=True)
class ExecutionResult:
    """One of a round's N executions. ``total_s`` is its own go -> result."""

    ok: bool
    error: str | None
    total_s: float | None = None
    queue_s: float | None = None
    retrain_tune_s: float | None = None
    outcome: Outcome | None = None
    task_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    units: int = 0
    #: cluster and server targets: the run the platform accepted
    run: Submitted | ServerRun | None = None
    #: cluster: every pod of the run Kubernetes showed, deleted ones included
    pods: tuple[PodSeen, ...] = ()
    #: the platform's own view of the run's timing; None locally (the executors keep none)
    platform_timings: Mapping[str, Any] | None = None
    #: reasons for nulls this execution knows of
    missing: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: what went wrong around the run without failing it (cleanup, the pod watch)
    notes: tuple[str, ...] = ()
    #: select_best's end -> the registry step's end (--registry); None without one
    register_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_s": self.total_s,
            "queue_s": self.queue_s,
            "retrain_tune_s": self.retrain_tune_s,
            "ok": self.ok,
            "error": self.error,
        }


def _spread(values: Sequence[float | None]) -> dict[str, float | None]:
    known = [v for v in values if v is not None]
    if not known:
        return {"min": None, "median": None, "max": None}
    return {"min": min(known), "median": statistics.median(known), "max": max(known)}


@dataclasses.dataclass(frozen=True)
class Concurrency:
    """The round's ``concurrency`` block."""

    n: int
    executions: tuple[ExecutionResult, ...]
    #: first go -> last result; None when the executions were never released
    makespan_s: float | None

    @property
    def throughput_per_min(self) -> float | None:
        if not self.makespan_s:
            return None
        return sum(e.ok for e in self.executions) / self.makespan_s * 60.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "executions": [e.as_dict() for e in self.executions],
            "throughput_per_min": self.throughput_per_min,
            "spread": {phase: _spread([getattr(e, phase) for e in self.executions]) for phase in PHASES},
        }

    def missing(self) -> dict[str, str]:
        """Reasons for the block's nulls, keyed like the round's ``missing``."""
        found = {}
        if self.throughput_per_min is None:
            found["concurrency.throughput_per_min"] = "the executions were never released (start-up failed)"
        for phase in PHASES:
            if all(getattr(e, phase) is None for e in self.executions):
                reason = (
                    "not_applicable: no drift, the adaptive branch did not run"
                    if phase == "retrain_tune_s" and any(e.ok for e in self.executions)
                    else "no execution measured it"
                )
                found[f"concurrency.spread.{phase}"] = reason
        return found


@dataclasses.dataclass(frozen=True)
class RoundResult:
    """What the harness saw of one round. Times are None when the round never got that far."""

    platform: str
    case: str
    index: int
    warmup: bool
    ok: bool
    error: str | None
    total_s: float | None
    startup_s: float | None
    queue_s: float | None
    retrain_tune_s: float | None
    outcome: Outcome | None
    task_counts: dict[str, int]
    units: int
    log: Path
    resources: dict[str, ResourceStats] = dataclasses.field(default_factory=dict)
    #: (submit, result) in unix seconds: the window other sources (Prometheus) measure over
    window: tuple[float, float] | None = None
    #: "local" (a launcher process), "cluster" (a run on Kubernetes) or "server" (a run on a control plane here)
    target: str = "local"
    #: cluster and server targets: the run the platform accepted (the first of a --concurrency round)
    run: Submitted | ServerRun | None = None
    #: cluster: every pod of the run Kubernetes showed, deleted ones included
    pods: tuple[PodSeen, ...] = ()
    #: cluster: the platform's own view of the run's timing; None locally (the executors keep none)
    platform_timings: Mapping[str, Any] | None = None
    #: reasons for nulls the round knows of, beyond those ``RoundRecord.of`` derives
    missing: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: what went wrong around the round without failing it (cleanup, the pod watch)
    notes: tuple[str, ...] = ()
    #: the process groups of the round's launchers (their pids), for leak checks after the round
    process_groups: tuple[int, ...] = ()
    #: the N executions of a --concurrency N round (N > 1); None for a round of one execution
    concurrency: Concurrency | None = None
    #: select_best's end -> the registry step's end (--registry); None without one
    register_s: float | None = None

    @property
    def run_id(self) -> str | None:
        return self.run.run_id if self.run else None
