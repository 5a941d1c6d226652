"""Run the Flyte workflow with flytekit's local executor (in-process, tasks in order)."""

from __future__ import annotations

import os

from retrain_bench.workload.cases import Case


def prepare() -> None:
    """Import flytekit and the workflow: start-up work the harness keeps out of the timer."""
    # Local cache off for every task whatever its decorator says: a cached round measures nothing.
    os.environ["FLYTE_LOCAL_CACHE_ENABLED"] = "false"
    import bench.flyte.workflow  # noqa: F401


def run(case: Case) -> dict[str, object]:
    from bench.flyte.workflow import retrain

    result = retrain(case_json=case.to_json(), grid=list(case.grid))
    return {"accuracy": result.accuracy, "best_c": result.best_c}
