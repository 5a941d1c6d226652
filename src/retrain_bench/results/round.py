"""What the harness saw of one round, local or on a cluster: the value every record is written from.

The harness (``src/retrain_bench/harness/``) produces it; ``results/contract.py`` turns it into the
JSON contract's ``rounds[]`` entry. It lives here, below the harness, so the contract does not
depend on the machinery that runs rounds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain_bench.measure.stats import ResourceStats
from retrain_bench.platforms.remote import Submitted
from retrain_bench.workload.outcome import Outcome

if TYPE_CHECKING:  # the kubernetes client is not imported for local rounds
    from retrain_bench.cluster.pods import PodSeen
    from retrain_bench.harness.concurrency import Concurrency


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
    #: "local" (a launcher process) or "cluster" (a run on a platform, src/retrain_bench/harness/remote_rounds.py)
    target: str = "local"
    #: cluster: the run the platform accepted (id, namespace, pod selector, console URL)
    run: Submitted | None = None
    #: cluster: every pod of the run Kubernetes showed, deleted ones included
    pods: tuple[PodSeen, ...] = ()
    #: cluster: the platform's own view of the run's timing; None locally (the executors keep none)
    platform_timings: Mapping[str, Any] | None = None
    #: reasons for nulls the round knows of, beyond those ``round_record`` derives
    missing: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: what went wrong around the round without failing it (cleanup, the pod watch)
    notes: tuple[str, ...] = ()
    #: the process groups of the round's launchers (their pids), for leak checks after the round
    process_groups: tuple[int, ...] = ()
    #: the N executions of a --concurrency N round (N > 1); None for a round of one execution
    concurrency: Concurrency | None = None

    @property
    def run_id(self) -> str | None:
        return self.run.run_id if self.run else None
